//! Dimensions: the types a shape is made of.
//!
//! Four kinds, all implementing [`Dim`]:
//!
//! | kind | written | size known | unifies with |
//! |---|---|---|---|
//! | anonymous static | `D<768>` | compile time | `D<768>` only |
//! | named static | `dim!(pub DModel = 384);` | compile time | itself only |
//! | anonymous runtime | `Dyn` | run time | `Dyn` (sizes checked when used) |
//! | named runtime | `dim!(pub Batch);` | run time | itself only (sizes checked when used) |
//!
//! A static dim also implements [`StaticDim`], which gives its size as a constant and as a
//! typenum number ([`StaticDim::Size`]) for rules that need arithmetic (an element count, a
//! product of heads and head width). `D<N>` takes its typenum number from a table of sizes
//! (every size to 1024, multiples of 64 to 16 384, the widths and vocabularies of common
//! checkpoints; see [`D`]); `dim!` spells the number out itself, so it works for any size.
//!
//! [`MinOf<M, N>`] is the dim of size `min(M, N)` that a thin SVD's factors share;
//! [`Times<A, B>`] the dim of size `A × B`, the width of `A` heads of `B`.
//!
//! Each dim also has a [`Kind`](Dim::Kind) ([`One`], [`Many`] or [`Runtime`]) which the
//! broadcasting rules dispatch on.

mod anon;
mod min;
mod product;

#[doc(hidden)]
pub use anon::{DSizes, SizeTable};
pub use anon::{Dyn, D};
pub use min::MinOf;
pub use product::Times;

use core::fmt::Debug;
use core::hash::Hash;

/// A dimension: a type with a size.
///
/// Implemented by [`D<N>`], [`Dyn`] and the types declared by [`dim!`](crate::dim!).
///
/// ```
/// use shapecheck::prelude::*;
/// dim!(pub Seq = 128);
/// dim!(pub Batch);
/// assert_eq!(Seq.size(), 128);
/// assert_eq!(Batch::new(7).size(), 7);
/// assert_eq!(D::<3>.size(), 3);
/// assert_eq!(format!("{:?}", (Seq, Batch::new(7), D::<3>)), "(Seq=128, Batch=7, 3)");
/// ```
pub trait Dim: Copy + Eq + Hash + Debug + Send + Sync + 'static {
    /// The name the user wrote: `"Seq"`, `"D"`, `"Dyn"`.
    const NAME: &'static str;
    /// `Some(size)` for a static dim, `None` for a runtime one.
    const STATIC_SIZE: Option<usize>;
    /// [`One`], [`Many`] or [`Runtime`]: what broadcasting may do with this dim.
    type Kind: DimKind;
    /// The number of indices along this dim.
    fn size(self) -> usize;
    /// The dim of size `n`, if this dim can have that size (a static dim has one size).
    fn from_size(n: usize) -> Option<Self>;
}

/// A dim whose size is known at compile time.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::typenum::Unsigned;
/// dim!(pub Vocab = 30522);
/// assert_eq!(<Vocab as StaticDim>::SIZE, 30522);
/// assert_eq!(<<Vocab as StaticDim>::Size as Unsigned>::USIZE, 30522);
/// ```
///
/// A runtime dim is not static:
///
/// ```compile_fail
/// use shapecheck::prelude::*;
/// fn size_of<T: StaticDim>() -> usize { T::SIZE }
/// size_of::<Dyn>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is a runtime dim, and this needs a dim whose size is known at compile time",
    label = "the size of `{Self}` is only known at run time",
    note = "convert with `.to_static::<…>()?`, which checks the sizes at run time"
)]
pub trait StaticDim: Dim + Default {
    /// The size.
    const SIZE: usize;
    /// The size as a typenum unsigned integer, for rules checked by the type checker.
    type Size: typenum::Unsigned;
}

/// A dim whose size is chosen at run time: [`Dyn`] and `dim!(pub Name);`.
pub trait RuntimeDim: Dim {}

/// The broadcasting kind of a dim: [`One`], [`Many`] or [`Runtime`].
pub trait DimKind: private::Sealed + 'static {}

/// A static dim of size 1: broadcasts to any dim.
#[derive(Debug)]
pub enum One {}
/// A static dim of size greater than 1: broadcasts only to itself.
#[derive(Debug)]
pub enum Many {}
/// A runtime dim: broadcasts to itself, with the sizes checked at run time.
#[derive(Debug)]
pub enum Runtime {}

impl DimKind for One {}
impl DimKind for Many {}
impl DimKind for Runtime {}

mod private {
    pub trait Sealed {}
    impl Sealed for super::One {}
    impl Sealed for super::Many {}
    impl Sealed for super::Runtime {}
}

/// How a dim *type* reads in a message, as the user wrote it: `D<8>`, `Seq`, `Batch`, `Dyn`.
/// The one printer for a dim named by its type; a dim *value* prints through `Debug`, with
/// its size (`Seq=8`, `8`, `Batch=3`), and so do the shapes in a [`ShapeError`](crate::ShapeError).
pub(crate) fn label<X: Dim>() -> String {
    match (X::NAME, X::STATIC_SIZE) {
        ("D", Some(n)) => format!("D<{n}>"),
        (name, _) => name.to_string(),
    }
}
