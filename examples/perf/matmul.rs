//! matmul: the typed API against matrixmultiply called by hand on the same buffers.

use std::hint::black_box;

use shapecheck::prelude::*;

use crate::harness::{interleave, line};
use crate::raw;

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

/// Prints the matmul lines whose case name contains `filter`.
pub fn run(filter: &str) {
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
