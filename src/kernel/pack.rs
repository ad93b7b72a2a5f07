//! Packing for the blocked GEMM (`blocked.rs`): a block of `A` into panels of `MR` rows, a
//! block of `B` into panels of `NR` columns, in the order the micro-kernels (`micro.rs`) read
//! them, zero-padded to whole panels.
//!
//! Panel `p` of an `A` block holds rows `p·MR .. p·MR + MR` as `kc` groups of `MR` values
//! (group `l` = column `l` of those rows); panel `q` of a `B` block holds columns
//! `q·NR .. q·NR + NR` as `kc` groups of `NR` values (group `l` = row `l`). Both are a
//! gather through strides with a contiguous fast path for each direction: when the packed
//! direction is contiguous in memory (`A` column-major, `B` row-major) a group is one copy;
//! when the other direction is (`A` row-major, `B = Wᵀ` with `W` row-major) each source row
//! is read once, contiguously, and scattered with stride `MR` or `NR` into the panel —
//! for f32 on an AVX2 CPU by 8 × 8 and 4 × 4 register transposes (`transpose_f32`), which
//! made the packing of a row-major `A` 2–3 times cheaper than the scalar scatter (perf: the
//! scalar packing was 11% of a 1024 × 256 × 256 `X·Wᵀ`).

use core::arch::x86_64::*;

use crate::element::{Float, Kind};

/// Packs the `rows × kc` block of a matrix (element `(i, l)` at `src + i·rs + l·cs`) into
/// panels of `w` rows (`A`'s packing with `w = MR`; `B`'s is the same on `Bᵀ`, with
/// `w = NR`): panel `p`, group `l`, lane `i` at `dst[p·w·kc + l·w + i]`, zero for rows past
/// `rows`.
///
/// # Safety
///
/// Every `src + i·rs + l·cs` (`i < rows`, `l < kc`) is valid for reads; `dst` is valid for
/// writes of `rows.div_ceil(w)·w·kc` elements and does not overlap the source.
pub(super) unsafe fn pack<T: Float>(
    w: usize,
    rows: usize,
    kc: usize,
    src: *const T,
    rs: usize,
    cs: usize,
    dst: *mut T,
) {
    let full = rows / w;
    let f32_lanes = T::KIND == Kind::F32 && w.is_multiple_of(4);
    // SAFETY: for the whole body: panel `p` occupies `dst[p·w·kc .. (p + 1)·w·kc]`, inside
    // the caller's `rows.div_ceil(w)·w·kc` elements, and each write below is at `l·w + i`
    // of a panel with `l < kc`, `i < w`; each read is `src + i·rs + l·cs` with `i < rows`
    // (`p·w + i` of a full panel, or a live row of the last one) and `l < kc`: the caller's
    // readable range. The f32 helpers are called only when `T` is f32 (its sealed `KIND`),
    // so the casts keep addresses and element type, on ranges of full panels.
    unsafe {
        if rs == 1 {
            // Each group is contiguous in the source: one short copy per group.
            for p in 0..full {
                let (from, to) = (src.add(p * w), dst.add(p * w * kc));
                for l in 0..kc {
                    if f32_lanes {
                        copy_f32(
                            w,
                            from.add(l * cs).cast::<f32>(),
                            to.add(l * w).cast::<f32>(),
                        );
                    } else {
                        core::ptr::copy_nonoverlapping(from.add(l * cs), to.add(l * w), w);
                    }
                }
            }
        } else if cs == 1 && T::KIND == Kind::F32 && super::micro::has_avx2_fma() {
            for p in 0..full {
                let panel = dst.add(p * w * kc).cast::<f32>();
                transpose_f32(w, kc, src.add(p * w * rs).cast::<f32>(), rs, panel);
            }
        } else {
            for p in 0..full {
                gather(w, w, kc, src.add(p * w * rs), rs, cs, dst.add(p * w * kc));
            }
        }
        if full * w < rows {
            let live = rows - full * w;
            gather(
                w,
                live,
                kc,
                src.add(full * w * rs),
                rs,
                cs,
                dst.add(full * w * kc),
            );
        }
    }
}

/// One panel, element by element: `dst[l·w + i] = src[i·rs + l·cs]` for `i < live`, zero
/// for `live ≤ i < w`.
///
/// # Safety
///
/// `src + i·rs + l·cs` readable for `i < live`, `l < kc`; `dst` writable for `w·kc`
/// elements, not overlapping the source.
unsafe fn gather<T: Float>(
    w: usize,
    live: usize,
    kc: usize,
    src: *const T,
    rs: usize,
    cs: usize,
    dst: *mut T,
) {
    // SAFETY: reads `src + i·rs + l·cs` with `i < live`, `l < kc`, writes `dst + l·w + i`
    // with `i < w`, `l < kc`: the caller's ranges.
    unsafe {
        if cs == 1 {
            // Each source row is contiguous along `l`: read it once, scatter by `w`.
            for i in 0..live {
                let from = src.add(i * rs);
                for l in 0..kc {
                    *dst.add(l * w + i) = *from.add(l);
                }
            }
            for i in live..w {
                for l in 0..kc {
                    *dst.add(l * w + i) = T::ZERO;
                }
            }
        } else {
            for l in 0..kc {
                let to = dst.add(l * w);
                for i in 0..w {
                    *to.add(i) = if i < live {
                        *src.add(i * rs + l * cs)
                    } else {
                        T::ZERO
                    };
                }
            }
        }
    }
}

/// Panel `dst[l·w + i] = src[i·rs + l]` for `i < w`, `l < kc` (rows contiguous along `l`):
/// blocks of 8 rows × 8 steps by an 8 × 8 transpose in registers, then blocks of 4 × 4, and
/// the rest (the last `w mod 4` rows, the last `kc mod 8` steps) element by element.
///
/// # Safety
///
/// The CPU has AVX2; `src + i·rs + l` is readable and `dst + l·w + i` writable for `i < w`,
/// `l < kc`, and the two do not overlap.
#[target_feature(enable = "avx2")]
unsafe fn transpose_f32(w: usize, kc: usize, src: *const f32, rs: usize, dst: *mut f32) {
    let k8 = kc / 8 * 8;
    // SAFETY: for the whole body: AVX2 is available; each load reads 8 (or 4) elements
    // `src + (r + i)·rs + l .. + 8` with `r + i < w` and `l + 8 ≤ k8 ≤ kc`; each store writes
    // 8 (or 4) elements `dst + (l + t)·w + r .. + 8` with `l + t < kc` and `r + 8 ≤ w`
    // (`r + 4 ≤ w`); the scalar loops index `i < w`, `l < kc`: all in the caller's ranges.
    unsafe {
        let mut r = 0;
        while r + 8 <= w {
            let mut l = 0;
            while l < k8 {
                let x: [__m256; 8] =
                    core::array::from_fn(|i| _mm256_loadu_ps(src.add((r + i) * rs + l)));
                let t0 = _mm256_unpacklo_ps(x[0], x[1]);
                let t1 = _mm256_unpackhi_ps(x[0], x[1]);
                let t2 = _mm256_unpacklo_ps(x[2], x[3]);
                let t3 = _mm256_unpackhi_ps(x[2], x[3]);
                let t4 = _mm256_unpacklo_ps(x[4], x[5]);
                let t5 = _mm256_unpackhi_ps(x[4], x[5]);
                let t6 = _mm256_unpacklo_ps(x[6], x[7]);
                let t7 = _mm256_unpackhi_ps(x[6], x[7]);
                let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
                let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
                let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
                let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
                let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
                let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
                let out = [
                    _mm256_permute2f128_ps::<0x20>(s0, s4),
                    _mm256_permute2f128_ps::<0x20>(s1, s5),
                    _mm256_permute2f128_ps::<0x20>(s2, s6),
                    _mm256_permute2f128_ps::<0x20>(s3, s7),
                    _mm256_permute2f128_ps::<0x31>(s0, s4),
                    _mm256_permute2f128_ps::<0x31>(s1, s5),
                    _mm256_permute2f128_ps::<0x31>(s2, s6),
                    _mm256_permute2f128_ps::<0x31>(s3, s7),
                ];
                for (t, &o) in out.iter().enumerate() {
                    _mm256_storeu_ps(dst.add((l + t) * w + r), o);
                }
                l += 8;
            }
            r += 8;
        }
        while r + 4 <= w {
            let mut l = 0;
            while l < k8 {
                let x: [__m128; 4] =
                    core::array::from_fn(|i| _mm_loadu_ps(src.add((r + i) * rs + l)));
                let t0 = _mm_unpacklo_ps(x[0], x[1]);
                let t1 = _mm_unpacklo_ps(x[2], x[3]);
                let t2 = _mm_unpackhi_ps(x[0], x[1]);
                let t3 = _mm_unpackhi_ps(x[2], x[3]);
                let out = [
                    _mm_movelh_ps(t0, t1),
                    _mm_movehl_ps(t1, t0),
                    _mm_movelh_ps(t2, t3),
                    _mm_movehl_ps(t3, t2),
                ];
                for (t, &o) in out.iter().enumerate() {
                    _mm_storeu_ps(dst.add((l + t) * w + r), o);
                }
                l += 4;
            }
            r += 4;
        }
        for i in r..w {
            for l in 0..k8 {
                *dst.add(l * w + i) = *src.add(i * rs + l);
            }
        }
        for l in k8..kc {
            for i in 0..w {
                *dst.add(l * w + i) = *src.add(i * rs + l);
            }
        }
    }
}

/// `dst[i] = src[i]` for `i < w` (a multiple of 4), four lanes at a time (a `memcpy` call
/// per group of 12 values cost more than the copy).
///
/// # Safety
///
/// `src .. src + w` readable, `dst .. dst + w` writable, not overlapping.
#[inline(always)]
unsafe fn copy_f32(w: usize, src: *const f32, dst: *mut f32) {
    debug_assert!(w.is_multiple_of(4));
    // SAFETY: each load reads `src + i .. + 4` and each store writes `dst + i .. + 4` with
    // `i + 4 ≤ w`: the caller's ranges. SSE is part of x86-64.
    unsafe {
        let mut i = 0;
        while i < w {
            _mm_storeu_ps(dst.add(i), _mm_loadu_ps(src.add(i)));
            i += 4;
        }
    }
}
