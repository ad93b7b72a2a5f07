//! LoRA from a weight update: a 384 × 384 weight (MiniLM's width), an update ΔW of rank 8
//! plus noise, and the best rank-R adapters for R = 4, 8, 16 by `LoRA::from_delta` (the
//! truncated SVD of ΔW). Prints the relative error of each adapter's update against
//! Eckart–Young's optimum for that rank, the parameters it trains against the dense
//! update's, and checks that the adapted forward pass equals the merged weight's.
//!
//! Run with `cargo run --release --example lora`.

use shapecheck::prelude::*;

mod common;

const USAGE: &str = "usage: lora";

const HELP: &str = "\
lora: LoRA from a weight update: the best rank-R adapters (R = 4, 8, 16) of a 384 x 384
update of rank 8 plus noise, their error against Eckart-Young's optimum, the parameters
they train, and the adapted forward checked against the merged weight's

usage: lora

  -h, --help    this help
";

dim!(pub DModel = 384);
dim!(pub Batch);

/// The relative Frobenius distance ‖x − y‖/‖y‖.
fn rel_err(x: &[f32], y: &[f32]) -> f64 {
    let num: f64 = x.iter().zip(y).map(|(a, b)| ((a - b) as f64).powi(2)).sum();
    let den: f64 = y.iter().map(|b| (*b as f64).powi(2)).sum();
    (num / den).sqrt()
}

fn report<R>(delta: &Tensor<(DModel, DModel)>, s: &[f32], w: &Tensor<(DModel, DModel)>)
where
    R: StaticDim + RankAtMost<DModel, DModel>,
{
    let r = R::SIZE;
    let lora = LoRA::<DModel, DModel, R>::from_delta(delta, 2.0 * r as f32);
    let err = rel_err(lora.delta().as_slice(), delta.as_slice());
    let total: f64 = s.iter().map(|v| (*v as f64).powi(2)).sum();
    let optimal = (s[r..].iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / total).sqrt();
    println!(
        "R = {r:>2}: ‖ΔW − scale·B·A‖/‖ΔW‖ = {err:.4} (Eckart–Young optimum {optimal:.4}); \
         {} trainable parameters instead of {} ({:.1}% of them, {:.0}× fewer)",
        lora.num_params(),
        lora.dense_params(),
        100.0 * lora.num_params() as f64 / lora.dense_params() as f64,
        lora.dense_params() as f64 / lora.num_params() as f64,
    );
    // The adapted layer, unmerged and merged, on a batch of 4 rows.
    let x = Tensor::<(Batch, DModel)>::randn_with((Batch::new(4), DModel), 9);
    let y = lora.forward(&x, w);
    let mut merged = w.clone();
    lora.merge(&mut merged);
    let y_merged = x.matmul(&merged.t());
    assert!(rel_err(y.as_slice(), y_merged.as_slice()) < 1e-5);
}

fn main() {
    common::no_arguments(USAGE, HELP);
    let w = Tensor::<(DModel, DModel)>::randn(0).map(|x| x / (384f32).sqrt());
    // ΔW = U·Vᵀ of rank 8 with decaying column scales, plus 1% noise.
    let u = Tensor::<(DModel, D<8>)>::randn(1);
    let mut v = Tensor::<(D<8>, DModel)>::randn(2);
    for (i, row) in v.as_mut_slice().chunks_exact_mut(384).enumerate() {
        let scale = 0.7f32.powi(i as i32) / 384.0;
        row.iter_mut().for_each(|x| *x *= scale);
    }
    let mut delta = u.matmul(&v);
    let noise = Tensor::<(DModel, DModel)>::randn(3);
    let level =
        0.01 * (delta.as_slice().iter().map(|x| x * x).sum::<f32>() / (384.0 * 384.0)).sqrt();
    for (d, n) in delta.as_mut_slice().iter_mut().zip(noise.as_slice()) {
        *d += level * n;
    }
    let s = delta.svd().s;
    println!(
        "ΔW: 384 × 384, rank 8 + 1% noise; leading singular values {:?}",
        &s.as_slice()[..10]
            .iter()
            .map(|x| format!("{x:.3}"))
            .collect::<Vec<_>>()
    );
    report::<D<4>>(&delta, s.as_slice(), &w);
    report::<D<8>>(&delta, s.as_slice(), &w);
    report::<D<16>>(&delta, s.as_slice(), &w);
}
