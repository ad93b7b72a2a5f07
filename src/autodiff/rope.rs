//! Traced rotary position embeddings: [`Var::rope`].
//!
//! The forward is [`Rope::rotate`] itself. Each pair of features at position `m` is turned
//! by the 2×2 rotation `R(m·θ_j)`, an orthogonal map, so the vector–Jacobian product is the
//! transpose `R(m·θ_j)ᵀ = R(−m·θ_j)`: the output gradient turned back by the same angles
//! (computed the same way, in `f64`, from the same position offset and interpolation
//! scale), for either [`RopeLayout`](crate::ops::rope::RopeLayout).
//!
//! ```
//! use shapecheck::autodiff::{Param, Tape};
//! use shapecheck::nn::rope::{Rope, RopeLayout};
//! use shapecheck::prelude::*;
//! dim!(pub Heads = 2; pub Seq = 3; pub HeadDim = 4);
//! let rope = Rope::<HeadDim>::new(RopeLayout::HalfSplit);
//! let q = Param::new(Tensor::<(Heads, Seq, HeadDim), f64>::randn(0));
//! let tape = Tape::new();
//! let y = tape.param(&q).rope(&rope, 5); // row i at position 5 + i
//! assert_eq!(y.to_tensor().as_slice(), rope.rotate(q.value(), 5).as_slice());
//! // A rotation keeps lengths: the gradient of Σ y² is 2·q.
//! let grads = y.powi(2).sum_all().backward();
//! for (g, x) in grads.of(&q).unwrap().to_vec().iter().zip(q.value().as_slice()) {
//!     assert!((g - 2.0 * x).abs() < 1e-12);
//! }
//! ```

use super::var::{record, Var};
use crate::dim::Dim;
use crate::element::Float;
use crate::error::{OrPanic, ShapeError};
use crate::ops::rope::{EndsWithHeadDim, Rope};
use crate::shape::Shape;

impl<'t, S: Shape, T: Float> Var<'t, S, T> {
    /// RoPE of `self: (…, Seq, H)`, row `i` along `Seq` at position `offset + i`, traced
    /// (the gradient is turned back by the same angles).
    ///
    /// # Panics
    ///
    /// When a runtime head dim differs from the rope's; see [`try_rope`](Self::try_rope).
    #[track_caller]
    pub fn rope<H: Dim>(&self, rope: &Rope<H>, offset: usize) -> Var<'t, S, T>
    where
        S: EndsWithHeadDim<H>,
    {
        self.try_rope(rope, offset).or_panic()
    }

    /// [`rope`](Self::rope), returning `Err` when the runtime head dim of `self` differs from
    /// the rope's (never for a static head dim), with [`Rope::try_rotate`]'s message.
    pub fn try_rope<H: Dim>(
        &self,
        rope: &Rope<H>,
        offset: usize,
    ) -> Result<Var<'t, S, T>, ShapeError>
    where
        S: EndsWithHeadDim<H>,
    {
        let value = rope.try_rotate(&self.value(), offset)?;
        let x = self.h.clone();
        let traced = x.is_traced();
        let rope = traced.then(|| rope.clone());
        Ok(record(self.tape, value, traced, move |_| {
            let rope = rope.expect("a traced rope keeps its rotation");
            Box::new(move |g, sink| {
                let dims = x.shape.dims();
                let seq = dims[S::RANK - 2];
                let mut d = crate::pool::with_capacity(g.len());
                d.extend_from_slice(g);
                rope.turn_rows(&mut d, seq, offset, true);
                sink.add(&x, &d);
            })
        }))
    }
}
