//! The small-`m` product `C = α·A·B + β·C` with `A`'s rows and `B`'s columns read in place
//! along `k`: x86-64 only (elsewhere every product goes to matrixmultiply).
//!
//! The case: a product with few rows (`m ≤ 48`) whose `A` rows and `B` columns are both
//! contiguous along `k` — `x·Wᵀ` with `W` stored (out, in) as PyTorch stores it, which is what
//! a linear layer computes on a handful of tokens, what a decoder computes on each step, and
//! `q·kᵀ`. matrixmultiply packs `B` before every product, and with few rows that packing
//! costs as much as the arithmetic (perf: 44% of a MiniLM forward pass was `pack_avx2`).
//! This kernel reads both operands in place instead: each output element is one vector
//! accumulator of dot products over `k`, reduced once at the end.
//!
//! Two vector widths, chosen by the backend ([`Width`]): AVX-512F (16 f32 lanes) on the
//! AVX-512 backend, AVX2 + FMA (8 lanes) on the others. Every element of `C`, on one width,
//! sees the same operations in the same order whatever tile, row block or thread block it
//! lies in — lane `i` of step `s` holds `A[l]·B[l]` for `l = s·LANES + i`, steps accumulate in
//! order, and the lanes are summed by one fixed tree — so a row's result does not depend on
//! how many rows (up to 48) share its product, nor on the thread count.
//!
//! Two loops:
//! - up to [`GEMV_MAX_M`] rows (a decode step, batched or not): one pass over `W` with all
//!   the rows in one tile, which is bound by memory bandwidth. `A`'s rows are first copied
//!   into a 64-byte aligned scratch, `W`'s rows are read with aligned loads and their lanes
//!   put in place by a two-source permute (a `W` from the allocator is rarely 64-byte
//!   aligned, and a split load on every vector cost a third of the bandwidth with 8 rows),
//!   and prefetches run [`PREFETCH_AHEAD`] bytes ahead of the reads of `W`.
//! - more rows: strips of [`NR`] rows of `W`, each kept in L1 while blocks of [`MR`] rows of
//!   `A` run over it, with the next strip prefetched over the strip's tiles.

use core::arch::x86_64::*;
use core::cell::Cell;
use core::marker::PhantomData;

use crate::element::Float;

/// The largest `m` the kernel takes: above it, packing `B` once pays for itself over
/// enough rows and the packed GEMM is faster (measured side by side: at k = n = 384 this
/// kernel was ahead up to m = 48 and behind at m = 64).
const MAX_M: usize = 48;
/// The smallest `k`: with shorter dot products the final reductions dominate.
const MIN_K: usize = 32;
/// The most rows the single-pass loop takes (all of them in one tile).
pub(super) const GEMV_MAX_M: usize = 8;
/// Rows of `A` per tile of the strip loop.
const MR: usize = 3;
/// Columns of `C` (rows of `Bᵀ`) per tile of the strip loop.
const NR: usize = 4;
/// How far ahead of its reads of `W` the single-pass loop prefetches: 16 KiB (measured on
/// AMD EPYC Zen 5 with 8 rows: 39 GB/s against 17 with the prefetch one strip ahead, 27
/// with 8 KiB).
const PREFETCH_AHEAD: usize = 16 << 10;

/// The vector width of the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Width {
    /// AVX2 + FMA, 256-bit vectors.
    Ymm,
    /// AVX-512F, 512-bit vectors.
    Zmm,
}

impl Width {
    /// Whether this CPU runs it.
    #[inline]
    pub(super) fn available(self) -> bool {
        match self {
            Width::Ymm => super::micro::has_avx2_fma(),
            Width::Zmm => super::micro::has_avx512(),
        }
    }
}

/// Whether the kernel takes this product: few rows, `A`'s rows and `B`'s columns
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
        && Width::Ymm.available()
}

/// The vectors of one width and element type. Every method is `#[inline(always)]`, so it is
/// compiled inside its width's `#[target_feature]` frame, and `unsafe`: its caller
/// guarantees the CPU has the width's features (AVX2 and FMA, or AVX-512F).
pub(super) trait Lanes {
    /// The element type.
    type E: Float;
    /// The vector type.
    type V: Copy;
    /// What [`combine`](Self::combine) needs to know of an offset.
    type I: Copy;
    /// Lanes per vector.
    const LANES: usize;
    /// Vector registers of the ISA (16 or 32): the single-pass loop sizes its tile by it.
    const REGS: usize;
    /// All lanes zero.
    ///
    /// # Safety
    /// The width's features are available.
    unsafe fn vzero() -> Self::V;
    /// `count ≤ LANES` elements from `p`, zeros in the lanes after them; nothing past
    /// `p + count` is read.
    ///
    /// # Safety
    /// `p .. p + count` valid for reads; the features available.
    unsafe fn load(p: *const Self::E, count: usize) -> Self::V;
    /// `LANES` elements from `p`, which is aligned to the vector's size.
    ///
    /// # Safety
    /// `p .. p + LANES` valid for reads and `p` aligned to `LANES` elements; the features
    /// available.
    unsafe fn load_aligned(p: *const Self::E) -> Self::V;
    /// The lanes `off ..` of the aligned vector at `p` (zeros in the lanes before `off`,
    /// which are not read).
    ///
    /// # Safety
    /// `p + off .. p + LANES` valid for reads, `p` aligned to `LANES` elements, `off < LANES`;
    /// the features available.
    unsafe fn load_aligned_from(p: *const Self::E, off: usize) -> Self::V;
    /// The index of [`combine`](Self::combine) for `off < LANES`.
    ///
    /// # Safety
    /// The features available.
    unsafe fn index(off: usize) -> Self::I;
    /// Lane `i` of the result is lane `off + i` of `lo` followed by `hi` (`off` as given to
    /// [`index`](Self::index)): the unaligned vector at `p + off` from the aligned ones at
    /// `p` and `p + LANES`.
    ///
    /// # Safety
    /// The features available.
    unsafe fn combine(lo: Self::V, hi: Self::V, idx: Self::I) -> Self::V;
    /// `a·b + c`, lane by lane.
    ///
    /// # Safety
    /// The features available.
    unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// The four horizontal sums `[Σv[0], Σv[1], Σv[2], Σv[3]]`, each by a tree fixed for
    /// the width (it does not depend on the other three vectors).
    ///
    /// # Safety
    /// The features available.
    unsafe fn hsum4(v: [Self::V; 4]) -> [Self::E; 4];
}

/// The AVX2 + FMA vectors of `E`.
pub(super) struct Ymm<E>(PhantomData<E>);
/// The AVX-512F vectors of `E`.
pub(super) struct Zmm<E>(PhantomData<E>);

impl Lanes for Ymm<f32> {
    type E = f32;
    type V = __m256;
    /// The lane indices `off + i` (their low 3 bits pick the lane, their bit 3 the vector)
    /// and the lanes that come from `hi`.
    type I = (__m256i, __m256);
    const LANES: usize = 8;
    const REGS: usize = 16;
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
    unsafe fn load_aligned(p: *const f32) -> __m256 {
        // SAFETY: `p` is 32-byte aligned and its 8 elements readable (the contract).
        unsafe { _mm256_load_ps(p) }
    }
    #[inline(always)]
    unsafe fn load_aligned_from(p: *const f32, off: usize) -> __m256 {
        // SAFETY: the masked load reads only the lanes `i ≥ off`, readable by the contract,
        // and cannot fault in the others.
        unsafe {
            let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            let mask = _mm256_cmpgt_epi32(idx, _mm256_set1_epi32(off as i32 - 1));
            _mm256_maskload_ps(p, mask)
        }
    }
    #[inline(always)]
    unsafe fn index(off: usize) -> (__m256i, __m256) {
        // SAFETY: AVX2 is available (the contract); registers only.
        unsafe {
            let idx = _mm256_add_epi32(
                _mm256_set1_epi32(off as i32),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            );
            let from_hi = _mm256_castsi256_ps(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(7)));
            (idx, from_hi)
        }
    }
    #[inline(always)]
    unsafe fn combine(lo: __m256, hi: __m256, (idx, from_hi): (__m256i, __m256)) -> __m256 {
        // SAFETY: AVX2 is available (the contract); registers only. `permutevar8x32` reads
        // the low 3 bits of each index.
        unsafe {
            _mm256_blendv_ps(
                _mm256_permutevar8x32_ps(lo, idx),
                _mm256_permutevar8x32_ps(hi, idx),
                from_hi,
            )
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

impl Lanes for Ymm<f64> {
    type E = f64;
    type V = __m256d;
    /// As for f32, on the two 32-bit halves of each f64 lane.
    type I = (__m256i, __m256d);
    const LANES: usize = 4;
    const REGS: usize = 16;
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
    unsafe fn load_aligned(p: *const f64) -> __m256d {
        // SAFETY: `p` is 32-byte aligned and its 4 elements readable (the contract).
        unsafe { _mm256_load_pd(p) }
    }
    #[inline(always)]
    unsafe fn load_aligned_from(p: *const f64, off: usize) -> __m256d {
        // SAFETY: the masked load reads only the lanes `i ≥ off`.
        unsafe {
            let idx = _mm256_setr_epi64x(0, 1, 2, 3);
            let mask = _mm256_cmpgt_epi64(idx, _mm256_set1_epi64x(off as i64 - 1));
            _mm256_maskload_pd(p, mask)
        }
    }
    #[inline(always)]
    unsafe fn index(off: usize) -> (__m256i, __m256d) {
        // SAFETY: AVX2 is available (the contract); registers only.
        unsafe {
            let o = 2 * off as i32;
            let idx = _mm256_add_epi32(
                _mm256_set1_epi32(o),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            );
            let from_hi = _mm256_castsi256_pd(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(7)));
            (idx, from_hi)
        }
    }
    #[inline(always)]
    unsafe fn combine(lo: __m256d, hi: __m256d, (idx, from_hi): (__m256i, __m256d)) -> __m256d {
        // SAFETY: AVX2 is available (the contract); registers only. Each f64 lane moves as
        // its two 32-bit halves, both with the same "from hi" bit.
        unsafe {
            let l = _mm256_castps_pd(_mm256_permutevar8x32_ps(_mm256_castpd_ps(lo), idx));
            let h = _mm256_castps_pd(_mm256_permutevar8x32_ps(_mm256_castpd_ps(hi), idx));
            _mm256_blendv_pd(l, h, from_hi)
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

impl Lanes for Zmm<f32> {
    type E = f32;
    type V = __m512;
    /// The lane indices `off + i` (bit 4 picks `hi`).
    type I = __m512i;
    const LANES: usize = 16;
    const REGS: usize = 32;
    #[inline(always)]
    unsafe fn vzero() -> __m512 {
        // SAFETY: AVX-512F is available (the contract).
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32, count: usize) -> __m512 {
        // SAFETY: `p .. p + count` readable (the contract); the masked load reads nothing
        // (and cannot fault) in its disabled lanes `≥ count`.
        unsafe {
            if count == 16 {
                _mm512_loadu_ps(p)
            } else {
                _mm512_maskz_loadu_ps(((1u32 << count) - 1) as __mmask16, p)
            }
        }
    }
    #[inline(always)]
    unsafe fn load_aligned(p: *const f32) -> __m512 {
        // SAFETY: `p` is 64-byte aligned and its 16 elements readable (the contract).
        unsafe { _mm512_load_ps(p) }
    }
    #[inline(always)]
    unsafe fn load_aligned_from(p: *const f32, off: usize) -> __m512 {
        // SAFETY: the masked aligned load reads only the lanes `i ≥ off`.
        unsafe { _mm512_maskz_load_ps((0xffffu32 << off) as __mmask16, p) }
    }
    #[inline(always)]
    unsafe fn index(off: usize) -> __m512i {
        // SAFETY: AVX-512F is available (the contract); registers only.
        unsafe {
            _mm512_add_epi32(
                _mm512_set1_epi32(off as i32),
                _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            )
        }
    }
    #[inline(always)]
    unsafe fn combine(lo: __m512, hi: __m512, idx: __m512i) -> __m512 {
        // SAFETY: AVX-512F is available (the contract); registers only.
        unsafe { _mm512_permutex2var_ps(lo, idx, hi) }
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: AVX-512F is available (the contract); registers only.
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn hsum4(v: [__m512; 4]) -> [f32; 4] {
        // SAFETY: AVX-512F is available (the contract); registers only.
        unsafe {
            [
                _mm512_reduce_add_ps(v[0]),
                _mm512_reduce_add_ps(v[1]),
                _mm512_reduce_add_ps(v[2]),
                _mm512_reduce_add_ps(v[3]),
            ]
        }
    }
}

impl Lanes for Zmm<f64> {
    type E = f64;
    type V = __m512d;
    /// The lane indices `off + i` (bit 3 picks `hi`).
    type I = __m512i;
    const LANES: usize = 8;
    const REGS: usize = 32;
    #[inline(always)]
    unsafe fn vzero() -> __m512d {
        // SAFETY: AVX-512F is available (the contract).
        unsafe { _mm512_setzero_pd() }
    }
    #[inline(always)]
    unsafe fn load(p: *const f64, count: usize) -> __m512d {
        // SAFETY: as for f32.
        unsafe {
            if count == 8 {
                _mm512_loadu_pd(p)
            } else {
                _mm512_maskz_loadu_pd(((1u32 << count) - 1) as __mmask8, p)
            }
        }
    }
    #[inline(always)]
    unsafe fn load_aligned(p: *const f64) -> __m512d {
        // SAFETY: `p` is 64-byte aligned and its 8 elements readable (the contract).
        unsafe { _mm512_load_pd(p) }
    }
    #[inline(always)]
    unsafe fn load_aligned_from(p: *const f64, off: usize) -> __m512d {
        // SAFETY: the masked aligned load reads only the lanes `i ≥ off`.
        unsafe { _mm512_maskz_load_pd((0xffu32 << off) as __mmask8, p) }
    }
    #[inline(always)]
    unsafe fn index(off: usize) -> __m512i {
        // SAFETY: AVX-512F is available (the contract); registers only.
        unsafe {
            _mm512_add_epi64(
                _mm512_set1_epi64(off as i64),
                _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7),
            )
        }
    }
    #[inline(always)]
    unsafe fn combine(lo: __m512d, hi: __m512d, idx: __m512i) -> __m512d {
        // SAFETY: AVX-512F is available (the contract); registers only.
        unsafe { _mm512_permutex2var_pd(lo, idx, hi) }
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m512d, b: __m512d, c: __m512d) -> __m512d {
        // SAFETY: AVX-512F is available (the contract); registers only.
        unsafe { _mm512_fmadd_pd(a, b, c) }
    }
    #[inline(always)]
    unsafe fn hsum4(v: [__m512d; 4]) -> [f64; 4] {
        // SAFETY: AVX-512F is available (the contract); registers only.
        unsafe {
            [
                _mm512_reduce_add_pd(v[0]),
                _mm512_reduce_add_pd(v[1]),
                _mm512_reduce_add_pd(v[2]),
                _mm512_reduce_add_pd(v[3]),
            ]
        }
    }
}

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

/// [`gemm_nt`] on AVX2 + FMA vectors.
///
/// # Safety
///
/// [`gemm_nt`]'s contract; the CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm_nt_ymm<T: Float>(
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
) where
    Ymm<T>: Lanes<E = T>,
{
    // SAFETY: the caller's contract, with the features of `Ymm` in this frame.
    unsafe { gemm_nt::<Ymm<T>>(m, k, n, alpha, a, rsa, b, csb, beta, c, rsc, csc) }
}

/// [`gemm_nt`] on AVX-512F vectors.
///
/// # Safety
///
/// [`gemm_nt`]'s contract; the CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm_nt_zmm<T: Float>(
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
) where
    Zmm<T>: Lanes<E = T>,
{
    // SAFETY: the caller's contract, with the features of `Zmm` in this frame.
    unsafe { gemm_nt::<Zmm<T>>(m, k, n, alpha, a, rsa, b, csb, beta, c, rsc, csc) }
}

/// `C[i·rsc + j·csc] = α·Σ_l A[i·rsa + l]·B[l + j·csb] + β·C[…]` for `i < m`, `j < n`,
/// `l < k`, on the vectors of `L`: the single-pass loop up to [`GEMV_MAX_M`] rows, the strip
/// loop above.
///
/// # Safety
///
/// The CPU has `L`'s features and this runs inside a frame compiled with them; every `A`,
/// `B` element named above is valid for reads and every `C` element for writes, distinct
/// for distinct `(i, j)` and aliasing neither operand; when β ≠ 0, `C` is initialised (with
/// β = 0 it is never read).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_nt<L: Lanes>(
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
    if m == 0 || n == 0 {
        return;
    }
    if m <= GEMV_MAX_M {
        // SAFETY: the caller's contract, which is `single_pass`'s.
        unsafe { single_pass::<L>(m, k, n, alpha, a, rsa, b, csb, beta, c, rsc, csc) };
        return;
    }
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

/// The single-pass loop for `m ≤ GEMV_MAX_M`: `A`'s rows copied into the aligned scratch,
/// then tiles of all `m` rows × `C` rows of `W`, `C` as many as the registers hold (the
/// accumulators, and per row of `W` its last aligned vector and its permute index, which on
/// AVX2 is two registers): on AVX-512 (32 registers) 8 for one row, 4 up to four rows, 2
/// above; on AVX2 (16) 4 for one row, 2 up to four, 1 above (2 rows × 4 spilled and ran at
/// 16 GB/s).
///
/// # Safety
///
/// As [`gemm_nt`], with `1 ≤ m ≤ GEMV_MAX_M`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn single_pass<L: Lanes>(
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
        1 => 8, 4;
        2 => 4, 2;
        3 => 4, 2;
        4 => 4, 2;
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

/// β = 0 means "C is not read" (it may be uninitialised, or NaN).
#[inline(always)]
fn beta_is_zero<T: Float>(beta: T) -> bool {
    beta == T::ZERO
}
