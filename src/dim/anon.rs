//! The anonymous dims: `D<N>` (static, for the sizes of a table) and `Dyn` (runtime).

use core::fmt;

use typenum::{UInt, UTerm, Unsigned, B0, B1};

use super::{Dim, DimKind, Many, One, Runtime, RuntimeDim, StaticDim};

/// An anonymous static dim of size `N`: `Tensor<(D<32>, D<768>)>`.
///
/// `D<N>` is a `Dim` for the sizes of its table: every size from 0 to 1024, every multiple
/// of 64 up to 8192 (1536, 3072, 5632, …), every multiple of 256 up to 32 768 (11 008,
/// 14 336, 32 000, …), powers of two (and 2^k − 1) up to 2^32, powers of ten up to 10^9,
/// and the widths and vocabulary sizes of common checkpoints (30 522, 50 257, 128 256,
/// 151 936, …). Stable Rust cannot compute a type
/// from a const generic, so the sizes are listed; for any other size declare a named dim
/// with [`dim!`](crate::dim!), which takes any size:
///
/// ```
/// use shapecheck::prelude::*;
/// let x = Tensor::<(D<4>, D<1536>)>::zeros();
/// assert_eq!(<D<151936> as StaticDim>::SIZE, 151936);
/// # let _ = x;
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// let x = Tensor::<(D<4>, D<1537>)>::zeros(); // not in the table: `dim!(pub Width = 1537)`
/// ```
///
/// `D<1>` is the dim that broadcasts.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct D<const N: usize>;

impl<const N: usize> fmt::Debug for D<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{N}")
    }
}

/// The sizes `D<N>` covers: `DSizes: SizeTable<N>` for each `N` of the table, with `N`'s
/// typenum number and its broadcasting kind.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::dim::{DSizes, SizeTable};
/// fn covered<const N: usize>() where DSizes: SizeTable<N> {}
/// covered::<50257>();
/// covered::<3072>();
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::dim::{DSizes, SizeTable};
/// fn covered<const N: usize>() where DSizes: SizeTable<N> {}
/// covered::<1537>(); // declare `dim!(pub Width = 1537)` instead
/// ```
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`D<{N}>` is not one of the sizes `D<N>` covers: declare a named dim, `dim!(pub Name = {N});`",
    label = "`D<{N}>` is not a dim",
    note = "`D<N>` covers every size up to 1024, multiples of 64 up to 8192 and of 256 up to \
            32768, powers of two and ten, and common vocabulary sizes; `dim!` takes any size"
)]
pub trait SizeTable<const N: usize> {
    /// `N` as a typenum number.
    type Size;
    /// [`One`] for 1, [`Many`] otherwise.
    type Kind;
}

/// The type that holds the table of [`SizeTable`] impls.
#[doc(hidden)]
pub enum DSizes {}

// The table. Each entry is a size, a range `A..=B` (with `step S`), `pow2(A..=B)` (2^k and
// 2^k − 1) or `pow10(A..=B)`; the impls spell each size out in bits (see
// `macros/src/dim/table.rs`). Coherence checks every pair of impls, so the table grows
// compile time quadratically: add sizes that models use, not ranges "just in case".
shapecheck_macros::__anon_dim_table! {
    0..=1024,
    1088..=8192 step 64,
    8448..=32768 step 256,
    pow2(11..=32),
    pow10(4..=9),
    // typenum's table had it, so `D<3600>` keeps working.
    3600,
    // Feed-forward widths off the grid above: Qwen 2 72B, LLaMA 3 70B and 405B.
    29568, 49152, 53248,
    // Vocabularies: BERT cased / uncased, ALBERT, LLaMA 1–2 (+ pad tokens), T5, GPT-2,
    // RoBERTa / BART, GPT-NeoX, GPT-J, Whisper, GPT-4's cl100k, DeepSeek, multilingual
    // BERT, LLaMA 3, Qwen 2 (two paddings), XLM-R, NLLB, Gemma.
    28996, 30522, 30000, 32000, 32001, 32002, 32100, 32128, 50257, 50265, 50280, 50304,
    50400, 51865, 100277, 100352, 102400, 119547, 128000, 128256, 151646, 151936, 152064,
    250002, 256206, 256000,
}

// The bounds on the table's types sit here, once, rather than on each of its impls.
impl<const N: usize> Dim for D<N>
where
    DSizes: SizeTable<N, Kind: DimKind>,
{
    const NAME: &'static str = "D";
    const STATIC_SIZE: Option<usize> = Some(N);
    type Kind = <DSizes as SizeTable<N>>::Kind;
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
    DSizes: SizeTable<N, Size: Unsigned, Kind: DimKind>,
{
    const SIZE: usize = N;
    type Size = <DSizes as SizeTable<N>>::Size;
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
