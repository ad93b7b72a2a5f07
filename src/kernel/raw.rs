//! The raw product on pointers and strides: which kernel takes a product ([`route`]), and the
//! product on that route, dispatched on the element type.
//!
//! The routes on x86-64, in order:
//! - `nt.rs`, the few-rows kernel reading both operands in place, for `x·Wᵀ` with `m ≤ 48`
//!   (see [`route`] for why it stays);
//! - the packed, blocked GEMM of `blocked.rs` with this CPU's micro-kernels (AVX-512F, else
//!   AVX2 + FMA);
//! - matrixmultiply: on other CPUs and architectures, for `k = 0`, a `C` whose columns are
//!   not contiguous or a small f64 product, everywhere when
//!   `SHAPECHECK_GEMM=matrixmultiply` is set, and by default in builds with debug
//!   assertions (see [`Backend`]).
//!
//! A product split over threads is routed block by block (`split.rs`), as before.

use std::sync::OnceLock;

use super::epilogue::Epilogue;
use super::prepack::PackedView;
use crate::element::{Float, Kind};

/// The kernels the large products run on: this CPU's best, unless the environment variable
/// `SHAPECHECK_GEMM` names another (`matrixmultiply`, `avx2`, `avx512`; a kernel the CPU
/// lacks falls back to the default).
///
/// In builds with debug assertions (`cargo test`, CI) the default is matrixmultiply: the dev
/// profile compiles matrixmultiply at opt-level 3 but this crate at 0, where our kernels ran
/// the MiniLM tests 2.4 times slower (10.5 s against 4.4 s). The kernel tests force each of
/// our micro-kernels explicitly, and `SHAPECHECK_GEMM=avx512` (or `avx2`) runs a debug build
/// on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// matrixmultiply's `sgemm`/`dgemm` (and the few-rows kernel where it applies).
    MatrixMultiply,
    /// The packed GEMM with the AVX2 + FMA micro-kernels.
    Avx2,
    /// The packed GEMM with the AVX-512F micro-kernels.
    Avx512,
}

impl Backend {
    /// The default backend: this CPU's best, or matrixmultiply with debug assertions on.
    fn default_here() -> Backend {
        if cfg!(debug_assertions) {
            return Backend::MatrixMultiply;
        }
        Backend::best()
    }

    /// The best backend of this CPU.
    fn best() -> Backend {
        #[cfg(target_arch = "x86_64")]
        {
            if super::micro::has_avx512() {
                return Backend::Avx512;
            }
            if super::micro::has_avx2_fma() {
                return Backend::Avx2;
            }
        }
        Backend::MatrixMultiply
    }

    /// Whether this CPU runs the backend.
    pub(crate) fn available(self) -> bool {
        match self {
            Backend::MatrixMultiply => true,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => super::micro::has_avx2_fma(),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => super::micro::has_avx512(),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The backend of this process: `SHAPECHECK_GEMM`'s choice if the CPU runs it, else the
    /// default; read once.
    pub(crate) fn current() -> Backend {
        #[cfg(test)]
        if let Some(b) = FORCED.get() {
            return b;
        }
        static CHOSEN: OnceLock<Backend> = OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let asked = match std::env::var("SHAPECHECK_GEMM").as_deref() {
                Ok("matrixmultiply") => Some(Backend::MatrixMultiply),
                Ok("avx2") => Some(Backend::Avx2),
                Ok("avx512") => Some(Backend::Avx512),
                Ok(other) => {
                    eprintln!(
                        "shapecheck: SHAPECHECK_GEMM={other:?} is not one of matrixmultiply, \
                         avx2, avx512; using the default kernels"
                    );
                    None
                }
                Err(_) => None,
            };
            asked
                .filter(|b| b.available())
                .unwrap_or_else(Backend::default_here)
        })
    }
}

#[cfg(test)]
thread_local! {
    /// The backend `Backend::current` returns on this thread inside `with_backend`.
    static FORCED: core::cell::Cell<Option<Backend>> = const { core::cell::Cell::new(None) };
}

/// Runs `f` with `backend` as this thread's [`Backend::current`] (every `Gemm::new` and pack
/// cache inside it uses it), for the tests of the layers above the kernels.
///
/// # Panics
///
/// When the CPU lacks `backend`.
#[cfg(test)]
pub(crate) fn with_backend<R>(backend: Backend, f: impl FnOnce() -> R) -> R {
    assert!(
        backend.available(),
        "{backend:?} needs a CPU feature this one lacks"
    );
    let old = FORCED.replace(Some(backend));
    let out = f();
    FORCED.set(old);
    out
}

/// The backends that make GEMM packs and that this CPU runs, with a printed note for
/// each it lacks (so their pack tests are skipped visibly, not silently).
#[cfg(test)]
pub(crate) fn packing_backends() -> Vec<Backend> {
    [Backend::Avx512, Backend::Avx2]
        .into_iter()
        .filter(|b| {
            let ok = b.available();
            if !ok {
                eprintln!("note: this CPU cannot run {b:?}; its packs were not tested");
            }
            ok
        })
        .collect()
}

/// The kernel one product runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Route {
    /// The few-rows `x·Wᵀ` kernel (`nt.rs`) on vectors of this width.
    #[cfg(target_arch = "x86_64")]
    Nt(super::nt::Width),
    /// The packed GEMM with the micro-kernels of an available `Backend::Avx2` or `Avx512`.
    #[cfg(target_arch = "x86_64")]
    Blocked(Backend),
    /// matrixmultiply.
    MatrixMultiply,
}

/// Products of up to this many rows may take the few-rows kernel, which reads `W` in place
/// (never a prepacked operand).
#[cfg(target_arch = "x86_64")]
pub(super) const FEW_ROWS_MAX_M: usize = super::nt::MAX_M;
/// No few-rows kernel off x86-64.
#[cfg(not(target_arch = "x86_64"))]
pub(super) const FEW_ROWS_MAX_M: usize = 0;

/// f64 products whose `k·n` is below this stay with matrixmultiply: at 64³ the 12 × 16 f64
/// tile pads 64 rows to 72 and ran 0.88–0.96 of matrixmultiply (1.15× ahead from 128³ up;
/// perf `matmul/f64/…`, AMD EPYC Zen 5). The bound is on `k·n`, not on `m`, so that it does
/// not make a row's result depend on how many rows share the product.
const F64_MIN_KN: usize = 1 << 14;

/// The route of an `m × k × n` product of `T` with these strides on `backend` (see the
/// [module](self) documentation).
///
/// The few-rows kernel takes the `x·Wᵀ` products of up to 48 rows on every backend: on one
/// row it is 4 times as fast as the packed GEMM (which pads the row to a 12-row tile and
/// packs all of `W`), and on 19 rows with weights out of cache (a MiniLM sentence) 18%
/// faster. Its sums are in another order than the packed kernel's, so a row's bits depend
/// on whether its product (or, split over threads, its block of rows) has more than 48
/// rows — as they did with matrixmultiply before. A batch-invariant route needs a few-rows
/// kernel with the packed kernel's order of operations, or prepacked weights.
#[allow(clippy::too_many_arguments)]
pub(super) fn route<T: Float>(
    backend: Backend,
    (m, k, n): (usize, usize, usize),
    rsa: isize,
    csa: isize,
    rsb: isize,
    csb: isize,
    rsc: isize,
    csc: isize,
) -> Route {
    #[cfg(target_arch = "x86_64")]
    {
        if super::nt::eligible(m, k, rsa, csa, rsb, csb, rsc, csc) {
            // AVX-512 vectors on the AVX-512 backend; AVX2 on the others (matrixmultiply
            // has no few-rows kernel of its own).
            let width = if backend == Backend::Avx512 && backend.available() {
                super::nt::Width::Zmm
            } else {
                super::nt::Width::Ymm
            };
            return Route::Nt(width);
        }
        if backend == Backend::MatrixMultiply || !backend.available() {
            return Route::MatrixMultiply;
        }
        let strides_ok = rsa >= 0 && csa >= 0 && rsb >= 0 && csb >= 0 && rsc >= 0 && csc == 1;
        let small_f64 = T::KIND == Kind::F64 && k.saturating_mul(n) < F64_MIN_KN;
        if k > 0 && strides_ok && !small_f64 {
            return Route::Blocked(backend);
        }
    }
    let _ = (backend, m, k, n, rsa, csa, rsb, csb, rsc, csc);
    Route::MatrixMultiply
}

/// `C = α·A·B + β·C` in the raw strided format (see the [module](super) documentation) on
/// `route`, then the epilogue `epi` (whose bias replaces `β·C`); with β = 0 and no bias,
/// `C` is written, never read (it may be uninitialised, or NaN). The packed route runs on up
/// to `threads` threads (the same bits for any number); the others on this one.
///
/// # Safety
///
/// `route` is what [`route`] returns for this product's `m`, `k` and strides (on any
/// backend). For `i < m`, `l < k`, `j < n`: `a + i·rsa + l·csa` and `b + l·rsb + j·csb` must
/// be valid for reads, and `c + i·rsc + j·csc` valid for writes, pairwise distinct for
/// distinct `(i, j)` and not aliasing `a` or `b`; when β ≠ 0 (and there is no bias), `C`
/// must also be valid for reads and initialised. `packed`, if given, is `B` packed (from
/// its first column) for this product's `k`; the blocked route reads it in place of packing
/// `B` when it was packed for that route's kernel. A non-empty epilogue needs `csc = 1`, β = 0
/// when it has a bias, and a bias of `n` or more elements (checked).
#[allow(clippy::too_many_arguments)]
#[inline]
pub(super) unsafe fn gemm<T: Float>(
    route: Route,
    threads: usize,
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
    epi: Epilogue<'_, T>,
    packed: Option<PackedView<'_, T>>,
) {
    #[cfg(target_arch = "x86_64")]
    let fused = matches!(route, Route::Blocked(_));
    #[cfg(not(target_arch = "x86_64"))]
    let fused = false;
    if !epi.is_empty() {
        assert!(csc == 1, "a fused epilogue needs contiguous rows of C");
        assert!(epi.bias.is_none() || beta == T::ZERO, "a bias replaces β·C");
        assert!(
            epi.bias.is_none_or(|b| b.len() >= n),
            "the bias is shorter than C's rows"
        );
    }
    if !fused && !epi.is_empty() {
        // The same three steps, unfused: prefill with the bias, the product with β = 1, the
        // map over each row.
        let beta = if let Some(bias) = epi.bias {
            for i in 0..m {
                // SAFETY: row `i < m` of `C`, `n` contiguous elements (csc = 1, asserted) that
                // the caller made writable and that no other reference covers.
                let row = unsafe { core::slice::from_raw_parts_mut(c.offset(i as isize * rsc), n) };
                row.copy_from_slice(&bias[..n]);
            }
            T::ONE
        } else {
            beta
        };
        // SAFETY: the caller's contract, with `C` initialised where β ≠ 0 (prefilled just
        // above when the bias made β = 1).
        unsafe {
            gemm(
                route,
                1,
                m,
                k,
                n,
                alpha,
                a,
                rsa,
                csa,
                b,
                rsb,
                csb,
                beta,
                c,
                rsc,
                csc,
                Epilogue::default(),
                packed,
            )
        };
        if let Some(map) = epi.map {
            for i in 0..m {
                // SAFETY: as for the prefill: row `i` of `C`, now written by the product.
                let row = unsafe { core::slice::from_raw_parts_mut(c.offset(i as isize * rsc), n) };
                map(epi.origin.0 + i, epi.origin.1, row);
            }
        }
        return;
    }
    // `T::KIND` is a constant, so each monomorphisation keeps one arm. The scalars go through
    // `f64`, exactly for both types (the round trip of an f32 is the identity).
    match T::KIND {
        // SAFETY: `Float` is sealed and only `f32` has `KIND = F32`, so `T` is `f32` and the
        // casts keep every pointer's address and element type; the caller upholds this
        // function's contract, which is `gemm_f32`'s.
        Kind::F32 => unsafe {
            // `Epilogue<T>` and `Epilogue<f32>` are the same type here.
            let epi = *(&raw const epi).cast::<Epilogue<'_, f32>>();
            let packed = *(&raw const packed).cast::<Option<PackedView<'_, f32>>>();
            gemm_f32(
                epi,
                packed,
                route,
                threads,
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
            let epi = *(&raw const epi).cast::<Epilogue<'_, f64>>();
            let packed = *(&raw const packed).cast::<Option<PackedView<'_, f64>>>();
            gemm_f64(
                epi,
                packed,
                route,
                threads,
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
            epi: Epilogue<'_, $t>,
            packed: Option<PackedView<'_, $t>>,
            route: Route,
            threads: usize,
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
            // Only the blocked route receives a non-empty epilogue (`gemm` runs the others'
            // unfused).
            let _ = (&epi, &packed, threads);
            match route {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the route is `Nt` only when `nt::eligible` held: the CPU has AVX2
                // and FMA (the target features of `gemm_nt_ymm`), and AVX-512F when the width
                // is `Zmm` (`route` picks it only for an available AVX-512 backend);
                // csa = rsb = 1 and the other strides are non-negative, so the casts to usize
                // keep their values; the caller upholds the rest of `gemm_nt`'s contract,
                // which is this function's.
                Route::Nt(width) => unsafe {
                    let (rsa, csb, rsc, csc) =
                        (rsa as usize, csb as usize, rsc as usize, csc as usize);
                    if width == super::nt::Width::Zmm {
                        super::nt::gemm_nt_zmm::<$t>(
                            m, k, n, alpha, a, rsa, b, csb, beta, c, rsc, csc,
                        )
                    } else {
                        super::nt::gemm_nt_ymm::<$t>(
                            m, k, n, alpha, a, rsa, b, csb, beta, c, rsc, csc,
                        )
                    }
                },
                #[cfg(target_arch = "x86_64")]
                Route::Blocked(backend) => {
                    if m == 0 || n == 0 {
                        return;
                    }
                    let strides = (rsa as usize, csa as usize, rsb as usize, csb as usize);
                    let (rsa, csa, rsb, csb) = strides;
                    // SAFETY: the route is `Blocked` only for an available backend, k > 0,
                    // non-negative strides (so the casts keep their values) and csc = 1;
                    // m, n > 0 (checked above); `gemm` checked the epilogue's bias; the
                    // caller upholds the rest, which is `blocked::gemm`'s contract.
                    unsafe {
                        if backend == Backend::Avx512 {
                            super::blocked::gemm::<super::micro::Avx512<$t>>(
                                threads,
                                m,
                                k,
                                n,
                                alpha,
                                a,
                                (rsa, csa),
                                b,
                                (rsb, csb),
                                beta,
                                c,
                                rsc as usize,
                                epi,
                                packed.filter(|p| p.nr == super::micro::nr::<$t>(backend)),
                            )
                        } else {
                            super::blocked::gemm::<super::micro::Avx2<$t>>(
                                threads,
                                m,
                                k,
                                n,
                                alpha,
                                a,
                                (rsa, csa),
                                b,
                                (rsb, csb),
                                beta,
                                c,
                                rsc as usize,
                                epi,
                                packed.filter(|p| p.nr == super::micro::nr::<$t>(backend)),
                            )
                        }
                    }
                }
                // SAFETY: the caller upholds this function's contract, which is exactly
                // matrixmultiply's: in-bounds operands and a non-overlapping C, initialised
                // when beta != 0 (with beta = 0, C is written and never read).
                Route::MatrixMultiply => unsafe {
                    $f(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
                },
            }
        }
    };
}

typed_gemm!(gemm_f32, f32, matrixmultiply::sgemm);
typed_gemm!(gemm_f64, f64, matrixmultiply::dgemm);
