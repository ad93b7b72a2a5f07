//! Tensors: the owned [`Tensor`] and the strided views [`TensorView`] and [`TensorViewMut`].
//!
//! A `Tensor<S, T>` owns a contiguous row-major `Vec<T>` and a shape value `S` (zero-sized
//! when every dim is static). A view borrows a slice and adds an offset and one stride per
//! axis, so transposing, permuting and broadcasting never copy. Anything that can be read
//! as a view implements [`AsView`], which is what operations take as operands — and what
//! the methods of [`ops`](crate::ops) (`exp`, `sum`, `softmax`, `layer_norm`, …) are
//! written for, once, so that views take what tensors take.

mod constructors;
mod display;
pub(crate) mod layout;
pub mod literal;
mod random;
mod special;
mod view;

pub use view::{AsView, TensorView, TensorViewMut};

use core::ops::{Index, IndexMut};

use crate::element::Float;
use crate::error::ShapeError;
use crate::shape::{Dims, Permutation, Shape, StaticShape, TransposesTo};

/// An owned, contiguous, row-major tensor of shape `S` and element type `T`.
///
/// ```
/// use shapecheck::prelude::*;
/// dim!(pub Seq = 2);
/// dim!(pub DModel = 3);
/// let x = Tensor::<(Seq, DModel)>::from_fn(|[i, j]| (3 * i + j) as f32);
/// assert_eq!(x[[1, 2]], 5.0);
/// assert_eq!(format!("{:?}", x.shape()), "(Seq=2, DModel=3)");
/// assert_eq!(x.to_string(), "[[0. 1. 2.]\n [3. 4. 5.]]");
/// ```
#[derive(Clone, PartialEq)]
pub struct Tensor<S: Shape, T = f32> {
    shape: S,
    data: Vec<T>,
}

impl<S: Shape, T: Copy> Tensor<S, T> {
    /// Wraps a buffer whose length the caller has checked.
    pub(crate) fn from_parts(shape: S, data: Vec<T>) -> Self {
        debug_assert_eq!(shape.num_elements(), data.len());
        Tensor { shape, data }
    }

    /// The shape; its `Debug` prints the dims by name: `(Seq=128, DModel=384)`.
    #[inline]
    pub fn shape(&self) -> S {
        self.shape
    }

    /// The size of each axis.
    #[inline]
    pub fn dims(&self) -> Dims<S> {
        self.shape.dims()
    }

    /// Row-major strides.
    #[inline]
    pub fn strides(&self) -> Dims<S> {
        self.shape.contiguous_strides()
    }

    /// Number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor holds no element (some dim has size 0).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The elements in row-major order.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    /// The elements in row-major order, mutably.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data
    }

    /// The buffer, row-major.
    #[inline]
    pub fn into_vec(self) -> Vec<T> {
        self.data
    }

    /// The element at `index`, or `None` if it is out of range.
    #[inline]
    pub fn get(&self, index: S::Index) -> Option<&T> {
        let off = layout::offset_of(0, &self.dims(), &self.strides(), index.as_ref())?;
        self.data.get(off)
    }

    /// The element at `index` mutably, or `None` if it is out of range.
    #[inline]
    pub fn get_mut(&mut self, index: S::Index) -> Option<&mut T> {
        let off = layout::offset_of(0, &self.dims(), &self.strides(), index.as_ref())?;
        self.data.get_mut(off)
    }
}

impl<S: Shape, T: Float> Tensor<S, T> {
    /// A borrowed view of the whole tensor.
    #[inline]
    pub fn view(&self) -> TensorView<'_, S, T> {
        TensorView::contiguous(&self.data, self.shape)
    }

    /// A mutable view of the whole tensor.
    #[inline]
    pub fn view_mut(&mut self) -> TensorViewMut<'_, S, T> {
        TensorViewMut::contiguous(&mut self.data, self.shape)
    }

    /// Swaps the last two axes, as a view: no element is copied.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let a = Tensor::<(D<2>, D<3>)>::from_vec(vec![1., 2., 3., 4., 5., 6.]).unwrap();
    /// let at = a.t();
    /// assert_eq!(at.dims().as_slice(), &[3, 2]);
    /// assert_eq!(at[[2, 1]], 6.0);
    /// assert!(std::ptr::eq(at.as_base_slice(), a.as_slice())); // same buffer
    /// ```
    #[inline]
    pub fn t<O: Shape>(&self) -> TensorView<'_, O, T>
    where
        S: TransposesTo<O>,
    {
        self.view().into_t()
    }

    /// Reorders the axes, as a view: `x.permute((A2, A0, A1))`.
    #[inline]
    pub fn permute<P: Permutation<S>>(&self, axes: P) -> TensorView<'_, P::Output, T> {
        self.view().into_permuted(axes)
    }

    /// Applies `f` to every element in place.
    pub fn map_inplace(&mut self, mut f: impl FnMut(T) -> T) {
        self.data.iter_mut().for_each(|x| *x = f(*x));
    }

    /// The same elements as another shape of equal dims, checked at run time:
    /// `x.into_shape((Batch::new(4), DModel))` turns a static dim into a runtime one.
    pub fn into_shape<S2: Shape>(self, shape: S2) -> Result<Tensor<S2, T>, ShapeError> {
        if shape.dims().as_slice() != self.dims().as_slice() {
            return Err(ShapeError::conversion(&self.shape, format!("{shape:?}")));
        }
        Ok(Tensor::from_parts(shape, self.data))
    }

    /// The same elements with static dims, checked at run time: the way from a shape with
    /// runtime dims (say, read from a file) to one the type checker knows.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// dim!(pub DModel = 3);
    /// let x = Tensor::from_vec_with((Dyn::new(2), Dyn::new(3)), vec![0.0f32; 6]).unwrap();
    /// let y: Tensor<(D<2>, DModel)> = x.clone().to_static().unwrap();
    /// assert!(x.to_static::<(D<3>, DModel)>().is_err());
    /// ```
    pub fn to_static<S2: StaticShape>(self) -> Result<Tensor<S2, T>, ShapeError> {
        self.into_shape(S2::default())
    }
}

impl<S: Shape, T: Copy> Index<S::Index> for Tensor<S, T> {
    type Output = T;
    #[inline]
    fn index(&self, index: S::Index) -> &T {
        match self.get(index) {
            Some(x) => x,
            None => index_out_of_range(index.as_ref(), &self.shape),
        }
    }
}

impl<S: Shape, T: Copy> IndexMut<S::Index> for Tensor<S, T> {
    #[inline]
    fn index_mut(&mut self, index: S::Index) -> &mut T {
        let shape = self.shape;
        match self.get_mut(index) {
            Some(x) => x,
            None => index_out_of_range(index.as_ref(), &shape),
        }
    }
}

#[cold]
#[track_caller]
pub(crate) fn index_out_of_range(index: &[usize], shape: &impl core::fmt::Debug) -> ! {
    panic!("index {index:?} is out of range for a tensor of shape {shape:?}")
}
