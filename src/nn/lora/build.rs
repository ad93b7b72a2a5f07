//! Making a [`LoRA`]: from its factors, PEFT's initialisation, the paper's, or the best
//! rank-`R` approximation of a given update; and the checks they share.

use super::{LoRA, LoraConfig};
use crate::autodiff::Param;
use crate::dim::{Dim, StaticDim};
use crate::element::Float;
use crate::error::OrPanic;
use crate::error::{Error, NumericError, ShapeError};
use crate::linalg::{check_rank, factor, failure_error, truncate, RankAtMost};
use crate::ops::Elementwise;
use crate::tensor::Tensor;

/// The scale of `B·A`: `α/R`, or `α/√R` with rsLoRA; 0 at rank 0.
pub(super) fn scale_of(config: &LoraConfig, rank: usize) -> f64 {
    let r = rank as f64;
    if rank == 0 {
        0.0
    } else if config.rslora {
        config.alpha / r.sqrt()
    } else {
        config.alpha / r
    }
}

/// `Err` unless α is finite and positive and the dropout is in `[0, 1)`.
fn check_config(op: &'static str, shape: String, config: &LoraConfig) -> Result<(), Error> {
    let invalid = |name, value: f64, rule| {
        Error::Numeric(NumericError::InvalidArgument {
            op,
            shape: shape.clone(),
            name,
            value: value.to_string(),
            rule,
        })
    };
    if !(config.alpha > 0.0 && config.alpha.is_finite()) {
        return Err(invalid(
            "alpha",
            config.alpha,
            "it must be finite and greater than 0",
        ));
    }
    if !(0.0..1.0).contains(&config.dropout) {
        return Err(invalid("dropout", config.dropout, "it must be in [0, 1)"));
    }
    Ok(())
}

impl<DIn: Dim, DOut: Dim, R: Dim, T: Float> LoRA<DIn, DOut, R, T> {
    fn from_factors(a: Tensor<(R, DIn), T>, b: Tensor<(DOut, R), T>, config: LoraConfig) -> Self {
        LoRA {
            lora_a: Param::new(a),
            lora_b: Param::new(b),
            config,
        }
    }

    /// An adapter from its factors; `A` and `B` must have the same rank dim `R`, and
    /// `R ≤ min(DIn, DOut)`. The scale is `α/R`.
    ///
    /// # Panics
    ///
    /// When runtime dims disagree; see [`try_new`](Self::try_new).
    #[track_caller]
    pub fn new(a: Tensor<(R, DIn), T>, b: Tensor<(DOut, R), T>, alpha: T) -> Self
    where
        R: RankAtMost<DIn, DOut>,
    {
        Self::try_new(a, b, alpha).or_panic()
    }

    /// [`new`](Self::new) returning `Err` when a runtime rank differs between `A` and `B`
    /// or exceeds `min(d_in, d_out)`.
    pub fn try_new(
        a: Tensor<(R, DIn), T>,
        b: Tensor<(DOut, R), T>,
        alpha: T,
    ) -> Result<Self, ShapeError>
    where
        R: RankAtMost<DIn, DOut>,
    {
        if a.dims()[0] != b.dims()[1] {
            return Err(ShapeError::incompatible_described(
                "LoRA::new",
                format!("A {:?}", a.shape()),
                format!("B {:?}", b.shape()),
                format!("A has rank {} and B has rank {}", a.dims()[0], b.dims()[1]),
            ));
        }
        let (din, dout) = (a.dims()[1], b.dims()[0]);
        check_rank(
            "LoRA::new",
            (b.shape().0, a.shape().1),
            (din, dout),
            a.shape().0,
        )?;
        Ok(Self::from_factors(a, b, LoraConfig::alpha(alpha.to_f64())))
    }

    /// PEFT's initialisation for a weight `(DOut, DIn)`, of rank `rank`: `A`
    /// Kaiming-uniform as `kaiming_uniform_(a=√5)` draws it (uniform in `±1/√DIn`,
    /// seeded), `B` zero, so the adapted layer starts equal to the frozen one. `Err` when
    /// α is not finite and positive, the dropout not in `[0, 1)`, or the rank above
    /// `min(DIn, DOut)`.
    ///
    /// ```
    /// use shapecheck::nn::lora::{LoRA, LoraConfig};
    /// use shapecheck::prelude::*;
    /// dim!(pub DModel = 8; pub Rank);
    /// let mut ad = LoRA::<DModel, DModel, Rank, f64>::new_with(
    ///     (DModel, DModel), Rank::new(2), LoraConfig::default(), 0)?;
    /// assert_eq!((ad.rank(), ad.scale(), ad.num_params()), (2, 4.0, 2 * (8 + 8)));
    /// *ad.b_mut() = Tensor::randn_with((DModel, Rank::new(2)), 1);
    /// let mut w = Tensor::<(DModel, DModel), f64>::zeros();
    /// ad.merge(&mut w);
    /// assert_eq!(w, ad.delta());
    /// # Ok::<(), shapecheck::Error>(())
    /// ```
    pub fn new_with(
        (din, dout): (DIn, DOut),
        rank: R,
        config: LoraConfig,
        seed: u64,
    ) -> Result<Self, Error>
    where
        R: RankAtMost<DIn, DOut>,
    {
        Self::peft("LoRA::new", (din, dout), rank, config, seed)
    }

    /// [`new_with`](Self::new_with) under the name of the caller's op, for its messages.
    pub(crate) fn peft(
        op: &'static str,
        (din, dout): (DIn, DOut),
        rank: R,
        config: LoraConfig,
        seed: u64,
    ) -> Result<Self, Error> {
        let shape = (dout, din);
        check_rank(op, shape, (dout.size(), din.size()), rank)?;
        check_config(op, format!("{shape:?}"), &config)?;
        // kaiming_uniform_(a = √5) on a (R, DIn) weight: gain √(2/(1 + 5)), bound
        // gain·√(3/fan_in) = 1/√DIn.
        let bound = T::from_f64(1.0 / (din.size().max(1) as f64).sqrt());
        let a = Tensor::uniform_with((rank, din), -bound, bound, seed);
        let b = Tensor::zeros_with((dout, rank));
        Ok(Self::from_factors(a, b, config))
    }

    /// [`init`](Self::init) with the dims given as values (for runtime dims).
    ///
    /// # Panics
    ///
    /// When a runtime rank exceeds `min(d_in, d_out)`; see
    /// [`try_init_with`](Self::try_init_with).
    #[track_caller]
    pub fn init_with(dims: (DIn, DOut, R), alpha: T, seed: u64) -> Self
    where
        R: RankAtMost<DIn, DOut>,
    {
        Self::try_init_with(dims, alpha, seed).or_panic()
    }

    /// [`init_with`](Self::init_with) returning `Err` when the rank exceeds
    /// `min(d_in, d_out)`.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let err = LoRA::<Dyn, Dyn, Dyn>::try_init_with(
    ///     (Dyn::new(8), Dyn::new(4), Dyn::new(6)), 1.0, 0).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "LoRA::init: cannot combine (Dyn=4, Dyn=8) with rank Dyn=6: \
    ///      the rank (6) must be at most min(rows, columns) = 4"
    /// );
    /// ```
    pub fn try_init_with(
        (din, dout, r): (DIn, DOut, R),
        alpha: T,
        seed: u64,
    ) -> Result<Self, ShapeError>
    where
        R: RankAtMost<DIn, DOut>,
    {
        check_rank("LoRA::init", (dout, din), (dout.size(), din.size()), r)?;
        let std = T::ONE / T::from_usize(din.size().max(1)).sqrt();
        let a = Tensor::<(R, DIn), T>::randn_with((r, din), seed).map(|v| v * std);
        let b = Tensor::zeros_with((dout, r));
        Ok(Self::from_factors(a, b, LoraConfig::alpha(alpha.to_f64())))
    }

    /// The best rank-`R` adapter for a weight update `ΔW`: from its truncated SVD
    /// `U·S·Vt`, `B = U·√(S/scale)` and `A = √(S/scale)·Vt`, so that `scale·B·A` is the
    /// best rank-`R` approximation of `ΔW` (Eckart–Young).
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let b = Tensor::<(D<6>, D<2>), f64>::randn(1);
    /// let a = Tensor::<(D<2>, D<5>), f64>::randn(2);
    /// let delta = b.matmul(&a); // rank 2
    /// let lora = LoRA::<D<5>, D<6>, D<2>, f64>::from_delta(&delta, 16.0);
    /// for (x, y) in lora.delta().as_slice().iter().zip(delta.as_slice()) {
    ///     assert!((x - y).abs() < 1e-12);
    /// }
    /// ```
    ///
    /// # Panics
    ///
    /// When `α` is not finite and positive, or `ΔW` holds a NaN or an infinity; see
    /// [`try_from_delta_with`](Self::try_from_delta_with).
    #[track_caller]
    pub fn from_delta(delta: &Tensor<(DOut, DIn), T>, alpha: T) -> Self
    where
        R: StaticDim + RankAtMost<DIn, DOut>,
    {
        Self::try_from_delta_with(delta, R::default(), alpha).or_panic()
    }

    /// [`from_delta`](Self::from_delta) with the rank given as a value, returning `Err` when
    /// it exceeds `min(d_in, d_out)` ([`Error::Shape`]), or ([`Error::Numeric`]) when `α`
    /// is 0, negative or not finite (the factors `√(S·R/α)` would be infinite or NaN), when
    /// `ΔW` is not finite, or when `α` is so small (or large) against `ΔW` that `B·A`, whose
    /// scale is `S·R/α`, would overflow (or underflow) `T`.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let delta = Tensor::<(D<3>, D<4>), f64>::randn(0);
    /// let err = LoRA::<D<4>, D<3>, D<2>, f64>::try_from_delta_with(&delta, D, 0.0).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "LoRA::from_delta: alpha = 0 is invalid for the input of shape (3, 4): \
    ///      it must be finite and greater than 0"
    /// );
    /// ```
    pub fn try_from_delta_with(
        delta: &Tensor<(DOut, DIn), T>,
        r: R,
        alpha: T,
    ) -> Result<Self, Error>
    where
        R: RankAtMost<DIn, DOut>,
    {
        const OP: &str = "LoRA::from_delta";
        let (dout, din) = (delta.dims()[0], delta.dims()[1]);
        check_rank(OP, delta.shape(), (dout, din), r)?;
        let shape = || format!("{:?}", delta.shape());
        if !(alpha.is_finite() && alpha > T::ZERO) {
            return Err(NumericError::InvalidArgument {
                op: OP,
                shape: shape(),
                name: "alpha",
                value: format!("{alpha}"),
                rule: "it must be finite and greater than 0",
            }
            .into());
        }
        let k = r.size();
        let f = factor(delta.as_slice(), dout, din, false)
            .map_err(|e| failure_error::<T>(e, OP, shape()))?;
        let f = truncate(f, dout, k);
        let config = LoraConfig::alpha(alpha.to_f64());
        let scale = T::from_f64(scale_of(&config, k));
        // B·A = U·(S/scale)·Vt is formed by `delta`, `merge` and (as x·Aᵀ·Bᵀ) `forward`: its
        // scale S/scale must be a normal T, or every use of the adapter over- or underflows.
        let s0 = f.s.first().copied().unwrap_or(T::ZERO);
        let top = s0 / scale;
        let normal = if T::NAME == "f32" {
            f64::from(f32::MIN_POSITIVE)
        } else {
            f64::MIN_POSITIVE
        };
        if !top.is_finite() || (s0 != T::ZERO && top.to_f64() < normal) {
            return Err(NumericError::InvalidArgument {
                op: OP,
                shape: shape(),
                name: "alpha",
                value: format!("{alpha}"),
                rule: "S·R/alpha (the scale of B·A) must be within the element type's normal \
                       range, or B·A overflows or underflows",
            }
            .into());
        }
        let root: Vec<T> = f.s.iter().map(|s| (*s / scale).sqrt()).collect();
        let mut b = f.u;
        for row in b.chunks_exact_mut(k.max(1)) {
            for (x, r) in row.iter_mut().zip(&root) {
                *x *= *r;
            }
        }
        let mut a = f.vt;
        for (row, r) in a.chunks_exact_mut(din.max(1)).zip(&root) {
            row.iter_mut().for_each(|x| *x *= *r);
        }
        let (so, si) = delta.shape();
        Ok(Self::from_factors(
            Tensor::from_parts((r, si), a),
            Tensor::from_parts((so, r), b),
            config,
        ))
    }
}
