//! The randomized truncated SVD of Halko, Martinsson and Tropp (2011): a range finder with
//! oversampling and power iterations, then the exact SVD of the small projected matrix.
//!
//! For a rank `r` and `l = r + oversample` columns (at most `min(m, n)`):
//!
//! 1. `Y = A·Ω` with a Gaussian `Ω: n × l`;
//! 2. `power_iters` times: `Q = orth(Y)`, `Z = orth(Aᵀ·Q)`, `Y = A·Z` (re-orthonormalising
//!    at each half step keeps the small singular directions from drowning in rounding);
//! 3. `Q = orth(Y)`, `B = Qᵀ·A` (`l × n`), `B = Ũ·S·Vt` (exact), `U = Q·Ũ`; keep `r`.
//!
//! Every product with `A` is a GEMM (`2·(2q + 2)·m·n·l` flops in all); the QRs and the SVD
//! of `B` cost `O((m + n)·l²)`. Workspace: a few `m × l` and `n × l` matrices.

use super::dense::{gemm, MatRef};
use super::householder::thin_q;
use super::rank::RankAtMost;
use super::scale::factor_scaled;
use super::svd::{check_rank, factor, failure_error, truncate, TruncatedSvd};
use super::{Factors, Failure};
use crate::dim::{Dim, Dyn, StaticDim};
use crate::element::Float;
use crate::error::Error;
use crate::error::OrPanic;
use crate::tensor::Tensor;

/// The knobs of [`randomized_svd`](crate::Tensor::randomized_svd).
///
/// ```
/// use shapecheck::linalg::RandomizedSvd;
/// let opts = RandomizedSvd { power_iters: 3, ..RandomizedSvd::default() };
/// assert_eq!((opts.oversample, opts.power_iters, opts.seed), (10, 3, 0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandomizedSvd {
    /// Extra columns sampled beyond the rank (default 10).
    pub oversample: usize,
    /// Power iterations: each costs two more passes over the matrix and sharpens a slowly
    /// decaying spectrum (default 2).
    pub power_iters: usize,
    /// Seed of the Gaussian test matrix (default 0).
    pub seed: u64,
}

impl Default for RandomizedSvd {
    fn default() -> Self {
        RandomizedSvd {
            oversample: 10,
            power_iters: 2,
            seed: 0,
        }
    }
}

/// The randomized rank-`r` factors of the row-major `m × n` matrix `a`, scaled into the
/// safe range first as the exact SVD is (`scale.rs`): `A·Ω` of a matrix near `T::MAX` would
/// overflow.
pub(crate) fn randomized<T: Float>(
    a: &[T],
    m: usize,
    n: usize,
    r: usize,
    opts: &RandomizedSvd,
) -> Result<Factors<T>, Failure> {
    factor_scaled(a, |a| randomized_in_range(a, m, n, r, opts))
}

fn randomized_in_range<T: Float>(
    a: &[T],
    m: usize,
    n: usize,
    r: usize,
    opts: &RandomizedSvd,
) -> Result<Factors<T>, Failure> {
    let k = m.min(n);
    let l = (r + opts.oversample).min(k);
    if l == 0 {
        return Ok(Factors {
            u: vec![],
            s: vec![],
            vt: vec![],
        });
    }
    let am = MatRef::rows(a, m, n);
    let omega = Tensor::<(Dyn, Dyn), T>::randn_with((Dyn::new(n), Dyn::new(l)), opts.seed);
    let mut y = gemm(am, MatRef::rows(omega.as_slice(), n, l));
    for _ in 0..opts.power_iters {
        let q = thin_q(y, m, l);
        let z = gemm(am.t(), MatRef::rows(&q, m, l));
        let z = thin_q(z, n, l);
        y = gemm(am, MatRef::rows(&z, n, l));
    }
    let q = thin_q(y, m, l);
    let b = gemm(MatRef::rows(&q, m, l).t(), am);
    let small = factor(&b, l, n, false)?;
    let u = gemm(MatRef::rows(&q, m, l), MatRef::rows(&small.u, l, l));
    Ok(truncate(
        Factors {
            u,
            s: small.s,
            vt: small.vt,
        },
        m,
        r,
    ))
}

impl<M: Dim, N: Dim, T: Float> Tensor<(M, N), T> {
    /// The leading `R` singular triplets by the randomized method (see
    /// [`RandomizedSvd`] for the knobs): far cheaper than the exact SVD when `R` is small,
    /// and close to optimal when the spectrum decays. `R ≤ min(M, N)` is checked by the
    /// type checker.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// use shapecheck::linalg::RandomizedSvd;
    /// // An exactly rank-2 matrix is recovered to rounding.
    /// let x = Tensor::<(D<40>, D<2>), f64>::randn(1);
    /// let y = Tensor::<(D<2>, D<30>), f64>::randn(2);
    /// let a = x.matmul(&y);
    /// let t = a.randomized_svd::<D<2>>(&RandomizedSvd::default());
    /// let back = t.reconstruct();
    /// for (p, q) in back.as_slice().iter().zip(a.as_slice()) {
    ///     assert!((p - q).abs() < 1e-10);
    /// }
    /// ```
    ///
    /// # Panics
    ///
    /// When the matrix holds a NaN or an infinity, or a singular value exceeds `T`'s range;
    /// see [`try_randomized_svd_with`](Self::try_randomized_svd_with).
    #[track_caller]
    pub fn randomized_svd<R>(&self, opts: &RandomizedSvd) -> TruncatedSvd<M, N, R, T>
    where
        R: StaticDim + RankAtMost<M, N>,
    {
        self.try_randomized_svd_with(R::default(), opts).or_panic()
    }

    /// [`randomized_svd`](Self::randomized_svd) for a rank given as a value, returning
    /// `Err` when it exceeds `min(M, N)` ([`Error::Shape`]), or when the input is not
    /// finite or a singular value exceeds `T`'s range ([`Error::Numeric`]). Extreme finite
    /// inputs are scaled as for [`try_svd`](Self::try_svd).
    pub fn try_randomized_svd_with<R>(
        &self,
        r: R,
        opts: &RandomizedSvd,
    ) -> Result<TruncatedSvd<M, N, R, T>, Error>
    where
        R: RankAtMost<M, N>,
    {
        let (m, n) = (self.dims()[0], self.dims()[1]);
        check_rank("randomized_svd", self.shape(), (m, n), r)?;
        let f = randomized(self.as_slice(), m, n, r.size(), opts)
            .map_err(|f| failure_error::<T>(f, "randomized_svd", format!("{:?}", self.shape())))?;
        let (sm, sn) = self.shape();
        Ok(TruncatedSvd {
            u: Tensor::from_parts((sm, r), f.u),
            s: Tensor::from_parts((r,), f.s),
            vt: Tensor::from_parts((r, sn), f.vt),
        })
    }
}
