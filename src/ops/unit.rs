//! Unit vectors: `normalize()` returns a [`Unit`] tensor, and cosine similarity accepts only
//! `Unit`s, so "forgot to normalise before cosine similarity" is a compile error.
//!
//! `Unit<S>` proves that every finite row (lane of the last axis) has Euclidean norm 1 — or
//! is exactly zero: a zero row has no direction, and `normalize()` leaves it zero rather
//! than dividing by 0, so its cosine similarity with anything is 0. The norm is scaled
//! against overflow and underflow, so this holds at both ends of the range (`[3e19, 4e19]`
//! and `[3e-30, 4e-30]` in f32). A row holding a NaN or an infinity has no norm to divide
//! by and becomes all NaN, which propagates.
//!
//! ```
//! use shapecheck::prelude::*;
//! dim!(pub Docs = 3; pub Emb = 2);
//! let docs = Tensor::<(Docs, Emb)>::from_vec(vec![3., 4., 0., 2., -1., 0.]).unwrap().normalize();
//! let query = Tensor::<(Emb,)>::from_vec(vec![0., 5.]).unwrap().normalize();
//! assert!((cosine_similarity(&query, &query) - 1.0).abs() < 1e-6);
//! let sims: Tensor<(Docs, Docs)> = docs.similarity(&docs);
//! assert!((sims[[0, 1]] - 0.8).abs() < 1e-6);
//! assert_eq!(docs.top_k(&query, 2), vec![(1, 1.0), (0, 0.8)]);
//! ```
//!
//! ```compile_fail
//! use shapecheck::prelude::*;
//! let a = Tensor::<(D<3>,)>::ones();
//! let s = cosine_similarity(&a, &a); // not normalised
//! ```

use crate::dim::Dim;
use crate::element::Float;
use crate::kernel::pairwise;
use crate::ops::scaled::{is_safe_sum_of_squares, max_abs, pow2_scale};
use crate::shape::{LastAxis, Shape};
use crate::tensor::{Tensor, TensorView};

/// A tensor whose every row (lane of the last axis) has norm 1, or is zero.
#[derive(Clone, PartialEq)]
pub struct Unit<S: Shape, T = f32>(Tensor<S, T>);

/// Every row of `v` divided by its norm: [`Norms::normalize`](crate::ops::Norms::normalize).
pub(crate) fn normalize_view<S: LastAxis, T: Float>(v: &TensorView<'_, S, T>) -> Unit<S, T> {
    let mut out = v.to_tensor();
    let n = v.dims()[S::RANK - 1];
    if n > 0 {
        out.as_mut_slice()
            .chunks_exact_mut(n)
            .for_each(normalize_row);
    }
    Unit(out)
}

/// One row divided by its norm. The plain sum of squares serves when it is safe; otherwise
/// the row is first scaled by a power of two (exact) so that its largest magnitude is near
/// 1, which neither `[3e19, 4e19]` nor `[3e-30, 4e-30]` in f32 can then break.
fn normalize_row<T: Float>(row: &mut [T]) {
    let ss = pairwise::sum_map(row, |x| x * x);
    if !is_safe_sum_of_squares(ss) {
        let m = max_abs(row.iter().copied());
        if ss.is_nan() || !m.is_finite() {
            row.iter_mut().for_each(|x| *x = T::from_f64(f64::NAN));
            return;
        }
        if m == T::ZERO {
            return; // a zero row has no direction, and stays zero
        }
        let (s, _) = pow2_scale(m);
        row.iter_mut().for_each(|x| *x *= s);
        return normalize_row_scaled(row);
    }
    let inv = T::ONE / ss.sqrt();
    row.iter_mut().for_each(|x| *x *= inv);
}

/// Divides a row whose largest magnitude is near 1 by its norm.
fn normalize_row_scaled<T: Float>(row: &mut [T]) {
    let inv = T::ONE / pairwise::sum_map(row, |x| x * x).sqrt();
    row.iter_mut().for_each(|x| *x *= inv);
}

impl<S: Shape, T: Float> core::fmt::Debug for Unit<S, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Unit({:?})", self.0)
    }
}

impl<S: Shape, T: Float> Unit<S, T> {
    /// The normalised tensor.
    pub fn as_tensor(&self) -> &Tensor<S, T> {
        &self.0
    }

    /// The normalised tensor, by value.
    pub fn into_tensor(self) -> Tensor<S, T> {
        self.0
    }
}

/// A vector of unit norm (or zero): what cosine similarity accepts.
#[diagnostic::on_unimplemented(
    message = "cosine similarity needs unit vectors, and `{Self}` is not normalised",
    label = "call `.normalize()` on this first",
    note = "cosine similarity of un-normalised vectors is a dot product, not a cosine"
)]
pub trait UnitVector {
    /// The dim of the vector.
    type Dim: Dim;
    /// The element type.
    type Elem: Float;
    /// The unit vector.
    fn unit(&self) -> &Tensor<(Self::Dim,), Self::Elem>;
}

impl<K: Dim, T: Float> UnitVector for Unit<(K,), T> {
    type Dim = K;
    type Elem = T;
    fn unit(&self) -> &Tensor<(K,), T> {
        &self.0
    }
}

/// The cosine of the angle between two unit vectors (0 when either is zero).
pub fn cosine_similarity<A, B, K, T>(a: &A, b: &B) -> T
where
    A: UnitVector<Dim = K, Elem = T>,
    B: UnitVector<Dim = K, Elem = T>,
    K: Dim,
    T: Float,
{
    a.unit().dot(b.unit())
}

impl<N: Dim, K: Dim, T: Float> Unit<(N, K), T> {
    /// Cosine similarities of every row of `self` with every row of `other`:
    /// `(N, K)·(M, K)ᵀ = (N, M)`, one GEMM.
    pub fn similarity<M: Dim>(&self, other: &Unit<(M, K), T>) -> Tensor<(N, M), T> {
        self.0.matmul(&other.0.t())
    }

    /// Row `i`, a unit vector.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let m = Tensor::<(D<2>, D<2>)>::from_vec(vec![3., 4., 0., 2.]).unwrap().normalize();
    /// assert_eq!(m.row(0).as_tensor().as_slice(), &[0.6, 0.8]);
    /// ```
    ///
    /// # Panics
    ///
    /// When `i` is not a row.
    pub fn row(&self, i: usize) -> Unit<(K,), T> {
        let k = self.0.dims()[1];
        let n = self.0.dims()[0];
        assert!(i < n, "row {i} of a Unit with {n} rows");
        let data = self.0.as_slice()[i * k..(i + 1) * k].to_vec();
        Unit(Tensor::from_parts((self.0.shape().1,), data))
    }

    /// The `k` rows most similar to `query`, as `(row, cosine)` pairs, most similar first
    /// (ties keep row order).
    pub fn top_k(&self, query: &Unit<(K,), T>, k: usize) -> Vec<(usize, T)> {
        let sims = self.0.matmul(&query.0);
        let mut ranked: Vec<(usize, T)> = sims.as_slice().iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(core::cmp::Ordering::Equal));
        ranked.truncate(k);
        ranked
    }
}
