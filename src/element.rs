//! The element types a tensor can hold: [`Float`], implemented for `f32` and `f64`.
//!
//! `Float` carries the handful of scalar operations the crate needs (so no numeric-traits
//! dependency) and, through a sealed supertrait, which of the two types it is
//! ([`Kind`]): the backend (`crate::kernel`) dispatches on that constant to
//! `matrixmultiply::sgemm` or `dgemm`. The kernel depends on this module, never the other
//! way round.

use core::fmt::{Debug, Display, LowerExp};
use core::iter::Sum;
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, Sub, SubAssign};

pub(crate) use sealed::{Kind, Sealed};

mod sealed {
    /// Which element type a [`Float`](super::Float) is.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Kind {
        /// `f32`.
        F32,
        /// `f64`.
        F64,
    }

    /// Seals [`Float`](super::Float) and names the type. Implemented for `f32` (with
    /// `KIND = F32`) and `f64` (`KIND = F64`) only, in this module: code outside the crate
    /// cannot name the trait, so `T::KIND == Kind::F32` proves `T` is `f32` (the kernel
    /// relies on it to cast pointers).
    pub trait Sealed {
        /// The type this is.
        const KIND: Kind;
    }

    impl Sealed for f32 {
        const KIND: Kind = Kind::F32;
    }

    impl Sealed for f64 {
        const KIND: Kind = Kind::F64;
    }
}

/// A floating-point element type: `f32` or `f64`.
///
/// The trait is sealed: the GEMM lowering is written for exactly these two types.
///
/// ```
/// use shapecheck::Float;
/// fn mean<T: Float>(xs: &[T]) -> T {
///     xs.iter().copied().sum::<T>() / T::from_usize(xs.len())
/// }
/// assert_eq!(mean(&[1.0f32, 2.0, 3.0]), 2.0);
/// ```
pub trait Float:
    Sealed
    + Copy
    + Default
    + PartialEq
    + PartialOrd
    + Debug
    + Display
    + LowerExp
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Rem<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// The machine epsilon.
    const EPSILON: Self;
    /// Positive infinity.
    const INFINITY: Self;
    /// Negative infinity.
    const NEG_INFINITY: Self;
    /// `"f32"` or `"f64"`, for messages.
    const NAME: &'static str;

    /// Nearest value to `x`.
    fn from_f64(x: f64) -> Self;
    /// Nearest value to `n`.
    fn from_usize(n: usize) -> Self;
    /// The value as an `f64` (exact for both types).
    fn to_f64(self) -> f64;
    /// `|self|`.
    fn abs(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// `e^self`.
    fn exp(self) -> Self;
    /// `e^self` for the exponentials of softmax, in a form whose loops vectorise: f32 uses
    /// a branch-free Cephes polynomial (relative error ≤ 2e-7 against `exp`; inputs below
    /// −87.3, −∞ included, give 0); f64 is [`exp`](Self::exp).
    fn exp_softmax(self) -> Self;
    /// [`exp_softmax`](Self::exp_softmax) with its multiply–adds fused (`mul_add`): for code
    /// compiled with FMA, such as the AVX2/FMA frames of softmax and attention, where each is
    /// one instruction. Elsewhere it is correct but slow (`mul_add` is then a library call).
    fn exp_softmax_fma(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// `self^n`.
    fn powi(self, n: i32) -> Self;
    /// `self^e`.
    fn powf(self, e: Self) -> Self;
    /// Sine.
    fn sin(self) -> Self;
    /// Cosine.
    fn cos(self) -> Self;
    /// The larger of the two, ignoring NaN like `f32::max`.
    fn max(self, other: Self) -> Self;
    /// The smaller of the two, ignoring NaN like `f32::min`.
    fn min(self, other: Self) -> Self;
    /// `self * a + b`, rounded once. Without hardware FMA enabled at compile time this is a
    /// slow library call: hot loops in this crate use `*` and `+` instead.
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// The error function; f32 uses Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7),
    /// f64 a series below 2 and a continued fraction above (error ≈ 1e-15).
    fn erf(self) -> Self;
    /// Neither infinite nor NaN.
    fn is_finite(self) -> bool;
    /// NaN.
    fn is_nan(self) -> bool;
}

macro_rules! exp_softmax_impl {
    (f32, $x:expr, $fma:expr) => {
        exp_f32::<$fma>($x)
    };
    (f64, $x:expr, $fma:expr) => {
        $x.exp()
    };
}

/// `a·b + c`, fused when `FMA`.
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `e^x` by range reduction `x = n·ln 2 + r`, |r| ≤ ln 2 / 2, and Cephes' degree-7
/// polynomial for `e^r`, scaled by `2^n` built in the exponent bits. No branch and no call:
/// a loop of these compiles to SIMD. Inputs below −87.3 (where `e^x` nears the smallest
/// normal) give 0, so a masked score of −∞ becomes exactly 0.
#[inline(always)]
fn exp_f32<const FMA: bool>(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // 1.5 · 2^23: adding it rounds to an integer held in the low mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    let xc = if x > 88.5 { 88.5 } else { x };
    let xc = if xc < -87.3 { -87.3 } else { xc };
    let t = madd::<FMA>(xc, LOG2E, MAGIC);
    let n = t.to_bits() as i32 - MAGIC.to_bits() as i32;
    let fnr = t - MAGIC;
    let r = madd::<FMA>(fnr, 2.121_944_4e-4, madd::<FMA>(fnr, -0.693_359_4, xc));
    let p = 1.987_569_1e-4f32;
    let p = madd::<FMA>(p, r, 1.398_2e-3);
    let p = madd::<FMA>(p, r, 8.333_452e-3);
    let p = madd::<FMA>(p, r, 4.166_579_6e-2);
    let p = madd::<FMA>(p, r, 1.666_666_5e-1);
    let p = madd::<FMA>(p, r, 0.5);
    let e = madd::<FMA>(p, r * r, r + 1.0);
    let scale = f32::from_bits(((n + 127) << 23) as u32);
    let y = e * scale;
    if x < -87.3 {
        0.0
    } else {
        y
    }
}

macro_rules! erf_impl {
    (f32, $x:expr) => {
        erf_f32($x)
    };
    (f64, $x:expr) => {
        erf_f64($x)
    };
}

/// Abramowitz & Stegun 7.1.26: |error| ≤ 1.5e-7, about one f32 ulp near 1.
#[inline(always)]
fn erf_f32(x: f32) -> f32 {
    let (p, a1, a2, a3, a4, a5) = (
        0.327_591_1f32,
        0.254_829_6f32,
        -0.284_496_74f32,
        1.421_413_8f32,
        -1.453_152f32,
        1.061_405_4f32,
    );
    let s = x.signum();
    let x = x.abs();
    let t = 1.0 / (1.0 + p * x);
    // The polynomial exp (no libm call) lets loops of erf, hence of GELU, vectorise.
    let y = 1.0 - (((((a5 * t + a4) * t) + a3) * t + a2) * t + a1) * t * exp_f32::<false>(-x * x);
    s * y
}

/// erf in f64: the Maclaurin series for |x| < 2 (at most ~50 terms), and 1 − erfc(x) with
/// erfc from its continued fraction (modified Lentz) beyond.
fn erf_f64(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    let r = if a < 2.0 {
        let (x2, mut term, mut sum) = (a * a, a, a);
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs() {
            n += 1.0;
            term *= -x2 / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * core::f64::consts::FRAC_2_SQRT_PI
    } else if a > 6.0 {
        1.0
    } else {
        // erfc(a) = exp(-a²)/√π · 1/(a + 1/2/(a + 1/(a + 3/2/(a + …))))
        let tiny = 1e-300;
        let mut f = a;
        let (mut c, mut d) = (a, 0.0);
        for k in 1..200 {
            let an = k as f64 / 2.0;
            d = a + an * d;
            d = if d.abs() < tiny { tiny } else { d };
            c = a + an / c;
            c = if c.abs() < tiny { tiny } else { c };
            d = 1.0 / d;
            let delta = c * d;
            f *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        1.0 - (-a * a).exp() / (f * core::f64::consts::PI.sqrt())
    };
    r.copysign(x)
}

macro_rules! impl_float {
    ($t:ident) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const EPSILON: Self = $t::EPSILON;
            const INFINITY: Self = $t::INFINITY;
            const NEG_INFINITY: Self = $t::NEG_INFINITY;
            const NAME: &'static str = stringify!($t);

            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn from_usize(n: usize) -> Self {
                n as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn abs(self) -> Self {
                $t::abs(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                $t::sqrt(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                $t::exp(self)
            }
            #[inline(always)]
            fn exp_softmax(self) -> Self {
                exp_softmax_impl!($t, self, false)
            }
            #[inline(always)]
            fn exp_softmax_fma(self) -> Self {
                exp_softmax_impl!($t, self, true)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                $t::ln(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                $t::tanh(self)
            }
            #[inline(always)]
            fn powi(self, n: i32) -> Self {
                $t::powi(self, n)
            }
            #[inline(always)]
            fn powf(self, e: Self) -> Self {
                $t::powf(self, e)
            }
            #[inline(always)]
            fn sin(self) -> Self {
                $t::sin(self)
            }
            #[inline(always)]
            fn cos(self) -> Self {
                $t::cos(self)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                $t::max(self, other)
            }
            #[inline(always)]
            fn min(self, other: Self) -> Self {
                $t::min(self, other)
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                $t::mul_add(self, a, b)
            }
            #[inline(always)]
            fn erf(self) -> Self {
                erf_impl!($t, self)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                $t::is_finite(self)
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                $t::is_nan(self)
            }
        }
    };
}

impl_float!(f32);
impl_float!(f64);

#[cfg(test)]
mod tests {
    use super::Float;

    #[test]
    fn erf_matches_reference_values() {
        // Reference values of erf from high-precision tables.
        let cases = [
            (0.1, 0.112_462_916_018_284_9),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (2.9, 0.999_958_902_121_900_6),
            (3.5, 0.999_999_256_901_627_7),
            (5.0, 0.999_999_999_998_462_5),
        ];
        for (x, e) in cases {
            let got = Float::erf(x);
            assert!((got - e).abs() < 1e-14, "erf({x}) = {got} vs {e}");
            assert!((Float::erf(-x) + e).abs() < 1e-14);
            assert!(
                (Float::erf(x as f32) as f64 - e).abs() < 3e-7,
                "f32 erf({x})"
            );
        }
        assert_eq!(Float::erf(0.0f64), 0.0);
    }

    #[test]
    fn exp_softmax_f32_is_within_two_ulps_of_exp() {
        let (mut worst, mut worst_fma) = (0.0f64, 0.0f64);
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            let got = Float::exp_softmax(x) as f64;
            worst = worst.max(((got - want) / want).abs());
            let got = Float::exp_softmax_fma(x) as f64;
            worst_fma = worst_fma.max(((got - want) / want).abs());
            x += 0.001_37;
        }
        assert!(worst < 2.5e-7, "worst relative error {worst}");
        assert!(
            worst_fma < 2.5e-7,
            "worst relative error with FMA {worst_fma}"
        );
        assert_eq!(Float::exp_softmax_fma(f32::NEG_INFINITY), 0.0);
        assert_eq!(Float::exp_softmax(0.0f32), 1.0);
        assert_eq!(Float::exp_softmax(f32::NEG_INFINITY), 0.0);
        assert_eq!(Float::exp_softmax(-100.0f32), 0.0);
        assert!(Float::exp_softmax(f32::NAN).is_nan());
        assert_eq!(Float::exp_softmax(-1.5f64), (-1.5f64).exp());
    }
}
