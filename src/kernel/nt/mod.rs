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
//!
//! The files: this one holds the width ([`Width`]), the vector trait ([`Lanes`]) the loops
//! are written over once, and the entries; `ymm.rs` and `zmm.rs` implement the trait for
//! AVX2 + FMA and AVX-512F (f32 and f64 each); `pass.rs` is the single-pass loop, `strip.rs`
//! the strip loop.

use core::marker::PhantomData;

use crate::element::Float;

mod pass;
mod strip;
mod ymm;
mod zmm;

/// The largest `m` the kernel takes: above it, packing `B` once pays for itself over
/// enough rows and the packed GEMM is faster (measured side by side: at k = n = 384 this
/// kernel was ahead up to m = 48 and behind at m = 64).
pub(super) const MAX_M: usize = 48;
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
        unsafe { pass::single_pass::<L>(m, k, n, alpha, a, rsa, b, csb, beta, c, rsc, csc) };
        return;
    }
    // SAFETY: the caller's contract, which is `strips`'s.
    unsafe { strip::strips::<L>(m, k, n, alpha, a, rsa, b, csb, beta, c, rsc, csc) };
}

/// β = 0 means "C is not read" (it may be uninitialised, or NaN).
#[inline(always)]
fn beta_is_zero<T: Float>(beta: T) -> bool {
    beta == T::ZERO
}
