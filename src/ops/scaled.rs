//! Sums of squares that neither overflow nor underflow, for `norm`, `normalize`,
//! `layer_norm` and `rms_norm`.
//!
//! The fast path squares the elements as they are. Its result is trusted when it is finite
//! and above [`tiny_sum_of_squares`] (below it, squares may have lost digits to underflow);
//! otherwise the row is scaled by a power of two `s` that brings its largest magnitude near
//! 1 — as BLAS `nrm2` divides by the largest magnitude, but exactly, since multiplying by a
//! power of two only moves the exponent — and recomputed. Ordinary rows never take the slow
//! path, so it costs them nothing.

use crate::element::Float;
use crate::kernel::pairwise;

/// The largest `e` with `2^e` finite in `T`: 127 for f32, 1023 for f64 (`Float` is sealed
/// to these two).
fn max_exp<T: Float>() -> i32 {
    if T::EPSILON.to_f64() == f64::from(f32::EPSILON) {
        127
    } else {
        1023
    }
}

/// Below this a sum of squares is not trusted: `MIN_POSITIVE / EPSILON`, about 1e-31 in
/// f32 and 1e-292 in f64.
#[inline]
pub(crate) fn tiny_sum_of_squares<T: Float>() -> T {
    // 2^(1 − max_exp) built from its bits, so that it folds to a constant (a `powi` here
    // is a library call on every row).
    let min_positive = f64::from_bits(((1 - max_exp::<T>() + 1023) as u64) << 52);
    T::from_f64(min_positive) / T::EPSILON
}

/// Whether a sum of squares computed without scaling can be used as it is.
#[inline]
pub(crate) fn is_safe_sum_of_squares<T: Float>(ss: T) -> bool {
    ss.is_finite() && ss >= tiny_sum_of_squares::<T>()
}

/// The largest `|x|` (NaN ignored; 0 for no elements).
#[inline]
pub(crate) fn max_abs<T: Float>(xs: impl Iterator<Item = T>) -> T {
    xs.fold(T::ZERO, |m, x| m.max(x.abs()))
}

/// A power of two `s` and its inverse such that `m·s` is near 1 (within the range `T` can
/// scale to), for a finite `m > 0`. Multiplying by either is exact.
pub(crate) fn pow2_scale<T: Float>(m: T) -> (T, T) {
    let e = m.to_f64().log2().floor() as i32;
    let lim = max_exp::<T>() - 1;
    let k = (-e).clamp(-lim, lim);
    (T::from_f64(2f64.powi(k)), T::from_f64(2f64.powi(-k)))
}

/// The Euclidean norm of `xs`, given `ss`, the sum of their squares computed without
/// scaling: `√ss` when that is safe, else computed on the scaled elements. A NaN element
/// gives NaN, an infinite one +∞.
pub(crate) fn norm_from_sum_of_squares<T: Float, I>(ss: T, xs: I) -> T
where
    I: Iterator<Item = T> + Clone,
{
    if is_safe_sum_of_squares(ss) || ss.is_nan() {
        return ss.sqrt();
    }
    let m = max_abs(xs.clone());
    if m == T::ZERO || !m.is_finite() {
        return m;
    }
    let (s, inv) = pow2_scale(m);
    let squares: Vec<T> = xs.map(|x| (x * s) * (x * s)).collect();
    pairwise::sum(&squares).sqrt() * inv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_untrusted_range_ends_at_min_positive_over_epsilon() {
        assert_eq!(
            tiny_sum_of_squares::<f32>(),
            f32::MIN_POSITIVE / f32::EPSILON
        );
        assert_eq!(
            tiny_sum_of_squares::<f64>(),
            f64::MIN_POSITIVE / f64::EPSILON
        );
    }

    #[test]
    fn scales_are_exact_powers_of_two_in_range() {
        for m in [3e38f32, 1.0, 1e-45, 1e-30, 5e19] {
            let (s, inv) = pow2_scale(m);
            assert!(
                s.is_finite() && s > 0.0 && inv.is_finite() && inv > 0.0,
                "{m}"
            );
            assert_eq!(s.to_bits() & 0x007f_ffff, 0, "{s} is a power of two");
            let y = m * s;
            assert!((2f32.powi(-24)..4.0).contains(&y), "{m} scales to {y}");
        }
        let (s, _) = pow2_scale(1e-310f64);
        assert!((1e-310 * s) > 1e-20);
    }

    #[test]
    fn norms_at_the_ends_of_the_range() {
        let n = |xs: &[f32]| {
            norm_from_sum_of_squares(xs.iter().map(|x| x * x).sum(), xs.iter().copied())
        };
        let rel = |a: f32, b: f32| ((a - b) / b).abs();
        assert!(rel(n(&[3e19, 4e19]), 5e19) < 3e-7);
        assert!(rel(n(&[3e-30, 4e-30]), 5e-30) < 3e-7);
        assert_eq!(n(&[3e38, 3e38]), f32::INFINITY); // √2·3e38 is beyond f32
        assert_eq!(n(&[0.0, 0.0]), 0.0);
        assert_eq!(n(&[f32::INFINITY, 1.0]), f32::INFINITY);
        assert!(n(&[f32::NAN, 1e30]).is_nan());
    }
}
