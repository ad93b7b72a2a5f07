//! PCA of activations: how much of the variance of a set of states the top components
//! explain, layer by layer, and whether labelled groups (topics) separate along them.
//!
//! [`pca_summary`] fits the existing [`Pca`] to one layer's states (one row per input) and
//! returns the top explained-variance ratios and every row's 2-D coordinates;
//! [`separation`] scores labelled 2-D points by the Fisher ratio (between-group over
//! within-group variance) and by how many points lie nearer their own group's centroid
//! than any other's.
//!
//! ```
//! use shapecheck::prelude::*;
//! use shapecheck::inspect::{pca_summary, separation};
//! dim!(pub Inputs; pub Width = 16);
//! // Two groups of points, shifted apart along a direction.
//! let x = Tensor::<(Inputs, Width)>::from_fn_with((Inputs::new(20), Width), |[i, j]| {
//!     let noise = ((i * 31 + j * 17) % 13) as f32 / 13.0 - 0.5;
//!     noise + if i < 10 && j < 4 { 3.0 } else { 0.0 }
//! });
//! let labels: Vec<usize> = (0..20).map(|i| usize::from(i >= 10)).collect();
//! let p = pca_summary(&x, 4).unwrap();
//! assert!(p.ratios[0] > 0.5);
//! let s = separation(&p.coords, &labels).unwrap();
//! assert_eq!(s.centroid_accuracy, 1.0);
//! ```

use super::InspectError;
use crate::dim::Dim;
use crate::linalg::{Pca, RankAtMost};
use crate::tensor::Tensor;

crate::dim!(
    /// The principal components kept by [`pca_summary`] (runtime).
    pub Components
);

/// One set of states seen through its principal components.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PcaSummary {
    /// The explained-variance ratio of each kept component, largest first.
    pub ratios: Vec<f64>,
    /// Each row's coordinates along the first two components.
    pub coords: Vec<[f64; 2]>,
}

/// How well labelled 2-D points separate by group.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Separation {
    /// Between-group variance over within-group variance (the trace ratio), 0 when the
    /// groups' centroids coincide; large when the groups sit apart.
    pub fisher: f64,
    /// The share of points nearer to their own group's centroid than to any other.
    pub centroid_accuracy: f64,
}

/// Fits a PCA with `min(components, rows, width)` components (at least 2) to the rows of
/// `x` and projects every row onto the first two.
///
/// An error when `x` has fewer than 2 rows or columns, or its values admit no PCA (a NaN or
/// an infinity: [`InspectError::Numeric`]).
pub fn pca_summary<N: Dim, F: Dim>(
    x: &Tensor<(N, F)>,
    components: usize,
) -> Result<PcaSummary, InspectError>
where
    Components: RankAtMost<N, F>,
{
    let (n, f) = (x.dims()[0], x.dims()[1]);
    if n.min(f) < 2 {
        return Err(InspectError::TooFewPoints {
            op: "pca_summary",
            points: n.min(f),
            needed: 2,
        });
    }
    let r = components.max(2).min(n).min(f);
    let pca = Pca::<F, Components>::try_fit_with(x, Components::new(r))?;
    let z = pca.try_transform(x)?;
    let coords = z
        .as_slice()
        .chunks_exact(r)
        .map(|row| [f64::from(row[0]), f64::from(row[1])])
        .collect();
    let ratios = pca
        .explained_variance_ratio()
        .as_slice()
        .iter()
        .map(|&v| f64::from(v))
        .collect();
    Ok(PcaSummary { ratios, coords })
}

/// Scores how far apart the groups of labelled points sit (see [`Separation`]).
///
/// An error when the labels are not one per point, or there are fewer than two groups.
pub fn separation(points: &[[f64; 2]], labels: &[usize]) -> Result<Separation, InspectError> {
    if points.len() != labels.len() {
        return Err(InspectError::Labels {
            points: points.len(),
            labels: labels.len(),
        });
    }
    let groups = labels.iter().max().map_or(0, |m| m + 1);
    let mut sums = vec![[0.0f64; 2]; groups];
    let mut counts = vec![0usize; groups];
    for (p, &l) in points.iter().zip(labels) {
        sums[l][0] += p[0];
        sums[l][1] += p[1];
        counts[l] += 1;
    }
    let present = counts.iter().filter(|&&c| c > 0).count();
    if present < 2 {
        return Err(InspectError::TooFewPoints {
            op: "separation (groups)",
            points: present,
            needed: 2,
        });
    }
    let centroids: Vec<[f64; 2]> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &c)| {
            let c = c.max(1) as f64;
            [s[0] / c, s[1] / c]
        })
        .collect();
    let n = points.len() as f64;
    let all = [
        points.iter().map(|p| p[0]).sum::<f64>() / n,
        points.iter().map(|p| p[1]).sum::<f64>() / n,
    ];
    let d2 = |a: &[f64; 2], b: &[f64; 2]| (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2);
    let between: f64 = centroids
        .iter()
        .zip(&counts)
        .map(|(c, &k)| k as f64 * d2(c, &all))
        .sum();
    let within: f64 = points
        .iter()
        .zip(labels)
        .map(|(p, &l)| d2(p, &centroids[l]))
        .sum();
    let nearest_own = points
        .iter()
        .zip(labels)
        .filter(|(p, &l)| {
            let own = d2(p, &centroids[l]);
            (0..groups).all(|g| g == l || counts[g] == 0 || d2(p, &centroids[g]) > own)
        })
        .count();
    let fisher = if within > 0.0 {
        between / within
    } else if between > 0.0 {
        f64::INFINITY
    } else {
        0.0
    };
    Ok(Separation {
        fisher,
        centroid_accuracy: nearest_own as f64 / n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::dim!(pub Rows; pub Cols);

    #[test]
    fn ratios_and_coordinates_of_a_plane() {
        // Points in a 2-D plane of a 5-D space: two components explain everything.
        let x = Tensor::<(Rows, Cols)>::from_fn_with((Rows::new(12), Cols::new(5)), |[i, j]| {
            let (a, b) = ((i as f32).sin() * 3.0, (i as f32 * 0.7).cos());
            [a, b, a + b, 0.0, a - 2.0 * b][j]
        });
        let p = pca_summary(&x, 3).unwrap();
        assert_eq!(p.ratios.len(), 3);
        assert!(
            (p.ratios[0] + p.ratios[1] - 1.0).abs() < 1e-5,
            "{:?}",
            p.ratios
        );
        assert!(p.ratios[2] < 1e-5);
        assert_eq!(p.coords.len(), 12);
        // The 2-D coordinates keep the pairwise distances of points in the plane.
        let d = |r: usize, s: usize| -> f64 {
            (0..5)
                .map(|j| f64::from(x[[r, j]] - x[[s, j]]).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        let (a, b) = (p.coords[2], p.coords[7]);
        let d2 = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
        assert!((d2 - d(2, 7)).abs() < 1e-4);
    }

    #[test]
    fn separation_scores_groups() {
        let apart = [[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]];
        let s = separation(&apart, &[0, 0, 1, 1]).unwrap();
        assert_eq!(s.centroid_accuracy, 1.0);
        assert!(s.fisher > 1000.0);
        let mixed = separation(&apart, &[0, 1, 0, 1]).unwrap();
        assert_eq!(mixed.centroid_accuracy, 0.5); // (0.1, 0) sits nearer the other centroid
        assert!(mixed.fisher < 0.01);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let p = [[0.0, 0.0], [1.0, 1.0]];
        assert_eq!(
            separation(&p, &[0]).unwrap_err().to_string(),
            "2 points but 1 labels: give one label per point"
        );
        assert!(separation(&p, &[1, 1]).is_err());
        let one = Tensor::<(Rows, Cols)>::zeros_with((Rows::new(1), Cols::new(4)));
        assert!(pca_summary(&one, 2).is_err());
        let mut nan = Tensor::<(Rows, Cols)>::zeros_with((Rows::new(3), Cols::new(4)));
        nan.as_mut_slice()[5] = f32::NAN;
        assert!(matches!(
            pca_summary(&nan, 2),
            Err(InspectError::Numeric(_))
        ));
    }
}
