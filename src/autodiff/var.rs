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
use super::param::Param;
use super::tape::{Backward, ScalarLoss, Tape};
use crate::element::Float;
use crate::shape::{Dims, Permutation, Shape, Transpose, TransposesTo};
use crate::tensor::{layout, Tensor, TensorView};

/// A buffer of elements behind an `Arc`, whatever the shape type of the tensor owning it.
pub(crate) trait Buffer<T>: 'static {
    fn slice(&self) -> &[T];
}

impl<S: Shape, T: Float> Buffer<T> for Tensor<S, T> {
    #[inline]
    fn slice(&self) -> &[T] {
        self.as_slice()
    }
}

/// The part of a [`Var`] that outlives the borrow of its tape: node, buffer and layout.
pub(crate) struct Handle<S: Shape, T: Float> {
    pub(crate) id: Option<usize>,
    pub(crate) data: Arc<dyn Buffer<T>>,
    pub(crate) offset: usize,
    pub(crate) shape: S,
    pub(crate) strides: Dims<S>,
}

impl<S: Shape, T: Float> Clone for Handle<S, T> {
    fn clone(&self) -> Self {
        Handle {
            id: self.id,
            data: Arc::clone(&self.data),
            offset: self.offset,
            shape: self.shape,
            strides: self.strides.clone(),
        }
    }
}

impl<S: Shape, T: Float> Handle<S, T> {
    fn whole<S0: Shape>(id: Option<usize>, t: Arc<Tensor<S0, T>>, shape: S) -> Self {
        Handle {
            id,
            data: t,
            offset: 0,
            strides: shape.contiguous_strides(),
            shape,
        }
    }

    /// The value, as a view of the shared buffer.
    #[inline]
    pub(crate) fn view(&self) -> TensorView<'_, S, T> {
        TensorView::from_parts(self.data.slice(), self.offset, self.shape, &self.strides)
            .expect("a Var's layout was checked when it was made")
    }

    /// Whether the view is the whole buffer, row-major from offset 0: then its gradient
    /// can be written straight into the node's buffer.
    #[inline]
    pub(crate) fn is_whole_buffer(&self) -> bool {
        self.offset == 0
            && self.data.slice().len() == self.shape.num_elements()
            && layout::is_contiguous(&self.shape.dims(), &self.strides)
    }

    pub(crate) fn is_traced(&self) -> bool {
        self.id.is_some()
    }
}

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
    /// parameter gives a constant.
    pub fn param<S: Shape>(&self, p: &Param<S, T>) -> Var<'_, S, T> {
        let t = Arc::clone(p.shared());
        let shape = t.shape();
        let id = (!p.is_frozen()).then(|| self.push(t.len(), Some(p.id()), None));
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
    let mut h = Handle::whole(None, Arc::new(value), shape);
    if traced {
        let backward = make(&h);
        h.id = Some(tape.push(len, None, Some(backward)));
    }
    Var { tape, h }
}
