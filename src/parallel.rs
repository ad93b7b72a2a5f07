//! How many threads an operation may use.
//!
//! Batched products spread their batch items over threads when the work is large enough to
//! pay for waking them. They run on rayon's global pool, whose size defaults to the number
//! of cores (`RAYON_NUM_THREADS` changes it); [`with_threads`] lowers the limit for a
//! scope. The limit changes speed, never results: each batch item is computed
//! by the same single-threaded kernel call whatever the thread count.

use std::cell::Cell;

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

/// Threads for `items` independent pieces of `macs` multiply-adds in all.
pub(crate) fn threads_for(items: usize, macs: usize) -> usize {
    let by_work = (macs / MIN_MACS_PER_THREAD).max(1);
    if items <= 1 || by_work <= 1 {
        return 1; // without asking the pool its size, which costs an atomic round trip
    }
    max_threads().min(items).min(by_work)
}
