//! Zero-copy shape ops that only move a view's offset and edit its shape and strides:
//! slicing a range of an axis, `squeeze` of an axis of size 1, `unsqueeze` of a new axis of
//! size 1. Each returns a [`TensorView`] of the same buffer.
//!
//! Static ranges and static dims are checked by the type checker ([`SliceFits`],
//! [`Squeezable`]); the `try_` forms check runtime dims and ranges at run time. The shape
//! arithmetic is [`ReplaceAxis`] (the dim at axis `I` becomes `K`) and [`InsertAxis`] (a new
//! axis `I` of dim `K`), which `concat` and `stack` use as well. All four are defined in
//! [`shape`](crate::shape) with the other shape rules.

use core::ops::{Bound, RangeBounds};

use crate::dim::{Dim, Dyn, StaticDim, D};
use crate::element::Float;
use crate::error::{OrPanic, ShapeError};
use crate::shape::{Axis, HasAxis, Shape};
use crate::tensor::{Tensor, TensorView};

pub use crate::shape::{InsertAxis, ReplaceAxis, SliceFits, Squeezable};

/// A view of the same buffer with a new shape, offset and strides that stay inside the
/// original view (each caller shows why).
fn restrided<'a, S2: Shape, T: Float>(
    data: &'a [T],
    offset: usize,
    shape: S2,
    strides: &[usize],
) -> TensorView<'a, S2, T> {
    match TensorView::from_parts(data, offset, shape, strides) {
        Ok(v) => v,
        Err(e) => unreachable!("a sub-view reaches outside its base view: {e}"),
    }
}

/// Indices `start..start + len` of axis `I`; the caller has checked that they are in range,
/// so every offset of the result is one the input view reaches.
fn slice_view<'a, const I: usize, S, K, T>(
    v: &TensorView<'a, S, T>,
    start: usize,
    dim: K,
) -> TensorView<'a, <S as ReplaceAxis<I, K>>::Output, T>
where
    S: ReplaceAxis<I, K>,
    K: Dim,
    T: Float,
{
    debug_assert!(start + dim.size() <= v.dims()[I]);
    let strides = v.strides();
    // An empty result reaches no element, and its strides may be anything (an empty view
    // is valid with any strides), so its offset stays put rather than risk an overflow.
    let offset = if dim.size() == 0 || v.is_empty() {
        v.offset()
    } else {
        v.offset() + start * strides[I]
    };
    restrided(
        v.as_base_slice(),
        offset,
        v.shape().replace_axis(dim),
        &strides,
    )
}

/// The view without axis `I`, whose size the caller has checked is 1.
fn squeeze_view<'a, const I: usize, S, T>(
    v: &TensorView<'a, S, T>,
) -> TensorView<'a, <S as HasAxis<I>>::Removed, T>
where
    S: HasAxis<I>,
    T: Float,
{
    debug_assert_eq!(v.dims()[I], 1);
    let mut strides = [0usize; 6];
    let mut n = 0;
    for (k, &s) in v.strides().iter().enumerate() {
        if k != I {
            strides[n] = s;
            n += 1;
        }
    }
    restrided(
        v.as_base_slice(),
        v.offset(),
        v.shape().remove_axis(),
        &strides[..n],
    )
}

/// The view with a new axis `I` of size 1; its stride is the one a row-major layout would
/// give it, though any stride reaches the same single index.
fn unsqueeze_view<'a, const I: usize, S, T>(
    v: &TensorView<'a, S, T>,
) -> TensorView<'a, <S as InsertAxis<I, D<1>>>::Output, T>
where
    S: InsertAxis<I, D<1>>,
    D<1>: Dim,
    T: Float,
{
    let (dims, old) = (v.dims(), v.strides());
    // Saturating: an empty view may carry any strides, and a size-1 axis never uses its own.
    let new = if I < S::RANK {
        old[I].saturating_mul(dims[I])
    } else {
        1
    };
    let mut strides = [0usize; 7];
    strides[..I].copy_from_slice(&old[..I]);
    strides[I] = new;
    strides[I + 1..=S::RANK].copy_from_slice(&old[I..]);
    restrided(
        v.as_base_slice(),
        v.offset(),
        v.shape().insert_axis(D::<1>),
        &strides[..=S::RANK],
    )
}

/// The start and end of `range` within an axis of `n` indices, or `Err`.
fn resolve_range<S: Shape>(
    shape: &S,
    axis: usize,
    range: &impl RangeBounds<usize>,
) -> Result<(usize, usize), ShapeError> {
    let n = shape.dims()[axis];
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.saturating_add(1),
        Bound::Excluded(&e) => e,
        Bound::Unbounded => n,
    };
    if start > end || end > n {
        return Err(ShapeError::conversion(
            shape,
            format!("its slice {start}..{end} of axis {axis}, which has {n} indices"),
        ));
    }
    Ok((start, end))
}

// The methods, written once for `Tensor` (views borrowing the tensor, lifetime `'_`) and
// once for `TensorView` (views of the same buffer, lifetime `'a`).
macro_rules! slice_methods {
    ($lt:lifetime, $view:ident) => {
        /// Indices `START..START + LEN` of axis `I`, as a view with dim `D<LEN>` there: no
        /// element is copied. The axis must have a static dim, and the type checker checks
        /// that the range fits in it ([`SliceFits`]); for a runtime dim or range use
        /// [`try_slice_with`](Self::try_slice_with).
        ///
        /// ```
        /// use shapecheck::prelude::*;
        /// dim!(pub Seq = 5);
        /// let x = Tensor::<(D<2>, Seq)>::from_fn(|[i, j]| (10 * i + j) as f32);
        /// let y: TensorView<(D<2>, D<3>)> = x.slice::<1, 2, 3>(); // columns 2, 3, 4
        /// assert_eq!(y.to_vec(), [2., 3., 4., 12., 13., 14.]);
        /// assert!(std::ptr::eq(y.as_base_slice(), x.as_slice())); // same buffer
        /// ```
        ///
        /// ```compile_fail,E0277
        /// use shapecheck::prelude::*;
        /// dim!(pub Seq = 5);
        /// let x = Tensor::<(D<2>, Seq)>::zeros();
        /// let y = x.slice::<1, 3, 3>(); // indices 3, 4, 5 of a dim of 5
        /// ```
        #[inline]
        pub fn slice<const I: usize, const START: usize, const LEN: usize>(
            &self,
        ) -> TensorView<$lt, <S as ReplaceAxis<I, D<LEN>>>::Output, T>
        where
            D<LEN>: StaticDim,
            S: ReplaceAxis<I, D<LEN>>,
            <S as HasAxis<I>>::Dim: SliceFits<START, D<LEN>>,
        {
            slice_view::<I, S, D<LEN>, T>(&self.$view(), START, D)
        }

        /// Indices `START..START + K` of axis `I`, as a view with the static dim `K` there:
        /// [`slice`](Self::slice) for a named dim.
        ///
        /// ```
        /// use shapecheck::prelude::*;
        /// dim!(pub Seq = 6; pub Window = 2);
        /// let x = Tensor::<(Seq,)>::from_fn(|[i]| i as f32);
        /// let w: TensorView<(Window,)> = x.slice_as::<0, 3, Window>();
        /// assert_eq!(w.to_vec(), [3., 4.]);
        /// ```
        ///
        /// ```compile_fail,E0277
        /// use shapecheck::prelude::*;
        /// dim!(pub Seq = 6; pub Window = 2);
        /// let x = Tensor::<(Seq,)>::zeros();
        /// let w = x.slice_as::<0, 5, Window>(); // index 6 is past the end
        /// ```
        #[inline]
        pub fn slice_as<const I: usize, const START: usize, K>(
            &self,
        ) -> TensorView<$lt, <S as ReplaceAxis<I, K>>::Output, T>
        where
            K: StaticDim,
            S: ReplaceAxis<I, K>,
            <S as HasAxis<I>>::Dim: SliceFits<START, K>,
        {
            slice_view::<I, S, K, T>(&self.$view(), START, K::default())
        }

        /// A range of axis `I` chosen at run time, as a view with a [`Dyn`] dim there; `Err`
        /// when the range is not inside the axis. Any dim may be sliced this way.
        ///
        /// ```
        /// use shapecheck::prelude::*;
        /// let x = Tensor::<(Dyn, D<2>)>::from_fn_with((Dyn::new(4), D), |[i, j]| (10 * i + j) as f32);
        /// let rows = x.try_slice_with(A0, 1..3).unwrap();
        /// assert_eq!(rows.to_vec(), [10., 11., 20., 21.]);
        /// assert_eq!(x.try_slice_with(A0, 2..).unwrap().dims().as_slice(), &[2, 2]);
        /// let err = x.try_slice_with(A0, 3..5).unwrap_err();
        /// assert_eq!(
        ///     err.to_string(),
        ///     "a tensor of shape (Dyn=4, 2) cannot be viewed as its slice 3..5 of axis 0, \
        ///      which has 4 indices"
        /// );
        /// ```
        #[inline]
        pub fn try_slice_with<const I: usize>(
            &self,
            axis: Axis<I>,
            range: impl RangeBounds<usize>,
        ) -> Result<TensorView<$lt, <S as ReplaceAxis<I, Dyn>>::Output, T>, ShapeError>
        where
            S: ReplaceAxis<I, Dyn>,
        {
            let _ = axis;
            let v = self.$view();
            let (start, end) = resolve_range(&v.shape(), I, &range)?;
            Ok(slice_view::<I, S, Dyn, T>(&v, start, Dyn::new(end - start)))
        }

        /// [`try_slice_with`](Self::try_slice_with) that panics when the range is not inside
        /// the axis.
        ///
        /// # Panics
        ///
        /// With the message of the `Err` that `try_slice_with` returns.
        ///
        /// ```
        /// use shapecheck::prelude::*;
        /// let x = Tensor::<(D<3>, D<4>)>::from_fn(|[i, j]| (10 * i + j) as f32);
        /// assert_eq!(x.slice_with(A1, ..=1).to_vec(), [0., 1., 10., 11., 20., 21.]);
        /// ```
        #[inline]
        #[track_caller]
        pub fn slice_with<const I: usize>(
            &self,
            axis: Axis<I>,
            range: impl RangeBounds<usize>,
        ) -> TensorView<$lt, <S as ReplaceAxis<I, Dyn>>::Output, T>
        where
            S: ReplaceAxis<I, Dyn>,
        {
            self.try_slice_with(axis, range).or_panic()
        }

        /// Removes axis `I`, whose dim must be static of size 1 ([`Squeezable`]), as a view:
        /// no element is copied.
        ///
        /// ```
        /// use shapecheck::prelude::*;
        /// dim!(pub Seq = 3);
        /// let x = Tensor::<(D<1>, Seq)>::from_fn(|[_, j]| j as f32);
        /// let v: TensorView<(Seq,)> = x.squeeze::<0>();
        /// assert_eq!(v.to_vec(), [0., 1., 2.]);
        /// ```
        ///
        /// ```compile_fail,E0277
        /// use shapecheck::prelude::*;
        /// let x = Tensor::<(D<2>, D<3>)>::zeros();
        /// let v = x.squeeze::<0>(); // axis 0 has size 2
        /// ```
        #[inline]
        pub fn squeeze<const I: usize>(&self) -> TensorView<$lt, <S as HasAxis<I>>::Removed, T>
        where
            S: HasAxis<I>,
            <S as HasAxis<I>>::Dim: Squeezable,
        {
            squeeze_view::<I, S, T>(&self.$view())
        }

        /// Removes axis `I` if its size is 1, checked at run time: `Err` otherwise. Any dim
        /// may be squeezed this way.
        ///
        /// ```
        /// use shapecheck::prelude::*;
        /// let x = Tensor::<(Dyn, D<2>)>::zeros_with((Dyn::new(1), D));
        /// assert_eq!(x.try_squeeze::<0>().unwrap().dims().as_slice(), &[2]);
        /// let y = Tensor::<(Dyn, D<2>)>::zeros_with((Dyn::new(3), D));
        /// assert_eq!(
        ///     y.try_squeeze::<0>().unwrap_err().to_string(),
        ///     "a tensor of shape (Dyn=3, 2) cannot be viewed as (2,) by squeezing axis 0, \
        ///      which has size 3, not 1"
        /// );
        /// ```
        #[inline]
        pub fn try_squeeze<const I: usize>(
            &self,
        ) -> Result<TensorView<$lt, <S as HasAxis<I>>::Removed, T>, ShapeError>
        where
            S: HasAxis<I>,
        {
            let v = self.$view();
            let n = v.dims()[I];
            if n != 1 {
                return Err(ShapeError::conversion(
                    &v.shape(),
                    format!(
                        "{:?} by squeezing axis {I}, which has size {n}, not 1",
                        v.shape().remove_axis()
                    ),
                ));
            }
            Ok(squeeze_view::<I, S, T>(&v))
        }

        /// Inserts a new axis `I` of dim `D<1>`, as a view: no element is copied. A tensor
        /// of rank r takes a new axis at 0 to r.
        ///
        /// ```
        /// use shapecheck::prelude::*;
        /// dim!(pub Seq = 3);
        /// let x = Tensor::<(Seq,)>::from_fn(|[j]| j as f32);
        /// let row: TensorView<(D<1>, Seq)> = x.unsqueeze::<0>();
        /// let col: TensorView<(Seq, D<1>)> = x.unsqueeze::<1>();
        /// assert_eq!(row.to_vec(), col.to_vec());
        /// assert_eq!(col[[2, 0]], 2.0);
        /// ```
        ///
        /// ```compile_fail,E0277
        /// use shapecheck::prelude::*;
        /// let x = Tensor::<(D<2>, D<3>)>::zeros();
        /// let v = x.unsqueeze::<3>(); // a rank-2 tensor takes a new axis at 0, 1 or 2
        /// ```
        #[inline]
        pub fn unsqueeze<const I: usize>(
            &self,
        ) -> TensorView<$lt, <S as InsertAxis<I, D<1>>>::Output, T>
        where
            S: InsertAxis<I, D<1>>,
        {
            unsqueeze_view::<I, S, T>(&self.$view())
        }
    };
}

impl<S: Shape, T: Float> Tensor<S, T> {
    slice_methods!('_, view);
}

impl<'a, S: Shape, T: Float> TensorView<'a, S, T> {
    slice_methods!('a, clone);
}
