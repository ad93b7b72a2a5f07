//! matmul through the typed API beside matrixmultiply called by hand on the same buffers.
//! Cases are named by element type and size: `matmul/f32/512/ab/shapecheck` and
//! `…/ab/raw`; `ab` is A·B, `abt` is A·Bᵀ (B read through a transposed view).
//! `batched/…` runs 12×(128×64)·(64×128) on one thread and on all cores.
//! `linear/f32/<rows>x<in>-><out>/…`: `Linear::forward` (x·Wᵀ, W stored (out, in)) on a few
//! rows, against matrixmultiply on the same buffers (`raw`) and on a transposed copy of W
//! made beforehand (`raw-pretransposed`).

use std::hint::black_box;
use std::time::Duration;

use bench_support::cases::{self, batched::*};
use bench_support::raw;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shapecheck::prelude::*;

type Sq<T> = Tensor<(Dyn, Dyn), T>;

macro_rules! square_cases {
    ($c:expr, $t:ty, $raw:path) => {
        for n in cases::MATMUL_SQUARE {
            let shape = (Dyn::new(n), Dyn::new(n));
            let a = Sq::<$t>::randn_with(shape, 1);
            let b = Sq::<$t>::randn_with(shape, 2);
            let mut out = vec![0.0 as $t; n * n];
            let mut g = $c.benchmark_group(cases::matmul_group(stringify!($t), n));
            g.throughput(Throughput::Elements((2 * n * n * n) as u64));
            if n >= 512 {
                g.sample_size(10);
            }
            g.bench_function("ab/shapecheck", |bch| bch.iter(|| black_box(a.matmul(&b))));
            g.bench_function("ab/raw", |bch| {
                bch.iter(|| {
                    $raw(
                        n,
                        n,
                        n,
                        a.as_slice(),
                        b.as_slice(),
                        false,
                        black_box(&mut out),
                    )
                })
            });
            g.bench_function("abt/shapecheck", |bch| {
                bch.iter(|| black_box(a.matmul(&b.t())))
            });
            g.bench_function("abt/raw", |bch| {
                bch.iter(|| {
                    $raw(
                        n,
                        n,
                        n,
                        a.as_slice(),
                        b.as_slice(),
                        true,
                        black_box(&mut out),
                    )
                })
            });
            g.finish();
        }
    };
}

fn square(c: &mut Criterion) {
    shapecheck::with_threads(1, || {
        square_cases!(c, f32, raw::sgemm);
        square_cases!(c, f64, raw::dgemm);
    });
}

fn batched(c: &mut Criterion) {
    shapecheck::dim!(pub Heads = 12; pub Seq = 128; pub HeadDim = 64);
    assert_eq!(
        (Heads::SIZE, Seq::SIZE, HeadDim::SIZE),
        (HEADS, SEQ, HEAD_DIM)
    );
    let q = Tensor::<(Heads, Seq, HeadDim)>::randn(1);
    let k = Tensor::<(Heads, Seq, HeadDim)>::randn(2);
    let mut out = vec![0.0f32; HEADS * SEQ * SEQ];
    let mut g = c.benchmark_group(GROUP);
    g.throughput(Throughput::Elements(
        (2 * HEADS * SEQ * HEAD_DIM * SEQ) as u64,
    ));
    g.bench_function("shapecheck/1-thread", |b| {
        shapecheck::with_threads(1, || b.iter(|| black_box(q.matmul(&k.t()))))
    });
    g.bench_function("shapecheck/all-cores", |b| {
        b.iter(|| black_box(q.matmul(&k.t())))
    });
    g.bench_function("raw/1-thread", |b| {
        b.iter(|| {
            let dims = (SEQ, HEAD_DIM, SEQ);
            raw::sgemm_batched(HEADS, dims, q.as_slice(), k.as_slice(), true, &mut out)
        })
    });
    g.finish();
}

fn few_rows(c: &mut Criterion) {
    use shapecheck::nn::linear::Linear;
    shapecheck::with_threads(1, || {
        for rows in cases::LINEAR_ROWS {
            for (din, dout) in cases::LINEAR_SHAPES {
                let lin = Linear::<Dyn, Dyn>::init_with((Dyn::new(din), Dyn::new(dout)), false, 1);
                let x = Tensor::<(Dyn, Dyn)>::randn_with((Dyn::new(rows), Dyn::new(din)), 2);
                let w = lin.weight().as_slice();
                let wt = lin.weight().t().to_vec();
                let mut out = vec![0f32; rows * dout];
                let mut g = c.benchmark_group(cases::linear_group(rows, din, dout));
                g.throughput(Throughput::Elements((2 * rows * din * dout) as u64));
                g.bench_function("shapecheck", |b| b.iter(|| black_box(lin.forward(&x))));
                g.bench_function("raw", |b| {
                    b.iter(|| {
                        raw::sgemm(rows, din, dout, x.as_slice(), w, true, black_box(&mut out))
                    })
                });
                g.bench_function("raw-pretransposed", |b| {
                    b.iter(|| {
                        raw::sgemm(
                            rows,
                            din,
                            dout,
                            x.as_slice(),
                            &wt,
                            false,
                            black_box(&mut out),
                        )
                    })
                });
                g.finish();
            }
        }
    });
}

/// A traced matmul's forward + backward (`Σ A·B`, both gradients) against the three
/// products by hand (`C = A·B`, `dA = dC·Bᵀ`, `dB = Aᵀ·dC`).
fn backward(c: &mut Criterion) {
    use shapecheck::autodiff::{Param, Tape};
    for n in cases::MATMUL_BACKWARD {
        let shape = (Dyn::new(n), Dyn::new(n));
        let a = Param::new(Tensor::<_, f32>::randn_with(shape, 1));
        let b = Param::new(Tensor::<_, f32>::randn_with(shape, 2));
        let mut bufs = raw::ForwardBackward::new(n, n, n);
        let mut g = c.benchmark_group(cases::matmul_backward_group(n));
        g.throughput(Throughput::Elements((3 * 2 * n * n * n) as u64));
        g.bench_function("shapecheck", |bch| {
            bch.iter(|| {
                let tape = Tape::new();
                let loss = tape.param(&a).matmul(&tape.param(&b)).sum_all();
                black_box(loss.backward())
            })
        });
        g.bench_function("raw", |bch| {
            bch.iter(|| {
                raw::matmul_forward_backward(
                    (n, n, n),
                    a.value().as_slice(),
                    b.value().as_slice(),
                    &mut bufs,
                )
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = square, batched, few_rows, backward
}
criterion_main!(benches);
