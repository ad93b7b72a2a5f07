//! Traced multi-head layout: [`Var::split_heads`] and [`Var::merge_heads`], with the rules
//! and semantics of [`nn::heads`](crate::ops::heads).
//!
//! `split_heads` is a strided view, as for tensors: the traced value shares its node, and
//! the gradient of each head lands in the columns of the model dim it was read from,
//! through the same strides (no backward of its own, no copy). `merge_heads` copies the
//! heads side by side; its backward reads the output's gradient back through the split
//! strides into the heads' gradient.

use std::sync::Arc;

use super::strided::for_each_pair;
use super::var::{record, Handle, Var};
use crate::dim::StaticDim;
use crate::element::Float;
use crate::ops::heads::{MergeHeads, SplitHeads};
use crate::shape::Shape;

impl<'t, S: Shape, T: Float> Var<'t, S, T> {
    /// `(…, Seq, DModel)` → `(…, Heads, Seq, HeadDim)`, a strided view of the same traced
    /// value (`Heads × HeadDim = DModel` checked by the type checker); see
    /// [`TensorView::split_heads`](crate::TensorView::split_heads).
    ///
    /// ```
    /// use shapecheck::autodiff::{Param, Tape};
    /// use shapecheck::prelude::*;
    /// dim!(pub Seq = 3; pub DModel = 6; pub Heads = 2; pub HeadDim = 3);
    /// let x = Param::new(Tensor::<(Seq, DModel)>::from_fn(|[s, c]| (10 * s + c) as f32));
    /// let tape = Tape::new();
    /// let h = tape.param(&x).split_heads::<Heads, HeadDim>(); // (Heads, Seq, HeadDim)
    /// assert_eq!(h.value().get([1, 2, 0]), Some(&23.0));
    /// // Only head 1 is used: the gradient reaches columns 3..6 only.
    /// let one = tape.constant(Tensor::<(Heads, Seq, HeadDim)>::from_fn(|[h, _, _]| h as f32));
    /// let grads = (&h * &one).sum_all().backward();
    /// assert_eq!(grads.of(&x).unwrap().to_vec()[..6], [0., 0., 0., 1., 1., 1.]);
    /// ```
    ///
    /// ```compile_fail
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// dim!(pub Seq = 3; pub DModel = 6; pub Heads = 4; pub HeadDim = 3);
    /// let tape = Tape::<f32>::new();
    /// let h = tape.constant(Tensor::<(Seq, DModel)>::zeros()).split_heads::<Heads, HeadDim>(); // 4 × 3 ≠ 6
    /// ```
    pub fn split_heads<H: StaticDim, Hd: StaticDim>(&self) -> Var<'t, S::Output, T>
    where
        S: SplitHeads<H, Hd>,
    {
        let (d, s) = (self.h.shape.dims(), &self.h.strides);
        let r = d.len();
        let cs = s[r - 1];
        let shape = self.h.shape.split_shape();
        let mut strides = shape.contiguous_strides();
        strides[..r - 2].copy_from_slice(&s[..r - 2]);
        strides[r - 2] = Hd::SIZE * cs;
        strides[r - 1] = s[r - 2];
        strides[r] = cs;
        Var {
            tape: self.tape,
            h: Handle {
                id: self.h.id,
                data: Arc::clone(&self.h.data),
                offset: self.h.offset,
                shape,
                strides,
            },
        }
    }

    /// `(…, Heads, Seq, HeadDim)` → `(…, Seq, DModel)`: the heads copied side by side (the
    /// tensor op's forward); the backward hands each head its columns of the gradient. See
    /// [`TensorView::merge_heads`](crate::TensorView::merge_heads).
    ///
    /// ```
    /// use shapecheck::autodiff::{Param, Tape};
    /// use shapecheck::prelude::*;
    /// dim!(pub Seq = 3; pub DModel = 6; pub Heads = 2; pub HeadDim = 3);
    /// let x = Param::new(Tensor::<(Seq, DModel)>::from_fn(|[s, c]| (10 * s + c) as f32));
    /// let tape = Tape::new();
    /// let back = tape.param(&x).split_heads::<Heads, HeadDim>().merge_heads::<DModel>();
    /// assert_eq!(back.value().to_vec(), x.value().as_slice());
    /// let w = Tensor::<(Seq, DModel)>::from_fn(|[s, c]| (s * 6 + c) as f32);
    /// let grads = (&back * &tape.constant(w.clone())).sum_all().backward();
    /// assert_eq!(grads.of(&x).unwrap().to_vec(), w.as_slice()); // the identity's gradient
    /// ```
    pub fn merge_heads<C: StaticDim>(&self) -> Var<'t, S::Output, T>
    where
        S: MergeHeads<C>,
    {
        let value = self.value().merge_heads::<C>();
        let x = self.h.clone();
        record(self.tape, value, x.is_traced(), move |_| {
            Box::new(move |g, sink| {
                let Some(id) = x.id else { return };
                let d = x.shape.dims();
                let r = d.len();
                // The output's gradient `(…, Seq, H·Hd)` read as `(…, H, Seq, Hd)`.
                let (h, seq, hd) = (d[r - 3], d[r - 2], d[r - 1]);
                let mut gs = [0usize; 4];
                if r == 4 {
                    gs[0] = seq * h * hd;
                }
                gs[r - 3] = hd;
                gs[r - 2] = h * hd;
                gs[r - 1] = 1;
                let buf = sink.buf(id);
                for_each_pair(&d, (x.offset, &x.strides), (0, &gs[..r]), |_, o, gi| {
                    buf[o] += g[gi];
                });
            })
        })
    }
}
