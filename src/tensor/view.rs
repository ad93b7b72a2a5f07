//! Strided views. A view is a slice, an offset, a shape and one stride per axis; the
//! invariant (checked where a view is made from parts) is that every offset it can reach
//! lies in its slice. Reordering axes permutes strides; nothing is copied.

use core::ops::{Index, IndexMut};

use super::{index_out_of_range, layout, Tensor};
use crate::element::Float;
use crate::error::ShapeError;
use crate::shape::{Dims, Permutation, Shape, Transpose, TransposesTo};

/// A borrowed, strided, read-only view of a tensor.
///
/// ```
/// use shapecheck::prelude::*;
/// let x = Tensor::<(D<2>, D<3>, D<4>)>::from_fn(|[i, j, k]| (100 * i + 10 * j + k) as f32);
/// let v = x.permute((A2, A0, A1)); // (4, 2, 3), no copy
/// assert_eq!(v[[3, 1, 2]], 123.0);
/// assert_eq!(v.strides().as_slice(), &[1, 12, 4]);
/// assert_eq!(v.to_tensor().as_slice()[..3], [0.0, 10.0, 20.0]);
/// ```
#[derive(Clone)]
pub struct TensorView<'a, S: Shape, T = f32> {
    data: &'a [T],
    offset: usize,
    shape: S,
    strides: Dims<S>,
}

/// A borrowed, strided, mutable view of a tensor.
pub struct TensorViewMut<'a, S: Shape, T = f32> {
    data: &'a mut [T],
    offset: usize,
    shape: S,
    strides: Dims<S>,
}

/// Anything that reads as a [`TensorView`]: [`Tensor`], `TensorView`, `TensorViewMut`.
/// Operations take their operands through it, so owned tensors and views mix freely.
pub trait AsView {
    /// The shape of the view.
    type Shape: Shape;
    /// The element type.
    type Elem: Float;
    /// A read-only view.
    fn as_view(&self) -> TensorView<'_, Self::Shape, Self::Elem>;
}

impl<S: Shape, T: Float> AsView for Tensor<S, T> {
    type Shape = S;
    type Elem = T;
    #[inline]
    fn as_view(&self) -> TensorView<'_, S, T> {
        self.view()
    }
}

impl<S: Shape, T: Float> AsView for TensorView<'_, S, T> {
    type Shape = S;
    type Elem = T;
    #[inline]
    fn as_view(&self) -> TensorView<'_, S, T> {
        self.clone()
    }
}

impl<S: Shape, T: Float> AsView for TensorViewMut<'_, S, T> {
    type Shape = S;
    type Elem = T;
    #[inline]
    fn as_view(&self) -> TensorView<'_, S, T> {
        self.view()
    }
}

impl<'a, S: Shape, T: Float> TensorView<'a, S, T> {
    /// The whole of a contiguous row-major buffer; the caller guarantees the length.
    #[inline]
    pub(crate) fn contiguous(data: &'a [T], shape: S) -> Self {
        debug_assert_eq!(data.len(), shape.num_elements());
        TensorView {
            data,
            offset: 0,
            strides: shape.contiguous_strides(),
            shape,
        }
    }

    /// A view of `data` with explicit offset and strides; `Err` if some element would lie
    /// outside `data`, or if the shape's element count overflows `usize`. Strides are in
    /// elements, and may be 0 (a broadcast axis).
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let buf = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    /// // Every second element, as a (3,) vector.
    /// let v = TensorView::from_parts(&buf, 0, (D::<3>,), &[2]).unwrap();
    /// assert_eq!(v.to_tensor().as_slice(), &[1.0, 3.0, 5.0]);
    /// assert!(TensorView::from_parts(&buf, 1, (D::<3>,), &[3]).is_err());
    /// ```
    pub fn from_parts(
        data: &'a [T],
        offset: usize,
        shape: S,
        strides: &[usize],
    ) -> Result<Self, ShapeError> {
        let strides = check_parts(data.len(), offset, &shape, strides)?;
        Ok(TensorView {
            data,
            offset,
            shape,
            strides,
        })
    }

    /// The shape; its `Debug` prints the dims by name.
    #[inline]
    pub fn shape(&self) -> S {
        self.shape
    }

    /// The size of each axis.
    #[inline]
    pub fn dims(&self) -> Dims<S> {
        self.shape.dims()
    }

    /// The stride of each axis, in elements.
    #[inline]
    pub fn strides(&self) -> Dims<S> {
        self.strides.clone()
    }

    /// Offset of element `[0, 0, …]` in [`as_base_slice`](Self::as_base_slice).
    #[inline]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The whole borrowed buffer the view reads from.
    #[inline]
    pub fn as_base_slice(&self) -> &'a [T] {
        self.data
    }

    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.shape.num_elements()
    }

    /// Whether the view holds no element.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the elements are laid out row-major without gaps.
    #[inline]
    pub fn is_contiguous(&self) -> bool {
        layout::is_contiguous(&self.dims(), &self.strides)
    }

    /// The element at `index`, or `None` if it is out of range.
    #[inline]
    pub fn get(&self, index: S::Index) -> Option<&'a T> {
        let off = layout::offset_of(self.offset, &self.dims(), &self.strides, index.as_ref())?;
        self.data.get(off)
    }

    /// Calls `f` on every element in row-major logical order.
    #[inline]
    pub fn for_each(&self, mut f: impl FnMut(T)) {
        let data = self.data;
        layout::for_each_offset(self.offset, &self.dims(), &self.strides, |o| f(data[o]));
    }

    /// The elements as one row-major slice, when the view is contiguous: what lets every
    /// op on a contiguous view run the same code as on a tensor.
    #[inline]
    pub fn as_contiguous_slice(&self) -> Option<&'a [T]> {
        match self.len() {
            0 => Some(&[]),
            n if self.is_contiguous() => Some(&self.data[self.offset..self.offset + n]),
            _ => None,
        }
    }

    /// The elements in row-major logical order.
    pub fn to_vec(&self) -> Vec<T> {
        let mut out = crate::pool::with_capacity(self.len());
        match self.as_contiguous_slice() {
            Some(xs) => out.extend_from_slice(xs),
            None => self.for_each(|x| out.push(x)),
        }
        out
    }

    /// A contiguous owned copy.
    pub fn to_tensor(&self) -> Tensor<S, T> {
        Tensor::from_parts(self.shape, self.to_vec())
    }

    /// Swaps the last two axes (no copy).
    #[inline]
    pub fn t<O: Shape>(&self) -> TensorView<'a, O, T>
    where
        S: TransposesTo<O>,
    {
        self.clone().into_t()
    }

    /// Reorders the axes (no copy): `v.permute((A1, A0))`.
    #[inline]
    pub fn permute<P: Permutation<S>>(&self, axes: P) -> TensorView<'a, P::Output, T> {
        self.clone().into_permuted(axes)
    }

    #[inline]
    pub(crate) fn into_t(self) -> TensorView<'a, S::Output, T>
    where
        S: Transpose,
    {
        TensorView {
            data: self.data,
            offset: self.offset,
            strides: S::transpose_strides(&self.strides),
            shape: self.shape.transpose_shape(),
        }
    }

    #[inline]
    pub(crate) fn into_permuted<P: Permutation<S>>(self, _axes: P) -> TensorView<'a, P::Output, T> {
        TensorView {
            data: self.data,
            offset: self.offset,
            strides: P::permute_strides(&self.strides),
            shape: P::permute_shape(&self.shape),
        }
    }
}

impl<'a, S: Shape, T: Float> TensorViewMut<'a, S, T> {
    #[inline]
    pub(crate) fn contiguous(data: &'a mut [T], shape: S) -> Self {
        debug_assert_eq!(data.len(), shape.num_elements());
        TensorViewMut {
            data,
            offset: 0,
            strides: shape.contiguous_strides(),
            shape,
        }
    }

    /// A mutable view of `data` with explicit offset and strides; `Err` if some element
    /// would lie outside `data` or if two indices would share an element (which a mutable
    /// view must not allow).
    pub fn from_parts(
        data: &'a mut [T],
        offset: usize,
        shape: S,
        strides: &[usize],
    ) -> Result<Self, ShapeError> {
        let strides = check_parts(data.len(), offset, &shape, strides)?;
        if !non_overlapping(&shape.dims(), &strides) {
            return Err(ShapeError::Conversion {
                from: format!("strides {strides:?}"),
                to: format!("a mutable view of shape {shape:?} (two indices share an element)"),
            });
        }
        Ok(TensorViewMut {
            data,
            offset,
            shape,
            strides,
        })
    }

    /// A read-only view of the same elements.
    #[inline]
    pub fn view(&self) -> TensorView<'_, S, T> {
        TensorView {
            data: self.data,
            offset: self.offset,
            shape: self.shape,
            strides: self.strides.clone(),
        }
    }

    /// The shape.
    #[inline]
    pub fn shape(&self) -> S {
        self.shape
    }

    /// The size of each axis.
    #[inline]
    pub fn dims(&self) -> Dims<S> {
        self.shape.dims()
    }

    /// The stride of each axis, in elements.
    #[inline]
    pub fn strides(&self) -> Dims<S> {
        self.strides.clone()
    }

    /// The element at `index` mutably, or `None` if it is out of range.
    #[inline]
    pub fn get_mut(&mut self, index: S::Index) -> Option<&mut T> {
        let off = layout::offset_of(self.offset, &self.dims(), &self.strides, index.as_ref())?;
        self.data.get_mut(off)
    }

    /// Applies `f` to every element in place.
    pub fn map_inplace(&mut self, mut f: impl FnMut(T) -> T) {
        let dims = self.dims();
        let data = &mut *self.data;
        layout::for_each_offset(self.offset, &dims, &self.strides, |o| data[o] = f(data[o]));
    }

    /// Copies `src`, element by element, into this view.
    pub fn assign<V: AsView<Shape = S, Elem = T>>(&mut self, src: &V) {
        let src = src.as_view();
        assert_eq!(
            src.dims(),
            self.dims(),
            "assign: {:?} into {:?}",
            src.shape,
            self.shape
        );
        let values = src.to_vec();
        let mut it = values.into_iter();
        self.map_inplace(|_| it.next().expect("same element count"));
    }

    /// Reorders the axes (no copy). A permutation never makes two indices share an element.
    #[inline]
    pub fn permute<P: Permutation<S>>(self, _axes: P) -> TensorViewMut<'a, P::Output, T> {
        TensorViewMut {
            data: self.data,
            offset: self.offset,
            strides: P::permute_strides(&self.strides),
            shape: P::permute_shape(&self.shape),
        }
    }
}

/// Checks that `strides` has one entry per axis and that every reachable offset is in range.
fn check_parts<S: Shape>(
    len: usize,
    offset: usize,
    shape: &S,
    strides: &[usize],
) -> Result<Dims<S>, ShapeError> {
    let dims = shape.dims();
    if strides.len() != S::RANK {
        return Err(ShapeError::Conversion {
            from: format!("{} strides", strides.len()),
            to: format!("a view of shape {shape:?}"),
        });
    }
    // A shape too large to count would make `len()` and every walk over the view wrong.
    let count = shape.try_num_elements()?;
    let mut out = dims.clone();
    out.copy_from_slice(strides);
    let reach = dims.iter().zip(strides).try_fold(offset, |acc, (&d, &s)| {
        d.checked_sub(1)
            .map_or(Some(acc), |d1| d1.checked_mul(s)?.checked_add(acc))
    });
    match (count, reach) {
        (0, _) => Ok(out),
        (_, Some(max)) if max < len => Ok(out),
        _ => Err(ShapeError::LengthMismatch {
            shape: format!("{shape:?} with strides {strides:?} from offset {offset}"),
            expected: reach.map_or(usize::MAX, |m| m.saturating_add(1)),
            actual: len,
        }),
    }
}

/// Whether distinct indices always reach distinct offsets: sorted by stride, each stride
/// must exceed the reach of all smaller ones.
fn non_overlapping(dims: &[usize], strides: &[usize]) -> bool {
    let mut axes: Vec<(usize, usize)> = dims
        .iter()
        .zip(strides)
        .filter(|(&d, _)| d > 1)
        .map(|(&d, &s)| (s, d))
        .collect();
    if dims.contains(&0) {
        return true;
    }
    axes.sort_unstable();
    let mut reach = 0usize;
    for (s, d) in axes {
        if s <= reach {
            return false;
        }
        reach += s * (d - 1);
    }
    true
}

impl<S: Shape, T: Float> Index<S::Index> for TensorView<'_, S, T> {
    type Output = T;
    #[inline]
    fn index(&self, index: S::Index) -> &T {
        match self.get(index) {
            Some(x) => x,
            None => index_out_of_range(index.as_ref(), &self.shape),
        }
    }
}

impl<S: Shape, T: Float> Index<S::Index> for TensorViewMut<'_, S, T> {
    type Output = T;
    #[inline]
    fn index(&self, index: S::Index) -> &T {
        let off = layout::offset_of(self.offset, &self.dims(), &self.strides, index.as_ref());
        match off {
            Some(o) => &self.data[o],
            None => index_out_of_range(index.as_ref(), &self.shape),
        }
    }
}

impl<S: Shape, T: Float> IndexMut<S::Index> for TensorViewMut<'_, S, T> {
    #[inline]
    fn index_mut(&mut self, index: S::Index) -> &mut T {
        let shape = self.shape;
        match self.get_mut(index) {
            Some(x) => x,
            None => index_out_of_range(index.as_ref(), &shape),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::non_overlapping;

    #[test]
    fn overlap_detection() {
        assert!(non_overlapping(&[2, 3], &[3, 1]));
        assert!(non_overlapping(&[3, 2], &[1, 3]));
        assert!(!non_overlapping(&[2, 3], &[1, 1]));
        assert!(!non_overlapping(&[2, 2], &[0, 1]));
        assert!(non_overlapping(&[1, 4], &[0, 1]));
    }
}
