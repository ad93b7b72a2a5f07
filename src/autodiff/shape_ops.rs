//! Traced shape ops that move no element, or at most copy once: `reshape` (static and
//! runtime-checked), `into_shape` / `to_static`, `split` / `merge` of the last dim, `slice`
//! (and its named-dim and runtime forms), `squeeze` / `unsqueeze`, and `contiguous`.
//!
//! Each has the name and the shape rule (the very trait bound) of the tensor op, so a
//! mistake gives the same compile error traced or not. The slices and the squeezes call
//! the tensor op on the value's view and keep the view it returns: the result shares the
//! node (and buffer) of its input, and its gradient lands in the node's gradient through
//! the view's offset and strides, as for [`t`](Var::t) and [`permute`](Var::permute).
//! `split` is always such a view (splitting an axis splits its stride); `reshape` and
//! `merge` are views when the input's layout allows it (a row-major value, as every op's
//! output is) and otherwise copy once through the tensor op, recording a node whose
//! backward adds the gradient back through the input's strides.
//!
//! ```
//! use shapecheck::autodiff::{Param, Tape};
//! use shapecheck::prelude::*;
//! dim!(pub Seq = 2; pub DModel = 6; pub Heads = 2; pub HeadDim = 3);
//! let x = Param::new(Tensor::<(Seq, DModel)>::from_fn(|[s, j]| (10 * s + j) as f32));
//! let tape = Tape::new();
//! let h = tape.param(&x).split::<Heads, HeadDim>(); // (Seq, Heads, HeadDim), a view
//! let first: Var<(Seq, D<1>, HeadDim)> = h.slice::<1, 0, 1>(); // head 0, a view
//! let y = first.squeeze::<1>().sum_all();
//! assert_eq!(tape.len(), 2); // the leaf and the sum: the views record nothing
//! let g = y.backward();
//! assert_eq!(g.of(&x).unwrap().to_vec(), [1., 1., 1., 0., 0., 0., 1., 1., 1., 0., 0., 0.]);
//! ```

use core::ops::RangeBounds;
use std::sync::Arc;

use super::var::{record, Handle, Var};
use crate::dim::{Dim, Dyn, StaticDim, D};
use crate::element::Float;
use crate::error::{OrPanic, ShapeError};
use crate::ops::{MergeLast, SplitLast};
use crate::shape::{
    Axis, Dims, HasAxis, InsertAxis, KeepsElementCount, ReplaceAxis, Shape, SliceFits, Squeezable,
    StaticShape,
};
use crate::tensor::{layout, Tensor, TensorView};

/// `v` as the dims or strides of a shape of the same rank.
fn dims_of<S: Shape>(v: &[usize]) -> Dims<S> {
    Dims::<S>::from_slice(v).clone()
}

impl<'t, S: Shape, T: Float> Var<'t, S, T> {
    /// The same node seen through another layout of its buffer.
    fn relaid<S2: Shape>(&self, offset: usize, shape: S2, strides: Dims<S2>) -> Var<'t, S2, T> {
        Var {
            tape: self.tape,
            h: Handle {
                id: self.h.id,
                data: Arc::clone(&self.h.data),
                offset,
                shape,
                strides,
            },
        }
    }

    /// The same node seen through a view that a tensor op made of this value's view.
    fn through_view<S2: Shape>(&self, v: TensorView<'_, S2, T>) -> Var<'t, S2, T> {
        let (offset, shape, strides) = (v.offset(), v.shape(), v.strides());
        self.relaid(offset, shape, strides)
    }

    /// Whether the value is row-major from its offset (size-1 axes may have any stride).
    fn is_row_major(&self) -> bool {
        layout::is_contiguous(&self.h.shape.dims(), &self.h.strides)
    }

    /// The value copied by `op` (a tensor op on the contiguous copy), recorded as a node
    /// whose backward adds the gradient, row-major like the input's elements, back through
    /// the input's strides.
    fn copied<S2: Shape>(&self, value: Tensor<S2, T>) -> Var<'t, S2, T> {
        let x = self.h.clone();
        record(self.tape, value, x.is_traced(), move |_| {
            Box::new(move |g, sink| sink.add(&x, g))
        })
    }

    /// The same elements, in the same row-major order, as the shape `shape` of equal count:
    /// a relabelling of the buffer when the value is row-major, else one copy.
    fn reshaped<S2: Shape>(
        &self,
        shape: S2,
        op: impl FnOnce(Tensor<S, T>) -> Tensor<S2, T>,
    ) -> Var<'t, S2, T> {
        if self.is_row_major() {
            self.relaid(self.h.offset, shape, shape.contiguous_strides())
        } else {
            self.copied(op(self.to_tensor()))
        }
    }

    /// The same elements as another static shape with the same element count (checked by
    /// the type checker, as [`Tensor::reshape`]). A row-major value is relabelled, nothing
    /// copied; a strided one (a `.t()`) is copied once.
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::<(D<3>, D<4>)>::from_fn(|[i, j]| (4 * i + j) as f32));
    /// let y: Var<(D<2>, D<6>)> = x.reshape();
    /// assert_eq!(y.value()[[1, 0]], 6.0);
    /// ```
    ///
    /// ```compile_fail
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::<(D<3>, D<4>)>::zeros());
    /// let y: Var<(D<13>,)> = x.reshape(); // 12 elements cannot become 13
    /// ```
    pub fn reshape<S2: StaticShape>(&self) -> Var<'t, S2, T>
    where
        S: KeepsElementCount<S2>,
    {
        self.reshaped(S2::default(), Tensor::reshape::<S2>)
    }

    /// Reshapes into a shape given as a value (runtime dims allowed), as
    /// [`Tensor::try_reshape_with`]: `Err` (with its message) when the element counts
    /// differ.
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::<(Dyn, Dyn)>::zeros_with((Dyn::new(3), Dyn::new(4))));
    /// assert!(x.try_reshape_with((Dyn::new(6), Dyn::new(2))).is_ok());
    /// assert!(x.try_reshape_with((Dyn::new(5), Dyn::new(2))).is_err());
    /// ```
    pub fn try_reshape_with<S2: Shape>(&self, shape: S2) -> Result<Var<'t, S2, T>, ShapeError> {
        if !self.is_row_major() {
            return Ok(self.copied(self.to_tensor().try_reshape_with(shape)?));
        }
        // The check of `Tensor::try_reshape_with`, made without a copy to hand it.
        let count = shape.try_num_elements()?;
        let len = self.h.shape.num_elements();
        if count != len {
            return Err(ShapeError::incompatible(
                "reshape",
                &self.h.shape,
                &shape,
                format!("the element counts differ ({len} and {count})"),
            ));
        }
        Ok(self.relaid(self.h.offset, shape, shape.contiguous_strides()))
    }

    /// The same value as another shape of equal dims, checked at run time (as
    /// [`Tensor::into_shape`]): how a runtime dim becomes a static one or the reverse. The
    /// layout is kept, so it is always a view.
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// dim!(pub Batch);
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::<(D<2>, D<3>)>::zeros());
    /// let y = x.into_shape((Batch::new(2), D::<3>)).unwrap();
    /// assert_eq!(y.shape().dims().as_slice(), &[2, 3]);
    /// assert!(y.to_static::<(D<3>, D<2>)>().is_err());
    /// ```
    pub fn into_shape<S2: Shape>(&self, shape: S2) -> Result<Var<'t, S2, T>, ShapeError> {
        if shape.dims().as_slice() != self.h.shape.dims().as_slice() {
            return Err(ShapeError::conversion(&self.h.shape, format!("{shape:?}")));
        }
        Ok(self.relaid(self.h.offset, shape, dims_of::<S2>(&self.h.strides)))
    }

    /// The same value with static dims, checked at run time ([`Tensor::to_static`]).
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::<(Dyn,)>::zeros_with((Dyn::new(3),)));
    /// let y: Var<(D<3>,)> = x.to_static().unwrap();
    /// assert!(x.to_static::<(D<4>,)>().is_err());
    /// ```
    pub fn to_static<S2: StaticShape>(&self) -> Result<Var<'t, S2, T>, ShapeError> {
        self.into_shape(S2::default())
    }

    /// Splits the last dim into two, `(…, DModel)` → `(…, Heads, HeadDim)`, under the rule
    /// of [`Tensor::split`] (`Heads × HeadDim = DModel`, checked by the type checker).
    /// Always a view: the last stride `s` becomes `(s·HeadDim, s)`.
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// dim!(pub Seq = 2; pub DModel = 6; pub Heads = 2; pub HeadDim = 3);
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::<(Seq, DModel)>::from_fn(|[s, j]| (10 * s + j) as f32));
    /// let h: Var<(Seq, Heads, HeadDim)> = x.split::<Heads, HeadDim>();
    /// assert_eq!(h.value()[[1, 1, 2]], 15.0);
    /// ```
    ///
    /// ```compile_fail
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// dim!(pub Seq = 2; pub DModel = 6; pub Heads = 4; pub HeadDim = 3);
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::<(Seq, DModel)>::zeros());
    /// let h = x.split::<Heads, HeadDim>(); // 4 × 3 ≠ 6
    /// ```
    pub fn split<A: Dim + Default, B: Dim + Default>(&self) -> Var<'t, S::Output, T>
    where
        S: SplitLast<A, B>,
        S::Output: StaticShape,
    {
        let shape = S::Output::default();
        let mut strides = self.h.strides.to_vec();
        let last = strides.pop().expect("a split shape has a last axis");
        // Saturating: an empty view may carry any strides, and then none is used.
        strides.push(last.saturating_mul(B::default().size()));
        strides.push(last);
        self.relaid(self.h.offset, shape, dims_of::<S::Output>(&strides))
    }

    /// Merges the last two dims into one, `(…, Heads, HeadDim)` → `(…, DModel)`, under the
    /// rule of [`Tensor::merge`]. A view when the two axes are laid out as one (as in a
    /// row-major value); otherwise (say, after a `permute`) one copy.
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// dim!(pub Seq = 2; pub DModel = 6; pub Heads = 2; pub HeadDim = 3);
    /// let tape = Tape::new();
    /// let h = tape.constant(Tensor::<(Seq, Heads, HeadDim)>::from_fn(|[s, h, d]| (10 * s + 3 * h + d) as f32));
    /// let x: Var<(Seq, DModel)> = h.merge::<DModel>();
    /// assert_eq!(x.value()[[1, 5]], 15.0);
    /// ```
    pub fn merge<C: Dim>(&self) -> Var<'t, S::Output, T>
    where
        S: MergeLast<C>,
        S::Output: StaticShape,
    {
        let (dims, st) = (self.h.shape.dims(), &self.h.strides);
        let r = S::RANK;
        let (a, b, sa, sb) = (dims[r - 2], dims[r - 1], st[r - 2], st[r - 1]);
        let merged = match (a, b) {
            (1, _) => Some(sb),
            (_, 1) => Some(sa),
            _ if sa == sb * b => Some(sb),
            _ => None,
        };
        let shape = S::Output::default();
        match merged {
            Some(s) => {
                let mut strides = st[..r - 2].to_vec();
                strides.push(s);
                self.relaid(self.h.offset, shape, dims_of::<S::Output>(&strides))
            }
            None => self.copied(self.to_tensor().merge::<C>()),
        }
    }

    /// A copy of the value in a contiguous row-major buffer of its own (PyTorch's
    /// `.contiguous()`), recorded so that the gradient flows back through the input's
    /// strides. A value that already is its whole buffer, row-major, is returned as is.
    ///
    /// ```
    /// use shapecheck::autodiff::{Param, Tape};
    /// use shapecheck::prelude::*;
    /// let w = Param::new(Tensor::<(D<2>, D<3>)>::from_fn(|[i, j]| (3 * i + j) as f32));
    /// let tape = Tape::new();
    /// let wt = tape.param(&w).t().contiguous(); // (3, 2), row-major
    /// assert_eq!(wt.value().as_contiguous_slice().unwrap(), &[0., 3., 1., 4., 2., 5.]);
    /// let i = tape.constant(Tensor::<(D<3>, D<2>)>::from_fn(|[i, _]| i as f32));
    /// let g = (&wt * &i).sum_all().backward();
    /// assert_eq!(g.of(&w).unwrap().to_vec(), [0., 1., 2., 0., 1., 2.]);
    /// ```
    pub fn contiguous(&self) -> Var<'t, S, T> {
        if self.h.is_whole_buffer() {
            return self.clone();
        }
        self.copied(self.to_tensor())
    }

    /// Indices `START..START + LEN` of axis `I`, as a view with dim `D<LEN>` there (the
    /// tensor op [`Tensor::slice`], with its rule [`SliceFits`]): no element is copied, and
    /// the gradient lands in the sliced part of the input's gradient.
    ///
    /// ```
    /// use shapecheck::autodiff::{Param, Tape};
    /// use shapecheck::prelude::*;
    /// let x = Param::new(Tensor::<(D<2>, D<5>)>::from_fn(|[i, j]| (10 * i + j) as f32));
    /// let tape = Tape::new();
    /// let y: Var<(D<2>, D<3>)> = tape.param(&x).slice::<1, 2, 3>(); // columns 2, 3, 4
    /// assert_eq!(y.value().to_vec(), [2., 3., 4., 12., 13., 14.]);
    /// let g = y.sum_all().backward();
    /// assert_eq!(g.of(&x).unwrap().to_vec(), [0., 0., 1., 1., 1., 0., 0., 1., 1., 1.]);
    /// ```
    ///
    /// ```compile_fail
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::<(D<2>, D<5>)>::zeros());
    /// let y = x.slice::<1, 3, 3>(); // indices 3, 4, 5 of a dim of 5
    /// ```
    pub fn slice<const I: usize, const START: usize, const LEN: usize>(
        &self,
    ) -> Var<'t, <S as ReplaceAxis<I, D<LEN>>>::Output, T>
    where
        D<LEN>: StaticDim,
        S: ReplaceAxis<I, D<LEN>>,
        <S as HasAxis<I>>::Dim: SliceFits<START, D<LEN>>,
    {
        self.through_view(self.value().slice::<I, START, LEN>())
    }

    /// Indices `START..START + K` of axis `I`, as a view with the static dim `K` there:
    /// [`slice`](Self::slice) for a named dim ([`Tensor::slice_as`]).
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// dim!(pub Seq = 6; pub Window = 2);
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::<(Seq,)>::from_fn(|[i]| i as f32));
    /// let w: Var<(Window,)> = x.slice_as::<0, 3, Window>();
    /// assert_eq!(w.value().to_vec(), [3., 4.]);
    /// ```
    pub fn slice_as<const I: usize, const START: usize, K>(
        &self,
    ) -> Var<'t, <S as ReplaceAxis<I, K>>::Output, T>
    where
        K: StaticDim,
        S: ReplaceAxis<I, K>,
        <S as HasAxis<I>>::Dim: SliceFits<START, K>,
    {
        self.through_view(self.value().slice_as::<I, START, K>())
    }

    /// A range of axis `I` chosen at run time (PyTorch's `narrow`), as a view with a
    /// [`Dyn`] dim there; `Err` (the message of [`Tensor::try_slice_with`]) when the range
    /// is not inside the axis.
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::<(Dyn, D<2>)>::from_fn_with((Dyn::new(4), D), |[i, j]| (10 * i + j) as f32));
    /// assert_eq!(x.try_slice_with(A0, 1..3).unwrap().value().to_vec(), [10., 11., 20., 21.]);
    /// assert!(x.try_slice_with(A0, 3..5).is_err());
    /// ```
    pub fn try_slice_with<const I: usize>(
        &self,
        axis: Axis<I>,
        range: impl RangeBounds<usize>,
    ) -> Result<Var<'t, <S as ReplaceAxis<I, Dyn>>::Output, T>, ShapeError>
    where
        S: ReplaceAxis<I, Dyn>,
    {
        Ok(self.through_view(self.value().try_slice_with(axis, range)?))
    }

    /// [`try_slice_with`](Self::try_slice_with) that panics when the range is not inside
    /// the axis.
    ///
    /// # Panics
    ///
    /// With the message of the `Err` that `try_slice_with` returns.
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::<(D<3>, D<4>)>::from_fn(|[i, j]| (10 * i + j) as f32));
    /// assert_eq!(x.slice_with(A1, ..=1).value().to_vec(), [0., 1., 10., 11., 20., 21.]);
    /// ```
    #[track_caller]
    pub fn slice_with<const I: usize>(
        &self,
        axis: Axis<I>,
        range: impl RangeBounds<usize>,
    ) -> Var<'t, <S as ReplaceAxis<I, Dyn>>::Output, T>
    where
        S: ReplaceAxis<I, Dyn>,
    {
        self.try_slice_with(axis, range).or_panic()
    }

    /// Removes axis `I`, whose dim must be static of size 1 ([`Squeezable`], the rule of
    /// [`Tensor::squeeze`]), as a view.
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::<(D<1>, D<3>)>::from_fn(|[_, j]| j as f32));
    /// let v: Var<(D<3>,)> = x.squeeze::<0>();
    /// assert_eq!(v.value().to_vec(), [0., 1., 2.]);
    /// ```
    ///
    /// ```compile_fail
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::<(D<2>, D<3>)>::zeros());
    /// let v = x.squeeze::<0>(); // axis 0 has size 2
    /// ```
    pub fn squeeze<const I: usize>(&self) -> Var<'t, <S as HasAxis<I>>::Removed, T>
    where
        S: HasAxis<I>,
        <S as HasAxis<I>>::Dim: Squeezable,
    {
        self.through_view(self.value().squeeze::<I>())
    }

    /// Removes axis `I` if its size is 1, checked at run time ([`Tensor::try_squeeze`]):
    /// `Err` otherwise.
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::<(Dyn, D<2>)>::zeros_with((Dyn::new(1), D)));
    /// assert_eq!(x.try_squeeze::<0>().unwrap().shape().dims().as_slice(), &[2]);
    /// ```
    pub fn try_squeeze<const I: usize>(
        &self,
    ) -> Result<Var<'t, <S as HasAxis<I>>::Removed, T>, ShapeError>
    where
        S: HasAxis<I>,
    {
        Ok(self.through_view(self.value().try_squeeze::<I>()?))
    }

    /// Inserts a new axis `I` of dim `D<1>` ([`Tensor::unsqueeze`]), as a view.
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::<(D<3>,)>::from_fn(|[j]| j as f32));
    /// let col: Var<(D<3>, D<1>)> = x.unsqueeze::<1>();
    /// assert_eq!(col.value()[[2, 0]], 2.0);
    /// ```
    ///
    /// ```compile_fail
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::<(D<2>, D<3>)>::zeros());
    /// let v = x.unsqueeze::<3>(); // a rank-2 value takes a new axis at 0, 1 or 2
    /// ```
    pub fn unsqueeze<const I: usize>(&self) -> Var<'t, <S as InsertAxis<I, D<1>>>::Output, T>
    where
        S: InsertAxis<I, D<1>>,
    {
        self.through_view(self.value().unsqueeze::<I>())
    }
}
