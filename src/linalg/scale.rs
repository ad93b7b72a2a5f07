//! The drivers' scaling, as LAPACK's `gesdd` and `gesvd` do it: when the largest magnitude
//! of a matrix lies outside the safe range `[smlnum, bignum]` of its element type
//! (`smlnum = √safmin / ε`, `bignum = 1 / smlnum`: about 9e-13 to 1e12 for `f32`, 7e-139 to
//! 1e138 for `f64`), the matrix is multiplied by the power of two that brings its largest
//! magnitude into `[½, 1)`, factored, and its singular values are multiplied back.
//!
//! A power of two is exact (entries pushed below the subnormal range by a large downward
//! scale are below `ε` times the largest one, so they do not change the factors), so every
//! finite matrix gets the factors of its exact value; the singular vectors do not depend
//! on the scale at all. Inside the safe range nothing is scaled and nothing changes, bit
//! for bit. A singular value beyond the type's largest finite value (a matrix of `f32::MAX`s
//! has one) is a [`Failure::Overflow`]: no finite value is right.

use std::borrow::Cow;

use super::{Factors, Failure};
use crate::element::Float;

/// The largest magnitude of `a` (0 for an empty slice), or [`Failure::NonFinite`].
pub(crate) fn max_abs<T: Float>(a: &[T]) -> Result<f64, Failure> {
    let mut amax = 0.0f64;
    for x in a {
        if !x.is_finite() {
            return Err(Failure::NonFinite);
        }
        amax = amax.max(x.to_f64().abs());
    }
    Ok(amax)
}

/// Whether `T` is `f32` (`Float` is sealed to f32 and f64; their epsilons tell them apart).
fn is_f32<T: Float>() -> bool {
    T::EPSILON.to_f64() == f64::from(f32::EPSILON)
}

/// LAPACK's safe range `[smlnum, bignum]` for `T`.
fn safe_range<T: Float>() -> (f64, f64) {
    let (tiny, eps) = if is_f32::<T>() {
        (f64::from(f32::MIN_POSITIVE), f64::from(f32::EPSILON))
    } else {
        (f64::MIN_POSITIVE, f64::EPSILON)
    };
    let small = tiny.sqrt() / eps;
    (small, 1.0 / small)
}

/// `e` with `x = m·2^e`, `m ∈ [½, 1)`, for a finite `x > 0`.
fn exponent(x: f64) -> i32 {
    let raw = ((x.to_bits() >> 52) & 0x7ff) as i32;
    if raw == 0 {
        // Subnormal: 2^64 brings it into the normal range exactly.
        exponent(x * f64::from_bits((1023 + 64) << 52)) - 64
    } else {
        raw - 1022
    }
}

/// The `k` such that `2^k·amax ∈ [½, 1)`, when `amax` (finite) is outside the safe range of
/// `T`; `None` inside it, and for 0.
pub(crate) fn scale_exponent<T: Float>(amax: f64) -> Option<i32> {
    let (small, big) = safe_range::<T>();
    if amax == 0.0 || (small..=big).contains(&amax) {
        None
    } else {
        Some(-exponent(amax))
    }
}

/// `2^k` as a `T`, for `|k|` at most [`max_step`].
fn pow2<T: Float>(k: i32) -> T {
    debug_assert!((-1022..=1023).contains(&k));
    T::from_f64(f64::from_bits(((1023 + k) as u64) << 52))
}

/// The largest `|k|` for which `2^k` is a normal `T`, rounded down.
fn max_step<T: Float>() -> i32 {
    if is_f32::<T>() {
        120
    } else {
        1020
    }
}

/// `x · 2^k` for every element, in equal steps that each fit `T` (a scale that brings a
/// subnormal `f64` to 1 is 2^1073, beyond the largest `f64`); for the scales of a matrix
/// into the safe range that is two halves, each exact.
pub(crate) fn scale_by<T: Float>(x: &mut [T], k: i32) {
    let steps = k.unsigned_abs().div_ceil(max_step::<T>() as u32).max(1) as i32;
    let mut done = 0;
    for i in 1..=steps {
        let next = k * i / steps;
        let p = pow2::<T>(next - done);
        x.iter_mut().for_each(|v| *v *= p);
        done = next;
    }
}

/// `a` scaled into the safe range, with the exponent applied (0 when `a` is already in it:
/// then `a` is borrowed, not copied); [`Failure::NonFinite`] for a NaN or an infinity.
pub(crate) fn into_safe_range<T: Float>(a: &[T]) -> Result<(Cow<'_, [T]>, i32), Failure> {
    match scale_exponent::<T>(max_abs(a)?) {
        None => Ok((Cow::Borrowed(a), 0)),
        Some(k) => {
            let mut b = a.to_vec();
            scale_by(&mut b, k);
            Ok((Cow::Owned(b), k))
        }
    }
}

/// `x · 2^-k` for values computed from data scaled by `2^k`: [`Failure::Overflow`] when one
/// leaves `T`'s finite range.
pub(crate) fn unscale<T: Float>(x: &mut [T], k: i32) -> Result<(), Failure> {
    if k != 0 {
        scale_by(x, -k);
        if !x.iter().all(|v| v.is_finite()) {
            return Err(Failure::Overflow);
        }
    }
    Ok(())
}

/// Runs the factorisation `run` on `a` scaled into the safe range (see the module docs),
/// and brings the singular values back to `a`'s scale.
pub(crate) fn factor_scaled<T: Float>(
    a: &[T],
    run: impl FnOnce(&[T]) -> Result<Factors<T>, Failure>,
) -> Result<Factors<T>, Failure> {
    let (a, k) = into_safe_range(a)?;
    let mut f = run(&a)?;
    unscale(&mut f.s, k)?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_and_ranges() {
        assert_eq!(exponent(1.0), 1);
        assert_eq!(exponent(0.5), 0);
        assert_eq!(exponent(0.75), 0);
        assert_eq!(exponent(f64::MAX), 1024);
        assert_eq!(exponent(f64::MIN_POSITIVE), -1021);
        assert_eq!(exponent(5e-324), -1073);
        assert_eq!(scale_exponent::<f64>(1.0), None);
        assert_eq!(scale_exponent::<f64>(1e300), Some(-997));
        assert_eq!(scale_exponent::<f32>(1e300), Some(-997));
        assert_eq!(scale_exponent::<f32>(1e13), Some(-44));
        assert_eq!(scale_exponent::<f64>(1e13), None);
        assert_eq!(scale_exponent::<f32>(1e-40), Some(132));
    }

    #[test]
    fn scaling_is_exact_at_both_ends() {
        let mut x = [f64::MAX, -f64::MAX / 3.0];
        let k = scale_exponent::<f64>(f64::MAX).unwrap();
        scale_by(&mut x, k);
        assert!(x[0] < 1.0 && x[0] >= 0.5);
        unscale(&mut x, k).unwrap();
        assert_eq!(x, [f64::MAX, -f64::MAX / 3.0]);

        let tiny = [1e-45f32, 3e-42, -1e-40];
        let mut y = tiny;
        let k = scale_exponent::<f32>(1e-40).unwrap();
        scale_by(&mut y, k);
        unscale(&mut y, k).unwrap();
        assert_eq!(y, tiny);

        let mut z = [f32::MAX];
        assert_eq!(unscale(&mut z, -1), Err(Failure::Overflow));

        // A variance scales by twice the exponent: several steps, still exact.
        let mut v = [1.5f64];
        scale_by(&mut v, -2 * 1073);
        assert_eq!(v, [0.0]);
        let tiny = 1.5 * f64::MIN_POSITIVE / 2f64.powi(48); // 1.5·2^-1070, subnormal
        let mut v = [tiny];
        scale_by(&mut v, 2000);
        assert_eq!(v, [1.5 * 2f64.powi(930)]);
        scale_by(&mut v, -2000);
        assert_eq!(v, [tiny]);
    }
}
