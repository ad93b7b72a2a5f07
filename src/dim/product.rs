//! [`Times`], the dim of size `A × B`: the width of a projection into `A` heads of `B`.

use super::{label, Dim, Runtime, StaticDim};
use core::fmt;
use core::hash::{Hash, Hasher};
use core::marker::PhantomData;

/// The dim `A × B`: the width of the queries of `A` heads of width `B`
/// (`Times<Heads, HeadDim>`), which need not be the model's width.
///
/// Like [`MinOf`](super::MinOf), it is named by where it comes from, so it unifies only
/// with the same product of the same dims. Its value carries the size (the default value
/// of a product of static dims has theirs), and its broadcasting kind is the runtime one
/// (as [`MinOf`](super::MinOf)'s): an elementwise rule on it is checked at run time, and
/// splitting it into heads is checked when the sizes are known
/// ([`Var::try_split_heads_with`](crate::autodiff::Var::try_split_heads_with)).
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::dim::Times;
/// dim!(pub Heads = 9; pub HeadDim = 64);
/// assert_eq!(Times::<Heads, HeadDim>::STATIC_SIZE, Some(576));
/// assert_eq!(format!("{:?}", Times::<Heads, HeadDim>::default()), "Heads×HeadDim=576");
/// let t = Times::of(Dyn::new(3), Dyn::new(4));
/// assert_eq!(t.size(), 12);
/// ```
pub struct Times<A, B> {
    size: usize,
    _dims: PhantomData<fn() -> (A, B)>,
}

impl<A: Dim, B: Dim> Times<A, B> {
    /// `a × b` for these two dims.
    ///
    /// # Panics
    ///
    /// When the product overflows `usize`.
    #[track_caller]
    pub fn of(a: A, b: B) -> Self {
        let size = a
            .size()
            .checked_mul(b.size())
            .expect("the product of two dims overflows usize");
        Times {
            size,
            _dims: PhantomData,
        }
    }
}

impl<A, B> Clone for Times<A, B> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A, B> Copy for Times<A, B> {}
impl<A, B> PartialEq for Times<A, B> {
    fn eq(&self, other: &Self) -> bool {
        self.size == other.size
    }
}
impl<A, B> Eq for Times<A, B> {}
impl<A, B> Hash for Times<A, B> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.size.hash(state)
    }
}

impl<A: Dim, B: Dim> fmt::Debug for Times<A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}×{}={}", label::<A>(), label::<B>(), self.size)
    }
}

impl<A: Dim, B: Dim> Dim for Times<A, B> {
    const NAME: &'static str = "Times";
    const STATIC_SIZE: Option<usize> = match (A::STATIC_SIZE, B::STATIC_SIZE) {
        (Some(a), Some(b)) => Some(a * b),
        _ => None,
    };
    type Kind = Runtime;
    #[inline(always)]
    fn size(self) -> usize {
        self.size
    }
    fn from_size(n: usize) -> Option<Self> {
        match Self::STATIC_SIZE {
            Some(s) if s != n => None,
            _ => Some(Times {
                size: n,
                _dims: PhantomData,
            }),
        }
    }
}

impl<A: StaticDim, B: StaticDim> Default for Times<A, B> {
    fn default() -> Self {
        Times {
            size: A::SIZE * B::SIZE,
            _dims: PhantomData,
        }
    }
}
