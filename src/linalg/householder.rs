//! Householder reflectors: making them, and applying a block of them with three GEMMs.
//!
//! A reflector is `H = I − τ·v·vᵀ` with `v[j] = 1` at its first position. A set of them is
//! stored as the rows of a `count × dim` row-major matrix (row `j` is zero before `j`, one at
//! `j`), which is `Vᵀ` for the matrix `V` whose columns are the vectors; so both `V` and `Vᵀ`
//! are strided views of one buffer, and applying `H₀·H₁⋯` to a matrix is, per block of
//! `NB` reflectors, `X −= V·(T·(Vᵀ·X))` (the compact WY form, `T` upper triangular).
//!
//! Workspace: `count × dim` for the vectors, plus `NB × cols` and `dim × cols` per block.

use super::dense::{gemm, gemm_sub, MatRef};
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
#[inline(always)]
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

/// `Σ x²`, vectorised as [`dot`].
#[inline(always)]
pub(crate) fn sum_sq<T: Float>(x: &[T]) -> T {
    dot(x, x)
}

/// `x · y`, with 64 independent accumulators: the inner loop over them is then an
/// elementwise update, which the loop vectoriser turns into full-width vector code (with
/// 8 or 16 accumulators it vectorised across chunks, with shuffles, at half the speed or
/// less); a tail of 8 and then single elements follow.
#[inline(always)]
pub(crate) fn dot<T: Float>(x: &[T], y: &[T]) -> T {
    debug_assert_eq!(x.len(), y.len());
    const L: usize = 64;
    let mut acc = [T::ZERO; L];
    let (xc, yc) = (x.chunks_exact(L), y.chunks_exact(L));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (a, b) in xc.zip(yc) {
        for i in 0..L {
            acc[i] += a[i] * b[i];
        }
    }
    let mut w = L / 2;
    while w > 0 {
        for l in 0..w {
            acc[l] += acc[l + w];
        }
        w /= 2;
    }
    let mut acc8 = [T::ZERO; 8];
    let (xc, yc) = (xr.chunks_exact(8), yr.chunks_exact(8));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (a, b) in xc.zip(yc) {
        for i in 0..8 {
            acc8[i] += a[i] * b[i];
        }
    }
    let mut tail = T::ZERO;
    for (a, b) in xr.iter().zip(yr) {
        tail += *a * *b;
    }
    let s = [
        acc8[0] + acc8[4],
        acc8[1] + acc8[5],
        acc8[2] + acc8[6],
        acc8[3] + acc8[7],
    ];
    acc[0] + (((s[0] + s[2]) + (s[1] + s[3])) + tail)
}

/// `y += a·x`.
#[inline(always)]
pub(crate) fn axpy<T: Float>(y: &mut [T], a: T, x: &[T]) {
    debug_assert_eq!(x.len(), y.len());
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * *x;
    }
}

/// `y += Σ c_t·x_t` for terms pushed one by one and applied four at a time, so `y` is read
/// and written once per four vectors instead of once per vector.
pub(crate) struct Axpys<'y, 'x, T> {
    y: &'y mut [T],
    c: [T; 4],
    x: [&'x [T]; 4],
    k: usize,
}

impl<'y, 'x, T: Float> Axpys<'y, 'x, T> {
    #[inline(always)]
    pub(crate) fn new(y: &'y mut [T]) -> Self {
        Axpys {
            y,
            c: [T::ZERO; 4],
            x: [&[]; 4],
            k: 0,
        }
    }

    /// Adds the term `c·x` (`x` as long as `y`).
    #[inline(always)]
    pub(crate) fn push(&mut self, c: T, x: &'x [T]) {
        debug_assert_eq!(x.len(), self.y.len());
        self.c[self.k] = c;
        self.x[self.k] = x;
        self.k += 1;
        if self.k == 4 {
            let [c0, c1, c2, c3] = self.c;
            let [x0, x1, x2, x3] = self.x;
            let len = self.y.len();
            let (x0, x1, x2, x3) = (&x0[..len], &x1[..len], &x2[..len], &x3[..len]);
            for i in 0..len {
                self.y[i] += (c0 * x0[i] + c1 * x1[i]) + (c2 * x2[i] + c3 * x3[i]);
            }
            self.k = 0;
        }
    }

    /// Applies the pending terms.
    #[inline(always)]
    pub(crate) fn finish(self) {
        for t in 0..self.k {
            axpy(self.y, self.c[t], self.x[t]);
        }
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
            let vt = MatRef::new(&self.v, j0 * dim + j0, (b, len), (dim, 1));
            let t = self.t_factor(vt, j0, b);
            let w = gemm(vt, MatRef::new(x, j0 * cols, (len, cols), (cols, 1)));
            // T·W as a GEMM (T is upper triangular; its zeros cost less than a loop).
            let tw = gemm(MatRef::rows(&t, b, b), MatRef::rows(&w, b, cols));
            gemm_sub(
                vt.t(),
                MatRef::rows(&tw, b, cols),
                &mut x[j0 * cols..],
                cols,
            );
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
            // T[0..i, i] = −τ · T[0..i, 0..i] · G[0..i, i], G symmetric so its column i
            // is read as (contiguous) row i.
            for r in 0..i {
                t[r * b + i] = -tau * dot(&t[r * b + r..r * b + i], &g[i * b + r..i * b + i]);
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
