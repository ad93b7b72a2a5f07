//! The strip loop of the few-rows kernel, for 9 to 48 rows: tiles of [`MR`] rows of `A` by
//! [`NR`] rows of `W`, read in place with unaligned loads.

use core::arch::x86_64::*;

use super::{beta_is_zero, Lanes, MR, NR};

/// The strip loop for `m > GEMV_MAX_M`: strips of [`NR`] rows of `W`, each kept in L1 while
/// blocks of [`MR`] rows of `A` run over it, the next strip prefetched over the strip's
/// tiles.
///
/// # Safety
///
/// As [`gemm_nt`](super::gemm_nt), with `m ≥ 1`, `n ≥ 1`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn strips<L: Lanes>(
    m: usize,
    k: usize,
    n: usize,
    alpha: L::E,
    a: *const L::E,
    rsa: usize,
    b: *const L::E,
    csb: usize,
    beta: L::E,
    c: *mut L::E,
    rsc: usize,
    csc: usize,
) {
    let lines_per_row = (k * core::mem::size_of::<L::E>()).div_ceil(64);
    let blocks = m.div_ceil(MR);
    let mut j = 0;
    while j < n {
        let nr = (n - j).min(NR);
        // The next strip's cache lines, spread over this strip's tiles.
        let next = (n - j - nr).min(NR);
        let total = next * lines_per_row;
        let mut ahead = Ahead {
            row: b.wrapping_add((j + nr) * csb),
            col: 0,
            k,
            csb,
            left: 0,
        };
        let mut issued = 0;
        for block in 0..blocks {
            let i = block * MR;
            let mr = (m - i).min(MR);
            let until = total * (block + 1) / blocks;
            ahead.left = until - issued;
            issued = until;
            let (ai, bj, ci) =
                // SAFETY: rows i..i+mr < m of A and columns j..j+nr < n of B are in the
                // caller's readable range over l < k, and C's (i.., j..) block in its
                // writable range; the offsets are therefore in bounds.
                unsafe { (a.add(i * rsa), b.add(j * csb), c.add(i * rsc + j * csc)) };
            let t = Tile::<L> {
                k,
                alpha,
                a: ai,
                rsa,
                b: bj,
                csb,
                beta,
                c: ci,
                rsc,
                csc,
            };
            // SAFETY: `t` covers an mr × nr block inside the caller's ranges (above).
            unsafe {
                match (mr, nr) {
                    (3, 4) => t.run::<3, 4>(&mut ahead),
                    (2, 4) => t.run::<2, 4>(&mut ahead),
                    (1, 4) => t.run::<1, 4>(&mut ahead),
                    (3, 3) => t.run::<3, 3>(&mut ahead),
                    (2, 3) => t.run::<2, 3>(&mut ahead),
                    (1, 3) => t.run::<1, 3>(&mut ahead),
                    (3, 2) => t.run::<3, 2>(&mut ahead),
                    (2, 2) => t.run::<2, 2>(&mut ahead),
                    (1, 2) => t.run::<1, 2>(&mut ahead),
                    (3, 1) => t.run::<3, 1>(&mut ahead),
                    (2, 1) => t.run::<2, 1>(&mut ahead),
                    _ => t.run::<1, 1>(&mut ahead),
                }
            }
        }
        j += nr;
    }
}

/// One output tile's operands: `R` rows of `A` from `a`, `C` columns of `B` from `b`.
struct Tile<L: Lanes> {
    k: usize,
    alpha: L::E,
    a: *const L::E,
    rsa: usize,
    b: *const L::E,
    csb: usize,
    beta: L::E,
    c: *mut L::E,
    rsc: usize,
    csc: usize,
}

/// The cache lines of the next strip of `B` still to prefetch: `row` points at the
/// current row's start, `col` at the next line's first element, and this tile may issue
/// `left` more prefetches, one per main-loop iteration of its dot products (a burst of
/// them stalls on the line-fill buffers), the rest after the loop.
struct Ahead<T> {
    row: *const T,
    col: usize,
    k: usize,
    csb: usize,
    left: usize,
}

impl<T> Ahead<T> {
    /// Prefetches one line, if this tile has any left to issue.
    #[inline(always)]
    fn one(&mut self) {
        if self.left > 0 {
            // A prefetch is a hint: it reads nothing architecturally and cannot fault;
            // the address (a row < n, a column < k) is inside B anyway.
            // SAFETY: `_mm_prefetch` needs only SSE, part of x86-64.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(self.row.wrapping_add(self.col).cast::<i8>()) };
            self.left -= 1;
            self.col += 64 / core::mem::size_of::<T>();
            if self.col >= self.k {
                self.col = 0;
                self.row = self.row.wrapping_add(self.csb);
            }
        }
    }
}

impl<L: Lanes> Tile<L> {
    /// `acc[i][j] += A[i, l..l+count] ⊙ B[l..l+count, j]` (lanes past `count` add 0).
    ///
    /// # Safety
    ///
    /// AVX2 and FMA available; `l + count ≤ k`, `count ≤ LANES`, and the tile's rows
    /// readable over `l < k` (as for [`run`](Self::run)).
    #[inline(always)]
    unsafe fn step<const R: usize, const C: usize>(
        &self,
        acc: &mut [[L::V; C]; R],
        l: usize,
        count: usize,
    ) {
        // SAFETY: the features are available and every load reads `count` elements
        // from `l` of a row the caller made readable up to `k ≥ l + count`.
        unsafe {
            let mut x = [L::vzero(); R];
            for (i, x) in x.iter_mut().enumerate() {
                *x = L::load(self.a.add(i * self.rsa + l), count);
            }
            for j in 0..C {
                let w = L::load(self.b.add(j * self.csb + l), count);
                for (acc, &x) in acc.iter_mut().zip(&x) {
                    acc[j] = L::fmadd(x, w, acc[j]);
                }
            }
        }
    }

    /// The `R × C` tile.
    ///
    /// # Safety
    ///
    /// AVX2 and FMA available; `A[i·rsa + l]`, `B[j·csb + l]` readable and
    /// `C[i·rsc + j·csc]` writable (initialised when β ≠ 0) for `i < R`, `j < C`,
    /// `l < k`.
    #[inline(always)]
    unsafe fn run<const R: usize, const C: usize>(&self, ahead: &mut Ahead<L::E>) {
        let lanes = L::LANES;
        let k = self.k;
        // SAFETY: for the whole body: the features are available (the contract); each
        // `step` covers `l .. l + count` with `l + count ≤ k` — full vectors while they
        // fit, then the `k − l < LANES` elements left — and each store below writes the
        // tile's element (i, j), read first only when β ≠ 0 (then it is initialised).
        unsafe {
            let mut acc = [[L::vzero(); C]; R];
            let mut l = 0;
            while l + 2 * lanes <= k {
                self.step::<R, C>(&mut acc, l, lanes);
                self.step::<R, C>(&mut acc, l + lanes, lanes);
                ahead.one();
                l += 2 * lanes;
            }
            while ahead.left > 0 {
                ahead.one();
            }
            if l + lanes <= k {
                self.step::<R, C>(&mut acc, l, lanes);
                l += lanes;
            }
            if l < k {
                self.step::<R, C>(&mut acc, l, k - l);
            }
            for (i, acc) in acc.iter().enumerate() {
                let mut v = [L::vzero(); 4];
                v[..C].copy_from_slice(acc);
                let sums = L::hsum4(v);
                for (j, &sum) in sums.iter().enumerate().take(C) {
                    let p = self.c.add(i * self.rsc + j * self.csc);
                    *p = if beta_is_zero(self.beta) {
                        self.alpha * sum
                    } else {
                        self.alpha * sum + self.beta * *p
                    };
                }
            }
        }
    }
}
