//! [`Gradients`]: the gradients of the parameters, keyed by [`ParamId`] and read back
//! through the [`Param`] with its shape type.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use super::param::{Param, ParamId};
use crate::element::Float;
use crate::shape::Shape;
use crate::tensor::TensorView;

/// The gradients of a loss with respect to the parameters it was traced from.
///
/// Each gradient is stored as a flat buffer under its parameter's [`ParamId`] and read
/// back, typed by the parameter's own shape, with [`of`](Self::of): the gradient of a
/// `Param<(Ffn, DModel)>` is a `TensorView<(Ffn, DModel)>`, never found by a name or an
/// index.
///
/// Gradients **accumulate**: [`Var::backward_into`](super::Var::backward_into) adds to what
/// is already there (the sum over micro-batches, or over several losses), until
/// [`zero`](Self::zero) or a new `Gradients`.
///
/// ```
/// use shapecheck::autodiff::{Gradients, Param, Tape};
/// use shapecheck::prelude::*;
/// let w = Param::new(Tensor::<(D<2>,)>::from_vec(vec![1.0, 2.0]).unwrap());
/// let mut grads = Gradients::new();
/// for _ in 0..2 {
///     let tape = Tape::new();
///     tape.param(&w).sum_all().backward_into(&mut grads);
/// }
/// assert_eq!(grads.of(&w).unwrap().to_vec(), vec![2.0, 2.0]); // 1 + 1
/// grads.zero();
/// assert_eq!(grads.of(&w).unwrap().to_vec(), vec![0.0, 0.0]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Gradients<T: Float = f32> {
    map: HashMap<ParamId, Vec<T>>,
}

impl<T: Float> Drop for Gradients<T> {
    /// The buffers go back to the thread's buffer pool, for the next step's gradients.
    fn drop(&mut self) {
        self.clear();
    }
}

impl<T: Float> Gradients<T> {
    /// No gradient yet.
    pub fn new() -> Self {
        Gradients {
            map: HashMap::new(),
        }
    }

    /// The gradient of `param`, shaped like it; `None` if no backward pass reached it
    /// (frozen, or not used by the loss).
    ///
    /// # Panics
    ///
    /// When `param`'s value has been replaced by one with other runtime dims since the
    /// gradient was computed (the gradient no longer fits it).
    pub fn of<S: Shape>(&self, param: &Param<S, T>) -> Option<TensorView<'_, S, T>> {
        let g = self.map.get(&param.id())?;
        let shape = param.value().shape();
        assert_eq!(
            g.len(),
            shape.num_elements(),
            "the gradient of parameter {:?} has {} elements, and the parameter is now {shape:?}",
            param.id(),
            g.len()
        );
        Some(TensorView::contiguous(g, shape))
    }

    /// Sets every gradient to zero, keeping the buffers (and which parameters have one).
    pub fn zero(&mut self) {
        self.map.values_mut().for_each(|g| g.fill(T::ZERO));
    }

    /// Removes every gradient.
    pub fn clear(&mut self) {
        self.map.drain().for_each(|(_, g)| crate::pool::give(g));
    }

    /// The number of parameters that have a gradient.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no parameter has a gradient.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The flat gradient of parameter `id` (for the optimizers, which see parameters
    /// through their ids).
    pub(crate) fn get(&self, id: ParamId) -> Option<&[T]> {
        self.map.get(&id).map(Vec::as_slice)
    }

    /// [`get`](Self::get), mutably (gradient clipping scales in place).
    pub(crate) fn get_mut(&mut self, id: ParamId) -> Option<&mut [T]> {
        self.map.get_mut(&id).map(Vec::as_mut_slice)
    }

    /// Adds `g` into the gradient of `id`; the first gradient of a parameter is moved in,
    /// not copied.
    pub(crate) fn accumulate(&mut self, id: ParamId, g: Vec<T>) {
        match self.map.entry(id) {
            Entry::Vacant(e) => {
                e.insert(g);
            }
            Entry::Occupied(mut e) => {
                let buf = e.get_mut();
                assert_eq!(
                    buf.len(),
                    g.len(),
                    "parameter {id:?} changed its number of elements between two backward passes"
                );
                buf.iter_mut().zip(&g).for_each(|(b, &v)| *b += v);
                crate::pool::give(g);
            }
        }
    }
}
