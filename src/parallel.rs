//! How many threads an operation may use.
//!
//! Batched products spread their batch items over threads when the work is large enough to
//! pay for starting them. The limit defaults to the number of cores (or to the
//! `SHAPECHECK_NUM_THREADS` environment variable) and can be lowered for a scope with
//! [`with_threads`]. The limit changes speed, never results: each batch item is computed
//! by the same single-threaded kernel call whatever the thread count.

use std::cell::Cell;
use std::sync::OnceLock;

/// Below this many multiply-adds a batched product stays on one thread: starting a thread
/// costs tens of microseconds.
const MIN_MACS_PER_THREAD: usize = 1 << 19;

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
    static DEFAULT: OnceLock<usize> = OnceLock::new();
    *DEFAULT.get_or_init(|| {
        std::env::var("SHAPECHECK_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// Threads for `items` independent pieces of `macs` multiply-adds in all.
pub(crate) fn threads_for(items: usize, macs: usize) -> usize {
    let by_work = (macs / MIN_MACS_PER_THREAD).max(1);
    max_threads().min(items).min(by_work).max(1)
}
