//! A trainable linear layer: [`Linear`], `y = x·Wᵀ + b` with its weight and bias held as
//! [`Param`]s, traced in one tape node.
//!
//! The forward is the product `x·Wᵀ` (with `Wᵀ` read through swapped strides, as
//! [`nn::linear::Linear`](crate::nn::linear::Linear) reads it) and the bias added in place
//! to the product's rows: no copy of the weight, no extra pass over the output. Its
//! backward is that of the product (`dx = g·W`, and `dW = gᵀ·x` written straight into the
//! weight's gradient as a GEMM with swapped strides) plus `db = Σ_rows g`. With a constant
//! input and frozen parameters nothing is recorded, which is the inference path; converting
//! to and from the inference layer ([`to_layer`](Linear::to_layer),
//! [`from_layer`](Linear::from_layer)) copies the weights once.

use super::matmul::flat_backward;
use super::param::Param;
use super::var::{record, Var};
use crate::dim::{Dim, StaticDim};
use crate::element::Float;
use crate::nn::linear::{LinearInput, LinearOut};
use crate::ops::MatMul;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// `y = x·Wᵀ + b` with `W: (DOut, DIn)` (PyTorch's layout) and an optional bias `(DOut,)`,
/// both trainable [`Param`]s (freeze either with [`Param::freeze`]).
///
/// ```
/// use shapecheck::autodiff::{linear::Linear, Tape};
/// use shapecheck::prelude::*;
/// dim!(pub Batch = 4; pub DIn = 3; pub DOut = 2);
/// let layer = Linear::<DIn, DOut, f64>::init(true, 0);
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::<(Batch, DIn), f64>::randn(1));
/// let y = layer.forward(&x); // (Batch, DOut)
/// let grads = y.sum_all().backward();
/// let dw: TensorView<(DOut, DIn), f64> = grads.of(&layer.weight).unwrap();
/// let db = grads.of(layer.bias.as_ref().unwrap()).unwrap();
/// assert_eq!(db.to_vec(), vec![4.0, 4.0]); // one per row of the batch
/// // dW[o, i] = Σ_rows x[row, i]
/// let xs = x.value().sum::<0>();
/// assert!((dw[[1, 2]] - xs[[2]]).abs() < 1e-12);
/// ```
#[derive(Debug)]
pub struct Linear<DIn: Dim, DOut: Dim, T: Float = f32> {
    /// The weight, `(DOut, DIn)`.
    pub weight: Param<(DOut, DIn), T>,
    /// The bias, `(DOut,)`, if any.
    pub bias: Option<Param<(DOut,), T>>,
}

impl<DIn: Dim, DOut: Dim, T: Float> Linear<DIn, DOut, T> {
    /// A layer from its weight and optional bias, both trainable.
    ///
    /// # Panics
    ///
    /// When a runtime `DOut` of the bias differs from the weight's (as
    /// [`nn::linear::Linear::new`](crate::nn::linear::Linear::new)).
    #[track_caller]
    pub fn new(weight: Tensor<(DOut, DIn), T>, bias: Option<Tensor<(DOut,), T>>) -> Self {
        if let Some(b) = &bias {
            assert_eq!(
                b.dims()[0],
                weight.dims()[0],
                "Linear::new: the bias {:?} must have one element per output of the weight {:?}",
                b.shape(),
                weight.shape()
            );
        }
        Linear {
            weight: Param::new(weight),
            bias: bias.map(Param::new),
        }
    }

    /// PyTorch's default initialisation (the inference layer's `init`), trainable.
    pub fn init(bias: bool, seed: u64) -> Self
    where
        DIn: StaticDim,
        DOut: StaticDim,
    {
        Self::from_layer(&crate::nn::linear::Linear::init(bias, seed))
    }

    /// A trainable copy of an inference layer's weights.
    pub fn from_layer(layer: &crate::nn::linear::Linear<DIn, DOut, T>) -> Self {
        Self::new(layer.weight().clone(), layer.bias().cloned())
    }

    /// The inference layer with the current weights (copied).
    pub fn to_layer(&self) -> crate::nn::linear::Linear<DIn, DOut, T> {
        crate::nn::linear::Linear::new(
            self.weight.value().clone(),
            self.bias.as_ref().map(|b| b.value().clone()),
        )
    }

    /// `x·Wᵀ + b`, traced on `x`'s tape, for inputs `(…, DIn)` of rank 1 to 6.
    ///
    /// # Panics
    ///
    /// When a runtime `DIn` of `x` differs from the weight's.
    #[track_caller]
    pub fn forward<'t, X>(&self, x: &Var<'t, X, T>) -> Var<'t, LinearOut<X, DIn, DOut>, T>
    where
        X: LinearInput<DIn, DOut> + MatMul<(DIn, DOut), Output = LinearOut<X, DIn, DOut>>,
    {
        let tape = x.tape();
        let w = tape.param(&self.weight).t::<(DIn, DOut)>();
        let b = self.bias.as_ref().map(|b| tape.param(b));
        let mut value = x.value().matmul(&w.value());
        if let Some(b) = &b {
            let bias = b.value().to_vec();
            if !bias.is_empty() {
                value
                    .as_mut_slice()
                    .chunks_exact_mut(bias.len())
                    .for_each(|row| row.iter_mut().zip(&bias).for_each(|(y, &c)| *y += c));
            }
        }
        let (xh, wh, bh) = (x.h.clone(), w.h.clone(), b.map(|b| b.h));
        let traced = xh.is_traced() || wh.is_traced() || bh.as_ref().is_some_and(|b| b.is_traced());
        record(tape, value, traced, move |_| {
            Box::new(move |g, sink| {
                flat_backward::<X, (DIn, DOut), T>(&xh, &wh, g, sink);
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
        })
    }
}
