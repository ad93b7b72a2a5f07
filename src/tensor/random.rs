//! Seeded random tensors. The generator is xoshiro256** seeded through SplitMix64, written
//! here so that a seed gives the same tensor on every platform and every version of every
//! dependency.

use super::Tensor;
use crate::element::Float;
use crate::shape::{Shape, StaticShape};

/// xoshiro256**: small, fast, and good enough for initialising weights and tests.
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^ (x >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal by Box–Muller (one of the pair is used; simplicity over speed).
    pub(crate) fn next_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]: ln is finite
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (core::f64::consts::TAU * u2).cos()
    }
}

impl<S: StaticShape, T: Float> Tensor<S, T> {
    /// Independent standard normal elements from a seeded generator.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let a = Tensor::<(D<64>, D<64>)>::randn(7);
    /// assert_eq!(a, Tensor::randn(7)); // same seed, same tensor
    /// let mean = a.as_slice().iter().sum::<f32>() / 4096.0;
    /// assert!(mean.abs() < 0.1);
    /// ```
    pub fn randn(seed: u64) -> Self {
        Self::randn_with(S::default(), seed)
    }

    /// Independent elements uniform in `[low, high)` from a seeded generator.
    pub fn uniform(low: T, high: T, seed: u64) -> Self {
        Self::uniform_with(S::default(), low, high, seed)
    }
}

impl<S: Shape, T: Float> Tensor<S, T> {
    /// [`randn`](Tensor::randn) of a shape given as a value.
    pub fn randn_with(shape: S, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let data = (0..shape.num_elements())
            .map(|_| T::from_f64(rng.next_normal()))
            .collect();
        Tensor::from_parts(shape, data)
    }

    /// [`uniform`](Tensor::uniform) of a shape given as a value.
    pub fn uniform_with(shape: S, low: T, high: T, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let (lo, hi) = (low.to_f64(), high.to_f64());
        let data = (0..shape.num_elements())
            .map(|_| {
                let x = T::from_f64(lo + (hi - lo) * rng.next_f64());
                // Rounding to f32 can land on `high`; keep the interval half-open.
                if x >= high {
                    low
                } else {
                    x
                }
            })
            .collect();
        Tensor::from_parts(shape, data)
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn normal_moments() {
        let mut rng = Rng::new(42);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| rng.next_normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }

    #[test]
    fn seeds_differ() {
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }
}
