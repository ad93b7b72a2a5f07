//! [`Gemm`]: the one entry of the crate for a matrix product, `C = α·A·B + β·C`.
//!
//! The output is row-major. Into a fresh `Vec` ([`Gemm::to_vec`]) it is written with β = 0
//! into the spare capacity, which every route allows (matrixmultiply documents "if β is
//! zero, then C does not need to be initialized"; our kernels never read `C` when β = 0): no
//! pass of zeroing precedes the product. Batches are
//! spread over the threads of rayon's pool (spawning an OS thread per call costs more than a
//! small batched product) by splitting the output into disjoint chunks, one per batch item;
//! a single product is split into blocks of columns or rows (`split.rs`).

use core::mem::MaybeUninit;

use super::epilogue::Epilogue;
use super::operand::MatRef;
use super::prepack::PackedB;
use super::raw::{self, Backend};
use super::split::split_gemm;
use crate::element::Float;
use crate::tensor::layout::unravel;

/// The knobs of one product `C = α·A·B + β·C`: α, β and the number of threads. Defaults:
/// α = 1, β = 0, one thread.
///
/// ```text
/// Gemm::new().alpha(scale).to_vec(q, k.t())              // scale·q·kᵀ, a new buffer
/// Gemm::new().beta(T::ONE).to_slice(x, w.t(), &mut out, dout)  // out += x·Wᵀ, threads by size
/// ```
///
/// With β = 0 the old contents of `C` are ignored (never read, even if NaN).
#[derive(Clone, Copy, Debug)]
#[must_use = "a Gemm computes nothing until `to_vec` or `to_slice`"]
pub(crate) struct Gemm<T> {
    alpha: T,
    beta: T,
    /// The threads to use, or `None`: decided here from the operand sizes.
    threads: Option<usize>,
    backend: Backend,
}

impl<T: Float> Gemm<T> {
    /// `C = A·B`, on as many threads as the product's size pays for (see
    /// [`threads`](Self::threads) to set them).
    #[inline]
    pub(crate) fn new() -> Self {
        Gemm {
            alpha: T::ONE,
            beta: T::ZERO,
            threads: None,
            backend: Backend::current(),
        }
    }

    /// Runs on `backend`'s kernels (the tests force each one), if this CPU has them.
    #[cfg(test)]
    pub(crate) fn backend(self, backend: Backend) -> Self {
        assert!(
            backend.available(),
            "{backend:?} needs a CPU feature this one lacks"
        );
        Gemm { backend, ..self }
    }

    /// Scales the product: `C = α·A·B + β·C`.
    #[inline]
    pub(crate) fn alpha(self, alpha: T) -> Self {
        Gemm { alpha, ..self }
    }

    /// Keeps `β·C`: `C = α·A·B + β·C` (β = 0 overwrites `C`).
    #[inline]
    pub(crate) fn beta(self, beta: T) -> Self {
        Gemm { beta, ..self }
    }

    /// Uses up to `threads` threads of the pool (at least one) instead of the number the
    /// operand sizes call for: `threads(1)` for a product that runs inside an already
    /// parallel loop. The result does not depend on it.
    #[inline]
    pub(crate) fn threads(self, threads: usize) -> Self {
        Gemm {
            threads: Some(threads.max(1)),
            ..self
        }
    }

    /// `α·A·B` (one product per batch item) into a new row-major buffer of
    /// `batch × m × n` elements.
    ///
    /// # Panics
    ///
    /// When β ≠ 0 (a fresh buffer has no `C` to keep), or the operands' extents do not
    /// agree (bugs of the caller).
    pub(crate) fn to_vec(self, a: MatRef<'_, T>, b: MatRef<'_, T>) -> Vec<T> {
        self.to_vec_with(a, b, Epilogue::default())
    }

    /// [`to_vec`](Self::to_vec) with a fused epilogue: `map(α·A·B + bias)` (see
    /// [`Epilogue`]) into a new buffer, for a single product; no pass over the buffer
    /// precedes or follows the product on the packed routes.
    ///
    /// # Panics
    ///
    /// As `to_vec`; and a non-empty epilogue on a batched product, or a bias shorter than
    /// `n`.
    pub(crate) fn to_vec_with(
        self,
        a: MatRef<'_, T>,
        b: MatRef<'_, T>,
        epi: Epilogue<'_, T>,
    ) -> Vec<T> {
        self.to_vec_packed(a, b, epi, None)
    }

    /// [`to_vec_with`](Self::to_vec_with) reading `b` from `packed` (`b` packed whole, see
    /// [`PackedB`]) on the packed GEMM instead of packing it: the same bits.
    ///
    /// # Panics
    ///
    /// As `to_vec_with`; and when `packed` was packed from another matrix than `b`.
    pub(crate) fn to_vec_packed(
        self,
        a: MatRef<'_, T>,
        b: MatRef<'_, T>,
        epi: Epilogue<'_, T>,
        packed: Option<&PackedB<T>>,
    ) -> Vec<T> {
        assert!(self.beta == T::ZERO, "a fresh output has no C to keep");
        assert!(
            epi.is_empty() || a.batch_dims().is_empty(),
            "a fused epilogue is for a single product"
        );
        let batch: usize = a.batch_dims().iter().product();
        let len = a
            .nrows()
            .checked_mul(b.ncols())
            .and_then(|x| x.checked_mul(batch))
            .expect("output size overflows usize");
        let mut out: Vec<T> = crate::pool::with_capacity(len);
        // SAFETY: β = 0 (asserted), so `C` is never read before it is written (a bias is
        // written first on every route: the packed write-back adds it in place of `β·C`, the
        // unfused routes prefill it), and may be uninitialised.
        unsafe {
            self.run(
                a,
                b,
                &mut out.spare_capacity_mut()[..len],
                b.ncols(),
                epi,
                packed,
            )
        };
        // SAFETY: with row stride n, the `batch·m` rows of n elements written by `run` (its
        // postcondition) tile exactly the first `len` elements, and no borrow of the spare
        // capacity remains.
        unsafe { out.set_len(len) };
        out
    }

    /// `C = α·A·B + β·C`, where `C` is `batch·m` rows of `n` elements at the start of `c`
    /// with row stride `rsc` (column stride 1): batch item `t`'s row `i` starts at
    /// `(t·m + i)·rsc`. A single product is the `m × n` block with row stride `rsc`.
    ///
    /// # Panics
    ///
    /// When the operands' extents do not agree, `rsc < n`, or `C` does not fit in `c`:
    /// bugs of the caller, checked before any pointer is formed.
    pub(crate) fn to_slice(self, a: MatRef<'_, T>, b: MatRef<'_, T>, c: &mut [T], rsc: usize) {
        self.to_slice_packed(a, b, c, rsc, None);
    }

    /// [`to_slice`](Self::to_slice) reading `b` from `packed`, as
    /// [`to_vec_packed`](Self::to_vec_packed) does.
    ///
    /// # Panics
    ///
    /// As `to_slice`; and when `packed` was packed from another matrix than `b`.
    pub(crate) fn to_slice_packed(
        self,
        a: MatRef<'_, T>,
        b: MatRef<'_, T>,
        c: &mut [T],
        rsc: usize,
        packed: Option<&PackedB<T>>,
    ) {
        let len = c.len();
        // SAFETY: `MaybeUninit<T>` has the size, alignment and validity-free layout of `T`, so
        // the cast slice covers exactly the same `len` elements; everything written through it
        // is an initialised `T` (the GEMM's results), so `c` stays initialised afterwards.
        let c = unsafe {
            core::slice::from_raw_parts_mut(c.as_mut_ptr().cast::<MaybeUninit<T>>(), len)
        };
        // SAFETY: every element of `c` is initialised (it was a `&mut [T]`), so `C` may be
        // read when β ≠ 0.
        unsafe { self.run(a, b, c, rsc, Epilogue::default(), packed) };
    }

    /// [`to_slice`](Self::to_slice) with a fused epilogue: `C = map(α·A·B + bias)` (see
    /// [`Epilogue`]; with a bias, β must be 0), for a single product.
    ///
    /// # Panics
    ///
    /// As `to_slice`; and for a batched product, a bias shorter than `n`, or a bias with
    /// β ≠ 0.
    #[cfg_attr(not(test), expect(dead_code, reason = "not yet wired into nn"))]
    pub(crate) fn to_slice_with(
        self,
        a: MatRef<'_, T>,
        b: MatRef<'_, T>,
        c: &mut [T],
        rsc: usize,
        epi: Epilogue<'_, T>,
    ) {
        assert!(
            epi.is_empty() || a.batch_dims().is_empty(),
            "a fused epilogue is for a single product"
        );
        let len = c.len();
        // SAFETY: as in `to_slice`.
        let c = unsafe {
            core::slice::from_raw_parts_mut(c.as_mut_ptr().cast::<MaybeUninit<T>>(), len)
        };
        // SAFETY: every element of `c` is initialised.
        unsafe { self.run(a, b, c, rsc, epi, None) };
    }

    /// The product into `c` as described at [`to_slice`](Self::to_slice). Postcondition: every
    /// element `(t·m + i)·rsc + j` (`t < batch`, `i < m`, `j < n`) is written.
    ///
    /// # Safety
    ///
    /// When β ≠ 0, the elements of `C` are initialised.
    unsafe fn run(
        self,
        a: MatRef<'_, T>,
        b: MatRef<'_, T>,
        c: &mut [MaybeUninit<T>],
        rsc: usize,
        epi: Epilogue<'_, T>,
        packed: Option<&PackedB<T>>,
    ) {
        let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
        assert!(
            packed.is_none() || a.batch_dims().is_empty(),
            "a packed operand is for a single product"
        );
        assert_eq!(k, b.nrows(), "GEMM inner dims differ");
        let dims = a.batch_dims();
        assert_eq!(dims, b.batch_dims(), "GEMM batch dims differ");
        let batch: usize = dims.iter().product();
        if m == 0 || n == 0 || batch == 0 {
            return;
        }
        assert!(rsc >= n, "C rows overlap");
        let needed = (batch * m - 1)
            .checked_mul(rsc)
            .and_then(|x| x.checked_add(n))
            .expect("C extent overflows usize");
        assert!(needed <= c.len(), "C reaches past its buffer");
        assert!(rsc <= isize::MAX as usize, "C stride must fit in isize");
        let c = &mut c[..needed];
        // The threads, decided here for every product from the operand sizes by the one
        // thread policy (capped by `with_threads`), unless the caller set them.
        let threads = self.threads.unwrap_or_else(|| {
            let elem = core::mem::size_of::<T>();
            crate::parallel::threads(crate::parallel::Work::Gemm {
                batch,
                m,
                k,
                n,
                elem,
            })
        });
        let (alpha, beta, backend) = (self.alpha, self.beta, self.backend);
        let ((ars, acs), (brs, bcs)) = (a.strides(), b.strides());
        let nb = dims.len();

        if batch == 1 {
            let packed = packed.and_then(|p| p.view_for(b, backend));
            let zeros = [0usize; 8];
            let (ap, bp) = (
                a.ptr_at(a.item_offset(&zeros[..nb])),
                b.ptr_at(b.item_offset(&zeros[..nb])),
            );
            // SAFETY: by `MatRef`'s invariant every `A[i·rs + l·cs]` (i < m, l < k) and
            // `B[l·rs + j·cs]` (j < n) of the one batch item is in its slice and fits in
            // isize, so the strides do too (or k = 0 and nothing is read); `C`'s elements
            // `i·rsc + j` are below `needed ≤ c.len()`, distinct since `rsc ≥ n`, and `c` is a
            // unique borrow, so it aliases neither operand (shared borrows); when β ≠ 0 they
            // are initialised (the caller's contract); `packed`, if any, was checked by
            // `view_for` to be this `B` (address, extents, strides) packed whole, and borrows
            // its buffer for the call. That is `raw::gemm`'s contract, with non-negative
            // strides, which `split_gemm` asks for.
            unsafe {
                split_gemm(
                    m,
                    k,
                    n,
                    alpha,
                    ap,
                    ars as isize,
                    acs as isize,
                    bp,
                    brs as isize,
                    bcs as isize,
                    beta,
                    c.as_mut_ptr().cast::<T>(),
                    rsc as isize,
                    1,
                    threads,
                    backend,
                    epi,
                    packed,
                );
            }
            return;
        }

        let per_item = m.checked_mul(rsc).expect("C extent overflows usize");
        let route = raw::route::<T>(
            backend,
            (m, k, n),
            ars as isize,
            acs as isize,
            brs as isize,
            bcs as isize,
            rsc as isize,
            1,
        );
        let run = |item: usize, c: &mut [MaybeUninit<T>]| {
            let mut idx = [0usize; 8];
            unravel(item, dims, &mut idx[..nb]);
            let (ap, bp) = (
                a.ptr_at(a.item_offset(&idx[..nb])),
                b.ptr_at(b.item_offset(&idx[..nb])),
            );
            // SAFETY: by `MatRef`'s invariant, for this batch index every
            // `offset + Σ idx·batch_stride + i·rs + l·cs` with i < rows, l < cols lies in the
            // operand's slice (or k = 0 and nothing is read), and fits in isize, so each
            // strided read is in bounds; `c` is this batch item's own chunk of a `&mut`
            // borrow, `(m − 1)·rsc + n` elements or more, written row-major with row stride
            // rsc ≥ n and column stride 1, so distinct (i, j) are distinct elements inside the
            // chunk, and it aliases neither operand (shared borrows). When β ≠ 0 the chunk is
            // initialised (the caller's contract); with β = 0 it may not be. `route` is this
            // product's (every item has the same extents and strides).
            unsafe {
                raw::gemm(
                    route,
                    1,
                    m,
                    k,
                    n,
                    alpha,
                    ap,
                    ars as isize,
                    acs as isize,
                    bp,
                    brs as isize,
                    bcs as isize,
                    beta,
                    c.as_mut_ptr().cast::<T>(),
                    rsc as isize,
                    1,
                    Epilogue::default(),
                    None,
                );
            }
        };
        // One chunk per batch item (the last one ends after its last row's n elements); every
        // chunk is written by `run` before `for_each_chunk` returns.
        let chunks: Vec<&mut [MaybeUninit<T>]> = c.chunks_mut(per_item).collect();
        crate::parallel::for_each_chunk(chunks, threads, || (), |_, item, c| run(item, c));
    }
}
