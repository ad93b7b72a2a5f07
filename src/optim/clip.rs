//! [`clip_grad_norm`]: gradient clipping by global norm, as
//! `torch.nn.utils.clip_grad_norm_` (norm type 2) does it.

use super::{DynParam, OptimError};
use crate::autodiff::Gradients;
use crate::element::Float;

/// Scales the gradients of `params` so that their global L2 norm is at most `max_norm`,
/// and returns the norm before clipping.
///
/// As PyTorch: `total = ‖(‖g₁‖, ‖g₂‖, …)‖₂`, then every gradient is multiplied by
/// `min(1, max_norm / (total + 1e-6))` (in the element type, the quotient as PyTorch
/// computes it: `(1 / (total + 1e-6)) · max_norm`). Parameters without a
/// gradient (frozen, or unused by the loss) are skipped, and a parameter listed twice is
/// counted (and scaled) once. Each norm is accumulated in `f64`, scaled by the largest
/// magnitude so that it does not overflow, and rounded to the element type as PyTorch
/// rounds it (each gradient's norm, then the norm of those).
///
/// A non-finite norm (a NaN or an infinity in a gradient) is an `Err`, and no gradient is
/// changed (PyTorch's `error_if_nonfinite=True`).
///
/// ```
/// use shapecheck::autodiff::{Param, Tape};
/// use shapecheck::optim::clip_grad_norm;
/// use shapecheck::prelude::*;
/// let w = Param::new(Tensor::<(D<2>,), f64>::from_vec(vec![3.0, 4.0]).unwrap());
/// let tape = Tape::new();
/// let mut grads = (tape.param(&w).powi(2).sum_all().scale(0.5)).backward(); // g = w
/// let norm = clip_grad_norm(&mut grads, &[&w], 1.0)?;
/// assert_eq!(norm, 5.0);
/// let g = grads.of(&w).unwrap().to_vec();
/// assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
/// # Ok::<(), shapecheck::optim::OptimError>(())
/// ```
pub fn clip_grad_norm<T: Float>(
    grads: &mut Gradients<T>,
    params: &[&dyn DynParam<T>],
    max_norm: f64,
) -> Result<T, OptimError> {
    if max_norm.is_nan() || max_norm < 0.0 {
        return Err(OptimError::Config {
            detail: format!("max_norm must be ≥ 0, got {max_norm}"),
        });
    }
    let mut ids = Vec::with_capacity(params.len());
    for p in params {
        if grads.get(p.id()).is_some() && !ids.contains(&p.id()) {
            ids.push(p.id());
        }
    }
    // As PyTorch: each gradient's norm (rounded to T), then the norm of those norms.
    let norms: Vec<T> = ids
        .iter()
        .map(|&id| T::from_f64(l2(grads.get(id).unwrap_or(&[]).iter().map(|x| x.to_f64()))))
        .collect();
    let norm = l2(norms.iter().map(|x| x.to_f64()));
    let total = T::from_f64(norm);
    if !total.is_finite() {
        return Err(OptimError::NonFiniteNorm {
            norm: total.to_f64(),
        });
    }
    // `max_norm / (total + 1e-6)` on a tensor is, in PyTorch, a reciprocal then a product.
    let coef = T::ONE / (total + T::from_f64(1e-6)) * T::from_f64(max_norm);
    if coef < T::ONE {
        for &id in &ids {
            if let Some(g) = grads.get_mut(id) {
                g.iter_mut().for_each(|x| *x *= coef);
            }
        }
    }
    Ok(total)
}

/// The L2 norm of `xs` in `f64`, scaled by the largest magnitude so that the squares
/// neither overflow nor underflow; NaN if any element is NaN.
fn l2(xs: impl Iterator<Item = f64> + Clone) -> f64 {
    // NaN is kept by `max` only if it comes first: look for it separately.
    if xs.clone().any(f64::is_nan) {
        return f64::NAN;
    }
    let scale = xs.clone().fold(0.0f64, |m, x| m.max(x.abs()));
    if scale == 0.0 || scale.is_infinite() {
        return scale;
    }
    scale * xs.map(|x| (x / scale).powi(2)).sum::<f64>().sqrt()
}
