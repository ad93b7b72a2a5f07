//! Activations and softmax.
//!
//! Softmax and log-softmax subtract each lane's maximum before exponentiating, so scores of
//! ±1e4 give neither NaN nor inf. A lane that is entirely −∞ (a fully masked row) gives
//! zeros from `softmax` (and −∞ from `log_softmax`), never NaN. NaN inputs propagate.
//!
//! ```
//! use shapecheck::prelude::*;
//! let scores = Tensor::<(D<2>, D<3>)>::from_vec(vec![
//!     1e4, 0.0, -1e4,
//!     f32::NEG_INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY, // fully masked
//! ]).unwrap();
//! let p = scores.softmax::<1>();
//! assert_eq!(p.as_slice(), &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
//! ```

use crate::element::Float;
use crate::ops::reduce::{for_each_lane_offset, sum_slice};
use crate::shape::{HasAxis, Shape};
use crate::tensor::{AsView, Tensor, TensorView};

/// Softmax of one lane in place.
fn softmax_lane<T: Float>(x: &mut [T]) {
    let m = x.iter().copied().fold(T::NEG_INFINITY, T::max);
    if m == T::NEG_INFINITY {
        x.iter_mut().for_each(|v| *v = T::ZERO);
        return;
    }
    x.iter_mut().for_each(|v| *v = (*v - m).exp());
    let inv = T::ONE / sum_slice(x);
    x.iter_mut().for_each(|v| *v *= inv);
}

/// Log-softmax of one lane in place.
fn log_softmax_lane<T: Float>(x: &mut [T]) {
    let m = x.iter().copied().fold(T::NEG_INFINITY, T::max);
    if m == T::NEG_INFINITY {
        return; // all −∞ already
    }
    let s = x.iter().map(|&v| (v - m).exp()).fold(T::ZERO, |a, e| a + e);
    // (v − m) − ln s, not v − (m + ln s): the latter loses ln s's digits when |m| is large.
    let ls = s.ln();
    x.iter_mut().for_each(|v| *v = (*v - m) - ls);
}

/// Applies `f` to every lane along axis `I` of a contiguous copy of `v`.
fn along_axis<const I: usize, S, T>(v: &TensorView<'_, S, T>, f: impl Fn(&mut [T])) -> Tensor<S, T>
where
    S: HasAxis<I>,
    T: Float,
{
    let mut out = v.to_tensor();
    let (dims, strides) = (out.dims(), out.strides());
    let data = out.as_mut_slice();
    if I + 1 == S::RANK {
        let n = dims[I];
        if n > 0 {
            data.chunks_exact_mut(n).for_each(&f);
        }
        return out;
    }
    let mut lane = Vec::new();
    for_each_lane_offset(0, &dims, &strides, I, |start, stride, n| {
        lane.clear();
        lane.extend((0..n).map(|i| data[start + i * stride]));
        f(&mut lane);
        for (i, &x) in lane.iter().enumerate() {
            data[start + i * stride] = x;
        }
    });
    out
}

/// `max(x, 0)`; NaN stays NaN (as PyTorch), where `f32::max` would make it 0.
#[inline(always)]
pub fn relu<T: Float>(x: T) -> T {
    if x < T::ZERO {
        T::ZERO
    } else {
        x
    }
}

/// `1 / (1 + e⁻ˣ)`.
#[inline(always)]
pub fn sigmoid<T: Float>(x: T) -> T {
    T::ONE / (T::ONE + (-x).exp())
}

/// `x · sigmoid(x)` (also called swish).
#[inline(always)]
pub fn silu<T: Float>(x: T) -> T {
    x * sigmoid(x)
}

/// GELU with the error function: `x · ½(1 + erf(x/√2))`, as BERT uses.
#[inline(always)]
pub fn gelu<T: Float>(x: T) -> T {
    let half = T::from_f64(0.5);
    x * half * (T::ONE + (x * T::from_f64(core::f64::consts::FRAC_1_SQRT_2)).erf())
}

/// GELU's tanh approximation: `½x(1 + tanh(√(2/π)(x + 0.044715x³)))`, as GPT-2 uses.
#[inline(always)]
pub fn gelu_tanh<T: Float>(x: T) -> T {
    let c = T::from_f64((2.0 / core::f64::consts::PI).sqrt());
    let inner = c * (x + T::from_f64(0.044715) * x * x * x);
    T::from_f64(0.5) * x * (T::ONE + inner.tanh())
}

macro_rules! activation_methods {
    () => {
        /// Softmax along axis `I` (max-subtracted; a fully −∞ lane gives zeros).
        pub fn softmax<const I: usize>(&self) -> Tensor<S, T>
        where
            S: HasAxis<I>,
        {
            along_axis::<I, S, T>(&self.as_view(), softmax_lane)
        }

        /// Log-softmax along axis `I` (max-subtracted; a fully −∞ lane stays −∞).
        pub fn log_softmax<const I: usize>(&self) -> Tensor<S, T>
        where
            S: HasAxis<I>,
        {
            along_axis::<I, S, T>(&self.as_view(), log_softmax_lane)
        }

        /// [`relu`] elementwise.
        pub fn relu(&self) -> Tensor<S, T> {
            self.as_view().map(relu)
        }

        /// [`gelu`] (erf form) elementwise.
        pub fn gelu(&self) -> Tensor<S, T> {
            self.as_view().map(gelu)
        }

        /// [`gelu_tanh`] (tanh approximation) elementwise.
        pub fn gelu_tanh(&self) -> Tensor<S, T> {
            self.as_view().map(gelu_tanh)
        }

        /// [`silu`] elementwise.
        pub fn silu(&self) -> Tensor<S, T> {
            self.as_view().map(silu)
        }

        /// [`sigmoid`] elementwise.
        pub fn sigmoid(&self) -> Tensor<S, T> {
            self.as_view().map(sigmoid)
        }

        /// `tanh` elementwise.
        pub fn tanh(&self) -> Tensor<S, T> {
            self.as_view().map(T::tanh)
        }
    };
}

impl<S: Shape, T: Float> Tensor<S, T> {
    activation_methods!();
}

impl<S: Shape, T: Float> TensorView<'_, S, T> {
    activation_methods!();

    /// Applies `f` to every element, into a new contiguous tensor.
    pub fn map(&self, f: impl FnMut(T) -> T) -> Tensor<S, T> {
        let mut f = f;
        let mut out = Vec::with_capacity(self.len());
        self.for_each(|x| out.push(f(x)));
        Tensor::from_parts(self.shape(), out)
    }
}
