//! The two pieces of type-level vocabulary the factorisations share: [`MinOf`], the dim of
//! size `min(M, N)` that the thin SVD's factors carry, and [`RankAtMost`], the rule that a
//! rank `R` fits an `M × N` matrix.

use core::fmt;
use core::hash::{Hash, Hasher};
use core::marker::PhantomData;

use typenum::{IsLessOrEqual, LeEq, Min, Minimum, Same, B1};

use crate::dim::{Dim, Many, One, Runtime, StaticDim};

/// The dim `min(M, N)`: the number of singular values of an `M × N` matrix, and the inner
/// dim of its thin SVD `U: (M, MinOf<M, N>)`, `S: (MinOf<M, N>,)`, `Vt: (MinOf<M, N>, N)`.
///
/// Stable Rust cannot turn `min(M::SIZE, N::SIZE)` into a `D<…>`, so the thin SVD names its
/// inner dim by where it comes from instead. That keeps the factors apart from any other
/// dim (`u.matmul(&vt)` type-checks, `u.matmul(&x)` for an unrelated `x` does not) and reads
/// plainly in types and in `Debug`, which prints both parents and the size. Its size is a
/// value (its [`Kind`](Dim::Kind) is the runtime one), so elementwise rules on it are
/// checked at run time like those of any runtime dim. For a rank chosen by you, use the
/// truncated SVD, whose rank is a dim you name.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::linalg::MinOf;
/// dim!(pub Seq = 6);
/// dim!(pub DModel = 4);
/// let x = Tensor::<(Seq, DModel)>::randn(0);
/// let svd = x.svd();
/// assert_eq!(format!("{:?}", svd.s.shape()), "(min(Seq, DModel)=4,)");
/// let k: MinOf<Seq, DModel> = svd.s.shape().0;
/// assert_eq!(k.size(), 4);
/// ```
pub struct MinOf<M, N> {
    size: usize,
    _dims: PhantomData<fn() -> (M, N)>,
}

impl<M: Dim, N: Dim> MinOf<M, N> {
    /// `min(m, n)` for these two dims.
    pub fn of(m: M, n: N) -> Self {
        MinOf {
            size: m.size().min(n.size()),
            _dims: PhantomData,
        }
    }
}

impl<M, N> Clone for MinOf<M, N> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<M, N> Copy for MinOf<M, N> {}
impl<M, N> PartialEq for MinOf<M, N> {
    fn eq(&self, other: &Self) -> bool {
        self.size == other.size
    }
}
impl<M, N> Eq for MinOf<M, N> {}
impl<M, N> Hash for MinOf<M, N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.size.hash(state)
    }
}

/// How a dim type reads in a message: its name, or its size for `D<N>`.
pub(crate) fn dim_label<X: Dim>() -> String {
    match (X::NAME, X::STATIC_SIZE) {
        ("D", Some(n)) => n.to_string(),
        (name, _) => name.to_string(),
    }
}

impl<M: Dim, N: Dim> fmt::Debug for MinOf<M, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "min({}, {})={}",
            dim_label::<M>(),
            dim_label::<N>(),
            self.size
        )
    }
}

impl<M: Dim, N: Dim> Dim for MinOf<M, N> {
    const NAME: &'static str = "MinOf";
    const STATIC_SIZE: Option<usize> = match (M::STATIC_SIZE, N::STATIC_SIZE) {
        (Some(a), Some(b)) => Some(if a < b { a } else { b }),
        _ => None,
    };
    type Kind = Runtime;
    #[inline(always)]
    fn size(self) -> usize {
        self.size
    }
    fn from_size(n: usize) -> Option<Self> {
        let fits = match (M::STATIC_SIZE, N::STATIC_SIZE) {
            (Some(a), Some(b)) => n == a.min(b),
            (Some(a), None) | (None, Some(a)) => n <= a,
            (None, None) => true,
        };
        fits.then_some(MinOf {
            size: n,
            _dims: PhantomData,
        })
    }
}

/// The rule of truncation: a rank `Self` is at most `min(M, N)`, so an `M × N` matrix has
/// that many singular values (and a LoRA adapter of that rank saves parameters).
///
/// Checked by the type checker when `Self`, `M` and `N` are all static; when one of them
/// is a runtime dim the same rule is checked at run time, by the `try_…_with` forms.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::linalg::RankAtMost;
/// fn fits<R: RankAtMost<M, N>, M: Dim, N: Dim>() {}
/// fits::<D<3>, D<3>, D<4>>();
/// fits::<D<9>, Dyn, D<4>>(); // a runtime dim: checked when the sizes are known
/// ```
///
/// ```compile_fail
/// use shapecheck::prelude::*;
/// use shapecheck::linalg::RankAtMost;
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
