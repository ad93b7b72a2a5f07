//! Normalisations over the last axis: `layer_norm`, `rms_norm` and `normalize`, the
//! methods of [`Norms`].
//!
//! The weight (and bias) have the shape `(Last,)` of the normalised axis, so a weight of
//! another width is a compile error when the dim is static; with a runtime last dim the
//! sizes are checked at run time (`try_layer_norm`, `try_rms_norm`).
//!
//! ```
//! use shapecheck::prelude::*;
//! dim!(pub Seq = 2; pub DModel = 4);
//! let x = Tensor::<(Seq, DModel)>::from_vec(vec![1., 2., 3., 4., 2., 2., 2., 2.]).unwrap();
//! let w = Tensor::<(DModel,)>::ones();
//! let b = Tensor::<(DModel,)>::zeros();
//! let y = x.layer_norm(&w, &b, 1e-5);
//! assert!((y.mean::<1>()[[0]]).abs() < 1e-6);
//! assert!((y.var::<1>()[[0]] - 1.0).abs() < 1e-4);
//! assert_eq!(y[[1, 0]], 0.0); // a constant row normalises to 0, not NaN
//! ```
//!
//! Numerics, per row. `layer_norm` takes the mean of the row shifted by its first element,
//! then the centred sums `Σd` and `Σd²` (`d = x − mean`) in a second pass, and corrects the
//! mean by `Σd / n` (the corrected two-pass algorithm of Chan, Golub and LeVeque): a large
//! common offset such as `1e7 + [1, 2, 3]` in f32 loses nothing. Sums use eight interleaved
//! partial sums, so the loops vectorise. When the sum of squares overflows or is small
//! enough to have lost digits to underflow (`[1e20, -1e20]` in f32), the row is scaled by
//! an exact power of two and recomputed (see `ops::scaled`); ordinary rows never do this.
//! A NaN or an infinity in a row makes the whole output row NaN. With `eps = 0`, a
//! constant row gives NaN (0/0), as in PyTorch.

use std::borrow::Cow;

use crate::element::Float;
use crate::error::OrPanic;
use crate::error::ShapeError;
use crate::kernel::lanes::lane_sum;
use crate::ops::scaled::{is_safe_sum_of_squares, max_abs, pow2_scale};
use crate::ops::unit::{normalize_view, Unit};
use crate::shape::{LastAxis, Shape};
use crate::tensor::{AsView, Tensor, TensorView};

/// `f(row, out_row)` for every row (lane of the last axis) of `v`, into a new tensor; a
/// contiguous view is read in place, a strided one copied once.
fn rows<S: LastAxis, T: Float>(
    v: &TensorView<'_, S, T>,
    f: impl Fn(&[T], &mut [T]),
) -> Tensor<S, T> {
    let x = elements(v);
    let n = v.dims()[S::RANK - 1];
    let mut out = crate::pool::zeroed(x.len());
    if n > 0 {
        for (src, dst) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
            f(src, dst);
        }
    }
    Tensor::from_parts(v.shape(), out)
}

/// The elements in row-major order: borrowed when the view is contiguous.
fn elements<'a, S: Shape, T: Float>(v: &TensorView<'a, S, T>) -> Cow<'a, [T]> {
    v.as_contiguous_slice()
        .map_or_else(|| Cow::Owned(v.to_vec()), Cow::Borrowed)
}

/// `(Σ d, Σ d²)` with `d = x·scale − mean`, in one pass of eight interleaved partial sums
/// each. Always inlined, so that the fast path's `scale = 1` folds away.
#[inline(always)]
fn centred_sums<T: Float>(x: &[T], scale: T, mean: T) -> (T, T) {
    let (mut s1, mut s2) = ([T::ZERO; 8], [T::ZERO; 8]);
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..8 {
            let d = c[k] * scale - mean;
            s1[k] += d;
            s2[k] += d * d;
        }
    }
    let pair = |a: [T; 8]| ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
    let (mut sd, mut ss) = (pair(s1), pair(s2));
    for &v in rest {
        let d = v * scale - mean;
        sd += d;
        ss += d * d;
    }
    (sd, ss)
}

fn nan<T: Float>() -> T {
    T::from_f64(f64::NAN)
}

/// The mean of `x·scale`, shifted by the first element so that a large common offset does
/// not swamp the sum. Always inlined, as [`centred_sums`].
#[inline(always)]
fn shifted_mean<T: Float>(x: &[T], scale: T) -> T {
    let x0 = x[0] * scale;
    x0 + lane_sum(x, |v| v * scale - x0) / T::from_usize(x.len())
}

/// `max(v, 0)` that keeps a NaN (`Float::max` would drop it).
#[inline]
fn non_negative<T: Float>(v: T) -> T {
    if v < T::ZERO {
        T::ZERO
    } else {
        v
    }
}

/// One row of layer normalisation; `x` is not empty.
/// One row of layer normalisation; `x` is not empty.
#[inline]
fn layer_norm_row<T: Float>(x: &[T], y: &mut [T], w: &[T], b: &[T], eps: T) {
    let n = T::from_usize(x.len());
    // Every sum is of `d = v − x0`: exact for a row with a large common offset (Sterbenz),
    // so the mean `m` of the shifted row and the deviations `d − m` keep their digits.
    // One pass gives `Σd` and `Σd²`, and `Σ(d − m)² = Σd² − n·m²`; that subtraction loses
    // about log₂(Σd² / Σ(d − m)²) bits, so when more than two would go (`x0` far from the
    // mean in units of the spread) the centred sum is taken in a second pass instead. Sums
    // that overflow (`[1e20, −1e20]` in f32) or underflow send the row to the scaled path.
    let x0 = x[0];
    let (sd, sd2) = shifted_sums(x, x0);
    let m = sd / n;
    let mut ss = sd2 - m * sd;
    if !ss.is_finite() {
        // The one-pass sums overflowed, or the row holds a NaN or an infinity.
        return layer_norm_row_scaled(x, y, w, b, eps);
    }
    if ss * T::from_f64(4.0) < sd2 {
        ss = lane_sum(x, |v| {
            let d = (v - x0) - m;
            d * d
        });
    }
    if !is_safe_sum_of_squares(ss) {
        return layer_norm_row_scaled(x, y, w, b, eps);
    }
    let inv = T::ONE / (ss / n + eps).sqrt();
    for (((o, &v), &wi), &bi) in y.iter_mut().zip(x).zip(w).zip(b) {
        *o = ((v - x0) - m) * inv * wi + bi;
    }
}

/// `(Σ d, Σ d²)` with `d = v − x0`, each over eight interleaved partial sums. Two
/// [`lane_sum`] passes over the row (in L1 by then), not one loop with sixteen
/// accumulators: LLVM turned that one into per-element loads and shuffles, 1.5× slower.
#[inline(always)]
fn shifted_sums<T: Float>(x: &[T], x0: T) -> (T, T) {
    let sd = lane_sum(x, |v| v - x0);
    let sd2 = lane_sum(x, |v| (v - x0) * (v - x0));
    (sd, sd2)
}

/// The power of two `s` (and `1/s`) that brings the row's largest magnitude near 1, for the
/// scaled paths; `None` when the row holds an infinity (its output row is NaN). An all-zero
/// row has `s = 1`.
fn row_scale<T: Float>(x: &[T]) -> Option<(T, T)> {
    let m = max_abs(x.iter().copied());
    if !m.is_finite() {
        None
    } else if m > T::ZERO {
        Some(pow2_scale(m))
    } else {
        Some((T::ONE, T::ONE))
    }
}

/// [`layer_norm_row`] for a row whose sum of squares overflows or underflows: computed on
/// `x·s` for a power of two `s` (exact), where `(x − μ)/√(σ² + eps)` is
/// `(y − μ_y)/√(σ_y² + eps·s²)`.
#[cold]
#[inline(never)]
fn layer_norm_row_scaled<T: Float>(x: &[T], y: &mut [T], w: &[T], b: &[T], eps: T) {
    let Some((s, inv_s)) = row_scale(x) else {
        y.iter_mut().for_each(|o| *o = nan());
        return;
    };
    let n = T::from_usize(x.len());
    let mean = shifted_mean(x, s);
    let (sd, ss) = centred_sums(x, s, mean);
    let c = sd / n;
    let var = non_negative(ss / n - c * c);
    let eps_s = eps * s * s;
    // Scaled down (a huge row), `eps·s²` may underflow, harmlessly; scaled up (a tiny row),
    // it may overflow, and then eps dominates: divide in the row's own scale instead.
    let (inv, post) = if eps_s.is_finite() {
        let den = var + eps_s;
        let inv = if den > T::ZERO {
            T::ONE / den.sqrt()
        } else if eps > T::ZERO {
            T::ZERO // a constant row: every d is 0
        } else {
            T::INFINITY // eps = 0 and a constant row: 0/0, as unscaled
        };
        (inv, T::ONE)
    } else {
        (T::ONE / (var * inv_s * inv_s + eps).sqrt(), inv_s)
    };
    for (((o, &v), &wi), &bi) in y.iter_mut().zip(x).zip(w).zip(b) {
        *o = (((v * s - mean) - c) * post) * inv * wi + bi;
    }
}

/// One row of RMS normalisation; `x` is not empty.
fn rms_norm_row<T: Float>(x: &[T], y: &mut [T], w: &[T], eps: T) {
    let n = T::from_usize(x.len());
    let ss = lane_sum(x, |v| v * v);
    if !(is_safe_sum_of_squares(ss) || ss.is_nan()) {
        return rms_norm_row_scaled(x, y, w, eps);
    }
    let inv = T::ONE / (ss / n + eps).sqrt();
    for ((o, &v), &wi) in y.iter_mut().zip(x).zip(w) {
        *o = v * inv * wi;
    }
}

/// [`rms_norm_row`] on `x·s` for a power of two `s`, as [`layer_norm_row_scaled`].
#[cold]
#[inline(never)]
fn rms_norm_row_scaled<T: Float>(x: &[T], y: &mut [T], w: &[T], eps: T) {
    let Some((s, inv_s)) = row_scale(x) else {
        y.iter_mut().for_each(|o| *o = nan());
        return;
    };
    let ms = lane_sum(x, |v| (v * s) * (v * s)) / T::from_usize(x.len());
    let eps_s = eps * s * s;
    let (inv, pre) = if eps_s.is_finite() {
        let den = ms + eps_s;
        let inv = if den > T::ZERO {
            T::ONE / den.sqrt()
        } else {
            T::INFINITY // eps = 0 and a zero row: 0/0, as unscaled
        };
        (inv, s)
    } else {
        (T::ONE / (ms * inv_s * inv_s + eps).sqrt(), T::ONE)
    };
    for ((o, &v), &wi) in y.iter_mut().zip(x).zip(w) {
        *o = (v * pre) * inv * wi;
    }
}

/// `Err` unless the vector `p` (a weight or a bias) has as many elements as the last axis.
fn check_param<S: LastAxis, P: Shape, T: Float>(
    op: &'static str,
    what: &str,
    x: &TensorView<'_, S, T>,
    p: &TensorView<'_, P, T>,
) -> Result<(), ShapeError> {
    let n = x.dims()[S::RANK - 1];
    if p.len() == n {
        return Ok(());
    }
    Err(ShapeError::incompatible_described(
        op,
        format!("{:?}", x.shape()),
        format!("the {what} {:?}", p.shape()),
        format!(
            "the {what} must have one element per index of the last axis ({n}), not {}",
            p.len()
        ),
    ))
}

/// Normalisations over the last axis, of every tensor and view (anything [`AsView`]). In
/// the prelude.
pub trait Norms: AsView {
    /// Layer normalisation over the last axis: `(x − mean) / √(var + eps) · weight + bias`,
    /// with the population variance (as PyTorch's `LayerNorm`); see the module docs for the
    /// numerics and the NaN policy.
    ///
    /// # Panics
    ///
    /// When a runtime last dim and the weight's or bias's length differ; the message is
    /// that of [`try_layer_norm`](Self::try_layer_norm).
    #[track_caller]
    fn layer_norm<W, B>(
        &self,
        weight: &W,
        bias: &B,
        eps: Self::Elem,
    ) -> Tensor<Self::Shape, Self::Elem>
    where
        Self::Shape: LastAxis,
        W: AsView<Shape = (<Self::Shape as LastAxis>::Last,), Elem = Self::Elem>,
        B: AsView<Shape = (<Self::Shape as LastAxis>::Last,), Elem = Self::Elem>,
    {
        self.try_layer_norm(weight, bias, eps).or_panic()
    }

    /// [`layer_norm`](Self::layer_norm) that returns `Err` when a runtime last dim and the
    /// weight's or bias's length differ.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let x = Tensor::<(D<2>, Dyn)>::ones_with((D, Dyn::new(4)));
    /// let w = Tensor::<(Dyn,)>::ones_with((Dyn::new(3),));
    /// let b = Tensor::<(Dyn,)>::zeros_with((Dyn::new(4),));
    /// let err = x.try_layer_norm(&w, &b, 1e-5).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "layer_norm: cannot combine (2, Dyn=4) with the weight (Dyn=3,): the weight must \
    ///      have one element per index of the last axis (4), not 3"
    /// );
    /// ```
    fn try_layer_norm<W, B>(
        &self,
        weight: &W,
        bias: &B,
        eps: Self::Elem,
    ) -> Result<Tensor<Self::Shape, Self::Elem>, ShapeError>
    where
        Self::Shape: LastAxis,
        W: AsView<Shape = (<Self::Shape as LastAxis>::Last,), Elem = Self::Elem>,
        B: AsView<Shape = (<Self::Shape as LastAxis>::Last,), Elem = Self::Elem>,
    {
        let (v, wv, bv) = (self.as_view(), weight.as_view(), bias.as_view());
        check_param("layer_norm", "weight", &v, &wv)?;
        check_param("layer_norm", "bias", &v, &bv)?;
        let (w, b) = (elements(&wv), elements(&bv));
        Ok(rows(&v, |x, y| layer_norm_row(x, y, &w, &b, eps)))
    }

    /// RMS normalisation over the last axis: `x / √(mean(x²) + eps) · weight`; scaled
    /// against overflow and underflow like [`layer_norm`](Self::layer_norm).
    ///
    /// # Panics
    ///
    /// When a runtime last dim and the weight's length differ; the message is that of
    /// [`try_rms_norm`](Self::try_rms_norm).
    #[track_caller]
    fn rms_norm<W>(&self, weight: &W, eps: Self::Elem) -> Tensor<Self::Shape, Self::Elem>
    where
        Self::Shape: LastAxis,
        W: AsView<Shape = (<Self::Shape as LastAxis>::Last,), Elem = Self::Elem>,
    {
        self.try_rms_norm(weight, eps).or_panic()
    }

    /// [`rms_norm`](Self::rms_norm) that returns `Err` when a runtime last dim and the
    /// weight's length differ.
    fn try_rms_norm<W>(
        &self,
        weight: &W,
        eps: Self::Elem,
    ) -> Result<Tensor<Self::Shape, Self::Elem>, ShapeError>
    where
        Self::Shape: LastAxis,
        W: AsView<Shape = (<Self::Shape as LastAxis>::Last,), Elem = Self::Elem>,
    {
        let (v, wv) = (self.as_view(), weight.as_view());
        check_param("rms_norm", "weight", &v, &wv)?;
        let w = elements(&wv);
        Ok(rows(&v, |x, y| rms_norm_row(x, y, &w, eps)))
    }

    /// Divides every row (lane of the last axis) by its Euclidean norm, computed without
    /// overflow or underflow; a zero row stays zero, and a row holding a NaN or an infinity
    /// becomes NaN. See [`Unit`].
    fn normalize(&self) -> Unit<Self::Shape, Self::Elem>
    where
        Self::Shape: LastAxis,
    {
        normalize_view(&self.as_view())
    }
}

impl<V: AsView + ?Sized> Norms for V {}
