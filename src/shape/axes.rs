//! Rules about axes: which axes a shape has and what a shape becomes when an axis is
//! removed, replaced or inserted.
//!
//! `Axis<I>` names axis `I`; `S: HasAxis<I>` says `S` has it (reductions, slices);
//! [`DistinctAxis`] keeps a permutation's axes apart; [`LastAxis`] is the axis
//! normalisations work along; [`ReplaceAxis`] (the dim at axis `I` becomes `K`: slices,
//! concatenation) and [`InsertAxis`] (a new axis `I` of dim `K`: `unsqueeze`, `stack`) give
//! the shape of the result; [`CanConcat`] says two shapes agree on every axis but one.

use crate::dim::{Dim, Dyn, D};

use super::Shape;

/// Axis `I` of a shape, as a value: `x.permute((A2, A0, A1))`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Axis<const I: usize>;

/// Axis 0.
pub const A0: Axis<0> = Axis;
/// Axis 1.
pub const A1: Axis<1> = Axis;
/// Axis 2.
pub const A2: Axis<2> = Axis;
/// Axis 3.
pub const A3: Axis<3> = Axis;
/// Axis 4.
pub const A4: Axis<4> = Axis;
/// Axis 5.
pub const A5: Axis<5> = Axis;

/// The shape has an axis `I`; [`Dim`](HasAxis::Dim) is the dim there.
///
/// ```
/// use shapecheck::prelude::*;
/// dim!(pub Seq = 4);
/// fn dim_at<S: HasAxis<1>>(s: S) -> usize { s.axis_dim().size() }
/// assert_eq!(dim_at((D::<2>, Seq)), 4);
/// ```
///
/// A rank-2 shape has no axis 2:
///
/// ```compile_fail
/// use shapecheck::prelude::*;
/// fn dim_at<S: HasAxis<2>>(s: S) -> usize { s.axis_dim().size() }
/// dim_at((D::<2>, D::<4>));
/// ```
#[diagnostic::on_unimplemented(
    message = "axis {I} is out of range for a tensor of shape `{Self}`",
    label = "`{Self}` has no axis {I}",
    note = "axes count from 0, so a tensor of rank r has axes 0 to r - 1"
)]
pub trait HasAxis<const I: usize>: Shape {
    /// The dim at axis `I`.
    type Dim: Dim;
    /// The shape with axis `I` removed.
    type Removed: Shape;
    /// The shape with axis `I` replaced by `D<1>` (a reduction that keeps its axis).
    type Kept: Shape;
    /// The dim at axis `I`.
    fn axis_dim(&self) -> Self::Dim;
    /// The shape with axis `I` removed.
    fn remove_axis(&self) -> Self::Removed;
    /// The shape with axis `I` replaced by `D<1>`.
    fn keep_axis(&self) -> Self::Kept;
}

macro_rules! has_axis {
    ($i:literal; [$($P:ident $pi:tt),*] $X:ident $xi:tt [$($Q:ident $qi:tt),*]) => {
        #[diagnostic::do_not_recommend]
        impl<$($P: Dim,)* $X: Dim, $($Q: Dim),*> HasAxis<$i> for ($($P,)* $X, $($Q,)*) {
            type Dim = $X;
            type Removed = ($($P,)* $($Q,)*);
            type Kept = ($($P,)* D<1>, $($Q,)*);
            #[inline(always)]
            fn axis_dim(&self) -> $X {
                self.$xi
            }
            #[inline(always)]
            #[allow(clippy::unused_unit)] // rank 1 removes its only axis, leaving `()`
            fn remove_axis(&self) -> Self::Removed {
                ($(self.$pi,)* $(self.$qi,)*)
            }
            #[inline(always)]
            fn keep_axis(&self) -> Self::Kept {
                ($(self.$pi,)* D::<1>, $(self.$qi,)*)
            }
        }
    };
}

has_axis!(0; [] A 0 []);

has_axis!(0; [] A 0 [B 1]);
has_axis!(1; [A 0] B 1 []);

has_axis!(0; [] A 0 [B 1, C 2]);
has_axis!(1; [A 0] B 1 [C 2]);
has_axis!(2; [A 0, B 1] C 2 []);

has_axis!(0; [] A 0 [B 1, C 2, E 3]);
has_axis!(1; [A 0] B 1 [C 2, E 3]);
has_axis!(2; [A 0, B 1] C 2 [E 3]);
has_axis!(3; [A 0, B 1, C 2] E 3 []);

has_axis!(0; [] A 0 [B 1, C 2, E 3, F 4]);
has_axis!(1; [A 0] B 1 [C 2, E 3, F 4]);
has_axis!(2; [A 0, B 1] C 2 [E 3, F 4]);
has_axis!(3; [A 0, B 1, C 2] E 3 [F 4]);
has_axis!(4; [A 0, B 1, C 2, E 3] F 4 []);

has_axis!(0; [] A 0 [B 1, C 2, E 3, F 4, G 5]);
has_axis!(1; [A 0] B 1 [C 2, E 3, F 4, G 5]);
has_axis!(2; [A 0, B 1] C 2 [E 3, F 4, G 5]);
has_axis!(3; [A 0, B 1, C 2] E 3 [F 4, G 5]);
has_axis!(4; [A 0, B 1, C 2, E 3] F 4 [G 5]);
has_axis!(5; [A 0, B 1, C 2, E 3, F 4] G 5 []);

/// Two axes of a permutation are different axes.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::{Axis, DistinctAxis};
/// fn distinct<X: DistinctAxis<Y>, Y>() {}
/// distinct::<Axis<0>, Axis<2>>();
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::shape::{Axis, DistinctAxis};
/// fn distinct<X: DistinctAxis<Y>, Y>() {}
/// distinct::<Axis<1>, Axis<1>>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` appears twice in the permutation",
    label = "each axis must appear exactly once"
)]
pub trait DistinctAxis<Other> {}

macro_rules! distinct {
    ($($i:literal: $($j:literal)*;)*) => {
        $($(impl DistinctAxis<Axis<$j>> for Axis<$i> {})*)*
    };
}

distinct! {
    0: 1 2 3 4 5;
    1: 0 2 3 4 5;
    2: 0 1 3 4 5;
    3: 0 1 2 4 5;
    4: 0 1 2 3 5;
    5: 0 1 2 3 4;
}

/// A shape of rank 1 or more: its last dim, the one normalisations work along.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::LastAxis;
/// dim!(pub Seq = 4; pub DModel = 8);
/// fn last<S: LastAxis>(s: S) -> usize { s.last_dim().size() }
/// assert_eq!(last((Seq, DModel)), 8);
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::shape::LastAxis;
/// fn last<S: LastAxis>(s: S) -> usize { s.last_dim().size() }
/// last(()); // a scalar has no axis
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no last axis to work along",
    label = "needs a tensor of rank 1 or more"
)]
pub trait LastAxis: Shape {
    /// The last dim.
    type Last: Dim;
    /// The last dim's value.
    fn last_dim(&self) -> Self::Last;
}

macro_rules! last_axis {
    ($($P:ident),*; $L:ident $li:tt) => {
        #[diagnostic::do_not_recommend]
        impl<$($P: Dim,)* $L: Dim> LastAxis for ($($P,)* $L,) {
            type Last = $L;
            #[inline(always)]
            fn last_dim(&self) -> $L {
                self.$li
            }
        }
    };
}

last_axis!(; A 0);
last_axis!(A; B 1);
last_axis!(A, B; C 2);
last_axis!(A, B, C; E 3);
last_axis!(A, B, C, E; F 4);
last_axis!(A, B, C, E, F; G 5);

/// `Self` with the dim at axis `I` replaced by `K`: the shape of a slice, or of a
/// concatenation.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::ReplaceAxis;
/// dim!(pub Seq = 4);
/// let s: (D<2>, Dyn) = ReplaceAxis::<1, Dyn>::replace_axis(&(D::<2>, Seq), Dyn::new(3));
/// assert_eq!(s.dims().as_slice(), &[2, 3]);
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::shape::ReplaceAxis;
/// fn replace<S: ReplaceAxis<2, Dyn>>(s: S) {}
/// replace((D::<2>, D::<3>)); // no axis 2
/// ```
#[diagnostic::on_unimplemented(
    message = "axis {I} is out of range for a tensor of shape `{Self}`",
    label = "`{Self}` has no axis {I}",
    note = "axes count from 0, so a tensor of rank r has axes 0 to r - 1"
)]
pub trait ReplaceAxis<const I: usize, K: Dim>: HasAxis<I> {
    /// The shape with `K` at axis `I`.
    type Output: Shape;
    /// The shape with `dim` at axis `I`.
    fn replace_axis(&self, dim: K) -> Self::Output;
}

/// `Self` with a new axis `I` of dim `K`, the axes from `I` on moving one place right: the
/// shape of an `unsqueeze`, or of a `stack`.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::InsertAxis;
/// dim!(pub Seq = 4);
/// let s: (Seq, D<1>, D<2>) = InsertAxis::<1, D<1>>::insert_axis(&(Seq, D::<2>), D);
/// assert_eq!(s.dims().as_slice(), &[4, 1, 2]);
/// ```
///
/// A rank-2 shape takes a new axis at 0, 1 or 2, not at 3:
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::shape::InsertAxis;
/// fn insert<S: InsertAxis<3, D<1>>>(s: S) {}
/// insert((D::<2>, D::<3>));
/// ```
#[diagnostic::on_unimplemented(
    message = "cannot insert a new axis {I} into a tensor of shape `{Self}`",
    label = "a tensor of rank r takes a new axis at 0 to r",
    note = "a tensor has at most 6 axes"
)]
pub trait InsertAxis<const I: usize, K: Dim>: Shape {
    /// The shape with the new axis.
    type Output: Shape;
    /// The shape with `dim` inserted at axis `I`.
    fn insert_axis(&self, dim: K) -> Self::Output;
}

/// Calls `$m!(i; [P…] X [Q…])` for every axis `i` of every rank 1 to 6: `X` is the dim at
/// axis `i`, `P…` those before it and `Q…` those after it.
macro_rules! for_each_axis {
    ($m:ident) => {
        $m!(0; [] A []);

        $m!(0; [] A [B]);
        $m!(1; [A] B []);

        $m!(0; [] A [B, C]);
        $m!(1; [A] B [C]);
        $m!(2; [A, B] C []);

        $m!(0; [] A [B, C, E]);
        $m!(1; [A] B [C, E]);
        $m!(2; [A, B] C [E]);
        $m!(3; [A, B, C] E []);

        $m!(0; [] A [B, C, E, F]);
        $m!(1; [A] B [C, E, F]);
        $m!(2; [A, B] C [E, F]);
        $m!(3; [A, B, C] E [F]);
        $m!(4; [A, B, C, E] F []);

        $m!(0; [] A [B, C, E, F, G]);
        $m!(1; [A] B [C, E, F, G]);
        $m!(2; [A, B] C [E, F, G]);
        $m!(3; [A, B, C] E [F, G]);
        $m!(4; [A, B, C, E] F [G]);
        $m!(5; [A, B, C, E, F] G []);
    };
}

// Fields are read by destructuring, so one list of axis positions serves both a shape that
// has the axis (replace) and the shape without it (insert).
macro_rules! replace_insert {
    ($i:literal; [$($P:ident),*] $X:ident [$($Q:ident),*]) => {
        #[diagnostic::do_not_recommend]
        impl<$($P: Dim,)* $X: Dim, $($Q: Dim,)* K: Dim> ReplaceAxis<$i, K>
            for ($($P,)* $X, $($Q,)*)
        {
            type Output = ($($P,)* K, $($Q,)*);
            #[inline(always)]
            #[allow(non_snake_case)]
            fn replace_axis(&self, dim: K) -> Self::Output {
                let ($($P,)* _, $($Q,)*) = *self;
                ($($P,)* dim, $($Q,)*)
            }
        }

        #[diagnostic::do_not_recommend]
        impl<$($P: Dim,)* $($Q: Dim,)* K: Dim> InsertAxis<$i, K> for ($($P,)* $($Q,)*) {
            type Output = ($($P,)* K, $($Q,)*);
            #[inline(always)]
            #[allow(non_snake_case, clippy::let_unit_value)]
            fn insert_axis(&self, dim: K) -> Self::Output {
                let ($($P,)* $($Q,)*) = *self;
                ($($P,)* dim, $($Q,)*)
            }
        }
    };
}

for_each_axis!(replace_insert);

/// `Self` and `Rhs` can be concatenated along axis `I`: they have the same rank and the same
/// dims on every other axis (the dims at axis `I` may differ).
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::CanConcat;
/// dim!(pub Seq = 4; pub DModel = 8);
/// fn check<L: CanConcat<I, R>, R, const I: usize>() {}
/// check::<(Seq, DModel), (D<2>, DModel), 0>();
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::shape::CanConcat;
/// dim!(pub Seq = 4; pub DModel = 8);
/// fn check<L: CanConcat<I, R>, R, const I: usize>() {}
/// check::<(Seq, DModel), (D<2>, D<8>), 0>(); // `D<8>` is not `DModel`
/// ```
#[diagnostic::on_unimplemented(
    message = "cannot concatenate `{Self}` with `{Rhs}` along axis {I}",
    label = "every dim other than axis {I} must be the same on both sides",
    note = "concatenation joins two tensors of the same rank along one of their axes"
)]
pub trait CanConcat<const I: usize, Rhs>: HasAxis<I> {}

// The other dims agree when replacing the dim at axis `I` by the same dim on both sides
// gives one shape. A blanket impl rather than one per axis position: with a single impl whose
// `Rhs` is a tuple pattern, rustc would infer the operand's shape from that pattern and report
// a type mismatch instead of this rule.
#[diagnostic::do_not_recommend]
impl<L, R, const I: usize> CanConcat<I, R> for L
where
    L: ReplaceAxis<I, Dyn>,
    R: ReplaceAxis<I, Dyn, Output = <L as ReplaceAxis<I, Dyn>>::Output>,
{
}
