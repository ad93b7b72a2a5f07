//! Training a [`Linear`]: the layer is [`nn::linear::Linear`](crate::nn::linear::Linear)
//! itself (re-exported here), whose weight and bias are [`Param`](super::Param)s; this file
//! is its [`LinearArg`] implementation for traced inputs.
//!
//! The forward is the layer's one product `x·Wᵀ + b` (`Wᵀ` read through swapped strides,
//! the bias the GEMM's initial value), the same code the tensor path runs. Its backward is
//! that of the product (`dx = g·W`, and `dW = gᵀ·x` written straight into the weight's
//! gradient as a GEMM with swapped strides) plus `db = Σ_rows g`. A frozen weight or bias
//! is read as a constant and gets no gradient; with a constant input and frozen parameters
//! nothing is recorded.
//!
//! ```
//! use shapecheck::autodiff::{linear::Linear, Tape};
//! use shapecheck::prelude::*;
//! dim!(pub Batch = 4; pub DIn = 3; pub DOut = 2);
//! let layer = Linear::<DIn, DOut, f64>::init(true, 0);
//! let tape = Tape::new();
//! let x = tape.constant(Tensor::<(Batch, DIn), f64>::randn(1));
//! let y = layer.forward(&x); // a Var (Batch, DOut): the same layer takes tensors too
//! assert_eq!(y.to_tensor(), layer.forward(&x.to_tensor()));
//! let grads = y.sum_all().backward();
//! let dw: TensorView<(DOut, DIn), f64> = grads.of(&layer.weight).unwrap();
//! let db = grads.of(layer.bias.as_ref().unwrap()).unwrap();
//! assert_eq!(db.to_vec(), vec![4.0, 4.0]); // one per row of the batch
//! // dW[o, i] = Σ_rows x[row, i]
//! let xs = x.value().sum::<0>();
//! assert!((dw[[1, 2]] - xs[[2]]).abs() < 1e-12);
//! ```

use super::matmul::flat_backward;
use super::var::{record, Var};
use crate::dim::Dim;
use crate::element::Float;
use crate::error::ShapeError;
pub use crate::nn::linear::Linear;
use crate::nn::linear::{LinearArg, LinearInput, LinearOut};
use crate::ops::matmul::Form;
use crate::shape::Shape;

impl<'t, S: Shape, T: Float> LinearArg<T> for Var<'t, S, T> {
    type Shape = S;
    type Output<O: Shape> = Var<'t, O, T>;

    fn try_apply<DIn: Dim, DOut: Dim>(
        &self,
        layer: &Linear<DIn, DOut, T>,
    ) -> Result<Var<'t, LinearOut<S, DIn, DOut>, T>, ShapeError>
    where
        S: LinearInput<DIn, DOut>,
    {
        let value = layer.value(&self.value())?;
        let tape = self.tape();
        let w = tape.param(&layer.weight).t::<(DIn, DOut)>();
        let b = layer.bias.as_ref().map(|b| tape.param(b));
        let (xh, wh, bh) = (self.h.clone(), w.h, b.map(|b| b.h));
        let traced = xh.is_traced() || wh.is_traced() || bh.as_ref().is_some_and(|b| b.is_traced());
        Ok(record(tape, value, traced, move |_| {
            Box::new(move |g, sink| {
                // `(…, DIn)·(DIn, DOut)`: a vector times a matrix for rank 1, else one matrix
                // of every leading index's rows (what `value` computed).
                let form = if S::RANK == 1 {
                    Form::VecMat
                } else {
                    Form::SharedRhs
                };
                flat_backward(form, &xh, &wh, g, sink);
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
