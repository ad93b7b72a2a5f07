//! Special tensors: the identity matrix.

use super::Tensor;
use crate::dim::{Dim, StaticDim};
use crate::element::Float;

impl<N: StaticDim, T: Float> Tensor<(N, N), T> {
    /// The identity matrix: ones on the diagonal, zeros elsewhere (NumPy's `eye`). Both
    /// axes are the same dim, so it is square by type; for a runtime size use
    /// [`eye_with`](Self::eye_with).
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// dim!(pub DModel = 3);
    /// let i = Tensor::<(DModel, DModel)>::eye();
    /// assert_eq!(i.as_slice(), &[1., 0., 0., 0., 1., 0., 0., 0., 1.]);
    /// let x = Tensor::<(D<2>, DModel)>::randn(0);
    /// assert_eq!(x.matmul(&i), x);
    /// ```
    ///
    /// Two different dims make no identity:
    ///
    /// ```compile_fail,E0599
    /// use shapecheck::prelude::*;
    /// let i = Tensor::<(D<2>, D<3>)>::eye();
    /// ```
    pub fn eye() -> Self {
        Self::eye_with(N::default())
    }
}

impl<N: Dim, T: Float> Tensor<(N, N), T> {
    /// The identity matrix of a size given as a value: `Tensor::<(Dyn, Dyn)>::eye_with(Dyn::new(4))`.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let i = Tensor::<(Dyn, Dyn), f64>::eye_with(Dyn::new(2));
    /// assert_eq!(i.as_slice(), &[1., 0., 0., 1.]);
    /// ```
    pub fn eye_with(n: N) -> Self {
        Self::from_fn_with((n, n), |[i, j]| if i == j { T::ONE } else { T::ZERO })
    }
}
