//! gemm: matrixmultiply's `sgemm` (the kernel behind every large product of the crate)
//! beside faer's matmul, one thread each, at the products of one training step of the
//! `train` section's decoder (1024 tokens, d = 256, FFN 688, the 512-wide head), in GFLOP/s:
//! `gemm/f32/<m>x<k>x<n>/<form> matrixmultiply=<…> faer=<…> ratio=<mm/faer>`.
//!
//! Forms, all on row-major buffers read in place through strides: `nt` is the forward
//! `X·Wᵀ` (W stored out × in), `nn` the input gradient `dY·W`, `tn` the weight gradient
//! `dYᵀ·X`. A core's FMA peak is 2 FMA units × 8 lanes × 2 flops per cycle: about 32 flops
//! per cycle, ≈ 95–100 GFLOP/s at this machine's clock.

use std::hint::black_box;

use crate::harness::interleave;

/// `(m, k, n)` of `C (m × n) = A (m × k) · B (k × n)`.
const SHAPES: [(usize, usize, usize); 6] = [
    (1024, 256, 256),
    (1024, 256, 688),
    (1024, 688, 256),
    (1024, 256, 512),
    (256, 1024, 256),
    (688, 1024, 256),
];

fn data(len: usize, seed: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919 + seed * 104_729) % 1000) as f32 / 1000.0 - 0.5)
        .collect()
}

pub fn run(filter: &str) {
    faer::set_global_parallelism(faer::Par::Seq);
    for (m, k, n) in SHAPES {
        for form in ["nn", "nt", "tn"] {
            let case = format!("gemm/f32/{m}x{k}x{n}/{form}");
            if !case.contains(filter) {
                continue;
            }
            let a = data(m * k, 1);
            let b = data(k * n, 2);
            let mut c = vec![0f32; m * n];
            let mut cf = vec![0f32; m * n];
            // Storage of A and B: `nt` keeps B as n × k (row-major), `tn` keeps A as k × m.
            let (ars, acs) = if form == "tn" { (1, m) } else { (k, 1) };
            let (brs, bcs) = if form == "nt" { (1, k) } else { (n, 1) };
            let mm = |c: &mut [f32]| {
                bench_support::raw::sgemm_strided((m, k, n), &a, (ars, acs), &b, (brs, bcs), c)
            };
            let fa = if form == "tn" {
                faer::MatRef::from_row_major_slice(&a, k, m).transpose()
            } else {
                faer::MatRef::from_row_major_slice(&a, m, k)
            };
            let fb = if form == "nt" {
                faer::MatRef::from_row_major_slice(&b, n, k).transpose()
            } else {
                faer::MatRef::from_row_major_slice(&b, k, n)
            };
            mm(&mut c);
            faer::linalg::matmul::matmul(
                faer::MatMut::from_row_major_slice_mut(&mut cf, m, n),
                faer::Accum::Replace,
                fa,
                fb,
                1.0f32,
                faer::Par::Seq,
            );
            let err = c
                .iter()
                .zip(&cf)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(err < 1e-3, "{case}: the two products differ by {err}");
            let (ours, theirs, ratio) = interleave(
                || {
                    mm(&mut c);
                    black_box(&c);
                },
                || {
                    faer::linalg::matmul::matmul(
                        faer::MatMut::from_row_major_slice_mut(&mut cf, m, n),
                        faer::Accum::Replace,
                        fa,
                        fb,
                        1.0f32,
                        faer::Par::Seq,
                    );
                    black_box(&cf);
                },
            );
            let flops = 2.0 * (m * k * n) as f64;
            println!(
                "{case} matrixmultiply={:.1} faer={:.1} ratio={ratio:.3}",
                ours * flops / 1e9,
                theirs * flops / 1e9,
            );
        }
    }
}
