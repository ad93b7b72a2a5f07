//! Reshaping: `reshape`, `split` of the last dim into two, `merge` of the last two into one.
//!
//! A `Tensor` is contiguous, so each of these only relabels its buffer: no element moves.
//! Static shapes are checked by the type checker ([`KeepsElementCount`], [`SplitsInto`](crate::shape::SplitsInto));
//! shapes with runtime dims use the `try_…_with` forms, which take the new shape as a value
//! and check it at run time.

use crate::dim::Dim;
use crate::element::Float;
use crate::error::ShapeError;
use crate::shape::{KeepsElementCount, Shape, StaticShape};
use crate::tensor::Tensor;

pub use crate::shape::{MergeLast, SplitLast};

impl<S: Shape, T: Float> Tensor<S, T> {
    /// The same elements as another static shape with the same element count (checked by
    /// the type checker); nothing is copied.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let x = Tensor::<(D<3>, D<4>)>::from_fn(|[i, j]| (4 * i + j) as f32);
    /// let y: Tensor<(D<2>, D<6>)> = x.reshape();
    /// assert_eq!(y[[1, 0]], 6.0);
    /// ```
    ///
    /// ```compile_fail
    /// use shapecheck::prelude::*;
    /// let x = Tensor::<(D<3>, D<4>)>::zeros();
    /// let y: Tensor<(D<13>,)> = x.reshape(); // 12 elements cannot become 13
    /// ```
    pub fn reshape<S2: StaticShape>(self) -> Tensor<S2, T>
    where
        S: KeepsElementCount<S2>,
    {
        Tensor::from_parts(S2::default(), self.into_vec())
    }

    /// Reshapes into a shape given as a value (runtime dims allowed); `Err` when the element
    /// counts differ, or when the new shape's count overflows `usize`.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let x = Tensor::<(Dyn, Dyn)>::zeros_with((Dyn::new(3), Dyn::new(4)));
    /// assert!(x.clone().try_reshape_with((Dyn::new(6), Dyn::new(2))).is_ok());
    /// assert!(x.try_reshape_with((Dyn::new(5), Dyn::new(2))).is_err());
    /// ```
    pub fn try_reshape_with<S2: Shape>(self, shape: S2) -> Result<Tensor<S2, T>, ShapeError> {
        let count = shape.try_num_elements()?;
        if count != self.len() {
            return Err(ShapeError::incompatible(
                "reshape",
                &self.shape(),
                &shape,
                format!("the element counts differ ({} and {count})", self.len()),
            ));
        }
        Ok(Tensor::from_parts(shape, self.into_vec()))
    }

    /// Splits the last dim into two, `(…, DModel)` → `(…, Heads, HeadDim)`; the type checker
    /// checks that `Heads × HeadDim = DModel`. Nothing is copied.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// dim!(pub Seq = 2; pub DModel = 6; pub Heads = 2; pub HeadDim = 3);
    /// let x = Tensor::<(Seq, DModel)>::from_fn(|[s, j]| (10 * s + j) as f32);
    /// let h: Tensor<(Seq, Heads, HeadDim)> = x.split::<Heads, HeadDim>();
    /// assert_eq!(h[[1, 1, 2]], 15.0);
    /// let back: Tensor<(Seq, DModel)> = h.merge::<DModel>();
    /// assert_eq!(back[[1, 5]], 15.0);
    /// ```
    ///
    /// ```compile_fail
    /// use shapecheck::prelude::*;
    /// dim!(pub Seq = 2; pub DModel = 6; pub Heads = 4; pub HeadDim = 3);
    /// let x = Tensor::<(Seq, DModel)>::zeros();
    /// let h = x.split::<Heads, HeadDim>(); // 4 × 3 ≠ 6
    /// ```
    pub fn split<A: Dim + Default, B: Dim + Default>(self) -> Tensor<S::Output, T>
    where
        S: SplitLast<A, B>,
        S::Output: StaticShape,
    {
        Tensor::from_parts(S::Output::default(), self.into_vec())
    }

    /// Merges the last two dims into one, `(…, Heads, HeadDim)` → `(…, DModel)`; the type
    /// checker checks that `Heads × HeadDim = DModel`. Nothing is copied.
    pub fn merge<C: Dim>(self) -> Tensor<S::Output, T>
    where
        S: MergeLast<C>,
        S::Output: StaticShape,
    {
        Tensor::from_parts(S::Output::default(), self.into_vec())
    }
}
