//! [`Lanes`] on AVX-512F: 16 f32 or 8 f64 lanes in 32 registers; the unaligned vector of `W`
//! put together from two aligned ones by one two-source permute.

use core::arch::x86_64::*;

use super::{Lanes, Zmm};

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
