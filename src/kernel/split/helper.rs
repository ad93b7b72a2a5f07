//! The decode helper: one thread of the crate's own that takes the second half of a product
//! split in two, so that a decode step's ~200 small products (each tens of microseconds)
//! cost no wake-up of a pool thread apiece.
//!
//! rayon's workers, between jobs, yield to the scheduler and then sleep on a futex; a decode
//! step leaves them a few microseconds between products, so with two threads nearly every
//! product paid a yield or a futex wake (perf on AMD EPYC Zen 5: 523 000 context switches and
//! 1.7 s of system time in a 5 s greedy decode of SmolLM2-135M, against 25 and 0.4 s on one
//! thread). The helper instead spins on one atomic (the CPU's pause, no system call) for
//! [`SPIN`] after each job, and parks only when no job came in that time; a product finds it
//! awake and hands it a pointer.
//!
//! One caller at a time: a product that finds the helper taken (another thread's product,
//! or work that the helper itself is running and that splits again) runs on the path it
//! took before (rayon), so a job never waits for the helper it runs on.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long the helper waits for the next job, spinning, before it parks: longer than the
/// gaps between the products of a decode step (norms, RoPE, attention over the cache), short
/// enough that an idle program leaves the core within a fraction of a millisecond.
const SPIN: Duration = Duration::from_micros(200);

/// One job: the closure, and what the helper says back.
struct Job<'a> {
    f: &'a (dyn Fn() + Sync),
    done: AtomicBool,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

/// The helper's mailbox.
struct Helper {
    /// The job posted and not yet taken (a `*const Job`), or null.
    job: AtomicPtr<()>,
    /// Held by the one caller whose job is posted or running.
    busy: AtomicBool,
    /// The helper is parked, or about to park: a caller must unpark it.
    sleeping: AtomicBool,
    thread: Thread,
}

static HELPER: OnceLock<Option<Helper>> = OnceLock::new();

fn helper() -> Option<&'static Helper> {
    HELPER
        .get_or_init(|| {
            let spawned = std::thread::Builder::new()
                .name("shapecheck-split".into())
                .spawn(serve);
            spawned.ok().map(|h| Helper {
                job: AtomicPtr::new(core::ptr::null_mut()),
                busy: AtomicBool::new(false),
                sleeping: AtomicBool::new(false),
                thread: h.thread().clone(),
            })
        })
        .as_ref()
}

/// The helper thread's loop.
fn serve() {
    // The mailbox is set once `spawn` has returned; wait for it.
    let h = loop {
        match HELPER.get() {
            Some(Some(h)) => break h,
            Some(None) => return,
            None => std::thread::park_timeout(Duration::from_millis(1)),
        }
    };
    loop {
        let mut since = Instant::now();
        let mut spins = 0u32;
        let p = loop {
            let p = h.job.load(Ordering::Acquire);
            if !p.is_null() {
                break p;
            }
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(256) || since.elapsed() < SPIN {
                core::hint::spin_loop();
                continue;
            }
            // Announce the park before the last look, so that a caller posting now either
            // sees `sleeping` and unparks, or its job is seen here.
            h.sleeping.store(true, Ordering::SeqCst);
            if h.job.load(Ordering::SeqCst).is_null() {
                std::thread::park();
            }
            h.sleeping.store(false, Ordering::SeqCst);
            since = Instant::now();
        };
        h.job.store(core::ptr::null_mut(), Ordering::Relaxed);
        // SAFETY: `p` was posted by `pair` from a live `Job`, which `pair` keeps alive (it does
        // not return, nor unwind) until this thread sets `done`, the last access below.
        let job = unsafe { &*p.cast::<Job<'_>>() };
        if let Err(e) = catch_unwind(AssertUnwindSafe(job.f)) {
            *job.panic.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
        }
        job.done.store(true, Ordering::Release);
    }
}

/// Runs `theirs` on the helper and `ours` on this thread, and returns when both have
/// finished; `false` (and nothing run) when the helper is taken by another caller or could
/// not be started. A panic in either is resumed here, after both have finished.
pub(crate) fn pair(theirs: &(dyn Fn() + Sync), ours: impl FnOnce()) -> bool {
    let Some(h) = helper() else { return false };
    if h.busy
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return false;
    }
    let job = Job {
        f: theirs,
        done: AtomicBool::new(false),
        panic: Mutex::new(None),
    };
    h.job
        .store((&job as *const Job<'_>).cast_mut().cast(), Ordering::SeqCst);
    if h.sleeping.load(Ordering::SeqCst) {
        h.thread.unpark();
    }
    let mine = catch_unwind(AssertUnwindSafe(ours));
    // `job` lives on this frame: wait for the helper to finish with it, whatever happened.
    while !job.done.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    h.busy.store(false, Ordering::Release);
    if let Err(e) = mine {
        resume_unwind(e);
    }
    if let Some(e) = job.panic.into_inner().unwrap_or_else(|e| e.into_inner()) {
        resume_unwind(e);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::pair;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    /// Calls `attempt` until it has reported the helper taken `times` times; other tests'
    /// products (the few-rows tests split over threads) hold the helper for long stretches
    /// in a debug build.
    fn until_taken(times: usize, mut attempt: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut taken = 0;
        while taken < times {
            assert!(Instant::now() < deadline, "the helper was never free");
            if attempt() {
                taken += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Both halves run, the helper's on another thread, and `pair` returns after both.
    #[test]
    fn pair_runs_both_halves_and_waits() {
        let here = std::thread::current().id();
        until_taken(50, || {
            let there = Mutex::new(None);
            let ran = AtomicUsize::new(0);
            let theirs = || {
                // Long enough that returning early would be seen.
                std::thread::sleep(Duration::from_micros(50));
                *there.lock().unwrap() = Some(std::thread::current().id());
                ran.fetch_add(1, Ordering::SeqCst);
            };
            let taken = pair(&theirs, || {
                ran.fetch_add(10, Ordering::SeqCst);
            });
            if taken {
                assert_eq!(ran.load(Ordering::SeqCst), 11, "a half did not run");
                let there = there
                    .lock()
                    .unwrap()
                    .expect("the helper's half did not run");
                assert_ne!(there, here, "the helper's half ran on the caller");
            } else {
                // Another product holds the helper: nothing ran.
                assert_eq!(ran.load(Ordering::SeqCst), 0);
            }
            taken
        });
    }

    /// Callers on several threads at once: each either gets the helper or is told to go
    /// elsewhere, and no half is lost or run twice.
    #[test]
    fn concurrent_callers_share_one_helper() {
        let total = AtomicUsize::new(0);
        let taken = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    until_taken(100, || {
                        let theirs = || {
                            total.fetch_add(1, Ordering::SeqCst);
                        };
                        let got = pair(&theirs, || {
                            total.fetch_add(1, Ordering::SeqCst);
                        });
                        if got {
                            taken.fetch_add(1, Ordering::SeqCst);
                        }
                        got
                    });
                });
            }
        });
        let taken = taken.load(Ordering::SeqCst);
        assert_eq!(taken, 400);
        assert_eq!(
            total.load(Ordering::SeqCst),
            2 * taken,
            "a half was lost or run twice"
        );
    }

    /// A panic on the helper reaches the caller, and the helper serves the next job.
    #[test]
    fn a_panic_on_the_helper_reaches_the_caller() {
        until_taken(1, || {
            match std::panic::catch_unwind(|| pair(&|| panic!("helper half failed"), || ())) {
                Ok(false) => false,
                Ok(true) => panic!("the helper's panic was lost"),
                Err(e) => {
                    assert_eq!(e.downcast_ref::<&str>(), Some(&"helper half failed"));
                    true
                }
            }
        });
        let ran = AtomicUsize::new(0);
        until_taken(1, || {
            pair(
                &|| {
                    ran.fetch_add(1, Ordering::SeqCst);
                },
                || (),
            )
        });
        assert_eq!(
            ran.load(Ordering::SeqCst),
            1,
            "the helper did not serve after a panic"
        );
    }
}
