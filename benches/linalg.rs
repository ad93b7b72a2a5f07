//! linalg: the typed SVD beside nalgebra's and faer's on the same matrices (one thread
//! each), named by element type and size: `svd/f32/256/shapecheck`, `…/nalgebra`,
//! `…/faer`; `rsvd/f32/768/r16/shapecheck` is the randomized rank-16 SVD (the issue's
//! goal is ≤ 10 ms), beside faer's exact thin SVD; `pca/f32/1024x256/r16` fits a PCA.
//! There is no hand-written matrixmultiply baseline for a factorisation: the peers are it.

use std::hint::black_box;
use std::time::Duration;

use bench_support::cases;
use criterion::{criterion_group, criterion_main, Criterion};
use shapecheck::linalg::RandomizedSvd;
use shapecheck::prelude::*;

type Sq<T> = Tensor<(Dyn, Dyn), T>;

macro_rules! svd_cases {
    ($c:expr, $t:ty, $sizes:expr) => {
        for n in $sizes {
            let a = Sq::<$t>::randn_with((Dyn::new(n), Dyn::new(n)), 1);
            let data = a.as_slice().to_vec();
            let na = nalgebra::DMatrix::<$t>::from_row_slice(n, n, &data);
            let fa = faer::Mat::<$t>::from_fn(n, n, |i, j| data[i * n + j]);
            let mut g = $c.benchmark_group(cases::svd_group(stringify!($t), n));
            if n >= 256 {
                g.sample_size(10);
                g.measurement_time(Duration::from_secs(if n >= 768 { 10 } else { 3 }));
            }
            g.bench_function("shapecheck", |b| b.iter(|| black_box(a.svd())));
            g.bench_function("nalgebra", |b| {
                b.iter(|| black_box(na.clone().svd(true, true)))
            });
            g.bench_function("faer", |b| b.iter(|| black_box(fa.thin_svd().unwrap())));
            g.finish();
        }
    };
}

fn svd(c: &mut Criterion) {
    faer::set_global_parallelism(faer::Par::Seq);
    shapecheck::with_threads(1, || {
        svd_cases!(c, f32, cases::SVD_F32);
        svd_cases!(c, f64, cases::SVD_F64_BENCH);
    });
}

fn randomized(c: &mut Criterion) {
    faer::set_global_parallelism(faer::Par::Seq);
    let n = 768;
    let a = Sq::<f32>::randn_with((Dyn::new(n), Dyn::new(n)), 2);
    let data = a.as_slice().to_vec();
    let fa = faer::Mat::<f32>::from_fn(n, n, |i, j| data[i * n + j]);
    let opts = RandomizedSvd::default();
    let mut g = c.benchmark_group(cases::RSVD);
    g.sample_size(10);
    shapecheck::with_threads(1, || {
        g.bench_function("shapecheck", |b| {
            b.iter(|| black_box(a.try_randomized_svd_with(Dyn::new(16), &opts).unwrap()))
        });
        g.bench_function("shapecheck-exact-truncated", |b| {
            b.iter(|| black_box(a.try_truncated_svd_with(Dyn::new(16)).unwrap()))
        });
    });
    g.bench_function("faer-exact", |b| {
        b.iter(|| black_box(fa.thin_svd().unwrap()))
    });
    g.finish();
}

fn pca(c: &mut Criterion) {
    dim!(pub Samples);
    dim!(pub Features = 256);
    let x = Tensor::<(Samples, Features)>::randn_with((Samples::new(1024), Features), 3);
    let mut g = c.benchmark_group("pca/f32/1024x256");
    g.sample_size(10);
    shapecheck::with_threads(1, || {
        g.bench_function("r16/shapecheck", |b| {
            b.iter(|| black_box(Pca::<Features, D<16>>::fit(&x)))
        });
    });
    g.finish();
}

criterion_group!(benches, svd, randomized, pca);
criterion_main!(benches);
