//! linalg: the typed SVD beside nalgebra's and faer's (one thread each), in milliseconds
//! per call: `<case> shapecheck=<ms> <peer>=<ms> ratio=<peer time / shapecheck time>`, so a
//! ratio above 1 means shapecheck is faster. The goals (1 thread, f32 thin SVD):
//! 256×256 in ≤ 8 ms, 768×768 in ≤ 100 ms, randomized rank 16 of 768×768 in ≤ 10 ms.
//! The randomized case is compared with each peer's exact thin SVD, the alternative a
//! user without it would reach for.

use std::hint::black_box;

use bench_support::cases;
use shapecheck::linalg::RandomizedSvd;
use shapecheck::prelude::*;

use crate::harness::interleave;

fn line(case: &str, peer: &str, (ours, theirs, ratio): (f64, f64, f64)) {
    // `interleave` gives calls per second and the ratio ours/theirs of those rates.
    println!(
        "{case}/{peer} shapecheck={:.2}ms {peer}={:.2}ms ratio={ratio:.3}",
        1e3 / ours,
        1e3 / theirs,
    );
}

macro_rules! svd_cases {
    ($filter:expr, $t:ty, $sizes:expr) => {
        for n in $sizes {
            let case = cases::svd_group(stringify!($t), n);
            if !case.contains($filter) {
                continue;
            }
            let a = Tensor::<(Dyn, Dyn), $t>::randn_with((Dyn::new(n), Dyn::new(n)), 1);
            accuracy(&case, &a.svd(), a.as_slice());
            let data = a.as_slice().to_vec();
            let na = nalgebra::DMatrix::<$t>::from_row_slice(n, n, &data);
            let fa = faer::Mat::<$t>::from_fn(n, n, |i, j| data[i * n + j]);
            if n <= 256 {
                line(
                    &case,
                    "nalgebra",
                    interleave(
                        || drop(black_box(a.svd())),
                        || drop(black_box(na.clone().svd(true, true))),
                    ),
                );
            } else {
                // nalgebra takes most of a second here: a few timed calls each.
                let time = |f: &mut dyn FnMut()| {
                    f();
                    let t = std::time::Instant::now();
                    for _ in 0..3 {
                        f();
                    }
                    3.0 / t.elapsed().as_secs_f64()
                };
                let ours = time(&mut || drop(black_box(a.svd())));
                let theirs = time(&mut || drop(black_box(na.clone().svd(true, true))));
                line(&case, "nalgebra", (ours, theirs, ours / theirs));
            }
            line(
                &case,
                "faer",
                interleave(
                    || drop(black_box(a.svd())),
                    || drop(black_box(fa.thin_svd().unwrap())),
                ),
            );
        }
    };
}

/// Prints `‖UΣVᵀ − A‖_F/‖A‖_F`, and `‖UᵀU − I‖` and `‖VVᵀ − I‖` in the Frobenius and the
/// max-entry norms, all computed in f64.
fn accuracy<T: Float>(case: &str, svd: &shapecheck::linalg::Svd<Dyn, Dyn, T>, a: &[T]) {
    let f64_of = |t: &[T], m: usize, n: usize| {
        Tensor::<(Dyn, Dyn), f64>::from_vec_with(
            (Dyn::new(m), Dyn::new(n)),
            t.iter().map(|x| x.to_f64()).collect(),
        )
        .unwrap()
    };
    let (m, k, n) = (svd.u.dims()[0], svd.s.dims()[0], svd.vt.dims()[1]);
    let u = f64_of(svd.u.as_slice(), m, k);
    let vt = f64_of(svd.vt.as_slice(), k, n);
    let mut us = u.clone();
    for row in us.as_mut_slice().chunks_exact_mut(k) {
        for (x, s) in row.iter_mut().zip(svd.s.as_slice()) {
            *x *= s.to_f64();
        }
    }
    let back = us.matmul(&vt);
    let num: f64 = back
        .as_slice()
        .iter()
        .zip(a)
        .map(|(p, q)| (p - q.to_f64()).powi(2))
        .sum();
    let den: f64 = a.iter().map(|q| q.to_f64().powi(2)).sum();
    let orth = |g: Tensor<(Dyn, Dyn), f64>| {
        let (mut fro, mut max) = (0.0f64, 0.0f64);
        for (idx, x) in g.as_slice().iter().enumerate() {
            let e = x - if idx % (k + 1) == 0 { 1.0 } else { 0.0 };
            fro += e * e;
            max = max.max(e.abs());
        }
        (fro.sqrt(), max)
    };
    let (uf, um) = orth(u.t().matmul(&u));
    let (vf, vm) = orth(vt.matmul(&vt.t()));
    println!(
        "# {case}: reconstruction {:.2e}; UᵀU − I: Frobenius {uf:.2e}, max entry {um:.2e}; \
         VᵀV − I: Frobenius {vf:.2e}, max entry {vm:.2e}",
        (num / den).sqrt()
    );
}

/// Relative Frobenius error of the randomized rank-16 approximation against the optimal
/// (Eckart–Young) one, on a matrix with singular values 0.9^i.
fn randomized_case(filter: &str) {
    let case = cases::RSVD;
    if !case.contains(filter) {
        return;
    }
    let n = 768;
    // A decaying spectrum: A = X·diag(0.9^i)·Y with Gaussian X, Y (near-orthogonal for
    // large n), plus a little noise.
    let x = Tensor::<(Dyn, Dyn), f32>::randn_with((Dyn::new(n), Dyn::new(n)), 3);
    let mut y = Tensor::<(Dyn, Dyn), f32>::randn_with((Dyn::new(n), Dyn::new(n)), 4);
    for (i, row) in y.as_mut_slice().chunks_exact_mut(n).enumerate() {
        let s = 0.9f32.powi(i as i32) / n as f32;
        row.iter_mut().for_each(|v| *v *= s);
    }
    let a = x.matmul(&y);
    let opts = RandomizedSvd::default();
    let data = a.as_slice().to_vec();
    let fa = faer::Mat::<f32>::from_fn(n, n, |i, j| data[i * n + j]);
    let exact = a.svd();
    let opt: f64 = exact.s.as_slice()[16..]
        .iter()
        .map(|s| (*s as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    let t = a.try_randomized_svd_with(Dyn::new(16), &opts).unwrap();
    let err: f64 = t
        .reconstruct()
        .as_slice()
        .iter()
        .zip(a.as_slice())
        .map(|(p, q)| ((p - q) as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    println!(
        "# {case}: error {err:.4e} = {:.4}× the optimal {opt:.4e}",
        err / opt
    );
    line(
        case,
        "faer-exact",
        interleave(
            || drop(black_box(a.try_randomized_svd_with(Dyn::new(16), &opts))),
            || drop(black_box(fa.thin_svd().unwrap())),
        ),
    );
}

pub fn run(filter: &str) {
    faer::set_global_parallelism(faer::Par::Seq);
    shapecheck::with_threads(1, || {
        svd_cases!(filter, f32, cases::SVD_F32);
        svd_cases!(filter, f64, cases::SVD_F64);
        randomized_case(filter);
    });
}
