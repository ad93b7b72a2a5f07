//! Activations and softmax.
//!
//! Softmax and log-softmax subtract each lane's maximum before exponentiating, so scores of
//! ±1e4 give neither NaN nor inf. Non-finite scores follow PyTorch: a lane holding a NaN is
//! NaN throughout, and so is a lane holding `+∞` (`e^(∞ − ∞)` is NaN). The one exception: a
//! lane that is entirely −∞ (a fully masked row) gives zeros from `softmax` (and −∞ from
//! `log_softmax`), never NaN.
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
use crate::kernel::{lanes, with_avx2_fma};
use crate::ops::reduce::for_each_lane_offset;
use crate::ops::Elementwise;
use crate::parallel;
use crate::shape::{HasAxis, LastAxis, Shape};
use crate::tensor::{AsView, Tensor, TensorView};

/// Blocks of lanes per thread when [`along_axis`] splits its lanes over threads.
const LANE_BLOCKS_PER_THREAD: usize = 4;

/// Softmax of one lane in place: the crate's one softmax row (`kernel::lanes`), run in the
/// AVX2/FMA frame.
fn softmax_lane<T: Float>(x: &mut [T]) {
    with_avx2_fma(
        #[inline(always)]
        || lanes::softmax_row(x),
    );
}

/// Log-softmax of one lane in place (`kernel::lanes`), run in the AVX2/FMA frame.
fn log_softmax_lane<T: Float>(x: &mut [T]) {
    with_avx2_fma(
        #[inline(always)]
        || lanes::log_softmax_row(x),
    );
}

/// Applies `f` to every lane along axis `axis` of a contiguous copy of `v`. Lanes along the
/// last axis (a classifier's logits, attention's scores) are split in blocks of whole lanes
/// over the threads the policy gives their elements: each lane is computed by the same code
/// whatever the thread count, so the result is bit-identical.
fn along_axis<S: Shape, T: Float>(
    v: &TensorView<'_, S, T>,
    axis: usize,
    f: impl Fn(&mut [T]) + Sync,
) -> Tensor<S, T> {
    let mut out = v.to_tensor();
    let (dims, strides) = (out.dims(), out.strides());
    let data = out.as_mut_slice();
    if axis + 1 == S::RANK {
        let n = dims[axis];
        if let Some(rows) = data.len().checked_div(n) {
            let threads = parallel::threads(parallel::Work::Elementwise(data.len()));
            // A few blocks per thread, so one that wakes late takes fewer.
            let per_block = rows.div_ceil(threads * LANE_BLOCKS_PER_THREAD).max(1) * n;
            let blocks: Vec<&mut [T]> = data.chunks_mut(per_block).collect();
            parallel::for_each_chunk(
                blocks,
                threads,
                || (),
                |_, _, block| {
                    block.chunks_exact_mut(n).for_each(&f);
                },
            );
        }
        return out;
    }
    let mut lane = Vec::new();
    for_each_lane_offset(0, &dims, &strides, axis, |start, stride, n| {
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

/// Activations and softmax of every tensor and view (anything [`AsView`]); each returns a
/// new contiguous tensor. In the prelude.
pub trait Activations: AsView {
    /// Softmax along axis `I` (max-subtracted). A lane holding NaN or `+∞` is all NaN, as
    /// in PyTorch; a fully −∞ lane gives zeros ([module](crate::ops::activations) docs).
    fn softmax<const I: usize>(&self) -> Tensor<Self::Shape, Self::Elem>
    where
        Self::Shape: HasAxis<I>,
    {
        along_axis(&self.as_view(), I, softmax_lane)
    }

    /// Log-softmax along axis `I` (max-subtracted). A lane holding NaN or `+∞` is all NaN,
    /// as in PyTorch; a fully −∞ lane stays −∞.
    fn log_softmax<const I: usize>(&self) -> Tensor<Self::Shape, Self::Elem>
    where
        Self::Shape: HasAxis<I>,
    {
        along_axis(&self.as_view(), I, log_softmax_lane)
    }

    /// [`softmax`](Self::softmax) along the last axis, whatever the rank: the scores of
    /// attention, the logits of a classifier.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let logits = Tensor::<(D<2>, D<2>)>::from_vec(vec![0.0, 0.0, 1e4, 0.0]).unwrap();
    /// assert_eq!(logits.softmax_last().as_slice(), &[0.5, 0.5, 1.0, 0.0]);
    /// assert_eq!(logits.t().softmax_last().as_slice(), &[0.0, 1.0, 0.5, 0.5]);
    /// ```
    ///
    /// A scalar has no last axis:
    ///
    /// ```compile_fail,E0277
    /// use shapecheck::prelude::*;
    /// let p = Tensor::<()>::zeros().softmax_last();
    /// ```
    fn softmax_last(&self) -> Tensor<Self::Shape, Self::Elem>
    where
        Self::Shape: LastAxis,
    {
        along_axis(
            &self.as_view(),
            <Self::Shape as Shape>::RANK - 1,
            softmax_lane,
        )
    }

    /// [`log_softmax`](Self::log_softmax) along the last axis, whatever the rank.
    fn log_softmax_last(&self) -> Tensor<Self::Shape, Self::Elem>
    where
        Self::Shape: LastAxis,
    {
        along_axis(
            &self.as_view(),
            <Self::Shape as Shape>::RANK - 1,
            log_softmax_lane,
        )
    }

    /// [`relu`] elementwise.
    fn relu(&self) -> Tensor<Self::Shape, Self::Elem> {
        self.map(relu)
    }

    /// [`gelu`] (erf form) elementwise.
    fn gelu(&self) -> Tensor<Self::Shape, Self::Elem> {
        self.map(gelu)
    }

    /// [`gelu_tanh`] (tanh approximation) elementwise.
    fn gelu_tanh(&self) -> Tensor<Self::Shape, Self::Elem> {
        self.map(gelu_tanh)
    }

    /// [`silu`] elementwise.
    fn silu(&self) -> Tensor<Self::Shape, Self::Elem> {
        self.map(silu)
    }

    /// [`sigmoid`] elementwise.
    fn sigmoid(&self) -> Tensor<Self::Shape, Self::Elem> {
        self.map(sigmoid)
    }

    /// `tanh` elementwise.
    fn tanh(&self) -> Tensor<Self::Shape, Self::Elem> {
        self.map(Float::tanh)
    }
}

impl<V: AsView + ?Sized> Activations for V {}
