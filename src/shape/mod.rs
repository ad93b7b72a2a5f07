//! Shapes: tuples of dims, rank 0 to 6.
//!
//! A shape is a tuple such as `(Seq, DModel)`; its value holds the sizes of its runtime dims
//! (static dims are zero-sized), so a `Tensor<(Seq, DModel)>` stores no shape at all.
//! The rules are named traits, one concern per file:
//!
//! - [`Shape`], [`StaticShape`] and [`HasRank`] (the number of axes) here;
//! - [`HasAxis`], [`Axis`], [`DistinctAxis`], [`LastAxis`], [`ReplaceAxis`], [`InsertAxis`]
//!   and [`CanConcat`] (which axes a shape has, and what replacing or inserting one gives)
//!   in `axes.rs`;
//! - [`SplitsInto`], [`ProductOf`], [`SumOf`], [`IsEven`] and [`CountsParts`] (arithmetic on static sizes)
//!   in `arith.rs`;
//! - [`SplitEllipsis`] and [`Splice`] (the `...` of a pattern) in `ellipsis.rs`, their
//!   per-rank impls generated into `ellipsis_gen.rs`;
//! - [`SliceFits`] and [`Squeezable`] (static slices and squeezes) in `slices.rs`;
//! - [`KeepsElementCount`], [`SplitLast`] and [`MergeLast`] (reshapes) in `reshapes.rs`;
//! - [`RankAtMost`] (the rank of a low-rank factorisation fits the matrix) in `low_rank.rs`;
//! - [`Permutation`] and [`Transpose`] (zero-copy reorderings) in `permutes.rs`;
//! - [`BroadcastShapes`], [`BroadcastDim`] and [`BroadcastsTo`] (NumPy broadcasting) in
//!   `broadcasts.rs`, their per-rank impls generated into `broadcasts_gen.rs`, and
//!   [`BroadcastBatchDim`] (the batch dims of a matrix product) beside them.
//!
//! Dim arithmetic that makes a new dim ([`MinOf`](crate::dim::MinOf)) lives in
//! [`dim`](mod@crate::dim). Rules that belong to one op sit beside it: the matmul rule
//! ([`MatMul`](crate::ops::MatMul)), attention's rules, the input rule of a linear layer,
//! the head layout, RoPE's shape, the unit vectors of `cosine_similarity`, einsum's operands.

mod arith;
mod axes;
mod broadcasts;
#[rustfmt::skip]
mod broadcasts_gen;
mod ellipsis;
#[rustfmt::skip]
mod ellipsis_gen;
mod low_rank;
mod permutes;
mod reshapes;
mod slices;

pub use arith::{CountsParts, FactorProduct, IsEven, ProductOf, SplitsInto, SumOf};
pub use axes::{
    Axis, CanConcat, DistinctAxis, HasAxis, InsertAxis, LastAxis, ReplaceAxis, A0, A1, A2, A3, A4,
    A5,
};
pub(crate) use broadcasts::broadcast_strides;
#[doc(hidden)]
pub use broadcasts::{BroadcastBatchByKind, BroadcastByKind, BroadcastsToByKind};
pub use broadcasts::{
    BroadcastBatchDim, BroadcastDim, BroadcastShapes, BroadcastsTo, BroadcastsToDim, SameDim,
};
pub use ellipsis::{Splice, SplitEllipsis};
pub use low_rank::RankAtMost;
#[doc(hidden)]
pub use low_rank::{Chosen, Class, Fixed, RankAtMostBy, SizeClass};
pub use permutes::{Permutation, Transpose, TransposesTo};
pub use reshapes::{ElementCount, KeepsElementCount, MergeLast, SplitLast};
pub use slices::{SliceFits, Squeezable};

use core::fmt::Debug;

use generic_array::{ArrayLength, GenericArray};
use typenum::{U0, U1, U2, U3, U4, U5, U6};

use crate::dim::{Dim, StaticDim};
use crate::error::OrPanic;
use crate::error::ShapeError;

/// One `usize` per axis of `S`: its dims or its strides.
pub type Dims<S> = GenericArray<usize, <S as Shape>::Rank>;

/// A tuple of dims: `()`, `(A,)`, `(A, B)`, … up to rank 6.
///
/// ```
/// use shapecheck::prelude::*;
/// dim!(pub Seq = 4);
/// dim!(pub Batch);
/// let shape = (Batch::new(2), Seq, D::<3>);
/// assert_eq!(shape.dims().as_slice(), &[2, 4, 3]);
/// assert_eq!(shape.num_elements(), 24);
/// assert_eq!(<(Batch, Seq, D<3>) as Shape>::RANK, 3);
/// ```
pub trait Shape: Copy + Debug + PartialEq + Send + Sync + 'static {
    /// Number of axes.
    const RANK: usize;
    /// [`RANK`](Shape::RANK) as a typenum number: the length of [`Dims`].
    type Rank: ArrayLength;
    /// A multi-index, `[usize; RANK]`.
    type Index: Copy + Debug + Default + AsRef<[usize]> + AsMut<[usize]>;

    /// The size of each axis.
    fn dims(&self) -> Dims<Self>;

    /// The shape with these sizes, if every dim can take its size (static dims have one).
    fn from_dims(dims: &[usize]) -> Option<Self>;

    /// Product of the sizes (1 for rank 0).
    ///
    /// # Panics
    ///
    /// When the shape is too large to count (see
    /// [`try_num_elements`](Shape::try_num_elements)); the shape of a tensor or a view
    /// never is, because every constructor checks it.
    #[inline]
    #[track_caller]
    fn num_elements(&self) -> usize {
        self.try_num_elements().or_panic()
    }

    /// Product of the sizes, or [`ShapeError::TooLarge`] when the product of the nonzero
    /// sizes overflows `usize`. As in NumPy, a zero dim does not excuse the others: in a
    /// valid shape every partial product of the dims fits, so its element count and its
    /// row-major strides never overflow.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let big = Dyn::new(1 << 40);
    /// assert_eq!((big, Dyn::new(3)).try_num_elements(), Ok(3 << 40));
    /// assert!((big, big).try_num_elements().is_err());
    /// assert!((Dyn::new(0), big, big).try_num_elements().is_err());
    /// ```
    #[inline]
    fn try_num_elements(&self) -> Result<usize, ShapeError> {
        let mut count = 1usize;
        let mut empty = false;
        for &d in self.dims().iter() {
            if d == 0 {
                empty = true;
            } else {
                count = count.checked_mul(d).ok_or_else(|| ShapeError::TooLarge {
                    shape: format!("{self:?}"),
                })?;
            }
        }
        Ok(if empty { 0 } else { count })
    }

    /// Row-major strides of a contiguous tensor of this shape.
    ///
    /// # Panics
    ///
    /// As [`num_elements`](Shape::num_elements), when the shape is too large to count.
    #[track_caller]
    fn contiguous_strides(&self) -> Dims<Self> {
        let dims = self.dims();
        let mut strides = dims.clone();
        let mut acc = 1usize;
        for (s, d) in strides.iter_mut().zip(dims.iter()).rev() {
            *s = acc;
            acc = match acc.checked_mul(*d) {
                Some(a) => a,
                None => panic!(
                    "{}",
                    ShapeError::TooLarge {
                        shape: format!("{self:?}")
                    }
                ),
            };
        }
        strides
    }
}

/// A shape whose dims are all static: it has one value, `Default::default()`.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::StaticShape;
/// dim!(pub Seq = 4; pub DModel = 8);
/// assert_eq!(<(Seq, DModel) as StaticShape>::NUM_ELEMENTS, 32);
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::shape::StaticShape;
/// dim!(pub Batch; pub DModel = 8);
/// fn count<S: StaticShape>() -> usize { S::NUM_ELEMENTS }
/// count::<(Batch, DModel)>(); // `Batch` is a runtime dim
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has a runtime dim, so its size is not known at compile time",
    label = "this needs a shape made of static dims only",
    note = "use the `_with(shape, …)` form, which takes the runtime sizes as a value"
)]
pub trait StaticShape: Shape + Default {
    /// Product of the sizes.
    const NUM_ELEMENTS: usize;
}

/// A shape of exactly `R` axes.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::HasRank;
/// fn rank_three<S: HasRank<3>>() {}
/// rank_three::<(D<2>, Dyn, D<4>)>();
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::shape::HasRank;
/// fn rank_three<S: HasRank<3>>() {}
/// rank_three::<(D<2>, D<4>)>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not have {R} axes",
    label = "expected a shape of rank {R}"
)]
pub trait HasRank<const R: usize>: Shape {}

macro_rules! impl_shape {
    ($rank:literal, $R:ty; $($D:ident $i:tt),*) => {
        impl<$($D: Dim),*> Shape for ($($D,)*) {
            const RANK: usize = $rank;
            type Rank = $R;
            type Index = [usize; $rank];
            #[inline(always)]
            fn dims(&self) -> Dims<Self> {
                GenericArray::from_array([$(self.$i.size()),*])
            }
            #[inline]
            fn from_dims(dims: &[usize]) -> Option<Self> {
                if dims.len() != $rank {
                    return None;
                }
                Some(($($D::from_size(dims[$i])?,)*))
            }
        }

        impl<$($D: StaticDim),*> StaticShape for ($($D,)*) {
            const NUM_ELEMENTS: usize = 1 $(* $D::SIZE)*;
        }

        #[diagnostic::do_not_recommend]
        impl<$($D: Dim),*> HasRank<$rank> for ($($D,)*) {}
    };
}

impl_shape!(0, U0;);
impl_shape!(1, U1; A 0);
impl_shape!(2, U2; A 0, B 1);
impl_shape!(3, U3; A 0, B 1, C 2);
impl_shape!(4, U4; A 0, B 1, C 2, E 3);
impl_shape!(5, U5; A 0, B 1, C 2, E 3, F 4);
impl_shape!(6, U6; A 0, B 1, C 2, E 3, F 4, G 5);
