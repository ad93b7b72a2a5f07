//! Axes as types: `Axis<I>` names axis `I`, and `S: HasAxis<I>` says `S` has it.

use crate::dim::{Dim, D};

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
