//! Concentration of measure, measured: how far apart a set of points really is (the ratio
//! of the largest to the smallest pairwise distance) and how their directions spread (the
//! distribution of pairwise cosine similarities).
//!
//! For `n` independent standard Gaussian points in `d` dims, a squared distance is
//! `2·χ²_d`: its mean is `2d` and its relative spread `√(2/d)`, so a distance is
//! `√(2d)·(1 + z/√(2d))` to first order. The extremes of the `m = n(n−1)/2` pairs sit
//! near `z = ±√(2 ln m)`, which gives [`predicted_ratio`]: `1 + 2·√(ln m / d)`, falling
//! toward 1 as `d` grows. It is a first-order estimate: the pairs are not independent (which
//! narrows the extremes) and the chi distribution is skewed at small `d` (which lowers the
//! minimum), so measured ratios sit within a factor of about 1.5 of it for `d ≥ 32`.
//! The cosine of two independent random directions has mean 0 and variance `1/d`, so
//! `d·mean(cos²)` is near 1, within a few `√(2/pairs)` (the pairs' squared cosines are
//! uncorrelated: given one vector, the cosine with each other one has mean square `1/d`).
//!
//! ```
//! use shapecheck::prelude::*;
//! use shapecheck::inspect::{cosine_stats, distance_stats};
//! dim!(pub Points; pub Width);
//! let x = Tensor::<(Points, Width), f64>::randn_with((Points::new(40), Width::new(512)), 7);
//! let dist = distance_stats(&x).unwrap();
//! assert!(dist.ratio > 1.0 && dist.ratio < 1.6); // far from the ratios of 2-D points
//! let cos = cosine_stats(&x.normalize()).unwrap();
//! assert!((cos.mean_sq * 512.0 - 1.0).abs() < 5.0 * (2.0 / cos.pairs as f64).sqrt());
//! ```

use super::InspectError;
use crate::dim::Dim;
use crate::element::Float;
use crate::ops::Unit;
use crate::tensor::Tensor;

/// The pairwise Euclidean distances of a set of points, summarised.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct DistanceStats {
    /// The points.
    pub points: usize,
    /// The pairs, `points·(points − 1)/2`.
    pub pairs: usize,
    /// The smallest distance (0 when two points coincide).
    pub min: f64,
    /// The largest distance.
    pub max: f64,
    /// The mean distance.
    pub mean: f64,
    /// `max / min`: infinite when two points coincide, NaN when a coordinate is NaN.
    pub ratio: f64,
}

/// The pairwise cosine similarities of a set of unit vectors.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct CosineStats {
    /// The vectors.
    pub points: usize,
    /// The pairs, `points·(points − 1)/2`.
    pub pairs: usize,
    /// The mean cosine.
    pub mean: f64,
    /// The mean squared cosine (`1/d` for random directions in `d` dims).
    pub mean_sq: f64,
    /// The variance of the cosines about their mean.
    pub variance: f64,
    /// The smallest cosine.
    pub min: f64,
    /// The largest cosine.
    pub max: f64,
    /// Every pair's cosine, row by row over the upper triangle (`(0,1), (0,2), …`).
    pub values: Vec<f64>,
}

fn too_few(op: &'static str, points: usize) -> InspectError {
    InspectError::TooFewPoints {
        op,
        points,
        needed: 2,
    }
}

/// The pairwise distances of the rows of `x`, computed from the differences in `f64` (not
/// from a Gram matrix, whose cancellation would spoil the small distances).
///
/// An error when `x` has fewer than two rows. A NaN coordinate makes every statistic NaN.
pub fn distance_stats<N: Dim, F: Dim, T: Float>(
    x: &Tensor<(N, F), T>,
) -> Result<DistanceStats, InspectError> {
    let (n, f) = (x.dims()[0], x.dims()[1]);
    if n < 2 {
        return Err(too_few("distance_stats", n));
    }
    let rows: Vec<&[T]> = x.as_slice().chunks_exact(f.max(1)).take(n).collect();
    let (mut min, mut max, mut sum, mut nan) = (f64::INFINITY, 0.0f64, 0.0f64, false);
    for i in 0..n {
        for j in i + 1..n {
            let d2: f64 = if f == 0 {
                0.0
            } else {
                rows[i]
                    .iter()
                    .zip(rows[j])
                    .map(|(a, b)| (a.to_f64() - b.to_f64()).powi(2))
                    .sum()
            };
            let d = d2.sqrt();
            nan |= d.is_nan();
            min = min.min(d);
            max = max.max(d);
            sum += d;
        }
    }
    let pairs = n * (n - 1) / 2;
    if nan {
        let nan = f64::NAN;
        return Ok(DistanceStats {
            points: n,
            pairs,
            min: nan,
            max: nan,
            mean: nan,
            ratio: nan,
        });
    }
    Ok(DistanceStats {
        points: n,
        pairs,
        min,
        max,
        mean: sum / pairs as f64,
        ratio: if min > 0.0 { max / min } else { f64::INFINITY },
    })
}

/// The pairwise cosine similarities of the rows of `x` (one GEMM, `x·xᵀ`); taking a
/// [`Unit`] is what makes them cosines. An error when `x` has fewer than two rows; a NaN
/// row makes its cosines, and so the statistics, NaN.
pub fn cosine_stats<N: Dim, F: Dim, T: Float>(
    x: &Unit<(N, F), T>,
) -> Result<CosineStats, InspectError> {
    let n = x.as_tensor().dims()[0];
    if n < 2 {
        return Err(too_few("cosine_stats", n));
    }
    let sims = x.similarity(x);
    let s = sims.as_slice();
    let values: Vec<f64> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| s[i * n + j].to_f64()))
        .collect();
    let pairs = values.len() as f64;
    let mean = values.iter().sum::<f64>() / pairs;
    let mean_sq = values.iter().map(|c| c * c).sum::<f64>() / pairs;
    let variance = values.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / pairs;
    // f64::min would skip a NaN; fold so that one NaN makes the extremes NaN too.
    let extreme = |pick: fn(f64, f64) -> f64| {
        values
            .iter()
            .copied()
            .reduce(|a, b| {
                if a.is_nan() || b.is_nan() {
                    f64::NAN
                } else {
                    pick(a, b)
                }
            })
            .unwrap_or(f64::NAN)
    };
    Ok(CosineStats {
        points: n,
        pairs: values.len(),
        mean,
        mean_sq,
        variance,
        min: extreme(f64::min),
        max: extreme(f64::max),
        values,
    })
}

/// `1 + 2·√(ln m / d)` with `m = n(n−1)/2` pairs: the max/min distance ratio expected of
/// `n` standard Gaussian points in `d` dims (see the [module](self) documentation).
pub fn predicted_ratio(points: usize, dims: usize) -> f64 {
    let pairs = (points * points.saturating_sub(1) / 2).max(1) as f64;
    1.0 + 2.0 * (pairs.ln() / dims.max(1) as f64).sqrt()
}

/// Counts of `values` in `bins` equal bins over `[lo, hi]` (values outside are clamped
/// into the end bins; NaNs are not counted).
pub fn histogram(values: &[f64], bins: usize, lo: f64, hi: f64) -> Vec<usize> {
    let mut counts = vec![0; bins];
    if bins == 0 || hi <= lo {
        return counts;
    }
    let width = (hi - lo) / bins as f64;
    for v in values.iter().filter(|v| !v.is_nan()) {
        let b = ((v - lo) / width).floor().clamp(0.0, (bins - 1) as f64) as usize;
        counts[b] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Norms;

    crate::dim!(pub Points; pub Width);

    fn gaussian(n: usize, d: usize, seed: u64) -> Tensor<(Points, Width), f64> {
        Tensor::randn_with((Points::new(n), Width::new(d)), seed)
    }

    #[test]
    fn distances_of_a_known_set() {
        let x = Tensor::<(Points, Width), f64>::from_vec_with(
            (Points::new(3), Width::new(2)),
            vec![0., 0., 3., 4., 0., 1.],
        )
        .unwrap();
        let s = distance_stats(&x).unwrap();
        assert_eq!((s.points, s.pairs), (3, 3));
        assert_eq!((s.min, s.max), (1.0, 5.0));
        assert!((s.mean - (5.0 + 1.0 + 18f64.sqrt()) / 3.0).abs() < 1e-12);
        assert_eq!(s.ratio, 5.0);
    }

    #[test]
    fn the_ratio_falls_toward_one_as_the_dimension_grows() {
        let ratios: Vec<f64> = [2, 8, 32, 128, 512, 2048]
            .iter()
            .map(|&d| distance_stats(&gaussian(30, d, d as u64)).unwrap().ratio)
            .collect();
        assert!(ratios.windows(2).all(|w| w[1] < w[0]), "{ratios:?}");
        assert!(ratios[5] < 1.25 && ratios[0] > 5.0, "{ratios:?}");
        // The constant of `1 + c·√(ln m / d)` implied by each measurement settles near the
        // first-order value 2 as d grows (smaller d has the chi distribution's skew).
        let implied: Vec<f64> = [32, 128, 512, 2048]
            .iter()
            .zip(&ratios[2..])
            .map(|(&d, &r)| (r - 1.0) / (predicted_ratio(30, d) - 1.0) * 2.0)
            .collect();
        eprintln!("ratios {ratios:?}, implied c {implied:?}");
        assert!(
            implied.iter().all(|c| (1.2..3.2).contains(c)),
            "{implied:?}"
        );
    }

    #[test]
    fn random_cosines_have_mean_zero_and_variance_one_over_d() {
        for (d, seed) in [(16, 1), (256, 2), (4096, 3)] {
            let c = cosine_stats(&gaussian(60, d, seed).normalize()).unwrap();
            let tol = 5.0 * (2.0 / c.pairs as f64).sqrt();
            assert!((d as f64 * c.mean_sq - 1.0).abs() < tol, "d = {d}: {c:?}");
            // The pairs' cosines are uncorrelated too, each of variance 1/d.
            assert!(
                c.mean.abs() < 5.0 / (d as f64 * c.pairs as f64).sqrt(),
                "{c:?}"
            );
            assert_eq!(c.values.len(), 60 * 59 / 2);
        }
    }

    #[test]
    fn coincident_points_give_an_infinite_ratio_and_nan_propagates() {
        let mut x = gaussian(4, 3, 5);
        let row0: Vec<f64> = x.as_slice()[..3].to_vec();
        x.as_mut_slice()[3..6].copy_from_slice(&row0);
        assert_eq!(distance_stats(&x).unwrap().ratio, f64::INFINITY);
        x.as_mut_slice()[7] = f64::NAN;
        let s = distance_stats(&x).unwrap();
        assert!(s.ratio.is_nan() && s.min.is_nan() && s.mean.is_nan());
        let c = cosine_stats(&x.normalize()).unwrap();
        assert!(c.mean.is_nan() && c.min.is_nan() && c.max.is_nan());
    }

    #[test]
    fn fewer_than_two_points_is_an_error() {
        let e = distance_stats(&gaussian(1, 3, 0)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "distance_stats needs at least 2 points, and was given 1"
        );
        assert!(cosine_stats(&gaussian(0, 3, 0).normalize()).is_err());
    }

    #[test]
    fn histogram_clamps_and_skips_nan() {
        let h = histogram(&[-2.0, 0.1, 0.6, 0.99, 5.0, f64::NAN], 2, 0.0, 1.0);
        assert_eq!(h, vec![2, 3]);
    }
}
