//! The typed SVD: thin ([`Svd`]), full ([`FullSvd`]) and truncated to a rank you name
//! ([`TruncatedSvd`]), with the best rank-`R` approximation built on the last.
//!
//! All of them run the same numerical core (`bidiag.rs`): a wide matrix is factored through
//! its transpose, so the work is always on a tall one.

use super::bidiag::svd_tall;
use super::dense::{gemm, transpose, MatRef};
use super::rank::{MinOf, RankAtMost};
use super::scale::factor_scaled;
use super::{Factors, Failure};
use crate::dim::{Dim, StaticDim};
use crate::element::Float;
use crate::error::OrPanic;
use crate::error::{Error, NumericError, ShapeError};
use crate::tensor::Tensor;

/// The thin SVD `A = U·diag(S)·Vt` of an `M × N` matrix, `K = min(M, N)` (the dim
/// [`MinOf<M, N>`]): `U` has orthonormal columns, `Vt` orthonormal rows, and `S` is sorted
/// descending and non-negative.
///
/// ```
/// use shapecheck::prelude::*;
/// dim!(pub Tokens = 5);
/// dim!(pub DModel = 3);
/// let a = Tensor::<(Tokens, DModel), f64>::randn(7);
/// let svd = a.svd();
/// assert_eq!(svd.u.dims().as_slice(), &[5, 3]);
/// assert_eq!(format!("{:?}", svd.vt.shape()), "(min(Tokens, DModel)=3, DModel=3)");
/// let back = svd.reconstruct();
/// for (x, y) in back.as_slice().iter().zip(a.as_slice()) {
///     assert!((x - y).abs() < 1e-12);
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Svd<M: Dim, N: Dim, T: Float = f32> {
    /// Left singular vectors, as columns: `(M, K)`.
    pub u: Tensor<(M, MinOf<M, N>), T>,
    /// Singular values, descending: `(K,)`.
    pub s: Tensor<(MinOf<M, N>,), T>,
    /// Right singular vectors, as rows: `(K, N)`.
    pub vt: Tensor<(MinOf<M, N>, N), T>,
}

/// The full SVD: `U: (M, M)` and `Vt: (N, N)` square orthogonal, `S: (K,)` with
/// `K = min(M, N)`; the extra columns of `U` (or rows of `Vt`) span the complement.
///
/// ```
/// use shapecheck::prelude::*;
/// let a = Tensor::<(D<4>, D<2>), f64>::randn(1);
/// let svd = a.svd_full();
/// let uut = svd.u.matmul(&svd.u.t()); // (4, 4): the identity
/// for i in 0..4 {
///     for j in 0..4 {
///         let id = if i == j { 1.0 } else { 0.0 };
///         assert!((uut[[i, j]] - id).abs() < 1e-12);
///     }
/// }
/// ```
#[derive(Clone, Debug)]
pub struct FullSvd<M: Dim, N: Dim, T: Float = f32> {
    /// Left singular vectors and a basis of their complement: `(M, M)`.
    pub u: Tensor<(M, M), T>,
    /// Singular values, descending: `(K,)`.
    pub s: Tensor<(MinOf<M, N>,), T>,
    /// Right singular vectors and a basis of their complement, as rows: `(N, N)`.
    pub vt: Tensor<(N, N), T>,
}

/// The leading `R` singular triplets of an `M × N` matrix: `U: (M, R)`, `S: (R,)`,
/// `Vt: (R, N)`. `U·diag(S)·Vt` is the best rank-`R` approximation (Eckart–Young).
///
/// The rank is a dim, and [`RankAtMost`] checks `R ≤ min(M, N)` in the type:
///
/// ```
/// use shapecheck::prelude::*;
/// dim!(pub Rank = 2);
/// let a = Tensor::<(D<6>, D<4>)>::randn(0);
/// let t = a.truncated_svd::<Rank>();
/// assert_eq!(format!("{:?}", t.u.shape()), "(6, Rank=2)");
/// ```
///
/// ```compile_fail
/// use shapecheck::prelude::*;
/// let a = Tensor::<(D<6>, D<4>)>::randn(0);
/// let t = a.truncated_svd::<D<5>>(); // rank `D<5>` must be at most min(`D<6>`, `D<4>`)
/// ```
#[derive(Clone, Debug)]
pub struct TruncatedSvd<M: Dim, N: Dim, R: Dim, T: Float = f32> {
    /// The leading left singular vectors, as columns: `(M, R)`.
    pub u: Tensor<(M, R), T>,
    /// The leading singular values, descending: `(R,)`.
    pub s: Tensor<(R,), T>,
    /// The leading right singular vectors, as rows: `(R, N)`.
    pub vt: Tensor<(R, N), T>,
}

/// `U·diag(s)·Vt` for row-major `u: m × k`, `vt: k × n`.
pub(crate) fn product<T: Float>(u: &[T], s: &[T], vt: &[T], m: usize, n: usize) -> Vec<T> {
    let k = s.len();
    let mut us = u.to_vec();
    for row in us.chunks_exact_mut(k.max(1)) {
        for (x, s) in row.iter_mut().zip(s) {
            *x *= *s;
        }
    }
    gemm(MatRef::rows(&us, m, k), MatRef::rows(vt, k, n))
}

impl<M: Dim, N: Dim, T: Float> Svd<M, N, T> {
    /// `U·diag(S)·Vt`: the matrix again, to rounding.
    pub fn reconstruct(&self) -> Tensor<(M, N), T> {
        let (m, n) = (self.u.dims()[0], self.vt.dims()[1]);
        let data = product(
            self.u.as_slice(),
            self.s.as_slice(),
            self.vt.as_slice(),
            m,
            n,
        );
        Tensor::from_parts((self.u.shape().0, self.vt.shape().1), data)
    }
}

impl<M: Dim, N: Dim, R: Dim, T: Float> TruncatedSvd<M, N, R, T> {
    /// `U·diag(S)·Vt`: the best rank-`R` approximation of the matrix factored (for the
    /// exact truncation; a randomized one is close to it).
    pub fn reconstruct(&self) -> Tensor<(M, N), T> {
        let (m, n) = (self.u.dims()[0], self.vt.dims()[1]);
        let data = product(
            self.u.as_slice(),
            self.s.as_slice(),
            self.vt.as_slice(),
            m,
            n,
        );
        Tensor::from_parts((self.u.shape().0, self.vt.shape().1), data)
    }
}

/// The SVD of the row-major `m × n` matrix `a`: thin (`u: m × k`, `vt: k × n`) or full
/// (`u: m × m`, `vt: n × n`). A matrix whose largest magnitude is outside the safe range
/// is scaled first (`scale.rs`), so every finite matrix gets its factors.
pub(crate) fn factor<T: Float>(
    a: &[T],
    m: usize,
    n: usize,
    full: bool,
) -> Result<Factors<T>, Failure> {
    factor_scaled(a, |a| factor_in_range(a, m, n, full))
}

fn factor_in_range<T: Float>(
    a: &[T],
    m: usize,
    n: usize,
    full: bool,
) -> Result<Factors<T>, Failure> {
    if m >= n {
        let r = svd_tall(a.to_vec(), m, n, full)?;
        Ok(Factors {
            u: r.u,
            s: r.s,
            vt: transpose(&r.v, n, n),
        })
    } else {
        // Aᵀ = U'·S·V'ᵀ, so A = V'·S·U'ᵀ.
        let r = svd_tall(transpose(a, m, n), n, m, full)?;
        let ucols = if full { n } else { m };
        Ok(Factors {
            u: r.v,
            s: r.s,
            vt: transpose(&r.u, n, ucols),
        })
    }
}

/// The leading `r` triplets of a thin factorisation with `k ≥ r` columns.
pub(crate) fn truncate<T: Float>(f: Factors<T>, m: usize, r: usize) -> Factors<T> {
    let k = f.s.len();
    if k == r {
        return f;
    }
    let n = f.vt.len().checked_div(k).unwrap_or(0);
    let mut u = Vec::with_capacity(m * r);
    for row in f.u.chunks_exact(k.max(1)).take(m) {
        u.extend_from_slice(&row[..r]);
    }
    Factors {
        u,
        s: f.s[..r].to_vec(),
        vt: f.vt[..r * n].to_vec(),
    }
}

/// The [`NumericError`] of a failed factorisation of a `T` matrix.
pub(crate) fn failure_error<T: Float>(f: Failure, op: &'static str, shape: String) -> NumericError {
    match f {
        Failure::NonFinite => NumericError::NonFinite { op, shape },
        Failure::NoConvergence(iterations) => NumericError::NoConvergence {
            op,
            shape,
            iterations,
        },
        Failure::Overflow => NumericError::Overflow {
            op,
            shape,
            what: "the largest singular value",
            elem: T::NAME,
        },
    }
}

/// `Err` unless `r ≤ min(m, n)`: the run-time half of [`RankAtMost`].
pub(crate) fn check_rank<S: core::fmt::Debug, R: Dim>(
    op: &'static str,
    shape: S,
    dims: (usize, usize),
    r: R,
) -> Result<(), ShapeError> {
    let k = dims.0.min(dims.1);
    if r.size() > k {
        return Err(ShapeError::incompatible_described(
            op,
            format!("{shape:?}"),
            format!("rank {r:?}"),
            format!(
                "the rank ({}) must be at most min(rows, columns) = {k}",
                r.size()
            ),
        ));
    }
    Ok(())
}

impl<M: Dim, N: Dim, T: Float> Tensor<(M, N), T> {
    /// The thin SVD; see [`Svd`].
    ///
    /// # Panics
    ///
    /// When the matrix holds a NaN or an infinity, or the iteration does not converge; see
    /// [`try_svd`](Self::try_svd).
    #[track_caller]
    pub fn svd(&self) -> Svd<M, N, T> {
        self.try_svd().or_panic()
    }

    /// [`svd`](Self::svd) that returns `Err` on a NaN or infinite entry, when the largest
    /// singular value exceeds `T`'s range (only possible within a factor `√(m·n)` of
    /// `T`'s largest value), or when the iteration does not converge. Any finite matrix,
    /// subnormal entries and entries near `T::MAX` included, is scaled into a safe range
    /// first and gets its correct factors.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let mut a = Tensor::<(D<3>, D<2>)>::zeros();
    /// a[[1, 1]] = f32::NAN;
    /// assert_eq!(
    ///     a.try_svd().unwrap_err().to_string(),
    ///     "svd: the input of shape (3, 2) holds a NaN or an infinity"
    /// );
    /// ```
    pub fn try_svd(&self) -> Result<Svd<M, N, T>, NumericError> {
        let (m, n) = (self.dims()[0], self.dims()[1]);
        let (sm, sn) = self.shape();
        let f = factor(self.as_slice(), m, n, false)
            .map_err(|f| failure_error::<T>(f, "svd", format!("{:?}", self.shape())))?;
        let k = MinOf::of(sm, sn);
        Ok(Svd {
            u: Tensor::from_parts((sm, k), f.u),
            s: Tensor::from_parts((k,), f.s),
            vt: Tensor::from_parts((k, sn), f.vt),
        })
    }

    /// The full SVD; see [`FullSvd`].
    ///
    /// # Panics
    ///
    /// As [`svd`](Self::svd); see [`try_svd_full`](Self::try_svd_full).
    #[track_caller]
    pub fn svd_full(&self) -> FullSvd<M, N, T> {
        self.try_svd_full().or_panic()
    }

    /// [`svd_full`](Self::svd_full) that returns `Err` instead of panicking, as
    /// [`try_svd`](Self::try_svd) does.
    pub fn try_svd_full(&self) -> Result<FullSvd<M, N, T>, NumericError> {
        let (m, n) = (self.dims()[0], self.dims()[1]);
        let (sm, sn) = self.shape();
        let f = factor(self.as_slice(), m, n, true)
            .map_err(|f| failure_error::<T>(f, "svd_full", format!("{:?}", self.shape())))?;
        Ok(FullSvd {
            u: Tensor::from_parts((sm, sm), f.u),
            s: Tensor::from_parts((MinOf::of(sm, sn),), f.s),
            vt: Tensor::from_parts((sn, sn), f.vt),
        })
    }

    /// The leading `R` singular triplets, from the exact SVD; `R ≤ min(M, N)` is checked by
    /// the type checker. See [`TruncatedSvd`].
    ///
    /// # Panics
    ///
    /// As [`svd`](Self::svd), or when a runtime `M` or `N` is smaller than `R`.
    #[track_caller]
    pub fn truncated_svd<R>(&self) -> TruncatedSvd<M, N, R, T>
    where
        R: StaticDim + RankAtMost<M, N>,
    {
        self.try_truncated_svd_with(R::default()).or_panic()
    }

    /// [`truncated_svd`](Self::truncated_svd) for a rank given as a value (a runtime dim),
    /// returning `Err` when it exceeds `min(M, N)` ([`Error::Shape`]) or the factorisation
    /// fails as [`try_svd`](Self::try_svd) can ([`Error::Numeric`]).
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// dim!(pub Rank);
    /// let a = Tensor::<(D<6>, D<4>), f64>::randn(0);
    /// assert!(a.try_truncated_svd_with(Rank::new(4)).is_ok());
    /// assert_eq!(
    ///     a.try_truncated_svd_with(Rank::new(5)).unwrap_err().to_string(),
    ///     "truncated_svd: cannot combine (6, 4) with rank Rank=5: \
    ///      the rank (5) must be at most min(rows, columns) = 4"
    /// );
    /// ```
    pub fn try_truncated_svd_with<R>(&self, r: R) -> Result<TruncatedSvd<M, N, R, T>, Error>
    where
        R: RankAtMost<M, N>,
    {
        let (m, n) = (self.dims()[0], self.dims()[1]);
        check_rank("truncated_svd", self.shape(), (m, n), r)?;
        let f = factor(self.as_slice(), m, n, false)
            .map_err(|f| failure_error::<T>(f, "truncated_svd", format!("{:?}", self.shape())))?;
        let f = truncate(f, m, r.size());
        let (sm, sn) = self.shape();
        Ok(TruncatedSvd {
            u: Tensor::from_parts((sm, r), f.u),
            s: Tensor::from_parts((r,), f.s),
            vt: Tensor::from_parts((r, sn), f.vt),
        })
    }

    /// The best rank-`R` approximation of the matrix (Eckart–Young): the truncated SVD
    /// multiplied back.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let a = Tensor::<(D<5>, D<5>), f64>::randn(3);
    /// let a1 = a.best_rank::<D<1>>();
    /// // A rank-1 matrix has one nonzero singular value.
    /// let s = a1.svd().s;
    /// assert!(s[[1]] < 1e-12 * s[[0]]);
    /// ```
    ///
    /// # Panics
    ///
    /// As [`try_best_rank_with`](Self::try_best_rank_with) returns `Err`.
    #[track_caller]
    pub fn best_rank<R>(&self) -> Tensor<(M, N), T>
    where
        R: StaticDim + RankAtMost<M, N>,
    {
        self.try_best_rank_with(R::default()).or_panic()
    }

    /// [`best_rank`](Self::best_rank) for a rank given as a value: `Err` when it exceeds
    /// `min(M, N)`, when the factorisation fails as
    /// [`try_truncated_svd_with`](Self::try_truncated_svd_with) can, or when an entry of
    /// the approximation exceeds `T`'s range (possible only next to `T::MAX`).
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// dim!(pub Rank);
    /// let a = Tensor::<(D<4>, D<3>), f64>::randn(0);
    /// let a3 = a.try_best_rank_with(Rank::new(3)).unwrap();
    /// assert!(a3.as_slice().iter().zip(a.as_slice()).all(|(x, y)| (x - y).abs() < 1e-12));
    /// assert!(a.try_best_rank_with(Rank::new(4)).is_err());
    /// ```
    pub fn try_best_rank_with<R>(&self, r: R) -> Result<Tensor<(M, N), T>, Error>
    where
        R: RankAtMost<M, N>,
    {
        let out = self.try_truncated_svd_with(r)?.reconstruct();
        if !out.as_slice().iter().all(|x| x.is_finite()) {
            return Err(NumericError::Overflow {
                op: "best_rank",
                shape: format!("{:?}", self.shape()),
                what: "an entry of the approximation",
                elem: T::NAME,
            }
            .into());
        }
        Ok(out)
    }
}
