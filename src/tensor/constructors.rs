//! Constructors. Static shapes take no shape argument (`Tensor::<(Seq, DModel)>::zeros()`);
//! the `_with` forms take the shape as a value, for shapes with runtime dims.

use super::{layout, Tensor};
use crate::element::Float;
use crate::error::ShapeError;
use crate::shape::{Shape, StaticShape};

impl<S: StaticShape, T: Float> Tensor<S, T> {
    /// All zeros.
    pub fn zeros() -> Self {
        Self::zeros_with(S::default())
    }

    /// All ones.
    pub fn ones() -> Self {
        Self::ones_with(S::default())
    }

    /// Every element `value`.
    pub fn full(value: T) -> Self {
        Self::full_with(S::default(), value)
    }

    /// Element `[i, j, …]` is `f([i, j, …])`, called in row-major order.
    pub fn from_fn(f: impl FnMut(S::Index) -> T) -> Self {
        Self::from_fn_with(S::default(), f)
    }

    /// The elements of `data` in row-major order.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// dim!(pub Seq = 2);
    /// let err = Tensor::<(Seq, D<3>)>::from_vec(vec![0.0; 5]).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "a tensor of shape (Seq=2, 3) needs 6 elements, but the buffer has 5"
    /// );
    /// ```
    pub fn from_vec(data: Vec<T>) -> Result<Self, ShapeError> {
        Self::from_vec_with(S::default(), data)
    }
}

// The `_with` constructors that allocate cannot return `Result` (they are the plain forms);
// a shape whose element count overflows `usize` makes them panic with the message of
// `ShapeError::TooLarge`, and `from_vec_with` returns that error instead.
impl<S: Shape, T: Float> Tensor<S, T> {
    /// All zeros, of a shape given as a value.
    ///
    /// # Panics
    ///
    /// When the shape's element count overflows `usize` ([`Shape::try_num_elements`]).
    #[track_caller]
    pub fn zeros_with(shape: S) -> Self {
        Self::full_with(shape, T::ZERO)
    }

    /// All ones, of a shape given as a value.
    ///
    /// # Panics
    ///
    /// As [`zeros_with`](Self::zeros_with).
    #[track_caller]
    pub fn ones_with(shape: S) -> Self {
        Self::full_with(shape, T::ONE)
    }

    /// Every element `value`, of a shape given as a value.
    ///
    /// # Panics
    ///
    /// As [`zeros_with`](Self::zeros_with):
    ///
    /// ```should_panic
    /// use shapecheck::prelude::*;
    /// let _ = Tensor::<(Dyn, Dyn)>::full_with((Dyn::new(1 << 32), Dyn::new(1 << 32)), 1.0);
    /// ```
    #[track_caller]
    pub fn full_with(shape: S, value: T) -> Self {
        Tensor::from_parts(shape, vec![value; shape.num_elements()])
    }

    /// Element `[i, j, …]` is `f([i, j, …])`, of a shape given as a value.
    ///
    /// # Panics
    ///
    /// As [`zeros_with`](Self::zeros_with).
    #[track_caller]
    pub fn from_fn_with(shape: S, mut f: impl FnMut(S::Index) -> T) -> Self {
        let n = shape.num_elements();
        let dims = shape.dims();
        let mut index = S::Index::default();
        let data = (0..n)
            .map(|flat| {
                layout::unravel(flat, &dims, index.as_mut());
                f(index)
            })
            .collect();
        Tensor::from_parts(shape, data)
    }

    /// The elements of `data` in row-major order, of a shape given as a value; `Err` when
    /// the length differs from the shape's element count, or when that count overflows
    /// `usize`.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// dim!(pub Batch);
    /// let x = Tensor::from_vec_with((Batch::new(2), D::<2>), vec![1.0f32, 2., 3., 4.]).unwrap();
    /// assert_eq!(x[[1, 0]], 3.0);
    /// assert!(Tensor::from_vec_with((Batch::new(3), D::<2>), vec![1.0f32; 4]).is_err());
    /// let huge = Tensor::<(Batch, Batch)>::from_vec_with((Batch::new(1 << 32), Batch::new(1 << 32)), vec![]);
    /// assert_eq!(
    ///     huge.unwrap_err().to_string(),
    ///     "a tensor of shape (Batch=4294967296, Batch=4294967296) has too many elements: \
    ///      their count overflows usize"
    /// );
    /// ```
    pub fn from_vec_with(shape: S, data: Vec<T>) -> Result<Self, ShapeError> {
        let expected = shape.try_num_elements()?;
        if data.len() != expected {
            return Err(ShapeError::LengthMismatch {
                shape: format!("{shape:?}"),
                expected,
                actual: data.len(),
            });
        }
        Ok(Tensor::from_parts(shape, data))
    }
}
