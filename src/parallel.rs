//! How many threads an operation may use.
//!
//! Batched products spread their batch items over threads when the work is large enough to
//! pay for waking them; a single product (a 2-D matmul, a `Linear`) spreads blocks of its
//! rows, or of its columns when it has few rows. Work on two threads takes the kernel's
//! helper thread as its second ([`on_threads`]); more threads, or a second caller while the
//! helper is taken, run on rayon's global pool, whose size defaults to the number of cores
//! (`RAYON_NUM_THREADS` changes it); [`with_threads`] lowers the limit for a scope. The
//! limit changes speed, never results: each element is computed by the same
//! single-threaded kernel, summing over `k` in the same order, whatever the thread count.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Below this many multiply-adds per thread a batched product stays on fewer threads: waking
/// a pool thread costs microseconds.
const MIN_MACS_PER_THREAD: usize = 1 << 21;

thread_local! {
    static LIMIT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The thread limit in force on this thread.
///
/// ```
/// assert!(shapecheck::max_threads() >= 1);
/// assert_eq!(shapecheck::with_threads(1, shapecheck::max_threads), 1);
/// ```
pub fn max_threads() -> usize {
    LIMIT.with(Cell::get).unwrap_or_else(default_threads)
}

/// Runs `f` with at most `n` threads (at least 1) per operation started on this thread.
pub fn with_threads<R>(n: usize, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<usize>);
    impl Drop for Restore {
        fn drop(&mut self) {
            LIMIT.with(|l| l.set(self.0));
        }
    }
    let _restore = Restore(LIMIT.with(|l| l.replace(Some(n.max(1)))));
    f()
}

fn default_threads() -> usize {
    rayon::current_num_threads()
}

/// What an operation is about to do, as the thread policy ([`threads`]) sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Work {
    /// `items` independent pieces of `macs` multiply-adds in all (attention's heads, a batch
    /// of sequences).
    Items { items: usize, macs: usize },
    /// One pass over `n` elements, each computed on its own (an optimizer's update).
    Elementwise(usize),
    /// One read of `bytes` bytes bound by memory bandwidth (a few rows times a weight kept
    /// in a block format).
    Stream(usize),
    /// A GEMM: `batch` products of `m × k · k × n`, with elements of `elem` bytes.
    Gemm {
        batch: usize,
        m: usize,
        k: usize,
        n: usize,
        elem: usize,
    },
}

/// Products with at most this many rows are bound by reading `B` (a matrix–vector product
/// or a few of them, as a decode step computes): their threads follow `B`'s bytes, not
/// their multiply-adds.
const STREAMING_MAX_M: usize = 8;

/// The thread policy, the one place that decides how many threads an operation uses: as
/// many as its size pays for (a pool thread costs microseconds to wake), capped by
/// [`with_threads`] (the limit in force, [`max_threads`]). A batch splits over its items;
/// one product over blocks of rows or columns, as its multiply-adds pay for, or — with a
/// handful of rows — as the bytes of `B` it streams do.
pub(crate) fn threads(work: Work) -> usize {
    match work {
        Work::Items { items, .. } if items <= 1 => 1,
        Work::Items { items, macs } => for_product(macs).min(items),
        Work::Elementwise(n) => capped(n / MIN_ELEMENTS_PER_THREAD),
        Work::Stream(bytes) => capped(bytes / MIN_STREAM_BYTES_PER_THREAD),
        Work::Gemm {
            batch,
            m,
            k,
            n,
            elem,
        } => {
            let macs = batch.saturating_mul(m).saturating_mul(k).saturating_mul(n);
            if batch != 1 {
                return threads(Work::Items { items: batch, macs });
            }
            let by_macs = for_product(macs);
            if m <= STREAMING_MAX_M {
                let bytes = k.saturating_mul(n).saturating_mul(elem);
                by_macs.max(threads(Work::Stream(bytes)))
            } else {
                by_macs
            }
        }
    }
}

/// `by_work` threads, capped by the limit in force; 1 without asking the pool its size
/// (which costs an atomic round trip) when the work pays for no more.
fn capped(by_work: usize) -> usize {
    if by_work <= 1 {
        return 1;
    }
    max_threads().min(by_work)
}

/// Below this many elements per thread an element-wise pass (an optimizer's update) stays on
/// fewer threads: waking a pool thread costs more than updating this many elements.
const MIN_ELEMENTS_PER_THREAD: usize = 1 << 16;

/// Threads for one product of `macs` multiply-adds, split into blocks of rows or columns.
fn for_product(macs: usize) -> usize {
    capped(macs / MIN_MACS_PER_THREAD)
}

/// Below this many bytes of weights per thread, a product with a handful of rows (which
/// streams its `B` once and is bound by memory bandwidth, not by multiply-adds) stays on
/// fewer threads: a second core adds bandwidth only when its share takes longer to read than
/// waking it (measured on AMD EPYC Zen 5: from about 1 MB of weights).
const MIN_STREAM_BYTES_PER_THREAD: usize = 1 << 19;

/// Calls `f(&mut scratch, index, chunk)` once for every chunk, on the calling thread and up to
/// `threads − 1` jobs of the pool; each thread makes its own scratch with `init`. Chunks are
/// handed out one at a time from a shared counter, so a pool thread that wakes late simply
/// takes fewer; each chunk sits behind its own (uncontended) lock, so ownership moves safely.
/// Returns when every chunk has been processed.
pub(crate) fn for_each_chunk<C: Send, S>(
    chunks: Vec<C>,
    threads: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, usize, C) + Sync,
) {
    let threads = threads.clamp(1, chunks.len().max(1));
    if threads == 1 {
        let mut scratch = init();
        for (i, c) in chunks.into_iter().enumerate() {
            f(&mut scratch, i, c);
        }
        return;
    }
    let slots: Vec<Mutex<Option<C>>> = chunks.into_iter().map(|c| Mutex::new(Some(c))).collect();
    let next = AtomicUsize::new(0);
    let work = || {
        let mut scratch = None;
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = slots.get(i) else { break };
            let chunk = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(c) = chunk {
                f(scratch.get_or_insert_with(&init), i, c);
            }
        }
    };
    on_threads(threads, &work);
}

/// Runs `work` on the calling thread and, at the same time, on up to `threads − 1` others;
/// returns when every run has returned. `work` shares its work out itself (from a counter,
/// as [`for_each_chunk`] does), so a run that starts late finds less left to do.
///
/// The second thread is the kernel's helper, which spins between jobs: a pool thread that
/// has gone to sleep costs tens of microseconds to wake, once per product of a training
/// step. When another caller holds the helper, or for more threads, rayon's pool.
pub(crate) fn on_threads(threads: usize, work: &(dyn Fn() + Sync)) {
    if threads <= 1 {
        work();
        return;
    }
    if threads == 2 && crate::kernel::pair(work, work) {
        return;
    }
    // `in_place_scope` runs this closure on the calling thread and returns only when every
    // spawned job has finished.
    rayon::in_place_scope(|s| {
        for _ in 1..threads {
            s.spawn(|_| work());
        }
        work();
    });
}

/// Blocks handed out per thread by [`row_blocks`], so that a thread that wakes late takes
/// fewer.
const BLOCKS_PER_THREAD: usize = 4;

/// How to split `rows` independent rows of a pass over `elements` elements in all: the
/// threads the pass pays for ([`Work::Elementwise`]) and the rows per block (a few blocks
/// per thread, handed out as threads take them).
pub(crate) fn row_blocks(elements: usize, rows: usize) -> (usize, usize) {
    let threads = threads(Work::Elementwise(elements));
    (threads, rows.div_ceil(threads * BLOCKS_PER_THREAD).max(1))
}

/// Calls `f(start, block)` for consecutive blocks of whole rows (`row` elements each; 1 for
/// a pass over elements) covering `data`, `start` being the block's first element, split
/// as [`row_blocks`] says. Every element is computed by the same code whatever the split,
/// so a pass whose rows are independent gives bit-identical results for every thread count.
pub(crate) fn for_each_row_block<T: Send>(
    data: &mut [T],
    row: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    let row = row.max(1);
    let (threads, rows) = row_blocks(data.len(), data.len().div_ceil(row));
    if threads == 1 {
        f(0, data);
        return;
    }
    let per_block = rows * row;
    let blocks: Vec<&mut [T]> = data.chunks_mut(per_block).collect();
    for_each_chunk(
        blocks,
        threads,
        || (),
        |_, i, block| f(i * per_block, block),
    );
}
