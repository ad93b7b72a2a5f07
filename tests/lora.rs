//! LoRA adapters: the forward pass against a naive loop, merge/unmerge, the paper's
//! initialisation, `from_delta` against the Eckart–Young optimum, parameter counts, and the
//! run-time checks of runtime dims.

mod common;

use common::{frob, matmul_ref, max_abs_diff as max_diff, randn_mat as mat, Mat};
use proptest::prelude::*;
use shapecheck::prelude::*;

/// `x·Wᵀ + (α/r)·(x·Aᵀ)·Bᵀ` by triple loops.
fn naive_forward(x: &Mat, w: &Mat, a: &Mat, b: &Mat, alpha: f64) -> Vec<f64> {
    let (bs, din) = (x.dims()[0], x.dims()[1]);
    let (dout, r) = (w.dims()[0], a.dims()[0]);
    let dense = matmul_ref(bs, din, dout, |i, j| x[[i, j]], |j, o| w[[o, j]]);
    let xa = matmul_ref(bs, din, r, |i, j| x[[i, j]], |j, k| a[[k, j]]);
    let low = matmul_ref(bs, r, dout, |i, k| xa[i * r + k], |k, o| b[[o, k]]);
    dense
        .iter()
        .zip(&low)
        .map(|(d, l)| d + alpha / r as f64 * l)
        .collect()
}

#[test]
fn forward_matches_a_naive_loop_and_the_merged_weight() {
    dim!(pub DIn = 24);
    dim!(pub DOut = 16);
    dim!(pub Rank = 4);
    dim!(pub Batch);
    let w = Tensor::<(DOut, DIn), f64>::randn(1);
    let a = Tensor::<(Rank, DIn), f64>::randn(2);
    let b = Tensor::<(DOut, Rank), f64>::randn(3);
    let lora = LoRA::new(a.clone(), b.clone(), 8.0);
    assert_eq!(lora.scale(), 2.0);
    let x = Tensor::<(Batch, DIn), f64>::randn_with((Batch::new(5), DIn), 4);
    let y: Tensor<(Batch, DOut), f64> = lora.forward(&x, &w);
    let to_dyn = |t: &[f64], m: usize, n: usize| {
        Mat::from_vec_with((Dyn::new(m), Dyn::new(n)), t.to_vec()).unwrap()
    };
    let want = naive_forward(
        &to_dyn(x.as_slice(), 5, 24),
        &to_dyn(w.as_slice(), 16, 24),
        &to_dyn(a.as_slice(), 4, 24),
        &to_dyn(b.as_slice(), 16, 4),
        8.0,
    );
    assert!(max_diff(y.as_slice(), &want) < 1e-12);

    let mut merged = w.clone();
    lora.merge(&mut merged);
    let y2 = x.matmul(&merged.t());
    assert!(max_diff(y.as_slice(), y2.as_slice()) < 1e-12);
    lora.unmerge(&mut merged);
    assert!(max_diff(merged.as_slice(), w.as_slice()) < 1e-13);
    // The dense update is scale·B·A.
    let delta = lora.delta();
    let ba = b.matmul(&a);
    for (d, p) in delta.as_slice().iter().zip(ba.as_slice()) {
        assert!((d - 2.0 * p).abs() < 1e-12);
    }
}

#[test]
fn paper_initialisation() {
    dim!(pub DIn = 256);
    dim!(pub DOut = 128);
    dim!(pub Rank = 8);
    let lora = LoRA::<DIn, DOut, Rank>::init(16.0, 7);
    assert!(lora.b().as_slice().iter().all(|v| *v == 0.0));
    let a = lora.a().as_slice();
    let var = a.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / a.len() as f64;
    // Standard deviation 1/√256 = 1/16, estimated from 2048 samples.
    assert!(
        (var.sqrt() - 1.0 / 16.0).abs() < 0.005,
        "std {}",
        var.sqrt()
    );
    // Deterministic by seed, and different seeds differ.
    assert_eq!(LoRA::<DIn, DOut, Rank>::init(16.0, 7).a().as_slice(), a);
    assert_ne!(LoRA::<DIn, DOut, Rank>::init(16.0, 8).a().as_slice(), a);
    assert_eq!(lora.num_params(), 8 * (256 + 128));
    assert_eq!(lora.dense_params(), 256 * 128);
    assert_eq!(lora.rank(), 8);
    assert_eq!(lora.alpha(), 16.0);
}

#[test]
fn from_delta_is_the_best_rank_r_factorisation() {
    dim!(pub DIn = 40);
    dim!(pub DOut = 30);
    // A rank-5 update plus noise.
    let u = Tensor::<(DOut, D<5>), f64>::randn(1);
    let v = Tensor::<(D<5>, DIn), f64>::randn(2);
    let noise = Tensor::<(DOut, DIn), f64>::randn(3).map(|x| 1e-3 * x);
    let mut delta = u.matmul(&v);
    for (d, n) in delta.as_mut_slice().iter_mut().zip(noise.as_slice()) {
        *d += *n;
    }
    let s = delta.svd().s;
    let lora = LoRA::<DIn, DOut, D<5>, f64>::from_delta(&delta, 10.0);
    let err: Vec<f64> = lora
        .delta()
        .as_slice()
        .iter()
        .zip(delta.as_slice())
        .map(|(a, b)| a - b)
        .collect();
    let optimal = s.as_slice()[5..].iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((frob(&err) - optimal).abs() <= 1e-10 * frob(delta.as_slice()));
    // Equal to the exact truncated SVD's reconstruction.
    let best = delta.best_rank::<D<5>>();
    assert!(max_diff(lora.delta().as_slice(), best.as_slice()) < 1e-12);
    // Balanced factors: ‖B‖_F = ‖A‖_F (both carry √S).
    let (na, nb) = (frob(lora.a().as_slice()), frob(lora.b().as_slice()));
    assert!((na - nb).abs() < 1e-10 * na);
    // A wider rank captures more.
    let lora8 = LoRA::<DIn, DOut, D<8>, f64>::from_delta(&delta, 10.0);
    let err8: f64 = frob(
        &lora8
            .delta()
            .as_slice()
            .iter()
            .zip(delta.as_slice())
            .map(|(a, b)| a - b)
            .collect::<Vec<_>>(),
    );
    assert!(err8 < frob(&err));
}

#[test]
fn runtime_dims_are_checked() {
    // A and B of different runtime ranks.
    let a = mat(4, 10, 1);
    let b = mat(6, 3, 2);
    let err = LoRA::try_new(a, b, 1.0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "LoRA::new: cannot combine A (Dyn=4, Dyn=10) with B (Dyn=6, Dyn=3): \
         A has rank 4 and B has rank 3"
    );
    // A rank larger than min(d_in, d_out).
    let err = LoRA::<Dyn, Dyn, Dyn, f64>::try_new(mat(7, 10, 1), mat(6, 7, 2), 1.0).unwrap_err();
    assert!(
        err.to_string().contains("the rank (7) must be at most"),
        "{err}"
    );
    let err = LoRA::<Dyn, Dyn, Dyn, f64>::try_from_delta_with(&mat(6, 10, 3), Dyn::new(7), 1.0)
        .unwrap_err();
    assert!(
        err.to_string().contains("the rank (7) must be at most"),
        "{err}"
    );
    // Forward on an input of the wrong runtime width.
    let lora =
        LoRA::<Dyn, Dyn, Dyn, f64>::try_init_with((Dyn::new(10), Dyn::new(6), Dyn::new(2)), 1.0, 0)
            .unwrap();
    let w = mat(6, 10, 4);
    assert!(lora.try_forward(&mat(3, 10, 5), &w).is_ok());
    let err = lora.try_forward(&mat(3, 9, 5), &w).unwrap_err();
    assert!(
        err.to_string().starts_with("matmul: cannot combine"),
        "{err}"
    );
    // A weight whose output rows differ from B's.
    let err = lora
        .try_forward(&mat(3, 10, 5), &mat(5, 10, 6))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "LoRA::forward: cannot combine W (Dyn=5, Dyn=10) with B (Dyn=6, Dyn=2): \
         W and B must have the same number of output rows"
    );
}

#[test]
fn non_finite_delta_is_an_error() {
    let mut d = mat(5, 4, 1);
    d[[0, 0]] = f64::NAN;
    let err = LoRA::<Dyn, Dyn, Dyn, f64>::try_from_delta_with(&d, Dyn::new(2), 1.0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "LoRA::from_delta: the input of shape (Dyn=5, Dyn=4) holds a NaN or an infinity"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn prop_forward_matches_naive(
        din in 1usize..20,
        dout in 1usize..20,
        r in 1usize..20,
        bs in 1usize..6,
        alpha in 0.5f64..32.0,
        seed in any::<u64>(),
    ) {
        let r = r.min(din).min(dout);
        let a = mat(r, din, seed);
        let b = mat(dout, r, seed ^ 1);
        let w = mat(dout, din, seed ^ 2);
        let x = mat(bs, din, seed ^ 3);
        let lora = LoRA::try_new(a.clone(), b.clone(), alpha).unwrap();
        let y = lora.forward(&x, &w);
        let want = naive_forward(&x, &w, &a, &b, alpha);
        prop_assert!(max_diff(y.as_slice(), &want) < 1e-10);
        let mut merged = w.clone();
        lora.merge(&mut merged);
        let y2 = x.matmul(&merged.t());
        prop_assert!(max_diff(y.as_slice(), y2.as_slice()) < 1e-10);
    }
}

/// Issue 12, item 7: an α of 0 or below (or not finite) used to give `Ok` with infinite or
/// NaN factors; it is an error, and so is an α that puts `B·A` out of range.
#[test]
fn from_delta_rejects_an_alpha_without_finite_factors() {
    let delta = mat(6, 10, 3);
    for alpha in [0.0, -1.0, -16.0, f64::NAN, f64::INFINITY] {
        let err = LoRA::<Dyn, Dyn, Dyn, f64>::try_from_delta_with(&delta, Dyn::new(2), alpha)
            .unwrap_err();
        assert!(
            matches!(
                err,
                shapecheck::Error::Numeric(NumericError::InvalidArgument { .. })
            ),
            "{alpha}: {err}"
        );
    }
    let err =
        LoRA::<Dyn, Dyn, Dyn, f64>::try_from_delta_with(&delta, Dyn::new(2), -1.0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "LoRA::from_delta: alpha = -1 is invalid for the input of shape (Dyn=6, Dyn=10): it \
         must be finite and greater than 0"
    );
    // A positive α still factors, however small, while B·A stays in range.
    let lora =
        LoRA::<Dyn, Dyn, Dyn, f64>::try_from_delta_with(&delta, Dyn::new(6), 1e-200).unwrap();
    assert!(max_diff(lora.delta().as_slice(), delta.as_slice()) < 1e-10);
    assert!(LoRA::<Dyn, Dyn, Dyn, f64>::try_from_delta_with(&delta, Dyn::new(6), 1e-310).is_err());
}
