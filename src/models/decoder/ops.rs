//! The small ops on traced values that the decoder needs and the op families do not have
//! yet: reading a parameter as a constant, splitting and merging heads, and flattening the
//! batch and sequence axes for the loss. Each is a view (no copy, the gradient flowing back
//! through the same strides) or one copy with its vector–Jacobian product.
//!
//! (When the shape-op family grows traced `split_heads` / `merge_heads` / `reshape`, these
//! can give way to them.)

use std::sync::Arc;

use crate::autodiff::{record, Handle, Param, Tape, Var};
use crate::dim::{Dim, Dyn, StaticDim};
use crate::element::Float;
use crate::nn::heads::{MergeHeads, SplitHeads};
use crate::shape::Shape;
use crate::tensor::TensorView;

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

/// `(B, S, C)` → `(B, H, S, Hd)`, a strided view of the same buffer (head `h` is columns
/// `h·Hd..(h + 1)·Hd` of each row), like [`TensorView::split_heads`].
pub(crate) fn split_heads<'t, H, Hd, X, T>(x: &Var<'t, X, T>) -> Var<'t, X::Output, T>
where
    H: StaticDim,
    Hd: StaticDim,
    X: SplitHeads<H, Hd>,
    T: Float,
{
    let v = x.h.view().split_heads::<H, Hd>();
    Var {
        tape: x.tape,
        h: Handle {
            id: x.h.id,
            data: Arc::clone(&x.h.data),
            offset: v.offset(),
            shape: v.shape(),
            strides: v.strides(),
        },
    }
}

/// `(B, H, S, Hd)` → `(B, S, C)`, the heads copied side by side; the gradient is the
/// output's read back through the split-heads strides.
pub(crate) fn merge_heads<'t, B, H, S, Hd, C, T>(
    x: &Var<'t, (B, H, S, Hd), T>,
) -> Var<'t, (B, S, C), T>
where
    B: Dim,
    H: StaticDim,
    S: Dim,
    Hd: StaticDim,
    C: StaticDim,
    (B, H, S, Hd): MergeHeads<C, Output = (B, S, C)>,
    T: Float,
{
    let value = x.value().merge_heads::<C>();
    let xh = x.h.clone();
    record(x.tape, value, xh.is_traced(), move |_| {
        Box::new(move |g, sink| {
            let [_, h, s, hd] = <[usize; 4]>::try_from(&xh.shape.dims()[..]).expect("rank 4");
            let c = h * hd;
            let split = TensorView::from_parts(g, 0, xh.shape, &[s * c, hd, c, 1])
                .expect("the output gradient holds every element of the heads");
            sink.add(&xh, &split.to_vec());
        })
    })
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
