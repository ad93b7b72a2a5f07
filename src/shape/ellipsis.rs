//! The `...` of an einops or einsum pattern: a shape cut into its `K` leading dims, the
//! dims the ellipsis stands for, and its `M` trailing dims ([`SplitEllipsis`]), and a
//! middle put back between other dims ([`Splice`]). `rearrange!`, `reduce!`, `repeat!` and
//! `einsum!` bind the named axes around a `...` through the first and build their result
//! type with the second, so the dims under the ellipsis keep their types. The impls, for
//! every rank up to 6, are generated into `ellipsis_gen.rs` by `scripts/gen_ellipsis.py`.

use super::Shape;

/// `Self` has at least `K + M` axes: `K` before an ellipsis and `M` after it, the rest
/// (possibly none) under it.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::SplitEllipsis;
/// dim!(pub Batch = 2; pub Seq = 3; pub H = 4; pub W = 5);
/// let (head, mid, tail) = SplitEllipsis::<1, 2>::split_ellipsis((Batch, Seq, H, W));
/// assert_eq!((head, mid, tail), ((Batch,), (Seq,), (H, W)));
/// let (_, none, _) = SplitEllipsis::<0, 2>::split_ellipsis((H, W)); // `...` may stand for no dim
/// assert_eq!(none, ());
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::shape::SplitEllipsis;
/// dim!(pub H = 4; pub W = 5);
/// let _ = SplitEllipsis::<2, 1>::split_ellipsis((H, W)); // three named axes, two dims
/// ```
#[diagnostic::on_unimplemented(
    message = "the pattern names {K} axes before `...` and {M} after it, more than `{Self}` has",
    label = "a tensor of shape `{Self}` has too few axes for this pattern",
    note = "`...` stands for zero or more axes; the named axes around it must each have an axis of their own"
)]
pub trait SplitEllipsis<const K: usize, const M: usize>: Shape {
    /// The first `K` dims.
    type Head: Shape;
    /// The dims under the ellipsis.
    type Mid: Shape;
    /// The last `M` dims.
    type Tail: Shape;
    /// The shape cut in three.
    fn split_ellipsis(self) -> (Self::Head, Self::Mid, Self::Tail);
}

/// `Self` (the dims under an ellipsis) with the dims `H` before it and `T` after it makes
/// a shape of rank at most 6.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::Splice;
/// dim!(pub Batch = 2; pub Seq = 3; pub HW = 20);
/// assert_eq!((Batch, Seq).splice((), (HW,)), (Batch, Seq, HW));
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::shape::Splice;
/// let _ = (D<1>, D<1>, D<1>, D<1>).splice((D<1>, D<1>), (D<1>,)); // 7 axes
/// ```
#[diagnostic::on_unimplemented(
    message = "the result would have the dims `{H}`, then `{Self}` for the `...`, then `{T}`: more than 6 axes",
    label = "a tensor has at most 6 axes"
)]
pub trait Splice<H, T>: Shape {
    /// `H`, then `Self`, then `T`, as one shape.
    type Output: Shape;
    /// The three joined.
    fn splice(self, h: H, t: T) -> Self::Output;
}
