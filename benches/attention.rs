//! Scaled dot-product attention at 12 heads of 64 dims beside the two bare GEMMs it
//! contains, called by hand head by head on the same buffers: `s = q·kᵀ` (k read transposed
//! through strides) then `o = s·v`, no scale, softmax or mask. Both count `4·H·S²·Dh` flops.
//! Cases: `attention/f32/12xSx64/{shapecheck,raw}/1-thread`, the same on all threads (the
//! baseline's heads split into equal groups on rayon's pool, the pool shapecheck uses), and
//! `causal/shapecheck/…` (the causal op skips the key blocks no query can see).

use std::hint::black_box;

use bench_support::attention::{two_gemms, two_gemms_par, DH, H};
use bench_support::cases;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shapecheck::nn::attention::{attention, attention_masked, AttentionMask};
use shapecheck::prelude::*;

shapecheck::dim!(pub Heads = 12; pub HeadDim = 64);

fn attention_cases(c: &mut Criterion) {
    let cores = shapecheck::max_threads();
    for s in cases::ATTENTION_SEQ {
        let shape = (Heads, Dyn::new(s), HeadDim);
        let q = Tensor::<_>::randn_with(shape, 1);
        let k = Tensor::<_>::randn_with(shape, 2);
        let v = Tensor::<_>::randn_with(shape, 3);
        let qkv = (q.as_slice(), k.as_slice(), v.as_slice());
        let causal = AttentionMask::causal(0);
        let mut out = vec![0f32; H * s * DH];
        let mut scratch = vec![vec![0f32; s * s]; cores];
        let mut g = c.benchmark_group(cases::attention_group(s));
        g.throughput(Throughput::Elements((4 * H * s * s * DH) as u64));
        if s >= 512 {
            g.sample_size(10);
        }
        g.bench_function("shapecheck/1-thread", |b| {
            shapecheck::with_threads(1, || b.iter(|| black_box(attention(&q, &k, &v))))
        });
        g.bench_function("raw/1-thread", |b| {
            b.iter(|| two_gemms(s, qkv, &mut scratch[0], &mut out))
        });
        g.bench_function("causal/shapecheck/1-thread", |b| {
            shapecheck::with_threads(1, || {
                b.iter(|| black_box(attention_masked(&q, &k, &v, &causal)))
            })
        });
        g.bench_function(format!("shapecheck/{cores}-threads"), |b| {
            b.iter(|| black_box(attention(&q, &k, &v)))
        });
        g.bench_function(format!("raw/{cores}-threads"), |b| {
            b.iter(|| two_gemms_par(s, qkv, &mut scratch, &mut out))
        });
        g.bench_function(format!("causal/shapecheck/{cores}-threads"), |b| {
            b.iter(|| black_box(attention_masked(&q, &k, &v, &causal)))
        });
        g.finish();
    }
}

/// Traced attention (`shapecheck::autodiff::attention`): the forward alone against a
/// forward + backward (the blocked FlashAttention-2 backward, recomputing the scores), at 4
/// heads of 64 dims, causal and not. Cases:
/// `autodiff/attention/f32/4xSx64/{forward,forward+backward}[/causal]`.
fn autodiff_attention_cases(c: &mut Criterion) {
    use shapecheck::autodiff::attention::{attention, attention_masked};
    use shapecheck::autodiff::{Param, Tape};
    shapecheck::dim!(pub Heads4 = 4);
    for s in [128, 512] {
        let shape = (Heads4, Dyn::new(s), HeadDim);
        let q = Param::new(Tensor::<_>::randn_with(shape, 1));
        let k = Param::new(Tensor::<_>::randn_with(shape, 2));
        let v = Param::new(Tensor::<_>::randn_with(shape, 3));
        let causal = AttentionMask::causal(0);
        let mut g = c.benchmark_group(format!("autodiff/attention/f32/4x{s}x64"));
        g.throughput(Throughput::Elements((4 * 4 * s * s * 64) as u64));
        g.bench_function("forward", |b| {
            b.iter(|| {
                let tape = Tape::new();
                let o = attention(&tape.param(&q), &tape.param(&k), &tape.param(&v));
                black_box(o.value().len())
            })
        });
        g.bench_function("forward+backward", |b| {
            b.iter(|| {
                let tape = Tape::new();
                let o = attention(&tape.param(&q), &tape.param(&k), &tape.param(&v));
                black_box(o.sum_all().backward())
            })
        });
        g.bench_function("forward/causal", |b| {
            b.iter(|| {
                let tape = Tape::new();
                let (qv, kv, vv) = (tape.param(&q), tape.param(&k), tape.param(&v));
                black_box(attention_masked(&qv, &kv, &vv, &causal).value().len())
            })
        });
        g.bench_function("forward+backward/causal", |b| {
            b.iter(|| {
                let tape = Tape::new();
                let (qv, kv, vv) = (tape.param(&q), tape.param(&k), tape.param(&v));
                black_box(
                    attention_masked(&qv, &kv, &vv, &causal)
                        .sum_all()
                        .backward(),
                )
            })
        });
        g.finish();
    }
}

criterion_group!(benches, attention_cases, autodiff_attention_cases);
criterion_main!(benches);
