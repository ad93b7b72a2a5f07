//! Normalisations over the last axis: `layer_norm` and `rms_norm`.
//!
//! The weight (and bias) have the shape `(Last,)` of the normalised axis, so a weight of
//! another width is a compile error.
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

use crate::element::Float;
use crate::kernel::lanes::lane_sum;
use crate::shape::{LastAxis, Shape};
use crate::tensor::{AsView, Tensor, TensorView};

fn rows<S: LastAxis, T: Float>(
    v: &TensorView<'_, S, T>,
    f: impl Fn(&[T], &mut [T]),
) -> Tensor<S, T> {
    let copied;
    let x: &[T] = if v.is_contiguous() {
        &v.as_base_slice()[v.offset()..v.offset() + v.len()]
    } else {
        copied = v.to_vec();
        &copied
    };
    let n = v.dims()[S::RANK - 1];
    let mut out = vec![T::ZERO; x.len()];
    if n > 0 {
        for (src, dst) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
            f(src, dst);
        }
    }
    Tensor::from_parts(v.shape(), out)
}

fn vector<V: AsView>(v: &V) -> Vec<V::Elem> {
    v.as_view().to_vec()
}

macro_rules! norm_methods {
    () => {
        /// Layer normalisation over the last axis: `(x − mean) / √(var + eps) · weight + bias`,
        /// with the population variance (as PyTorch's `LayerNorm`).
        pub fn layer_norm<W, B>(&self, weight: &W, bias: &B, eps: T) -> Tensor<S, T>
        where
            S: LastAxis,
            W: AsView<Shape = (S::Last,), Elem = T>,
            B: AsView<Shape = (S::Last,), Elem = T>,
        {
            let (w, b) = (vector(weight), vector(bias));
            rows(&self.as_view(), |x, y| {
                let n = T::from_usize(x.len());
                let mean = lane_sum(x, |v| v) / n;
                let var = lane_sum(x, |v| (v - mean) * (v - mean)) / n;
                let inv = T::ONE / (var + eps).sqrt();
                for (((o, &v), &wi), &bi) in y.iter_mut().zip(x).zip(&w).zip(&b) {
                    *o = (v - mean) * inv * wi + bi;
                }
            })
        }

        /// RMS normalisation over the last axis: `x / √(mean(x²) + eps) · weight`.
        pub fn rms_norm<W>(&self, weight: &W, eps: T) -> Tensor<S, T>
        where
            S: LastAxis,
            W: AsView<Shape = (S::Last,), Elem = T>,
        {
            let w = vector(weight);
            rows(&self.as_view(), |x, y| {
                let n = T::from_usize(x.len());
                let ms = lane_sum(x, |v| v * v) / n;
                let inv = T::ONE / (ms + eps).sqrt();
                for ((o, &v), &wi) in y.iter_mut().zip(x).zip(&w) {
                    *o = v * inv * wi;
                }
            })
        }
    };
}

impl<S: Shape, T: Float> Tensor<S, T> {
    norm_methods!();
}

impl<S: Shape, T: Float> TensorView<'_, S, T> {
    norm_methods!();
}
