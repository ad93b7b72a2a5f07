//! The SVD of a tall matrix in three phases:
//!
//! 1. Householder bidiagonalisation `A = Q·B·Pᵀ` (`B` upper bidiagonal), two fused passes
//!    over the trailing matrix per column, its inner loops over contiguous rows;
//! 2. implicit-shift QR on `B` (Golub–Kahan, with the zero-diagonal chase of Golub & Van
//!    Loan §8.6), the rotations accumulated into `U_Bᵀ` and `V_Bᵀ`, whose *rows* they
//!    combine, buffered and applied a few sweeps at a time to cache-sized column bands;
//! 3. `U = Q·U_B` and `V = P·V_B` with the blocked (WY) reflector application, i.e. GEMMs.
//!
//! Where the time goes (768 × 768): phases 1 and 2, which are bound by memory traffic and
//! by the rotations rather than by GEMM. A blocked bidiagonalisation (LAPACK's labrd, half
//! of its work as GEMM) and a divide-and-conquer bidiagonal solver would be the next steps
//! towards LAPACK's speed; the interfaces here would not change.
//!
//! The input is first scaled by a power of two so that its largest entry is in [½, 1]:
//! exact, and no square in the process can overflow or underflow for any finite input.
//!
//! Workspace: the `m × n` input (overwritten by the reflectors), two `n × n` rotation
//! accumulators (f64, whatever the element type), and the outputs.

use super::dense::transpose;
use super::householder::{axpy, dot, hypot, reflector, sum_sq, Reflectors};
use crate::element::Float;

/// Why the numerical part of an SVD failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The input holds a NaN or an infinity.
    NonFinite,
    /// The bidiagonal QR did not converge within its iteration budget.
    NoConvergence(usize),
}

/// `A = U·diag(s)·Vᵀ` for a tall `A` (`m ≥ n`): `u` is `m × ucols` (`ucols` = `n`, or `m`
/// for the full variant), `v` is `n × n`, both row-major; `s` is sorted descending.
pub(crate) struct TallSvd<T> {
    pub u: Vec<T>,
    pub s: Vec<T>,
    pub v: Vec<T>,
}

/// Checks for NaN and infinity.
pub(crate) fn check_finite<T: Float>(a: &[T]) -> Result<(), Failure> {
    if a.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(Failure::NonFinite)
    }
}

/// The power of two that brings the largest magnitude of `a` into [½, 1], or 1 for zero.
fn unit_scale<T: Float>(a: &[T]) -> T {
    let amax = a.iter().fold(T::ZERO, |m, x| m.max(x.abs()));
    if amax == T::ZERO {
        return T::ONE;
    }
    let e = amax.to_f64().log2().ceil();
    T::from_f64((-e).exp2())
}

/// The SVD of the row-major `m × n` matrix `a`, `m ≥ n`; see the module docs.
pub(crate) fn svd_tall<T: Float>(
    mut a: Vec<T>,
    m: usize,
    n: usize,
    full: bool,
) -> Result<TallSvd<T>, Failure> {
    assert!(m >= n && a.len() == m * n);
    check_finite(&a)?;
    let ucols = if full { m } else { n };
    let scale = unit_scale(&a);
    if scale != T::ONE {
        a.iter_mut().for_each(|x| *x *= scale);
    }
    let (d, e, left, right) = bidiagonalize(&mut a, m, n);
    drop(a);
    // The bidiagonal phase runs in f64 whatever T is: its thousands of rotations per
    // vector would otherwise cost f32 factors their orthogonality (measured: 1e-5 at
    // n = 130 with f32 accumulators, 1e-6 in f64); the reflector phases stay in T.
    let mut d: Vec<f64> = d.iter().map(|x| x.to_f64()).collect();
    let mut e: Vec<f64> = e.iter().map(|x| x.to_f64()).collect();
    let mut ut = Rotations::<f64>::identity(n);
    let mut vt = Rotations::<f64>::identity(n);
    bidiagonal_qr(&mut d, &mut e, &mut ut, &mut vt, n)?;
    let (mut ut, mut vt) = (ut.into_rows(), vt.into_rows());
    sort_descending(&mut d, &mut ut, &mut vt, n);

    // U = Q·[U_B 0; 0 I]: the columns of U_B are the rows of `ut`.
    let mut u = vec![T::ZERO; m * ucols];
    for (c, row) in ut.chunks_exact(n.max(1)).take(n).enumerate() {
        for (r, x) in row.iter().enumerate() {
            u[r * ucols + c] = T::from_f64(*x);
        }
    }
    for r in n..ucols {
        u[r * ucols + r] = T::ONE;
    }
    left.apply(&mut u, ucols);
    // V = P·V_B, P acting on coordinates 1..n.
    let mut v: Vec<T> = transpose(&vt, n, n).into_iter().map(T::from_f64).collect();
    if n > 1 {
        right.apply(&mut v[n..], n);
    }
    let inv = 1.0 / scale.to_f64();
    let s = d.iter().map(|x| T::from_f64(x * inv)).collect();
    Ok(TallSvd { u, s, v })
}

/// Overwrites `a` (`m × n`, `m ≥ n`) with `Qᵀ·A·P = B` and returns `B`'s diagonal and
/// superdiagonal with the reflectors of `Q` (left, `m`-dimensional) and `P` (right, acting
/// on coordinates `1..n`).
#[allow(clippy::type_complexity)]
pub(crate) fn bidiagonalize<T: Float>(
    a: &mut [T],
    m: usize,
    n: usize,
) -> (Vec<T>, Vec<T>, Reflectors<T>, Reflectors<T>) {
    let mut d = vec![T::ZERO; n];
    let mut e = vec![T::ZERO; n.saturating_sub(1)];
    let mut left = Reflectors::new(m, n);
    let rdim = n.saturating_sub(1);
    let mut right = Reflectors::new(rdim, rdim);
    let mut w = vec![T::ZERO; n];
    let mut u = vec![T::ZERO; n];
    for k in 0..n {
        // Left reflector: column k, rows k..m.
        let mut ss = T::ZERO;
        for i in k + 1..m {
            ss += a[i * n + k] * a[i * n + k];
        }
        let (beta, tau, scale) = reflector(a[k * n + k], ss.sqrt());
        left.tau[k] = tau;
        d[k] = beta;
        a[k * n + k] = beta;
        for i in k + 1..m {
            let vi = a[i * n + k] * scale;
            a[i * n + k] = vi;
            left.v[k * m + i] = vi;
        }
        if k + 1 == n {
            break;
        }
        // Pass 1: w = τ·vᵀ·A[k.., k+1..].
        let w = &mut w[k + 1..];
        w.copy_from_slice(&a[k * n + k + 1..(k + 1) * n]);
        if tau != T::ZERO {
            for i in k + 1..m {
                let vi = a[i * n + k];
                if vi != T::ZERO {
                    axpy(w, vi, &a[i * n + k + 1..(i + 1) * n]);
                }
            }
            w.iter_mut().for_each(|x| *x *= tau);
        } else {
            w.iter_mut().for_each(|x| *x = T::ZERO);
        }
        // Row k is finished by the left reflector; its tail makes the right reflector.
        let rowk = &mut a[k * n + k + 1..(k + 1) * n];
        axpy(rowk, -T::ONE, w);
        let (beta, tau_r, scale) = reflector(rowk[0], sum_sq(&rowk[1..]).sqrt());
        e[k] = beta;
        rowk[0] = beta;
        let u = &mut u[k + 1..];
        u[0] = T::ONE;
        for (j, x) in rowk[1..].iter_mut().enumerate() {
            *x *= scale;
            u[j + 1] = *x;
        }
        if k < rdim {
            right.tau[k] = tau_r;
            right.v[k * rdim + k + 1..(k + 1) * rdim].copy_from_slice(&u[1..]);
        }
        // Pass 2, fused per row: the left update, then the right reflector.
        for i in k + 1..m {
            let vi = a[i * n + k];
            let row = &mut a[i * n + k + 1..(i + 1) * n];
            if vi != T::ZERO {
                axpy(row, -vi, w);
            }
            if tau_r != T::ZERO {
                let z = tau_r * dot(row, u);
                axpy(row, -z, u);
            }
        }
    }
    (d, e, left, right)
}

/// The rotation accumulator: an `n × n` matrix that starts as the identity and whose rows
/// the QR iteration rotates.
///
/// Rotations are buffered and applied in batches of a few sweeps, one band of `W` columns
/// at a time: columns are independent under row rotations, so each band (stored
/// contiguously, `n` rows of `W`) stays in cache while every buffered rotation passes over
/// it, instead of the whole matrix streaming through memory once per sweep. Each row also
/// keeps a bound of its nonzero columns (rows fill in from the left as rotations mix
/// them), so bands a rotation cannot change are skipped.
pub(crate) struct Rotations<T> {
    /// Band-major: band `b` is `n × W`, row-major, columns `b·W..(b + 1)·W`.
    bands: Vec<T>,
    n: usize,
    end: Vec<usize>,
    pending: Vec<(usize, usize, T, T, usize)>,
}

const W: usize = 32;

impl<T: Float> Rotations<T> {
    pub(crate) fn identity(n: usize) -> Self {
        let nb = n.div_ceil(W);
        let mut bands = vec![T::ZERO; nb * n * W];
        for i in 0..n {
            let (b, l) = (i / W, i % W);
            bands[b * n * W + i * W + l] = T::ONE;
        }
        Rotations {
            bands,
            n,
            end: (1..=n).collect(),
            pending: Vec::with_capacity(4 * n),
        }
    }

    /// `row_i ← c·row_i + s·row_j`, `row_j ← c·row_j − s·row_i`.
    #[inline]
    fn rot(&mut self, i: usize, j: usize, c: T, s: T) {
        let len = self.end[i].max(self.end[j]);
        self.end[i] = len;
        self.end[j] = len;
        self.pending.push((i, j, c, s, len));
        if self.pending.len() >= 4 * self.n {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let n = self.n;
        for (b, band) in self.bands.chunks_exact_mut(n * W).enumerate() {
            let first = b * W;
            for &(i, j, c, s, len) in &self.pending {
                if first >= len {
                    continue;
                }
                let (ri, rj) = if i < j {
                    let (lo, hi) = band.split_at_mut(j * W);
                    (&mut lo[i * W..(i + 1) * W], &mut hi[..W])
                } else {
                    let (lo, hi) = band.split_at_mut(i * W);
                    (&mut hi[..W], &mut lo[j * W..(j + 1) * W])
                };
                for l in 0..W {
                    let (a, b) = (ri[l], rj[l]);
                    ri[l] = c * a + s * b;
                    rj[l] = c * b - s * a;
                }
            }
        }
        self.pending.clear();
    }

    /// The matrix, row-major `n × n`.
    pub(crate) fn into_rows(mut self) -> Vec<T> {
        self.flush();
        let n = self.n;
        let mut out = vec![T::ZERO; n * n];
        for (b, band) in self.bands.chunks_exact(n * W).enumerate() {
            let (c0, w) = (b * W, W.min(n - b * W));
            for (i, row) in band.chunks_exact(W).enumerate() {
                out[i * n + c0..i * n + c0 + w].copy_from_slice(&row[..w]);
            }
        }
        out
    }
}

/// `(c, s, r)` with `c·y + s·z = r`, `−s·y + c·z = 0`.
#[inline]
fn givens<T: Float>(y: T, z: T) -> (T, T, T) {
    if z == T::ZERO {
        return (T::ONE, T::ZERO, y);
    }
    let (y64, z64) = (y.to_f64(), z.to_f64());
    let r = y64.hypot(z64);
    (T::from_f64(y64 / r), T::from_f64(z64 / r), T::from_f64(r))
}

/// Diagonalises the upper bidiagonal `(d, e)` by implicit-shift QR, accumulating the left
/// rotations into the rows of `ut` and the right ones into the rows of `vt` (`n × n`).
pub(crate) fn bidiagonal_qr<T: Float>(
    d: &mut [T],
    e: &mut [T],
    ut: &mut Rotations<T>,
    vt: &mut Rotations<T>,
    n: usize,
) -> Result<(), Failure> {
    if n <= 1 {
        return Ok(());
    }
    let eps = T::EPSILON;
    let bnorm = d
        .iter()
        .chain(e.iter())
        .fold(T::ZERO, |m, x| m.max(x.abs()));
    let tiny = eps * bnorm;
    let max_sweeps = 60 * n;
    let mut sweeps = 0;
    let mut hi = n - 1;
    while hi > 0 {
        let mut lo = hi;
        // Set negligible superdiagonals to zero and find the unreduced block lo..=hi.
        while lo > 0 {
            let i = lo - 1;
            if e[i].abs() <= eps * (d[i].abs() + d[i + 1].abs()) {
                e[i] = T::ZERO;
                break;
            }
            lo -= 1;
        }
        if lo == hi {
            hi -= 1;
            continue;
        }
        sweeps += 1;
        if sweeps > max_sweeps {
            return Err(Failure::NoConvergence(max_sweeps));
        }
        if let Some(i) = (lo..=hi).find(|&i| d[i].abs() <= tiny) {
            d[i] = T::ZERO;
            if i < hi {
                // Zero e[i] with left rotations of rows (j, i), j = i+1..=hi.
                let mut f = e[i];
                e[i] = T::ZERO;
                for j in i + 1..=hi {
                    if f == T::ZERO {
                        break;
                    }
                    let (c, s, r) = givens(d[j], f);
                    d[j] = r;
                    if j < hi {
                        f = -s * e[j];
                        e[j] *= c;
                    }
                    ut.rot(j, i, c, s);
                }
            } else {
                // Zero e[hi−1] with right rotations of columns (j, hi), j = hi−1 down to lo.
                let mut f = e[hi - 1];
                e[hi - 1] = T::ZERO;
                for j in (lo..hi).rev() {
                    if f == T::ZERO {
                        break;
                    }
                    let (c, s, r) = givens(d[j], f);
                    d[j] = r;
                    if j > lo {
                        f = -s * e[j - 1];
                        e[j - 1] *= c;
                    }
                    vt.rot(j, hi, c, s);
                }
            }
            continue;
        }
        golub_kahan_step(d, e, ut, vt, lo, hi);
    }
    Ok(())
}

/// One implicit QR step with a Wilkinson shift on the block `lo..=hi` of `B`.
fn golub_kahan_step<T: Float>(
    d: &mut [T],
    e: &mut [T],
    ut: &mut Rotations<T>,
    vt: &mut Rotations<T>,
    lo: usize,
    hi: usize,
) {
    let (dm, dn, em) = (d[hi - 1], d[hi], e[hi - 1]);
    let emm = if hi - 1 > lo { e[hi - 2] } else { T::ZERO };
    // The eigenvalue of the trailing 2×2 of BᵀB nearer its last diagonal entry.
    let (ta, tb, tc) = (dm * dm + emm * emm, dm * em, dn * dn + em * em);
    let half = T::from_f64(0.5);
    let delta = (ta - tc) * half;
    let mu = if tb == T::ZERO {
        tc
    } else {
        let h = hypot(delta, tb);
        let den = if delta >= T::ZERO {
            delta + h
        } else {
            delta - h
        };
        tc - tb * tb / den
    };
    let mut y = d[lo] * d[lo] - mu;
    let mut z = d[lo] * e[lo];
    for k in lo..hi {
        let (c, s, r) = givens(y, z);
        if k > lo {
            e[k - 1] = r;
        }
        let f = c * d[k] + s * e[k];
        e[k] = c * e[k] - s * d[k];
        let g = s * d[k + 1];
        d[k + 1] *= c;
        d[k] = f;
        vt.rot(k, k + 1, c, s);
        let (c, s, r) = givens(d[k], g);
        d[k] = r;
        let f = c * e[k] + s * d[k + 1];
        d[k + 1] = c * d[k + 1] - s * e[k];
        e[k] = f;
        if k + 1 < hi {
            z = s * e[k + 1];
            e[k + 1] *= c;
            y = e[k];
        }
        ut.rot(k, k + 1, c, s);
    }
}

/// Makes the singular values non-negative (flipping the matching right vector) and sorts
/// them descending, permuting the rows of `ut` and `vt` alike.
fn sort_descending<T: Float>(d: &mut [T], ut: &mut [T], vt: &mut [T], n: usize) {
    for (i, x) in d.iter_mut().enumerate() {
        if *x < T::ZERO {
            *x = -*x;
            vt[i * n..(i + 1) * n].iter_mut().for_each(|v| *v = -*v);
        }
    }
    for i in 0..n {
        let mut best = i;
        for j in i + 1..n {
            if d[j] > d[best] {
                best = j;
            }
        }
        if best != i {
            d.swap(i, best);
            for x in [&mut *ut, &mut *vt] {
                let (lo, hi) = x.split_at_mut(best * n);
                lo[i * n..(i + 1) * n].swap_with_slice(&mut hi[..n]);
            }
        }
    }
}
