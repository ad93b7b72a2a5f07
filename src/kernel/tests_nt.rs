//! The few-rows `x·Wᵀ` kernel (`nt.rs`) forced on each vector width — AVX2 through the
//! matrixmultiply and AVX2 backends, AVX-512 through the AVX-512 backend (skipped with a note
//! on a CPU without it) — through the crate's entry:
//! - against an f64 reference within `(k + 2)·ε·(|α|·(|A||B|)ᵢⱼ + |β·Cᵢⱼ|)`, on every row
//!   count of the single-pass loop and a few of the strip loop, `k` around the vector
//!   widths, `W` at every offset from a vector boundary, strided rows, β = 0 on a `C` of
//!   NaN, NaN and ∞ in the inputs;
//! - bit for bit against itself: a row's result does not depend on how many rows share the
//!   product, on where `W` lies in memory, or on the thread count.

use super::raw::Backend;
use super::{Gemm, MatRef};
use crate::element::Float;

/// The backends whose few-rows kernel this CPU runs (every backend on x86-64 with AVX2 uses
/// one: AVX-512 vectors on `Avx512`, AVX2 on the others).
fn backends() -> Vec<Backend> {
    if !super::micro::has_avx2_fma() {
        eprintln!("note: this CPU lacks AVX2/FMA; the few-rows kernel was not tested");
        return Vec::new();
    }
    let mut all = vec![Backend::MatrixMultiply, Backend::Avx2];
    if Backend::Avx512.available() {
        all.push(Backend::Avx512);
    } else {
        eprintln!("note: this CPU lacks AVX-512F; the AVX-512 few-rows kernel was not tested");
    }
    all
}

/// Values in [-1, 1) from a seed.
pub(super) fn values<T: Float>(len: usize, seed: u64) -> Vec<T> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            T::from_f64((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0)
        })
        .collect()
}

/// One product `C = α·X·Wᵀ + β·C` through the entry on `backend`, `X` (`m × k`, row stride
/// `rsa`, from offset `xoff`), `W` (`n × k`, row stride `csb`, from offset `woff`), checked
/// against the f64 reference. With `special`, `X[0, 1]` is NaN and `W[n − 1, 2]` is +∞.
#[allow(clippy::too_many_arguments)]
fn check<T: Float>(
    backend: Backend,
    (m, k, n): (usize, usize, usize),
    (xoff, rsa): (usize, usize),
    (woff, csb): (usize, usize),
    (alpha, beta): (f64, f64),
    special: bool,
    threads: usize,
) {
    let seed = (m * 1000 + k * 10 + n) as u64;
    let mut sx: Vec<T> = values(xoff + m * rsa, seed);
    let mut sw: Vec<T> = values(woff + n * csb, seed + 1);
    if special {
        sx[xoff + 1] = T::from_f64(f64::NAN);
        sw[woff + (n - 1) * csb + 2] = T::from_f64(f64::INFINITY);
    }
    let rsc = n + 1;
    let c0: Vec<T> = if beta == 0.0 {
        vec![T::from_f64(f64::NAN); m * rsc]
    } else {
        values(m * rsc, seed + 2)
    };
    let mut c = c0.clone();
    let x = MatRef::new(&sx, xoff, (m, k), (rsa, 1));
    let wt = MatRef::new(&sw, woff, (n, k), (csb, 1)).t();
    Gemm::new()
        .alpha(T::from_f64(alpha))
        .beta(T::from_f64(beta))
        .threads(threads)
        .backend(backend)
        .to_slice(x, wt, &mut c, rsc);
    let eps = T::EPSILON.to_f64();
    for i in 0..m {
        for j in 0..n {
            let (mut dot, mut mag) = (0.0f64, 0.0f64);
            for l in 0..k {
                let (a, b) = (
                    sx[xoff + i * rsa + l].to_f64(),
                    sw[woff + j * csb + l].to_f64(),
                );
                dot += a * b;
                mag += (a * b).abs();
            }
            let old = if beta == 0.0 {
                0.0
            } else {
                beta * c0[i * rsc + j].to_f64()
            };
            let want = alpha * dot + old;
            let got = c[i * rsc + j].to_f64();
            let bound = (k + 2) as f64 * eps * (alpha.abs() * mag + old.abs());
            let ok = if want.is_nan() {
                got.is_nan()
            } else if want.is_infinite() {
                got == want
            } else {
                (got - want).abs() <= bound
            };
            assert!(
                ok,
                "{backend:?} {} {m}×{k}×{n} x at +{xoff}/{rsa}, W at +{woff}/{csb}, α {alpha} \
                 β {beta} on {threads}: C({i}, {j}) = {got}, want {want} ± {bound}",
                core::any::type_name::<T>()
            );
        }
        // The gap after each row of C stays as it was.
        let gap = c[i * rsc + n];
        let was = c0[i * rsc + n];
        assert!(
            gap.to_bits_u64() == was.to_bits_u64(),
            "{backend:?}: the gap after row {i} was written"
        );
    }
}

/// Bits of a float, for comparing NaN gaps.
trait Bits {
    fn to_bits_u64(self) -> u64;
}
impl<T: Float> Bits for T {
    fn to_bits_u64(self) -> u64 {
        self.to_f64().to_bits()
    }
}

fn every_class<T: Float>(backend: Backend) {
    let mut case = 0usize;
    for m in [1, 2, 3, 4, 5, 6, 7, 8, 9, 13] {
        for k in [32, 33, 47, 64, 65, 100, 257] {
            for n in [1, 3, 5, 17] {
                case += 1;
                // W at every offset from a vector boundary over the cases, its rows
                // contiguous or strided; X likewise.
                let woff = case % 17;
                let csb = if case.is_multiple_of(3) { k + 3 } else { k };
                let (xoff, rsa) = if case.is_multiple_of(2) {
                    (1, k + 2)
                } else {
                    (0, k)
                };
                let scalars = match case % 3 {
                    0 => (1.0, 0.0),
                    1 => (-0.5, 0.0),
                    _ => (0.5, 2.0),
                };
                let special = case.is_multiple_of(5);
                let threads = 1 + case % 2;
                check::<T>(
                    backend,
                    (m, k, n),
                    (xoff, rsa),
                    (woff, csb),
                    scalars,
                    special,
                    threads,
                );
            }
        }
    }
    // The most rows the kernel takes.
    check::<T>(backend, (48, 70, 9), (0, 70), (3, 70), (1.0, 0.0), true, 1);
}

#[test]
fn few_rows_kernel_on_every_width_and_shape_class() {
    for backend in backends() {
        every_class::<f32>(backend);
        every_class::<f64>(backend);
    }
}

/// Row `i` of `x·Wᵀ` gives the same bits whether it is computed alone, in a block of 2, 5
/// or 8 rows (the single-pass loop) or of 48 (the strip loop), on one thread or split over
/// three, and wherever `W` lies (its offset from a vector boundary).
fn same_bits<T: Float>(backend: Backend) {
    let (m, k, n) = (48usize, 100usize, 37usize);
    let sx: Vec<T> = values(m * k, 11);
    let w: Vec<T> = values(n * k, 12);
    let run = |rows: core::ops::Range<usize>, woff: usize, threads: usize| -> Vec<T> {
        let mut sw = vec![T::ZERO; woff + n * k];
        sw[woff..].copy_from_slice(&w);
        let x = MatRef::new(&sx, rows.start * k, (rows.len(), k), (k, 1));
        let wt = MatRef::new(&sw, woff, (n, k), (k, 1)).t();
        let mut c = vec![T::ZERO; rows.len() * n];
        Gemm::new()
            .threads(threads)
            .backend(backend)
            .to_slice(x, wt, &mut c, n);
        c
    };
    let all = run(0..m, 0, 1);
    for block in [1usize, 2, 5, 8, 48] {
        for (t, woff) in (0..17).step_by(3).enumerate() {
            let threads = 1 + t % 3;
            for start in (0..m).step_by(block).take(3) {
                let rows = start..(start + block).min(m);
                let got = run(rows.clone(), woff, threads);
                let want = &all[rows.start * n..rows.end * n];
                assert!(
                    got.iter()
                        .zip(want)
                        .all(|(g, w)| g.to_bits_u64() == w.to_bits_u64()),
                    "{backend:?} {}: rows {rows:?} in blocks of {block}, W at +{woff}, on \
                     {threads} threads, differ from the 48-row product",
                    core::any::type_name::<T>()
                );
            }
        }
    }
}

#[test]
fn few_rows_bits_do_not_depend_on_rows_alignment_or_threads() {
    for backend in backends() {
        same_bits::<f32>(backend);
        same_bits::<f64>(backend);
    }
}
