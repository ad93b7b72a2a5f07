//! The micro-kernels of the packed GEMM (`blocked.rs`): one `MR × NR` tile of
//! `C = α·A·B + β·C` from a packed panel of `A` (`MR` rows, interleaved: `MR` values per step
//! of `k`) and a packed panel of `B` (`NR` columns, `NR` contiguous values per step of `k`).
//!
//! Each kernel is straight-line code on local accumulators: per step of `k` it loads the
//! `NR / LANES` vectors of `B`, broadcasts each of the `MR` values of `A` and issues
//! `MR · NR / LANES` FMAs into accumulators that stay in registers for the whole panel. The
//! shapes, chosen so that the accumulators, the `B` vectors and a broadcast fit in the
//! register file with none spilled:
//!
//! | kernel | ISA | f32 | f64 | accumulators + B + broadcast |
//! |---|---|---|---|---|
//! | [`Avx512`] | AVX-512F (32 zmm) | 12 × 32 | 12 × 16 | 24 + 2 + 1 zmm |
//! | [`Avx2`] | AVX2 + FMA (16 ymm) | 6 × 16 | 6 × 8 | 12 + 2 + 1 ymm |
//!
//! 12 × 32 is BLIS's `skx` sgemm tile (32 × 12 there, column-major) seen from row-major `C`:
//! 24 independent accumulators hide the 4-cycle FMA latency of two FMA pipes (8 would do),
//! and two vector loads plus twelve broadcasts (folded into the FMAs as embedded
//! broadcasts) per 24 FMAs leave the load ports idle half the time. 14 × 32 (28
//! accumulators) would load a little less per FMA but pads more rows at the edges of the
//! training shapes (m = 256, 688, 1024) and leaves one spare register. 6 × 16 is BLIS's
//! `haswell` tile.
//!
//! Edges use the same kernel: the packs are zero-padded to `MR` rows and `NR` columns, the
//! whole tile is computed, and only the `mr × nr` corner is written back, with masked loads
//! and stores (AVX-512 mask registers, AVX2 `vmaskmov`): no scratch tile. Every element of
//! `C` therefore sees the same operations in the same order of `k` wherever it lies in a
//! tile, which is what makes the result independent of how the product is split.
//!
//! The write-back is `C = α·acc` when β = 0 (then `C` is never read: it may be NaN or
//! uninitialised) and `C = fma(α, acc, β·C)` otherwise; a fused bias row `b` stands in for
//! `β·C` (`C = fma(α, acc, b)`), which is what a `C` prefilled with the bias and β = 1 gives.

use core::arch::x86_64::*;

/// The vector operations a micro-kernel needs, for one ISA and element type. Every method is
/// `#[inline(always)]` so that it compiles inside its kernel's `#[target_feature]` frame, and
/// `unsafe`: the caller guarantees the CPU has the ISA.
pub(super) trait Simd {
    /// The element type.
    type E: Copy;
    /// One vector of `LANES` elements.
    type V: Copy;
    /// Which lanes of a vector a masked load or store touches.
    type M: Copy;
    /// Elements per vector.
    const LANES: usize;
    /// All lanes zero.
    ///
    /// # Safety
    /// The ISA is available.
    unsafe fn zero() -> Self::V;
    /// `x` in every lane.
    ///
    /// # Safety
    /// The ISA is available.
    unsafe fn splat(x: Self::E) -> Self::V;
    /// `LANES` elements from `p`.
    ///
    /// # Safety
    /// The ISA is available; `p .. p + LANES` is valid for reads.
    unsafe fn load(p: *const Self::E) -> Self::V;
    /// Stores `LANES` elements at `p`.
    ///
    /// # Safety
    /// The ISA is available; `p .. p + LANES` is valid for writes.
    unsafe fn store(p: *mut Self::E, v: Self::V);
    /// The mask of the first `count ≤ LANES` lanes.
    ///
    /// # Safety
    /// The ISA is available.
    unsafe fn mask(count: usize) -> Self::M;
    /// The lanes of `m` from `p`, zero in the others; nothing outside the lanes of `m` is
    /// read (and nothing there can fault).
    ///
    /// # Safety
    /// The ISA is available; the elements of `p` in the lanes of `m` are valid for reads.
    unsafe fn load_masked(p: *const Self::E, m: Self::M) -> Self::V;
    /// Stores the lanes of `m` at `p`; nothing outside them is written.
    ///
    /// # Safety
    /// The ISA is available; the elements of `p` in the lanes of `m` are valid for writes.
    unsafe fn store_masked(p: *mut Self::E, v: Self::V, m: Self::M);
    /// `a·b + c`, rounded once.
    ///
    /// # Safety
    /// The ISA is available.
    unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a·b`.
    ///
    /// # Safety
    /// The ISA is available.
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
}

/// AVX-512F vectors of `E` (16 f32 or 8 f64 lanes).
#[derive(Clone, Copy, Debug)]
pub(super) struct Zmm<E>(core::marker::PhantomData<E>);

/// AVX2 + FMA vectors of `E` (8 f32 or 4 f64 lanes).
#[derive(Clone, Copy, Debug)]
pub(super) struct Ymm<E>(core::marker::PhantomData<E>);

impl Simd for Zmm<f32> {
    type E = f32;
    type V = __m512;
    type M = __mmask16;
    const LANES: usize = 16;
    #[inline(always)]
    unsafe fn zero() -> __m512 {
        // SAFETY: AVX-512F is available (the contract); registers only.
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m512 {
        // SAFETY: as above.
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        // SAFETY: AVX-512F is available and the 16 elements from `p` readable (the contract).
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512) {
        // SAFETY: AVX-512F is available and the 16 elements from `p` writable (the contract).
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn mask(count: usize) -> __mmask16 {
        debug_assert!(count <= 16);
        ((1u32 << count) - 1) as __mmask16
    }
    #[inline(always)]
    unsafe fn load_masked(p: *const f32, m: __mmask16) -> __m512 {
        // SAFETY: AVX-512F is available; a masked load reads (and can fault on) only the lanes
        // of `m`, which the contract makes readable.
        unsafe { _mm512_maskz_loadu_ps(m, p) }
    }
    #[inline(always)]
    unsafe fn store_masked(p: *mut f32, v: __m512, m: __mmask16) {
        // SAFETY: AVX-512F is available; a masked store writes only the lanes of `m`, which
        // the contract makes writable.
        unsafe { _mm512_mask_storeu_ps(p, m, v) }
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: AVX-512F is available; registers only.
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m512, b: __m512) -> __m512 {
        // SAFETY: as above.
        unsafe { _mm512_mul_ps(a, b) }
    }
}

impl Simd for Zmm<f64> {
    type E = f64;
    type V = __m512d;
    type M = __mmask8;
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn zero() -> __m512d {
        // SAFETY: AVX-512F is available (the contract); registers only.
        unsafe { _mm512_setzero_pd() }
    }
    #[inline(always)]
    unsafe fn splat(x: f64) -> __m512d {
        // SAFETY: as above.
        unsafe { _mm512_set1_pd(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f64) -> __m512d {
        // SAFETY: AVX-512F is available and the 8 elements from `p` readable (the contract).
        unsafe { _mm512_loadu_pd(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f64, v: __m512d) {
        // SAFETY: AVX-512F is available and the 8 elements from `p` writable (the contract).
        unsafe { _mm512_storeu_pd(p, v) }
    }
    #[inline(always)]
    unsafe fn mask(count: usize) -> __mmask8 {
        debug_assert!(count <= 8);
        ((1u32 << count) - 1) as __mmask8
    }
    #[inline(always)]
    unsafe fn load_masked(p: *const f64, m: __mmask8) -> __m512d {
        // SAFETY: AVX-512F is available; a masked load reads only the lanes of `m`, which the
        // contract makes readable.
        unsafe { _mm512_maskz_loadu_pd(m, p) }
    }
    #[inline(always)]
    unsafe fn store_masked(p: *mut f64, v: __m512d, m: __mmask8) {
        // SAFETY: AVX-512F is available; a masked store writes only the lanes of `m`, which
        // the contract makes writable.
        unsafe { _mm512_mask_storeu_pd(p, m, v) }
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m512d, b: __m512d, c: __m512d) -> __m512d {
        // SAFETY: AVX-512F is available; registers only.
        unsafe { _mm512_fmadd_pd(a, b, c) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m512d, b: __m512d) -> __m512d {
        // SAFETY: as above.
        unsafe { _mm512_mul_pd(a, b) }
    }
}

impl Simd for Ymm<f32> {
    type E = f32;
    type V = __m256;
    type M = __m256i;
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn zero() -> __m256 {
        // SAFETY: AVX is available (the contract); registers only.
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m256 {
        // SAFETY: as above.
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        // SAFETY: AVX is available and the 8 elements from `p` readable (the contract).
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m256) {
        // SAFETY: AVX is available and the 8 elements from `p` writable (the contract).
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn mask(count: usize) -> __m256i {
        // SAFETY: AVX2 is available (the contract); registers only.
        unsafe {
            let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            _mm256_cmpgt_epi32(_mm256_set1_epi32(count as i32), idx)
        }
    }
    #[inline(always)]
    unsafe fn load_masked(p: *const f32, m: __m256i) -> __m256 {
        // SAFETY: AVX is available; `vmaskmovps` reads (and can fault on) only the lanes of
        // `m`, which the contract makes readable.
        unsafe { _mm256_maskload_ps(p, m) }
    }
    #[inline(always)]
    unsafe fn store_masked(p: *mut f32, v: __m256, m: __m256i) {
        // SAFETY: AVX is available; `vmaskmovps` writes only the lanes of `m`, which the
        // contract makes writable.
        unsafe { _mm256_maskstore_ps(p, m, v) }
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: FMA is available; registers only.
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m256, b: __m256) -> __m256 {
        // SAFETY: AVX is available; registers only.
        unsafe { _mm256_mul_ps(a, b) }
    }
}

impl Simd for Ymm<f64> {
    type E = f64;
    type V = __m256d;
    type M = __m256i;
    const LANES: usize = 4;
    #[inline(always)]
    unsafe fn zero() -> __m256d {
        // SAFETY: AVX is available (the contract); registers only.
        unsafe { _mm256_setzero_pd() }
    }
    #[inline(always)]
    unsafe fn splat(x: f64) -> __m256d {
        // SAFETY: as above.
        unsafe { _mm256_set1_pd(x) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f64) -> __m256d {
        // SAFETY: AVX is available and the 4 elements from `p` readable (the contract).
        unsafe { _mm256_loadu_pd(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f64, v: __m256d) {
        // SAFETY: AVX is available and the 4 elements from `p` writable (the contract).
        unsafe { _mm256_storeu_pd(p, v) }
    }
    #[inline(always)]
    unsafe fn mask(count: usize) -> __m256i {
        // SAFETY: AVX2 is available (the contract); registers only.
        unsafe {
            let idx = _mm256_setr_epi64x(0, 1, 2, 3);
            _mm256_cmpgt_epi64(_mm256_set1_epi64x(count as i64), idx)
        }
    }
    #[inline(always)]
    unsafe fn load_masked(p: *const f64, m: __m256i) -> __m256d {
        // SAFETY: AVX is available; `vmaskmovpd` reads only the lanes of `m`, which the
        // contract makes readable.
        unsafe { _mm256_maskload_pd(p, m) }
    }
    #[inline(always)]
    unsafe fn store_masked(p: *mut f64, v: __m256d, m: __m256i) {
        // SAFETY: AVX is available; `vmaskmovpd` writes only the lanes of `m`, which the
        // contract makes writable.
        unsafe { _mm256_maskstore_pd(p, m, v) }
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m256d, b: __m256d, c: __m256d) -> __m256d {
        // SAFETY: FMA is available; registers only.
        unsafe { _mm256_fmadd_pd(a, b, c) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: AVX is available; registers only.
        unsafe { _mm256_mul_pd(a, b) }
    }
}

/// What one call of a micro-kernel computes: the tile of `C` at `c` (row stride `rsc`,
/// column stride 1), of which the `mr × nr` corner is written.
#[derive(Clone, Copy)]
pub(super) struct TileArgs<E> {
    /// Steps of `k` in both panels.
    pub(super) kc: usize,
    /// The packed `A` panel: `kc` groups of `MR` values.
    pub(super) a: *const E,
    /// The packed `B` panel: `kc` groups of `NR` values.
    pub(super) b: *const E,
    /// The tile's first element of `C`.
    pub(super) c: *mut E,
    /// `C`'s row stride.
    pub(super) rsc: usize,
    /// Rows of the tile that are in `C` (`1 ≤ mr ≤ MR`).
    pub(super) mr: usize,
    /// Columns of the tile that are in `C` (`1 ≤ nr ≤ NR`).
    pub(super) nr: usize,
    /// α.
    pub(super) alpha: E,
    /// β (ignored when `beta_zero`).
    pub(super) beta: E,
    /// Whether β = 0: then `C` is written and never read.
    pub(super) beta_zero: bool,
    /// A row of `nr` values that stands in for `β·C` in every row of the tile (the bias of
    /// a fused epilogue, on the first block of `k`), or null.
    pub(super) init: *const E,
}

/// One `MR × (NV·LANES)` tile: see the [module](self) documentation.
///
/// # Safety
///
/// The ISA of `S` is available; `t.a` is readable for `kc·MR` elements and `t.b` for
/// `kc·NV·LANES`; `C`'s elements `t.c + i·rsc + j` (`i < mr`, `j < nr`) are valid for writes
/// and, unless `beta_zero`, for reads and initialised; `mr ≤ MR`, `nr ≤ NV·LANES`; `t.init`
/// is null or readable for `nr` elements.
#[inline(always)]
unsafe fn tile<S: Simd, const MR: usize, const NV: usize>(t: TileArgs<S::E>) {
    let lanes = S::LANES;
    // SAFETY: for the whole body: the ISA is available (the contract); the panel reads stay
    // below `kc·MR` and `kc·NV·LANES` elements (step `l < kc` reads `a[l·MR .. l·MR + MR]`
    // and `b[l·NR .. l·NR + NR]`); the write-back touches only `C`'s `mr × nr` corner: full
    // vectors when the tile is whole, masked ones (lanes `< nr − v·LANES`) otherwise, and
    // rows `i < mr`; `C` is read only when β ≠ 0 and there is no `init` row, which is read
    // (when not null) over the same `nr` lanes.
    unsafe {
        let mut acc = [[S::zero(); NV]; MR];
        let (mut a, mut b) = (t.a, t.b);
        for _ in 0..t.kc {
            let mut bv = [S::zero(); NV];
            for (v, bv) in bv.iter_mut().enumerate() {
                *bv = S::load(b.add(v * lanes));
            }
            for (i, acc) in acc.iter_mut().enumerate() {
                let ai = S::splat(*a.add(i));
                for (acc, &bv) in acc.iter_mut().zip(&bv) {
                    *acc = S::fmadd(ai, bv, *acc);
                }
            }
            a = a.add(MR);
            b = b.add(NV * lanes);
        }

        let alpha = S::splat(t.alpha);
        let beta = S::splat(t.beta);
        if t.mr == MR && t.nr == NV * lanes {
            for (i, acc) in acc.iter().enumerate() {
                let row = t.c.add(i * t.rsc);
                for (v, &x) in acc.iter().enumerate() {
                    let p = row.add(v * lanes);
                    let y = if !t.init.is_null() {
                        S::fmadd(alpha, x, S::load(t.init.add(v * lanes)))
                    } else if t.beta_zero {
                        S::mul(alpha, x)
                    } else {
                        S::fmadd(alpha, x, S::mul(beta, S::load(p)))
                    };
                    S::store(p, y);
                }
            }
        } else {
            for (i, acc) in acc.iter().enumerate().take(t.mr) {
                let row = t.c.add(i * t.rsc);
                for (v, &x) in acc.iter().enumerate() {
                    let Some(left) = t.nr.checked_sub(v * lanes).filter(|&l| l > 0) else {
                        break;
                    };
                    let m = S::mask(left.min(lanes));
                    let p = row.add(v * lanes);
                    let y = if !t.init.is_null() {
                        S::fmadd(alpha, x, S::load_masked(t.init.add(v * lanes), m))
                    } else if t.beta_zero {
                        S::mul(alpha, x)
                    } else {
                        S::fmadd(alpha, x, S::mul(beta, S::load_masked(p, m)))
                    };
                    S::store_masked(p, y, m);
                }
            }
        }
    }
}

/// A micro-kernel with its tile and its cache blocking. `KC` steps of `k` per panel, `MC`
/// rows of `A` per packed block (a multiple of `MR`), `NC` columns of `B` per packed block (a
/// multiple of `NR`).
pub(super) trait Kernel {
    /// The element type.
    type E: crate::element::Float;
    /// Rows of a tile.
    const MR: usize;
    /// Columns of a tile.
    const NR: usize;
    /// Steps of `k` per packed panel.
    const KC: usize;
    /// Rows of `A` per packed block.
    const MC: usize;
    /// Columns of `B` per packed block.
    const NC: usize;
    /// Whether this CPU runs the kernel.
    fn available() -> bool;
    /// One tile (see [`TileArgs`]).
    ///
    /// # Safety
    ///
    /// [`available`](Self::available) is true; the panels and `C` are as [`TileArgs`] says,
    /// with `MR` and `NR` of this kernel.
    unsafe fn tile(t: TileArgs<Self::E>);
}

/// The AVX-512F kernels (12 × 32 f32, 12 × 16 f64).
#[derive(Clone, Copy, Debug)]
pub(super) struct Avx512<E>(core::marker::PhantomData<E>);

/// The AVX2 + FMA kernels (6 × 16 f32, 6 × 8 f64).
#[derive(Clone, Copy, Debug)]
pub(super) struct Avx2<E>(core::marker::PhantomData<E>);

/// Whether this CPU has AVX-512F (detected once by std, then a load).
#[inline]
pub(super) fn has_avx512() -> bool {
    std::is_x86_feature_detected!("avx512f")
}

/// Whether this CPU has AVX2 and FMA.
#[inline]
pub(super) fn has_avx2_fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// The panel width `NR` of `backend`'s packed-GEMM kernel for `T` (a prepacked operand's
/// layout, `prepack.rs`); 1 for matrixmultiply, which reads no prepacked operand.
pub(super) fn nr<T: crate::element::Float>(backend: super::raw::Backend) -> usize {
    use super::raw::Backend;
    use crate::element::Kind;
    match (backend, T::KIND) {
        (Backend::Avx512, Kind::F32) => <Avx512<f32> as Kernel>::NR,
        (Backend::Avx512, Kind::F64) => <Avx512<f64> as Kernel>::NR,
        (Backend::Avx2, Kind::F32) => <Avx2<f32> as Kernel>::NR,
        (Backend::Avx2, Kind::F64) => <Avx2<f64> as Kernel>::NR,
        (Backend::MatrixMultiply, _) => 1,
    }
}

macro_rules! kernel {
    ($ty:ident, $e:ty, $simd:ty, $features:literal, $has:path,
     mr = $mr:literal, nv = $nv:literal, kc = $kc:literal, mc = $mc:literal, nc = $nc:literal) => {
        impl Kernel for $ty<$e> {
            type E = $e;
            const MR: usize = $mr;
            const NR: usize = $nv * <$simd as Simd>::LANES;
            const KC: usize = $kc;
            const MC: usize = $mc;
            const NC: usize = $nc;
            #[inline]
            fn available() -> bool {
                $has()
            }
            #[inline]
            unsafe fn tile(t: TileArgs<$e>) {
                #[target_feature(enable = $features)]
                unsafe fn run(t: TileArgs<$e>) {
                    // SAFETY: the caller upholds `tile`'s contract with this kernel's MR and
                    // NR = NV·LANES, and the features enabled here are `available()`'s.
                    unsafe { tile::<$simd, $mr, $nv>(t) }
                }
                // SAFETY: `available()` holds (the contract), so the CPU has the features.
                unsafe { run(t) }
            }
        }
    };
}

// Blocking for a core with a 48 KiB L1d and a 1 MiB L2 (Zen 5; Intel's recent server cores
// have 48 KiB and 2 MiB): the B panel (KC × NR) stays in L1 while the A panels of a block
// (MC × KC) stream from L2; the packed block of B (KC × NC) lives in L2/L3.
kernel!(
    Avx512,
    f32,
    Zmm<f32>,
    "avx512f",
    has_avx512,
    mr = 12,
    nv = 2,
    kc = 256,
    mc = 192,
    nc = 2048
);
kernel!(
    Avx512,
    f64,
    Zmm<f64>,
    "avx512f",
    has_avx512,
    mr = 12,
    nv = 2,
    kc = 256,
    mc = 96,
    nc = 1024
);
kernel!(
    Avx2,
    f32,
    Ymm<f32>,
    "avx2,fma",
    has_avx2_fma,
    mr = 6,
    nv = 2,
    kc = 256,
    mc = 144,
    nc = 2048
);
kernel!(
    Avx2,
    f64,
    Ymm<f64>,
    "avx2,fma",
    has_avx2_fma,
    mr = 6,
    nv = 2,
    kc = 256,
    mc = 72,
    nc = 1024
);
