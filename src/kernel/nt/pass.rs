//! The single-pass loop of the few-rows kernel: up to [`GEMV_MAX_M`] rows of `A` in one tile,
//! one pass over `W` with aligned loads, permutes and prefetches far ahead.

use core::arch::x86_64::*;
use core::cell::Cell;

use super::{beta_is_zero, Lanes, GEMV_MAX_M, PREFETCH_AHEAD};

/// One cache line: the unit of the scratch that holds `A`'s rows for the single-pass loop,
/// so that each row starts 64-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

thread_local! {
    /// This thread's copy of `A`'s rows for the single-pass loop: taken for one product and
    /// put back.
    static ROWS: Cell<Vec<Line>> = const { Cell::new(Vec::new()) };
}

/// The single-pass loop for `m ≤ GEMV_MAX_M`: `A`'s rows copied into the aligned scratch,
/// then tiles of all `m` rows × `C` rows of `W`. On AVX2 (16 registers) `C` is as many as
/// the registers hold (the accumulators, and per row of `W` its last aligned vector and its
/// permute index, two registers): 4 for one row, 2 up to four, 1 above (2 rows × 4 spilled
/// and ran at 16 GB/s). On AVX-512 (32 registers) fewer rows of `W` at once read faster than
/// more, although more fit: 1 for one or two rows, 2 above. Measured on AMD EPYC Zen 5,
/// 1 thread, SmolLM2-135M's shapes cycling through 64 MB, GB/s: one row 29–34 with 8 rows
/// of `W` per tile (16: 26–30), 33–39 with 4, 38–46 with 2, 44–53 with 1 (AVX2's 4 × 8
/// lanes: 29–50 in the same runs); two rows 34–38 with 4, 41–47 with 2, 44–52 with 1; four
/// rows 36–41 with 4, 39–47 with 2 (3 rows follow 4, not measured apart); eight rows
/// 28–32 with 2, 22–27 with 1. The prefetch distance was not the cause: 8, 32 and 64 KiB read
/// as 16 KiB did with 8 rows of `W`. Our guess at why fewer is faster (unverified: the VM
/// measured on exposes no hardware counters) is that each row of `W` is a stream of its own
/// to the hardware prefetchers, and a row of 576 floats is only 36 cache lines long.
///
/// # Safety
///
/// As [`gemm_nt`](super::gemm_nt), with `1 ≤ m ≤ GEMV_MAX_M`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn single_pass<L: Lanes>(
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
    let size = core::mem::size_of::<L::E>();
    // Each row of the copy starts on a cache line (so on a vector boundary of either width).
    let ks = k.next_multiple_of(64 / size);
    let lines = (m * ks * size).div_ceil(64);
    let mut buf = ROWS.take();
    if buf.len() < lines {
        buf = vec![Line([0; 64]); lines];
    }
    let xs = buf.as_mut_ptr().cast::<L::E>();
    for i in 0..m {
        // SAFETY: row `i < m` of `A` is `k` readable elements from `a + i·rsa` (the caller's
        // contract); the scratch holds `m·ks ≥ i·ks + k` elements of `L::E` (its `lines`
        // lines of 64 bytes, `size` dividing 64), is this thread's own, and aliases nothing.
        unsafe { core::ptr::copy_nonoverlapping(a.add(i * rsa), xs.add(i * ks), k) };
    }
    let s = Pass::<L> {
        k,
        alpha,
        x: xs,
        ks,
        beta,
        rsc,
        csc,
    };
    macro_rules! tiles {
        ($($r:literal => $wide:literal, $narrow:literal;)*) => {
            match m {
                $($r => {
                    if L::REGS >= 32 {
                        // SAFETY: the caller's contract, with `A`'s rows in the scratch.
                        unsafe { s.columns::<$r, $wide>(n, b, csb, c) }
                    } else {
                        // SAFETY: as above.
                        unsafe { s.columns::<$r, $narrow>(n, b, csb, c) }
                    }
                })*
                _ => unreachable!("the single-pass loop takes 1 to {GEMV_MAX_M} rows"),
            }
        };
    }
    tiles! {
        1 => 1, 4;
        2 => 1, 2;
        3 => 2, 2;
        4 => 2, 2;
        5 => 2, 1;
        6 => 2, 1;
        7 => 2, 1;
        8 => 2, 1;
    }
    ROWS.set(buf);
}

/// The operands of the single-pass loop that all its tiles share: `R` rows of `A` at `x`
/// (64-byte aligned, row stride `ks`), α, β and `C`'s strides.
struct Pass<L: Lanes> {
    k: usize,
    alpha: L::E,
    x: *const L::E,
    ks: usize,
    beta: L::E,
    rsc: usize,
    csc: usize,
}

impl<L: Lanes> Pass<L> {
    /// Every column of `C`: tiles of `R × C`, then `R × 1` for the columns left.
    ///
    /// # Safety
    ///
    /// `R` rows of `A` at `x` (aligned, `k` elements each at stride `ks`), `B[l + j·csb]`
    /// readable and `C[i·rsc + j·csc]` writable (initialised when β ≠ 0) for `i < R`,
    /// `j < n`, `l < k`; `L`'s features in this frame.
    #[inline(always)]
    unsafe fn columns<const R: usize, const C: usize>(
        &self,
        n: usize,
        b: *const L::E,
        csb: usize,
        c: *mut L::E,
    ) {
        let mut j = 0;
        while j + C <= n {
            // SAFETY: columns `j .. j + C ≤ n` (the contract).
            unsafe { self.tile::<R, C>(b.add(j * csb), csb, c.add(j * self.csc)) };
            j += C;
        }
        while j < n {
            // SAFETY: column `j < n` (the contract).
            unsafe { self.tile::<R, 1>(b.add(j * csb), csb, c.add(j * self.csc)) };
            j += 1;
        }
    }

    /// One `R × C` tile: `C` rows of `W` from `w` (stride `csb`), in one pass over `k`.
    ///
    /// # Safety
    ///
    /// As [`columns`](Self::columns), for the `C` columns from `w` and `c`.
    #[inline(always)]
    unsafe fn tile<const R: usize, const C: usize>(
        &self,
        w: *const L::E,
        csb: usize,
        c: *mut L::E,
    ) {
        let lanes = L::LANES;
        let size = core::mem::size_of::<L::E>();
        let k = self.k;
        // Steps whose next aligned vector of W lies inside every row whatever the row's
        // offset from a vector boundary: `(t + 2)·LANES ≤ k` suffices (see below).
        let aligned_steps = (k / lanes).saturating_sub(1);
        // Prefetches per step: the bytes of W one step reads, in cache lines (at least one).
        let per_step = (C * lanes * size / 64).max(1);
        let mut pf = w.cast::<u8>().wrapping_add(PREFETCH_AHEAD);
        // SAFETY: for the whole body: `L`'s features are in this frame (the contract). The
        // rows of A are read from the scratch at `x + i·ks + l` with `l + count ≤ k`, by
        // aligned loads at multiples of LANES (`ks·size` and `x` are multiples of 64 bytes).
        // Row `cc` of W, `w_c = w + cc·csb`, is `off_c` elements past the vector boundary
        // `base_c = w_c − off_c` (f32/f64 pointers are aligned to their size, so the byte
        // offset divides exactly); its aligned vector `t` covers the elements
        // `t·LANES − off_c .. (t + 1)·LANES − off_c` of the row. Vector 0 is read from lane
        // `off_c` (the row's first element) on, and, since `k ≥ 2·LANES` when there is a step,
        // lies inside the row; step `t < aligned_steps` reads vector `t + 1`, whose last
        // element `(t + 2)·LANES − 1 − off_c ≤ k − 1`: inside the row. The other loads read
        // `count` elements from `l` with `l + count ≤ k`. A prefetch is a hint: it reads
        // nothing architecturally and cannot fault, whatever its address (`wrapping_add`
        // forms it without claiming it is in bounds). The stores write the tile's elements
        // (i, cc) of C, read first only when β ≠ 0 (then initialised).
        unsafe {
            let mut acc = [[L::vzero(); C]; R];
            let mut base = [w; C];
            let mut idx = [L::index(0); C];
            let mut prev = [L::vzero(); C];
            if aligned_steps > 0 {
                for cc in 0..C {
                    let row = w.add(cc * csb);
                    let off = (row as usize % (lanes * size)) / size;
                    base[cc] = row.wrapping_sub(off);
                    idx[cc] = L::index(off);
                    prev[cc] = L::load_aligned_from(base[cc], off);
                }
            }
            for t in 0..aligned_steps {
                let l = t * lanes;
                for cc in 0..C {
                    let next = L::load_aligned(base[cc].wrapping_add(l + lanes));
                    let v = L::combine(prev[cc], next, idx[cc]);
                    prev[cc] = next;
                    // The rows of A are loaded once per row of W (from L1) rather than held
                    // in registers: with 8 rows they would not fit beside the accumulators.
                    for (i, acc) in acc.iter_mut().enumerate() {
                        let x = L::load_aligned(self.x.add(i * self.ks + l));
                        acc[cc] = L::fmadd(x, v, acc[cc]);
                    }
                }
                for q in 0..per_step {
                    _mm_prefetch::<_MM_HINT_T0>(pf.wrapping_add(q * 64).cast::<i8>());
                }
                pf = pf.wrapping_add(C * lanes * size);
            }
            let mut l = aligned_steps * lanes;
            while l < k {
                let count = (k - l).min(lanes);
                let mut x = [L::vzero(); R];
                for (i, x) in x.iter_mut().enumerate() {
                    *x = L::load(self.x.add(i * self.ks + l), count);
                }
                for cc in 0..C {
                    let v = L::load(w.add(cc * csb + l), count);
                    for (acc, &x) in acc.iter_mut().zip(&x) {
                        acc[cc] = L::fmadd(x, v, acc[cc]);
                    }
                }
                l += count;
            }
            for (i, acc) in acc.iter().enumerate() {
                for c0 in (0..C).step_by(4) {
                    let mut v = [L::vzero(); 4];
                    let cn = (C - c0).min(4);
                    v[..cn].copy_from_slice(&acc[c0..c0 + cn]);
                    let sums = L::hsum4(v);
                    for (cc, &sum) in sums.iter().enumerate().take(cn) {
                        let p = c.add(i * self.rsc + (c0 + cc) * self.csc);
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
}
