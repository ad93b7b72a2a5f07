//! Principal component analysis: the truncated SVD of the centred data.
//!
//! For data `X: (Samples, Features)` with mean `μ`, `X − μ = U·S·Vt`; the components are the
//! first `R` rows of `Vt`, the explained variance of component `i` is `sᵢ² / (samples − 1)`,
//! and its ratio is that over the total variance (`Σ` of all `sⱼ²`, i.e. of every
//! feature's variance). Each component's sign is fixed so that its largest-magnitude entry
//! is positive, which makes the result deterministic.

use super::rank::RankAtMost;
use super::scale::{into_safe_range, unscale};
use super::svd::{check_rank, factor, failure_error, truncate};
use crate::dim::{Dim, StaticDim};
use crate::element::Float;
use crate::error::OrPanic;
use crate::error::{Error, NumericError, ShapeError};
use crate::tensor::Tensor;

/// A fitted PCA with `R` components over `F` features.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::linalg::Pca;
/// dim!(pub Samples);
/// dim!(pub Features = 3);
/// dim!(pub Comp = 1);
/// // Points on the line t·(1, 2, 2)/3 plus an offset: one component explains everything.
/// let x = Tensor::<(Samples, Features), f64>::from_fn_with(
///     (Samples::new(5), Features),
///     |[i, j]| [1.0, 2.0, 2.0][j] / 3.0 * i as f64 + 10.0,
/// );
/// let pca = Pca::<Features, Comp, f64>::fit(&x);
/// let c = pca.components();
/// assert!((c[[0, 0]] - 1.0 / 3.0).abs() < 1e-12 && (c[[0, 2]] - 2.0 / 3.0).abs() < 1e-12);
/// assert!((pca.explained_variance_ratio()[[0]] - 1.0).abs() < 1e-12);
/// let z = pca.transform(&x); // (Samples, Comp)
/// let back = pca.inverse_transform(&z);
/// assert!((back[[4, 1]] - x[[4, 1]]).abs() < 1e-12);
/// ```
#[derive(Clone, Debug)]
pub struct Pca<F: Dim, R: Dim, T: Float = f32> {
    components: Tensor<(R, F), T>,
    mean: Tensor<(F,), T>,
    singular_values: Tensor<(R,), T>,
    explained_variance: Tensor<(R,), T>,
    explained_variance_ratio: Tensor<(R,), T>,
}

impl<F: Dim, R: Dim, T: Float> Pca<F, R, T> {
    /// Fits `R` components to the rows of `x`; `R ≤ min(Samples, F)` is checked by the
    /// type checker when the dims are static.
    ///
    /// # Panics
    ///
    /// When `x` holds a NaN or an infinity, has fewer samples than `R`, or has a variance
    /// beyond `T`'s range; see [`try_fit_with`](Self::try_fit_with).
    #[track_caller]
    pub fn fit<S: Dim>(x: &Tensor<(S, F), T>) -> Self
    where
        R: StaticDim + RankAtMost<S, F>,
    {
        Self::try_fit_with(x, R::default()).or_panic()
    }

    /// [`fit`](Self::fit) with the number of components given as a value, returning `Err`
    /// when it exceeds `min(samples, features)` ([`Error::Shape`]), or when the data is not
    /// finite or a singular value or variance exceeds `T`'s range ([`Error::Numeric`]).
    ///
    /// Data whose largest magnitude is outside the SVD's safe range (see
    /// [`linalg`](crate::linalg)) is scaled by a power of two before it is centred, so the
    /// mean, the centring and the variances neither overflow nor lose their low bits; the
    /// components and ratios do not depend on the scale, and the mean, singular values
    /// and variances are scaled back.
    pub fn try_fit_with<S: Dim>(x: &Tensor<(S, F), T>, r: R) -> Result<Self, Error>
    where
        R: RankAtMost<S, F>,
    {
        let (s, f) = (x.dims()[0], x.dims()[1]);
        check_rank("pca", x.shape(), (s, f), r)?;
        let numeric = |e| failure_error::<T>(e, "pca", format!("{:?}", x.shape()));
        let (data, k) = into_safe_range(x.as_slice()).map_err(numeric)?;
        let mut mean = vec![T::ZERO; f];
        for row in data.chunks_exact(f.max(1)) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += *v;
            }
        }
        let inv = T::ONE / T::from_usize(s.max(1));
        mean.iter_mut().for_each(|m| *m *= inv);
        let mut centred = data.into_owned();
        for row in centred.chunks_exact_mut(f.max(1)) {
            for (v, m) in row.iter_mut().zip(&mean) {
                *v -= *m;
            }
        }
        let fac = factor(&centred, s, f, false).map_err(numeric)?;
        let denom = T::from_usize(s.saturating_sub(1).max(1));
        let total: T = fac.s.iter().map(|v| *v * *v).sum();
        let mut fac = truncate(fac, s, r.size());
        let mut comps = fac.vt;
        for row in comps.chunks_exact_mut(f.max(1)) {
            let big = row
                .iter()
                .copied()
                .fold(T::ZERO, |b, v| if v.abs() > b.abs() { v } else { b });
            if big < T::ZERO {
                row.iter_mut().for_each(|v| *v = -*v);
            }
        }
        let mut var: Vec<T> = fac.s.iter().map(|v| *v * *v / denom).collect();
        let ratio: Vec<T> = fac
            .s
            .iter()
            .map(|v| {
                if total > T::ZERO {
                    *v * *v / total
                } else {
                    T::ZERO
                }
            })
            .collect();
        // Back to the data's scale: the mean (never overflows: it is at most the largest
        // entry), the singular values and the variances (which can).
        unscale(&mut mean, k).map_err(numeric)?;
        unscale(&mut fac.s, k).map_err(numeric)?;
        if unscale(&mut var, 2 * k).is_err() {
            return Err(NumericError::Overflow {
                op: "pca",
                shape: format!("{:?}", x.shape()),
                what: "the explained variance",
                elem: T::NAME,
            }
            .into());
        }
        let fd = x.shape().1;
        Ok(Pca {
            components: Tensor::from_parts((r, fd), comps),
            mean: Tensor::from_parts((fd,), mean),
            singular_values: Tensor::from_parts((r,), fac.s),
            explained_variance: Tensor::from_parts((r,), var),
            explained_variance_ratio: Tensor::from_parts((r,), ratio),
        })
    }

    /// The principal axes, one per row, unit length, by decreasing variance: `(R, F)`.
    pub fn components(&self) -> &Tensor<(R, F), T> {
        &self.components
    }

    /// The mean of the training data: `(F,)`.
    pub fn mean(&self) -> &Tensor<(F,), T> {
        &self.mean
    }

    /// The singular values of the centred data matching the components: `(R,)`.
    pub fn singular_values(&self) -> &Tensor<(R,), T> {
        &self.singular_values
    }

    /// The variance of the data along each component (`s² / (samples − 1)`): `(R,)`.
    pub fn explained_variance(&self) -> &Tensor<(R,), T> {
        &self.explained_variance
    }

    /// Each component's share of the total variance: `(R,)`, summing to at most 1.
    pub fn explained_variance_ratio(&self) -> &Tensor<(R,), T> {
        &self.explained_variance_ratio
    }

    /// Coordinates of the rows of `x` along the components: `(x − mean)·componentsᵀ`.
    ///
    /// # Panics
    ///
    /// When a runtime `F` differs from the fitted one; see
    /// [`try_transform`](Self::try_transform).
    #[track_caller]
    pub fn transform<B: Dim>(&self, x: &Tensor<(B, F), T>) -> Tensor<(B, R), T> {
        self.try_transform(x).or_panic()
    }

    /// [`transform`](Self::transform) that returns `Err` when a runtime `F` differs.
    pub fn try_transform<B: Dim>(
        &self,
        x: &Tensor<(B, F), T>,
    ) -> Result<Tensor<(B, R), T>, ShapeError> {
        let f = self.mean.dims()[0];
        let mut centred = x.clone();
        if x.dims()[1] == f {
            for row in centred.as_mut_slice().chunks_exact_mut(f.max(1)) {
                for (v, m) in row.iter_mut().zip(self.mean.as_slice()) {
                    *v -= *m;
                }
            }
        }
        centred.try_matmul(&self.components.t())
    }

    /// Back from component coordinates to features: `z·components + mean`, the projection
    /// of the original rows onto the components' span.
    ///
    /// # Panics
    ///
    /// When a runtime `R` differs from the fitted one; see
    /// [`try_inverse_transform`](Self::try_inverse_transform).
    #[track_caller]
    pub fn inverse_transform<B: Dim>(&self, z: &Tensor<(B, R), T>) -> Tensor<(B, F), T> {
        self.try_inverse_transform(z).or_panic()
    }

    /// [`inverse_transform`](Self::inverse_transform) that returns `Err` when a runtime `R`
    /// differs.
    pub fn try_inverse_transform<B: Dim>(
        &self,
        z: &Tensor<(B, R), T>,
    ) -> Result<Tensor<(B, F), T>, ShapeError> {
        let mut x = z.try_matmul(&self.components)?;
        let f = self.mean.dims()[0];
        for row in x.as_mut_slice().chunks_exact_mut(f.max(1)) {
            for (v, m) in row.iter_mut().zip(self.mean.as_slice()) {
                *v += *m;
            }
        }
        Ok(x)
    }
}
