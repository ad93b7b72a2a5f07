//! Traced activations (relu, gelu in its erf and tanh forms, silu) and softmax /
//! log-softmax along an axis.
//!
//! Softmax's backward is `dx = y ⊙ (g − Σ g·y)` per lane; log-softmax's is
//! `dx = g − eʸ·Σ g` (with `eʸ` the softmax, recomputed from the saved output: no `exp` of
//! the logits, so it is as stable as the forward at logits of ±1e4).

use super::strided::{contiguous, for_each_pair, remove};
use super::var::{record, Var};
use crate::element::Float;
use crate::ops::activations::sigmoid;
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
