//! LoRA (Hu et al., 2021): a frozen weight `W: (DOut, DIn)` adapted by a low-rank update
//! `ΔW = (α/R)·B·A`, with `A: (R, DIn)` and `B: (DOut, R)`.
//!
//! The types carry the rule that makes it work: `A` and `B` share the rank dim `R` (so an
//! adapter whose factors disagree on the rank does not type-check), an input must have
//! width `DIn`, and [`RankAtMost`] keeps `R ≤ min(DIn, DOut)` (a larger rank saves nothing
//! and is not a low-rank update). The forward pass is `x·Wᵀ + (α/R)·(x·Aᵀ)·Bᵀ`, three GEMMs
//! of which two are thin; `B·A` is never formed there (only by [`LoRA::merge`]).

use crate::dim::{Dim, StaticDim};
use crate::element::Float;
use crate::error::OrPanic;
use crate::error::{Error, NumericError, ShapeError};
use crate::linalg::{check_rank, factor, failure_error, truncate, RankAtMost};
use crate::ops::Elementwise;
use crate::tensor::Tensor;

/// A LoRA adapter for a weight `W: (DOut, DIn)`, of rank `R`: `A: (R, DIn)`,
/// `B: (DOut, R)`, scale `α/R`.
///
/// ```
/// use shapecheck::prelude::*;
/// dim!(pub DIn = 16);
/// dim!(pub DOut = 12);
/// dim!(pub Rank = 4);
/// dim!(pub Batch);
/// let w = Tensor::<(DOut, DIn)>::randn(0);
/// let lora = LoRA::<DIn, DOut, Rank>::init(8.0, 1); // A random, B zero
/// assert_eq!(lora.scale(), 2.0);
/// assert_eq!((lora.num_params(), lora.dense_params()), (4 * (16 + 12), 16 * 12));
/// let x = Tensor::<(Batch, DIn)>::randn_with((Batch::new(3), DIn), 2);
/// let y: Tensor<(Batch, DOut)> = lora.forward(&x, &w);
/// // With B = 0 the adapter starts as the identity update.
/// assert_eq!(y.as_slice(), x.matmul(&w.t()).as_slice());
/// ```
///
/// An input of the wrong width is a type error:
///
/// ```compile_fail
/// use shapecheck::prelude::*;
/// dim!(pub DIn = 16);
/// dim!(pub DOut = 12);
/// let w = Tensor::<(DOut, DIn)>::randn(0);
/// let lora = LoRA::<DIn, DOut, D<4>>::init(8.0, 1);
/// let x = Tensor::<(D<3>, DOut)>::randn(2);
/// let y = lora.forward(&x, &w);
/// ```
#[derive(Clone, Debug)]
pub struct LoRA<DIn: Dim, DOut: Dim, R: Dim, T: Float = f32> {
    a: Tensor<(R, DIn), T>,
    b: Tensor<(DOut, R), T>,
    alpha: T,
}

impl<DIn: Dim, DOut: Dim, R: Dim, T: Float> LoRA<DIn, DOut, R, T> {
    /// An adapter from its factors; `A` and `B` must have the same rank dim `R`, and
    /// `R ≤ min(DIn, DOut)`.
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
        Ok(LoRA { a, b, alpha })
    }

    /// The paper's initialisation for static dims: `A` Gaussian with standard deviation
    /// `1/√DIn` (seeded), `B` zero, so the adapted layer starts equal to the frozen one.
    pub fn init(alpha: T, seed: u64) -> Self
    where
        DIn: StaticDim,
        DOut: StaticDim,
        R: StaticDim + RankAtMost<DIn, DOut>,
    {
        Self::init_with((DIn::default(), DOut::default(), R::default()), alpha, seed)
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
        Ok(LoRA { a, b, alpha })
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
        let scale = scale_of(alpha, k);
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
        Ok(LoRA {
            a: Tensor::from_parts((r, si), a),
            b: Tensor::from_parts((so, r), b),
            alpha,
        })
    }

    /// `A: (R, DIn)`.
    pub fn a(&self) -> &Tensor<(R, DIn), T> {
        &self.a
    }

    /// `B: (DOut, R)`.
    pub fn b(&self) -> &Tensor<(DOut, R), T> {
        &self.b
    }

    /// `A`, mutably (for training).
    pub fn a_mut(&mut self) -> &mut Tensor<(R, DIn), T> {
        &mut self.a
    }

    /// `B`, mutably (for training).
    pub fn b_mut(&mut self) -> &mut Tensor<(DOut, R), T> {
        &mut self.b
    }

    /// `α`.
    pub fn alpha(&self) -> T {
        self.alpha
    }

    /// The rank.
    pub fn rank(&self) -> usize {
        self.a.dims()[0]
    }

    /// `α/R`, the factor of `B·A` in the update.
    pub fn scale(&self) -> T {
        scale_of(self.alpha, self.rank())
    }

    /// Trainable parameters: `R·(DIn + DOut)`.
    pub fn num_params(&self) -> usize {
        self.a.len() + self.b.len()
    }

    /// Parameters of the dense update it stands for: `DIn·DOut`.
    pub fn dense_params(&self) -> usize {
        self.a.dims()[1] * self.b.dims()[0]
    }

    /// `x·Wᵀ + scale·(x·Aᵀ)·Bᵀ` for a batch of rows `x: (Batch, DIn)`, without forming `B·A`.
    ///
    /// # Panics
    ///
    /// When runtime dims disagree; see [`try_forward`](Self::try_forward).
    #[track_caller]
    pub fn forward<Bt: Dim>(
        &self,
        x: &Tensor<(Bt, DIn), T>,
        w: &Tensor<(DOut, DIn), T>,
    ) -> Tensor<(Bt, DOut), T> {
        self.try_forward(x, w).or_panic()
    }

    /// [`forward`](Self::forward) returning `Err` when runtime dims disagree.
    pub fn try_forward<Bt: Dim>(
        &self,
        x: &Tensor<(Bt, DIn), T>,
        w: &Tensor<(DOut, DIn), T>,
    ) -> Result<Tensor<(Bt, DOut), T>, ShapeError> {
        let mut y = x.try_matmul(&w.t())?;
        let low = x.try_matmul(&self.a.t())?.try_matmul(&self.b.t())?;
        if low.dims() != y.dims() {
            return Err(ShapeError::incompatible_described(
                "LoRA::forward",
                format!("W {:?}", w.shape()),
                format!("B {:?}", self.b.shape()),
                "W and B must have the same number of output rows",
            ));
        }
        let scale = self.scale();
        for (y, l) in y.as_mut_slice().iter_mut().zip(low.as_slice()) {
            *y += scale * *l;
        }
        Ok(y)
    }

    /// `scale·B·A: (DOut, DIn)`, the update as a dense matrix.
    pub fn delta(&self) -> Tensor<(DOut, DIn), T> {
        let mut d = self.b.matmul(&self.a);
        let scale = self.scale();
        d.as_mut_slice().iter_mut().for_each(|x| *x *= scale);
        d
    }

    /// `W += scale·B·A`: after merging, `x·Wᵀ` alone is the adapted layer.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let w0 = Tensor::<(D<6>, D<5>), f64>::randn(0);
    /// let mut lora = LoRA::<D<5>, D<6>, D<2>, f64>::init(4.0, 1);
    /// *lora.b_mut() = Tensor::randn(2);
    /// let x = Tensor::<(D<3>, D<5>), f64>::randn(3);
    /// let y = lora.forward(&x, &w0);
    /// let mut w = w0.clone();
    /// lora.merge(&mut w);
    /// let merged = x.matmul(&w.t());
    /// assert!(y.as_slice().iter().zip(merged.as_slice()).all(|(a, b)| (a - b).abs() < 1e-12));
    /// lora.unmerge(&mut w);
    /// assert!(w.as_slice().iter().zip(w0.as_slice()).all(|(a, b)| (a - b).abs() < 1e-12));
    /// ```
    ///
    /// # Panics
    ///
    /// When runtime dims of `W` differ from the adapter's.
    #[track_caller]
    pub fn merge(&self, w: &mut Tensor<(DOut, DIn), T>) {
        self.add_delta(w, T::ONE);
    }

    /// `W −= scale·B·A`: undoes [`merge`](Self::merge) (to rounding).
    ///
    /// # Panics
    ///
    /// When runtime dims of `W` differ from the adapter's.
    #[track_caller]
    pub fn unmerge(&self, w: &mut Tensor<(DOut, DIn), T>) {
        self.add_delta(w, -T::ONE);
    }

    #[track_caller]
    fn add_delta(&self, w: &mut Tensor<(DOut, DIn), T>, sign: T) {
        let d = self.delta();
        if d.dims() != w.dims() {
            panic!(
                "LoRA::merge: cannot combine W {:?} with the update {:?}: the shapes differ",
                w.shape(),
                d.shape()
            );
        }
        for (w, d) in w.as_mut_slice().iter_mut().zip(d.as_slice()) {
            *w += sign * *d;
        }
    }
}

fn scale_of<T: Float>(alpha: T, r: usize) -> T {
    if r == 0 {
        T::ZERO
    } else {
        alpha / T::from_usize(r)
    }
}
