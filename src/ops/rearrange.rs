//! einops-style axis rearrangement: [`rearrange!`](crate::rearrange!).
//!
//! The macro parses the pattern at compile time and calls a helper whose `where` clause
//! binds the input's axes to the names on the left (through
//! [`FitsLetters`](crate::ops::einsum::FitsLetters)) and states each group as a
//! [`SplitsInto`](crate::shape::SplitsInto): `Group: SplitsInto<h, d>` reads, when it
//! fails, "`Heads` × `HeadDim` must equal `DModel`". At run time `run` splits the grouped
//! axes of the input's strided view (splitting an axis only splits its stride), permutes
//! the elementary axes into the order of the right side (a permutation of strides), and
//! copies once into the new tensor, whose row-major layout merges the right side's groups.
//! A traced [`Var`](crate::autodiff::Var) is rearranged the same way, under the same rules,
//! into a `Var` whose gradient flows back (`autodiff/rearrange.rs`).
//!
//! Which type a name gets: a name that is an axis of the input on its own takes that
//! axis's dim; a name inside a left group has no axis of its own, so its dim is either
//! given as `name = Dim` or inferred from the result type (annotate it); a right group is
//! a new dim, taken from the result type. Names inside groups must be static dims.
//!
//! ```
//! use shapecheck::prelude::*;
//! dim!(pub Batch = 2; pub Seq = 3; pub DModel = 8; pub Heads = 2; pub HeadDim = 4);
//! let x = Tensor::<(Batch, Seq, DModel)>::from_fn(|[b, s, j]| (100 * b + 10 * s + j) as f32);
//!
//! // Split the model dim into heads, then move heads before the sequence.
//! let h: Tensor<(Batch, Heads, Seq, HeadDim)> = rearrange!(x, "b s (h d) -> b h s d", h = Heads);
//! assert_eq!(h[[1, 1, 2, 3]], x[[1, 2, 7]]);
//!
//! // And back: the merged group's dim comes from the annotation.
//! let back: Tensor<(Batch, Seq, DModel)> = rearrange!(h, "b h s d -> b s (h d)");
//! assert_eq!(back, x);
//!
//! // Unflatten a batch of rows, both factors given.
//! let flat = Tensor::<(D<6>, DModel)>::ones();
//! let y = rearrange!(flat, "(b s) d -> b s d", b = Batch, s = Seq);
//! let _: &Tensor<(Batch, Seq, DModel)> = &y;
//! ```
//!
//! A group whose product is not the dim it splits does not compile:
//!
//! ```compile_fail
//! use shapecheck::prelude::*;
//! dim!(pub Seq = 3; pub DModel = 8; pub Heads = 3; pub HeadDim = 4);
//! let x = Tensor::<(Seq, DModel)>::zeros();
//! let h = rearrange!(x, "s (h d) -> h s d", h = Heads, d = HeadDim); // 3 × 4 ≠ 8
//! ```

use super::einsum::strided::gather;
use super::einsum::Input;
use crate::element::Float;
use crate::shape::Shape;
use crate::tensor::{AsView, Tensor, TensorView};

/// A pattern as the macro compiled it.
#[doc(hidden)]
pub struct Plan {
    /// The pattern, for messages.
    pub text: &'static str,
    /// How many names each input axis splits into (1 for a plain axis).
    pub factors: &'static [usize],
    /// The elementary axes (the names, in left order) in the order of the right side.
    pub order: &'static [usize],
}

/// What [`rearrange!`](crate::rearrange!) takes, through [`Source`]: a tensor or view
/// (read as a [`TensorView`], the result a [`Tensor`]) or a traced
/// [`Var`](crate::autodiff::Var) (the result a `Var` whose gradient flows back through the
/// same strides).
#[doc(hidden)]
pub trait Rearrange<S: Shape, T: Float> {
    /// The result for an output shape `S2`.
    type Output<S2: Shape>;
    /// The input's shape.
    fn shape_of(&self) -> S;
    /// Runs the plan.
    fn rearrange<S2: Shape>(self, plan: &Plan, sizes: &[usize], out: S2) -> Self::Output<S2>;
}

/// The macro's argument as a [`Rearrange`]: anything [`AsView`] as its view, a `Var` by
/// reference.
#[doc(hidden)]
pub trait Source {
    /// What is rearranged.
    type Arg<'a>
    where
        Self: 'a;
    /// The argument.
    fn rearrange_source(&self) -> Self::Arg<'_>;
}

impl<A: AsView> Source for A {
    type Arg<'a>
        = TensorView<'a, A::Shape, A::Elem>
    where
        A: 'a;
    #[inline]
    fn rearrange_source(&self) -> Self::Arg<'_> {
        self.as_view()
    }
}

impl<S: Shape, T: Float> Rearrange<S, T> for TensorView<'_, S, T> {
    type Output<S2: Shape> = Tensor<S2, T>;
    #[inline]
    fn shape_of(&self) -> S {
        self.shape()
    }
    fn rearrange<S2: Shape>(self, plan: &Plan, sizes: &[usize], out: S2) -> Tensor<S2, T> {
        run(plan, Input::new(&self), sizes, out).0
    }
}

/// Rearranges `input`: `sizes` are the sizes of the elementary axes in left order, `out`
/// the output shape. The types have already checked that the sizes multiply out. Also
/// returns the dims and strides (into `input`'s buffer, from its offset) that read the
/// input in the output's order: the backward of a traced rearrange adds the gradient back
/// through them.
pub(crate) fn run<S: Shape, T: Float>(
    plan: &Plan,
    input: Input<'_, T>,
    sizes: &[usize],
    out: S,
) -> (Tensor<S, T>, Vec<usize>, Vec<usize>) {
    let (data, offset, dims, strides) = input.parts();
    let mut elem_strides = Vec::with_capacity(sizes.len());
    let mut first = 0;
    for (axis, &f) in plan.factors.iter().enumerate() {
        let group = &sizes[first..first + f];
        assert_eq!(
            group.iter().product::<usize>(),
            dims[axis],
            "rearrange {:?}: the factors {group:?} of axis {axis} of {input:?} do not multiply out",
            plan.text,
        );
        // Splitting an axis of stride s into (a, b) gives strides (b·s, s).
        let mut s = strides[axis];
        let at = elem_strides.len();
        elem_strides.resize(at + f, 0);
        for j in (0..f).rev() {
            elem_strides[at + j] = s;
            s *= group[j];
        }
        first += f;
    }
    let (pd, ps): (Vec<usize>, Vec<usize>) = plan
        .order
        .iter()
        .map(|&i| (sizes[i], elem_strides[i]))
        .unzip();
    let data = gather(data, offset, &pd, &ps);
    debug_assert_eq!(data.len(), out.num_elements());
    (Tensor::from_parts(out, data), pd, ps)
}
