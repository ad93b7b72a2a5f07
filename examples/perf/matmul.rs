//! matmul: the typed API against matrixmultiply called by hand on the same buffers.

use std::hint::black_box;

use shapecheck::prelude::*;

use bench_support::cases::{self, batched};
use bench_support::raw;
use shapecheck::nn::linear::Linear;

use crate::harness::{interleave, line};

macro_rules! square {
    ($filter:expr, $t:ty, $raw:path) => {
        for n in cases::MATMUL_SQUARE {
            for bt in [false, true] {
                let case = format!(
                    "{}/{}",
                    cases::matmul_group(stringify!($t), n),
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

    few_rows(filter);
    prepacked(filter);

    if "batched".contains(filter) || filter.is_empty() {
        use batched::{GROUP, HEADS, HEAD_DIM, SEQ};
        shapecheck::dim!(pub Heads = 12; pub Seq = 128; pub HeadDim = 64);
        assert_eq!(
            (Heads::SIZE, Seq::SIZE, HeadDim::SIZE),
            (HEADS, SEQ, HEAD_DIM)
        );
        let q = Tensor::<(Heads, Seq, HeadDim)>::randn(1);
        let k = Tensor::<(Heads, Seq, HeadDim)>::randn(2);
        let mut out = vec![0.0f32; HEADS * SEQ * SEQ];
        let flops = 2.0 * (HEADS * SEQ * HEAD_DIM * SEQ) as f64;
        let r = interleave(
            || drop(black_box(shapecheck::with_threads(1, || q.matmul(&k.t())))),
            || {
                let dims = (SEQ, HEAD_DIM, SEQ);
                raw::sgemm_batched(HEADS, dims, q.as_slice(), k.as_slice(), true, &mut out)
            },
        );
        line(&format!("{GROUP}/1-thread"), flops, r);
        let cores = shapecheck::max_threads();
        let (all, one, speedup) = interleave(
            || drop(black_box(q.matmul(&k.t()))),
            || drop(black_box(shapecheck::with_threads(1, || q.matmul(&k.t())))),
        );
        println!(
            "{GROUP}/{cores}-threads shapecheck={:.2} 1-thread={:.2} speedup={speedup:.2}",
            all * flops / 1e9,
            one * flops / 1e9,
        );
    }
}

/// The `(in, out)` widths of one MiniLM layer's six weights: q, k, v, o, up, down.
const MINILM_LAYER_SHAPES: [(usize, usize); 6] = [
    (384, 384),
    (384, 384),
    (384, 384),
    (384, 384),
    (384, 1536),
    (1536, 384),
];

/// `x·Wᵀ` with few rows and `W` stored (out, in), as a transformer layer computes it on one
/// sentence: `Linear::forward` against matrixmultiply called by hand on the same buffers (W
/// read through its transpose, as `Linear` reads it), and against matrixmultiply given a
/// transposed copy of W made beforehand (the layout its packing prefers; the copy is not
/// timed). `warm` repeats one weight (in cache); `cold` cycles through the 36 weights of a
/// 6-layer MiniLM-sized model (42 MB, more than the last-level cache), as a forward pass does.
fn few_rows(filter: &str) {
    type Layer = (Linear<Dyn, Dyn>, Tensor<(Dyn, Dyn)>);
    shapecheck::with_threads(1, || {
        for rows in cases::LINEAR_ROWS {
            for (din, dout) in cases::LINEAR_SHAPES {
                let case = format!("{}/warm", cases::linear_group(rows, din, dout));
                if !case.contains(filter) {
                    continue;
                }
                let lin = Linear::<Dyn, Dyn>::init_with((Dyn::new(din), Dyn::new(dout)), false, 1);
                let x = Tensor::<(Dyn, Dyn)>::randn_with((Dyn::new(rows), Dyn::new(din)), 2);
                let w = lin.weight().as_slice();
                let wt = lin.weight().t().to_vec();
                let mut out = vec![0f32; rows * dout];
                let flops = 2.0 * (rows * din * dout) as f64;
                let r = interleave(
                    || drop(black_box(lin.forward(&x))),
                    || raw::sgemm(rows, din, dout, x.as_slice(), w, true, black_box(&mut out)),
                );
                line(&case, flops, r);
                let r = interleave(
                    || drop(black_box(lin.forward(&x))),
                    || {
                        raw::sgemm(
                            rows,
                            din,
                            dout,
                            x.as_slice(),
                            &wt,
                            false,
                            black_box(&mut out),
                        )
                    },
                );
                line(&format!("{case}/vs-pretransposed"), flops, r);
            }
        }
        for rows in [1usize, 19] {
            let case = format!("linear/f32/{rows}-rows/6-layer-weights/cold");
            if !case.contains(filter) {
                continue;
            }
            let shapes = MINILM_LAYER_SHAPES;
            let layers: Vec<Layer> = (0..6)
                .flat_map(|layer| shapes.iter().enumerate().map(move |(i, s)| (layer, i, *s)))
                .map(|(layer, i, (din, dout))| {
                    let lin = Linear::init_with(
                        (Dyn::new(din), Dyn::new(dout)),
                        false,
                        (layer * 6 + i) as u64,
                    );
                    let x = Tensor::randn_with((Dyn::new(rows), Dyn::new(din)), 3);
                    (lin, x)
                })
                .collect();
            let flops: f64 = layers
                .iter()
                .map(|(l, _)| 2.0 * (rows * l.weight().len()) as f64)
                .sum();
            let mut bufs: Vec<Vec<f32>> = layers
                .iter()
                .map(|(l, _)| vec![0f32; rows * l.weight().dims()[0]])
                .collect();
            let r = interleave(
                || {
                    for (lin, x) in &layers {
                        drop(black_box(lin.forward(x)));
                    }
                },
                || {
                    for ((lin, x), out) in layers.iter().zip(bufs.iter_mut()) {
                        let (dout, din) = (lin.weight().dims()[0], lin.weight().dims()[1]);
                        let w = lin.weight().as_slice();
                        raw::sgemm(rows, din, dout, x.as_slice(), w, true, black_box(out));
                    }
                },
            );
            line(&case, flops, r);
        }
    });
}

/// `x·Wᵀ` with enough rows for the packed GEMM (a batch of sentences, a prefill), on 1 and 2
/// threads: `Linear::forward`, which reads the weight's pack (made at the first call, kept
/// until the weight changes), against `ops::linear::try_linear` on the same buffers, which
/// packs `W` at every call (what `Linear` did before). The same bits; `SHAPECHECK_PREPACK=0`
/// makes both sides pack per call. `warm` repeats one weight; `cold` cycles through the 36
/// weights of a 6-layer MiniLM-sized model (42 MB of weights, and as much again of packs).
fn prepacked(filter: &str) {
    use shapecheck::autodiff::Params;
    use shapecheck::ops::linear::try_linear;
    type Layer = (Linear<Dyn, Dyn>, Tensor<(Dyn, Dyn)>);
    for threads in [1usize, 2] {
        shapecheck::with_threads(threads, || {
            for rows in [128usize, 512] {
                for (din, dout) in cases::LINEAR_SHAPES {
                    let case = format!(
                        "{}/warm/{threads}-thread/prepacked-vs-per-call",
                        cases::linear_group(rows, din, dout)
                    );
                    if !case.contains(filter) {
                        continue;
                    }
                    let lin =
                        Linear::<Dyn, Dyn>::init_with((Dyn::new(din), Dyn::new(dout)), false, 1);
                    let x = Tensor::<(Dyn, Dyn)>::randn_with((Dyn::new(rows), Dyn::new(din)), 2);
                    let flops = 2.0 * (rows * din * dout) as f64;
                    let r = interleave(
                        || drop(black_box(lin.forward(&x))),
                        || drop(black_box(try_linear(&x.view(), &lin.weight().view(), None))),
                    );
                    line(&case, flops, r);
                }
            }
            let rows = 128;
            let case = format!("linear/f32/{rows}-rows/6-layer-weights/cold/{threads}-thread/prepacked-vs-per-call");
            if !case.contains(filter) {
                return;
            }
            let shapes = MINILM_LAYER_SHAPES;
            let layers: Vec<Layer> = (0..36)
                .map(|i| {
                    let (din, dout) = shapes[i % 6];
                    let lin = Linear::init_with((Dyn::new(din), Dyn::new(dout)), false, i as u64);
                    (lin, Tensor::randn_with((Dyn::new(rows), Dyn::new(din)), 3))
                })
                .collect();
            let flops: f64 = layers
                .iter()
                .map(|(l, _)| 2.0 * (rows * l.weight().len()) as f64)
                .sum();
            let r = interleave(
                || {
                    layers
                        .iter()
                        .for_each(|(lin, x)| drop(black_box(lin.forward(x))))
                },
                || {
                    for (lin, x) in &layers {
                        drop(black_box(try_linear(&x.view(), &lin.weight().view(), None)));
                    }
                },
            );
            line(&case, flops, r);
            let packs: usize = layers.iter().map(|(l, _)| l.packed_bytes()).sum();
            let weights: usize = layers.iter().map(|(l, _)| l.weight().len() * 4).sum();
            println!(
                "# {case}: packs {:.1} MB for {:.1} MB of weights",
                packs as f64 / 1e6,
                weights as f64 / 1e6
            );
        });
    }
}
