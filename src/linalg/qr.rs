//! Implicit-shift QR on an upper bidiagonal matrix (Golub–Kahan, with the zero-diagonal
//! chase of Golub & Van Loan §8.6), for the small leaves of divide and conquer (`dc.rs`),
//! and the banded rotation accumulator it writes its vectors through.

use super::householder::hypot;
use super::Failure;
use crate::element::Float;

/// The rotation accumulator of the leaves' QR iteration: an `n × n` matrix that starts as
/// the identity and whose rows the iteration rotates.
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
        for (b, band) in self.bands.chunks_exact_mut((n * W).max(1)).enumerate() {
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
        for (b, band) in self.bands.chunks_exact((n * W).max(1)).enumerate() {
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
pub(crate) fn givens<T: Float>(y: T, z: T) -> (T, T, T) {
    if z == T::ZERO {
        return (T::ONE, T::ZERO, y);
    }
    let (y64, z64) = (y.to_f64(), z.to_f64());
    // The plain formula unless a square could overflow or lose precision to underflow.
    let big = y64.abs().max(z64.abs());
    let r = if big > 1e-150 && big < 1e150 {
        (y64 * y64 + z64 * z64).sqrt()
    } else {
        y64.hypot(z64)
    };
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
