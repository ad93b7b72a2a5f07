//! Linear algebra with typed factors: the SVD (thin, full, truncated to a rank you name,
//! randomized) and PCA.
//!
//! | call on `a: Tensor<(M, N), T>` | result |
//! |---|---|
//! | [`a.svd()`](crate::Tensor::svd) | [`Svd`]: `U: (M, K)`, `S: (K,)`, `Vt: (K, N)`, `K =` [`MinOf<M, N>`] |
//! | [`a.svd_full()`](crate::Tensor::svd_full) | [`FullSvd`]: `U: (M, M)`, `S: (K,)`, `Vt: (N, N)` |
//! | [`a.truncated_svd::<R>()`](crate::Tensor::truncated_svd) | [`TruncatedSvd`]: `U: (M, R)`, `S: (R,)`, `Vt: (R, N)` |
//! | [`a.randomized_svd::<R>(&opts)`](crate::Tensor::randomized_svd) | the same, by Halko–Martinsson–Tropp ([`RandomizedSvd`]) |
//! | [`a.best_rank::<R>()`](crate::Tensor::best_rank) | the best rank-`R` approximation `(M, N)` |
//! | [`Pca::<F, R>::fit(&x)`](Pca::fit) | components `(R, F)`, mean, explained variance and ratio |
//!
//! **Shapes.** The rank of a truncation is a dim, and [`RankAtMost`] checks `R ≤ min(M, N)`
//! in the type when the dims are static (`rank `D<5>` must be at most min(`D<3>`, `D<4>`)`);
//! with a runtime dim the `try_…_with` forms check it and return an
//! [`Error::Shape`](crate::Error::Shape).
//! The thin SVD's inner dim `K = min(M, N)` cannot be written as a `D<…>` on stable Rust, so
//! it is the dim [`MinOf<M, N>`], named after its parents: it prints as
//! `min(Tokens, DModel)=64`, and the factors multiply back (`(M, K)·(K, N)`) by type.
//!
//! **Numerics.** Blocked Householder bidiagonalisation (LAPACK's `gebrd`: panels whose
//! trailing updates are GEMMs), divide and conquer on the bidiagonal (Gu–Eisenstat, as
//! LAPACK's `bdsdc`: secular equations solved in f64, the vectors made orthogonal by the
//! Löwner recomputation and multiplied back by GEMMs; QR iteration on leaves of at most 24
//! rows), and the reflectors applied back in blocks as GEMMs (`bidiag.rs`, `dc.rs`,
//! `householder.rs`). Measured on 768 × 768 f32: reconstruction 1.3e-6, largest entry of
//! `UᵀU − I` 6e-7. Singular values are non-negative and sorted descending.
//!
//! **Extreme values.** As LAPACK's drivers (`gesdd`, `gesvd`) do, a matrix whose largest
//! magnitude is outside a safe range (about 1e-12 to 1e12 in `f32`, 1e-138 to 1e138 in
//! `f64`) is multiplied by a power of two (exact) before it is factored, and the singular
//! values are multiplied back (`scale.rs`); inside that range nothing is scaled. So every
//! finite matrix, all-subnormal or holding `T::MAX`, gets its correct factors. What has no
//! right answer is a [`NumericError`](crate::NumericError) (or a panic in the plain forms):
//! a NaN or infinite input, a singular value (or an entry of `best_rank`, or a PCA
//! variance) beyond `T`'s largest finite value, and a (never observed) failure of the
//! leaves' QR iteration to converge. The `try_` forms that also check a runtime rank
//! return [`Error`](crate::Error), which holds either kind.

mod bidiag;
mod dc;
mod dense;
mod householder;
mod pca;
mod qr;
mod randomized;
mod rank;
mod scale;
mod secular;
mod svd;

pub use pca::Pca;
pub use randomized::RandomizedSvd;
#[doc(hidden)]
pub use rank::{Chosen, Class, Fixed, RankAtMostBy, SizeClass};
pub use rank::{MinOf, RankAtMost};
pub use svd::{FullSvd, Svd, TruncatedSvd};

pub(crate) use svd::{check_rank, factor, failure_error, truncate};

/// Why the numerical part of an SVD failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The input holds a NaN or an infinity.
    NonFinite,
    /// The bidiagonal QR did not converge within its iteration budget.
    NoConvergence(usize),
    /// A singular value of a finite input exceeds the element type's range (`scale.rs`).
    Overflow,
}

/// The SVD of a view reads it once into the contiguous buffer the factorisation works on
/// anyway (`a.t().svd()` is the SVD of the transpose); see [`Tensor::svd`](crate::Tensor::svd).
impl<M: crate::dim::Dim, N: crate::dim::Dim, T: crate::Float> crate::TensorView<'_, (M, N), T> {
    /// [`Tensor::svd`](crate::Tensor::svd) of the viewed matrix.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let a = Tensor::<(D<4>, D<3>), f64>::randn(1);
    /// let (s, st) = (a.svd().s, a.t().svd().s);
    /// for (x, y) in s.as_slice().iter().zip(st.as_slice()) {
    ///     assert!((x - y).abs() < 1e-12);
    /// }
    /// ```
    #[track_caller]
    pub fn svd(&self) -> Svd<M, N, T> {
        self.to_tensor().svd()
    }

    /// [`Tensor::try_svd`](crate::Tensor::try_svd) of the viewed matrix.
    pub fn try_svd(&self) -> Result<Svd<M, N, T>, crate::NumericError> {
        self.to_tensor().try_svd()
    }
}

/// Row-major factors of `A = U·diag(s)·Vt`: `u` is `m × ucols`, `vt` is `vrows × n`.
pub(crate) struct Factors<T> {
    pub u: Vec<T>,
    pub s: Vec<T>,
    pub vt: Vec<T>,
}
