//! A per-thread pool of large element buffers, so that a training loop does not hand its
//! activations, gradients and product outputs back to the operating system at the end of
//! each step and fault them in again (zeroed, page by page) at the start of the next.
//!
//! Buffers of at least [`MIN_BYTES`] come back here when the tape that held them is
//! dropped (its recorded values), when the reverse walk is done with a node's gradient,
//! and when a [`Gradients`](crate::autodiff::Gradients) is dropped or cleared; the
//! allocation sites of a step (product outputs, gradient buffers, the backward's
//! temporaries) take from it first. The pool keeps at most [`MAX_BYTES`] per thread; the
//! oldest buffers go first. [`release_buffers`] empties the calling thread's pool.
//!
//! Reuse changes no value: a buffer taken from the pool is either fully overwritten by its
//! caller or zero-filled first ([`zeroed`]).

use std::any::{Any, TypeId};
use std::cell::RefCell;

use crate::element::Float;

/// Buffers smaller than this are left to the allocator (its small-size bins are cheap).
pub(crate) const MIN_BYTES: usize = 64 * 1024;

/// The most a thread's pool keeps, in bytes: a step of the perf decoder needs ~83 MiB; at
/// 1 GiB, LoRA on SmolLM2-135M kept 1 GB more at its peak (2 281 against 1 457 MiB) and
/// was no faster.
pub(crate) const MAX_BYTES: usize = 256 << 20;

/// A taken buffer's capacity is at most this many times the length asked for, so a small
/// request does not pin a large buffer.
const SLACK: usize = 2;

#[derive(Default)]
struct Pool {
    /// Per element type: a `Vec<Vec<T>>` of free buffers, oldest first.
    lists: Vec<(TypeId, Box<dyn Any>)>,
    bytes: usize,
}

impl Pool {
    fn list<T: Copy + 'static>(&mut self) -> &mut Vec<Vec<T>> {
        let id = TypeId::of::<T>();
        let i = match self.lists.iter().position(|(t, _)| *t == id) {
            Some(i) => i,
            None => {
                self.lists.push((id, Box::new(Vec::<Vec<T>>::new())));
                self.lists.len() - 1
            }
        };
        self.lists[i]
            .1
            .downcast_mut()
            .expect("each list holds buffers of the type it is keyed by")
    }
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

fn bytes_of<T>(capacity: usize) -> usize {
    capacity.saturating_mul(size_of::<T>())
}

/// An empty buffer with room for at least `len` elements: a pooled one (the smallest that
/// fits) when there is one, else a fresh allocation.
pub(crate) fn with_capacity<T: Copy + 'static>(len: usize) -> Vec<T> {
    if bytes_of::<T>(len) >= MIN_BYTES {
        let taken = POOL
            .try_with(|p| {
                let mut p = p.borrow_mut();
                let list = p.list::<T>();
                let best = list
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.capacity() >= len && b.capacity() / SLACK <= len)
                    .min_by_key(|(_, b)| b.capacity())
                    .map(|(i, _)| i)?;
                let buf = list.remove(best);
                p.bytes -= bytes_of::<T>(buf.capacity());
                Some(buf)
            })
            .ok()
            .flatten();
        if let Some(mut buf) = taken {
            buf.clear();
            return buf;
        }
    }
    Vec::with_capacity(len)
}

/// `len` zeros, in a pooled buffer when there is one.
pub(crate) fn zeroed<T: Float>(len: usize) -> Vec<T> {
    let mut buf = with_capacity(len);
    buf.resize(len, T::ZERO);
    buf
}

/// Gives a buffer back for reuse (a small one is simply freed).
pub(crate) fn give<T: Copy + 'static>(buf: Vec<T>) {
    let bytes = bytes_of::<T>(buf.capacity());
    if !(MIN_BYTES..=MAX_BYTES).contains(&bytes) {
        return;
    }
    // During the thread's teardown the pool is gone; the buffer is then freed.
    let _ = POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        // The oldest buffers (of any type) go first when the pool would pass its bound.
        while p.bytes + bytes > MAX_BYTES {
            let list = p.list::<T>();
            if list.is_empty() {
                // Only buffers of another element type are left: drop them all.
                p.lists.clear();
                p.bytes = 0;
                break;
            }
            let cap = list.remove(0).capacity();
            p.bytes -= bytes_of::<T>(cap);
        }
        p.bytes += bytes;
        p.list::<T>().push(buf);
    });
}

/// Frees every buffer the calling thread's pool keeps and returns how many bytes that was.
///
/// A training loop keeps the buffers of one step for the next (see the crate's buffer
/// pool, up to 256 MiB per thread); call this when the loop is done to hand that memory
/// back to the allocator.
///
/// ```
/// use shapecheck::autodiff::{Param, Tape};
/// use shapecheck::prelude::*;
/// let w = Param::new(Tensor::<(Dyn,)>::ones_with((Dyn::new(1 << 16),)));
/// let tape = Tape::new();
/// let grads = tape.param(&w).powi(2).sum_all().backward();
/// drop((grads, tape));
/// assert!(shapecheck::release_buffers() >= 4 << 16); // the gradient and the powi value
/// assert_eq!(shapecheck::release_buffers(), 0);
/// ```
pub fn release_buffers() -> usize {
    POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        let bytes = p.bytes;
        p.lists.clear();
        p.bytes = 0;
        bytes
    })
    .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_is_taken_again_and_small_ones_are_not_kept() {
        release_buffers();
        give(vec![1.0f32; MIN_BYTES / 4]);
        give(vec![2.0f32; 16]);
        assert_eq!(release_buffers(), MIN_BYTES);
        give(vec![1.0f32; MIN_BYTES]);
        // Another element type does not take it, and a much smaller request does not.
        assert_eq!(
            with_capacity::<f64>(MIN_BYTES / 2).capacity(),
            MIN_BYTES / 2
        );
        assert_eq!(
            with_capacity::<f32>(MIN_BYTES / 4).capacity(),
            MIN_BYTES / 4
        );
        let z: Vec<f32> = zeroed(MIN_BYTES / 2 + 3);
        assert_eq!(z.capacity(), MIN_BYTES, "the pooled buffer is taken");
        assert!(z.iter().all(|&v| v == 0.0), "a reused buffer is zeroed");
        assert_eq!(z.len(), MIN_BYTES / 2 + 3);
        assert_eq!(release_buffers(), 0, "the one pooled buffer was taken");
        let reused: Vec<f32> = vec![0.0; MIN_BYTES / 4];
        let p2 = reused.as_ptr();
        give(reused);
        let again = with_capacity::<f32>(MIN_BYTES / 4);
        assert_eq!(again.as_ptr(), p2);
    }

    #[test]
    fn the_pool_keeps_at_most_its_bound() {
        release_buffers();
        let quarter = MAX_BYTES / 4 / 4;
        for _ in 0..6 {
            give(Vec::<f32>::with_capacity(quarter));
        }
        assert_eq!(release_buffers(), MAX_BYTES);
    }
}
