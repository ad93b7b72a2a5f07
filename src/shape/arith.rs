//! Rules on static sizes that need arithmetic, checked by the type checker.
//!
//! Each rule is a named trait whose `on_unimplemented` text names the dims as the user
//! wrote them. The impl that does the typenum arithmetic is marked
//! `#[diagnostic::do_not_recommend]`, so when the arithmetic fails rustc reports the named
//! rule (`Heads × HeadDim must equal DModel`), never a chain of `UInt<…>`.
//!
//! All three take static dims only; operations on runtime dims check the same rules at run
//! time in their `try_…_with` forms.

use core::ops::{Add, Mul};

use typenum::{Prod, Same, Sum, U1};

use super::StaticShape;
use crate::dim::StaticDim;

/// `Self` is `A × B`: a dim of this size can be split into `(A, B)`, and `(A, B)` merged into
/// it.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::SplitsInto;
/// dim!(pub DModel = 384; pub Heads = 12; pub HeadDim = 32);
/// fn check<C: SplitsInto<A, B>, A: Dim, B: Dim>() {}
/// check::<DModel, Heads, HeadDim>();
/// ```
///
/// ```compile_fail
/// use shapecheck::prelude::*;
/// use shapecheck::shape::SplitsInto;
/// dim!(pub DModel = 384; pub Heads = 12; pub HeadDim = 64);
/// fn check<C: SplitsInto<A, B>, A: Dim, B: Dim>() {}
/// check::<DModel, Heads, HeadDim>(); // 12 × 64 = 768
/// ```
#[diagnostic::on_unimplemented(
    message = "`{A}` × `{B}` must equal `{Self}`",
    label = "`{Self}` cannot be split into (`{A}`, `{B}`) or merged from them",
    note = "the sizes of the two parts must multiply out to the size of the whole"
)]
pub trait SplitsInto<A, B>: StaticDim {}

#[diagnostic::do_not_recommend]
impl<C, A, B> SplitsInto<A, B> for C
where
    C: StaticDim,
    A: StaticDim,
    B: StaticDim,
    A::Size: Mul<B::Size>,
    Prod<A::Size, B::Size>: Same<C::Size>,
{
}

/// `Self` is `A + B`: the size of `A` and `B` laid end to end (concatenation).
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::SumOf;
/// fn check<C: SumOf<A, B>, A: Dim, B: Dim>() {}
/// check::<D<7>, D<3>, D<4>>();
/// ```
///
/// ```compile_fail
/// use shapecheck::prelude::*;
/// use shapecheck::shape::SumOf;
/// fn check<C: SumOf<A, B>, A: Dim, B: Dim>() {}
/// check::<D<8>, D<3>, D<4>>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{A}` + `{B}` must equal `{Self}`",
    label = "`{A}` and `{B}` laid end to end do not make `{Self}`"
)]
pub trait SumOf<A, B>: StaticDim {}

#[diagnostic::do_not_recommend]
impl<C, A, B> SumOf<A, B> for C
where
    C: StaticDim,
    A: StaticDim,
    B: StaticDim,
    A::Size: Add<B::Size>,
    Sum<A::Size, B::Size>: Same<C::Size>,
{
}

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
