//! Multi-head layout: `(…, Seq, DModel)` ↔ `(…, Heads, Seq, HeadDim)`, with
//! `Heads × HeadDim = DModel` checked by the type checker ([`SplitsInto`]).
//!
//! [`split_heads`](crate::TensorView::split_heads) is a strided view (nothing is copied: head
//! `h` is columns `h·HeadDim..(h+1)·HeadDim` of each row), which
//! [`attention`](super::attention::attention) reads in place.
//! [`merge_heads`](crate::TensorView::merge_heads) copies the heads back side by side.
//!
//! ```
//! use shapecheck::prelude::*;
//! dim!(pub Seq = 3; pub DModel = 6; pub Heads = 2; pub HeadDim = 3);
//! let x = Tensor::<(Seq, DModel)>::from_fn(|[s, c]| (10 * s + c) as f32);
//! let h = x.split_heads::<Heads, HeadDim>(); // (Heads, Seq, HeadDim), a view
//! assert_eq!(h.get([1, 2, 0]), Some(&23.0)); // row 2, column 3 + 0
//! let back: Tensor<(Seq, DModel)> = h.merge_heads::<DModel>();
//! assert_eq!(back.as_slice(), x.as_slice());
//! ```
//!
//! ```compile_fail
//! use shapecheck::prelude::*;
//! dim!(pub Seq = 3; pub DModel = 6; pub Heads = 4; pub HeadDim = 3);
//! let x = Tensor::<(Seq, DModel)>::zeros();
//! let h = x.split_heads::<Heads, HeadDim>(); // 4 × 3 ≠ 6
//! ```

use crate::dim::{Dim, StaticDim};
use crate::element::Float;
use crate::shape::{Shape, SplitsInto};
use crate::tensor::{Tensor, TensorView};

/// Shapes `(Seq, C)` and `(Batch, Seq, C)` whose model dim `C` splits into `H` heads of
/// `Hd`; `Output` is `(H, Seq, Hd)` or `(Batch, H, Seq, Hd)`.
#[diagnostic::on_unimplemented(
    message = "cannot split `{Self}` into heads (`{H}`, `{Hd}`)",
    label = "split_heads takes (Seq, DModel) or (Batch, Seq, DModel) with `{H}` × `{Hd}` = DModel"
)]
pub trait SplitHeads<H: StaticDim, Hd: StaticDim>: Shape {
    /// The shape with the heads as a batch axis before the sequence.
    type Output: Shape;
    #[doc(hidden)]
    fn split_shape(&self) -> Self::Output;
}

/// Shapes `(H, Seq, Hd)` and `(Batch, H, Seq, Hd)` whose heads merge into the model dim `C`;
/// `Output` is `(Seq, C)` or `(Batch, Seq, C)`.
#[diagnostic::on_unimplemented(
    message = "cannot merge the heads of `{Self}` into `{C}`",
    label = "merge_heads takes (Heads, Seq, HeadDim) or (Batch, Heads, Seq, HeadDim) with Heads × HeadDim = `{C}`"
)]
pub trait MergeHeads<C: StaticDim>: Shape {
    /// The shape with the heads side by side in the last axis.
    type Output: Shape;
    #[doc(hidden)]
    fn merge_shape(&self) -> Self::Output;
}

#[diagnostic::do_not_recommend]
impl<S: Dim, C: SplitsInto<H, Hd>, H: StaticDim, Hd: StaticDim> SplitHeads<H, Hd> for (S, C) {
    type Output = (H, S, Hd);
    fn split_shape(&self) -> (H, S, Hd) {
        (H::default(), self.0, Hd::default())
    }
}

#[diagnostic::do_not_recommend]
impl<B: Dim, S: Dim, C: SplitsInto<H, Hd>, H: StaticDim, Hd: StaticDim> SplitHeads<H, Hd>
    for (B, S, C)
{
    type Output = (B, H, S, Hd);
    fn split_shape(&self) -> (B, H, S, Hd) {
        (self.0, H::default(), self.1, Hd::default())
    }
}

#[diagnostic::do_not_recommend]
impl<S: Dim, C: SplitsInto<H, Hd>, H: StaticDim, Hd: StaticDim> MergeHeads<C> for (H, S, Hd) {
    type Output = (S, C);
    fn merge_shape(&self) -> (S, C) {
        (self.1, C::default())
    }
}

#[diagnostic::do_not_recommend]
impl<B: Dim, S: Dim, C: SplitsInto<H, Hd>, H: StaticDim, Hd: StaticDim> MergeHeads<C>
    for (B, H, S, Hd)
{
    type Output = (B, S, C);
    fn merge_shape(&self) -> (B, S, C) {
        (self.0, self.2, C::default())
    }
}

impl<'a, S: Shape, T: Float> TensorView<'a, S, T> {
    /// `(…, Seq, DModel)` → `(…, Heads, Seq, HeadDim)`, a strided view of the same elements;
    /// see the [module](crate::ops::heads) documentation.
    pub fn split_heads<H: StaticDim, Hd: StaticDim>(&self) -> TensorView<'a, S::Output, T>
    where
        S: SplitHeads<H, Hd>,
    {
        let (d, s) = (self.dims(), self.strides());
        let r = d.len();
        let cs = s[r - 1];
        let mut strides = [0usize; 4];
        strides[..r - 2].copy_from_slice(&s[..r - 2]);
        strides[r - 2] = Hd::SIZE * cs;
        strides[r - 1] = s[r - 2];
        strides[r] = cs;
        TensorView::from_parts(
            self.as_base_slice(),
            self.offset(),
            self.shape().split_shape(),
            &strides[..=r],
        )
        .expect("the split view covers exactly the elements of the original")
    }

    /// `(…, Heads, Seq, HeadDim)` → `(…, Seq, DModel)`: the heads copied side by side into a
    /// new contiguous tensor.
    pub fn merge_heads<C: StaticDim>(&self) -> Tensor<S::Output, T>
    where
        S: MergeHeads<C>,
    {
        let (d, s) = (self.dims(), self.strides());
        let r = d.len();
        let (nb, bs) = if r == 4 { (d[0], s[0]) } else { (1, 0) };
        let (h, seq, hd) = (d[r - 3], d[r - 2], d[r - 1]);
        let (hs, ss, ds) = (s[r - 3], s[r - 2], s[r - 1]);
        let data = self.as_base_slice();
        let mut out = crate::pool::with_capacity(nb * seq * h * hd);
        for b in 0..nb {
            for t in 0..seq {
                for head in 0..h {
                    let base = self.offset() + b * bs + head * hs + t * ss;
                    out.extend((0..hd).map(|j| data[base + j * ds]));
                }
            }
        }
        Tensor::from_parts(self.shape().merge_shape(), out)
    }
}

impl<S: Shape, T: Float> Tensor<S, T> {
    /// `(…, Seq, DModel)` → `(…, Heads, Seq, HeadDim)`, a strided view; see
    /// [`TensorView::split_heads`].
    pub fn split_heads<H: StaticDim, Hd: StaticDim>(&self) -> TensorView<'_, S::Output, T>
    where
        S: SplitHeads<H, Hd>,
    {
        self.view().split_heads::<H, Hd>()
    }

    /// `(…, Heads, Seq, HeadDim)` → `(…, Seq, DModel)`, copied; see
    /// [`TensorView::merge_heads`].
    pub fn merge_heads<C: StaticDim>(&self) -> Tensor<S::Output, T>
    where
        S: MergeHeads<C>,
    {
        self.view().merge_heads::<C>()
    }
}
