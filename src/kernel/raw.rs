//! The raw product on pointers and strides, dispatched on the element type: the few-rows
//! kernel of `nt.rs` when it takes the product, matrixmultiply otherwise.

use crate::element::{Float, Kind};

/// `C = α·A·B + β·C` in the raw strided format (see the [module](super) documentation); with
/// β = 0, `C` is written, never read (it may be uninitialised, or NaN).
///
/// # Safety
///
/// For `i < m`, `l < k`, `j < n`: `a + i·rsa + l·csa` and `b + l·rsb + j·csb` must be valid
/// for reads, and `c + i·rsc + j·csc` valid for writes, pairwise distinct for distinct
/// `(i, j)` and not aliasing `a` or `b`; when β ≠ 0, `C` must also be valid for reads and
/// initialised.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(super) unsafe fn gemm<T: Float>(
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
) {
    // `T::KIND` is a constant, so each monomorphisation keeps one arm. The scalars go through
    // `f64`, exactly for both types (the round trip of an f32 is the identity).
    match T::KIND {
        // SAFETY: `Float` is sealed and only `f32` has `KIND = F32`, so `T` is `f32` and the
        // casts keep every pointer's address and element type; the caller upholds this
        // function's contract, which is `gemm_f32`'s.
        Kind::F32 => unsafe {
            gemm_f32(
                m,
                k,
                n,
                alpha.to_f64() as f32,
                a.cast::<f32>(),
                rsa,
                csa,
                b.cast::<f32>(),
                rsb,
                csb,
                beta.to_f64() as f32,
                c.cast::<f32>(),
                rsc,
                csc,
            )
        },
        // SAFETY: as above: only `f64` has `KIND = F64`, so `T` is `f64`.
        Kind::F64 => unsafe {
            gemm_f64(
                m,
                k,
                n,
                alpha.to_f64(),
                a.cast::<f64>(),
                rsa,
                csa,
                b.cast::<f64>(),
                rsb,
                csb,
                beta.to_f64(),
                c.cast::<f64>(),
                rsc,
                csc,
            )
        },
    }
}

macro_rules! typed_gemm {
    ($name:ident, $t:ty, $f:path) => {
        /// [`gemm`] for one element type.
        ///
        /// # Safety
        ///
        /// [`gemm`]'s contract.
        #[allow(clippy::too_many_arguments)]
        #[inline]
        unsafe fn $name(
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
            if super::nt::eligible(m, k, rsa, csa, rsb, csb, rsc, csc) {
                // SAFETY: `eligible` checked that the CPU has AVX2 and FMA (the target
                // features of `gemm_nt`), that csa = rsb = 1 and that the other strides
                // are non-negative, so the casts to usize keep their values; the caller
                // upholds the rest of `gemm_nt`'s contract, which is this function's.
                unsafe {
                    super::nt::gemm_nt::<$t>(
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
    };
}

typed_gemm!(gemm_f32, f32, matrixmultiply::sgemm);
typed_gemm!(gemm_f64, f64, matrixmultiply::dgemm);
