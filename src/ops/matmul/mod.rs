//! Matrix products: the typed API. The shape rule is [`MatMul`]; the arithmetic is one
//! product per batch item, made by the crate's backend (`crate::kernel`) with the operands'
//! own strides.
//!
//! | left | right | result |
//! |---|---|---|
//! | `(M, K)` | `(K, N)` | `(M, N)` |
//! | `(M, K)` | `(K,)` | `(M,)` |
//! | `(K,)` | `(K, N)` | `(N,)` |
//! | `(B…, M, K)` | `(B…, K, N)` | `(B…, M, N)` (1 to 4 batch dims, which broadcast) |
//! | `(B…, M, K)` | `(K, N)` | `(B…, M, N)` (one right operand shared by the batch) |
//! | `(M, K)` | `(B…, K, N)` | `(B…, M, N)` (one left operand shared by the batch) |
//! | `(B, M, K)` | `(C, B, K, N)` | `(C, B, M, N)` (and the other way round) |
//!
//! Batch dims broadcast as NumPy's do ([`BroadcastBatchDim`]): aligned on the last batch
//! axis, each pair is the same dim or contains a `D<1>` (`(B, D<1>, M, K)·(D<1>, H, K, N)` is
//! `(B, H, M, N)`), and an operand with fewer batch dims reads as if the missing leading ones
//! were `D<1>`. A runtime dim broadcasts when its size is 1 at run time. A stretched operand
//! is read with stride 0, never copied.
//!
//! Plus [`dot`](crate::Tensor::dot) and [`outer`](crate::Tensor::outer) for vectors.

use crate::dim::Dim;
use crate::element::Float;
use crate::error::OrPanic;
use crate::error::ShapeError;
use crate::kernel::{Gemm, MatRef};
use crate::shape::{BroadcastBatchDim, Shape};
use crate::tensor::{AsView, Tensor, TensorView};

mod plan;

pub(crate) use plan::{rows_collapse, Plan, MAX_BATCH};

/// The rule of matrix multiplication: `Self · Rhs` is defined, and is an `Output`.
///
/// The inner dims must be the *same dim type*, so with `dim!(Seq = 64)` and
/// `dim!(HeadDim = 64)`, `q.matmul(&k)` for `q, k: (Seq, HeadDim)` is rejected while
/// `q.matmul(&k.t())` is accepted:
///
/// ```
/// use shapecheck::prelude::*;
/// dim!(pub Seq = 64);
/// dim!(pub HeadDim = 64);
/// let q = Tensor::<(Seq, HeadDim)>::randn(0);
/// let k = Tensor::<(Seq, HeadDim)>::randn(1);
/// let scores: Tensor<(Seq, Seq)> = q.matmul(&k.t());
/// ```
///
/// ```compile_fail
/// use shapecheck::prelude::*;
/// dim!(pub Seq = 64);
/// dim!(pub HeadDim = 64);
/// let q = Tensor::<(Seq, HeadDim)>::randn(0);
/// let k = Tensor::<(Seq, HeadDim)>::randn(1);
/// let scores = q.matmul(&k); // the forgotten transpose
/// ```
#[diagnostic::on_unimplemented(
    message = "matmul needs matching inner dims: cannot multiply `{Self}` by `{Rhs}`",
    label = "`{Self}` · `{Rhs}` has no matmul rule",
    note = "matmul needs the left operand's last dim to be the very same dim as the right operand's first (or second-to-last) dim, and the batch dims of batched operands to broadcast",
    note = "if the right operand is stored the other way round (keys for q·kᵀ, a weight `(DOut, DIn)`), multiply by its transposed view, `.matmul(&rhs.t())`: no copy is made"
)]
pub trait MatMul<Rhs: Shape>: Shape {
    /// The shape of the product.
    type Output: Shape;
    #[doc(hidden)]
    const FORM: Form;
    /// The product's shape, or `None` when runtime batch dims do not broadcast.
    #[doc(hidden)]
    fn output_shape(&self, rhs: &Rhs) -> Option<Self::Output>;
}

/// How the operands' axes map to GEMM extents.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    MatMat,
    MatVec,
    VecMat,
    /// Leading axes of the left operand are batch axes; the right is `(K, N)`.
    SharedRhs,
    /// Leading axes of either operand or both are batch axes, which broadcast.
    Batched,
}

#[diagnostic::do_not_recommend]
impl<M: Dim, K: Dim, N: Dim> MatMul<(K, N)> for (M, K) {
    type Output = (M, N);
    const FORM: Form = Form::MatMat;
    #[inline(always)]
    fn output_shape(&self, rhs: &(K, N)) -> Option<(M, N)> {
        Some((self.0, rhs.1))
    }
}

#[diagnostic::do_not_recommend]
impl<M: Dim, K: Dim> MatMul<(K,)> for (M, K) {
    type Output = (M,);
    const FORM: Form = Form::MatVec;
    #[inline(always)]
    fn output_shape(&self, _rhs: &(K,)) -> Option<(M,)> {
        Some((self.0,))
    }
}

#[diagnostic::do_not_recommend]
impl<K: Dim, N: Dim> MatMul<(K, N)> for (K,) {
    type Output = (N,);
    const FORM: Form = Form::VecMat;
    #[inline(always)]
    fn output_shape(&self, rhs: &(K, N)) -> Option<(N,)> {
        Some((rhs.1,))
    }
}

macro_rules! batched {
    // `($($L)*, $($A)*, M, K)·($($R)*, $($B)*, K, N)`: the pairs `A·B` broadcast; the leading
    // dims `L` (or `R`) of the operand with more batch dims are the product's as they are
    // (one of the two lists is empty). `$mi` is the index of `M` in the left operand, `$ni`
    // that of `N` in the right.
    ([$($L:ident $li:tt),*], [$($R:ident $ri:tt),*], [$($A:ident $ai:tt $B:ident $bi:tt),*];
     $mi:tt; $ni:tt) => {
        #[diagnostic::do_not_recommend]
        impl<$($L: Dim,)* $($R: Dim,)* $($A: Dim, $B: Dim,)* M: Dim, K: Dim, N: Dim>
            MatMul<($($R,)* $($B,)* K, N)> for ($($L,)* $($A,)* M, K)
        where
            $($A: BroadcastBatchDim<$B>,)*
        {
            type Output = ($($L,)* $($R,)* $(<$A as BroadcastBatchDim<$B>>::Output,)* M, N);
            const FORM: Form = Form::Batched;
            #[inline(always)]
            fn output_shape(&self, rhs: &($($R,)* $($B,)* K, N)) -> Option<Self::Output> {
                Some(($(self.$li,)* $(rhs.$ri,)* $(self.$ai.broadcast_batch(rhs.$bi)?,)*
                    self.$mi, rhs.$ni))
            }
        }
    };
}

/// `(B…, M, K)·(K, N)`: one right operand for every batch item.
macro_rules! shared_rhs {
    ($($B:ident $bi:tt),*; $mi:tt) => {
        #[diagnostic::do_not_recommend]
        impl<$($B: Dim,)* M: Dim, K: Dim, N: Dim> MatMul<(K, N)> for ($($B,)* M, K) {
            type Output = ($($B,)* M, N);
            const FORM: Form = Form::SharedRhs;
            #[inline(always)]
            fn output_shape(&self, rhs: &(K, N)) -> Option<Self::Output> {
                Some(($(self.$bi,)* self.$mi, rhs.1))
            }
        }
    };
}

// Equal batch ranks.
batched!([], [], [A0 0 B0 0]; 1; 2);
batched!([], [], [A0 0 B0 0, A1 1 B1 1]; 2; 3);
batched!([], [], [A0 0 B0 0, A1 1 B1 1, A2 2 B2 2]; 3; 4);
batched!([], [], [A0 0 B0 0, A1 1 B1 1, A2 2 B2 2, A3 3 B3 3]; 4; 5);
// A `(M, K)` left operand shared by a batch of right operands.
batched!([], [R0 0], []; 0; 2);
batched!([], [R0 0, R1 1], []; 0; 3);
batched!([], [R0 0, R1 1, R2 2], []; 0; 4);
batched!([], [R0 0, R1 1, R2 2, R3 3], []; 0; 5);
// Batch ranks 1 and 2 (the rank-3 operand's batch dim pairs with the other's last one).
batched!([L0 0], [], [A0 1 B0 0]; 2; 2);
batched!([], [R0 0], [A0 0 B0 1]; 1; 3);
// The right operand shared by the batch.
shared_rhs!(B0 0; 1);
shared_rhs!(B0 0, B1 1; 2);
shared_rhs!(B0 0, B1 1, B2 2; 3);
shared_rhs!(B0 0, B1 1, B2 2, B3 3; 4);

/// Works out the plan of `lhs · rhs` ([`Plan`]: the one place that maps axes to GEMM
/// extents, strides and the batch walk), checking the sizes that must agree (the types
/// already guarantee it for static dims; runtime dims are compared here), and hands the
/// operands to `gemm`, which decides its threads from their sizes.
fn with_plan<L, R, T, X>(
    lhs: &TensorView<'_, L, T>,
    rhs: &TensorView<'_, R, T>,
    gemm: impl FnOnce(MatRef<'_, T>, MatRef<'_, T>, Gemm<T>) -> X,
) -> Result<(L::Output, Plan, X), ShapeError>
where
    L: MatMul<R>,
    R: Shape,
    T: Float,
{
    let mismatch =
        |detail: String| ShapeError::incompatible("matmul", &lhs.shape(), &rhs.shape(), detail);
    let plan = Plan::new(
        L::FORM,
        (&lhs.dims(), &lhs.strides()),
        (&rhs.dims(), &rhs.strides()),
    )
    .map_err(mismatch)?;
    let out = lhs
        .shape()
        .output_shape(&rhs.shape())
        .ok_or_else(|| mismatch("the batch dims do not broadcast".into()))?;
    // Operands that fit (stride-0 views, say) can make a product that does not.
    out.try_num_elements()?;
    let a = plan.a(lhs.as_base_slice(), lhs.offset());
    let b = plan.b(rhs.as_base_slice(), rhs.offset());
    let x = gemm(a, b, Gemm::new());
    Ok((out, plan, x))
}

/// `lhs · rhs` and the plan it was made by (which the traced product keeps for its
/// gradients).
pub(crate) fn planned_matmul<L, R, T>(
    lhs: &TensorView<'_, L, T>,
    rhs: &TensorView<'_, R, T>,
) -> Result<(Tensor<L::Output, T>, Plan), ShapeError>
where
    L: MatMul<R>,
    R: Shape,
    T: Float,
{
    let (shape, plan, data) = with_plan(lhs, rhs, |a, b, gemm| gemm.to_vec(a, b))?;
    Ok((Tensor::from_parts(shape, data), plan))
}

fn matmul_views<L, R, T>(
    lhs: &TensorView<'_, L, T>,
    rhs: &TensorView<'_, R, T>,
) -> Result<Tensor<L::Output, T>, ShapeError>
where
    L: MatMul<R>,
    R: Shape,
    T: Float,
{
    planned_matmul(lhs, rhs).map(|(c, _)| c)
}

fn matmul_views_into<L, R, T>(
    lhs: &TensorView<'_, L, T>,
    rhs: &TensorView<'_, R, T>,
    out: &mut Tensor<L::Output, T>,
) -> Result<(), ShapeError>
where
    L: MatMul<R>,
    R: Shape,
    T: Float,
{
    let expected = lhs.shape().output_shape(&rhs.shape());
    if expected != Some(out.shape()) {
        return Err(ShapeError::incompatible_described(
            "matmul_into",
            match expected {
                Some(e) => format!("the product {e:?}"),
                None => "the product".into(),
            },
            format!("the output {:?}", out.shape()),
            "the output must have the product's shape",
        ));
    }
    with_plan(lhs, rhs, |a, b, gemm| {
        let n = b.ncols();
        gemm.to_slice(a, b, out.as_mut_slice(), n)
    })
    .map(|_| ())
}

macro_rules! matmul_methods {
    ($view:ident) => {
        /// The matrix product `self · rhs`; see [`MatMul`](crate::ops::MatMul) for the forms.
        /// `rhs` may be a tensor or a view (`&k.t()` is read through its strides, not copied).
        ///
        /// # Panics
        ///
        /// When a runtime dim disagrees (the inner dims, or batch dims); the message is that of
        /// [`try_matmul`](Self::try_matmul).
        ///
        /// ```
        /// use shapecheck::prelude::*;
        /// let a = Tensor::<(D<2>, D<3>)>::from_vec(vec![1., 2., 3., 4., 5., 6.]).unwrap();
        /// let b = Tensor::<(D<2>, D<3>)>::ones();
        /// let c = a.matmul(&b.t()); // (2, 3)·(3, 2) = (2, 2)
        /// assert_eq!(c.as_slice(), &[6., 6., 15., 15.]);
        /// ```
        #[track_caller]
        pub fn matmul<R>(&self, rhs: &R) -> Tensor<<S as MatMul<R::Shape>>::Output, T>
        where
            R: AsView<Elem = T>,
            S: MatMul<R::Shape>,
        {
            self.try_matmul(rhs).or_panic()
        }

        /// [`matmul`](Self::matmul) that returns `Err` instead of panicking when runtime dims
        /// disagree.
        ///
        /// ```
        /// use shapecheck::prelude::*;
        /// let a = Tensor::zeros_with((Dyn::new(2), Dyn::new(3)));
        /// let b = Tensor::<(Dyn, Dyn)>::zeros_with((Dyn::new(4), Dyn::new(5)));
        /// let err = a.try_matmul(&b).unwrap_err();
        /// assert_eq!(
        ///     err.to_string(),
        ///     "matmul: cannot combine (Dyn=2, Dyn=3) with (Dyn=4, Dyn=5): \
        ///      the inner dims differ (3 on the left, 4 on the right)"
        /// );
        /// ```
        pub fn try_matmul<R>(
            &self,
            rhs: &R,
        ) -> Result<Tensor<<S as MatMul<R::Shape>>::Output, T>, ShapeError>
        where
            R: AsView<Elem = T>,
            S: MatMul<R::Shape>,
        {
            matmul_views(&self.$view(), &rhs.as_view())
        }

        /// [`matmul`](Self::matmul) into an existing tensor, which is overwritten: no
        /// allocation, for loops that reuse their buffers.
        ///
        /// # Panics
        ///
        /// When a runtime dim disagrees; see [`try_matmul_into`](Self::try_matmul_into).
        ///
        /// ```
        /// use shapecheck::prelude::*;
        /// let a = Tensor::<(D<2>, D<3>)>::ones();
        /// let mut c = Tensor::<(D<2>, D<2>)>::full(f32::NAN);
        /// a.matmul_into(&a.t(), &mut c);
        /// assert_eq!(c.as_slice(), &[3.0; 4]);
        /// ```
        #[track_caller]
        pub fn matmul_into<R>(&self, rhs: &R, out: &mut Tensor<<S as MatMul<R::Shape>>::Output, T>)
        where
            R: AsView<Elem = T>,
            S: MatMul<R::Shape>,
        {
            self.try_matmul_into(rhs, out).or_panic();
        }

        /// [`matmul_into`](Self::matmul_into) that returns `Err` when runtime dims disagree,
        /// including the output's.
        pub fn try_matmul_into<R>(
            &self,
            rhs: &R,
            out: &mut Tensor<<S as MatMul<R::Shape>>::Output, T>,
        ) -> Result<(), ShapeError>
        where
            R: AsView<Elem = T>,
            S: MatMul<R::Shape>,
        {
            matmul_views_into(&self.$view(), &rhs.as_view(), out)
        }
    };
}

impl<S: Shape, T: Float> Tensor<S, T> {
    matmul_methods!(view);
}

impl<S: Shape, T: Float> TensorView<'_, S, T> {
    matmul_methods!(as_view);
}

fn dot_views<K: Dim, T: Float>(
    a: &TensorView<'_, (K,), T>,
    b: &TensorView<'_, (K,), T>,
) -> Result<T, ShapeError> {
    let (n, m) = (a.dims()[0], b.dims()[0]);
    if n != m {
        return Err(ShapeError::incompatible(
            "dot",
            &a.shape(),
            &b.shape(),
            format!("the lengths differ ({n} and {m})"),
        ));
    }
    let (da, db) = (a.as_base_slice(), b.as_base_slice());
    let (sa, sb) = (a.strides()[0], b.strides()[0]);
    // Pairwise, as NumPy's dot of long vectors is accurate.
    Ok(crate::kernel::pairwise::dot_strided(
        (da, a.offset(), sa),
        (db, b.offset(), sb),
        n,
    ))
}

fn outer_views<M: Dim, N: Dim, T: Float>(
    a: &TensorView<'_, (M,), T>,
    b: &TensorView<'_, (N,), T>,
) -> Tensor<(M, N), T> {
    let (bv, av) = (b.to_vec(), a.to_vec());
    let mut data = Vec::with_capacity(av.len() * bv.len());
    for &x in &av {
        data.extend(bv.iter().map(|&y| x * y));
    }
    Tensor::from_parts((a.shape().0, b.shape().0), data)
}

macro_rules! vector_methods {
    ($view:ident) => {
        /// The dot product `Σ self[i]·rhs[i]` of two vectors of the same dim.
        ///
        /// # Panics
        ///
        /// When the dim is a runtime dim and the lengths differ; see [`try_dot`](Self::try_dot).
        ///
        /// ```
        /// use shapecheck::prelude::*;
        /// let a = Tensor::<(D<3>,)>::from_vec(vec![1., 2., 3.]).unwrap();
        /// assert_eq!(a.dot(&a), 14.0);
        /// ```
        #[track_caller]
        pub fn dot<R: AsView<Shape = (K,), Elem = T>>(&self, rhs: &R) -> T {
            self.try_dot(rhs).or_panic()
        }

        /// [`dot`](Self::dot) that returns `Err` when runtime lengths differ.
        pub fn try_dot<R: AsView<Shape = (K,), Elem = T>>(&self, rhs: &R) -> Result<T, ShapeError> {
            dot_views(&self.$view(), &rhs.as_view())
        }

        /// The outer product: element `[i, j]` is `self[i]·rhs[j]`.
        ///
        /// ```
        /// use shapecheck::prelude::*;
        /// let a = Tensor::<(D<2>,)>::from_vec(vec![1., 2.]).unwrap();
        /// let b = Tensor::<(D<3>,)>::from_vec(vec![1., 10., 100.]).unwrap();
        /// assert_eq!(a.outer(&b).as_slice(), &[1., 10., 100., 2., 20., 200.]);
        /// ```
        pub fn outer<N: Dim, R: AsView<Shape = (N,), Elem = T>>(
            &self,
            rhs: &R,
        ) -> Tensor<(K, N), T> {
            outer_views(&self.$view(), &rhs.as_view())
        }
    };
}

impl<K: Dim, T: Float> Tensor<(K,), T> {
    vector_methods!(view);
}

impl<K: Dim, T: Float> TensorView<'_, (K,), T> {
    vector_methods!(as_view);
}
