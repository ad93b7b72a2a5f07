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

use crate::element::{Float, Kind};
use crate::kernel::{lanes, run_avx2_fma, with_avx2_fma, Avx2FmaKernel};
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

/// `1 / (1 + e⁻ˣ)`, with `e⁻ˣ` from [`Float::exp_softmax`] (no libm call, so loops of it —
/// SiLU, SwiGLU's gating and their backward — vectorise; relative error ≤ 2e-7 in f32).
/// Below −88.72 (where f32's `e⁻ˣ` overflows) it is 0, as with libm's `exp`.
#[inline(always)]
pub fn sigmoid<T: Float>(x: T) -> T {
    // f32's polynomial clamps its input at 88.5; past f32's largest `eˣ` libm gives ∞.
    let overflows = T::KIND == Kind::F32 && -x > T::from_f64(F32_EXP_OVERFLOW);
    let e = if overflows {
        T::INFINITY
    } else {
        (-x).exp_softmax()
    };
    T::ONE / (T::ONE + e)
}

/// `ln(f32::MAX)`: `eˣ` overflows f32 above it.
const F32_EXP_OVERFLOW: f64 = 88.722_839;

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

/// SwiGLU's gating `silu(g)·u`, elementwise: the forward of the fused traced op
/// ([`Var::try_swiglu`](crate::autodiff::Var::try_swiglu)) and of the tensor forward's
/// write-back, one expression for both.
#[inline(always)]
pub(crate) fn gate<T: Float>(g: T, u: T) -> T {
    silu(g) * u
}

/// SwiGLU's backward at one element, from the output's gradient `dy` and the saved `g`,
/// `u`: `(dg, du) = (dy·u·σ(g)(1 + g(1 − σ(g))), dy·silu(g))`, each rounded as the unfused
/// tape rounds it (the product's backward `dy·u` and `dy·silu(g)`, then SiLU's `·σ(1 + g(1 − σ))`).
#[inline(always)]
pub(crate) fn gate_grad<T: Float>(dy: T, g: T, u: T) -> (T, T) {
    let s = sigmoid(g);
    ((dy * u) * (s * (T::ONE + g * (T::ONE - s))), dy * (g * s))
}

/// Blocks of elements per thread of an elementwise pass split over threads.
const BLOCKS_PER_THREAD: usize = 4;

/// The threads and the block length (a multiple of 16 elements) of an elementwise pass over
/// `len` elements; each element is computed by the same code whatever the split, so the
/// result is bit-identical for every thread count.
fn split(len: usize) -> (usize, usize) {
    let threads = parallel::threads(parallel::Work::Elementwise(len));
    let per = len
        .div_ceil(threads * BLOCKS_PER_THREAD)
        .next_multiple_of(16)
        .max(16);
    (threads, per)
}

/// `silu(g)·u` for two buffers of one length, into a new one: one vectorised pass (in the
/// AVX2/FMA frame), split over threads in blocks.
pub(crate) fn swiglu<T: Float>(g: &[T], u: &[T]) -> Vec<T> {
    debug_assert_eq!(g.len(), u.len());
    let mut out = crate::pool::zeroed(g.len());
    let (threads, per) = split(g.len());
    let blocks: Vec<(usize, &mut [T])> = out.chunks_mut(per).enumerate().collect();
    parallel::for_each_chunk(
        blocks,
        threads,
        || (),
        |_, _, (i, ys)| {
            let at = i * per;
            let (g, u) = (&g[at..at + ys.len()], &u[at..at + ys.len()]);
            run_avx2_fma(GateKernel { g, u, ys });
        },
    );
    out
}

/// SwiGLU's backward over whole buffers: `(dg, du)` from the output's gradient `dy` and the
/// saved `g`, `u` ([`gate_grad`]), one vectorised pass split over threads in blocks.
pub(crate) fn swiglu_grad<T: Float>(dy: &[T], g: &[T], u: &[T]) -> (Vec<T>, Vec<T>) {
    debug_assert!(dy.len() == g.len() && g.len() == u.len());
    let (mut dg, mut du) = (crate::pool::zeroed(g.len()), crate::pool::zeroed(g.len()));
    let (threads, per) = split(g.len());
    let blocks: Vec<GradBlock<'_, T>> = dg
        .chunks_mut(per)
        .zip(du.chunks_mut(per))
        .enumerate()
        .collect();
    parallel::for_each_chunk(
        blocks,
        threads,
        || (),
        |_, _, (i, (dg, du))| {
            let r = i * per..i * per + dg.len();
            let (dy, g, u) = (&dy[r.clone()], &g[r.clone()], &u[r]);
            run_avx2_fma(GateGradKernel { dy, g, u, dg, du });
        },
    );
    (dg, du)
}

/// A block of [`swiglu_grad`]'s split: its index, its `dg` and `du`.
type GradBlock<'a, T> = (usize, (&'a mut [T], &'a mut [T]));

/// [`gate`] over a block, for [`run_avx2_fma`].
struct GateKernel<'a, T> {
    g: &'a [T],
    u: &'a [T],
    ys: &'a mut [T],
}

impl<T: Float> Avx2FmaKernel for GateKernel<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let n = self.ys.len();
        let (g, u) = (&self.g[..n], &self.u[..n]);
        for k in 0..n {
            self.ys[k] = gate(g[k], u[k]);
        }
    }
}

/// [`gate_grad`] over a block, for [`run_avx2_fma`].
struct GateGradKernel<'a, T> {
    dy: &'a [T],
    g: &'a [T],
    u: &'a [T],
    dg: &'a mut [T],
    du: &'a mut [T],
}

impl<T: Float> Avx2FmaKernel for GateGradKernel<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let n = self.dg.len();
        let (dy, g, u, du) = (&self.dy[..n], &self.g[..n], &self.u[..n], &mut self.du[..n]);
        for k in 0..n {
            (self.dg[k], du[k]) = gate_grad(dy[k], g[k], u[k]);
        }
    }
}
