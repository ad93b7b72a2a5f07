//! A direction from two sets of activations ([`Contrast`]): the mean-difference direction
//! between them, a threshold halfway between their centroids along it (a sign /
//! nearest-centroid classifier), and how it sits against the top principal component of
//! the two sets pooled (the explained variance of PC1, the cosine between PC1 and the
//! mean difference).
//!
//! Fit on one half of labelled activations and [`Direction::accuracy`] on the other half
//! held out: the sentiment direction of a model's residual stream is
//! `Contrast::fit(&positive, &negative)` per layer (see `examples/inside_llm.rs`).
//!
//! ```
//! use shapecheck::prelude::*;
//! use shapecheck::inspect::Contrast;
//! dim!(pub Inputs; pub Width = 3);
//! let rows = |v: Vec<f32>| Tensor::<(Inputs, Width)>::from_vec_with((Inputs::new(v.len() / 3), Width), v).unwrap();
//! let pos = rows(vec![3., 1., 0., 5., -1., 0.]);
//! let neg = rows(vec![-3., 1., 0., -5., -1., 0.]);
//! let c = Contrast::fit(&pos, &neg).unwrap();
//! assert_eq!(c.direction.unit().as_slice(), &[1.0, 0.0, 0.0]);
//! assert!(c.pc1_ratio > 0.9 && c.cosine > 0.99); // the sets differ along their top PC
//! assert_eq!(c.direction.accuracy(&pos, &neg).unwrap(), 1.0);
//! ```

use super::steer::mean_difference;
use super::InspectError;
use crate::dim::Dim;
use crate::linalg::{Pca, RankAtMost};
use crate::tensor::Tensor;

crate::dim!(
    /// The rows of two sets of activations pooled, as [`Contrast::fit`] fits its PCA to
    /// them (runtime).
    pub Pooled;
    /// The principal components [`Contrast::fit`] keeps (runtime; two).
    pub Kept
);

/// A unit direction of width `D` and a threshold along it: a point is on the first set's
/// side when its projection on the direction is above the threshold.
#[derive(Clone, Debug)]
pub struct Direction<D: Dim> {
    unit: Tensor<(D,)>,
    threshold: f64,
}

impl<D: Dim> Direction<D> {
    /// The direction, of norm 1.
    pub fn unit(&self) -> &Tensor<(D,)> {
        &self.unit
    }

    /// The projection halfway between the two centroids the direction was fitted on.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Each row of `x` projected on the direction (a dot product in f64).
    ///
    /// An error when `x`'s width is not the direction's.
    pub fn project<N: Dim>(&self, x: &Tensor<(N, D)>) -> Result<Vec<f64>, InspectError> {
        let width = self.unit.dims()[0];
        if x.dims()[1] != width {
            return Err(crate::ShapeError::Incompatible {
                op: "Direction::project",
                lhs: format!("{:?}", x.shape()),
                rhs: format!("{:?}", self.unit.shape()),
                detail: "the rows' width is not the direction's".into(),
            }
            .into());
        }
        let u = self.unit.as_slice();
        Ok(x.as_slice()
            .chunks_exact(width.max(1))
            .map(|row| {
                row.iter()
                    .zip(u)
                    .map(|(&a, &b)| f64::from(a) * f64::from(b))
                    .sum()
            })
            .collect())
    }

    /// The fraction of the rows of `first` projected above the threshold and of `second`
    /// projected below it (the nearest-centroid classifier along the direction).
    ///
    /// An error when a width differs or both sets are empty.
    pub fn accuracy<N: Dim, M: Dim>(
        &self,
        first: &Tensor<(N, D)>,
        second: &Tensor<(M, D)>,
    ) -> Result<f64, InspectError> {
        let (a, b) = (self.project(first)?, self.project(second)?);
        let total = a.len() + b.len();
        if total == 0 {
            return Err(InspectError::TooFewPoints {
                op: "Direction::accuracy",
                points: 0,
                needed: 1,
            });
        }
        let right = a.iter().filter(|&&p| p > self.threshold).count()
            + b.iter().filter(|&&p| p < self.threshold).count();
        Ok(right as f64 / total as f64)
    }
}

/// What [`Contrast::fit`] finds between two sets of activations.
#[derive(Clone, Debug)]
pub struct Contrast<D: Dim> {
    /// The unit mean difference (first set's mean minus the second's), thresholded halfway
    /// between the centroids.
    pub direction: Direction<D>,
    /// The norm of the mean difference (before it was made a unit vector).
    pub distance: f64,
    /// The top principal component of the two sets pooled, of norm 1 (its sign as the
    /// SVD gives it).
    pub pc1: Tensor<(D,)>,
    /// The fraction of the pooled sets' variance along PC1.
    pub pc1_ratio: f64,
    /// `|cos|` between PC1 and the mean difference (absolute: PC1's sign is arbitrary).
    pub cosine: f64,
}

impl<D: Dim> Contrast<D> {
    /// Fits the mean-difference direction of `first` against `second` and a two-component
    /// PCA of their rows pooled.
    ///
    /// An error when the widths differ, a set is empty, the pooled rows are fewer than 2,
    /// the width is below 2, the centroids coincide (no direction), or a value is not
    /// finite ([`InspectError::Numeric`]).
    pub fn fit<N: Dim, M: Dim>(
        first: &Tensor<(N, D)>,
        second: &Tensor<(M, D)>,
    ) -> Result<Self, InspectError>
    where
        Kept: RankAtMost<Pooled, D>,
    {
        let diff = mean_difference(first, second)?;
        let width = diff.dims()[0];
        let rows = first.dims()[0] + second.dims()[0];
        if rows.min(width) < 2 {
            return Err(InspectError::TooFewPoints {
                op: "Contrast::fit",
                points: rows.min(width),
                needed: 2,
            });
        }
        let distance = norm(diff.as_slice());
        if !distance.is_finite() {
            return Err(crate::NumericError::NonFinite {
                op: "Contrast::fit",
                shape: format!("{:?}", first.shape()),
            }
            .into());
        }
        if distance == 0.0 {
            return Err(crate::NumericError::InvalidArgument {
                op: "Contrast::fit",
                shape: format!("{:?}", first.shape()),
                name: "the two sets' centroids",
                value: "equal".into(),
                rule: "must differ for the mean difference to have a direction",
            }
            .into());
        }
        let unit: Vec<f32> = diff
            .as_slice()
            .iter()
            .map(|&v| (f64::from(v) / distance) as f32)
            .collect();
        let unit = Tensor::from_vec_with(diff.shape(), unit)?;
        let mut direction = Direction {
            unit,
            threshold: 0.0,
        };
        let mean = |p: Vec<f64>| p.iter().sum::<f64>() / p.len() as f64;
        direction.threshold =
            (mean(direction.project(first)?) + mean(direction.project(second)?)) / 2.0;

        let mut pooled = first.as_slice().to_vec();
        pooled.extend_from_slice(second.as_slice());
        let pooled = Tensor::from_vec_with((Pooled::new(rows), diff.shape().0), pooled)?;
        let pca = Pca::<D, Kept>::try_fit_with(&pooled, Kept::new(2))?;
        let pc1: Vec<f32> = pca.components().as_slice()[..width].to_vec();
        let n1 = norm(&pc1);
        let pc1: Vec<f32> = pc1.iter().map(|&v| (f64::from(v) / n1) as f32).collect();
        let cosine = pc1
            .iter()
            .zip(direction.unit.as_slice())
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum::<f64>()
            .abs();
        Ok(Contrast {
            direction,
            distance,
            pc1: Tensor::from_vec_with(diff.shape(), pc1)?,
            pc1_ratio: f64::from(pca.explained_variance_ratio().as_slice()[0]),
            cosine,
        })
    }
}

fn norm(x: &[f32]) -> f64 {
    x.iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::dim!(pub Rows; pub Cols);

    fn rows(v: Vec<f32>, w: usize) -> Tensor<(Rows, Cols)> {
        Tensor::from_vec_with((Rows::new(v.len() / w), Cols::new(w)), v).unwrap()
    }

    #[test]
    fn a_shifted_cloud_is_found_and_classified() {
        // Two clouds spread along axis 2, apart along axis 0.
        let mut a = Vec::new();
        let mut b = Vec::new();
        for i in 0..10 {
            let t = i as f32 - 4.5;
            a.extend([1.0, 0.0, 10.0 * t, 0.1 * t]);
            b.extend([-1.0, 0.0, 10.0 * t, -0.1 * t]);
        }
        let (a, b) = (rows(a, 4), rows(b, 4));
        let c = Contrast::fit(&a, &b).unwrap();
        let u = c.direction.unit().as_slice();
        assert!((u[0] - 1.0).abs() < 1e-6 && u[2].abs() < 1e-6, "{u:?}");
        assert!(c.direction.threshold().abs() < 1e-9);
        assert!((c.distance - 2.0).abs() < 1e-9);
        // PC1 is the spread, not the difference: the cosine says so.
        assert!(c.pc1_ratio > 0.99, "{}", c.pc1_ratio);
        assert!(c.cosine < 1e-3, "{}", c.cosine);
        assert!(c.pc1.as_slice()[2].abs() > 0.99);
        assert_eq!(c.direction.accuracy(&a, &b).unwrap(), 1.0);
        // Swapped sets are all on the wrong side.
        assert_eq!(c.direction.accuracy(&b, &a).unwrap(), 0.0);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let a = rows(vec![1.0, 2.0, 3.0, 4.0], 2);
        let e = Contrast::fit(&a, &a).unwrap_err();
        assert!(e.to_string().contains("must differ"), "{e}");
        let wide = rows(vec![1.0, 2.0, 3.0], 3);
        assert!(Contrast::fit(&a, &wide).is_err());
        let b = rows(vec![0.0, 0.0, 1.0, 0.0], 2);
        let c = Contrast::fit(&a, &b).unwrap();
        assert!(c.direction.project(&wide).is_err());
        let nan = rows(vec![f32::NAN, 0.0], 2);
        assert!(Contrast::fit(&a, &nan).is_err());
    }
}
