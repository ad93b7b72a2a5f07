//! One product split over threads: blocks of columns when it has few rows, blocks of rows
//! otherwise, each block written by one thread. The block edges are multiples of 16, which
//! fall on the tile edges of both kernels, so every element of `C` is computed by the same
//! kernel in the same order of `k` as on one thread: the result is bit-identical whatever
//! the thread count.

use super::epilogue::Epilogue;
use super::prepack::PackedView;
use super::raw::{self, Backend};
use crate::element::Float;

mod helper;

// For the quantized few-rows products (`kernel/quant/`) and any work split in two
// (`parallel::for_each_chunk`).
pub(crate) use helper::pair;

/// The pointers of one product, shared by the threads that compute disjoint blocks of it.
#[derive(Clone, Copy)]
struct Parts<T> {
    a: *const T,
    b: *const T,
    c: *mut T,
}

// SAFETY: `Parts` only travels to the workers of `split_gemm`, which read `a` and `b` (not
// written by anyone during the product) and write pairwise disjoint blocks of `c`; `T: Sync`
// (f32, f64) makes sharing the reads sound.
unsafe impl<T: Sync> Send for Parts<T> {}
// SAFETY: as for `Send`: shared access never writes the same element from two threads.
unsafe impl<T: Sync> Sync for Parts<T> {}

/// Largest `m` for which [`split_gemm`] always splits the columns rather than the rows: each
/// thread then reads only its columns of `B` (a weight read once, not once per thread).
/// Above twice it the columns are still split when `m < n`: each thread packs all of the
/// operand it does not split, and `A` (m × k) is then the smaller one (a 128-token prefill's
/// `x·Wᵀ`: row blocks packed the whole weight on both threads, 16% of the prefill). From 49
/// to 96 rows the rows are split, so that on two threads each half takes the few-rows
/// kernel, as it does for a sequence of that length alone (see below).
const SPLIT_COLUMNS_MAX_M: usize = 48;

/// [`raw::gemm`] on `backend` spread over up to `threads` threads: blocks of columns when
/// `m` is small, or above 96 and below `n`; blocks of rows otherwise, each block a multiple
/// of 16 wide. Two blocks of columns go to this thread and the [`helper`] (rayon's pool when
/// another product holds it); anything else goes to the pool ([`parallel::on_threads`]:
/// the helper for a second thread). Above 96 rows on the packed GEMM, the rows are split
/// inside it instead: its threads share one pack of `B` (`blocked.rs`).
///
/// [`parallel::on_threads`]: crate::parallel::on_threads
/// Each block is routed by itself, as before the packed GEMM existed: a block of up to 48
/// rows of `x·Wᵀ` goes to the few-rows kernel, so the bits of such a product with 49 to 96
/// rows depend on the thread count (one block on the packed kernel, or two on the few-rows
/// one). The tests comparing a batch with its sequences one by one (`tests/inspect.rs`)
/// pass on two threads because of it. Every other product is computed element by element
/// by the same kernel in the same order of `k` whatever the split.
///
/// # Safety
///
/// [`raw::gemm`]'s contract for the whole `m × k × n` product (the route aside, and the
/// epilogue `epi`'s and the packed `B`'s included), with non-negative strides. A block of
/// columns reads `packed` only if it starts on a panel edge (else it packs its own `B`).
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn split_gemm<T: Float>(
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
    threads: usize,
    backend: Backend,
    epi: Epilogue<'_, T>,
    packed: Option<PackedView<'_, T>>,
) {
    let route = raw::route::<T>(backend, (m, k, n), rsa, csa, rsb, csb, rsc, csc);
    let by_columns = m <= SPLIT_COLUMNS_MAX_M || (m > 2 * SPLIT_COLUMNS_MAX_M && m < n);
    let len = if by_columns { n } else { m };
    let parts = threads.min(len.div_ceil(16));
    // Blocks of rows on the packed GEMM: its threads share one pack of `B` (`blocked.rs`),
    // unless it is too large to keep. From 49 to 96 rows the blocks are routed one by one
    // (see above).
    #[cfg(target_arch = "x86_64")]
    let shared = !by_columns
        && m > 2 * SPLIT_COLUMNS_MAX_M
        && matches!(route, raw::Route::Blocked(_))
        && (packed.is_some() || super::blocked::shares_b(k, n, size_of::<T>()));
    #[cfg(not(target_arch = "x86_64"))]
    let shared = false;
    if parts <= 1 || shared {
        // SAFETY: the caller's contract is `raw::gemm`'s, and `route` is this product's.
        unsafe {
            raw::gemm(
                route, parts, m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc, epi,
                packed,
            )
        };
        return;
    }
    // Blocks of columns of a prepacked `B` start on its panels' edges, so each reads the pack.
    let edge = match packed {
        Some(p) if by_columns => p.nr.max(16),
        _ => 16,
    };
    let step = len.div_ceil(parts).next_multiple_of(edge);
    let blocks: Vec<core::ops::Range<usize>> = (0..len)
        .step_by(step)
        .map(|s| s..(s + step).min(len))
        .collect();
    let parts = Parts { a, b, c };
    let block = |r: core::ops::Range<usize>| {
        let p = parts;
        let (start, len) = (r.start, r.end - r.start);
        // SAFETY: a block of columns `start..start + len` (or of rows) of the product the
        // caller made valid: the offset pointers address elements of it (strides are
        // non-negative, `start < n` or `< m`), the block's reads are a subset of the
        // product's, and its writes are the block's own elements of `C`, disjoint from every
        // other block's; `A` and `B` are not written by anyone meanwhile. `route` is the
        // block's own.
        unsafe {
            if by_columns {
                let route = raw::route::<T>(backend, (m, k, len), rsa, csa, rsb, csb, rsc, csc);
                raw::gemm(
                    route,
                    1,
                    m,
                    k,
                    len,
                    alpha,
                    p.a,
                    rsa,
                    csa,
                    p.b.add(start * csb as usize),
                    rsb,
                    csb,
                    beta,
                    p.c.add(start * csc as usize),
                    rsc,
                    csc,
                    epi.shifted(0, start),
                    packed.and_then(|p| p.columns_from(start)),
                )
            } else {
                let route = raw::route::<T>(backend, (len, k, n), rsa, csa, rsb, csb, rsc, csc);
                raw::gemm(
                    route,
                    1,
                    len,
                    k,
                    n,
                    alpha,
                    p.a.add(start * rsa as usize),
                    rsa,
                    csa,
                    p.b,
                    rsb,
                    csb,
                    beta,
                    p.c.add(start * rsc as usize),
                    rsc,
                    csc,
                    epi.shifted(start, 0),
                    packed,
                )
            }
        }
    };
    // Two blocks of a few-rows product (a decode step's `x·Wᵀ` on two threads): the second
    // to the decode helper, which is awake between products; the pool when it is taken.
    if by_columns && blocks.len() == 2 {
        let (first, second) = (blocks[0].clone(), blocks[1].clone());
        if helper::pair(&|| block(second.clone()), || block(first.clone())) {
            return;
        }
    }
    crate::parallel::for_each_chunk(blocks, threads, || (), |_, _, r| block(r));
}
