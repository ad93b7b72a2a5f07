//! The SVD of a tall matrix in three phases:
//!
//! 1. Householder bidiagonalisation `A = Q·B·Pᵀ` (`B` upper bidiagonal), blocked as
//!    LAPACK's `gebrd`/`labrd`: panels of `NB` columns whose matrix–vector products read
//!    the trailing matrix once per column (the `A·v` of one step fused with the `Aᵀ·u` of
//!    the next), then one GEMM per panel for the trailing update;
//! 2. the SVD of `B` by divide and conquer (`dc.rs`), its vectors built by GEMMs, with
//!    implicit-shift QR (Golub–Kahan, with the zero-diagonal chase of Golub & Van Loan
//!    §8.6) for the small leaves;
//! 3. `U = Q·U_B` and `V = P·V_B` with the blocked (WY) reflector application, i.e. GEMMs.
//!
//! Where the time goes (768 × 768 f32, one thread): about a third in the panels'
//! matrix–vector passes (compiled for AVX2 when the CPU has it, see `crate::kernel`), a third
//! or more in GEMMs (trailing updates, the merges of phase 2, phase 3), and under a tenth
//! in the secular equations of phase 2.
//!
//! The input is first scaled by a power of two so that its largest entry is in [½, 1]:
//! exact, and no square in the process can overflow or underflow for any finite input.
//!
//! Workspace: the `m × n` input (overwritten), the reflectors (`m × n` and `n × n`), the
//! panel's `X` and `Y`, phase 2's (see `dc.rs`) and the outputs.

use super::dc::bidiag_svd;
use super::dense::{gemm_sub, transpose, MatRef};
use super::householder::{axpy, dot, reflector, sum_sq, Axpys, Reflectors};
use super::Failure;
use crate::element::Float;
use crate::kernel::{run_avx2_fma, Avx2FmaKernel};

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
    // The bidiagonal phase runs in f64 for its scalar work (see `dc.rs`); its vectors
    // come back in T.
    let d: Vec<f64> = d.iter().map(|x| x.to_f64()).collect();
    let e: Vec<f64> = e.iter().map(|x| x.to_f64()).collect();
    let part = bidiag_svd::<T>(&d, &e)?;

    // U = Q·[U_B 0; 0 I]: the columns of U_B are the rows of `part.ut`.
    let ub = transpose(&part.ut, n, n);
    let mut u = vec![T::ZERO; m * ucols];
    for (dst, src) in u
        .chunks_exact_mut(ucols.max(1))
        .zip(ub.chunks_exact(n.max(1)))
    {
        dst[..n].copy_from_slice(src);
    }
    for r in n..ucols {
        u[r * ucols + r] = T::ONE;
    }
    left.apply(&mut u, ucols);
    // V = P·V_B, P acting on coordinates 1..n.
    let mut v: Vec<T> = transpose(&part.vt, n, n);
    if n > 1 {
        right.apply(&mut v[n..], n);
    }
    let inv = 1.0 / scale.to_f64();
    let s = part.s.iter().map(|x| T::from_f64(x * inv)).collect();
    Ok(TallSvd { u, s, v })
}

/// Columns per panel of the blocked bidiagonalisation.
const NB: usize = 32;

/// Reduces `a` (`m × n`, `m ≥ n`) to upper bidiagonal form `Qᵀ·A·P = B` and returns `B`'s
/// diagonal and superdiagonal with the reflectors of `Q` (left, `m`-dimensional) and `P`
/// (right, acting on coordinates `1..n`); `a` is overwritten.
///
/// Blocked as LAPACK's `gebrd`/`labrd`: within a panel of `NB` columns the trailing
/// matrix is not updated; each step reads it in two matrix–vector passes (`Aᵀ·u` and
/// `A·v`, over contiguous rows) and corrects them with the panel's `X`, `Y`, so that after
/// the panel the update `A −= U·Yᵀ + X·Vᵀ` is one GEMM of inner size `2·NB`. `U`, `X` and
/// `Y` are kept transposed (a vector per contiguous row), so every correction is an axpy or
/// a dot over contiguous memory.
#[allow(clippy::type_complexity)]
pub(crate) fn bidiagonalize<T: Float>(
    a: &mut [T],
    m: usize,
    n: usize,
) -> (Vec<T>, Vec<T>, Reflectors<T>, Reflectors<T>) {
    let mut d = vec![T::ZERO; n];
    let mut e = vec![T::ZERO; n.saturating_sub(1)];
    let mut left = Reflectors::new(m, n);
    let mut taup = vec![T::ZERO; n.saturating_sub(1)];
    for p in (0..n).step_by(NB) {
        let nb = NB.min(n - p);
        let (xt, yt) = run_avx2_fma(Panel {
            a: &mut *a,
            m,
            n,
            p,
            nb,
            d: &mut d,
            e: &mut e,
            left: &mut left,
            taup: &mut taup,
        });
        if p + nb < n {
            trailing_update(a, m, n, p, nb, &left.v, &xt, &yt);
        }
    }
    let rdim = n.saturating_sub(1);
    let mut right = Reflectors::new(rdim, rdim);
    right.tau.copy_from_slice(&taup[..rdim]);
    for k in 0..rdim {
        right.v[k * rdim + k + 1..(k + 1) * rdim].copy_from_slice(&a[k * n + k + 2..(k + 1) * n]);
    }
    (d, e, left, right)
}

/// The arguments of `panel`, so that it runs with the AVX2 build when the CPU has it.
struct Panel<'a, T> {
    a: &'a mut [T],
    m: usize,
    n: usize,
    p: usize,
    nb: usize,
    d: &'a mut [T],
    e: &'a mut [T],
    left: &'a mut Reflectors<T>,
    taup: &'a mut [T],
}

impl<T: Float> Avx2FmaKernel for Panel<'_, T> {
    type Output = (Vec<T>, Vec<T>);
    #[inline(always)]
    fn run(self) -> Self::Output {
        panel(
            self.a, self.m, self.n, self.p, self.nb, self.d, self.e, self.left, self.taup,
        )
    }
}

/// One panel (`labrd`): columns and rows `p..p + nb`. The left reflectors go to the rows of
/// `left.v` (`Uᵀ`); the right ones stay in the rows of `a`, their unit entry stored. Returns
/// `Xᵀ` (`nb × (m − p)`, column `r` for matrix row `p + r`) and `Yᵀ` (`nb × (n − p)`,
/// column `c` for matrix column `p + c`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn panel<T: Float>(
    a: &mut [T],
    m: usize,
    n: usize,
    p: usize,
    nb: usize,
    d: &mut [T],
    e: &mut [T],
    left: &mut Reflectors<T>,
    taup: &mut [T],
) -> (Vec<T>, Vec<T>) {
    let (mp, np) = (m - p, n - p);
    let mut xt = vec![T::ZERO; nb * mp];
    let mut yt = vec![T::ZERO; nb * np];
    let mut corr = vec![T::ZERO; m];
    let mut ccol = vec![T::ZERO; m];
    let mut acc = vec![T::ZERO; n];
    // Aᵀ·w for the next column w, accumulated by the fused pass of the previous step.
    let mut next = vec![T::ZERO; n];
    let mut fused = false;
    // The next column, updated by the fused pass (rows i+1..m at the same indices), and
    // the square norm of its part below the diagonal.
    let mut wcol = vec![T::ZERO; m];
    let mut wss = T::ZERO;
    let mut t1 = vec![T::ZERO; nb];
    let mut t2 = vec![T::ZERO; nb];
    let ut = &mut left.v;
    for j in 0..nb {
        let i = p + j;
        // 1. Column i: A[i.., i] −= U[i.., ..j]·Y[i, ..j]ᵀ + X[i.., ..j]·V[..j, i] (already
        //    done by the fused pass when there was one).
        if j > 0 && !fused {
            let corr = &mut corr[i..m];
            corr.iter_mut().for_each(|v| *v = T::ZERO);
            let mut sum = Axpys::new(&mut *corr);
            for t in 0..j {
                sum.push(yt[t * np + j], &ut[(p + t) * m + i..(p + t + 1) * m]);
                sum.push(a[(p + t) * n + i], &xt[t * mp + j..(t + 1) * mp]);
            }
            sum.finish();
            for (r, c) in (i..m).zip(corr.iter()) {
                a[r * n + i] -= *c;
            }
        }
        // 2. The left reflector of column i, into row i of Uᵀ. After a fused pass the
        //    column is in `wcol` (contiguous) with the square norm of its tail in `wss`.
        let (alpha, ss) = if fused {
            (wcol[i], wss)
        } else {
            let mut ss = T::ZERO;
            for r in i + 1..m {
                ss += a[r * n + i] * a[r * n + i];
            }
            (a[i * n + i], ss)
        };
        let (beta, tau, scale) = reflector(alpha, ss.sqrt());
        d[i] = beta;
        left.tau[i] = tau;
        if fused {
            for (o, w) in ut[i * m + i + 1..(i + 1) * m]
                .iter_mut()
                .zip(&wcol[i + 1..m])
            {
                *o = *w * scale;
            }
        } else {
            for r in i + 1..m {
                ut[i * m + r] = a[r * n + i] * scale;
            }
        }
        if i + 1 == n {
            break;
        }
        let u = &ut[i * m + i..(i + 1) * m];
        // 3. Y[i+1.., j] = τ·(Aᵀu − Y·(Uᵀu) − Vᵀ·(Xᵀu)). With u = e₁ + scale·(w − w₀e₁),
        //    Aᵀu = A[i, i+1..] + scale·Σ_{r>i} w_r·A[r, i+1..], the sum from the fused
        //    pass; otherwise one pass over rows i..m.
        let w = n - i - 1;
        let acc = &mut acc[..w];
        if fused {
            for ((o, z), x) in acc
                .iter_mut()
                .zip(&next[..w])
                .zip(&a[i * n + i + 1..(i + 1) * n])
            {
                *o = *x + scale * *z;
            }
        } else {
            acc.iter_mut().for_each(|v| *v = T::ZERO);
            for (r, ur) in (i..m).zip(u) {
                if *ur != T::ZERO {
                    axpy(acc, *ur, &a[r * n + i + 1..(r + 1) * n]);
                }
            }
        }
        for t in 0..j {
            t1[t] = dot(&ut[(p + t) * m + i..(p + t + 1) * m], u);
            t2[t] = dot(&xt[t * mp + j..(t + 1) * mp], u);
        }
        let mut sum = Axpys::new(&mut *acc);
        for t in 0..j {
            sum.push(-t1[t], &yt[t * np + j + 1..(t + 1) * np]);
            sum.push(-t2[t], &a[(p + t) * n + i + 1..(p + t + 1) * n]);
        }
        sum.finish();
        acc.iter_mut().for_each(|v| *v *= tau);
        yt[j * np + j + 1..(j + 1) * np].copy_from_slice(acc);
        // Row i: A[i, i+1..] −= Y[i+1.., ..=j]·U[i, ..=j]ᵀ + V[..j, i+1..]ᵀ·X[i, ..j]ᵀ.
        {
            let (head, tail) = a.split_at_mut(i * n);
            let mut sum = Axpys::new(&mut tail[i + 1..n]);
            for t in 0..=j {
                sum.push(-ut[(p + t) * m + i], &yt[t * np + j + 1..(t + 1) * np]);
                if t < j {
                    sum.push(-xt[t * mp + j], &head[(p + t) * n + i + 1..(p + t + 1) * n]);
                }
            }
            sum.finish();
        }
        // The right reflector of row i.
        let (beta, tau_r, scale) = {
            let row = &a[i * n + i + 1..(i + 1) * n];
            reflector(row[0], sum_sq(&row[1..]).sqrt())
        };
        e[i] = beta;
        taup[i] = tau_r;
        a[i * n + i + 1] = T::ONE;
        a[i * n + i + 2..(i + 1) * n]
            .iter_mut()
            .for_each(|v| *v *= scale);
        // X[i+1.., j] = τ·(A·v − U·(Yᵀv) − X·(V·v)): one pass over rows i+1..m.
        let (head, rest) = a.split_at((i + 1) * n);
        let v = &head[i * n + i + 1..];
        for t in 0..=j {
            t1[t] = dot(&yt[t * np + j + 1..(t + 1) * np], v);
        }
        for t in 0..j {
            t2[t] = dot(&head[(p + t) * n + i + 1..(p + t + 1) * n], v);
        }
        let corr = &mut corr[i + 1..m];
        corr.iter_mut().for_each(|v| *v = T::ZERO);
        let mut sum = Axpys::new(&mut *corr);
        for t in 0..=j {
            sum.push(t1[t], &ut[(p + t) * m + i + 1..(p + t + 1) * m]);
            if t < j {
                sum.push(t2[t], &xt[t * mp + j + 1..(t + 1) * mp]);
            }
        }
        sum.finish();
        let (xprev, xcur) = xt.split_at_mut(j * mp);
        let xj = &mut xcur[j + 1..mp];
        // The same pass updates column i+1 (step 1 of the next step, whose only unknown
        // term is X[.., j]·V[j, i+1] = X[.., j]) and accumulates Aᵀ·w for it; not across
        // panels, whose first column sees the trailing update first.
        fused = j + 1 < nb && i + 2 < n;
        if fused {
            let ccol = &mut ccol[i + 1..m];
            ccol.iter_mut().for_each(|v| *v = T::ZERO);
            let mut sum = Axpys::new(&mut *ccol);
            for t in 0..=j {
                sum.push(
                    yt[t * np + j + 1],
                    &ut[(p + t) * m + i + 1..(p + t + 1) * m],
                );
                if t < j {
                    sum.push(
                        head[(p + t) * n + i + 1],
                        &xprev[t * mp + j + 1..(t + 1) * mp],
                    );
                }
            }
            sum.finish();
            let z = &mut next[..w - 1];
            z.iter_mut().for_each(|v| *v = T::ZERO);
            let mut ss = T::ZERO;
            let wc = &mut wcol[i + 1..m];
            for (k, ((row, x), wk)) in rest
                .chunks_exact(n)
                .zip(xj.iter_mut())
                .zip(wc.iter_mut())
                .enumerate()
            {
                let xr = (dot(&row[i + 1..], v) - corr[k]) * tau_r;
                *x = xr;
                let wr = row[i + 1] - ccol[k] - xr;
                *wk = wr;
                if k > 0 && wr != T::ZERO {
                    ss += wr * wr;
                    axpy(z, wr, &row[i + 2..]);
                }
            }
            wss = ss;
        } else {
            for ((row, x), c) in rest.chunks_exact(n).zip(xj.iter_mut()).zip(corr.iter()) {
                *x = (dot(&row[i + 1..], v) - *c) * tau_r;
            }
        }
    }
    (xt, yt)
}

/// After a panel: `A[q.., q..] −= U·Yᵀ + X·V` (`q = p + nb`) as one GEMM of `[U X]` by
/// `[Yᵀ; V]`.
#[allow(clippy::too_many_arguments)]
fn trailing_update<T: Float>(
    a: &mut [T],
    m: usize,
    n: usize,
    p: usize,
    nb: usize,
    ut: &[T],
    xt: &[T],
    yt: &[T],
) {
    let q = p + nb;
    let (rows, cols, k) = (m - q, n - q, 2 * nb);
    let (mp, np) = (m - p, n - p);
    // [U X]ᵀ and [Yᵀ; V], row by row.
    let mut lhs_t = Vec::with_capacity(k * rows);
    for t in 0..nb {
        lhs_t.extend_from_slice(&ut[(p + t) * m + q..(p + t + 1) * m]);
    }
    for t in 0..nb {
        lhs_t.extend_from_slice(&xt[t * mp + nb..(t + 1) * mp]);
    }
    let mut rhs = Vec::with_capacity(k * cols);
    for t in 0..nb {
        rhs.extend_from_slice(&yt[t * np + nb..(t + 1) * np]);
    }
    for t in 0..nb {
        rhs.extend_from_slice(&a[(p + t) * n + q..(p + t + 1) * n]);
    }
    gemm_sub(
        MatRef::rows(&lhs_t, k, rows).t(),
        MatRef::rows(&rhs, k, cols),
        &mut a[q * n + q..],
        n,
    );
}
