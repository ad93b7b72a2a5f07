//! The anonymous dims: `D<N>` (static) and `Dyn` (runtime).

use core::fmt;

use typenum::{Const, Eq as TEq, IsEqual, ToUInt, Unsigned, U, U1};

use super::{Dim, KindOfBit, Runtime, RuntimeDim, StaticDim};

/// An anonymous static dim of size `N`: `Tensor<(D<32>, D<768>)>`.
///
/// `D<N>` is a `Dim` for the sizes typenum tabulates (0..=1024 and some larger ones such as
/// 2048 and 4096); for any other size declare a named dim with [`dim!`](crate::dim!).
/// `D<1>` is the dim that broadcasts.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct D<const N: usize>;

impl<const N: usize> fmt::Debug for D<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{N}")
    }
}

impl<const N: usize> Dim for D<N>
where
    Const<N>: ToUInt,
    U<N>: Unsigned + IsEqual<U1>,
    TEq<U<N>, U1>: KindOfBit,
{
    const NAME: &'static str = "D";
    const STATIC_SIZE: Option<usize> = Some(N);
    type Kind = <TEq<U<N>, U1> as KindOfBit>::Kind;
    #[inline(always)]
    fn size(self) -> usize {
        N
    }
    #[inline]
    fn from_size(n: usize) -> Option<Self> {
        (n == N).then_some(D)
    }
}

impl<const N: usize> StaticDim for D<N>
where
    Const<N>: ToUInt,
    U<N>: Unsigned + IsEqual<U1>,
    TEq<U<N>, U1>: KindOfBit,
{
    const SIZE: usize = N;
    type Size = U<N>;
}

/// An anonymous runtime dim: its size is a value, `Dyn::new(5)`.
///
/// Two `Dyn`s have the same type, so their sizes are compared when an operation needs them
/// to agree (the `try_` form returns the error, the plain form panics with it).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dyn(usize);

impl Dyn {
    /// A `Dyn` of size `n`.
    #[inline]
    pub const fn new(n: usize) -> Self {
        Dyn(n)
    }
}

impl fmt::Debug for Dyn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dyn={}", self.0)
    }
}

impl Dim for Dyn {
    const NAME: &'static str = "Dyn";
    const STATIC_SIZE: Option<usize> = None;
    type Kind = Runtime;
    #[inline(always)]
    fn size(self) -> usize {
        self.0
    }
    #[inline]
    fn from_size(n: usize) -> Option<Self> {
        Some(Dyn(n))
    }
}

impl RuntimeDim for Dyn {}
