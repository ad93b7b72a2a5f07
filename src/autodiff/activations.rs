//! Traced activations (relu, gelu in its erf and tanh forms, silu) and softmax /
//! log-softmax along an axis.
//!
//! Softmax's backward is `dx = y ⊙ (g − Σ g·y)` per lane; log-softmax's is
//! `dx = g − eʸ·Σ g` (with `eʸ` the softmax, recomputed from the saved output: no `exp` of
//! the logits, so it is as stable as the forward at logits of ±1e4).

use std::borrow::Cow;

use super::handle::Handle;
use super::strided::{contiguous, for_each_pair, remove};
use super::var::{one_tape, record, Var};
use crate::element::Float;
use crate::error::{OrPanic, ShapeError};
use crate::ops::activations::{sigmoid, swiglu, swiglu_grad};
use crate::ops::Activations;
use crate::shape::{HasAxis, Shape};
use crate::tensor::Tensor;

impl<'t, S: Shape, T: Float> Var<'t, S, T> {
    /// `max(x, 0)` elementwise; the derivative at 0 is 0.
    pub fn relu(&self) -> Var<'t, S, T> {
        self.unary(self.value().relu(), |x, _| {
            if x > T::ZERO {
                T::ONE
            } else {
                T::ZERO
            }
        })
    }

    /// GELU, erf form: `x·Φ(x)`; derivative `Φ(x) + x·φ(x)`.
    pub fn gelu(&self) -> Var<'t, S, T> {
        self.unary(self.value().gelu(), |x, _| {
            let half = T::from_f64(0.5);
            let cdf = half * (T::ONE + (x * T::from_f64(core::f64::consts::FRAC_1_SQRT_2)).erf());
            let pdf = (-half * x * x).exp() * T::from_f64(0.398_942_280_401_432_7); // 1/√(2π)
            cdf + x * pdf
        })
    }

    /// GELU, tanh approximation (GPT-2's).
    pub fn gelu_tanh(&self) -> Var<'t, S, T> {
        self.unary(self.value().gelu_tanh(), |x, _| {
            let c = T::from_f64((2.0 / core::f64::consts::PI).sqrt());
            let a = T::from_f64(0.044715);
            let half = T::from_f64(0.5);
            let t = (c * (x + a * x * x * x)).tanh();
            half * (T::ONE + t)
                + half * x * (T::ONE - t * t) * c * (T::ONE + T::from_f64(3.0) * a * x * x)
        })
    }

    /// SiLU, `x·σ(x)`; derivative `σ(x)·(1 + x·(1 − σ(x)))`.
    pub fn silu(&self) -> Var<'t, S, T> {
        self.unary(self.value().silu(), |x, _| {
            let s = sigmoid(x);
            s * (T::ONE + x * (T::ONE - s))
        })
    }

    /// SwiGLU's gating `silu(self) ⊙ up` as one op: the forward in one vectorised pass, the
    /// backward `dg = dy·up·σ(g)(1 + g(1 − σ(g)))`, `dup = dy·silu(g)` in one pass over the
    /// saved `self` and `up` (no SiLU node, no product node), split over threads. The values
    /// and gradients are bit for bit those of `self.silu() * up`.
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::prelude::*;
    /// let tape = Tape::new();
    /// let g = tape.constant(Tensor::<(D<2>, D<3>)>::randn(0));
    /// let u = tape.constant(Tensor::<(D<2>, D<3>)>::randn(1));
    /// assert_eq!(g.swiglu(&u).to_tensor(), (&g.silu() * &u).to_tensor());
    /// ```
    ///
    /// # Panics
    ///
    /// As [`try_swiglu`](Self::try_swiglu) errs.
    #[track_caller]
    pub fn swiglu(&self, up: &Var<'t, S, T>) -> Var<'t, S, T> {
        self.try_swiglu(up).or_panic()
    }

    /// [`swiglu`](Self::swiglu); `Err` when runtime dims differ.
    ///
    /// # Panics
    ///
    /// When `self` and `up` are on two different tapes.
    #[track_caller]
    pub fn try_swiglu(&self, up: &Var<'t, S, T>) -> Result<Var<'t, S, T>, ShapeError> {
        let tape = one_tape("swiglu", &[self.tape, up.tape]);
        let shape = self.shape();
        if shape.dims() != up.shape().dims() {
            return Err(ShapeError::incompatible_described(
                "swiglu",
                format!("gate {shape:?}"),
                format!("up {:?}", up.shape()),
                "the gate and the up projection must have the same dims".to_string(),
            ));
        }
        let value = swiglu(&flat(&self.h), &flat(&up.h));
        let value = Tensor::from_parts(shape, value);
        let (g, u) = (self.h.clone(), up.h.clone());
        let traced = g.is_traced() || u.is_traced();
        Ok(record(tape, value, traced, move |_| {
            Box::new(move |dy, sink| {
                let (dg, du) = swiglu_grad(dy, &flat(&g), &flat(&u));
                sink.add_owned(&g, dg);
                sink.add_owned(&u, du);
            })
        }))
    }

    fn lanes<const I: usize>(&self, value: Tensor<S, T>, log: bool) -> Var<'t, S, T>
    where
        S: HasAxis<I>,
    {
        let x = self.h.clone();
        record(self.tape, value, x.is_traced(), move |out| {
            let y = out.clone();
            Box::new(move |g, sink| {
                let dims = x.shape.dims();
                let cs = contiguous(&dims);
                let (n, st) = (dims[I], cs[I]);
                let outer = remove(&dims, I);
                let os = remove(&cs, I);
                let yd = y.data.slice();
                let mut d = crate::pool::zeroed(yd.len());
                for_each_pair(&outer, (0, &os), (0, &os), |_, o, _| {
                    let lane = (0..n).map(|j| o + j * st);
                    if log {
                        let sum: T = lane.clone().map(|i| g[i]).sum();
                        lane.for_each(|i| d[i] = g[i] - yd[i].exp() * sum);
                    } else {
                        let dot: T = lane.clone().map(|i| g[i] * yd[i]).sum();
                        lane.for_each(|i| d[i] = yd[i] * (g[i] - dot));
                    }
                });
                sink.add(&x, &d);
            })
        })
    }

    /// Softmax along axis `I` (the tensor op's forward, max-subtracted).
    pub fn softmax<const I: usize>(&self) -> Var<'t, S, T>
    where
        S: HasAxis<I>,
    {
        self.lanes::<I>(self.value().softmax::<I>(), false)
    }

    /// Log-softmax along axis `I` (the tensor op's forward, max-subtracted).
    pub fn log_softmax<const I: usize>(&self) -> Var<'t, S, T>
    where
        S: HasAxis<I>,
    {
        self.lanes::<I>(self.value().log_softmax::<I>(), true)
    }
}

/// A value's elements in row-major order: its buffer when contiguous, else a copy.
fn flat<S: Shape, T: Float>(h: &Handle<S, T>) -> Cow<'_, [T]> {
    let v = h.view();
    match v.as_contiguous_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(v.to_vec()),
    }
}
