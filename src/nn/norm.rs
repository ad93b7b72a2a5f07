//! The normalisation layers over the last axis: [`LayerNorm`] (BERT) and [`RmsNorm`]
//! (LLaMA), each with one forward for tensors and traced values ([`Input`]), over inputs
//! `(…, D)` of any rank up to 6. The arithmetic is the tensor ops' ([`Norms`](crate::ops::Norms)),
//! scaled against overflow; the traced forms differentiate it.
//!
//! ```
//! use shapecheck::autodiff::Tape;
//! use shapecheck::nn::norm::RmsNorm;
//! use shapecheck::prelude::*;
//! dim!(pub Seq = 2; pub DModel = 4);
//! let norm = RmsNorm::<DModel>::new(Tensor::ones(), 1e-6);
//! let x = tensor!([[1., 1., 1., 1.], [2., -2., 2., -2.]]);
//! let y = norm.forward(&x.to_static::<(Seq, DModel)>().unwrap());
//! assert!(y.as_slice().iter().all(|v| (v.abs() - 1.0).abs() < 1e-5));
//! ```

use super::flow::{Input, Out};
use crate::autodiff::{Param, ParamVisitor, ParamVisitorMut, Params};
use crate::dim::Dim;
use crate::element::Float;
use crate::error::{OrPanic, ShapeError};
use crate::shape::LastAxis;
use crate::tensor::Tensor;

/// `x / √(mean(x²) + ε) · w` over the last axis (LLaMA's `RMSNorm`).
#[derive(Debug)]
pub struct RmsNorm<D: Dim, T: Float = f32> {
    /// The weight `w`, `(D,)`.
    pub weight: Param<(D,), T>,
    /// `ε`, added to the mean square.
    pub eps: f64,
}

/// `(x − mean) / √(var + ε) · w + b` over the last axis (PyTorch's `LayerNorm`).
#[derive(Debug)]
pub struct LayerNorm<D: Dim, T: Float = f32> {
    /// The weight `w`, `(D,)`.
    pub weight: Param<(D,), T>,
    /// The bias `b`, `(D,)`.
    pub bias: Param<(D,), T>,
    /// `ε`, added to the variance.
    pub eps: f64,
}

impl<D: Dim, T: Float> RmsNorm<D, T> {
    /// A norm with weight `weight` and `eps`.
    pub fn new(weight: Tensor<(D,), T>, eps: f64) -> Self {
        RmsNorm {
            weight: Param::new(weight),
            eps,
        }
    }

    /// The normalised `x: (…, D)`, a tensor or a traced value.
    ///
    /// # Panics
    ///
    /// When a runtime `D` of `x` differs from the weight's; see
    /// [`try_forward`](Self::try_forward).
    #[track_caller]
    pub fn forward<X>(&self, x: &X) -> Out<X, T, X::Shape>
    where
        X: Input<T> + ?Sized,
        X::Shape: LastAxis<Last = D>,
    {
        self.try_forward(x).or_panic()
    }

    /// [`forward`](Self::forward), returning `Err` when a runtime width disagrees.
    pub fn try_forward<X>(&self, x: &X) -> Result<Out<X, T, X::Shape>, ShapeError>
    where
        X: Input<T> + ?Sized,
        X::Shape: LastAxis<Last = D>,
    {
        x.try_rms_norm_with(&self.weight, T::from_f64(self.eps))
    }
}

impl<D: Dim, T: Float> LayerNorm<D, T> {
    /// A norm with weight `weight`, bias `bias` and `eps`.
    pub fn new(weight: Tensor<(D,), T>, bias: Tensor<(D,), T>, eps: f64) -> Self {
        LayerNorm {
            weight: Param::new(weight),
            bias: Param::new(bias),
            eps,
        }
    }

    /// The normalised `x: (…, D)`, a tensor or a traced value.
    ///
    /// # Panics
    ///
    /// When a runtime `D` of `x` differs from the weight's; see
    /// [`try_forward`](Self::try_forward).
    #[track_caller]
    pub fn forward<X>(&self, x: &X) -> Out<X, T, X::Shape>
    where
        X: Input<T> + ?Sized,
        X::Shape: LastAxis<Last = D>,
    {
        self.try_forward(x).or_panic()
    }

    /// [`forward`](Self::forward), returning `Err` when a runtime width disagrees.
    pub fn try_forward<X>(&self, x: &X) -> Result<Out<X, T, X::Shape>, ShapeError>
    where
        X: Input<T> + ?Sized,
        X::Shape: LastAxis<Last = D>,
    {
        x.try_layer_norm_with(&self.weight, &self.bias, T::from_f64(self.eps))
    }
}

impl<D: Dim, T: Float> Params<T> for RmsNorm<D, T> {
    /// `weight`.
    fn visit_params<'a>(&'a self, prefix: &str, v: &mut impl ParamVisitor<'a, T>) {
        v.visit(&format!("{prefix}weight"), &self.weight);
    }

    fn visit_params_mut<'a>(&'a mut self, prefix: &str, v: &mut impl ParamVisitorMut<'a, T>) {
        v.visit(&format!("{prefix}weight"), &mut self.weight);
    }
}

impl<D: Dim, T: Float> Params<T> for LayerNorm<D, T> {
    /// `weight` and `bias`.
    fn visit_params<'a>(&'a self, prefix: &str, v: &mut impl ParamVisitor<'a, T>) {
        v.visit(&format!("{prefix}weight"), &self.weight);
        v.visit(&format!("{prefix}bias"), &self.bias);
    }

    fn visit_params_mut<'a>(&'a mut self, prefix: &str, v: &mut impl ParamVisitorMut<'a, T>) {
        v.visit(&format!("{prefix}weight"), &mut self.weight);
        v.visit(&format!("{prefix}bias"), &mut self.bias);
    }
}
