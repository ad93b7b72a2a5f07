//! Rules on the sizes of static dims that need arithmetic, checked by the type checker: a
//! product ([`SplitsInto`]: heads × head dim), a sum ([`SumOf`]: concatenation), evenness
//! ([`IsEven`]: RoPE's pairs) and a count ([`CountsParts`]: the new axis of a `stack`).
//!
//! Each rule is a named trait whose `on_unimplemented` text names the dims as the user
//! wrote them. The impl that does the typenum arithmetic is marked
//! `#[diagnostic::do_not_recommend]`, so when the arithmetic fails rustc reports the named
//! rule (`Heads × HeadDim must equal DModel`), never a chain of `UInt<…>`.
//!
//! All take static dims only; operations on runtime dims check the same rules at run
//! time in their `try_…_with` forms.

use core::ops::{Add, Mul, Rem};

use typenum::{Mod, NonZero, Prod, Same, Sum, U0, U2};

use crate::dim::{DSizes, SizeTable, StaticDim};

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

/// `Self` is the product of the dims of the tuple `F` (any number of factors, 1 to 6): a
/// group `(a b c)` of a `rearrange!` pattern. Two factors read better as [`SplitsInto`].
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::ProductOf;
/// dim!(pub Patches = 48; pub H = 2; pub W = 4);
/// fn check<C: ProductOf<F>, F>() {}
/// check::<Patches, (H, W, D<6>)>();
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::shape::ProductOf;
/// dim!(pub Patches = 48; pub H = 2; pub W = 4);
/// fn check<C: ProductOf<F>, F>() {}
/// check::<Patches, (H, W, D<5>)>(); // 40
/// ```
#[diagnostic::on_unimplemented(
    message = "the dims `{F}` must multiply out to `{Self}`",
    label = "`{Self}` cannot be split into `{F}` or merged from them",
    note = "the sizes of the parts of a group must multiply out to the size of the whole"
)]
pub trait ProductOf<F>: StaticDim {}

#[diagnostic::do_not_recommend]
impl<C, F> ProductOf<F> for C
where
    C: StaticDim,
    F: FactorProduct,
    F::Size: Same<C::Size>,
{
}

/// A tuple of static dims and the (typenum) product of their sizes; the arithmetic behind
/// [`ProductOf`].
pub trait FactorProduct {
    /// The product of the sizes.
    type Size;
}

impl<A: StaticDim> FactorProduct for (A,) {
    type Size = A::Size;
}

macro_rules! factor_product {
    ($($A:ident $($R:ident)+;)*) => {$(
        impl<$A: StaticDim, $($R: StaticDim),+> FactorProduct for ($A, $($R),+)
        where
            ($($R,)+): FactorProduct,
            $A::Size: Mul<<($($R,)+) as FactorProduct>::Size>,
        {
            type Size = Prod<$A::Size, <($($R,)+) as FactorProduct>::Size>;
        }
    )*};
}

factor_product! {
    A B;
    A B C;
    A B C E;
    A B C E F;
    A B C E F G;
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

/// The dim has an even size, so its features split into pairs for RoPE.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::IsEven;
/// dim!(pub HeadDim = 64);
/// fn check<H: IsEven>() {}
/// check::<HeadDim>();
/// ```
///
/// ```compile_fail
/// use shapecheck::prelude::*;
/// use shapecheck::shape::IsEven;
/// fn check<H: IsEven>() {}
/// check::<D<63>>();
/// ```
#[diagnostic::on_unimplemented(
    message = "RoPE rotates pairs of features, so the head dim `{Self}` must have an even size",
    label = "`{Self}` has an odd size",
    note = "for a head dim known only at run time, `Rope::new_with` checks this and returns a Result"
)]
pub trait IsEven: StaticDim {}

#[diagnostic::do_not_recommend]
impl<H> IsEven for H
where
    H: StaticDim,
    H::Size: Rem<U2>,
    Mod<H::Size, U2>: Same<U0>,
{
}

/// The static dim `Self` has size `N`: the new axis of a `stack` of `N` tensors (`N` ≥ 1).
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::CountsParts;
/// dim!(pub Heads = 3);
/// fn check<K: CountsParts<N>, const N: usize>() {}
/// check::<Heads, 3>();
/// check::<D<2>, 2>();
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::shape::CountsParts;
/// dim!(pub Heads = 4);
/// fn check<K: CountsParts<N>, const N: usize>() {}
/// check::<Heads, 3>();
/// ```
#[diagnostic::on_unimplemented(
    message = "stacking {N} tensors makes a new axis of size {N}, which `{Self}` is not",
    label = "the new axis must be a static dim of size {N}",
    note = "`stack` takes at least one tensor; for a count known at run time use `try_stack`"
)]
pub trait CountsParts<const N: usize>: StaticDim {}

#[diagnostic::do_not_recommend]
impl<K, const N: usize> CountsParts<N> for K
where
    K: StaticDim,
    DSizes: SizeTable<N>,
    <DSizes as SizeTable<N>>::Size: NonZero + Same<K::Size>,
{
}
