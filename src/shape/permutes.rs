//! Reorderings of axes that only reorder strides: [`Permutation`] and [`Transpose`].

use generic_array::GenericArray;

use super::{Axis, Dims, DistinctAxis, HasAxis, HasRank, Shape};
use crate::dim::Dim;

/// A tuple of axes `(Axis<I0>, Axis<I1>, …)` that reorders the axes of `S`: every axis of
/// `S` appears exactly once.
///
/// ```
/// use shapecheck::prelude::*;
/// dim!(pub Heads = 2);
/// dim!(pub Seq = 3);
/// dim!(pub HeadDim = 4);
/// let x = Tensor::<(Seq, Heads, HeadDim)>::zeros();
/// let y = x.permute((A1, A0, A2)); // (Heads, Seq, HeadDim), no copy
/// assert_eq!(format!("{:?}", y.shape()), "(Heads=2, Seq=3, HeadDim=4)");
/// ```
///
/// An axis the tensor does not have is a compile error:
///
/// ```compile_fail
/// use shapecheck::prelude::*;
/// let x = Tensor::<(D<2>, D<3>)>::zeros();
/// let y = x.permute((A2, A0));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a permutation of the axes of `{S}`",
    label = "list every axis of `{S}` exactly once",
    note = "a rank-3 tensor takes `(A2, A0, A1)` or another order of `A0, A1, A2`"
)]
pub trait Permutation<S: Shape>: Copy {
    /// The shape after reordering.
    type Output: Shape;
    /// Reorders the dims.
    fn permute_shape(shape: &S) -> Self::Output;
    /// Reorders a per-axis array (strides).
    fn permute_strides(strides: &[usize]) -> Dims<Self::Output>;
}

macro_rules! permutation {
    ($rank:literal; $($I:ident),*; $(($a:ident, $b:ident)),*) => {
        impl<S, $(const $I: usize),*> Permutation<S> for ($(Axis<$I>,)*)
        where
            S: HasRank<$rank> $(+ HasAxis<$I>)*,
            $(Axis<$a>: DistinctAxis<Axis<$b>>,)*
        {
            type Output = ($(<S as HasAxis<$I>>::Dim,)*);
            #[inline(always)]
            fn permute_shape(shape: &S) -> Self::Output {
                ($(<S as HasAxis<$I>>::axis_dim(shape),)*)
            }
            #[inline(always)]
            fn permute_strides(strides: &[usize]) -> Dims<Self::Output> {
                GenericArray::from_array([$(strides[$I]),*])
            }
        }
    };
}

permutation!(1; I0;);
permutation!(2; I0, I1; (I0, I1));
permutation!(3; I0, I1, I2; (I0, I1), (I0, I2), (I1, I2));
permutation!(4; I0, I1, I2, I3; (I0, I1), (I0, I2), (I0, I3), (I1, I2), (I1, I3), (I2, I3));
permutation!(5; I0, I1, I2, I3, I4;
    (I0, I1), (I0, I2), (I0, I3), (I0, I4), (I1, I2), (I1, I3), (I1, I4), (I2, I3), (I2, I4),
    (I3, I4));
permutation!(6; I0, I1, I2, I3, I4, I5;
    (I0, I1), (I0, I2), (I0, I3), (I0, I4), (I0, I5), (I1, I2), (I1, I3), (I1, I4), (I1, I5),
    (I2, I3), (I2, I4), (I2, I5), (I3, I4), (I3, I5), (I4, I5));

/// A shape of rank 2 or more, whose last two axes `.t()` swaps.
///
/// ```compile_fail
/// use shapecheck::prelude::*;
/// let v = Tensor::<(D<3>,)>::zeros();
/// let w = v.t(); // a vector has no second axis to swap with
/// ```
#[diagnostic::on_unimplemented(
    message = "`.t()` swaps the last two axes, and `{Self}` has fewer than two",
    label = "needs a tensor of rank 2 or more"
)]
pub trait Transpose: Shape {
    /// The shape with its last two axes swapped.
    type Output: Shape;
    /// Swaps the last two dims.
    fn transpose_shape(&self) -> Self::Output;
    /// Swaps the last two entries of a per-axis array (strides).
    fn transpose_strides(strides: &[usize]) -> Dims<Self::Output>;
}

/// `Self` with its last two axes swapped is `O`: the bound of `.t()`, implemented for every
/// [`Transpose`] shape. A bound on the method's own parameter `O` (rather than `S: Transpose`
/// alone) makes rustc report `.t()` on a vector with the message below, instead of "the
/// method `t` exists but its trait bounds were not satisfied".
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::TransposesTo;
/// dim!(pub Seq = 4; pub DModel = 8);
/// fn swapped<S: TransposesTo<O>, O: Shape>() {}
/// swapped::<(Seq, DModel), (DModel, Seq)>();
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::shape::TransposesTo;
/// fn swapped<S: TransposesTo<O>, O: Shape>() {}
/// swapped::<(D<3>,), (D<3>,)>(); // a vector has no two axes to swap
/// ```
#[diagnostic::on_unimplemented(
    message = "`.t()` swaps the last two axes, and `{Self}` has fewer than two",
    label = "needs a tensor of rank 2 or more"
)]
pub trait TransposesTo<O: Shape>: Transpose<Output = O> {}

impl<S: Transpose> TransposesTo<S::Output> for S {}

macro_rules! transpose {
    ($($P:ident $pi:tt),*; $X:ident $xi:tt, $Y:ident $yi:tt) => {
        impl<$($P: Dim,)* $X: Dim, $Y: Dim> Transpose for ($($P,)* $X, $Y) {
            type Output = ($($P,)* $Y, $X);
            #[inline(always)]
            fn transpose_shape(&self) -> Self::Output {
                ($(self.$pi,)* self.$yi, self.$xi)
            }
            #[inline(always)]
            fn transpose_strides(strides: &[usize]) -> Dims<Self::Output> {
                GenericArray::from_array([$(strides[$pi],)* strides[$yi], strides[$xi]])
            }
        }
    };
}

transpose!(; A 0, B 1);
transpose!(A 0; B 1, C 2);
transpose!(A 0, B 1; C 2, E 3);
transpose!(A 0, B 1, C 2; E 3, F 4);
transpose!(A 0, B 1, C 2, E 3; F 4, G 5);
