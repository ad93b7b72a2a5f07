//! NumPy broadcasting, computed in the type.
//!
//! Shapes are aligned on their trailing axes; two dims broadcast when they are the same dim
//! or one of them has size 1 (`D<1>`, or a named static dim of size 1). The rule dispatches
//! on each dim's [`Kind`](crate::dim::Dim::Kind) (`One`, `Many`, `Runtime`), which avoids
//! overlapping impls on stable Rust: `(One, _)` gives the other dim, `(Many, One)` and
//! `(Runtime, One)` keep the first, and `(Many, Many)` / `(Runtime, Runtime)` exist only for
//! a dim with itself. Runtime dims of the same type are compared at run time (equal, or one
//! of them 1). The per-rank impls are generated (`broadcasts_gen.rs`).
//!
//! ```
//! use shapecheck::prelude::*;
//! use shapecheck::shape::BroadcastShapes;
//! dim!(pub Batch; pub Heads = 12; pub Seq = 128);
//! // NumPy's own example: (32, 768) - (768,)
//! type Out = <(D<32>, D<768>) as BroadcastShapes<(D<768>,)>>::Output;
//! let _: Out = (D::<32>, D::<768>);
//! // Scores plus a padding mask.
//! type Masked = <(Batch, Heads, Seq, Seq) as BroadcastShapes<(Batch, D<1>, D<1>, Seq)>>::Output;
//! let _: Masked = (Batch::new(2), Heads, Seq, Seq);
//! ```
//!
//! ```compile_fail
//! use shapecheck::prelude::*;
//! use shapecheck::shape::BroadcastShapes;
//! dim!(pub Seq = 64; pub HeadDim = 64);
//! fn out<L: BroadcastShapes<R>, R: Shape>() {}
//! out::<(Seq, Seq), (Seq, HeadDim)>();
//! ```

use crate::dim::{Dim, Many, One, Runtime};

use super::Shape;

/// Two dims that broadcast together; `Output` is the dim of the result.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::BroadcastDim;
/// dim!(pub Seq = 8);
/// fn out<A: BroadcastDim<B>, B: Dim>() -> Option<usize> { <A::Output as Dim>::STATIC_SIZE }
/// assert_eq!(out::<D<1>, Seq>(), Some(8));
/// assert_eq!(out::<Seq, Seq>(), Some(8));
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::shape::BroadcastDim;
/// dim!(pub Seq = 8; pub HeadDim = 8);
/// fn out<A: BroadcastDim<B>, B: Dim>() {}
/// out::<Seq, HeadDim>(); // two different dims, neither of size 1
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` and `{B}` do not broadcast",
    label = "`{Self}` and `{B}` are different dims, and neither has size 1",
    note = "two dims broadcast when they are the same dim or one of them is `D<1>`"
)]
pub trait BroadcastDim<B: Dim>: Dim {
    /// The dim of the result.
    type Output: Dim;
    /// The result dim, or `None` when runtime sizes disagree (neither equal nor 1).
    fn broadcast_dim(self, b: B) -> Option<Self::Output>;
}

/// A dim that broadcasts with itself to itself: every dim does, and this names it, for
/// code generic over a dim whose kind it does not know (a model's width, static for a
/// preset and runtime for a checkpoint read from its file). Elementwise ops on two values
/// of one shape `(…, X)` need it of each dim.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::SameDim;
/// fn add<X: SameDim>(a: &Tensor<(X,)>, b: &Tensor<(X,)>) -> Tensor<(X,)> {
///     a + b
/// }
/// dim!(pub Width = 3);
/// assert_eq!(add(&Tensor::<(Width,)>::ones(), &Tensor::ones()).as_slice(), &[2.0; 3]);
/// let d = Tensor::<(Dyn,)>::ones_with((Dyn::new(2),));
/// assert_eq!(add(&d, &d).as_slice(), &[2.0; 2]);
/// ```
pub trait SameDim: Dim + BroadcastDim<Self, Output = Self> {}
impl<X: Dim + BroadcastDim<X, Output = X>> SameDim for X {}

/// The kind-dispatched implementation of [`BroadcastDim`]: `KA`, `KB` are the kinds of
/// `Self` and `B`.
#[doc(hidden)]
pub trait BroadcastByKind<KA, KB, B: Dim>: Dim {
    type Output: Dim;
    fn by_kind(self, b: B) -> Option<Self::Output>;
}

#[diagnostic::do_not_recommend]
impl<A: Dim, B: Dim> BroadcastDim<B> for A
where
    A: BroadcastByKind<<A as Dim>::Kind, <B as Dim>::Kind, B>,
{
    type Output = <A as BroadcastByKind<<A as Dim>::Kind, <B as Dim>::Kind, B>>::Output;
    #[inline(always)]
    fn broadcast_dim(self, b: B) -> Option<Self::Output> {
        self.by_kind(b)
    }
}

impl<A: Dim, KB, B: Dim> BroadcastByKind<One, KB, B> for A {
    type Output = B;
    #[inline(always)]
    fn by_kind(self, b: B) -> Option<B> {
        Some(b)
    }
}

impl<A: Dim, B: Dim> BroadcastByKind<Many, One, B> for A {
    type Output = A;
    #[inline(always)]
    fn by_kind(self, _b: B) -> Option<A> {
        Some(self)
    }
}

impl<A: Dim> BroadcastByKind<Many, Many, A> for A {
    type Output = A;
    #[inline(always)]
    fn by_kind(self, _b: A) -> Option<A> {
        Some(self)
    }
}

impl<A: Dim, B: Dim> BroadcastByKind<Runtime, One, B> for A {
    type Output = A;
    #[inline(always)]
    fn by_kind(self, _b: B) -> Option<A> {
        Some(self)
    }
}

impl<A: Dim> BroadcastByKind<Runtime, Runtime, A> for A {
    type Output = A;
    #[inline(always)]
    fn by_kind(self, b: A) -> Option<A> {
        match (self.size(), b.size()) {
            (x, y) if x == y || y == 1 => Some(self),
            (1, _) => Some(b),
            _ => None,
        }
    }
}

/// Two batch dims of a matrix product that broadcast together: the same dim, or one of them
/// of size 1 (`D<1>` or a named dim of size 1, or a runtime dim whose size is 1 at run time);
/// `Output` is the batch dim of the product. It is [`BroadcastDim`]'s rule, dispatched on
/// the dims' kinds the same way, with one difference: a dim broadcasts with *itself* by a
/// single impl for every kind, so code generic over a batch dim (`B: Dim`) multiplies
/// `(B, M, K)·(B, K, N)` without a further bound. (The price: two *different* dims both of
/// size 1 do not broadcast here; neither is needed for a product.)
///
/// ```
/// use shapecheck::prelude::*;
/// dim!(pub Batch = 2; pub Heads = 3; pub Seq = 4; pub HeadDim = 8);
/// let q = Tensor::<(Batch, D<1>, Seq, HeadDim)>::zeros();
/// let k = Tensor::<(D<1>, Heads, Seq, HeadDim)>::zeros();
/// let scores: Tensor<(Batch, Heads, Seq, Seq)> = q.matmul(&k.t());
/// fn generic<B: Dim>(a: &Tensor<(B, Seq, HeadDim)>, b: &Tensor<(B, HeadDim, Seq)>) -> Tensor<(B, Seq, Seq)> {
///     a.matmul(b)
/// }
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// dim!(pub Heads = 12; pub KvHeads = 4; pub Seq = 16; pub HeadDim = 8);
/// let q = Tensor::<(Heads, Seq, HeadDim)>::zeros();
/// let k = Tensor::<(KvHeads, Seq, HeadDim)>::zeros();
/// let _ = q.matmul(&k.t()); // 12 heads against 4: neither is 1
/// ```
#[diagnostic::on_unimplemented(
    message = "matmul batch dims must broadcast: `{Self}` and `{B}` are different dims, and neither has size 1",
    label = "the batch dims `{Self}` and `{B}` do not broadcast",
    note = "aligned on the last batch axis, each pair of batch dims must be the same dim or contain a `D<1>` (a missing leading dim counts as `D<1>`)"
)]
pub trait BroadcastBatchDim<B: Dim>: Dim {
    /// The batch dim of the product.
    type Output: Dim;
    /// The product's batch dim, or `None` when runtime sizes disagree (neither equal nor 1).
    fn broadcast_batch(self, b: B) -> Option<Self::Output>;
}

/// The kind-dispatched implementation of [`BroadcastBatchDim`].
#[doc(hidden)]
pub trait BroadcastBatchByKind<KA, KB, B: Dim>: Dim {
    type Output: Dim;
    fn batch_by_kind(self, b: B) -> Option<Self::Output>;
}

#[diagnostic::do_not_recommend]
impl<A: Dim, B: Dim> BroadcastBatchDim<B> for A
where
    A: BroadcastBatchByKind<<A as Dim>::Kind, <B as Dim>::Kind, B>,
{
    type Output = <A as BroadcastBatchByKind<<A as Dim>::Kind, <B as Dim>::Kind, B>>::Output;
    #[inline(always)]
    fn broadcast_batch(self, b: B) -> Option<Self::Output> {
        self.batch_by_kind(b)
    }
}

/// A dim with itself, whatever its kind (so a generic `B: Dim` is covered): runtime sizes
/// must be equal or one of them 1.
impl<A: Dim, K> BroadcastBatchByKind<K, K, A> for A {
    type Output = A;
    #[inline(always)]
    fn batch_by_kind(self, b: A) -> Option<A> {
        match (self.size(), b.size()) {
            (x, y) if x == y || y == 1 => Some(self),
            (1, _) => Some(b),
            _ => None,
        }
    }
}

impl<A: Dim, B: Dim> BroadcastBatchByKind<One, Many, B> for A {
    type Output = B;
    #[inline(always)]
    fn batch_by_kind(self, b: B) -> Option<B> {
        Some(b)
    }
}

impl<A: Dim, B: Dim> BroadcastBatchByKind<One, Runtime, B> for A {
    type Output = B;
    #[inline(always)]
    fn batch_by_kind(self, b: B) -> Option<B> {
        Some(b)
    }
}

impl<A: Dim, B: Dim> BroadcastBatchByKind<Many, One, B> for A {
    type Output = A;
    #[inline(always)]
    fn batch_by_kind(self, _b: B) -> Option<A> {
        Some(self)
    }
}

impl<A: Dim, B: Dim> BroadcastBatchByKind<Runtime, One, B> for A {
    type Output = A;
    #[inline(always)]
    fn batch_by_kind(self, _b: B) -> Option<A> {
        Some(self)
    }
}

/// Two shapes that broadcast together (NumPy's rule, trailing alignment); `Output` is the
/// shape of the result.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::BroadcastShapes;
/// dim!(pub Seq = 8; pub DModel = 4);
/// fn rank<A: BroadcastShapes<B>, B: Shape>() -> usize { <A::Output as Shape>::RANK }
/// assert_eq!(rank::<(Seq, DModel), (DModel,)>(), 2);
/// assert_eq!(rank::<(Seq, D<1>), (D<1>, DModel)>(), 2);
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::shape::BroadcastShapes;
/// dim!(pub Seq = 8; pub DModel = 4);
/// fn rank<A: BroadcastShapes<B>, B: Shape>() {}
/// rank::<(Seq, DModel), (Seq,)>(); // trailing dims `DModel` and `Seq` differ
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` and `{Rhs}` do not broadcast",
    label = "aligned on their last axes, each pair of dims must be equal or contain a 1"
)]
pub trait BroadcastShapes<Rhs: Shape>: Shape {
    /// The broadcast shape.
    type Output: Shape;
    /// The broadcast shape, or `None` when runtime sizes disagree.
    fn broadcast_shapes(&self, rhs: &Rhs) -> Option<Self::Output>;
}

/// A dim that can be stretched to `B`: it is `B`, or it has size 1. The per-dim half of
/// [`BroadcastsTo`], whose impls are not recommended, so users see that rule's message.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::BroadcastsToDim;
/// dim!(pub Seq = 8);
/// fn fits<A: BroadcastsToDim<B>, B: Dim>() {}
/// fits::<D<1>, Seq>();
/// fits::<Seq, Seq>();
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::shape::BroadcastsToDim;
/// dim!(pub Seq = 8);
/// fn fits<A: BroadcastsToDim<B>, B: Dim>() {}
/// fits::<Seq, D<1>>(); // only a dim of size 1 stretches
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not broadcast to `{B}`",
    label = "`{Self}` is neither `{B}` nor a dim of size 1",
    note = "a dim broadcasts to another when it is the same dim or is `D<1>`"
)]
pub trait BroadcastsToDim<B: Dim>: Dim {}

#[doc(hidden)]
pub trait BroadcastsToByKind<KA, B: Dim>: Dim {}

#[diagnostic::do_not_recommend]
impl<A: Dim, B: Dim> BroadcastsToDim<B> for A where A: BroadcastsToByKind<<A as Dim>::Kind, B> {}

impl<A: Dim, B: Dim> BroadcastsToByKind<One, B> for A {}
impl<A: Dim> BroadcastsToByKind<Many, A> for A {}
impl<A: Dim> BroadcastsToByKind<Runtime, A> for A {}

/// A shape that can be stretched to `Target` without changing `Target`: a mask that fits
/// the scores, a bias that fits the activations. Runtime dims are compared at run time.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::shape::BroadcastsTo;
/// dim!(pub Batch; pub Heads = 12; pub Seq = 128);
/// fn fits<M: BroadcastsTo<S>, S: Shape>() {}
/// fits::<(Batch, D<1>, D<1>, Seq), (Batch, Heads, Seq, Seq)>();
/// fits::<(Seq, Seq), (Batch, Heads, Seq, Seq)>();
/// ```
///
/// ```compile_fail
/// use shapecheck::prelude::*;
/// use shapecheck::shape::BroadcastsTo;
/// dim!(pub Batch; pub Heads = 12; pub Seq = 128);
/// fn fits<M: BroadcastsTo<S>, S: Shape>() {}
/// fits::<(Batch, Heads, Seq, Seq), (Seq, Seq)>(); // more axes than the target
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not broadcast to `{Target}`",
    label = "aligned on the last axes, each dim must be the target's dim or `D<1>`, and there may not be more axes than the target has"
)]
pub trait BroadcastsTo<Target: Shape>: Shape {
    /// Whether the runtime sizes fit too (each dim equal to the target's or 1).
    fn fits(&self, target: &Target) -> bool {
        let (d, t) = (self.dims(), target.dims());
        let off = t.len() - d.len();
        d.iter().zip(&t[off..]).all(|(&a, &b)| a == b || a == 1)
    }
}

/// Strides that read a tensor of dims `dims` and strides `strides` as the broadcast shape
/// `target` (trailing alignment): size-1 axes that are stretched, and missing leading axes,
/// get stride 0. `None` if a dim neither matches nor is 1.
pub(crate) fn broadcast_strides(
    dims: &[usize],
    strides: &[usize],
    target: &[usize],
    out: &mut [usize],
) -> Option<()> {
    let off = target.len().checked_sub(dims.len())?;
    for (j, o) in out.iter_mut().enumerate().take(target.len()) {
        *o = if j < off {
            0
        } else {
            let (d, s) = (dims[j - off], strides[j - off]);
            if d == target[j] {
                if d == 1 {
                    0
                } else {
                    s
                }
            } else if d == 1 {
                0
            } else {
                return None;
            }
        };
    }
    Some(())
}
