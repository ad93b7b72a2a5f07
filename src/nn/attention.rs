//! Scaled dot-product attention, `softmax(q·kᵀ/√Dk + mask)·v`, with the `1/√Dk` scale part of
//! the operation: no public function here computes an unscaled `softmax(q·kᵀ)`.
//!
//! Shapes are `q: (…, Sq, Dk)`, `k: (…, Sk, Dk)`, `v: (…, Sk, Dv)` → `(…, Sq, Dv)`, with zero,
//! one or two batch dims (e.g. heads, or batch and heads) shared by all three. The rule is
//! [`AttentionShapes`]: a `k` whose head dim is not `q`'s, or a `v` whose sequence dim is not
//! `k`'s, is a compile error that names the dims.
//!
//! ```
//! use shapecheck::prelude::*;
//! use shapecheck::nn::attention::{attention, attention_masked, AttentionMask};
//! dim!(pub Heads = 2; pub Seq = 5; pub HeadDim = 4);
//! let q = Tensor::<(Heads, Seq, HeadDim)>::randn(0);
//! let k = Tensor::<(Heads, Seq, HeadDim)>::randn(1);
//! let v = Tensor::<(Heads, Seq, HeadDim)>::randn(2);
//! let o: Tensor<(Heads, Seq, HeadDim)> = attention(&q, &k, &v);
//! // The same, written out: softmax over keys of q·kᵀ/√4, times v.
//! let p = (q.matmul(&k.t()) * 0.5).softmax::<2>();
//! let want = p.matmul(&v);
//! for (a, b) in o.as_slice().iter().zip(want.as_slice()) {
//!     assert!((a - b).abs() < 1e-5);
//! }
//! // A causal mask: query i sees keys 0..=i.
//! let c = attention_masked(&q, &k, &v, &AttentionMask::causal(0));
//! for h in 0..2 {
//!     for d in 0..4 {
//!         assert_eq!(c[[h, 0, d]], v[[h, 0, d]]); // the first query sees only the first key
//!     }
//! }
//! ```
//!
//! ```compile_fail
//! use shapecheck::prelude::*;
//! use shapecheck::nn::attention::attention;
//! dim!(pub Seq = 5; pub HeadDim = 4; pub Other = 4);
//! let q = Tensor::<(Seq, HeadDim)>::randn(0);
//! let k = Tensor::<(Seq, Other)>::randn(1); // k's head dim is not q's
//! let v = Tensor::<(Seq, HeadDim)>::randn(2);
//! let o = attention(&q, &k, &v);
//! ```
//!
//! # Masks
//!
//! An [`AttentionMask`] is an optional additive bias that must broadcast to the scores
//! `(…, Sq, Sk)` (checked by the type checker through [`BroadcastsTo`], and for runtime dims
//! at run time), plus an optional causal rule with an offset: query `i` sees key `j` when
//! `j ≤ i + offset` (the offset is the number of cached positions before the first query).
//! [`AttentionMask::padding`] builds the `(Batch, 1, 1, Sk)` mask of per-row sequence
//! lengths. A query row that sees no key at all gives zeros, never NaN.
//!
//! # How it runs
//!
//! Each batch item is cut into blocks of 256 query rows; the blocks are spread over the
//! threads of the pool. A block walks the keys in blocks of 256 with an online softmax
//! (running maximum and sum per row, the accumulated output rescaled when the maximum
//! grows), so the memory beyond q, k, v and the output is one 256×256 block of scores per
//! thread whatever the sequence length, never the `Sq×Sk` scores. Scores and the weighted
//! sum of values are GEMMs (`q·kᵀ` with the `1/√Dk` folded into its α, and `p·v`) that read
//! q, k and v through their strides, so heads split by
//! [`split_heads`](crate::Tensor::split_heads) are never copied. The pass between them (mask,
//! maximum, exponentials, sums) runs compiled for AVX2 and FMA when the CPU has them, its
//! exponentials' polynomial in fused multiply–adds: the default x86-64 target would give
//! 4-wide SSE, and that pass would then cost about half as much as the two GEMMs. The first
//! key block writes the output (β = 0), later ones accumulate. Under a causal mask, key blocks that no query of the block can see are
//! skipped.

use crate::dim::Dim;
use crate::element::Float;
use crate::error::ShapeError;
use crate::ops::matmul::kernel::{gemm_acc, with_avx2_fma, Operand};
use crate::parallel;
use crate::shape::{broadcast_strides, BroadcastsTo, Shape};
use crate::tensor::{AsView, Tensor, TensorView};

/// Query rows per block (and per unit of parallel work). Each block packs all of k and v
/// once for its GEMMs: 256 rows halve that repacking against 128 (measured at S = 512, in
/// ratio to the bare GEMMs: 0.78 with 128 rows, 0.80 with 256), and 12 heads of 128 or 256
/// positions still give 12 pieces of work.
const BLOCK_Q: usize = 256;
/// Keys per block of the online softmax: a 256×256 block of f32 scores (256 KiB) stays in
/// L2 between the score GEMM, the softmax pass and the GEMM with v.
const BLOCK_K: usize = 256;

/// The rule of attention: `q: Self = (…, Sq, Dk)` attends over `k: K = (…, Sk, Dk)` and
/// `v: V = (…, Sk, Dv)`, with the same batch dims (none, one or two).
#[diagnostic::on_unimplemented(
    message = "attention cannot pair q `{Self}` with k `{K}` and v `{V}`",
    label = "q, k and v must be (…, Sq, Dk), (…, Sk, Dk) and (…, Sk, Dv)",
    note = "q and k must end in the same head dim (the scores are q·kᵀ/√Dk), k and v must have the same sequence dim, and all three the same batch dims (at most two)"
)]
pub trait AttentionShapes<K: Shape, V: Shape>: Shape {
    /// The shape of the scores, `(…, Sq, Sk)`.
    type Scores: Shape;
    /// The shape of the result, `(…, Sq, Dv)`.
    type Output: Shape;
    #[doc(hidden)]
    fn scores_shape(&self, k: &K) -> Self::Scores;
    #[doc(hidden)]
    fn output_shape(&self, v: &V) -> Self::Output;
}

/// `Self` is k's head dim and must be q's head dim `Dk`.
#[diagnostic::on_unimplemented(
    message = "k's head dim `{Self}` is not q's head dim `{Dk}`",
    label = "the scores q·kᵀ need q and k to end in the same dim",
    note = "if k really has another width, project it first; equal sizes are not enough, the dims must be the same"
)]
pub trait KeyHeadDim<Dk: Dim>: Dim {}
impl<D: Dim> KeyHeadDim<D> for D {}

/// `Self` is v's sequence dim and must be k's sequence dim `Sk`.
#[diagnostic::on_unimplemented(
    message = "v's sequence dim `{Self}` is not k's sequence dim `{Sk}`",
    label = "each value belongs to a key: k and v must have the same sequence dim"
)]
pub trait ValueSeqDim<Sk: Dim>: Dim {}
impl<D: Dim> ValueSeqDim<D> for D {}

/// `Self` is a batch dim of k or v and must be q's batch dim `B`.
#[diagnostic::on_unimplemented(
    message = "the batch dim `{Self}` of k or v is not q's batch dim `{B}`",
    label = "q, k and v must have the same batch dims"
)]
pub trait SameBatchDim<B: Dim>: Dim {}
impl<D: Dim> SameBatchDim<D> for D {}

macro_rules! attention_rule {
    ($($B:ident $KB:ident $VB:ident $bi:tt),*; $si:tt, $di:tt) => {
        impl<$($B: Dim, $KB: SameBatchDim<$B>, $VB: SameBatchDim<$B>,)* Sq: Dim, Dk: Dim, Sk: Dim,
            Dk2: KeyHeadDim<Dk>, Sk2: ValueSeqDim<Sk>, Dv: Dim>
            AttentionShapes<($($KB,)* Sk, Dk2), ($($VB,)* Sk2, Dv)> for ($($B,)* Sq, Dk)
        {
            type Scores = ($($B,)* Sq, Sk);
            type Output = ($($B,)* Sq, Dv);
            #[inline]
            fn scores_shape(&self, k: &($($KB,)* Sk, Dk2)) -> Self::Scores {
                ($(self.$bi,)* self.$si, k.$si)
            }
            #[inline]
            fn output_shape(&self, v: &($($VB,)* Sk2, Dv)) -> Self::Output {
                ($(self.$bi,)* self.$si, v.$di)
            }
        }
    };
}

attention_rule!(; 0, 1);
attention_rule!(B0 K0 V0 0; 1, 2);
attention_rule!(B0 K0 V0 0, B1 K1 V1 1; 2, 3);

/// What an attention may see: an optional additive bias of shape `M` that broadcasts to the
/// scores (`0` keeps a score, `−∞` masks it, other values shift it), and an optional causal
/// rule. `M = ()` (the default) is a mask without a bias tensor.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::nn::attention::{attention_weights, AttentionMask};
/// dim!(pub Batch; pub Heads = 2; pub Seq = 4; pub HeadDim = 8);
/// let b = Batch::new(2);
/// let q = Tensor::<(Batch, Heads, Seq, HeadDim)>::randn_with((b, Heads, Seq, HeadDim), 0);
/// // The second sequence holds 2 tokens and 2 pads.
/// let mask = AttentionMask::padding(b, Seq, &[4, 2]).unwrap();
/// let p = attention_weights(&q, &q, &mask);
/// assert_eq!(p[[1, 0, 0, 2]], 0.0);
/// assert_eq!(p[[1, 0, 0, 3]], 0.0);
/// assert!(p[[0, 0, 0, 3]] > 0.0);
/// ```
#[derive(Clone, Debug)]
pub struct AttentionMask<M: Shape = (), T: Float = f32> {
    bias: Option<Tensor<M, T>>,
    causal: Option<usize>,
}

impl<T: Float> AttentionMask<(), T> {
    /// No mask: every query sees every key.
    pub fn none() -> Self {
        AttentionMask {
            bias: None,
            causal: None,
        }
    }

    /// The causal mask: query `i` sees key `j` when `j ≤ i + offset`. With a cache of `n`
    /// earlier positions before the queries, `offset = n`.
    pub fn causal(offset: usize) -> Self {
        AttentionMask {
            bias: None,
            causal: Some(offset),
        }
    }
}

impl<M: Shape, T: Float> AttentionMask<M, T> {
    /// A mask from an additive bias: `0` keeps a score, `−∞` masks it.
    pub fn from_bias(bias: Tensor<M, T>) -> Self {
        AttentionMask {
            bias: Some(bias),
            causal: None,
        }
    }

    /// A mask of shape `shape` that keeps the scores where `keep` is true.
    pub fn from_fn_with(shape: M, mut keep: impl FnMut(M::Index) -> bool) -> Self {
        Self::from_bias(Tensor::from_fn_with(shape, |i| {
            if keep(i) {
                T::ZERO
            } else {
                T::NEG_INFINITY
            }
        }))
    }

    /// The same mask, also causal with `offset` (see [`causal`](AttentionMask::causal)).
    pub fn and_causal(mut self, offset: usize) -> Self {
        self.causal = Some(offset);
        self
    }

    /// The bias tensor, if any.
    pub fn bias(&self) -> Option<&Tensor<M, T>> {
        self.bias.as_ref()
    }

    /// The causal offset, if causal.
    pub fn causal_offset(&self) -> Option<usize> {
        self.causal
    }

    /// The bias as an operand; its strides over the scores come from `plan`.
    fn bias_op(&self) -> Option<Op<'_, T>> {
        self.bias.as_ref().map(|b| Op {
            data: b.as_slice(),
            offset: 0,
            batch: [0; 2],
            rs: 0,
            cs: 0,
        })
    }
}

/// The mask of a padded batch, `(Batch, 1, 1, Sk)`: it broadcasts to scores
/// `(Batch, Heads, Sq, Sk)`.
pub type PaddingMask<B, Sk, T = f32> = AttentionMask<(B, crate::D<1>, crate::D<1>, Sk), T>;

impl<B: Dim, Sk: Dim, T: Float> PaddingMask<B, Sk, T> {
    /// Batch row `b` sees its first `lengths[b]` keys; the rest are padding. `Err` when
    /// `lengths` does not hold one length per row or a length exceeds `Sk`.
    pub fn padding(batch: B, seq: Sk, lengths: &[usize]) -> Result<Self, ShapeError> {
        let one = crate::D::<1>;
        let shape = (batch, one, one, seq);
        let err = |detail: String| ShapeError::Incompatible {
            op: "AttentionMask::padding",
            lhs: format!("{shape:?}"),
            rhs: format!("lengths {lengths:?}"),
            detail,
        };
        if lengths.len() != batch.size() {
            return Err(err(format!(
                "{} lengths for a batch of {}",
                lengths.len(),
                batch.size()
            )));
        }
        if let Some(&l) = lengths.iter().find(|&&l| l > seq.size()) {
            return Err(err(format!(
                "a length of {l} exceeds the sequence dim ({})",
                seq.size()
            )));
        }
        Ok(Self::from_fn_with(shape, |[b, _, _, j]| j < lengths[b]))
    }
}

/// One operand with up to two batch axes (missing leading ones have size 1, stride 0).
#[derive(Clone, Copy)]
struct Op<'a, T> {
    data: &'a [T],
    offset: usize,
    batch: [usize; 2],
    rs: usize,
    cs: usize,
}

impl<'a, T> Op<'a, T> {
    fn of<S: Shape>(v: &TensorView<'a, S, T>) -> Self
    where
        T: Float,
    {
        let (d, s) = (v.dims(), v.strides());
        let r = d.len();
        let mut batch = [0; 2];
        for a in 0..r - 2 {
            batch[2 - (r - 2) + a] = s[a];
        }
        Op {
            data: v.as_base_slice(),
            offset: v.offset(),
            batch,
            rs: s[r - 2],
            cs: s[r - 1],
        }
    }

    fn at(&self, b: [usize; 2], row: usize) -> usize {
        self.offset + b[0] * self.batch[0] + b[1] * self.batch[1] + row * self.rs
    }

    /// The `rows × cols` matrix from row `row` of batch item `b`, as a GEMM operand; with
    /// `transposed`, the matrix read as its transpose.
    fn gemm(&self, b: [usize; 2], row: usize, transposed: bool) -> Operand<'a, T> {
        let (rs, cs) = if transposed {
            (self.cs, self.rs)
        } else {
            (self.rs, self.cs)
        };
        Operand {
            data: self.data,
            offset: self.at(b, row),
            batch_strides: &[],
            rs,
            cs,
        }
    }
}

/// The extents of one attention, batch dims padded to two.
#[derive(Clone, Copy)]
struct Plan {
    batch: [usize; 2],
    sq: usize,
    sk: usize,
    dk: usize,
    dv: usize,
}

/// Checks the runtime sizes (static ones are guaranteed by the types) and returns the plan
/// and the bias's strides over the padded `(b0, b1, Sq, Sk)` scores.
fn plan<Q, K, V, M, T>(
    q: &TensorView<'_, Q, T>,
    k: &TensorView<'_, K, T>,
    v: &TensorView<'_, V, T>,
    bias: Option<&Tensor<M, T>>,
) -> Result<(Plan, [usize; 4]), ShapeError>
where
    Q: AttentionShapes<K, V>,
    K: Shape,
    V: Shape,
    M: Shape,
    T: Float,
{
    let (qd, kd, vd) = (q.dims(), k.dims(), v.dims());
    let r = qd.len();
    let err = |detail: String| ShapeError::Incompatible {
        op: "attention",
        lhs: format!("q {:?}", q.shape()),
        rhs: format!("k {:?}, v {:?}", k.shape(), v.shape()),
        detail,
    };
    if qd[..r - 2] != kd[..r - 2] || kd[..r - 2] != vd[..r - 2] {
        return Err(err("the batch dims differ".into()));
    }
    if qd[r - 1] != kd[r - 1] {
        return Err(err(format!(
            "q's head dim is {} and k's is {}",
            qd[r - 1],
            kd[r - 1]
        )));
    }
    if kd[r - 2] != vd[r - 2] {
        return Err(err(format!(
            "k holds {} positions and v holds {}",
            kd[r - 2],
            vd[r - 2]
        )));
    }
    let mut batch = [1; 2];
    for a in 0..r - 2 {
        batch[2 - (r - 2) + a] = qd[a];
    }
    let plan = Plan {
        batch,
        sq: qd[r - 2],
        sk: kd[r - 2],
        dk: qd[r - 1],
        dv: vd[r - 1],
    };
    let mut strides = [0; 4];
    if let Some(b) = bias {
        let scores = q.shape().scores_shape(&k.shape()).dims();
        let mut s = [0; 6];
        broadcast_strides(&b.dims(), &b.strides(), &scores, &mut s[..r]).ok_or_else(|| {
            ShapeError::Incompatible {
                op: "attention",
                lhs: format!("the scores {:?}", q.shape().scores_shape(&k.shape())),
                rhs: format!("the mask {:?}", b.shape()),
                detail: "the mask does not broadcast to the scores".into(),
            }
        })?;
        strides[4 - r..].copy_from_slice(&s[..r]);
    }
    Ok((plan, strides))
}

/// Per-thread scratch: one block of scores, and each row's running maximum and sum.
struct Scratch<T> {
    scores: Vec<T>,
    max: Vec<T>,
    sum: Vec<T>,
}

/// The largest element of `x` (−∞ if empty or all −∞); NaN is skipped here and propagates
/// through the exponentials instead.
#[inline(always)]
fn row_max<T: Float>(x: &[T]) -> T {
    let mut m = [T::NEG_INFINITY; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for (mi, &ci) in m.iter_mut().zip(c) {
            *mi = if ci > *mi { ci } else { *mi };
        }
    }
    let mut best = chunks
        .remainder()
        .iter()
        .fold(T::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    for mi in m {
        best = if mi > best { mi } else { best };
    }
    best
}

/// `x ← e^(x − shift)`, returning the sum of the new values.
#[inline(always)]
fn exp_shifted_sum<T: Float>(x: &mut [T], shift: T) -> T {
    let mut acc = [T::ZERO; 8];
    let mut chunks = x.chunks_exact_mut(8);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c.iter_mut()) {
            *v = (*v - shift).exp_softmax_fma();
            *a += *v;
        }
    }
    let mut total = T::ZERO;
    for v in chunks.into_remainder() {
        *v = (*v - shift).exp_softmax_fma();
        total += *v;
    }
    acc.iter().fold(total, |t, &a| t + a)
}

/// Applies the mask to the scores of query `i` of batch item `b` against keys
/// `kb..kb + row.len()`: adds the bias and hides the keys the causal rule forbids (−∞).
#[inline(always)]
fn mask_row<T: Float>(
    row: &mut [T],
    (b, i, kb): ([usize; 2], usize, usize),
    bias: Option<(&Op<'_, T>, [usize; 4])>,
    causal: Option<usize>,
) {
    let kn = row.len();
    if let Some((m, st)) = bias {
        let base = m.offset + b[0] * st[0] + b[1] * st[1] + i * st[2] + kb * st[3];
        if st[3] == 1 {
            let src = &m.data[base..base + kn];
            row.iter_mut().zip(src).for_each(|(x, &y)| *x += y);
        } else {
            for (j, x) in row.iter_mut().enumerate() {
                *x += m.data[base + j * st[3]];
            }
        }
    }
    if let Some(off) = causal {
        let visible = (i + off + 1).saturating_sub(kb).min(kn);
        row[visible..].iter_mut().for_each(|x| *x = T::NEG_INFINITY);
    }
}

/// One block of scores (`rows × kn`, row-major, keys `kb..kb + kn` of query rows `i0..` of
/// batch item `b`) through the online softmax: the mask applied, each row's running maximum
/// and sum updated, the scores replaced by their weights `e^(s − max)`, and the rows of
/// `out` accumulated so far rescaled when a maximum grows. Inlined into the AVX2 frame of
/// [`with_avx2_fma`] with the loops it calls.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn softmax_rows<T: Float>(
    scores: &mut [T],
    kn: usize,
    (b, i0, kb): ([usize; 2], usize, usize),
    bias: Option<(&Op<'_, T>, [usize; 4])>,
    causal: Option<usize>,
    (max, sum): (&mut [T], &mut [T]),
    (out, dv): (&mut [T], usize),
) {
    for (ii, row) in scores.chunks_exact_mut(kn).enumerate() {
        mask_row(row, (b, i0 + ii, kb), bias, causal);
        let old = max[ii];
        let block_max = row_max(row);
        let new = if block_max > old { block_max } else { old };
        if new == T::NEG_INFINITY {
            // No key visible to this row so far: its weights are all zero.
            row.iter_mut().for_each(|x| *x = T::ZERO);
            continue;
        }
        let total = exp_shifted_sum(row, new);
        if new != old && old != T::NEG_INFINITY {
            let corr = (old - new).exp();
            sum[ii] *= corr;
            out[ii * dv..(ii + 1) * dv]
                .iter_mut()
                .for_each(|x| *x *= corr);
        }
        sum[ii] += total;
        max[ii] = new;
    }
}

/// The attention of query rows `i0..i0 + out.len()/dv` of batch item `b`, written to `out`
/// (those rows of the result, row-major).
#[allow(clippy::too_many_arguments)]
fn attend_block<T: Float>(
    (q, k, v): (&Op<'_, T>, &Op<'_, T>, &Op<'_, T>),
    bias: Option<(&Op<'_, T>, [usize; 4])>,
    causal: Option<usize>,
    p: &Plan,
    b: [usize; 2],
    i0: usize,
    out: &mut [T],
    s: &mut Scratch<T>,
) {
    let rows = out.len() / p.dv;
    let scale = if p.dk == 0 {
        T::ONE
    } else {
        T::ONE / T::from_usize(p.dk).sqrt()
    };
    s.max.clear();
    s.max.resize(rows, T::NEG_INFINITY);
    s.sum.clear();
    s.sum.resize(rows, T::ZERO);
    // Keys past `end` are hidden from every query of the block.
    let end = match causal {
        Some(off) => p.sk.min(i0 + rows + off),
        None => p.sk,
    };
    let mut kb = 0;
    while kb < end {
        let kn = BLOCK_K.min(end - kb);
        s.scores.resize(rows * kn, T::ZERO);
        let scores = &mut s.scores[..rows * kn];
        // scores = scale · q[i0..] · k[kb..]ᵀ
        gemm_acc(
            rows,
            p.dk,
            kn,
            scale,
            &q.gemm(b, i0, false),
            &k.gemm(b, kb, true),
            T::ZERO,
            scores,
            kn,
        );
        let (max, sum) = (&mut s.max[..], &mut s.sum[..]);
        let outb = &mut *out;
        // The closure must be inlined into the AVX2 frame for its loops to be compiled
        // there: it sits in another codegen unit otherwise.
        with_avx2_fma(
            #[inline(always)]
            || {
                softmax_rows(
                    scores,
                    kn,
                    (b, i0, kb),
                    bias,
                    causal,
                    (max, sum),
                    (outb, p.dv),
                )
            },
        );
        // out = weights · v[kb..] for the first block (the old contents are ignored), then
        // out += weights · v[kb..]
        let beta = if kb == 0 { T::ZERO } else { T::ONE };
        gemm_acc(
            rows,
            kn,
            p.dv,
            T::ONE,
            &Operand {
                data: &s.scores[..rows * kn],
                offset: 0,
                batch_strides: &[],
                rs: kn,
                cs: 1,
            },
            &v.gemm(b, kb, false),
            beta,
            out,
            p.dv,
        );
        kb += kn;
    }
    if end == 0 {
        // No key at all (Sk = 0): the weights are empty and the result is zero.
        out.iter_mut().for_each(|x| *x = T::ZERO);
    }
    for (row, &sum) in out.chunks_exact_mut(p.dv).zip(&s.sum) {
        // A row that saw no key has sum 0 and an all-zero accumulator: it stays zero.
        let inv = if sum > T::ZERO { T::ONE / sum } else { T::ZERO };
        row.iter_mut().for_each(|x| *x *= inv);
    }
}

/// Runs the whole attention into `out`, `(items, Sq, Dv)` row-major.
fn attend<T: Float>(
    ops: (&Op<'_, T>, &Op<'_, T>, &Op<'_, T>),
    bias: Option<(&Op<'_, T>, [usize; 4])>,
    causal: Option<usize>,
    p: &Plan,
    out: &mut [T],
) {
    if out.is_empty() {
        return;
    }
    let per_item = p.sq * p.dv;
    let mut chunks = Vec::new();
    for (item, c) in out.chunks_exact_mut(per_item).enumerate() {
        let b = [item / p.batch[1], item % p.batch[1]];
        for (blk, rows) in c.chunks_mut(BLOCK_Q * p.dv).enumerate() {
            chunks.push((b, blk * BLOCK_Q, rows));
        }
    }
    let items = p.batch[0] * p.batch[1];
    let macs = items * p.sq * p.sk * (p.dk + p.dv);
    let threads = parallel::threads_for(chunks.len(), macs);
    parallel::for_each_chunk(
        chunks,
        threads,
        || Scratch {
            scores: Vec::new(),
            max: Vec::new(),
            sum: Vec::new(),
        },
        |s, _, (b, i0, rows)| attend_block(ops, bias, causal, p, b, i0, rows, s),
    );
}

type Out<Q, K, V> = <Q as AttentionShapes<K, V>>::Output;
type Scores<Q, K, V> = <Q as AttentionShapes<K, V>>::Scores;
/// The output shape of attention over views `Q`, `K`, `V`.
type OutOf<Q, K, V> = Out<<Q as AsView>::Shape, <K as AsView>::Shape, <V as AsView>::Shape>;
/// The scores shape of `Q` against `K`.
type ScoresOf<Q, K> = Scores<<Q as AsView>::Shape, <K as AsView>::Shape, <K as AsView>::Shape>;

fn attention_views<Q, K, V, M, T>(
    q: &TensorView<'_, Q, T>,
    k: &TensorView<'_, K, T>,
    v: &TensorView<'_, V, T>,
    mask: &AttentionMask<M, T>,
) -> Result<Tensor<Out<Q, K, V>, T>, ShapeError>
where
    Q: AttentionShapes<K, V>,
    K: Shape,
    V: Shape,
    M: Shape,
    T: Float,
{
    let (p, st) = plan(q, k, v, mask.bias.as_ref())?;
    let shape = q.shape().output_shape(&v.shape());
    let mut out = vec![T::ZERO; shape.num_elements()];
    let bias_op = mask.bias_op();
    attend(
        (&Op::of(q), &Op::of(k), &Op::of(v)),
        bias_op.as_ref().map(|o| (o, st)),
        mask.causal,
        &p,
        &mut out,
    );
    Ok(Tensor::from_parts(shape, out))
}

/// Scaled dot-product attention `softmax(q·kᵀ/√Dk)·v` over `q: (…, Sq, Dk)`,
/// `k: (…, Sk, Dk)`, `v: (…, Sk, Dv)`; see the [module](self) documentation.
///
/// # Panics
///
/// When runtime dims disagree; see [`try_attention`].
#[track_caller]
pub fn attention<Q, K, V, T>(q: &Q, k: &K, v: &V) -> Tensor<OutOf<Q, K, V>, T>
where
    Q: AsView<Elem = T>,
    K: AsView<Elem = T>,
    V: AsView<Elem = T>,
    Q::Shape: AttentionShapes<K::Shape, V::Shape>,
    T: Float,
{
    match try_attention(q, k, v) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    }
}

/// [`attention`], returning `Err` when runtime dims disagree.
pub fn try_attention<Q, K, V, T>(
    q: &Q,
    k: &K,
    v: &V,
) -> Result<Tensor<OutOf<Q, K, V>, T>, ShapeError>
where
    Q: AsView<Elem = T>,
    K: AsView<Elem = T>,
    V: AsView<Elem = T>,
    Q::Shape: AttentionShapes<K::Shape, V::Shape>,
    T: Float,
{
    attention_views(
        &q.as_view(),
        &k.as_view(),
        &v.as_view(),
        &AttentionMask::<(), T>::none(),
    )
}

/// Attention under a mask: `softmax(q·kᵀ/√Dk + bias, causal)·v`. The mask's bias must
/// broadcast to the scores `(…, Sq, Sk)`.
///
/// # Panics
///
/// When runtime dims disagree; see [`try_attention_masked`].
#[track_caller]
pub fn attention_masked<Q, K, V, M, T>(
    q: &Q,
    k: &K,
    v: &V,
    mask: &AttentionMask<M, T>,
) -> Tensor<OutOf<Q, K, V>, T>
where
    Q: AsView<Elem = T>,
    K: AsView<Elem = T>,
    V: AsView<Elem = T>,
    Q::Shape: AttentionShapes<K::Shape, V::Shape>,
    M: BroadcastsTo<Scores<Q::Shape, K::Shape, V::Shape>>,
    T: Float,
{
    match try_attention_masked(q, k, v, mask) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    }
}

/// [`attention_masked`], returning `Err` when runtime dims disagree (including a mask whose
/// runtime dims do not fit the scores).
pub fn try_attention_masked<Q, K, V, M, T>(
    q: &Q,
    k: &K,
    v: &V,
    mask: &AttentionMask<M, T>,
) -> Result<Tensor<OutOf<Q, K, V>, T>, ShapeError>
where
    Q: AsView<Elem = T>,
    K: AsView<Elem = T>,
    V: AsView<Elem = T>,
    Q::Shape: AttentionShapes<K::Shape, V::Shape>,
    M: BroadcastsTo<Scores<Q::Shape, K::Shape, V::Shape>>,
    T: Float,
{
    attention_views(&q.as_view(), &k.as_view(), &v.as_view(), mask)
}

/// The attention weights `softmax(q·kᵀ/√Dk + mask)`, `(…, Sq, Sk)`, for inspection: the
/// whole score matrix is formed, so prefer [`attention_masked`] to apply them.
///
/// # Panics
///
/// When runtime dims disagree.
#[track_caller]
pub fn attention_weights<Q, K, M, T>(
    q: &Q,
    k: &K,
    mask: &AttentionMask<M, T>,
) -> Tensor<ScoresOf<Q, K>, T>
where
    Q: AsView<Elem = T>,
    K: AsView<Elem = T>,
    Q::Shape: AttentionShapes<K::Shape, K::Shape>,
    M: BroadcastsTo<Scores<Q::Shape, K::Shape, K::Shape>>,
    T: Float,
{
    let (q, k) = (q.as_view(), k.as_view());
    let (p, st) = match plan(&q, &k, &k, mask.bias.as_ref()) {
        Ok(x) => x,
        Err(e) => panic!("{e}"),
    };
    let shape = q.shape().scores_shape(&k.shape());
    let mut out = vec![T::ZERO; shape.num_elements()];
    let scale = if p.dk == 0 {
        T::ONE
    } else {
        T::ONE / T::from_usize(p.dk).sqrt()
    };
    let (qo, ko, bias_op) = (Op::of(&q), Op::of(&k), mask.bias_op());
    let bias = bias_op.as_ref().map(|o| (o, st));
    if p.sk > 0 {
        for (item, scores) in out.chunks_exact_mut(p.sq * p.sk).enumerate() {
            let b = [item / p.batch[1], item % p.batch[1]];
            let kt = ko.gemm(b, 0, true);
            gemm_acc(
                p.sq,
                p.dk,
                p.sk,
                scale,
                &qo.gemm(b, 0, false),
                &kt,
                T::ZERO,
                scores,
                p.sk,
            );
            let causal = mask.causal;
            // The same AVX2/FMA frame as the softmax pass of `attention`.
            with_avx2_fma(
                #[inline(always)]
                || {
                    for (i, row) in scores.chunks_exact_mut(p.sk).enumerate() {
                        mask_row(row, (b, i, 0), bias, causal);
                        let max = row_max(row);
                        if max == T::NEG_INFINITY {
                            row.iter_mut().for_each(|x| *x = T::ZERO); // sees no key
                            continue;
                        }
                        let inv = T::ONE / exp_shifted_sum(row, max);
                        row.iter_mut().for_each(|x| *x *= inv);
                    }
                },
            );
        }
    }
    Tensor::from_parts(shape, out)
}
