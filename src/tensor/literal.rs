//! Tensors from nested arrays: the constructors behind [`tensor!`](crate::tensor!), and
//! `From` impls for ranks 1 to 4.
//!
//! An array type carries its lengths, so `[[T; B]; A]` becomes a `Tensor<(D<A>, D<B>), T>`
//! with no run-time check: the shape is known to the type checker and nothing can fail.
//! `tensor!` checks that the literal is rectangular and picks the constructor of its rank;
//! the functions here can also be called directly.
//!
//! ```
//! use shapecheck::prelude::*;
//! let x = tensor!([[1., 2., 3.], [4., 5., 6.]]);
//! let _: &Tensor<(D<2>, D<3>), f64> = &x; // shape and element type inferred
//! assert_eq!(x[[1, 0]], 4.0);
//!
//! let y: Tensor<(D<2>, D<2>)> = tensor!([[1, 2], [3, 4]]); // f32 from the annotation
//! assert_eq!(y.as_slice(), &[1.0, 2.0, 3.0, 4.0]);
//!
//! let z = Tensor::from([0.5f32, 1.5]); // the `From` impl, rank 1
//! assert_eq!(z.dims().as_slice(), &[2]);
//! ```
//!
//! A ragged literal does not compile:
//!
//! ```compile_fail
//! use shapecheck::prelude::*;
//! let x = tensor!([[1., 2., 3.], [4., 5.]]); // row 2 has 2 elements; the rows before it have 3
//! ```

use super::Tensor;
use crate::dim::{Dim, D};
use crate::element::Float;

/// A vector from `[T; A]`.
///
/// ```
/// let v = shapecheck::tensor::literal::rank1([1.0f32, 2.0, 3.0]);
/// assert_eq!(v.as_slice(), &[1.0, 2.0, 3.0]);
/// ```
pub fn rank1<T: Float, const A: usize>(a: [T; A]) -> Tensor<(D<A>,), T>
where
    D<A>: Dim,
{
    Tensor::from_parts((D,), a.to_vec())
}

/// A matrix from `[[T; B]; A]`, row-major.
///
/// ```
/// let m = shapecheck::tensor::literal::rank2([[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]]);
/// assert_eq!(m.dims().as_slice(), &[3, 2]);
/// assert_eq!(m[[2, 1]], 6.0);
/// ```
pub fn rank2<T: Float, const A: usize, const B: usize>(a: [[T; B]; A]) -> Tensor<(D<A>, D<B>), T>
where
    D<A>: Dim,
    D<B>: Dim,
{
    Tensor::from_parts((D, D), a.as_flattened().to_vec())
}

/// A rank-3 tensor from `[[[T; C]; B]; A]`, row-major.
///
/// ```
/// let x = shapecheck::tensor::literal::rank3([[[1.0f32], [2.0]], [[3.0], [4.0]]]);
/// assert_eq!(x.dims().as_slice(), &[2, 2, 1]);
/// assert_eq!(x[[1, 0, 0]], 3.0);
/// ```
pub fn rank3<T: Float, const A: usize, const B: usize, const C: usize>(
    a: [[[T; C]; B]; A],
) -> Tensor<(D<A>, D<B>, D<C>), T>
where
    D<A>: Dim,
    D<B>: Dim,
    D<C>: Dim,
{
    Tensor::from_parts((D, D, D), a.as_flattened().as_flattened().to_vec())
}

/// A rank-4 tensor from `[[[[T; E]; C]; B]; A]`, row-major.
///
/// ```
/// let x = shapecheck::tensor::literal::rank4([[[[1.0f32, 2.0]]]]);
/// assert_eq!(x.dims().as_slice(), &[1, 1, 1, 2]);
/// ```
pub fn rank4<T: Float, const A: usize, const B: usize, const C: usize, const E: usize>(
    a: [[[[T; E]; C]; B]; A],
) -> Tensor<(D<A>, D<B>, D<C>, D<E>), T>
where
    D<A>: Dim,
    D<B>: Dim,
    D<C>: Dim,
    D<E>: Dim,
{
    let flat = a.as_flattened().as_flattened().as_flattened().to_vec();
    Tensor::from_parts((D, D, D, D), flat)
}

/// A rank-5 tensor from nested arrays, row-major.
///
/// ```
/// let x = shapecheck::tensor::literal::rank5([[[[[1.0f32, 2.0]]]]]);
/// assert_eq!(x.dims().as_slice(), &[1, 1, 1, 1, 2]);
/// ```
pub fn rank5<
    T: Float,
    const A: usize,
    const B: usize,
    const C: usize,
    const E: usize,
    const F: usize,
>(
    a: [[[[[T; F]; E]; C]; B]; A],
) -> Tensor<(D<A>, D<B>, D<C>, D<E>, D<F>), T>
where
    D<A>: Dim,
    D<B>: Dim,
    D<C>: Dim,
    D<E>: Dim,
    D<F>: Dim,
{
    let flat = a
        .as_flattened()
        .as_flattened()
        .as_flattened()
        .as_flattened();
    Tensor::from_parts((D, D, D, D, D), flat.to_vec())
}

/// A rank-6 tensor from nested arrays, row-major.
///
/// ```
/// let x = shapecheck::tensor::literal::rank6([[[[[[1.0f32], [2.0]]]]]]);
/// assert_eq!(x.dims().as_slice(), &[1, 1, 1, 1, 2, 1]);
/// ```
#[allow(clippy::type_complexity)] // the nesting is the point
pub fn rank6<
    T: Float,
    const A: usize,
    const B: usize,
    const C: usize,
    const E: usize,
    const F: usize,
    const G: usize,
>(
    a: [[[[[[T; G]; F]; E]; C]; B]; A],
) -> Tensor<(D<A>, D<B>, D<C>, D<E>, D<F>, D<G>), T>
where
    D<A>: Dim,
    D<B>: Dim,
    D<C>: Dim,
    D<E>: Dim,
    D<F>: Dim,
    D<G>: Dim,
{
    let flat = a.as_flattened().as_flattened().as_flattened();
    Tensor::from_parts(
        (D, D, D, D, D, D),
        flat.as_flattened().as_flattened().to_vec(),
    )
}

impl<T: Float, const A: usize> From<[T; A]> for Tensor<(D<A>,), T>
where
    D<A>: Dim,
{
    /// See [`rank1`].
    fn from(a: [T; A]) -> Self {
        rank1(a)
    }
}

impl<T: Float, const A: usize, const B: usize> From<[[T; B]; A]> for Tensor<(D<A>, D<B>), T>
where
    D<A>: Dim,
    D<B>: Dim,
{
    /// See [`rank2`].
    fn from(a: [[T; B]; A]) -> Self {
        rank2(a)
    }
}

impl<T: Float, const A: usize, const B: usize, const C: usize> From<[[[T; C]; B]; A]>
    for Tensor<(D<A>, D<B>, D<C>), T>
where
    D<A>: Dim,
    D<B>: Dim,
    D<C>: Dim,
{
    /// See [`rank3`].
    fn from(a: [[[T; C]; B]; A]) -> Self {
        rank3(a)
    }
}

impl<T: Float, const A: usize, const B: usize, const C: usize, const E: usize>
    From<[[[[T; E]; C]; B]; A]> for Tensor<(D<A>, D<B>, D<C>, D<E>), T>
where
    D<A>: Dim,
    D<B>: Dim,
    D<C>: Dim,
    D<E>: Dim,
{
    /// See [`rank4`].
    fn from(a: [[[[T; E]; C]; B]; A]) -> Self {
        rank4(a)
    }
}
