//! The traced affine product `x·Wᵀ + b` ([`Var::try_linear`]): what a linear layer
//! ([`ops::linear`](crate::ops::linear) is its rule and its one implementation) computes on
//! traced values.
//!
//! The value is [`ops::linear::try_linear`](crate::ops::linear::try_linear), the same code the
//! tensor path runs. The backward is that of the product (`dx = g·W`, and `dW = gᵀ·x`
//! written straight into the weight's gradient as a GEMM with swapped strides) plus
//! `db = Σ_rows g`. A constant weight or bias (a frozen parameter, or any parameter on an
//! inference tape) gets no gradient; with a constant input too, nothing is recorded.
//!
//! ```
//! use shapecheck::autodiff::{Param, Tape};
//! use shapecheck::prelude::*;
//! dim!(pub Batch = 4; pub DIn = 3; pub DOut = 2);
//! let w = Param::new(Tensor::<(DOut, DIn), f64>::randn(0));
//! let b = Param::new(Tensor::<(DOut,), f64>::randn(1));
//! let tape = Tape::new();
//! let x = tape.constant(Tensor::<(Batch, DIn), f64>::randn(2));
//! let y = x.try_linear(&tape.param(&w), Some(&tape.param(&b))).unwrap(); // (Batch, DOut)
//! let grads = y.sum_all().backward();
//! assert_eq!(grads.of(&b).unwrap().to_vec(), vec![4.0, 4.0]); // one per row of the batch
//! // dW[o, i] = Σ_rows x[row, i]
//! let xs = x.value().sum::<0>();
//! assert!((grads.of(&w).unwrap()[[1, 2]] - xs[[2]]).abs() < 1e-12);
//! ```

use super::matmul::flat_backward;
use super::var::{one_tape, record, Var};
use crate::dim::Dim;
use crate::element::Float;
use crate::error::ShapeError;
use crate::kernel::{MatRef, PackCache, PackForm};
use crate::ops::linear::{try_linear_cached, LinearInput, LinearOut};
use crate::ops::matmul::Form;
use crate::shape::Shape;

impl<'t, S: Shape, T: Float> Var<'t, S, T> {
    /// `x·Wᵀ + b` for `x: (…, DIn)`, `weight: (DOut, DIn)` and an optional `bias: (DOut,)`,
    /// traced: the product of [`ops::linear::try_linear`](crate::ops::linear::try_linear)
    /// with its vector–Jacobian product.
    ///
    /// `Err` when the width of `x` or the length of `bias` differs from the weight's
    /// (runtime dims).
    pub fn try_linear<DIn: Dim, DOut: Dim>(
        &self,
        weight: &Var<'t, (DOut, DIn), T>,
        bias: Option<&Var<'t, (DOut,), T>>,
    ) -> Result<Var<'t, LinearOut<S, DIn, DOut>, T>, ShapeError>
    where
        S: LinearInput<DIn, DOut>,
    {
        self.try_linear_packs(weight, bias, None)
    }

    /// [`try_linear`](Self::try_linear) with the weight's pack cache, used when the weight
    /// is a constant on this tape (a frozen parameter, or an inference tape), whose value and
    /// packs outlive the step: a trainable weight changes at every optimizer step, and
    /// packing it once per step instead of per product cost the perf decoder's training
    /// step 4% (AMD EPYC Zen 5, 1 thread). With the cache (a [`Param`](super::Param)'s,
    /// see [`Param::packed_bytes`](super::Param::packed_bytes)): the forward `x·Wᵀ` reads its
    /// `Wᵀ` pack, and the input
    /// gradient `dy·W` the `W` pack taken now, at the forward, so that it is the pack of the
    /// value this forward read even if the parameter changes before the backward runs.
    pub(crate) fn try_linear_packs<DIn: Dim, DOut: Dim>(
        &self,
        weight: &Var<'t, (DOut, DIn), T>,
        bias: Option<&Var<'t, (DOut,), T>>,
        packs: Option<&PackCache<T>>,
    ) -> Result<Var<'t, LinearOut<S, DIn, DOut>, T>, ShapeError>
    where
        S: LinearInput<DIn, DOut>,
    {
        let packs = packs.filter(|_| !weight.h.is_traced());
        let mut tapes = vec![self.tape, weight.tape];
        tapes.extend(bias.map(|b| b.tape));
        let tape = one_tape("linear", &tapes);
        let wv = weight.value();
        let value = try_linear_cached(
            &self.value(),
            &wv,
            bias.map(|b| b.value()).as_ref(),
            None,
            packs,
        )?;
        let (xh, wh, bh) = (
            self.h.clone(),
            weight.t::<(DIn, DOut)>().h,
            bias.map(|b| b.h.clone()),
        );
        let traced = xh.is_traced() || wh.is_traced() || bh.as_ref().is_some_and(|b| b.is_traced());
        // `W` as the right operand of `dx = dy·W`, through the weight's own strides.
        let dx_pack = packs.filter(|_| xh.is_traced()).and_then(|p| {
            let (ws, rows) = (
                wv.strides(),
                self.shape().num_elements() / wv.dims()[1].max(1),
            );
            let w = MatRef::new(
                wv.as_base_slice(),
                wv.offset(),
                (wv.dims()[0], wv.dims()[1]),
                (ws[0], ws[1]),
            );
            p.get(PackForm::Plain, w, rows)
        });
        Ok(record(tape, value, traced, move |_| {
            Box::new(move |g, sink| {
                // `(…, DIn)·(DIn, DOut)`: a vector times a matrix for rank 1, else one matrix
                // of every leading index's rows (what the value computed).
                let form = if S::RANK == 1 {
                    Form::VecMat
                } else {
                    Form::SharedRhs
                };
                flat_backward(form, &xh, &wh, g, sink, dx_pack.as_deref());
                if let Some(b) = &bh {
                    let n = b.shape.num_elements();
                    let mut db = vec![T::ZERO; n];
                    if n > 0 {
                        for row in g.chunks_exact(n) {
                            db.iter_mut().zip(row).for_each(|(d, &v)| *d += v);
                        }
                    }
                    sink.add(b, &db);
                }
            })
        }))
    }
}
