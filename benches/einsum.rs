//! einsum through `einsum!` beside the same contraction written with `matmul` and with
//! matrixmultiply called by hand on the same buffers. Cases are named by form, element type
//! and size: `einsum/attention-scores/f32/2x12x128x64/{einsum,matmul,raw}`.

use std::hint::black_box;

use bench_support::{cases, raw};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shapecheck::prelude::*;

shapecheck::dim!(pub Batch = 2; pub Heads = 12; pub Seq = 128; pub HeadDim = 64);

fn attention(c: &mut Criterion) {
    let q = Tensor::<(Batch, Heads, Seq, HeadDim)>::randn(1);
    let k = Tensor::<(Batch, Heads, Seq, HeadDim)>::randn(2);
    let p = Tensor::<(Batch, Heads, Seq, Seq)>::randn(3);
    let mut out = vec![0.0f32; 2 * 12 * 128 * 128];
    let mut g = c.benchmark_group(cases::EINSUM_SCORES);
    g.throughput(Throughput::Elements(2 * 2 * 12 * 128 * 128 * 64));
    shapecheck::with_threads(1, || {
        g.bench_function("einsum", |b| {
            b.iter(|| black_box(einsum!("b h q d, b h k d -> b h q k", q, k)))
        });
        g.bench_function("matmul", |b| b.iter(|| black_box(q.matmul(&k.t()))));
    });
    g.bench_function("raw", |b| {
        b.iter(|| {
            raw::sgemm_batched(
                24,
                (128, 64, 128),
                q.as_slice(),
                k.as_slice(),
                true,
                &mut out,
            )
        })
    });
    g.finish();

    let v = Tensor::<(Batch, Heads, Seq, HeadDim)>::randn(4);
    let mut out = vec![0.0f32; 2 * 12 * 128 * 64];
    let mut g = c.benchmark_group(cases::EINSUM_VALUES);
    g.throughput(Throughput::Elements(2 * 2 * 12 * 128 * 128 * 64));
    shapecheck::with_threads(1, || {
        g.bench_function("einsum", |b| {
            b.iter(|| black_box(einsum!("b h q k, b h k d -> b h q d", p, v)))
        });
        g.bench_function("matmul", |b| b.iter(|| black_box(p.matmul(&v))));
    });
    g.bench_function("raw", |b| {
        b.iter(|| {
            raw::sgemm_batched(
                24,
                (128, 128, 64),
                p.as_slice(),
                v.as_slice(),
                false,
                &mut out,
            )
        })
    });
    g.finish();
}

fn small_forms(c: &mut Criterion) {
    let m = Tensor::<(D<256>, D<256>)>::randn(5);
    let mut g = c.benchmark_group("einsum/unary/f32/256");
    g.throughput(Throughput::Elements(256 * 256));
    g.bench_function("trace", |b| b.iter(|| black_box(einsum!("ii->", m))));
    g.bench_function("row-sums", |b| b.iter(|| black_box(einsum!("ij->i", m))));
    g.bench_function("transpose", |b| b.iter(|| black_box(einsum!("ij->ji", m))));
    g.finish();
}

criterion_group!(benches, attention, small_forms);
criterion_main!(benches);
