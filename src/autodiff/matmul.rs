//! Traced matrix products, every form of [`MatMul`]: `dA = dC·Bᵀ` and `dB = Aᵀ·dC`.
//!
//! Both products are GEMMs on the operands as the forward read them, through their
//! strides: `Bᵀ` is `B` with its row and column strides swapped (`MatRef::t`), never a
//! copy. When an operand is its node's whole buffer, row-major, its gradient is accumulated
//! straight into the node's buffer (β = 1); when it is the transpose of one (the `w.t()` of
//! a linear layer), `dBᵀ = dCᵀ·A` is accumulated there instead, again a GEMM with swapped
//! strides. Any other view (a slice, a permutation) gets its gradient in a fresh buffer,
//! added back through its strides.
//!
//! A right operand shared by a batch (`(B…, M, K)·(K, N)`) gets the gradient summed over
//! the batch in one GEMM: the batch and row axes of `A` and `dC` collapse into one axis of
//! `B·M` rows (when `A`'s layout allows it; otherwise `A` is first copied contiguous).
//! Other broadcast batch dims (`(B, 1, M, K)·(1, H, K, N)`, a shared left operand) get their
//! gradient summed over the stretched axes item by item. The batched forms read the one
//! [`Plan`] the forward made.

use super::tape::GradSink;
use super::var::{one_tape, record, Handle, Var};
use crate::element::Float;
use crate::error::OrPanic;
use crate::kernel::{Epilogue, Gemm, MatRef, PackedB};
use crate::ops::matmul::{planned_matmul, rows_collapse, Form, Plan, MAX_BATCH};
use crate::ops::MatMul;
use crate::shape::Shape;
use crate::tensor::layout::unravel;

impl<'t, S: Shape, T: Float> Var<'t, S, T> {
    /// The traced matrix product `self · rhs`, every form of [`MatMul`] (2-D, vector,
    /// batched, a right operand shared by the batch). `rhs` may be a view such as `w.t()`.
    ///
    /// # Panics
    ///
    /// When a runtime dim disagrees, with the message of [`Tensor::try_matmul`](crate::Tensor::try_matmul).
    ///
    /// ```
    /// use shapecheck::autodiff::{Param, Tape};
    /// use shapecheck::prelude::*;
    /// let w = Param::new(Tensor::<(D<2>, D<3>)>::from_vec(vec![1., 2., 3., 4., 5., 6.]).unwrap());
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::<(D<1>, D<3>)>::ones());
    /// let y = x.matmul(&tape.param(&w).t()); // x·wᵀ, wᵀ a strided view
    /// assert_eq!(y.value().to_vec(), vec![6., 15.]);
    /// let g = y.sum_all().backward();
    /// assert_eq!(g.of(&w).unwrap().to_vec(), vec![1.; 6]);
    /// ```
    #[track_caller]
    pub fn matmul<R: Shape>(&self, rhs: &Var<'t, R, T>) -> Var<'t, <S as MatMul<R>>::Output, T>
    where
        S: MatMul<R>,
    {
        // One plan for the value and both gradients.
        let (value, plan) = planned_matmul(&self.value(), &rhs.value()).or_panic();
        let (a, b) = (self.h.clone(), rhs.h.clone());
        let traced = a.is_traced() || b.is_traced();
        let tape = one_tape("matmul", &[self.tape, rhs.tape]);
        record(tape, value, traced, move |_| {
            Box::new(move |g, sink| match S::FORM {
                Form::Batched => batched_backward(&plan, &a, &b, g, sink),
                form => flat_backward(form, &a, &b, g, sink, None),
            })
        })
    }
}

/// Whether `h` is a 2-D view that is the transpose of its node's whole row-major buffer.
fn is_transposed_whole<S: Shape, T: Float>(h: &Handle<S, T>) -> bool {
    let (d, s) = (h.shape.dims(), &h.strides);
    S::RANK == 2
        && h.offset == 0
        && h.data.slice().len() == d[0] * d[1]
        && (d[0] <= 1 || s[0] == 1)
        && (d[1] <= 1 || s[1] == d[0])
}

/// The forms whose left operand is read as one matrix of `rows × k` (the batch axes of a
/// shared right operand folded into the rows): 2-D, matrix·vector, vector·matrix, shared.
/// `bt_packed`, if given, is `Bᵀ` packed for the GEMM (a linear layer's `W`), which `dA`'s
/// product reads instead of packing it.
pub(crate) fn flat_backward<L: Shape, R: Shape, T: Float>(
    form: Form,
    a: &Handle<L, T>,
    b: &Handle<R, T>,
    g: &[T],
    sink: &mut GradSink<'_, T>,
    bt_packed: Option<&PackedB<T>>,
) {
    let (ad, asd) = (a.shape.dims(), a.strides.clone());
    let (bd, bsd) = (b.shape.dims(), b.strides.clone());
    let ra = ad.len();
    let (k, n, (brs, bcs)) = match form {
        Form::MatVec => (bd[0], 1, (bsd[0], 1)),
        _ => (bd[0], bd[1], (bsd[0], bsd[1])),
    };
    let rows: usize = ad[..ra - 1].iter().product();
    let copied;
    let (adata, aoff, (ars, acs)) = match form {
        Form::VecMat => (a.data.slice(), a.offset, (k * asd[0], asd[0])),
        _ if rows_collapse(&ad, &asd) => (
            a.data.slice(),
            a.offset,
            (if ra >= 2 { asd[ra - 2] } else { k }, asd[ra - 1]),
        ),
        _ => {
            copied = a.view().to_vec();
            (&copied[..], 0, (k, 1))
        }
    };
    let am = MatRef::new(adata, aoff, (rows, k), (ars, acs));
    let bm = MatRef::new(b.data.slice(), b.offset, (k, n), (brs, bcs));
    let dc = MatRef::rows(g, rows, n);
    let gemm = Gemm::new();
    if let Some(id) = a.id {
        if a.is_whole_buffer() {
            product_into(sink, id, dc, bm.t(), bt_packed);
        } else {
            let da = gemm.to_vec_packed(dc, bm.t(), Epilogue::default(), bt_packed);
            sink.add(a, &da);
        }
    }
    if let Some(id) = b.id {
        if b.is_whole_buffer() {
            product_into(sink, id, am.t(), dc, None);
        } else if is_transposed_whole(b) {
            // dBᵀ = dCᵀ·A, row-major in the buffer B is the transpose of.
            product_into(sink, id, dc.t(), am, None);
        } else {
            let db = gemm.to_vec(am.t(), dc);
            sink.add(b, &db);
        }
    }
}

/// Adds `x·y` (row-major, batched or not) to the gradient of node `id`, laid out like it:
/// into its buffer with β = 1, or, when it has none yet, as a new buffer written with β = 0
/// (no zero-filled buffer to add to). Both give the same bits: the GEMM's sums start from
/// +0 and α = 1, so a sum is never −0.0 and `0 + x` is `x`
/// (`autodiff::tests::a_products_gradient_needs_no_zeroed_buffer` pins it).
fn product_into<T: Float>(
    sink: &mut GradSink<'_, T>,
    id: usize,
    x: MatRef<'_, T>,
    y: MatRef<'_, T>,
    packed: Option<&PackedB<T>>,
) {
    let gemm = Gemm::new();
    match sink.existing(id) {
        Some(buf) => gemm
            .beta(T::ONE)
            .to_slice_packed(x, y, buf, y.ncols(), packed),
        None => sink.insert(id, gemm.to_vec_packed(x, y, Epilogue::default(), packed)),
    }
}

/// `(B…, M, K)·(B…, K, N)` and its broadcasting forms: one product per batch item of the
/// plan, each gradient batched the same way. An operand read with stride 0 along a batch
/// axis (stretched) gets the sum over that axis: one GEMM per product item, accumulated
/// (β = 1) into that operand's item of a dense gradient, in the order of the items.
fn batched_backward<L: Shape, R: Shape, T: Float>(
    plan: &Plan,
    a: &Handle<L, T>,
    b: &Handle<R, T>,
    g: &[T],
    sink: &mut GradSink<'_, T>,
) {
    let (m, k, n) = (plan.m, plan.k, plan.n);
    let am = plan.a(a.data.slice(), a.offset);
    let bm = plan.b(b.data.slice(), b.offset);
    let dc = plan.c(g);
    let gemm = Gemm::new();
    if let Some(id) = a.id {
        if plan.a_stretched() {
            let da = summed(plan, &a.shape.dims(), (m, k), |idx| {
                (dc.item(idx), bm.t().item(idx))
            });
            sink.add(a, &da);
        } else if a.is_whole_buffer() {
            product_into(sink, id, dc, bm.t(), None);
        } else {
            let da = gemm.to_vec(dc, bm.t());
            sink.add(a, &da);
        }
    }
    if let Some(id) = b.id {
        if plan.b_stretched() {
            let db = summed(plan, &b.shape.dims(), (k, n), |idx| {
                (am.t().item(idx), dc.item(idx))
            });
            sink.add(b, &db);
        } else if b.is_whole_buffer() {
            product_into(sink, id, am.t(), dc, None);
        } else {
            let db = gemm.to_vec(am.t(), dc);
            sink.add(b, &db);
        }
    }
}

/// The gradient of an operand of dims `dims` (row-major, dense), whose `rows × cols` item
/// for each product batch item `idx` is `Σ x·y` over the items `operands(idx)` that map to
/// it.
fn summed<'x, T: Float>(
    plan: &Plan,
    dims: &[usize],
    (rows, cols): (usize, usize),
    operands: impl Fn(&[usize]) -> (MatRef<'x, T>, MatRef<'x, T>),
) -> Vec<T> {
    let mut grad = vec![T::ZERO; dims.iter().product()];
    let strides = plan.dense_batch_strides(dims);
    let batch = plan.batch_dims();
    let mut idx = [0usize; MAX_BATCH];
    let idx = &mut idx[..batch.len()];
    let gemm = Gemm::new().beta(T::ONE);
    for item in 0..batch.iter().product() {
        unravel(item, batch, idx);
        let at: usize = idx.iter().zip(&strides).map(|(i, s)| i * s).sum();
        let (x, y) = operands(idx);
        gemm.to_slice(x, y, &mut grad[at..at + rows * cols], cols);
    }
    grad
}
