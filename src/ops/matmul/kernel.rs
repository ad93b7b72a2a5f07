//! The GEMM lowering: the only file of the crate with `unsafe`.
//!
//! matrixmultiply takes a matrix as (pointer, rows, cols, row stride, column stride), all
//! strides in elements. The typed API has already fixed the extents; this file checks, once
//! per call and before any pointer is formed, that every element each operand can reach
//! lies inside its slice, then hands the operands' own strides to `sgemm`/`dgemm`. So a
//! transposed or permuted operand is read in place, never copied.
//!
//! The output is written with β = 0 into the spare capacity of a fresh `Vec`, which
//! matrixmultiply documents as allowed ("if β is zero, then C does not need to be
//! initialized"): no pass of zeroing precedes the product. Batches are spread over the
//! threads of rayon's pool (spawning an OS thread per call costs more than a small batched
//! product) by splitting the output into disjoint chunks.
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
    let (ap, bp) = if reads {
        (a.data[a.offset..].as_ptr(), b.data[b.offset..].as_ptr())
    } else {
        (a.data.as_ptr(), b.data.as_ptr())
    };
    // SAFETY: `check_operand` proved that every `offset + i·rs + l·cs` (i < rows, l < cols)
    // of each operand lies in its slice and fits in isize (or k = 0 and nothing is read);
    // `C`'s elements `i·rsc + j` (i < m, j < n) are below `last ≤ c.len()`, distinct since
    // `rsc ≥ n`, and initialised (a `&mut [T]`), so reading them when β ≠ 0 is sound; `c` is
    // a unique borrow, so it aliases neither operand.
    unsafe {
        T::gemm(
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
        );
    }
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
