//! Elementwise ops through the typed API beside a plain loop over slices and beside
//! ndarray, in GB/s (bytes read and written): broadcasting add (32, 768) + (768,), softmax
//! over (12, 128, 128), layer_norm over (128, 384).

use std::hint::black_box;
use std::time::Duration;

use bench_support::cases::{self, LAYER_NORM_EPS};
use bench_support::loops;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ndarray::{Array1, Array2, Array3};
use shapecheck::prelude::*;

fn add(c: &mut Criterion) {
    let a = Tensor::<(D<32>, D<768>)>::randn(1);
    let b = Tensor::<(D<768>,)>::randn(2);
    let (na, nb) = (
        Array2::from_shape_vec((32, 768), a.as_slice().to_vec()).unwrap(),
        Array1::from_vec(b.as_slice().to_vec()),
    );
    let mut out = Vec::new();
    let mut g = c.benchmark_group(cases::ADD_BROADCAST);
    g.throughput(Throughput::Bytes((4 * (2 * 32 * 768 + 768)) as u64));
    g.bench_function("shapecheck", |bch| bch.iter(|| black_box(&a + &b)));
    g.bench_function("loop", |bch| {
        bch.iter(|| loops::add_row(a.as_slice(), b.as_slice(), black_box(&mut out)))
    });
    g.bench_function("ndarray", |bch| bch.iter(|| black_box(&na + &nb)));
    g.finish();
}

fn softmax(c: &mut Criterion) {
    let x = Tensor::<(D<12>, D<128>, D<128>)>::randn(3);
    let nx = Array3::from_shape_vec((12, 128, 128), x.as_slice().to_vec()).unwrap();
    let mut out = Vec::new();
    let mut g = c.benchmark_group(cases::SOFTMAX);
    g.throughput(Throughput::Bytes((4 * 2 * 12 * 128 * 128) as u64));
    g.bench_function("shapecheck", |bch| bch.iter(|| black_box(x.softmax::<2>())));
    g.bench_function("loop", |bch| {
        bch.iter(|| loops::softmax(x.as_slice(), 128, black_box(&mut out)))
    });
    g.bench_function("ndarray", |bch| {
        bch.iter(|| black_box(loops::ndarray_softmax(&nx)))
    });
    g.finish();
}

fn layer_norm(c: &mut Criterion) {
    let x = Tensor::<(D<128>, D<384>)>::randn(4);
    let w = Tensor::<(D<384>,)>::randn(5);
    let b = Tensor::<(D<384>,)>::randn(6);
    let nx = Array2::from_shape_vec((128, 384), x.as_slice().to_vec()).unwrap();
    let (nw, nb) = (
        Array1::from_vec(w.as_slice().to_vec()),
        Array1::from_vec(b.as_slice().to_vec()),
    );
    let mut out = Vec::new();
    let mut g = c.benchmark_group(cases::LAYER_NORM);
    g.throughput(Throughput::Bytes((4 * 2 * 128 * 384) as u64));
    g.bench_function("shapecheck", |bch| {
        bch.iter(|| black_box(x.layer_norm(&w, &b, LAYER_NORM_EPS)))
    });
    g.bench_function("loop", |bch| {
        bch.iter(|| {
            loops::layer_norm(
                x.as_slice(),
                w.as_slice(),
                b.as_slice(),
                LAYER_NORM_EPS,
                black_box(&mut out),
            )
        })
    });
    g.bench_function("ndarray", |bch| {
        bch.iter(|| black_box(loops::ndarray_layer_norm(&nx, &nw, &nb, LAYER_NORM_EPS)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = add, softmax, layer_norm
}
criterion_main!(benches);
