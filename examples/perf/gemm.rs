//! gemm: the crate's own product (the typed `matmul_into`, which runs the packed GEMM of
//! `shapecheck::kernel` on this CPU's micro-kernels, or the few-rows kernel for small `m`)
//! beside matrixmultiply's `sgemm` and faer's matmul, one thread each, on the same buffers,
//! in GFLOP/s:
//! `gemm/f32/<m>x<k>x<n>/<form> ours=<…> matrixmultiply=<…> faer=<…> vs_mm=<…> vs_faer=<…>`
//! (the ratios are medians of per-round ratios, ours over theirs).
//!
//! Shapes: the products of one training step of the `train` section's decoder (1024 tokens,
//! d = 256, FFN 688, the 512-wide head), and of MiniLM inference (d = 384, FFN 1536) on a
//! batch of 512 tokens and on one 16-token sentence. Forms, all on row-major buffers read in
//! place through strides: `nt` is the forward `X·Wᵀ` (W stored out × in), `nn` the input
//! gradient `dY·W`, `tn` the weight gradient `dYᵀ·X`. `scripts/bench_gemm_torch.py` prints
//! `torch.mm` at the same shapes and forms.
//!
//! How far two threads can go on this machine (the ceiling of the training step's 2-thread
//! figure): each shape's product on 2 threads against 1, in alternating rounds,
//! `gemm/f32/<m>x<k>x<n>/<form>/threads ours_1t=<…> ours_2t=<…> x2=<…>` (GFLOP/s and the
//! median of per-round ratios), and a pure memory probe, a copy of 64 MiB into 64 MiB
//! (out of every cache) by 1 thread and by 2 halves at once,
//! `gemm/probe/copy/64MiB 1t=<…> 2t=<…> x2=<…>` (GB/s read + written).

use std::hint::black_box;

use shapecheck::prelude::*;

use crate::harness::interleave;

/// `(m, k, n)` of `C (m × n) = A (m × k) · B (k × n)`, and the forms measured.
const SHAPES: [(usize, usize, usize, &[&str]); 10] = [
    (1024, 256, 256, &["nn", "nt", "tn"]),
    (1024, 256, 688, &["nn", "nt", "tn"]),
    (1024, 688, 256, &["nn", "nt", "tn"]),
    (1024, 256, 512, &["nn", "nt", "tn"]),
    (256, 1024, 256, &["nn", "nt", "tn"]),
    (688, 1024, 256, &["nn", "nt", "tn"]),
    (512, 384, 384, &["nt"]),
    (512, 384, 1536, &["nt"]),
    (512, 1536, 384, &["nt"]),
    (16, 384, 1536, &["nt"]),
];

fn data(len: usize, seed: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919 + seed * 104_729) % 1000) as f32 / 1000.0 - 0.5)
        .collect()
}

type Mat = Tensor<(Dyn, Dyn)>;

pub fn run(filter: &str) {
    faer::set_global_parallelism(faer::Par::Seq);
    for (m, k, n, forms) in SHAPES {
        for &form in forms {
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
            let dims = |r: usize, c: usize| (Dyn::new(r), Dyn::new(c));
            let ta = if form == "tn" {
                Mat::from_vec_with(dims(k, m), a.clone())
            } else {
                Mat::from_vec_with(dims(m, k), a.clone())
            }
            .expect("A's length");
            let tb = if form == "nt" {
                Mat::from_vec_with(dims(n, k), b.clone())
            } else {
                Mat::from_vec_with(dims(k, n), b.clone())
            }
            .expect("B's length");
            let mut tc = Mat::zeros_with(dims(m, n));
            let on = |threads: usize, tc: &mut Mat| {
                shapecheck::with_threads(threads, || match form {
                    "nt" => ta.matmul_into(&tb.t(), tc),
                    "tn" => ta.t().matmul_into(&tb, tc),
                    _ => ta.matmul_into(&tb, tc),
                })
            };
            let ours = |tc: &mut Mat| on(1, tc);
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
            let faer_mm = |cf: &mut [f32]| {
                faer::linalg::matmul::matmul(
                    faer::MatMut::from_row_major_slice_mut(cf, m, n),
                    faer::Accum::Replace,
                    fa,
                    fb,
                    1.0f32,
                    faer::Par::Seq,
                )
            };
            ours(&mut tc);
            mm(&mut c);
            faer_mm(&mut cf);
            for (name, other) in [("matrixmultiply", &c), ("faer", &cf)] {
                let err = tc
                    .as_slice()
                    .iter()
                    .zip(other)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0f32, f32::max);
                assert!(err < 1e-3, "{case}: ours and {name} differ by {err}");
            }
            let (o1, mm_rate, vs_mm) = interleave(
                || {
                    ours(&mut tc);
                    black_box(&tc);
                },
                || {
                    mm(&mut c);
                    black_box(&c);
                },
            );
            let (o2, faer_rate, vs_faer) = interleave(
                || {
                    ours(&mut tc);
                    black_box(&tc);
                },
                || {
                    faer_mm(&mut cf);
                    black_box(&cf);
                },
            );
            let flops = 2.0 * (m * k * n) as f64 / 1e9;
            println!(
                "{case} ours={:.1} matrixmultiply={:.1} faer={:.1} vs_mm={vs_mm:.3} vs_faer={vs_faer:.3}",
                o1.max(o2) * flops,
                mm_rate * flops,
                faer_rate * flops,
            );
            let mut tc2 = Mat::zeros_with(dims(m, n));
            on(2, &mut tc2);
            assert_eq!(
                tc.as_slice(),
                tc2.as_slice(),
                "{case}: 2 threads changed a bit"
            );
            let (two, one, x2) = interleave(
                || {
                    on(2, &mut tc2);
                    black_box(&tc2);
                },
                || {
                    ours(&mut tc);
                    black_box(&tc);
                },
            );
            println!(
                "{case}/threads ours_1t={:.1} ours_2t={:.1} x2={x2:.3}",
                one * flops,
                two * flops
            );
        }
    }
    memory_probe(filter);
}

/// The copy of [`PROBE_BYTES`] by one thread against two threads copying a half each.
fn memory_probe(filter: &str) {
    const PROBE_BYTES: usize = 64 << 20;
    let case = "gemm/probe/copy/64MiB";
    if !case.contains(filter) {
        return;
    }
    let len = PROBE_BYTES / 4;
    let src = data(len, 3);
    let mut dst = vec![0f32; len];
    let copy = |dst: &mut [f32], parts: usize| {
        let chunk = len.div_ceil(parts);
        std::thread::scope(|s| {
            let mut jobs = dst.chunks_mut(chunk).zip(src.chunks(chunk));
            let first = jobs.next().expect("a non-empty buffer");
            for (d, s_) in jobs {
                s.spawn(move || d.copy_from_slice(s_));
            }
            first.0.copy_from_slice(first.1);
        });
        black_box(&*dst);
    };
    let mut dst2 = vec![0f32; len];
    let (two, one, x2) = interleave(|| copy(&mut dst2, 2), || copy(&mut dst, 1));
    let gb = 2.0 * PROBE_BYTES as f64 / 1e9;
    println!("{case} 1t={:.1} 2t={:.1} x2={x2:.3}", one * gb, two * gb);
}
