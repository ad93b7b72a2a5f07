//! The small ops on traced values that the decoder needs and the op families do not have
//! yet: reading a parameter as a constant, and flattening the batch and sequence axes for
//! the loss. Each is a view (no copy, the gradient flowing back through the same strides)
//! or one copy with its vector–Jacobian product. (Heads are split and merged with
//! `Var::split_heads` / `Var::merge_heads`, autodiff/heads.rs.)

use std::sync::Arc;

use crate::autodiff::{record, Handle, Param, Tape, Var};
use crate::dim::{Dim, Dyn};
use crate::element::Float;
use crate::shape::Shape;

/// How a forward reads the parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// As leaves of the tape (frozen ones as constants): training.
    Traced,
    /// All as constants, shared with the parameter, never copied: inference, which records
    /// nothing on the tape.
    Constant,
}

/// The parameter `p` on `tape`, as `mode` says.
pub(crate) fn read<'t, S: Shape, T: Float>(
    tape: &'t Tape<T>,
    p: &Param<S, T>,
    mode: Read,
) -> Var<'t, S, T> {
    match mode {
        Read::Traced => tape.param(p),
        Read::Constant => {
            let data = Arc::clone(p.shared());
            let shape = data.shape();
            Var {
                tape,
                h: Handle {
                    id: None,
                    data,
                    offset: 0,
                    strides: shape.contiguous_strides(),
                    shape,
                },
            }
        }
    }
}

/// `(B, S, X)` → `(B·S, X)`: a view when the value is row-major (the fresh output of an
/// op always is), else one copy.
pub(crate) fn flatten_rows<'t, B, S, X, T>(x: &Var<'t, (B, S, X), T>) -> Var<'t, (Dyn, X), T>
where
    B: Dim,
    S: Dim,
    X: Dim,
    T: Float,
{
    let [b, s, w] = [x.h.shape.0.size(), x.h.shape.1.size(), x.h.shape.2.size()];
    let shape = (Dyn::new(b * s), x.h.shape.2);
    let contiguous = x.h.strides[..] == x.h.shape.contiguous_strides()[..];
    if contiguous {
        return Var {
            tape: x.tape,
            h: Handle {
                id: x.h.id,
                data: Arc::clone(&x.h.data),
                offset: x.h.offset,
                strides: shape.contiguous_strides(),
                shape,
            },
        };
    }
    let value = crate::tensor::Tensor::from_parts(shape, x.value().to_vec());
    debug_assert_eq!(value.len(), b * s * w);
    let xh = x.h.clone();
    record(x.tape, value, xh.is_traced(), move |_| {
        Box::new(move |g, sink| sink.add(&xh, g))
    })
}
