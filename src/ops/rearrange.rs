//! einops-style axis rearrangement, reduction and repetition:
//! [`rearrange!`](crate::rearrange!), [`reduce!`](crate::reduce!) and
//! [`repeat!`](crate::repeat!), one pattern grammar (names, groups of any size, `()` and
//! `1`, numbers, `...`) and one runtime: the plan resolves the input's axes into elementary
//! axes (a group splits an axis's stride, `...` takes the axes not named), lists them in
//! the right side's order (an axis new to `repeat!` gets stride 0) and either gathers them
//! (rearrange, repeat) or reduces the ones on the left only ([`Reduction`]: pairwise sums).
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
//! The ellipsis, size-1 axes, pooling and repetition:
//!
//! ```
//! use shapecheck::prelude::*;
//! dim!(pub Batch = 2; pub Chan = 3; pub H = 4; pub W = 6; pub HW = 24; pub H2 = 2; pub W3 = 3);
//! let img = Tensor::<(Batch, Chan, H, W)>::from_fn(|[b, c, h, w]| (b + c + h * w) as f32);
//! let flat: Tensor<(Batch, Chan, HW)> = rearrange!(img, "... h w -> ... (h w)");
//! let col = rearrange!(flat, "b c hw -> b c hw 1");
//! let _: &Tensor<(Batch, Chan, HW, D<1>)> = &col;
//! let pooled = reduce!(img, "b c (h 2) (w 2) -> b c h w", max, h = H2, w = W3);
//! assert_eq!(pooled[[1, 2, 1, 2]], img[[1, 2, 3, 5]]);
//! let up = repeat!(pooled, "b c h w -> b c (h 2) (w 2)");
//! let _: &Tensor<(Batch, Chan, H, W)> = &up;
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

use super::einsum::strided::{for_each_offset, gather, gather_sum};
use super::einsum::Input;
use crate::element::Float;
use crate::shape::Shape;
use crate::tensor::{AsView, Tensor, TensorView};

/// One axis of a side of a pattern as the macro compiled it.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub enum Item {
    /// An axis made of these elementary axes (ids into the sizes), outermost first: one
    /// for a name, several for a group, none for `()` or `1`.
    Axis(&'static [usize]),
    /// The `...`: the axes it stands for, in order.
    Ellipsis,
}

/// A pattern as the macro compiled it.
#[doc(hidden)]
pub struct Plan {
    /// The pattern, for messages.
    pub text: &'static str,
    /// The input's axes.
    pub left: &'static [Item],
    /// The result's axes.
    pub right: &'static [Item],
}

/// Dims and strides of the elementary axes a plan reads, resolved against an input.
struct Resolved {
    /// The result's axes, in order (stride 0 for an axis `repeat!` adds).
    out: (Vec<usize>, Vec<usize>),
    /// The axes on the left only, which a reduction reduces, in left order.
    reduced: (Vec<usize>, Vec<usize>),
}

impl Plan {
    /// Splits the input's axes into the elementary axes (splitting an axis of stride `s`
    /// into sizes `(a, b)` gives strides `(b·s, s)`) and lists them in the result's
    /// order, then the reduced ones. `sizes` are the elementary axes' sizes, which the
    /// types have already checked against the input.
    fn resolve(&self, dims: &[usize], strides: &[usize], sizes: &[usize]) -> Resolved {
        let named = self
            .left
            .iter()
            .filter(|i| matches!(i, Item::Axis(_)))
            .count();
        let ell_rank = dims.len() - named;
        let mut stride_of: Vec<Option<usize>> = vec![None; sizes.len()];
        let mut ell = (Vec::new(), Vec::new());
        let mut ax = 0;
        for item in self.left {
            match *item {
                Item::Axis(ids) => {
                    let product: usize = ids.iter().map(|&i| sizes[i]).product();
                    assert_eq!(
                        product, dims[ax],
                        "{:?}: the factors of axis {ax} do not multiply out to its size",
                        self.text
                    );
                    let mut s = strides[ax];
                    for &id in ids.iter().rev() {
                        stride_of[id] = Some(s);
                        s *= sizes[id];
                    }
                    ax += 1;
                }
                Item::Ellipsis => {
                    ell.0.extend_from_slice(&dims[ax..ax + ell_rank]);
                    ell.1.extend_from_slice(&strides[ax..ax + ell_rank]);
                    ax += ell_rank;
                }
            }
        }
        let mut used = vec![false; sizes.len()];
        let mut out = (Vec::new(), Vec::new());
        let mut ell_out = false;
        for item in self.right {
            match *item {
                Item::Axis(ids) => {
                    for &id in ids {
                        out.0.push(sizes[id]);
                        out.1.push(stride_of[id].unwrap_or(0));
                        used[id] = true;
                    }
                }
                Item::Ellipsis => {
                    out.0.extend_from_slice(&ell.0);
                    out.1.extend_from_slice(&ell.1);
                    ell_out = true;
                }
            }
        }
        let mut reduced = (Vec::new(), Vec::new());
        for item in self.left {
            match *item {
                Item::Axis(ids) => {
                    for &id in ids.iter().filter(|&&id| !used[id]) {
                        reduced.0.push(sizes[id]);
                        reduced.1.push(stride_of[id].expect("a left axis"));
                    }
                }
                Item::Ellipsis if !ell_out => {
                    reduced.0.extend_from_slice(&ell.0);
                    reduced.1.extend_from_slice(&ell.1);
                }
                Item::Ellipsis => {}
            }
        }
        Resolved { out, reduced }
    }
}

/// What [`rearrange!`](crate::rearrange!), [`reduce!`](crate::reduce!) and
/// [`repeat!`](crate::repeat!) take, through [`Source`]: a tensor or view (read as a
/// [`TensorView`], the result a [`Tensor`]) or a traced [`Var`](crate::autodiff::Var)
/// (the result a `Var` whose gradient flows back through the same strides).
#[doc(hidden)]
pub trait Rearrange<S: Shape, T: Float> {
    /// The result for an output shape `S2`.
    type Output<S2: Shape>;
    /// The input's shape.
    fn shape_of(&self) -> S;
    /// Runs a rearrange or repeat plan.
    fn rearrange<S2: Shape>(self, plan: &Plan, sizes: &[usize], out: S2) -> Self::Output<S2>;
}

/// [`Rearrange`] for a reduction `R` ([`Sum`], [`Mean`], [`Max`], [`Min`], [`Prod`]).
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`reduce!` with `{R}` is not available on `{Self}`",
    label = "`{R}` has no gradient here",
    note = "traced values reduce with sum, mean, max and min; reduce the tensor itself for prod"
)]
pub trait ReduceWith<S: Shape, T: Float, R>: Rearrange<S, T> {
    /// Runs a reduce plan.
    fn reduce<S2: Shape>(self, plan: &Plan, sizes: &[usize], out: S2) -> Self::Output<S2>;
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

impl<S: Shape, T: Float, R: Reduction> ReduceWith<S, T, R> for TensorView<'_, S, T> {
    fn reduce<S2: Shape>(self, plan: &Plan, sizes: &[usize], out: S2) -> Tensor<S2, T> {
        run_reduce::<R, _, _>(plan, Input::new(&self), sizes, out).0
    }
}

/// Rearranges (or repeats) `input`: `sizes` are the sizes of the elementary axes, `out`
/// the output shape. The types have already checked that the sizes multiply out. Also
/// returns the dims and strides (into `input`'s buffer, from its offset) that read the
/// input in the output's order: the backward of a traced rearrange adds the gradient back
/// through them (a repeated axis has stride 0, so its gradients add up).
pub(crate) fn run<S: Shape, T: Float>(
    plan: &Plan,
    input: Input<'_, T>,
    sizes: &[usize],
    out: S,
) -> (Tensor<S, T>, Vec<usize>, Vec<usize>) {
    let (data, offset, dims, strides) = input.parts();
    let Resolved { out: (pd, ps), .. } = plan.resolve(dims, strides, sizes);
    let data = gather(data, offset, &pd, &ps);
    debug_assert_eq!(data.len(), out.num_elements());
    (Tensor::from_parts(out, data), pd, ps)
}

/// Reduces `input` with `R` over the axes on the left only. Also returns the layout the
/// backward walks: the kept axes then the reduced ones, and the number of reduced
/// elements per output element.
pub(crate) fn run_reduce<R: Reduction, S: Shape, T: Float>(
    plan: &Plan,
    input: Input<'_, T>,
    sizes: &[usize],
    out: S,
) -> (Tensor<S, T>, Vec<usize>, Vec<usize>, usize) {
    let (data, offset, dims, strides) = input.parts();
    let Resolved { out: keep, reduced } = plan.resolve(dims, strides, sizes);
    let values = R::run(data, offset, (&keep.0, &keep.1), (&reduced.0, &reduced.1));
    debug_assert_eq!(values.len(), out.num_elements());
    let count = reduced.0.iter().product();
    let dims = [keep.0, reduced.0].concat();
    let strides = [keep.1, reduced.1].concat();
    (Tensor::from_parts(out, values), dims, strides, count)
}

/// A reduction of [`reduce!`](crate::reduce!): `sum`, `mean`, `max`, `min` or `prod`.
pub trait Reduction: 'static {
    /// For every multi-index of the kept axes (row-major), the reduction of the elements
    /// over all multi-indices of the reduced axes.
    #[doc(hidden)]
    fn run<T: Float>(
        data: &[T],
        base: usize,
        keep: (&[usize], &[usize]),
        reduced: (&[usize], &[usize]),
    ) -> Vec<T>;
}

/// `reduce!(x, "…", sum)`: pairwise sums (NumPy's accuracy).
#[derive(Debug, Clone, Copy)]
pub struct Sum;
/// `reduce!(x, "…", mean)`: the pairwise sum over the count.
#[derive(Debug, Clone, Copy)]
pub struct Mean;
/// `reduce!(x, "…", max)`: the largest element; NaN if the reduced elements hold one.
#[derive(Debug, Clone, Copy)]
pub struct Max;
/// `reduce!(x, "…", min)`: the smallest element; NaN if the reduced elements hold one.
#[derive(Debug, Clone, Copy)]
pub struct Min;
/// `reduce!(x, "…", prod)`: the product.
#[derive(Debug, Clone, Copy)]
pub struct Prod;

impl Reduction for Sum {
    fn run<T: Float>(
        data: &[T],
        base: usize,
        keep: (&[usize], &[usize]),
        reduced: (&[usize], &[usize]),
    ) -> Vec<T> {
        gather_sum(data, base, keep, reduced)
    }
}

impl Reduction for Mean {
    fn run<T: Float>(
        data: &[T],
        base: usize,
        keep: (&[usize], &[usize]),
        reduced: (&[usize], &[usize]),
    ) -> Vec<T> {
        let n = T::from_usize(reduced.0.iter().product());
        let mut v = gather_sum(data, base, keep, reduced);
        v.iter_mut().for_each(|x| *x /= n);
        v
    }
}

/// A fold over the reduced elements of every kept index.
fn fold<T: Float>(
    data: &[T],
    base: usize,
    (kd, ks): (&[usize], &[usize]),
    (rd, rs): (&[usize], &[usize]),
    init: T,
    f: impl Fn(T, T) -> T,
) -> Vec<T> {
    let mut out = crate::pool::with_capacity(kd.iter().product());
    for_each_offset(base, kd, ks, |o| {
        let mut acc = init;
        for_each_offset(o, rd, rs, |p| acc = f(acc, data[p]));
        out.push(acc);
    });
    out
}

impl Reduction for Max {
    fn run<T: Float>(
        data: &[T],
        base: usize,
        keep: (&[usize], &[usize]),
        reduced: (&[usize], &[usize]),
    ) -> Vec<T> {
        // The first NaN sticks; otherwise the larger.
        fold(data, base, keep, reduced, T::NEG_INFINITY, |m, x| {
            if m.is_nan() || !(x > m || x.is_nan()) {
                m
            } else {
                x
            }
        })
    }
}

impl Reduction for Min {
    fn run<T: Float>(
        data: &[T],
        base: usize,
        keep: (&[usize], &[usize]),
        reduced: (&[usize], &[usize]),
    ) -> Vec<T> {
        // The first NaN sticks; otherwise the smaller.
        fold(data, base, keep, reduced, T::INFINITY, |m, x| {
            if m.is_nan() || !(x < m || x.is_nan()) {
                m
            } else {
                x
            }
        })
    }
}

impl Reduction for Prod {
    fn run<T: Float>(
        data: &[T],
        base: usize,
        keep: (&[usize], &[usize]),
        reduced: (&[usize], &[usize]),
    ) -> Vec<T> {
        fold(data, base, keep, reduced, T::ONE, |a, x| a * x)
    }
}
