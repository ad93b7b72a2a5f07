//! [`rearrange!`](crate::rearrange!) on a traced [`Var`]: the same pattern, the same shape
//! rules (the very `where` clause the macro writes), and a result that is a `Var`. The
//! forward copies once, as the tensor form does; the backward adds the output's gradient
//! back through the dims and strides that read the input in the output's order, so a
//! strided input (a `.t()`, a slice) gets its gradient in place. `repeat!` is the same
//! walk with stride-0 axes, so the gradients of the copies add up. `reduce!` with sum,
//! mean, max or min records its own backward: the output's gradient spread over the
//! reduced elements (sum), divided by their count (mean), or given to the first element
//! that equals the result (max, min, as PyTorch's `max(dim)`).
//!
//! ```
//! use shapecheck::autodiff::{Param, Tape};
//! use shapecheck::prelude::*;
//! dim!(pub Seq = 2; pub DModel = 6; pub Heads = 2; pub HeadDim = 3);
//! let x = Param::new(Tensor::<(Seq, DModel)>::from_fn(|[s, j]| (10 * s + j) as f32));
//! let tape = Tape::new();
//! let h: Var<(Heads, Seq, HeadDim)> = rearrange!(tape.param(&x), "s (h d) -> h s d", h = Heads);
//! assert_eq!(h.value().to_vec(), [0., 1., 2., 10., 11., 12., 3., 4., 5., 13., 14., 15.]);
//! // Weight each output element by its position: the gradient is that weight, put back.
//! let w = tape.constant(Tensor::<(Heads, Seq, HeadDim)>::from_fn(|[a, b, c]| (6 * a + 3 * b + c) as f32));
//! let g = (&h * &w).sum_all().backward();
//! assert_eq!(g.of(&x).unwrap().to_vec(), [0., 1., 2., 6., 7., 8., 3., 4., 5., 9., 10., 11.]);
//! ```

use super::var::{record, Var};
use crate::element::Float;
use crate::ops::einsum::Input;
use crate::ops::rearrange::{
    run, run_reduce, Max, Mean, Min, Plan, Rearrange, ReduceWith, Source, Sum,
};
use crate::shape::Shape;
use crate::tensor::layout::for_each_offset;

impl<'t, S: Shape, T: Float> Source for Var<'t, S, T> {
    type Arg<'a>
        = &'a Var<'t, S, T>
    where
        Self: 'a;
    #[inline]
    fn rearrange_source(&self) -> Self::Arg<'_> {
        self
    }
}

impl<'t, S: Shape, T: Float> Rearrange<S, T> for &Var<'t, S, T> {
    type Output<S2: Shape> = Var<'t, S2, T>;
    #[inline]
    fn shape_of(&self) -> S {
        self.h.shape
    }
    fn rearrange<S2: Shape>(self, plan: &Plan, sizes: &[usize], out: S2) -> Var<'t, S2, T> {
        let view = self.value();
        let (value, dims, strides) = run(plan, Input::new(&view), sizes, out);
        let x = self.h.clone();
        record(self.tape, value, x.is_traced(), move |_| {
            Box::new(move |g, sink| sink.add_with(&x, &dims, &strides, |k, _| g[k]))
        })
    }
}

impl<'t, S: Shape, T: Float> ReduceWith<S, T, Sum> for &Var<'t, S, T> {
    fn reduce<S2: Shape>(self, plan: &Plan, sizes: &[usize], out: S2) -> Var<'t, S2, T> {
        spread::<Sum, _, _, _>(self, plan, sizes, out, T::ONE)
    }
}

impl<'t, S: Shape, T: Float> ReduceWith<S, T, Mean> for &Var<'t, S, T> {
    fn reduce<S2: Shape>(self, plan: &Plan, sizes: &[usize], out: S2) -> Var<'t, S2, T> {
        spread::<Mean, _, _, _>(self, plan, sizes, out, T::ZERO)
    }
}

impl<'t, S: Shape, T: Float> ReduceWith<S, T, Max> for &Var<'t, S, T> {
    fn reduce<S2: Shape>(self, plan: &Plan, sizes: &[usize], out: S2) -> Var<'t, S2, T> {
        select::<Max, _, _, _>(self, plan, sizes, out)
    }
}

impl<'t, S: Shape, T: Float> ReduceWith<S, T, Min> for &Var<'t, S, T> {
    fn reduce<S2: Shape>(self, plan: &Plan, sizes: &[usize], out: S2) -> Var<'t, S2, T> {
        select::<Min, _, _, _>(self, plan, sizes, out)
    }
}

/// A sum (`scale` 1) or mean (`scale` 0: one over the count): the gradient of an output
/// element goes to each of its reduced elements, times the scale.
fn spread<'t, R: crate::ops::rearrange::Reduction, S: Shape, S2: Shape, T: Float>(
    x: &Var<'t, S, T>,
    plan: &Plan,
    sizes: &[usize],
    out: S2,
    scale: T,
) -> Var<'t, S2, T> {
    let view = x.value();
    let (value, dims, strides, count) = run_reduce::<R, _, _>(plan, Input::new(&view), sizes, out);
    let scale = if scale == T::ZERO {
        T::ONE / T::from_usize(count)
    } else {
        scale
    };
    let h = x.h.clone();
    record(x.tape, value, h.is_traced(), move |_| {
        Box::new(move |g, sink| sink.add_with(&h, &dims, &strides, |k, _| g[k / count] * scale))
    })
}

/// A max or min: the gradient of an output element goes to the first reduced element equal
/// to it (a NaN result to the first NaN).
fn select<'t, R: crate::ops::rearrange::Reduction, S: Shape, S2: Shape, T: Float>(
    x: &Var<'t, S, T>,
    plan: &Plan,
    sizes: &[usize],
    out: S2,
) -> Var<'t, S2, T> {
    let view = x.value();
    let input = Input::new(&view);
    let (value, dims, strides, count) = run_reduce::<R, _, _>(plan, input, sizes, out);
    let (data, offset) = (view.as_base_slice(), view.offset());
    let mut winners = Vec::with_capacity(value.len());
    let mut k = 0;
    let mut found = false;
    for_each_offset(offset, &dims, &strides, |o| {
        let j = k / count;
        if k % count == 0 {
            found = false;
        }
        let (v, r) = (data[o], value.as_slice()[j]);
        if !found && (v == r || (v.is_nan() && r.is_nan())) {
            winners.push(k);
            found = true;
        }
        k += 1;
    });
    let h = x.h.clone();
    record(x.tape, value, h.is_traced(), move |_| {
        Box::new(move |g, sink| {
            let mut next = 0;
            sink.add_with(&h, &dims, &strides, |k, _| {
                if winners.get(next) == Some(&k) {
                    next += 1;
                    g[k / count]
                } else {
                    T::ZERO
                }
            })
        })
    })
}
