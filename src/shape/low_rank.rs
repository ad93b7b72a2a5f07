//! The rule of a low-rank factorisation: a rank `R` fits an `M × N` matrix when
//! `R ≤ min(M, N)` ([`RankAtMost`]). (The rank of a matrix, not the number of axes of a
//! shape, which is [`HasRank`](super::HasRank).)

use typenum::{IsLessOrEqual, LeEq, Min, Minimum, Same, B1};

use crate::dim::{Dim, Many, One, Runtime, StaticDim};

/// The rule of truncation: a rank `Self` is at most `min(M, N)`, so an `M × N` matrix has
/// that many singular values (and a LoRA adapter of that rank saves parameters).
///
/// Checked by the type checker when `Self`, `M` and `N` are all static; when one of them
/// is a runtime dim the same rule is checked at run time, by the `try_…_with` forms.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::RankAtMost;
/// fn fits<R: RankAtMost<M, N>, M: Dim, N: Dim>() {}
/// fits::<D<3>, D<3>, D<4>>();
/// fits::<D<9>, Dyn, D<4>>(); // a runtime dim: checked when the sizes are known
/// ```
///
/// ```compile_fail
/// use shapecheck::prelude::*;
/// use shapecheck::shape::RankAtMost;
/// fn fits<R: RankAtMost<M, N>, M: Dim, N: Dim>() {}
/// fits::<D<5>, D<3>, D<4>>(); // 5 > min(3, 4)
/// ```
#[diagnostic::on_unimplemented(
    message = "rank `{Self}` must be at most min(`{M}`, `{N}`)",
    label = "rank `{Self}` is larger than the smaller side of a `{M}` × `{N}` matrix",
    note = "a `{M}` × `{N}` matrix has min(`{M}`, `{N}`) singular values, so its best low-rank factors have at most that many"
)]
pub trait RankAtMost<M: Dim, N: Dim>: Dim {}

#[diagnostic::do_not_recommend]
impl<R: Dim, M: Dim, N: Dim> RankAtMost<M, N> for R
where
    R::Kind: SizeClass,
    M::Kind: SizeClass,
    N::Kind: SizeClass,
    R: RankAtMostBy<M, N, Class<R>, Class<M>, Class<N>>,
{
}

/// Whether a dim's size is fixed by its type ([`Fixed`]) or chosen at run time ([`Chosen`]).
#[doc(hidden)]
pub trait SizeClass {
    type Class;
}
#[doc(hidden)]
pub enum Fixed {}
#[doc(hidden)]
pub enum Chosen {}
impl SizeClass for One {
    type Class = Fixed;
}
impl SizeClass for Many {
    type Class = Fixed;
}
impl SizeClass for Runtime {
    type Class = Chosen;
}
#[doc(hidden)]
pub type Class<X> = <<X as Dim>::Kind as SizeClass>::Class;

/// [`RankAtMost`] dispatched on the size classes of the three dims (no overlapping impls
/// on stable): typenum arithmetic when all three are static, nothing (a run-time check)
/// otherwise.
#[doc(hidden)]
pub trait RankAtMostBy<M, N, CR, CM, CN> {}

impl<R, M, N> RankAtMostBy<M, N, Fixed, Fixed, Fixed> for R
where
    R: StaticDim,
    M: StaticDim,
    N: StaticDim,
    M::Size: Min<N::Size>,
    R::Size: IsLessOrEqual<Minimum<M::Size, N::Size>>,
    LeEq<R::Size, Minimum<M::Size, N::Size>>: Same<B1>,
{
}
impl<R, M, N, CM, CN> RankAtMostBy<M, N, Chosen, CM, CN> for R {}
impl<R, M, N, CN> RankAtMostBy<M, N, Fixed, Chosen, CN> for R {}
impl<R, M, N> RankAtMostBy<M, N, Fixed, Fixed, Chosen> for R {}
