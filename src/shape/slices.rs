//! Rules of static slicing: a range of indices fits in its axis ([`SliceFits`]), an axis of
//! size 1 may be squeezed away ([`Squeezable`]).
//!
//! Both take static dims; for a runtime dim or range the `try_slice_with` and `try_squeeze`
//! forms check the same rules at run time.

use core::ops::Add;

use typenum::{IsLessOrEqual, LeEq, Same, Sum, B1};

use crate::dim::{DSizes, One, SizeTable, StaticDim};

/// `K` indices starting at index `START` fit in the dim `Self`: `START + K ≤ Self`. The rule
/// of a static slice.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::SliceFits;
/// dim!(pub Seq = 8);
/// fn check<X: SliceFits<START, K>, const START: usize, K: Dim>() {}
/// check::<Seq, 5, D<3>>(); // indices 5, 6, 7
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::shape::SliceFits;
/// dim!(pub Seq = 8);
/// fn check<X: SliceFits<START, K>, const START: usize, K: Dim>() {}
/// check::<Seq, 6, D<3>>(); // index 8 is past the end
/// ```
#[diagnostic::on_unimplemented(
    message = "a slice of `{K}` indices from index {START} does not fit in `{Self}`",
    label = "`{Self}` is too short for this slice",
    note = "a static slice takes the indices START to START + K - 1, which must all be less \
            than the size of the axis"
)]
pub trait SliceFits<const START: usize, K>: StaticDim {}

/// The typenum number of a slice's start (from the table of sizes `D<N>` covers).
type Start<const START: usize> = <DSizes as SizeTable<START>>::Size;

#[diagnostic::do_not_recommend]
impl<X, K, const START: usize> SliceFits<START, K> for X
where
    X: StaticDim,
    K: StaticDim,
    DSizes: SizeTable<START>,
    Start<START>: Add<K::Size>,
    Sum<Start<START>, K::Size>: IsLessOrEqual<X::Size>,
    LeEq<Sum<Start<START>, K::Size>, X::Size>: Same<B1>,
{
}

/// The dim `Self` has size 1, so `squeeze` may remove its axis: `D<1>` or a named static dim
/// declared `= 1`.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::Squeezable;
/// dim!(pub Single = 1);
/// fn check<X: Squeezable>() {}
/// check::<D<1>>();
/// check::<Single>();
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::shape::Squeezable;
/// fn check<X: Squeezable>() {}
/// check::<D<3>>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not of size 1, so `squeeze` cannot remove its axis",
    label = "squeeze removes only an axis of size 1",
    note = "an axis whose dim is a runtime dim is removed by `try_squeeze`, which checks its \
            size at run time"
)]
pub trait Squeezable: StaticDim {}

#[diagnostic::do_not_recommend]
impl<X: StaticDim<Kind = One>> Squeezable for X {}
