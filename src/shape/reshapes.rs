//! Rules of reshaping: a reshape keeps the element count ([`KeepsElementCount`]), a last dim
//! splits into two ([`SplitLast`]) and the last two merge into one ([`MergeLast`]).
//!
//! All take static dims; the `try_reshape_with` form checks the element count of shapes
//! with runtime dims at run time.

use core::ops::Mul;

use typenum::{Prod, Same, U1};

use super::{Shape, SplitsInto, StaticShape};
use crate::dim::{Dim, StaticDim};

/// A static shape with its element count as a typenum number.
#[doc(hidden)]
pub trait ElementCount: StaticShape {
    type Count;
}

impl ElementCount for () {
    type Count = U1;
}

impl<A: StaticDim> ElementCount for (A,) {
    type Count = A::Size;
}

impl<A: StaticDim, B: StaticDim> ElementCount for (A, B)
where
    A::Size: Mul<B::Size>,
{
    type Count = Prod<A::Size, B::Size>;
}

impl<A: StaticDim, B: StaticDim, C: StaticDim> ElementCount for (A, B, C)
where
    A::Size: Mul<B::Size>,
    Prod<A::Size, B::Size>: Mul<C::Size>,
{
    type Count = Prod<Prod<A::Size, B::Size>, C::Size>;
}

impl<A: StaticDim, B: StaticDim, C: StaticDim, E: StaticDim> ElementCount for (A, B, C, E)
where
    (A, B, C): ElementCount,
    <(A, B, C) as ElementCount>::Count: Mul<E::Size>,
{
    type Count = Prod<<(A, B, C) as ElementCount>::Count, E::Size>;
}

impl<A: StaticDim, B: StaticDim, C: StaticDim, E: StaticDim, F: StaticDim> ElementCount
    for (A, B, C, E, F)
where
    (A, B, C, E): ElementCount,
    <(A, B, C, E) as ElementCount>::Count: Mul<F::Size>,
{
    type Count = Prod<<(A, B, C, E) as ElementCount>::Count, F::Size>;
}

impl<A: StaticDim, B: StaticDim, C: StaticDim, E: StaticDim, F: StaticDim, G: StaticDim>
    ElementCount for (A, B, C, E, F, G)
where
    (A, B, C, E, F): ElementCount,
    <(A, B, C, E, F) as ElementCount>::Count: Mul<G::Size>,
{
    type Count = Prod<<(A, B, C, E, F) as ElementCount>::Count, G::Size>;
}

/// `Self` and `S2` hold the same number of elements, so one can be reshaped into the other.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::KeepsElementCount;
/// fn check<S: KeepsElementCount<S2>, S2: Shape>() {}
/// check::<(D<3>, D<4>), (D<2>, D<6>)>();
/// ```
///
/// ```compile_fail
/// use shapecheck::prelude::*;
/// use shapecheck::shape::KeepsElementCount;
/// fn check<S: KeepsElementCount<S2>, S2: Shape>() {}
/// check::<(D<3>, D<4>), (D<13>,)>();
/// ```
#[diagnostic::on_unimplemented(
    message = "reshape must keep the element count: `{Self}` cannot become `{S2}`",
    label = "`{Self}` and `{S2}` hold different numbers of elements"
)]
pub trait KeepsElementCount<S2>: StaticShape {}

#[diagnostic::do_not_recommend]
impl<S, S2> KeepsElementCount<S2> for S
where
    S: ElementCount,
    S2: ElementCount,
    S::Count: Same<S2::Count>,
{
}

/// Shapes whose last dim can be split into `(A, B)`; `Output` is the split shape. The rule
/// of [`split`](crate::Tensor::split): rank 1 to 5, and the last dim is `A × B`
/// ([`SplitsInto`]).
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::SplitLast;
/// dim!(pub Seq = 2; pub DModel = 6; pub Heads = 2; pub HeadDim = 3);
/// fn split<S: SplitLast<A, B>, A: Dim, B: Dim>() -> usize { <S::Output as Shape>::RANK }
/// assert_eq!(split::<(Seq, DModel), Heads, HeadDim>(), 3);
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::shape::SplitLast;
/// dim!(pub Seq = 2; pub DModel = 6; pub Heads = 4; pub HeadDim = 3);
/// fn split<S: SplitLast<A, B>, A: Dim, B: Dim>() {}
/// split::<(Seq, DModel), Heads, HeadDim>(); // 4 × 3 ≠ 6
/// ```
#[diagnostic::on_unimplemented(
    message = "cannot split the last dim of `{Self}` into (`{A}`, `{B}`)",
    label = "splitting needs a tensor of rank 1 to 5 whose last dim is `{A}` × `{B}`"
)]
pub trait SplitLast<A: Dim, B: Dim>: Shape {
    /// The shape with its last dim replaced by `A, B`.
    type Output: Shape;
}

/// Shapes whose last two dims can be merged into `C`; `Output` is the merged shape. The rule
/// of [`merge`](crate::Tensor::merge): rank 2 to 6, and the last two dims multiply out to
/// `C` ([`SplitsInto`]).
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::MergeLast;
/// dim!(pub Seq = 2; pub DModel = 6; pub Heads = 2; pub HeadDim = 3);
/// fn merge<S: MergeLast<C>, C: Dim>() -> usize { <S::Output as Shape>::RANK }
/// assert_eq!(merge::<(Seq, Heads, HeadDim), DModel>(), 2);
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::shape::MergeLast;
/// dim!(pub Seq = 2; pub DModel = 8; pub Heads = 2; pub HeadDim = 3);
/// fn merge<S: MergeLast<C>, C: Dim>() {}
/// merge::<(Seq, Heads, HeadDim), DModel>(); // 2 × 3 ≠ 8
/// ```
#[diagnostic::on_unimplemented(
    message = "cannot merge the last two dims of `{Self}` into `{C}`",
    label = "merging needs a tensor of rank 2 or more whose last two dims multiply out to `{C}`"
)]
pub trait MergeLast<C: Dim>: Shape {
    /// The shape with its last two dims replaced by `C`.
    type Output: Shape;
}

macro_rules! split_merge {
    ($($P:ident),*) => {
        impl<$($P: Dim,)* C: SplitsInto<A, B>, A: Dim, B: Dim> SplitLast<A, B> for ($($P,)* C,) {
            type Output = ($($P,)* A, B);
        }

        impl<$($P: Dim,)* C: SplitsInto<A, B>, A: Dim, B: Dim> MergeLast<C> for ($($P,)* A, B) {
            type Output = ($($P,)* C,);
        }
    };
}

split_merge!();
split_merge!(P0);
split_merge!(P0, P1);
split_merge!(P0, P1, P2);
split_merge!(P0, P1, P2, P3);
