//! [`rearrange!`](crate::rearrange!) on a traced [`Var`]: the same pattern, the same shape
//! rules (the very `where` clause the macro writes), and a result that is a `Var`. The
//! forward copies once, as the tensor form does; the backward adds the output's gradient
//! back through the dims and strides that read the input in the output's order, so a
//! strided input (a `.t()`, a slice) gets its gradient in place.
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
use crate::ops::rearrange::{run, Plan, Rearrange, Source};
use crate::shape::Shape;

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
