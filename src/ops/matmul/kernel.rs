//! The GEMM lowering: the only file of the crate with `unsafe`.
//!
//! matrixmultiply takes a matrix as (pointer, rows, cols, row stride, column stride), all
//! strides in elements. The typed API has already fixed the extents; this file checks, once
//! per call and before any pointer is formed, that every element each operand can reach
//! lies inside its slice, then hands the operands' own strides to `sgemm`/`dgemm`. So a
//! transposed or permuted operand is read in place, never copied.
//!
//! One case is not handed to matrixmultiply: a product with few rows (`m ≤ 48`) whose `A`
//! rows and `B` columns are both contiguous along `k` — `x·Wᵀ` with `W` stored (out, in) as
//! PyTorch stores it, which is what [`Linear`](crate::nn::Linear) computes on a handful of
//! tokens, and `q·kᵀ`. matrixmultiply packs `B` before every product, element by element
//! when its packed direction is not contiguous, and with few rows that packing costs as much
//! as the arithmetic (perf: 44% of a MiniLM forward pass was `pack_avx2`). The `nt` kernel
//! below reads both operands in place instead: each 3×4 output tile is twelve 8-wide
//! dot-product accumulators over `k`, reduced once at the end, and the next 4 columns of
//! `B` are prefetched while the current ones are used. It needs AVX2 and FMA (detected at
//! run time; otherwise matrixmultiply runs).
//!
//! The output is written with β = 0 into the spare capacity of a fresh `Vec`, which
//! matrixmultiply documents as allowed ("if β is zero, then C does not need to be
//! initialized"): no pass of zeroing precedes the product. Batches are spread over the
//! threads of rayon's pool (spawning an OS thread per call costs more than a small batched
//! product) by splitting the output into disjoint chunks; a single product is split into
//! blocks of columns (few rows) or rows (`split_gemm`), each written by one thread.
#![allow(unsafe_code)]

use core::mem::MaybeUninit;

use crate::element::Float;
use crate::tensor::layout::max_offset;

/// The raw GEMM entry of an element type. Sealed: implemented for `f32` and `f64` only.
pub trait Gemm: Copy + Send + Sync + 'static {
    /// `C = A·B` with β = 0 (so `C` is written, never read).
    ///
    /// # Safety
    ///
    /// For `i < m`, `l < k`, `j < n`: `a + i·rsa + l·csa` and `b + l·rsb + j·csb` must be
    /// valid for reads, and `c + i·rsc + j·csc` valid for writes, pairwise distinct for
    /// distinct `(i, j)` and not aliasing `a` or `b`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_overwrite(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: the caller upholds this function's contract, which is `gemm`'s with
        // β = 0 (C written, never read).
        unsafe {
            Self::gemm(
                m,
                k,
                n,
                Self::one(),
                a,
                rsa,
                csa,
                b,
                rsb,
                csb,
                Self::zero(),
                c,
                rsc,
                csc,
            )
        }
    }

    /// One.
    fn one() -> Self;
    /// Zero.
    fn zero() -> Self;

    /// `C = α·A·B + β·C`; with β = 0, `C` is written, never read.
    ///
    /// # Safety
    ///
    /// As for [`gemm_overwrite`](Self::gemm_overwrite); when β ≠ 0, `C` must also be valid
    /// for reads and initialised.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

macro_rules! impl_gemm {
    ($t:ty, $f:path) => {
        impl Gemm for $t {
            #[inline(always)]
            fn one() -> $t {
                1.0
            }
            #[inline(always)]
            fn zero() -> $t {
                0.0
            }
            #[inline]
            unsafe fn gemm(
                m: usize,
                k: usize,
                n: usize,
                alpha: $t,
                a: *const $t,
                rsa: isize,
                csa: isize,
                b: *const $t,
                rsb: isize,
                csb: isize,
                beta: $t,
                c: *mut $t,
                rsc: isize,
                csc: isize,
            ) {
                #[cfg(target_arch = "x86_64")]
                if nt::eligible(m, k, rsa, csa, rsb, csb, rsc, csc) {
                    // SAFETY: `eligible` checked that the CPU has AVX2 and FMA (the target
                    // features of `gemm_nt`), that csa = rsb = 1 and that the other strides
                    // are non-negative, so the casts to usize keep their values; the caller
                    // upholds the rest of `gemm_nt`'s contract, which is this function's.
                    unsafe {
                        nt::gemm_nt::<$t>(
                            m,
                            k,
                            n,
                            alpha,
                            a,
                            rsa as usize,
                            b,
                            csb as usize,
                            beta,
                            c,
                            rsc as usize,
                            csc as usize,
                        )
                    };
                    return;
                }
                // SAFETY: the caller upholds this function's contract, which is exactly
                // matrixmultiply's: in-bounds operands and a non-overlapping C, initialised
                // when beta != 0 (with beta = 0, C is written and never read).
                unsafe { $f(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
            }
        }
    };
}

impl_gemm!(f32, matrixmultiply::sgemm);
impl_gemm!(f64, matrixmultiply::dgemm);

/// The small-`m` product `C = α·A·Bᵀ-read-in-place + β·C` (see the module documentation).
/// x86-64 only: elsewhere every product goes to matrixmultiply.
#[cfg(target_arch = "x86_64")]
mod nt {
    use core::arch::x86_64::*;

    use crate::element::Float;

    /// The largest `m` the kernel takes: above it, packing `B` once pays for itself over
    /// enough rows and matrixmultiply's kernel is faster (measured side by side: at
    /// k = n = 384 this kernel is ahead up to m = 48 and behind at m = 64).
    const MAX_M: usize = 48;
    /// The smallest `k`: with shorter dot products the final reductions dominate.
    const MIN_K: usize = 32;
    /// Rows of `A` per tile.
    const MR: usize = 3;
    /// Columns of `C` (rows of `Bᵀ`) per tile.
    const NR: usize = 4;

    /// Whether [`gemm_nt`] takes this product: few rows, `A`'s rows and `B`'s columns
    /// contiguous (`csa = rsb = 1`), non-negative strides, and a CPU with AVX2 and FMA.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(super) fn eligible(
        m: usize,
        k: usize,
        rsa: isize,
        csa: isize,
        rsb: isize,
        csb: isize,
        rsc: isize,
        csc: isize,
    ) -> bool {
        m <= MAX_M
            && k >= MIN_K
            && csa == 1
            && rsb == 1
            && rsa >= 0
            && csb >= 0
            && rsc >= 0
            && csc >= 0
            && std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
    }

    /// The 256-bit vector operations the kernel needs, for `f32` (8 lanes) and `f64` (4).
    /// Every method is `#[inline(always)]`, so it is compiled inside `gemm_nt`'s
    /// AVX2/FMA frame, and `unsafe`: its caller guarantees the CPU has AVX2 and FMA.
    pub(super) trait Lanes: Copy {
        /// The vector type.
        type V: Copy;
        /// Lanes per vector.
        const LANES: usize;
        /// All lanes zero.
        ///
        /// # Safety
        /// AVX available.
        unsafe fn vzero() -> Self::V;
        /// `count ≤ LANES` elements from `p`, zeros in the lanes after them; nothing past
        /// `p + count` is read.
        ///
        /// # Safety
        /// `p .. p + count` valid for reads; AVX2 available.
        unsafe fn load(p: *const Self, count: usize) -> Self::V;
        /// `a·b + c`, lane by lane.
        ///
        /// # Safety
        /// FMA available.
        unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
        /// The four horizontal sums `[Σv[0], Σv[1], Σv[2], Σv[3]]`.
        ///
        /// # Safety
        /// AVX available.
        unsafe fn hsum4(v: [Self::V; 4]) -> [Self; 4];
    }

    impl Lanes for f32 {
        type V = __m256;
        const LANES: usize = 8;
        #[inline(always)]
        unsafe fn vzero() -> __m256 {
            // SAFETY: AVX is available (this method's contract).
            unsafe { _mm256_setzero_ps() }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32, count: usize) -> __m256 {
            // SAFETY: AVX2 is available and `p .. p + count` readable (the contract); an
            // unaligned full load reads exactly those 8 elements, and a masked load reads
            // nothing (and cannot fault) in its disabled lanes `≥ count`.
            unsafe {
                if count == 8 {
                    _mm256_loadu_ps(p)
                } else {
                    let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                    let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(count as i32), idx);
                    _mm256_maskload_ps(p, mask)
                }
            }
        }
        #[inline(always)]
        unsafe fn fmadd(a: __m256, b: __m256, c: __m256) -> __m256 {
            // SAFETY: FMA is available (the contract); registers only.
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        unsafe fn hsum4(v: [__m256; 4]) -> [f32; 4] {
            // SAFETY: AVX is available (the contract); the store writes a local array.
            unsafe {
                let s = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
                let s = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s));
                let mut out = [0.0f32; 4];
                _mm_storeu_ps(out.as_mut_ptr(), s);
                out
            }
        }
    }

    impl Lanes for f64 {
        type V = __m256d;
        const LANES: usize = 4;
        #[inline(always)]
        unsafe fn vzero() -> __m256d {
            // SAFETY: AVX is available (the contract).
            unsafe { _mm256_setzero_pd() }
        }
        #[inline(always)]
        unsafe fn load(p: *const f64, count: usize) -> __m256d {
            // SAFETY: as for f32: the full load reads exactly the 4 readable elements, the
            // masked one nothing in its disabled lanes.
            unsafe {
                if count == 4 {
                    _mm256_loadu_pd(p)
                } else {
                    let idx = _mm256_setr_epi64x(0, 1, 2, 3);
                    let mask = _mm256_cmpgt_epi64(_mm256_set1_epi64x(count as i64), idx);
                    _mm256_maskload_pd(p, mask)
                }
            }
        }
        #[inline(always)]
        unsafe fn fmadd(a: __m256d, b: __m256d, c: __m256d) -> __m256d {
            // SAFETY: FMA is available (the contract); registers only.
            unsafe { _mm256_fmadd_pd(a, b, c) }
        }
        #[inline(always)]
        unsafe fn hsum4(v: [__m256d; 4]) -> [f64; 4] {
            // SAFETY: AVX is available (the contract); the store writes a local array.
            unsafe {
                let t0 = _mm256_hadd_pd(v[0], v[1]); // [v0 01, v1 01, v0 23, v1 23]
                let t1 = _mm256_hadd_pd(v[2], v[3]);
                let s = _mm256_add_pd(
                    _mm256_permute2f128_pd::<0x20>(t0, t1),
                    _mm256_permute2f128_pd::<0x31>(t0, t1),
                );
                let mut out = [0.0f64; 4];
                _mm256_storeu_pd(out.as_mut_ptr(), s);
                out
            }
        }
    }

    /// `C[i·rsc + j·csc] = α·Σ_l A[i·rsa + l]·B[l + j·csb] + β·C[…]` for `i < m`, `j < n`,
    /// `l < k`: for each strip of `NR` columns, for each block of `MR` rows, one tile; the
    /// tiles of a strip share the prefetch of the next strip.
    ///
    /// # Safety
    ///
    /// The CPU has AVX2 and FMA; every `A`, `B` element named above is valid for reads and
    /// every `C` element for writes, distinct for distinct `(i, j)` and aliasing neither
    /// operand; when β ≠ 0, `C` is initialised (with β = 0 it is never read).
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn gemm_nt<T: Lanes + Float>(
        m: usize,
        k: usize,
        n: usize,
        alpha: T,
        a: *const T,
        rsa: usize,
        b: *const T,
        csb: usize,
        beta: T,
        c: *mut T,
        rsc: usize,
        csc: usize,
    ) {
        let lines_per_row = (k * core::mem::size_of::<T>()).div_ceil(64);
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
                let t = Tile {
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
    struct Tile<T> {
        k: usize,
        alpha: T,
        a: *const T,
        rsa: usize,
        b: *const T,
        csb: usize,
        beta: T,
        c: *mut T,
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
                unsafe {
                    _mm_prefetch::<_MM_HINT_T0>(self.row.wrapping_add(self.col).cast::<i8>())
                };
                self.left -= 1;
                self.col += 64 / core::mem::size_of::<T>();
                if self.col >= self.k {
                    self.col = 0;
                    self.row = self.row.wrapping_add(self.csb);
                }
            }
        }
    }

    impl<T: Lanes + Float> Tile<T> {
        /// `acc[i][j] += A[i, l..l+count] ⊙ B[l..l+count, j]` (lanes past `count` add 0).
        ///
        /// # Safety
        ///
        /// AVX2 and FMA available; `l + count ≤ k`, `count ≤ LANES`, and the tile's rows
        /// readable over `l < k` (as for [`run`](Self::run)).
        #[inline(always)]
        unsafe fn step<const R: usize, const C: usize>(
            &self,
            acc: &mut [[T::V; C]; R],
            l: usize,
            count: usize,
        ) {
            // SAFETY: the features are available and every load reads `count` elements
            // from `l` of a row the caller made readable up to `k ≥ l + count`.
            unsafe {
                let mut x = [T::vzero(); R];
                for (i, x) in x.iter_mut().enumerate() {
                    *x = T::load(self.a.add(i * self.rsa + l), count);
                }
                for j in 0..C {
                    let w = T::load(self.b.add(j * self.csb + l), count);
                    for (acc, &x) in acc.iter_mut().zip(&x) {
                        acc[j] = T::fmadd(x, w, acc[j]);
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
        unsafe fn run<const R: usize, const C: usize>(&self, ahead: &mut Ahead<T>) {
            let lanes = T::LANES;
            let k = self.k;
            // SAFETY: for the whole body: the features are available (the contract); each
            // `step` covers `l .. l + count` with `l + count ≤ k` — full vectors while they
            // fit, then the `k − l < LANES` elements left — and each store below writes the
            // tile's element (i, j), read first only when β ≠ 0 (then it is initialised).
            unsafe {
                let mut acc = [[T::vzero(); C]; R];
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
                    let mut v = [T::vzero(); 4];
                    v[..C].copy_from_slice(acc);
                    let sums = T::hsum4(v);
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

    /// β = 0 means "C is not read" (it may be uninitialised, or NaN).
    #[inline(always)]
    fn beta_is_zero<T: Float>(beta: T) -> bool {
        beta == T::zero()
    }
}

/// One operand of a (batched) product: a slice, the offset of its first element, one
/// stride per batch axis (0 for an operand shared by the batch) and its row and column
/// strides.
pub(crate) struct Operand<'a, T> {
    pub data: &'a [T],
    pub offset: usize,
    pub batch_strides: &'a [usize],
    pub rs: usize,
    pub cs: usize,
}

/// The extents of a (batched) product: `batch_dims` × (m×k · k×n).
pub(crate) struct Problem<'a> {
    pub batch_dims: &'a [usize],
    pub m: usize,
    pub k: usize,
    pub n: usize,
}

/// Checks that every element `op` can reach as a `rows`×`cols` matrix per batch item is in
/// its slice. Returns whether it has any element at all.
fn check_operand<T>(p: &Problem<'_>, op: &Operand<'_, T>, rows: usize, cols: usize) -> bool {
    assert_eq!(
        op.batch_strides.len(),
        p.batch_dims.len(),
        "one stride per batch axis"
    );
    let mut dims = [0usize; 8];
    let mut strides = [0usize; 8];
    let nb = p.batch_dims.len();
    dims[..nb].copy_from_slice(p.batch_dims);
    strides[..nb].copy_from_slice(op.batch_strides);
    dims[nb..nb + 2].copy_from_slice(&[rows, cols]);
    strides[nb..nb + 2].copy_from_slice(&[op.rs, op.cs]);
    match max_offset(op.offset, &dims[..nb + 2], &strides[..nb + 2]) {
        Some(max) => {
            assert!(max < op.data.len(), "GEMM operand reaches past its buffer");
            assert!(
                max <= isize::MAX as usize,
                "GEMM operand offsets must fit in isize"
            );
            true
        }
        None => false,
    }
}

/// `C[b] = A[b]·B[b]` for every batch index `b`, into a new contiguous row-major buffer of
/// `batch × m × n` elements, using up to `threads` threads.
pub(crate) fn batched_gemm<T: Float>(
    p: &Problem<'_>,
    a: &Operand<'_, T>,
    b: &Operand<'_, T>,
    threads: usize,
) -> Vec<T> {
    let len = output_len(p);
    let mut out: Vec<T> = Vec::with_capacity(len);
    gemm_overwrite_all(p, a, b, threads, &mut out.spare_capacity_mut()[..len]);
    // SAFETY: `gemm_overwrite_all` has written every one of the first `len` elements (its
    // postcondition), and no borrow of the spare capacity remains.
    unsafe { out.set_len(len) };
    out
}

/// [`batched_gemm`] into an existing row-major buffer of exactly `batch × m × n` elements.
pub(crate) fn batched_gemm_into<T: Float>(
    p: &Problem<'_>,
    a: &Operand<'_, T>,
    b: &Operand<'_, T>,
    threads: usize,
    out: &mut [T],
) {
    assert_eq!(
        out.len(),
        output_len(p),
        "output buffer of the wrong length"
    );
    let len = out.len();
    // SAFETY: `MaybeUninit<T>` has the size, alignment and validity-free layout of `T`, so
    // the cast slice covers exactly the same `len` elements; everything written through it
    // is an initialised `T` (the GEMM's results), so `out` stays initialised afterwards.
    let out =
        unsafe { core::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<MaybeUninit<T>>(), len) };
    gemm_overwrite_all(p, a, b, threads, out);
}

/// One product `C = α·A·B + β·C` on the calling thread: `A` is `m×k` and `B` is `k×n`
/// (operands without batch axes, read through their strides), `C` the `m×n` row-major block
/// of `c` with row stride `rsc`. With β = 0 the old contents of `C` are ignored (never read,
/// even if NaN).
///
/// # Panics
///
/// When an operand reaches past its slice, or `C` does not fit in `c` (`rsc < n` or
/// `(m − 1)·rsc + n > c.len()`): bugs of the caller, checked before any pointer is formed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_acc<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    alpha: T,
    a: &Operand<'_, T>,
    b: &Operand<'_, T>,
    beta: T,
    c: &mut [T],
    rsc: usize,
) {
    gemm_acc_threads(m, k, n, alpha, a, b, beta, c, rsc, 1);
}

/// [`gemm_acc`] on up to `threads` threads (see [`split_gemm`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_acc_threads<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    alpha: T,
    a: &Operand<'_, T>,
    b: &Operand<'_, T>,
    beta: T,
    c: &mut [T],
    rsc: usize,
    threads: usize,
) {
    let p = Problem {
        batch_dims: &[],
        m,
        k,
        n,
    };
    let reads = check_operand(&p, a, m, k) & check_operand(&p, b, k, n);
    if m == 0 || n == 0 {
        return;
    }
    assert!(rsc >= n, "C rows overlap");
    let last = (m - 1)
        .checked_mul(rsc)
        .and_then(|x| x.checked_add(n))
        .expect("C extent overflows usize");
    assert!(last <= c.len(), "C reaches past its buffer");
    assert!(rsc <= isize::MAX as usize, "C stride must fit in isize");
    let (ap, bp) = first_elements(a, b, reads);
    // SAFETY: `check_operand` proved that every `offset + i·rs + l·cs` (i < rows, l < cols)
    // of each operand lies in its slice and fits in isize (or k = 0 and nothing is read);
    // `C`'s elements `i·rsc + j` (i < m, j < n) are below `last ≤ c.len()`, distinct since
    // `rsc ≥ n`, and initialised (a `&mut [T]`), so reading them when β ≠ 0 is sound; `c` is
    // a unique borrow, so it aliases neither operand. That is `T::gemm`'s contract, which
    // `split_gemm` asks for.
    unsafe {
        split_gemm(
            m,
            k,
            n,
            alpha,
            ap,
            a.rs as isize,
            a.cs as isize,
            bp,
            b.rs as isize,
            b.cs as isize,
            beta,
            c.as_mut_ptr(),
            rsc as isize,
            1,
            threads,
        );
    }
}

/// Pointers to the first elements of two operands (unbatched, or batch item 0); their base
/// pointers, unoffset, when the product reads no element (`k = 0`).
fn first_elements<T>(a: &Operand<'_, T>, b: &Operand<'_, T>, reads: bool) -> (*const T, *const T) {
    if reads {
        (a.data[a.offset..].as_ptr(), b.data[b.offset..].as_ptr())
    } else {
        (a.data.as_ptr(), b.data.as_ptr())
    }
}

/// The pointers of one product, shared by the threads that compute disjoint blocks of it.
#[derive(Clone, Copy)]
struct Parts<T> {
    a: *const T,
    b: *const T,
    c: *mut T,
}

// SAFETY: `Parts` only travels to the workers of `split_gemm`, which read `a` and `b` (not
// written by anyone during the product) and write pairwise disjoint blocks of `c`; `T: Sync`
// (f32, f64) makes sharing the reads sound.
unsafe impl<T: Sync> Send for Parts<T> {}
// SAFETY: as for `Send`: shared access never writes the same element from two threads.
unsafe impl<T: Sync> Sync for Parts<T> {}

/// Largest `m` for which [`split_gemm`] splits the columns rather than the rows: each thread
/// then reads only its columns of `B` (a weight read once, not once per thread).
const SPLIT_COLUMNS_MAX_M: usize = 48;

/// `T::gemm` spread over up to `threads` threads of the pool: blocks of columns when `m` is
/// small, blocks of rows otherwise, each block a multiple of 16 wide. Every element of `C`
/// is computed by one thread, by the same kernel and in the same order of `k` as on one
/// thread (the block edges fall on the kernels' tile edges), so the result does not depend
/// on `threads`.
///
/// # Safety
///
/// `T::gemm`'s contract for the whole `m × k × n` product, with non-negative strides.
#[allow(clippy::too_many_arguments)]
unsafe fn split_gemm<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    alpha: T,
    a: *const T,
    rsa: isize,
    csa: isize,
    b: *const T,
    rsb: isize,
    csb: isize,
    beta: T,
    c: *mut T,
    rsc: isize,
    csc: isize,
    threads: usize,
) {
    let by_columns = m <= SPLIT_COLUMNS_MAX_M;
    let len = if by_columns { n } else { m };
    let parts = threads.min(len.div_ceil(16));
    if parts <= 1 {
        // SAFETY: the caller's contract is `T::gemm`'s.
        unsafe { T::gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) };
        return;
    }
    let step = len.div_ceil(parts).next_multiple_of(16);
    let blocks: Vec<core::ops::Range<usize>> = (0..len)
        .step_by(step)
        .map(|s| s..(s + step).min(len))
        .collect();
    let parts = Parts { a, b, c };
    crate::parallel::for_each_chunk(
        blocks,
        threads,
        || (),
        |_, _, r| {
            let p = parts;
            let (start, len) = (r.start, r.end - r.start);
            // SAFETY: a block of columns `start..start + len` (or of rows) of the product the
            // caller made valid: the offset pointers address elements of it (strides are
            // non-negative, `start < n` or `< m`), the block's reads are a subset of the
            // product's, and its writes are the block's own elements of `C`, disjoint from every
            // other block's; `A` and `B` are not written by anyone meanwhile.
            unsafe {
                if by_columns {
                    T::gemm(
                        m,
                        k,
                        len,
                        alpha,
                        p.a,
                        rsa,
                        csa,
                        p.b.add(start * csb as usize),
                        rsb,
                        csb,
                        beta,
                        p.c.add(start * csc as usize),
                        rsc,
                        csc,
                    )
                } else {
                    T::gemm(
                        len,
                        k,
                        n,
                        alpha,
                        p.a.add(start * rsa as usize),
                        rsa,
                        csa,
                        p.b,
                        rsb,
                        csb,
                        beta,
                        p.c.add(start * rsc as usize),
                        rsc,
                        csc,
                    )
                }
            }
        },
    );
}

fn dot(index: &[usize], strides: &[usize]) -> usize {
    index.iter().zip(strides).map(|(i, s)| i * s).sum()
}

fn output_len(p: &Problem<'_>) -> usize {
    let batch: usize = p.batch_dims.iter().product();
    p.m.checked_mul(p.n)
        .and_then(|x| x.checked_mul(batch))
        .expect("output size overflows usize")
}

/// Writes all of `out` (`batch × m × n` elements, row-major): the postcondition the
/// callers' `set_len` relies on.
fn gemm_overwrite_all<T: Float>(
    p: &Problem<'_>,
    a: &Operand<'_, T>,
    b: &Operand<'_, T>,
    threads: usize,
    out: &mut [MaybeUninit<T>],
) {
    let batch: usize = p.batch_dims.iter().product();
    let per_item = p.m * p.n;
    assert_eq!(out.len(), batch * per_item);
    let a_any = check_operand(p, a, p.m, p.k);
    let b_any = check_operand(p, b, p.k, p.n);
    if out.is_empty() {
        return;
    }
    // With k = 0 the operands have no element; matrixmultiply then reads neither and
    // writes zeros. Their base pointers stay valid, unoffset.
    let reads = a_any && b_any;
    debug_assert!(reads || p.k == 0);

    let nb = p.batch_dims.len();
    let run = |item: usize, c: &mut [MaybeUninit<T>]| {
        let mut idx = [0usize; 8];
        crate::tensor::layout::unravel(item, p.batch_dims, &mut idx[..nb]);
        let ao = a.offset + dot(&idx[..nb], a.batch_strides);
        let bo = b.offset + dot(&idx[..nb], b.batch_strides);
        let (ap, bp) = if reads {
            // `ao`/`bo` are offsets of the first element of this batch item, at most the
            // maximum checked by `check_operand`, so they are inside the slices.
            (a.data[ao..].as_ptr(), b.data[bo..].as_ptr())
        } else {
            (a.data.as_ptr(), b.data.as_ptr())
        };
        // SAFETY: `check_operand` proved that for every batch index, every
        // `offset + Σ idx·batch_stride + i·rs + l·cs` with i < rows, l < cols lies in the
        // operand's slice (or that k = 0 and nothing is read), and that it fits in isize,
        // so each strided read is in bounds; `c` is this batch item's own chunk of m·n
        // elements of a `&mut` borrow, written row-major with rsc = n, csc = 1, so distinct
        // (i, j) are distinct elements inside the chunk, and it aliases neither operand
        // (they are shared borrows). β = 0 lets C be uninitialised.
        unsafe {
            T::gemm_overwrite(
                p.m,
                p.k,
                p.n,
                ap,
                a.rs as isize,
                a.cs as isize,
                bp,
                b.rs as isize,
                b.cs as isize,
                c.as_mut_ptr().cast::<T>(),
                p.n as isize,
                1,
            );
        }
    };

    if batch == 1 && threads > 1 {
        let (ap, bp) = first_elements(a, b, reads);
        // SAFETY: as in `run` below for the one batch item (offsets checked by
        // `check_operand`, `out` a unique borrow of exactly m·n elements written row-major
        // with rsc = n, csc = 1, β = 0 so it may be uninitialised); `split_gemm` writes every
        // element of it.
        unsafe {
            split_gemm(
                p.m,
                p.k,
                p.n,
                T::one(),
                ap,
                a.rs as isize,
                a.cs as isize,
                bp,
                b.rs as isize,
                b.cs as isize,
                T::zero(),
                out.as_mut_ptr().cast::<T>(),
                p.n as isize,
                1,
                threads,
            );
        }
        return;
    }
    let chunks: Vec<&mut [MaybeUninit<T>]> = out.chunks_exact_mut(per_item).collect();
    // Every chunk is written by `run` before `for_each_chunk` returns.
    crate::parallel::for_each_chunk(chunks, threads, || (), |_, item, c| run(item, c));
}

/// Calls `f`, with its code generated for AVX2 and FMA when this CPU has them. The features
/// reach only what is inlined into `f`'s frame: mark the functions it calls
/// `#[inline(always)]`. Used by the elementwise passes of attention (exp, max, sum), which
/// the default x86-64 target compiles to 4-wide SSE.
pub(crate) fn with_avx2_fma<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        #[target_feature(enable = "avx2,fma")]
        fn run<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: `run` is safe Rust compiled with the avx2 and fma target features; the only
        // requirement of calling it is that the CPU has them, which was just detected.
        return unsafe { run(f) };
    }
    f()
}

/// A computation for [`run_avx2_fma`]. Unlike a closure's body, a trait method can be
/// `#[inline(always)]`, so a large computation still lands in the feature-enabled frame.
pub(crate) trait Avx2FmaKernel {
    /// What the computation returns.
    type Output;
    /// The computation; implementations mark it, and what it calls, `#[inline(always)]`.
    fn run(self) -> Self::Output;
}

/// Runs `k`, with its code generated for AVX2 and FMA when this CPU has them. Used by the
/// matrix–vector passes of the linear algebra (`crate::linalg`), too large a body for
/// [`with_avx2_fma`]'s closure to be inlined.
pub(crate) fn run_avx2_fma<K: Avx2FmaKernel>(k: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        #[target_feature(enable = "avx2,fma")]
        fn go<K: Avx2FmaKernel>(k: K) -> K::Output {
            k.run()
        }
        // SAFETY: `go` is safe Rust compiled with the avx2 and fma target features; the only
        // requirement of calling it is that the CPU has them, which was just detected.
        return unsafe { go(k) };
    }
    k.run()
}
