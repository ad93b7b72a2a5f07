//! A one-minute performance summary: each case runs shapecheck and the hand-written
//! baseline (matrixmultiply called directly on the same buffers) in alternating rounds, so
//! both see the same machine state, and prints
//! `<case> shapecheck=<GFLOP/s> raw=<GFLOP/s> ratio=<shapecheck/raw>` from the medians.
//! `…/into` cases write into a reused output (`matmul_into`), as the baseline does; the
//! others allocate their result.
//!
//! Run with `cargo run --release --example perf` (optionally a filter: `-- f64`).

#[path = "../benches/common/raw.rs"]
mod raw;

use std::hint::black_box;
use std::time::{Duration, Instant};

use shapecheck::prelude::*;

/// Rounds per case; each round times both sides for about `ROUND` each.
const ROUNDS: usize = 21;
const ROUND: Duration = Duration::from_millis(20);

/// Calls per second of `ours` and `theirs` (medians over rounds), and the median of the
/// per-round ratios ours/theirs: adjacent rounds see the same machine state, so their ratio
/// cancels the drift of a shared machine better than a ratio of medians would.
fn interleave(mut ours: impl FnMut(), mut theirs: impl FnMut()) -> (f64, f64, f64) {
    // Calibrate the number of calls per round on `theirs`, after a warm-up of both.
    ours();
    theirs();
    let t = Instant::now();
    let mut calls = 0u32;
    while t.elapsed() < ROUND {
        theirs();
        calls += 1;
    }
    let calls = calls.max(1);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..calls {
            f();
        }
        calls as f64 / t.elapsed().as_secs_f64()
    };
    for round in 0..ROUNDS {
        // ABBA order: neither side always runs first, so warm-up and drift cancel.
        if round % 2 == 0 {
            a.push(time(&mut ours));
            b.push(time(&mut theirs));
        } else {
            b.push(time(&mut theirs));
            a.push(time(&mut ours));
        }
    }
    let ratios = a.iter().zip(&b).map(|(x, y)| x / y).collect();
    (median(a), median(b), median(ratios))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn line(case: &str, flops: f64, (ours, theirs, ratio): (f64, f64, f64)) {
    println!(
        "{case} shapecheck={:.2} raw={:.2} ratio={ratio:.3}",
        ours * flops / 1e9,
        theirs * flops / 1e9,
    );
}

macro_rules! square {
    ($filter:expr, $t:ty, $raw:path) => {
        for n in [64usize, 128, 256, 512, 1024] {
            for bt in [false, true] {
                let case = format!(
                    "matmul/{}/{n}/{}",
                    stringify!($t),
                    if bt { "abt" } else { "ab" }
                );
                if !case.contains($filter) {
                    continue;
                }
                let shape = (Dyn::new(n), Dyn::new(n));
                let a = Tensor::<_, $t>::randn_with(shape, 1);
                let b = Tensor::<_, $t>::randn_with(shape, 2);
                let mut out = vec![0.0 as $t; n * n];
                let flops = 2.0 * (n * n * n) as f64;
                let mut c = Tensor::<_, $t>::zeros_with(shape);
                let (ab, into) = if bt {
                    (
                        interleave(
                            || drop(black_box(a.matmul(&b.t()))),
                            || {
                                $raw(
                                    n,
                                    n,
                                    n,
                                    a.as_slice(),
                                    b.as_slice(),
                                    true,
                                    black_box(&mut out),
                                )
                            },
                        ),
                        interleave(
                            || a.matmul_into(&b.t(), black_box(&mut c)),
                            || {
                                $raw(
                                    n,
                                    n,
                                    n,
                                    a.as_slice(),
                                    b.as_slice(),
                                    true,
                                    black_box(&mut out),
                                )
                            },
                        ),
                    )
                } else {
                    (
                        interleave(
                            || drop(black_box(a.matmul(&b))),
                            || {
                                $raw(
                                    n,
                                    n,
                                    n,
                                    a.as_slice(),
                                    b.as_slice(),
                                    false,
                                    black_box(&mut out),
                                )
                            },
                        ),
                        interleave(
                            || a.matmul_into(&b, black_box(&mut c)),
                            || {
                                $raw(
                                    n,
                                    n,
                                    n,
                                    a.as_slice(),
                                    b.as_slice(),
                                    false,
                                    black_box(&mut out),
                                )
                            },
                        ),
                    )
                };
                line(&case, flops, ab);
                line(&format!("{case}/into"), flops, into);
            }
        }
    };
}

fn main() {
    let filter = std::env::args().nth(1).unwrap_or_default();
    let filter = filter.as_str();
    println!(
        "# shapecheck perf: medians of {ROUNDS} alternating rounds; {} cores",
        shapecheck::max_threads()
    );
    shapecheck::with_threads(1, || {
        if "control".contains(filter) || filter.is_empty() {
            // The noise floor: the baseline against itself.
            let n = 256;
            let a = Tensor::<_, f32>::randn_with((Dyn::new(n), Dyn::new(n)), 1);
            let (mut o1, mut o2) = (vec![0f32; n * n], vec![0f32; n * n]);
            let (x, y) = (a.as_slice(), a.as_slice());
            let r = interleave(
                || raw::sgemm(n, n, n, x, y, false, black_box(&mut o1)),
                || raw::sgemm(n, n, n, x, y, false, black_box(&mut o2)),
            );
            line("control/raw-vs-raw/f32/256", 2.0 * (n * n * n) as f64, r);
        }
        square!(filter, f32, raw::sgemm);
        square!(filter, f64, raw::dgemm);
    });

    if "batched".contains(filter) || filter.is_empty() {
        shapecheck::dim!(pub Heads = 12; pub Seq = 128; pub HeadDim = 64);
        let q = Tensor::<(Heads, Seq, HeadDim)>::randn(1);
        let k = Tensor::<(Heads, Seq, HeadDim)>::randn(2);
        let mut out = vec![0.0f32; 12 * 128 * 128];
        let flops = 2.0 * (12 * 128 * 64 * 128) as f64;
        let r = interleave(
            || drop(black_box(shapecheck::with_threads(1, || q.matmul(&k.t())))),
            || {
                for h in 0..12 {
                    let r = h * 128 * 64..(h + 1) * 128 * 64;
                    let o = &mut out[h * 128 * 128..(h + 1) * 128 * 128];
                    let (qs, ks) = (&q.as_slice()[r.clone()], &k.as_slice()[r]);
                    raw::sgemm(128, 64, 128, qs, ks, true, black_box(o));
                }
            },
        );
        line("batched/f32/12x128x64x128/1-thread", flops, r);
        let cores = shapecheck::max_threads();
        let (all, one, speedup) = interleave(
            || drop(black_box(q.matmul(&k.t()))),
            || drop(black_box(shapecheck::with_threads(1, || q.matmul(&k.t())))),
        );
        println!(
            "batched/f32/12x128x64x128/{cores}-threads shapecheck={:.2} 1-thread={:.2} speedup={speedup:.2}",
            all * flops / 1e9,
            one * flops / 1e9,
        );
    }
}
