//! [`MinOf`], the dim of size `min(M, N)`: the inner dim of a thin SVD.

use core::fmt;
use core::hash::{Hash, Hasher};
use core::marker::PhantomData;

use super::{label, Dim, Runtime};

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
/// use shapecheck::dim::MinOf;
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

impl<M: Dim, N: Dim> fmt::Debug for MinOf<M, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "min({}, {})={}", label::<M>(), label::<N>(), self.size)
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
