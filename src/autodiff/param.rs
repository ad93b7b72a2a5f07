//! [`Param`]: a trainable tensor with an identity, and [`ParamId`], that identity.
//!
//! Gradients are found through the parameter that owns them (`grads.of(&layer.weight)`),
//! so each parameter carries a unique id. Ids come from one process-wide atomic counter:
//! every `Param::new` takes the next number, so two parameters never share one, whatever
//! thread makes them (the counter is the only global state of autodiff, and it holds no
//! values). The tensor sits behind an [`Arc`]: [`Tape::param`](super::Tape::param) shares
//! it with the tape instead of copying it, and [`Param::value_mut`] writes in place once no
//! tape holds it any more (it copies first if one still does, so a recorded forward never
//! sees its inputs change).
//!
//! A parameter also keeps the packs of its value that the packed GEMM made when it read it
//! as a weight of many rows (see [`Param::packed_bytes`]); every mutable access empties
//! them, so a product never reads a pack of an older value.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::element::Float;
use crate::kernel::PackCache;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// The identity of a [`Param`]: unique in the process, for the parameter's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(u64);

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

impl ParamId {
    fn next() -> Self {
        // Relaxed: only uniqueness matters, and fetch_add is atomic whatever the ordering.
        ParamId(NEXT_ID.fetch_add(1, Ordering::Relaxed))
    }
}

/// A trainable tensor of shape `S`: its value, a unique [`ParamId`], and whether it is
/// frozen.
///
/// A frozen parameter is read by [`Tape::param`](super::Tape::param) as a constant: no
/// node is recorded for it, so it gets no gradient and costs no backward work. Freezing is
/// a flag on the value the user holds (`Param::frozen(t)`, [`freeze`](Self::freeze)), not a
/// setting hidden elsewhere.
///
/// ```
/// use shapecheck::autodiff::{Param, Tape};
/// use shapecheck::prelude::*;
/// let w = Param::new(Tensor::<(D<2>,)>::ones());
/// let base = Param::frozen(Tensor::<(D<2>,)>::full(3.0));
/// let tape = Tape::new();
/// let loss = (&tape.param(&w) * &tape.param(&base)).sum_all();
/// let grads = loss.backward();
/// assert_eq!(grads.of(&w).unwrap().to_vec(), vec![3.0, 3.0]);
/// assert!(grads.of(&base).is_none());
/// ```
///
/// `Param` is deliberately not `Clone`: a copy would either share the id (and mix two
/// tensors' gradients) or silently get a new one.
#[derive(Debug)]
pub struct Param<S: Shape, T: Float = f32> {
    id: ParamId,
    value: Arc<Tensor<S, T>>,
    frozen: bool,
    /// The value packed for the GEMM, per form; emptied by every mutable access.
    packs: PackCache<T>,
}

impl<S: Shape, T: Float> Param<S, T> {
    /// A trainable parameter with a fresh id.
    pub fn new(value: Tensor<S, T>) -> Self {
        Param {
            id: ParamId::next(),
            value: Arc::new(value),
            frozen: false,
            packs: PackCache::default(),
        }
    }

    /// A frozen parameter with a fresh id: traced as a constant, it gets no gradient.
    pub fn frozen(value: Tensor<S, T>) -> Self {
        Param {
            frozen: true,
            ..Self::new(value)
        }
    }

    /// The id its gradient is stored under.
    pub fn id(&self) -> ParamId {
        self.id
    }

    /// The value.
    pub fn value(&self) -> &Tensor<S, T> {
        &self.value
    }

    /// The value, mutably, for an update step. In place when no tape holds the value any
    /// more; otherwise the value is copied first, so recorded forwards are not changed.
    /// Its packs are dropped first (see [`packed_bytes`](Self::packed_bytes)).
    pub fn value_mut(&mut self) -> &mut Tensor<S, T> {
        self.packs.clear();
        Arc::make_mut(&mut self.value)
    }

    /// The bytes of the packs of its value that it keeps: the value packed into the GEMM
    /// kernel's panels, once per form it was read in (`x·Wᵀ` in a forward, `dy·W` in a
    /// backward), made by the first product of more than 48 rows that reads it as a weight
    /// and reused by the next ones until the value changes. About the value's own size per
    /// form (rows padded to the kernel's panel width); 0 when nothing packed it, on
    /// matrixmultiply, or with `SHAPECHECK_PREPACK=0`.
    pub fn packed_bytes(&self) -> usize {
        self.packs.bytes()
    }

    /// Drops its packs (the next product of many rows packs the value again).
    pub fn release_packs(&mut self) {
        self.packs.clear();
    }

    /// Whether products may pack its value and keep the pack (on by default): off drops the
    /// packs it has and makes no more (each product then packs at every call, as before; the
    /// same bits either way). For a large model where the memory matters more than the
    /// 2–8% a pack saves a product of many rows (see the README's "Kernels").
    pub fn set_prepack(&mut self, on: bool) {
        self.packs.set_on(on);
    }

    /// Whether products may pack its value ([`set_prepack`](Self::set_prepack)).
    pub fn prepacks(&self) -> bool {
        self.packs.is_on()
    }

    /// The value, leaving the parameter.
    pub fn into_value(self) -> Tensor<S, T> {
        Arc::try_unwrap(self.value).unwrap_or_else(|shared| (*shared).clone())
    }

    /// Whether it is frozen.
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// Freezes it: from now on, tapes read it as a constant.
    pub fn freeze(&mut self) {
        self.frozen = true;
    }

    /// Makes it trainable again.
    pub fn unfreeze(&mut self) {
        self.frozen = false;
    }

    pub(crate) fn shared(&self) -> &Arc<Tensor<S, T>> {
        &self.value
    }

    pub(crate) fn packs(&self) -> &PackCache<T> {
        &self.packs
    }
}
