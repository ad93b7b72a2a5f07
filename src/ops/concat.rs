//! Joining tensors: `concat` lays two tensors end to end along an existing axis, `stack`
//! lines several up along a new one. Both copy into a new contiguous [`Tensor`], reading
//! their operands (tensors or views) through their strides.
//!
//! The dim of the joined axis is the caller's: written in the result type
//! (`let z: Tensor<(D<7>, D<2>)> = x.concat(A0, &y);`) or in a turbofish. For static dims the
//! type checker checks it: [`SumOf`] for `concat` (`3 + 4` must be the `7` written),
//! [`CountsParts`] for `stack` (three tensors make an axis of size 3), and [`CanConcat`] that
//! the other dims agree. The `try_` forms take any dims, runtime ones included, and check the
//! sizes at run time.

use crate::dim::{label, Dim};
use crate::element::Float;
use crate::error::{OrPanic, ShapeError};
use crate::shape::{Axis, HasAxis, InsertAxis, ReplaceAxis, Shape, SumOf};
use crate::tensor::layout;
use crate::tensor::{AsView, Tensor, TensorView};

pub use crate::shape::{CanConcat, CountsParts};

/// A result dim in a message: [`label`], with the size of a named static dim, whose name
/// alone does not say it (`Total (size 7)`; `D<7>` and runtime dims as they are).
fn sized_label<K: Dim>() -> String {
    match K::STATIC_SIZE {
        Some(n) if K::NAME != "D" => format!("{} (size {n})", label::<K>()),
        _ => label::<K>(),
    }
}

/// The offsets of the blocks that hang off each multi-index of the `dims` axes, in row-major
/// order.
fn block_offsets(base: usize, dims: &[usize], strides: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(dims.iter().product());
    layout::for_each_offset(base, dims, strides, |o| out.push(o));
    out
}

/// Appends the block at `base` (axes `dims` with `strides`) to `out` in row-major order.
fn push_block<T: Float>(
    out: &mut Vec<T>,
    data: &[T],
    base: usize,
    dims: &[usize],
    strides: &[usize],
) {
    let n: usize = dims.iter().product();
    if n == 0 {
        return;
    }
    if layout::is_contiguous(dims, strides) {
        out.extend_from_slice(&data[base..base + n]);
    } else {
        layout::for_each_offset(base, dims, strides, |o| out.push(data[o]));
    }
}

fn concat_views<const I: usize, S, R, C, T>(
    a: &TensorView<'_, S, T>,
    b: &TensorView<'_, R, T>,
) -> Result<Tensor<<S as ReplaceAxis<I, C>>::Output, T>, ShapeError>
where
    S: ReplaceAxis<I, C>,
    R: Shape,
    C: Dim,
    T: Float,
{
    let (ad, bd) = (a.dims(), b.dims());
    let error = |detail: String| ShapeError::incompatible("concat", &a.shape(), &b.shape(), detail);
    if let Some(k) = (0..S::RANK).find(|&k| k != I && ad[k] != bd[k]) {
        return Err(error(format!(
            "axis {k} differs ({} and {}), and only axis {I} may",
            ad[k], bd[k]
        )));
    }
    let Some(n) = ad[I].checked_add(bd[I]) else {
        return Err(error(format!(
            "the result's axis {I} would have {} + {} indices, more than usize can count",
            ad[I], bd[I]
        )));
    };
    let Some(c) = C::from_size(n) else {
        return Err(error(format!(
            "the result's axis {I} is {}, which cannot hold {} + {} = {n} indices",
            sized_label::<C>(),
            ad[I],
            bd[I]
        )));
    };
    let shape = a.shape().replace_axis(c);
    let (as_, bs) = (a.strides(), b.strides());
    let mut out = Vec::with_capacity(shape.try_num_elements()?);
    let a_outer = block_offsets(a.offset(), &ad[..I], &as_[..I]);
    let b_outer = block_offsets(b.offset(), &bd[..I], &bs[..I]);
    let (a_data, b_data) = (a.as_base_slice(), b.as_base_slice());
    for (&ao, &bo) in a_outer.iter().zip(&b_outer) {
        push_block(&mut out, a_data, ao, &ad[I..], &as_[I..]);
        push_block(&mut out, b_data, bo, &bd[I..], &bs[I..]);
    }
    Tensor::from_vec_with(shape, out)
}

macro_rules! concat_methods {
    ($view:ident) => {
        /// `self` and `other` laid end to end along axis `I`, as a new tensor. Every other
        /// dim must be the same type on both sides ([`CanConcat`]); the dim `C` of the joined
        /// axis comes from the result type, and the type checker checks that it is the sum
        /// of the two ([`SumOf`]: 3 + 4 must be a dim of size 7). `other` may be a tensor or
        /// a view.
        ///
        /// # Panics
        ///
        /// When a runtime dim on another axis has different sizes on the two sides; the
        /// message is that of [`try_concat`](Self::try_concat).
        ///
        /// ```
        /// use shapecheck::prelude::*;
        /// dim!(pub Prefix = 1; pub Seq = 3; pub Total = 4; pub DModel = 2);
        /// let cls = Tensor::<(Prefix, DModel)>::full(9.0);
        /// let x = Tensor::<(Seq, DModel)>::from_fn(|[i, j]| (10 * i + j) as f32);
        /// let y: Tensor<(Total, DModel)> = cls.concat(A0, &x);
        /// assert_eq!(y.as_slice(), &[9., 9., 0., 1., 10., 11., 20., 21.]);
        ///
        /// // Along axis 1, with a transposed view as the other operand: (Seq, 2 + 3).
        /// let w = Tensor::<(D<3>, Seq)>::from_fn(|[i, j]| (100 * i + j) as f32);
        /// let z: Tensor<(Seq, D<5>)> = x.concat(A1, &w.t());
        /// assert_eq!(z.as_slice()[10..], [20., 21., 2., 102., 202.]);
        /// ```
        ///
        /// ```compile_fail,E0277
        /// use shapecheck::prelude::*;
        /// let x = Tensor::<(D<3>, D<2>)>::zeros();
        /// let y = Tensor::<(D<4>, D<2>)>::zeros();
        /// let z: Tensor<(D<8>, D<2>)> = x.concat(A0, &y); // 3 + 4 is not 8
        /// ```
        #[track_caller]
        pub fn concat<const I: usize, V, C>(
            &self,
            axis: Axis<I>,
            other: &V,
        ) -> Tensor<<S as ReplaceAxis<I, C>>::Output, T>
        where
            V: AsView<Elem = T>,
            V::Shape: HasAxis<I>,
            S: CanConcat<I, V::Shape> + ReplaceAxis<I, C>,
            C: SumOf<<S as HasAxis<I>>::Dim, <V::Shape as HasAxis<I>>::Dim>,
        {
            self.try_concat(axis, other).or_panic()
        }

        /// [`concat`](Self::concat) for any dims, checked at run time: `Err` when a dim on
        /// another axis has different sizes, or when the result's dim at axis `I` cannot
        /// have the summed size (a runtime dim such as [`Dyn`](crate::Dyn) takes any size).
        ///
        /// ```
        /// use shapecheck::prelude::*;
        /// dim!(pub Batch);
        /// let a = Tensor::<(Batch, Dyn)>::ones_with((Batch::new(2), Dyn::new(3)));
        /// let b = Tensor::<(Batch, Dyn)>::zeros_with((Batch::new(2), Dyn::new(1)));
        /// let c: Tensor<(Batch, Dyn)> = a.try_concat(A1, &b).unwrap();
        /// assert_eq!(c.as_slice(), &[1., 1., 1., 0., 1., 1., 1., 0.]);
        ///
        /// let d = Tensor::<(Batch, Dyn)>::zeros_with((Batch::new(5), Dyn::new(1)));
        /// let err = a.try_concat::<1, _, Dyn>(A1, &d).unwrap_err();
        /// assert_eq!(
        ///     err.to_string(),
        ///     "concat: cannot combine (Batch=2, Dyn=3) with (Batch=5, Dyn=1): \
        ///      axis 0 differs (2 and 5), and only axis 1 may"
        /// );
        /// ```
        pub fn try_concat<const I: usize, V, C>(
            &self,
            axis: Axis<I>,
            other: &V,
        ) -> Result<Tensor<<S as ReplaceAxis<I, C>>::Output, T>, ShapeError>
        where
            V: AsView<Elem = T>,
            S: CanConcat<I, V::Shape> + ReplaceAxis<I, C>,
            C: Dim,
        {
            let _ = axis;
            concat_views::<I, S, V::Shape, C, T>(&self.$view(), &other.as_view())
        }
    };
}

impl<S: Shape, T: Float> Tensor<S, T> {
    concat_methods!(view);

    /// `N` tensors of the same shape lined up along a new axis `I`, as a new tensor: the
    /// parts are `out[.., k, ..]` for `k < N`. The new axis's dim `K` comes from the result
    /// type, and the type checker checks that its size is `N` ([`CountsParts`]). The parts
    /// may be tensors or views (all of one type).
    ///
    /// # Panics
    ///
    /// When a runtime dim has different sizes in two parts; the message is that of
    /// [`try_stack`](Self::try_stack).
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// dim!(pub Heads = 3; pub HeadDim = 2);
    /// let h: Vec<Tensor<(HeadDim,)>> = (0..3).map(|k| Tensor::full(k as f32)).collect();
    /// let by_head: Tensor<(Heads, HeadDim)> = Tensor::stack(A0, [&h[0], &h[1], &h[2]]);
    /// assert_eq!(by_head.as_slice(), &[0., 0., 1., 1., 2., 2.]);
    /// let by_dim: Tensor<(HeadDim, Heads)> = Tensor::stack(A1, [&h[0], &h[1], &h[2]]);
    /// assert_eq!(by_dim.as_slice(), &[0., 1., 2., 0., 1., 2.]);
    /// ```
    ///
    /// ```compile_fail,E0277
    /// use shapecheck::prelude::*;
    /// dim!(pub Heads = 4; pub HeadDim = 2);
    /// let h = Tensor::<(HeadDim,)>::zeros();
    /// let s: Tensor<(Heads, HeadDim)> = Tensor::stack(A0, [&h, &h, &h]); // 3 parts, not 4
    /// ```
    #[track_caller]
    pub fn stack<const I: usize, const N: usize, V, K>(axis: Axis<I>, parts: [&V; N]) -> Self
    where
        V: AsView<Elem = T>,
        V::Shape: InsertAxis<I, K, Output = S>,
        K: CountsParts<N>,
    {
        Self::try_stack::<I, V, K>(axis, &parts).or_panic()
    }

    /// [`stack`](Self::stack) of a count known at run time, for any dims: `Err` when the
    /// parts' runtime dims differ, when there is no part, or when the new dim `K` cannot
    /// have the count as its size.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let rows: Vec<Tensor<(Dyn,)>> =
    ///     (0..4).map(|k| Tensor::full_with((Dyn::new(2),), k as f32)).collect();
    /// let parts: Vec<&Tensor<(Dyn,)>> = rows.iter().collect();
    /// let m: Tensor<(Dyn, Dyn)> = Tensor::try_stack(A0, &parts).unwrap();
    /// assert_eq!(m.dims().as_slice(), &[4, 2]);
    /// assert_eq!(m[[3, 1]], 3.0);
    ///
    /// let err = Tensor::<(D<3>, Dyn)>::try_stack(A0, &parts).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "stack: cannot combine 4 tensors of shape (Dyn=2,) with a new axis D<3>: \
    ///      stacking 4 tensors makes an axis of size 4"
    /// );
    /// ```
    pub fn try_stack<const I: usize, V, K>(axis: Axis<I>, parts: &[&V]) -> Result<Self, ShapeError>
    where
        V: AsView<Elem = T>,
        V::Shape: InsertAxis<I, K, Output = S>,
        K: Dim,
    {
        let _ = axis;
        let views: Vec<TensorView<'_, V::Shape, T>> = parts.iter().map(|p| p.as_view()).collect();
        let Some(first) = views.first() else {
            return Err(ShapeError::incompatible_described(
                "stack",
                "no tensor",
                format!("a new axis {}", sized_label::<K>()),
                "stacking needs at least one tensor, to know the shape of the parts",
            ));
        };
        let dims = first.dims();
        if let Some((k, v)) = views.iter().enumerate().find(|(_, v)| v.dims() != dims) {
            return Err(ShapeError::incompatible(
                "stack",
                &first.shape(),
                &v.shape(),
                format!(
                    "tensor {k} differs from tensor 0, and stacked tensors must have the same shape"
                ),
            ));
        }
        let n = views.len();
        let Some(new) = K::from_size(n) else {
            return Err(ShapeError::incompatible_described(
                "stack",
                format!("{n} tensors of shape {:?}", first.shape()),
                format!("a new axis {}", sized_label::<K>()),
                format!("stacking {n} tensors makes an axis of size {n}"),
            ));
        };
        let shape = first.shape().insert_axis(new);
        let count = shape.try_num_elements()?;
        // Per part: its buffer, its strides, and the offset of each block below axis `I`.
        let blocks: Vec<_> = views
            .iter()
            .map(|v| {
                let strides = v.strides();
                let outer = block_offsets(v.offset(), &dims[..I], &strides[..I]);
                (v.as_base_slice(), strides, outer)
            })
            .collect();
        let mut out = Vec::with_capacity(count);
        for j in 0..dims[..I].iter().product() {
            for (data, strides, outer) in &blocks {
                push_block(&mut out, data, outer[j], &dims[I..], &strides[I..]);
            }
        }
        Tensor::from_vec_with(shape, out)
    }
}

impl<S: Shape, T: Float> TensorView<'_, S, T> {
    concat_methods!(as_view);
}
