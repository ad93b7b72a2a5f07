//! Lane numerics: the loops over one contiguous row (a lane) that softmax, attention and the
//! norms share, and the one softmax / log-softmax row of the crate. Safe code; everything
//! is `#[inline(always)]`, so a caller inside the AVX2/FMA frame of
//! [`with_avx2_fma`](super::with_avx2_fma) gets these loops compiled there (8 lanes, the
//! exponentials' polynomial in fused multiply–adds).
//!
//! # Non-finite values (PyTorch's answers)
//!
//! The maximum is subtracted before exponentiating, so finite scores (±1e4, ±1e30) never
//! give NaN or inf. A NaN in a row makes the whole row NaN. A `+∞` makes the whole row NaN
//! too (`e^(∞ − ∞)`), as in PyTorch. The one exception: a row whose elements are all `−∞`
//! (a fully masked row), or an empty one, gives zeros from softmax (−∞ from log-softmax),
//! never NaN.
#![deny(unsafe_code)]

use crate::element::Float;

/// `Σ f(x)`, pairwise ([`pairwise::sum_map`](super::pairwise::sum_map)): sixteen
/// interleaved partial sums over blocks of 256 (so the loop vectorises), the blocks
/// combined pairwise (so the rounding error grows as log n, not n).
#[inline(always)]
pub(crate) fn lane_sum<T: Float>(x: &[T], f: impl Fn(T) -> T + Copy) -> T {
    super::pairwise::sum_map(x, f)
}

/// The largest element of `x` (−∞ if empty or all −∞); NaN is skipped here: see
/// [`softmax_shift`] for the rows where that matters.
#[inline(always)]
pub(crate) fn row_max<T: Float>(x: &[T]) -> T {
    let mut m = [T::NEG_INFINITY; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for (mi, &ci) in m.iter_mut().zip(c) {
            *mi = if ci > *mi { ci } else { *mi };
        }
    }
    let mut best = chunks
        .remainder()
        .iter()
        .fold(T::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    for mi in m {
        best = if mi > best { mi } else { best };
    }
    best
}

/// The value a softmax row is shifted by, given the largest non-NaN element `max` of the
/// row `x` (from [`row_max`], possibly combined over blocks): `max` itself, unless it is
/// −∞; then a NaN of `x` if it holds one (so the NaN reaches every weight instead of the
/// row passing for fully masked), and `None` for a row that is all −∞ (or empty).
///
/// The NaN search runs only on rows whose maximum is −∞, never on the hot path.
#[inline(always)]
pub(crate) fn softmax_shift<T: Float>(x: &[T], max: T) -> Option<T> {
    if max != T::NEG_INFINITY {
        return Some(max);
    }
    x.iter().copied().find(|v| v.is_nan())
}

/// `x ← e^(x − shift)`, returning the sum of the new values (pairwise, in a second pass
/// over the row, which is in cache by then).
#[inline(always)]
pub(crate) fn exp_shifted_sum<T: Float>(x: &mut [T], shift: T) -> T {
    x.iter_mut()
        .for_each(|v| *v = (*v - shift).exp_softmax_fma());
    lane_sum(x, |v| v)
}

/// Softmax of one row in place (see the [module](self) documentation for non-finite
/// values).
#[inline(always)]
pub(crate) fn softmax_row<T: Float>(x: &mut [T]) {
    let Some(shift) = softmax_shift(x, row_max(x)) else {
        x.iter_mut().for_each(|v| *v = T::ZERO); // all −∞: a fully masked row
        return;
    };
    let inv = T::ONE / exp_shifted_sum(x, shift);
    x.iter_mut().for_each(|v| *v *= inv);
}

/// Log-softmax of one row in place (see the [module](self) documentation for non-finite
/// values; an all −∞ row stays −∞).
#[inline(always)]
pub(crate) fn log_softmax_row<T: Float>(x: &mut [T]) {
    let Some(shift) = softmax_shift(x, row_max(x)) else {
        return; // all −∞ already
    };
    let ls = lane_sum(x, |v| (v - shift).exp_softmax_fma()).ln();
    // (v − m) − ln s, not v − (m + ln s): the latter loses ln s's digits when |m| is large.
    x.iter_mut().for_each(|v| *v = (*v - shift) - ls);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_skips_nan_and_shift_finds_it() {
        let x = [
            1.0f32,
            f32::NAN,
            3.0,
            -2.0,
            0.0,
            0.0,
            0.0,
            0.0,
            5.0,
            f32::NAN,
        ];
        assert_eq!(row_max(&x), 5.0);
        let masked = [f32::NEG_INFINITY, f32::NAN];
        assert_eq!(row_max(&masked), f32::NEG_INFINITY);
        assert!(softmax_shift(&masked, f32::NEG_INFINITY).unwrap().is_nan());
        assert_eq!(
            softmax_shift(&[f32::NEG_INFINITY; 3], f32::NEG_INFINITY),
            None
        );
        assert_eq!(row_max::<f64>(&[]), f64::NEG_INFINITY);
    }

    #[test]
    fn sums_match_a_plain_sum() {
        let x: Vec<f64> = (0..37).map(|i| i as f64 * 0.5).collect();
        assert_eq!(lane_sum(&x, |v| v), x.iter().sum::<f64>());
        let mut y = x.clone();
        let s = exp_shifted_sum(&mut y, 18.0);
        let want: f64 = x.iter().map(|v| (v - 18.0).exp()).sum();
        assert!((s - want).abs() < 1e-12 * want);
        assert!(y
            .iter()
            .zip(&x)
            .all(|(e, v)| (e - (v - 18.0).exp()).abs() < 1e-15));
    }
}
