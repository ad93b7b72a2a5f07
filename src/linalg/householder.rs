//! Householder reflectors: making them, and applying a block of them with three GEMMs.
//!
//! A reflector is `H = I − τ·v·vᵀ` with `v[j] = 1` at its first position. A set of them is
//! stored as the rows of a `count × dim` row-major matrix (row `j` is zero before `j`, one at
//! `j`), which is `Vᵀ` for the matrix `V` whose columns are the vectors; so both `V` and `Vᵀ`
//! are strided views of one buffer, and applying `H₀·H₁⋯` to a matrix is, per block of
//! `NB` reflectors, `X −= V·(T·(Vᵀ·X))` (the compact WY form, `T` upper triangular).
//!
//! Workspace: `count × dim` for the vectors, plus `NB × cols` and `dim × cols` per block.

use super::dense::{gemm, MatRef};
use crate::element::Float;

/// Reflectors per block of the WY application.
const NB: usize = 64;

/// `hypot(a, b)` without overflow or underflow in the squares.
pub(crate) fn hypot<T: Float>(a: T, b: T) -> T {
    let (a, b) = (a.abs(), b.abs());
    let (big, small) = if a > b { (a, b) } else { (b, a) };
    if big == T::ZERO {
        return T::ZERO;
    }
    let r = small / big;
    big * (T::ONE + r * r).sqrt()
}

/// The reflector that maps `(alpha, x)` with `‖x‖ = tail_norm` onto `(beta, 0)`.
/// Returns `(beta, tau, scale)`: the tail of `v` is `x · scale`. With `tail_norm = 0` the
/// reflector is the identity (`tau = 0`).
pub(crate) fn reflector<T: Float>(alpha: T, tail_norm: T) -> (T, T, T) {
    if tail_norm == T::ZERO {
        return (alpha, T::ZERO, T::ZERO);
    }
    // In f64: the reflector is then as orthogonal as its rounding to T allows.
    let (a, t) = (alpha.to_f64(), tail_norm.to_f64());
    let h = a.hypot(t);
    let beta = if a >= 0.0 { -h } else { h };
    let scale = T::from_f64(1.0 / (a - beta));
    if !scale.is_finite() {
        // A column of subnormals: dropping it changes the matrix by less than the
        // smallest normal number, far below rounding.
        return (alpha, T::ZERO, T::ZERO);
    }
    (T::from_f64(beta), T::from_f64((beta - a) / beta), scale)
}

/// `Σ x²` with eight independent accumulators, so the loop vectorises.
pub(crate) fn sum_sq<T: Float>(x: &[T]) -> T {
    dot(x, x)
}

/// `x · y` with eight independent accumulators, so the loop vectorises.
#[inline]
pub(crate) fn dot<T: Float>(x: &[T], y: &[T]) -> T {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = [T::ZERO; 8];
    let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (a, b) in xc.zip(yc) {
        for l in 0..8 {
            acc[l] += a[l] * b[l];
        }
    }
    let mut tail = T::ZERO;
    for (a, b) in xr.iter().zip(yr) {
        tail += *a * *b;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// `y += a·x`.
#[inline]
pub(crate) fn axpy<T: Float>(y: &mut [T], a: T, x: &[T]) {
    debug_assert_eq!(x.len(), y.len());
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * *x;
    }
}

/// A sequence of reflectors `H₀, H₁, …` in a space of `dim` coordinates; see the module docs.
pub(crate) struct Reflectors<T> {
    pub dim: usize,
    pub count: usize,
    /// `count × dim`, row `j` = the vector of `H_j` (zero before `j`, one at `j`).
    pub v: Vec<T>,
    pub tau: Vec<T>,
}

impl<T: Float> Reflectors<T> {
    pub(crate) fn new(dim: usize, count: usize) -> Self {
        debug_assert!(count <= dim);
        let mut v = vec![T::ZERO; count * dim];
        for j in 0..count {
            v[j * dim + j] = T::ONE;
        }
        Reflectors {
            dim,
            count,
            v,
            tau: vec![T::ZERO; count],
        }
    }

    /// `X ← H₀·H₁⋯H_{count−1}·X` for a row-major `dim × cols` matrix `x`.
    pub(crate) fn apply(&self, x: &mut [T], cols: usize) {
        let dim = self.dim;
        assert_eq!(x.len(), dim * cols, "reflected matrix of the wrong size");
        if cols == 0 || self.count == 0 {
            return;
        }
        let last_block = (self.count - 1) / NB * NB;
        for j0 in (0..=last_block).rev().step_by(NB) {
            let b = NB.min(self.count - j0);
            if self.tau[j0..j0 + b].iter().all(|t| *t == T::ZERO) {
                continue;
            }
            let len = dim - j0;
            // Vᵀ of this block: b × len, a view into the stored rows.
            let vt = MatRef::new(&self.v, j0 * dim + j0, b, len, dim, 1);
            let t = self.t_factor(vt, j0, b);
            let w = gemm(vt, MatRef::new(x, j0 * cols, len, cols, cols, 1));
            // W ← T·W, T upper triangular (b × b), in place row by row from the top.
            let mut tw = vec![T::ZERO; b * cols];
            for i in 0..b {
                let row = &mut tw[i * cols..(i + 1) * cols];
                for l in i..b {
                    let til = t[i * b + l];
                    if til != T::ZERO {
                        axpy(row, til, &w[l * cols..(l + 1) * cols]);
                    }
                }
            }
            let upd = gemm(vt.t(), MatRef::new(&tw, 0, b, cols, cols, 1));
            for (x, u) in x[j0 * cols..].iter_mut().zip(&upd) {
                *x -= *u;
            }
        }
    }

    /// The upper-triangular `T` of `H_{j0}⋯H_{j0+b−1} = I − V·T·Vᵀ` (LAPACK's larft,
    /// forward, columnwise), from the Gram matrix `VᵀV`.
    fn t_factor(&self, vt: MatRef<'_, T>, j0: usize, b: usize) -> Vec<T> {
        let g = gemm(vt, vt.t());
        let mut t = vec![T::ZERO; b * b];
        for i in 0..b {
            let tau = self.tau[j0 + i];
            t[i * b + i] = tau;
            // T[0..i, i] = −τ · T[0..i, 0..i] · G[0..i, i]
            for r in 0..i {
                let mut acc = T::ZERO;
                for l in r..i {
                    acc += t[r * b + l] * g[l * b + i];
                }
                t[r * b + i] = -tau * acc;
            }
        }
        t
    }
}

/// The thin `Q` (`m × n`, orthonormal columns) of a Householder QR of the row-major `m × n`
/// matrix `a`, `m ≥ n`. The range finder of the randomized SVD uses it.
pub(crate) fn thin_q<T: Float>(mut a: Vec<T>, m: usize, n: usize) -> Vec<T> {
    assert!(m >= n);
    let mut refl = Reflectors::new(m, n);
    let mut w = vec![T::ZERO; n];
    for k in 0..n {
        let mut ss = T::ZERO;
        for i in k + 1..m {
            ss += a[i * n + k] * a[i * n + k];
        }
        let (beta, tau, scale) = reflector(a[k * n + k], ss.sqrt());
        refl.tau[k] = tau;
        a[k * n + k] = beta;
        for i in k + 1..m {
            let vi = a[i * n + k] * scale;
            refl.v[k * m + i] = vi;
            a[i * n + k] = vi;
        }
        if tau == T::ZERO || k + 1 == n {
            continue;
        }
        // Trailing columns: w = vᵀ·A[k.., k+1..], then A −= τ·v·wᵀ.
        let w = &mut w[k + 1..];
        w.copy_from_slice(&a[k * n + k + 1..(k + 1) * n]);
        for i in k + 1..m {
            let vi = a[i * n + k];
            axpy(w, vi, &a[i * n + k + 1..(i + 1) * n]);
        }
        axpy(&mut a[k * n + k + 1..(k + 1) * n], -tau, w);
        for i in k + 1..m {
            let vi = a[i * n + k];
            axpy(&mut a[i * n + k + 1..(i + 1) * n], -tau * vi, w);
        }
    }
    let mut q = vec![T::ZERO; m * n];
    for i in 0..n {
        q[i * n + i] = T::ONE;
    }
    refl.apply(&mut q, n);
    q
}
