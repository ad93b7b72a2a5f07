//! [`Lanes`] on AVX2 + FMA: 8 f32 or 4 f64 lanes in 16 registers; the unaligned vector of
//! `W` put together from two aligned ones by two one-source permutes and a blend.

use core::arch::x86_64::*;

use super::{Lanes, Ymm};

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
