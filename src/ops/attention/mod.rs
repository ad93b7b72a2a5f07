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
//! # Non-finite inputs
//!
//! NaN propagates, as in PyTorch: a NaN in a query makes that query's output row NaN, a NaN
//! in a key the rows that see it, a NaN in a value the output columns it is weighted into.
//! A score of `+∞` (say from an infinite query) makes its row NaN (`e^(∞ − ∞)`). The one
//! documented exception is a row whose scores are all `−∞` after the mask (a fully masked
//! row): it gives zeros, whatever `v` holds.
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
//! key block writes the output (β = 0), later ones accumulate. Under a causal mask, key
//! blocks that no query of the block can see are skipped.
//!
//! The pieces: the rules and the API here, the mask in `mask.rs`, the blocked online softmax
//! in `online.rs`.

mod mask;
pub(crate) mod online;

pub use mask::{AttentionMask, PaddingMask};

use crate::dim::Dim;
use crate::element::Float;
use crate::error::OrPanic;
use crate::error::ShapeError;
use crate::kernel::MatRef;
use crate::shape::{broadcast_strides, BroadcastsTo, Shape};
use crate::tensor::{AsView, Tensor, TensorView};
use online::{Bias, Masking, Operands, Plan};

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

/// Checks the runtime sizes (static ones are guaranteed by the types) and returns the plan
/// and the bias's strides over the padded `(b0, b1, Sq, Sk)` scores.
pub(crate) fn plan<Q, K, V, M, T>(
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
    let err = |detail: String| {
        ShapeError::incompatible_described(
            "attention",
            format!("q {:?}", q.shape()),
            format!("k {:?}, v {:?}", k.shape(), v.shape()),
            detail,
        )
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
            ShapeError::incompatible_described(
                "attention",
                format!("the scores {:?}", q.shape().scores_shape(&k.shape())),
                format!("the mask {:?}", b.shape()),
                "the mask does not broadcast to the scores",
            )
        })?;
        strides[4 - r..].copy_from_slice(&s[..r]);
    }
    Ok((plan, strides))
}

/// `v: (…, S, D)` as a GEMM operand over the batch axes of `p` (padded to two: a missing
/// leading one has size 1 and stride 0), with its batch strides stored in `strides`.
pub(crate) fn operand<'a, S: Shape, T: Float>(
    v: &TensorView<'a, S, T>,
    p: &'a Plan,
    strides: &'a mut [usize; 2],
) -> MatRef<'a, T> {
    let (d, s) = (v.dims(), v.strides());
    let r = d.len();
    for a in 0..r - 2 {
        strides[2 - (r - 2) + a] = s[a];
    }
    let strides: &'a [usize; 2] = strides;
    MatRef::batched(
        v.as_base_slice(),
        v.offset(),
        (&p.batch, strides),
        (d[r - 2], d[r - 1]),
        (s[r - 2], s[r - 1]),
    )
}

/// The mask's parts the kernel reads: the bias with its strides over the scores `st`.
pub(crate) fn masking<'a, M: Shape, T: Float>(
    mask: &'a AttentionMask<M, T>,
    st: [usize; 4],
) -> Masking<'a, T> {
    Masking {
        bias: mask.bias.as_ref().map(|b| Bias {
            data: b.as_slice(),
            strides: st,
        }),
        causal: mask.causal,
        window: mask.window,
    }
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
    let mut strides = [[0usize; 2]; 3];
    let [qs, ks, vs] = &mut strides;
    let ops = Operands {
        q: operand(q, &p, qs),
        k: operand(k, &p, ks),
        v: operand(v, &p, vs),
    };
    online::attend(ops, masking(mask, st), &p, &mut out, None);
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
    try_attention(q, k, v).or_panic()
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
    try_attention_masked(q, k, v, mask).or_panic()
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
/// whole score matrix is formed, so prefer [`attention_masked`] to apply them. Non-finite
/// scores give what `softmax` gives (see the [module](self) documentation).
///
/// # Panics
///
/// When runtime dims disagree; see [`try_attention_weights`].
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
    try_attention_weights(q, k, mask).or_panic()
}

/// [`attention_weights`], returning `Err` when runtime dims disagree (including a mask whose
/// runtime dims do not fit the scores).
pub fn try_attention_weights<Q, K, M, T>(
    q: &Q,
    k: &K,
    mask: &AttentionMask<M, T>,
) -> Result<Tensor<ScoresOf<Q, K>, T>, ShapeError>
where
    Q: AsView<Elem = T>,
    K: AsView<Elem = T>,
    Q::Shape: AttentionShapes<K::Shape, K::Shape>,
    M: BroadcastsTo<Scores<Q::Shape, K::Shape, K::Shape>>,
    T: Float,
{
    let (q, k) = (q.as_view(), k.as_view());
    let (p, st) = plan(&q, &k, &k, mask.bias.as_ref())?;
    let shape = q.shape().scores_shape(&k.shape());
    let mut out = vec![T::ZERO; shape.num_elements()];
    let (mut qs, mut ks) = ([0usize; 2], [0usize; 2]);
    let ops = (operand(&q, &p, &mut qs), operand(&k, &p, &mut ks));
    online::weights(ops, masking(mask, st), &p, &mut out);
    Ok(Tensor::from_parts(shape, out))
}
