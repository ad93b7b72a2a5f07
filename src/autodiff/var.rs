//! [`Var`]: a value traced on a [`Tape`], with its shape type.
//!
//! A `Var` is a strided view (offset, shape, strides) of a shared buffer, plus the index of
//! the tape node that buffer belongs to (`None` for a constant, which is never recorded).
//! So `.t()` and `.permute(…)` of a traced value are free, as for tensors, and the
//! gradient flowing into the view lands in the node's buffer through the same strides.
//! The `'static` part (everything but the tape reference) is a [`Handle`], which is what a
//! backward closure keeps of its inputs: a reference count on their buffers, not a copy.

use std::sync::Arc;

use super::grads::Gradients;
pub(crate) use super::handle::Handle;
use super::handle::Pooled;
use super::param::Param;
use super::tape::{Backward, ScalarLoss, Tape};
use crate::element::Float;
use crate::shape::{Permutation, Shape, Transpose, TransposesTo};
use crate::tensor::{Tensor, TensorView};

/// A value of shape `S` traced on the tape `'t`: the differentiable counterpart of a
/// [`Tensor`].
///
/// Ops on `Var`s have the same names and the same shape rules as on tensors, so a mistake
/// gives the same compile error traced or not. Each op computes its value with the tensor
/// op itself and, when an input is traced, records the op's vector–Jacobian product on the
/// tape. A constant `Var` ([`Tape::constant`], or a frozen [`Param`]) records nothing, and
/// ops whose inputs are all constant record nothing either: evaluating with constants is
/// the `no_grad` mode.
pub struct Var<'t, S: Shape, T: Float = f32> {
    pub(crate) tape: &'t Tape<T>,
    pub(crate) h: Handle<S, T>,
}

impl<S: Shape, T: Float> Clone for Var<'_, S, T> {
    fn clone(&self) -> Self {
        Var {
            tape: self.tape,
            h: self.h.clone(),
        }
    }
}

impl<S: Shape, T: Float> core::fmt::Debug for Var<'_, S, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Var")
            .field("node", &self.h.id)
            .field("shape", &self.h.shape)
            .finish()
    }
}

impl<T: Float> Tape<T> {
    /// The traced leaf of a parameter, bound to its id so that its gradient is found with
    /// [`Gradients::of`]. The value is shared with the parameter, not copied. A frozen
    /// parameter, or any parameter on an inference tape ([`Tape::inference`]), gives a
    /// constant.
    pub fn param<S: Shape>(&self, p: &Param<S, T>) -> Var<'_, S, T> {
        let t = Arc::clone(p.shared());
        let shape = t.shape();
        let traced = !p.is_frozen() && !self.is_inference();
        let id = traced.then(|| self.push(t.len(), Some(p.id()), None));
        Var {
            tape: self,
            h: Handle::whole(id, t, shape),
        }
    }

    /// An untraced value on this tape (data, targets, or anything that gets no gradient).
    pub fn constant<S: Shape>(&self, value: Tensor<S, T>) -> Var<'_, S, T> {
        let shape = value.shape();
        Var {
            tape: self,
            h: Handle::whole(None, Arc::new(value), shape),
        }
    }
}

impl<'t, S: Shape, T: Float> Var<'t, S, T> {
    /// The value, as a view.
    #[inline]
    pub fn value(&self) -> TensorView<'_, S, T> {
        self.h.view()
    }

    /// The value, copied into a contiguous tensor.
    pub fn to_tensor(&self) -> Tensor<S, T> {
        self.h.view().to_tensor()
    }

    /// The value as a contiguous tensor: moved out of the buffer, without a copy, when
    /// this `Var` is the whole buffer and nothing else (no tape node, no other `Var`)
    /// holds it, as for the fresh result of an op on an inference tape; copied otherwise.
    pub fn into_tensor(self) -> Tensor<S, T> {
        if self.h.is_whole_buffer() {
            let shape = self.h.shape;
            Tensor::from_parts(shape, self.h.data.into_vec())
        } else {
            self.to_tensor()
        }
    }

    /// The shape.
    #[inline]
    pub fn shape(&self) -> S {
        self.h.shape
    }

    /// Whether it is traced (a gradient can flow into it).
    #[inline]
    pub fn is_traced(&self) -> bool {
        self.h.is_traced()
    }

    /// The tape it is recorded on.
    #[inline]
    pub fn tape(&self) -> &'t Tape<T> {
        self.tape
    }

    /// The same value, untraced: gradients stop here (PyTorch's `detach`).
    pub fn detach(&self) -> Var<'t, S, T> {
        Var {
            tape: self.tape,
            h: Handle {
                id: None,
                ..self.h.clone()
            },
        }
    }

    /// Swaps the last two axes, as a view: no element is copied, and the gradient flows
    /// back through the swapped strides.
    pub fn t<O: Shape>(&self) -> Var<'t, O, T>
    where
        S: TransposesTo<O>,
    {
        Var {
            tape: self.tape,
            h: Handle {
                id: self.h.id,
                data: Arc::clone(&self.h.data),
                offset: self.h.offset,
                strides: <S as Transpose>::transpose_strides(&self.h.strides),
                shape: self.h.shape.transpose_shape(),
            },
        }
    }

    /// Reorders the axes, as a view: `x.permute((A1, A0, A2))`.
    pub fn permute<P: Permutation<S>>(&self, _axes: P) -> Var<'t, P::Output, T> {
        Var {
            tape: self.tape,
            h: Handle {
                id: self.h.id,
                data: Arc::clone(&self.h.data),
                offset: self.h.offset,
                strides: P::permute_strides(&self.h.strides),
                shape: P::permute_shape(&self.h.shape),
            },
        }
    }

    /// The gradients of this scalar loss with respect to every trainable parameter it was
    /// traced from. Only a scalar (`Var<'_, ()>`) has one; reduce first.
    pub fn backward(&self) -> Gradients<T>
    where
        S: ScalarLoss,
    {
        let mut grads = Gradients::new();
        self.backward_into(&mut grads);
        grads
    }

    /// [`backward`](Self::backward), adding into existing gradients: they accumulate across
    /// calls until [`Gradients::zero`].
    pub fn backward_into(&self, grads: &mut Gradients<T>)
    where
        S: ScalarLoss,
    {
        if let Some(id) = self.h.id {
            self.tape.backward_from(id, grads);
        }
    }
}

/// The value of a rank-0 `Var`.
impl<T: Float> Var<'_, (), T> {
    /// The scalar.
    pub fn item(&self) -> T {
        self.h.data.slice()[self.h.offset]
    }
}

/// The tape an op with several traced inputs records on: the one all of `tapes` are.
///
/// A `Var` keeps its node's index on its own tape, so an op recording on one tape an input
/// of another would hand the gradient to whatever node has that index there (a wrong
/// gradient, or an index out of bounds in the backward walk). Both tapes borrow with one
/// lifetime when they live in the same scope, so the type checker cannot tell them apart
/// without a closure-scoped (branded) tape API; the op panics instead, in every build.
///
/// # Panics
///
/// When the tapes are not all one, with a message naming `op`.
#[track_caller]
pub(crate) fn one_tape<'t, T: Float>(op: &str, tapes: &[&'t Tape<T>]) -> &'t Tape<T> {
    let first = tapes[0];
    if tapes.iter().any(|t| !core::ptr::eq(*t, first)) {
        panic!(
            "{op}: its inputs are traced on two different tapes; every input of an op must \
             come from the same Tape (made by its `param` or `constant`), or the gradients \
             would reach the wrong values"
        );
    }
    first
}

/// A new value computed by an op from inputs of which some are traced (`traced`):
/// records a node whose backward is `make(output)`, or nothing when no input is traced.
pub(crate) fn record<'t, S2: Shape, T: Float>(
    tape: &'t Tape<T>,
    value: Tensor<S2, T>,
    traced: bool,
    make: impl FnOnce(&Handle<S2, T>) -> Backward<T>,
) -> Var<'t, S2, T> {
    let shape = value.shape();
    let len = value.len();
    // Only a traced value's buffer goes back to the pool, for the next training step; an
    // inference forward's values are freed as before (pooled, they kept ≈ 210 MB of a
    // SmolLM2 prefill alive and made it 12% slower on 1 thread, 24% on 2).
    let mut h = if traced {
        Handle::whole(None, Arc::new(Pooled::new(value)), shape)
    } else {
        Handle::whole(None, Arc::new(value), shape)
    };
    if traced {
        let backward = make(&h);
        h.id = Some(tape.push(len, None, Some(backward)));
    }
    Var { tape, h }
}
