//! The SVD of an upper bidiagonal matrix by divide and conquer (Gu & Eisenstat; LAPACK's
//! `dbdsdc`/`dlasd0`–`dlasd4`), so that the singular vectors are built by GEMMs rather than
//! by `O(n²)` rotations per QR sweep.
//!
//! A problem is `n × (n + sqre)` upper bidiagonal (`sqre` ∈ {0, 1}: one extra column). It is
//! split at row `nl = n/2` into `B₁` (`nl × (nl + 1)`), the middle row `(α, β)` and `B₂`
//! (`nr × (nr + sqre)`). With `Bᵢ = Uᵢ·[Dᵢ 0]·Vᵢᵀ` solved recursively,
//! `B = Ū·M·V̄ᵀ` where `M` has its first row `z` (`α` times the last row of `V₁`, `β` times
//! the first row of `V₂`) and the diagonal `(0, D₁, D₂)`. Entries of `z` below the
//! tolerance, and pairs of nearly equal diagonal entries (after one rotation), *deflate*:
//! they are singular triplets already. The remaining `K × K` problem has the singular values
//! `σ` that solve the secular equation `1 + Σ z_j²/(d_j² − σ²) = 0`, each found from its
//! nearer pole (so that every `d_j − σ` is known to full relative accuracy); then `z` is
//! recomputed from the `σ` by the Löwner formula, so that the vectors
//! `v ∝ ẑ_j/(d_j² − σ²)`, `u ∝ (−1, d_j·v_j)` are orthogonal to working precision, and
//! the new `U`, `V` are `Ū`, `V̄` times them: GEMMs, restricted to the blocks where each
//! column of `Ū`, `V̄` is nonzero. Leaves of at most `LEAF` rows use implicit-shift QR.
//!
//! The scalar work (roots, Löwner, vectors of `M`) is in f64; the vectors are stored and
//! multiplied in the element type, and deflation uses its epsilon.
//!
//! Storage: vectors as *rows* (`ut` is `Uᵀ`, row `k` the `k`-th left singular vector), so a
//! vector is contiguous and gathering a set of them is a copy of rows.

use super::dense::{gemm, MatRef};
use super::qr::{bidiagonal_qr, givens, Rotations};
#[cfg(test)]
use super::secular::secular_root;
use super::secular::Secular;
use super::Failure;
use crate::element::Float;
use crate::kernel::run_avx2_fma;

/// Problems with at most this many rows are solved by QR iteration.
const LEAF: usize = 24;

/// The SVD of an `n × (n + sqre)` upper bidiagonal: `s` descending, `ut` (`n × n`) its left
/// vectors as rows, `vt` (`m × m`, `m = n + sqre`) its right vectors as rows, row `k`
/// pairing with `s[k]` and, when `sqre`, row `n` spanning the null space.
pub(crate) struct Part<T> {
    pub s: Vec<f64>,
    pub ut: Vec<T>,
    pub vt: Vec<T>,
}

/// The SVD of the square upper bidiagonal with diagonal `d` and superdiagonal `e`
/// (`e.len() = d.len() − 1`).
pub(crate) fn bidiag_svd<T: Float>(d: &[f64], e: &[f64]) -> Result<Part<T>, Failure> {
    debug_assert_eq!(e.len(), d.len().saturating_sub(1));
    solve(d, e, false)
}

fn solve<T: Float>(d: &[f64], e: &[f64], sqre: bool) -> Result<Part<T>, Failure> {
    let n = d.len();
    if n <= LEAF {
        return leaf(d, e, sqre);
    }
    let nl = n / 2;
    let nr = n - nl - 1;
    let left = solve::<T>(&d[..nl], &e[..nl], true)?;
    let right = solve::<T>(&d[nl + 1..], &e[nl + 1..], sqre)?;
    Ok(merge(left, right, d[nl], e[nl], nl, nr, sqre))
}

/// `n × n` identity, row-major.
fn identity<T: Float>(n: usize) -> Vec<T> {
    let mut x = vec![T::ZERO; n * n];
    for i in 0..n {
        x[i * n + i] = T::ONE;
    }
    x
}

/// `row_a ← c·row_a + s·row_b`, `row_b ← c·row_b − s·row_a` for rows `a ≠ b` of a matrix
/// with rows of `len`.
fn rotate_rows<T: Float>(x: &mut [T], len: usize, a: usize, b: usize, c: f64, s: f64) {
    let (c, s) = (T::from_f64(c), T::from_f64(s));
    let (ra, rb) = if a < b {
        let (lo, hi) = x.split_at_mut(b * len);
        (&mut lo[a * len..(a + 1) * len], &mut hi[..len])
    } else {
        let (lo, hi) = x.split_at_mut(a * len);
        (&mut hi[..len], &mut lo[b * len..(b + 1) * len])
    };
    for (p, q) in ra.iter_mut().zip(rb.iter_mut()) {
        let (u, v) = (*p, *q);
        *p = c * u + s * v;
        *q = c * v - s * u;
    }
}

/// A leaf: implicit-shift QR in f64, after the extra column (if any) is rotated away.
fn leaf<T: Float>(d_in: &[f64], e_in: &[f64], sqre: bool) -> Result<Part<T>, Failure> {
    let n = d_in.len();
    let m = n + sqre as usize;
    let mut d = d_in.to_vec();
    let mut e = e_in[..n.saturating_sub(1)].to_vec();
    // The chase of the extra column's entry up to row 0: right rotations of columns (i, n).
    let mut chase = identity::<f64>(m);
    if sqre {
        let mut f = e_in[n - 1];
        for i in (0..n).rev() {
            if f == 0.0 {
                break;
            }
            let (c, s, r) = givens(d[i], f);
            d[i] = r;
            if i > 0 {
                f = -s * e[i - 1];
                e[i - 1] *= c;
            }
            rotate_rows(&mut chase, m, i, n, c, s);
        }
    }
    let mut ut = Rotations::<f64>::identity(n);
    let mut vt = Rotations::<f64>::identity(n);
    bidiagonal_qr(&mut d, &mut e, &mut ut, &mut vt, n)?;
    let (ut, vt) = (ut.into_rows(), vt.into_rows());
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| d[b].abs().total_cmp(&d[a].abs()));
    let mut out = Part {
        s: order.iter().map(|&k| d[k].abs()).collect(),
        ut: vec![T::ZERO; n * n],
        vt: vec![T::ZERO; m * m],
    };
    for (row, &k) in order.iter().enumerate() {
        let sign = if d[k] < 0.0 { -1.0 } else { 1.0 };
        for (o, x) in out.ut[row * n..(row + 1) * n]
            .iter_mut()
            .zip(&ut[k * n..(k + 1) * n])
        {
            *o = T::from_f64(*x);
        }
        // Right vector k of the whole leaf: Σ_i V_B[i][k]·(column i of the chase).
        let mut acc = vec![0.0f64; m];
        for i in 0..n {
            let w = sign * vt[k * n + i];
            if w != 0.0 {
                for (a, c) in acc.iter_mut().zip(&chase[i * m..(i + 1) * m]) {
                    *a += w * c;
                }
            }
        }
        for (o, x) in out.vt[row * m..(row + 1) * m].iter_mut().zip(&acc) {
            *o = T::from_f64(*x);
        }
    }
    if sqre {
        for (o, x) in out.vt[n * m..].iter_mut().zip(&chase[n * m..]) {
            *o = T::from_f64(*x);
        }
    }
    Ok(out)
}

/// Row blocks a column of `Ū` or `V̄` can be nonzero in.
const TOP: u8 = 1;
const MID: u8 = 2;
const BOT: u8 = 4;

/// Where a singular triplet of the merged problem comes from.
#[derive(Clone, Copy)]
enum Src {
    /// Root `k` of the secular equation.
    Root(usize),
    /// The deflated column `j` of `Ū`, `V̄`.
    Deflated(usize),
}

#[allow(clippy::too_many_arguments)]
fn merge<T: Float>(
    l: Part<T>,
    r: Part<T>,
    alpha: f64,
    beta: f64,
    nl: usize,
    nr: usize,
    sqre: bool,
) -> Part<T> {
    let n = nl + 1 + nr;
    let m = n + sqre as usize;
    let (ml, mr) = (nl + 1, nr + sqre as usize);
    let scale = alpha
        .abs()
        .max(beta.abs())
        .max(l.s.first().copied().unwrap_or(0.0))
        .max(r.s.first().copied().unwrap_or(0.0));
    if scale == 0.0 {
        return Part {
            s: vec![0.0; n],
            ut: identity(n),
            vt: identity(m),
        };
    }
    let (alpha, beta) = (alpha / scale, beta / scale);

    // M's diagonal and first row, in the order (middle, block 1, block 2).
    let mut dv = vec![0.0f64; n];
    let mut z = vec![0.0f64; n];
    z[0] = alpha * l.vt[nl * ml + nl].to_f64();
    for j in 0..nl {
        dv[1 + j] = l.s[j] / scale;
        z[1 + j] = alpha * l.vt[j * ml + nl].to_f64();
    }
    for j in 0..nr {
        dv[nl + 1 + j] = r.s[j] / scale;
        z[nl + 1 + j] = beta * r.vt[j * mr].to_f64();
    }
    let z_extra = if sqre {
        beta * r.vt[nr * mr].to_f64()
    } else {
        0.0
    };

    // Ūᵀ (n × n) and V̄ᵀ (m × m), their rows the columns of Ū, V̄ in M's order.
    let mut ub = vec![T::ZERO; n * n];
    let mut usup = vec![TOP; n];
    ub[nl] = T::ONE;
    usup[0] = MID;
    for j in 0..nl {
        ub[(1 + j) * n..(1 + j) * n + nl].copy_from_slice(&l.ut[j * nl..(j + 1) * nl]);
    }
    for j in 0..nr {
        ub[(nl + 1 + j) * n + nl + 1..(nl + 2 + j) * n]
            .copy_from_slice(&r.ut[j * nr..(j + 1) * nr]);
        usup[nl + 1 + j] = BOT;
    }
    drop((l.ut, r.ut));
    let mut vb = vec![T::ZERO; m * m];
    let mut vsup = vec![TOP; m];
    vb[..ml].copy_from_slice(&l.vt[nl * ml..(nl + 1) * ml]);
    for j in 0..nl {
        vb[(1 + j) * m..(1 + j) * m + ml].copy_from_slice(&l.vt[j * ml..(j + 1) * ml]);
    }
    for j in 0..mr {
        vb[(nl + 1 + j) * m + ml..(nl + 2 + j) * m].copy_from_slice(&r.vt[j * mr..(j + 1) * mr]);
        vsup[nl + 1 + j] = BOT;
    }
    drop((l.vt, r.vt));

    let eps = T::EPSILON.to_f64();
    let dmax = dv.iter().fold(0.0f64, |a, x| a.max(*x));
    let tol = 8.0 * eps * dmax.max(alpha.abs()).max(beta.abs());
    if sqre {
        // Rotate the extra column (its only nonzero in M is z_extra) into column 0.
        let r0 = z[0].hypot(z_extra);
        if r0 <= tol {
            z[0] = tol;
        } else {
            rotate_rows(&mut vb, m, 0, n, z[0] / r0, z_extra / r0);
            vsup[0] |= vsup[n];
            vsup[n] |= vsup[0];
            z[0] = r0;
        }
    } else if z[0].abs() <= tol {
        z[0] = tol;
    }

    // Deflation, walking the diagonal in ascending order.
    let mut order: Vec<usize> = (1..n).collect();
    order.sort_by(|&a, &b| dv[a].total_cmp(&dv[b]));
    let mut kept = vec![0usize];
    let mut deflated = Vec::new();
    let mut prev: Option<usize> = None;
    for &j in &order {
        if z[j].abs() <= tol {
            deflated.push(j);
            continue;
        }
        if let Some(p) = prev {
            if dv[j] - dv[p] <= tol {
                // Rotate z_p into z_j; column p is then a singular pair with σ = d_p.
                let tau = z[p].hypot(z[j]);
                let (c, s) = (z[j] / tau, z[p] / tau);
                rotate_rows(&mut ub, n, p, j, c, -s);
                rotate_rows(&mut vb, m, p, j, c, -s);
                usup[p] |= usup[j];
                usup[j] = usup[p];
                vsup[p] |= vsup[j];
                vsup[j] = vsup[p];
                z[j] = tau;
                z[p] = 0.0;
                deflated.push(p);
                prev = Some(j);
                continue;
            }
            kept.push(p);
        }
        prev = Some(j);
    }
    if let Some(p) = prev {
        kept.push(p);
    }
    let k = kept.len();
    let mut dk: Vec<f64> = kept.iter().map(|&j| dv[j]).collect();
    let zk: Vec<f64> = kept.iter().map(|&j| z[j]).collect();
    if k > 1 && dk[1] <= tol / 2.0 {
        dk[1] = tol / 2.0;
    }

    // The secular equation and the vectors of the deflated M, as rows of K × K matrices.
    let (sig, uk, vk) = run_avx2_fma(Secular { d: &dk, z: &zk });

    // The output order: all singular values descending.
    let mut items: Vec<(f64, Src)> = sig
        .iter()
        .enumerate()
        .map(|(i, s)| (*s, Src::Root(i)))
        .chain(deflated.iter().map(|&j| (dv[j], Src::Deflated(j))))
        .collect();
    items.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut out = Part {
        s: items.iter().map(|(s, _)| s * scale).collect(),
        ut: vec![T::ZERO; n * n],
        vt: vec![T::ZERO; m * m],
    };
    let mut root_row = vec![0usize; k];
    for (row, (_, src)) in items.iter().enumerate() {
        match *src {
            Src::Root(i) => root_row[i] = row,
            Src::Deflated(j) => {
                out.ut[row * n..(row + 1) * n].copy_from_slice(&ub[j * n..(j + 1) * n]);
                out.vt[row * m..(row + 1) * m].copy_from_slice(&vb[j * m..(j + 1) * m]);
            }
        }
    }
    if sqre {
        out.vt[n * m..].copy_from_slice(&vb[n * m..]);
    }
    let ublocks = [(0, nl, TOP), (nl, nl + 1, MID), (nl + 1, n, BOT)];
    multiply_back(&mut out.ut, n, &ub, &usup, &kept, &uk, &root_row, &ublocks);
    let vblocks = [(0, ml, TOP), (ml, m, BOT)];
    multiply_back(&mut out.vt, m, &vb, &vsup, &kept, &vk, &root_row, &vblocks);
    out
}

/// The new vectors `(X̄·x̃_i)` for every root `i`, block of rows by block of rows: for the
/// rows `lo..hi`, only the kept columns of `X̄` that are nonzero there take part, so the
/// product is one GEMM of `K × |cols|` by `|cols| × (hi − lo)`.
#[allow(clippy::too_many_arguments)]
fn multiply_back<T: Float>(
    out: &mut [T],
    len: usize,
    xb: &[T],
    sup: &[u8],
    kept: &[usize],
    xk: &[f64],
    root_row: &[usize],
    blocks: &[(usize, usize, u8)],
) {
    let k = kept.len();
    for &(lo, hi, flag) in blocks {
        let w = hi - lo;
        if w == 0 {
            continue;
        }
        let cols: Vec<usize> = (0..k).filter(|&p| sup[kept[p]] & flag != 0).collect();
        if cols.is_empty() {
            continue;
        }
        let c = cols.len();
        let mut g = Vec::with_capacity(c * w);
        for &p in &cols {
            let j = kept[p];
            g.extend_from_slice(&xb[j * len + lo..j * len + hi]);
        }
        let mut a = Vec::with_capacity(k * c);
        for i in 0..k {
            let row = &xk[i * k..(i + 1) * k];
            a.extend(cols.iter().map(|&p| T::from_f64(row[p])));
        }
        let prod = gemm(MatRef::rows(&a, k, c), MatRef::rows(&g, c, w));
        for (i, &row) in root_row.iter().enumerate() {
            out[row * len + lo..row * len + hi].copy_from_slice(&prod[i * w..(i + 1) * w]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `‖B·V − U·Σ‖_max`, `‖UᵀU − I‖_max`, `‖VᵀV − I‖_max` for the square bidiagonal `(d, e)`,
    /// all in f64, with the singular values checked sorted and non-negative.
    fn residuals<T: Float>(d: &[f64], e: &[f64], p: &Part<T>) -> (f64, f64, f64) {
        let n = d.len();
        let u = |k: usize, i: usize| p.ut[k * n + i].to_f64();
        let v = |k: usize, i: usize| p.vt[k * n + i].to_f64();
        assert!(p.s.windows(2).all(|w| w[0] >= w[1]) && p.s.iter().all(|s| *s >= 0.0));
        let mut res = 0.0f64;
        for k in 0..n {
            for i in 0..n {
                let bv = d[i] * v(k, i) + if i + 1 < n { e[i] * v(k, i + 1) } else { 0.0 };
                res = res.max((bv - p.s[k] * u(k, i)).abs());
            }
        }
        let orth = |f: &dyn Fn(usize, usize) -> f64| {
            let mut worst = 0.0f64;
            for a in 0..n {
                for b in 0..n {
                    let g: f64 = (0..n).map(|i| f(a, i) * f(b, i)).sum();
                    worst = worst.max((g - if a == b { 1.0 } else { 0.0 }).abs());
                }
            }
            worst
        };
        (res, orth(&u), orth(&v))
    }

    /// A deterministic pseudo-random sequence in [−1, 1).
    fn lcg(seed: u64, len: usize) -> Vec<f64> {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0
            })
            .collect()
    }

    /// Bidiagonals that exercise deflation: zero and tiny entries, repeated values,
    /// a graded diagonal, a block-diagonal split.
    fn cases(n: usize) -> Vec<(Vec<f64>, Vec<f64>)> {
        let r = lcg(n as u64, 2 * n);
        let (rd, re) = (r[..n].to_vec(), r[n..2 * n - 1].to_vec());
        let mut zeros_d = rd.clone();
        for i in (0..n).step_by(7) {
            zeros_d[i] = 0.0;
        }
        let mut split_e = re.clone();
        for i in (0..n - 1).step_by(5) {
            split_e[i] = if i % 2 == 0 { 0.0 } else { 1e-300 };
        }
        vec![
            (rd.clone(), re.clone()),
            (zeros_d, re.clone()),
            (rd.clone(), split_e),
            // Repeated singular values: equal 2×2 blocks, separated by zeros.
            (
                vec![1.0; n],
                (0..n - 1)
                    .map(|i| if i % 2 == 0 { 0.5 } else { 0.0 })
                    .collect(),
            ),
            // Graded over 12 orders of magnitude.
            (
                (0..n)
                    .map(|i| 10f64.powf(-12.0 * i as f64 / n as f64))
                    .collect(),
                re.iter().map(|x| x * 1e-3).collect(),
            ),
            (vec![0.0; n], vec![0.0; n - 1]),
        ]
    }

    #[test]
    fn divide_and_conquer_matches_qr_and_is_orthogonal() {
        for n in [25, 60, 97] {
            for (d, e) in cases(n) {
                let p = bidiag_svd::<f64>(&d, &e).unwrap();
                let scale = d
                    .iter()
                    .chain(&e)
                    .fold(0.0f64, |a, x| a.max(x.abs()))
                    .max(1e-300);
                let (res, ou, ov) = residuals(&d, &e, &p);
                assert!(res <= 1e-13 * scale, "n={n}: residual {res:e}");
                assert!(
                    ou <= 1e-13 && ov <= 1e-13,
                    "n={n}: orthogonality {ou:e} {ov:e}"
                );
                let q = leaf::<f64>(&d, &e, false).unwrap();
                for (a, b) in p.s.iter().zip(&q.s) {
                    assert!((a - b).abs() <= 1e-13 * scale, "n={n}: σ {a} vs {b}");
                }
                let p32 = bidiag_svd::<f32>(&d, &e).unwrap();
                let (res, ou, ov) = residuals(&d, &e, &p32);
                assert!(res <= 1e-5 * scale, "n={n} f32: residual {res:e}");
                assert!(ou <= 1e-5 && ov <= 1e-5, "n={n} f32: {ou:e} {ov:e}");
            }
        }
    }

    #[test]
    fn secular_roots_interlace_and_solve_the_equation() {
        // Poles 1e-9 apart, a tiny weight: the root near 0.1 is 2.5e-16 above it, so it is
        // only representable as (pole, offset), which is how it is checked.
        let d = [0.0, 0.1, 0.1 + 1e-9, 0.5, 2.0];
        let z = [0.3, 1e-4, 0.2, -0.7, 1.1];
        let znorm = z.iter().map(|x| x * x).sum::<f64>().sqrt();
        let (mut dd, mut ds) = ([0.0; 5], [0.0; 5]);
        for i in 0..d.len() {
            let (o, mu) = secular_root(&d, &z, i, znorm, &mut dd, &mut ds);
            assert!(
                o == i && mu > 0.0 || o == i + 1 && mu < 0.0,
                "root {i}: ({o}, {mu:e})"
            );
            let terms: Vec<f64> = (0..d.len())
                .map(|j| z[j] * z[j] / (((d[j] - d[o]) - mu) * ((d[j] + d[o]) + mu)))
                .collect();
            let f = 1.0 + terms.iter().sum::<f64>();
            let scale: f64 = 1.0 + terms.iter().map(|t| t.abs()).sum::<f64>();
            assert!(
                f.abs() <= 1e-13 * scale,
                "root {i}: f = {f:e}, scale {scale:e}"
            );
        }
    }
}
