//! Traced scaled dot-product attention: the functions of [`nn::attention`](crate::ops::attention)
//! on [`Var`]s, with the same names, the same shape rules ([`AttentionShapes`], a mask that
//! [`BroadcastsTo`] the scores) and so the same compile errors, and a forward whose value
//! is the tensor op's, bit for bit (it is the same blocked online softmax).
//!
//! When an input is traced, the forward also keeps each query row's log-sum-exp (`Sq`
//! numbers per batch item) beside its output; the backward pass recomputes the scores block
//! by block from them, as FlashAttention-2 does, so neither pass ever holds the `Sq × Sk`
//! weights: the memory beyond the inputs, the output and the gradients is a few blocks of
//! scores per thread and `O(Sq)` row terms. `examples/attention_memory.rs` measures the peak
//! extra allocation (causal, head dim 64, f32, 2 threads):
//!
//! | heads, S | forward | forward + backward | one f32 score matrix per head |
//! |---|---|---|---|
//! | 1, 1024 | 1.0 MiB | 2.4 MiB | 4 MiB |
//! | 1, 2048 | 1.3 MiB | 4.4 MiB | 16 MiB |
//! | 4, 1024 | 1.8 MiB | 5.4 MiB | 16 MiB |
//! | 4, 2048 | 2.8 MiB | 10.4 MiB | 64 MiB |
//!
//! (the forward + backward peak includes the output, the seed gradient and the three input
//! gradients, each `H·S·64` elements; the same attention composed from primitive traced ops
//! peaks at 129 MiB for one head at S = 2048).
//!
//! - [`attention`] / [`try_attention`]: no mask.
//! - [`attention_masked`] / [`try_attention_masked`]: an [`AttentionMask`] (causal with an
//!   offset, padding, an additive bias). The mask is a **constant**: no gradient flows into
//!   its bias.
//! - [`attention_biased`] / [`try_attention_biased`]: a **traced** additive bias (a learned
//!   relative-position bias, ALiBi slopes …), optionally causal; its gradient is summed over
//!   the axes it is broadcast along. Its backward runs on one thread (the sum over broadcast
//!   axes is shared by every block).
//!
//! Gradients follow the forward's rules for non-finite values: a NaN in q, k, v (or the
//! bias) reaches the gradients of the rows it touched, and a fully masked query row (which
//! gives zeros) gives zero gradients.
//!
//! ```
//! use shapecheck::autodiff::attention::attention_masked;
//! use shapecheck::autodiff::{Param, Tape};
//! use shapecheck::nn::attention::{self as plain, AttentionMask};
//! use shapecheck::prelude::*;
//! dim!(pub Heads = 2; pub Seq = 5; pub HeadDim = 4);
//! let q = Param::new(Tensor::<(Heads, Seq, HeadDim)>::randn(0));
//! let kv = Tensor::<(Heads, Seq, HeadDim)>::randn(1);
//! let tape = Tape::new();
//! let mask = AttentionMask::causal(0);
//! let (qv, k) = (tape.param(&q), tape.constant(kv.clone()));
//! let o = attention_masked(&qv, &k, &k, &mask);
//! // The value is the tensor op's.
//! let want = plain::attention_masked(q.value(), &kv, &kv, &mask);
//! assert_eq!(o.value().to_vec(), want.as_slice());
//! let grads = o.sum_all().backward();
//! // The first query sees only the first key: its output does not depend on it.
//! let g = grads.of(&q).unwrap();
//! assert!((0..4).all(|d| g.get([0, 0, d]) == Some(&0.0)));
//! ```
//!
//! The shape rules are the tensor op's:
//!
//! ```compile_fail
//! use shapecheck::autodiff::{attention::attention, Tape};
//! use shapecheck::prelude::*;
//! dim!(pub Seq = 5; pub HeadDim = 4; pub Other = 4);
//! let tape = Tape::<f32>::new();
//! let q = tape.constant(Tensor::<(Seq, HeadDim)>::randn(0));
//! let k = tape.constant(Tensor::<(Seq, Other)>::randn(1)); // k's head dim is not q's
//! let o = attention(&q, &k, &q);
//! ```

use std::borrow::Cow;

use super::attention_backward::{self as kernel, Grads, Saved};
use super::var::{one_tape, record, Handle, Var};
use crate::element::Float;
use crate::error::{OrPanic, ShapeError};
use crate::ops::attention::online::{self, Operands};
use crate::ops::attention::{masking, operand, plan, AttentionMask, AttentionShapes};
use crate::shape::{BroadcastsTo, Shape};
use crate::tensor::Tensor;

/// The output shape of attention of `q: Q` over `k: K`, `v: V`.
pub type Out<Q, K, V> = <Q as AttentionShapes<K, V>>::Output;
/// The scores shape of attention of `q: Q` over `k: K`, `v: V`.
pub type Scores<Q, K, V> = <Q as AttentionShapes<K, V>>::Scores;

/// Traced scaled dot-product attention `softmax(q·kᵀ/√Dk)·v`; see
/// [`nn::attention::attention`](crate::ops::attention::attention) for the shapes and the
/// [module](self) documentation for the gradients.
///
/// # Panics
///
/// When runtime dims disagree; see [`try_attention`].
#[track_caller]
pub fn attention<'t, Q, K, V, T>(
    q: &Var<'t, Q, T>,
    k: &Var<'t, K, T>,
    v: &Var<'t, V, T>,
) -> Var<'t, Out<Q, K, V>, T>
where
    Q: AttentionShapes<K, V>,
    K: Shape,
    V: Shape,
    T: Float,
{
    try_attention(q, k, v).or_panic()
}

/// [`attention`], returning `Err` when runtime dims disagree.
pub fn try_attention<'t, Q, K, V, T>(
    q: &Var<'t, Q, T>,
    k: &Var<'t, K, T>,
    v: &Var<'t, V, T>,
) -> Result<Var<'t, Out<Q, K, V>, T>, ShapeError>
where
    Q: AttentionShapes<K, V>,
    K: Shape,
    V: Shape,
    T: Float,
{
    forward(q, k, v, Cow::Owned(AttentionMask::<(), T>::none()), None)
}

/// Traced attention under a constant mask: `softmax(q·kᵀ/√Dk + bias, causal)·v`; see
/// [`nn::attention::attention_masked`](crate::ops::attention::attention_masked). No gradient
/// flows into the mask's bias (use [`attention_biased`] for a traced one).
///
/// ```
/// use shapecheck::autodiff::{attention::attention_masked, Param, Tape};
/// use shapecheck::nn::attention::AttentionMask;
/// use shapecheck::prelude::*;
/// dim!(pub Batch; pub Heads = 2; pub Seq = 4; pub HeadDim = 8);
/// let b = Batch::new(2);
/// let x = Param::new(Tensor::<(Batch, Heads, Seq, HeadDim)>::randn_with((b, Heads, Seq, HeadDim), 0));
/// let tape = Tape::new();
/// let xv = tape.param(&x);
/// // The second sequence holds 3 tokens and a pad.
/// let o = attention_masked(&xv, &xv, &xv, &AttentionMask::padding(b, Seq, &[4, 3]));
/// let grads = o.sum_all().backward();
/// assert_eq!(grads.of(&x).unwrap().shape().dims().as_slice(), &[2, 2, 4, 8]);
/// ```
///
/// # Panics
///
/// When runtime dims disagree; see [`try_attention_masked`].
#[track_caller]
pub fn attention_masked<'t, Q, K, V, M, T>(
    q: &Var<'t, Q, T>,
    k: &Var<'t, K, T>,
    v: &Var<'t, V, T>,
    mask: &AttentionMask<M, T>,
) -> Var<'t, Out<Q, K, V>, T>
where
    Q: AttentionShapes<K, V>,
    K: Shape,
    V: Shape,
    M: BroadcastsTo<Scores<Q, K, V>>,
    T: Float,
{
    try_attention_masked(q, k, v, mask).or_panic()
}

/// [`attention_masked`], returning `Err` when runtime dims disagree (including a mask whose
/// runtime dims do not fit the scores).
pub fn try_attention_masked<'t, Q, K, V, M, T>(
    q: &Var<'t, Q, T>,
    k: &Var<'t, K, T>,
    v: &Var<'t, V, T>,
    mask: &AttentionMask<M, T>,
) -> Result<Var<'t, Out<Q, K, V>, T>, ShapeError>
where
    Q: AttentionShapes<K, V>,
    K: Shape,
    V: Shape,
    M: BroadcastsTo<Scores<Q, K, V>>,
    T: Float,
{
    forward(q, k, v, Cow::Borrowed(mask), None)
}

/// Traced attention with a traced additive bias, `softmax(q·kᵀ/√Dk + bias, causal)·v`, the
/// bias broadcasting to the scores `(…, Sq, Sk)`; `causal` is the causal offset, if any
/// (see [`AttentionMask::causal`]). The bias gets a gradient, summed over the axes it is
/// broadcast along; `−∞` entries mask scores as in a constant mask (and get zero gradient).
///
/// ```
/// use shapecheck::autodiff::{attention::attention_biased, Param, Tape};
/// use shapecheck::prelude::*;
/// dim!(pub Heads = 2; pub Seq = 3; pub HeadDim = 4);
/// let x = Tensor::<(Heads, Seq, HeadDim)>::randn(0);
/// // One learned bias per (query, key) pair, shared by the heads.
/// let bias = Param::new(Tensor::<(Seq, Seq)>::zeros());
/// let tape = Tape::new();
/// let xv = tape.constant(x);
/// let o = attention_biased(&xv, &xv, &xv, &tape.param(&bias), Some(0));
/// let grads = o.sum_all().backward();
/// let g = grads.of(&bias).unwrap();
/// assert_eq!(g.get([0, 1]), Some(&0.0)); // hidden by the causal rule
/// ```
///
/// # Panics
///
/// When runtime dims disagree; see [`try_attention_biased`].
#[track_caller]
pub fn attention_biased<'t, Q, K, V, M, T>(
    q: &Var<'t, Q, T>,
    k: &Var<'t, K, T>,
    v: &Var<'t, V, T>,
    bias: &Var<'t, M, T>,
    causal: Option<usize>,
) -> Var<'t, Out<Q, K, V>, T>
where
    Q: AttentionShapes<K, V>,
    K: Shape,
    V: Shape,
    M: BroadcastsTo<Scores<Q, K, V>>,
    T: Float,
{
    try_attention_biased(q, k, v, bias, causal).or_panic()
}

/// [`attention_biased`], returning `Err` when runtime dims disagree (including a bias whose
/// runtime dims do not fit the scores).
pub fn try_attention_biased<'t, Q, K, V, M, T>(
    q: &Var<'t, Q, T>,
    k: &Var<'t, K, T>,
    v: &Var<'t, V, T>,
    bias: &Var<'t, M, T>,
    causal: Option<usize>,
) -> Result<Var<'t, Out<Q, K, V>, T>, ShapeError>
where
    Q: AttentionShapes<K, V>,
    K: Shape,
    V: Shape,
    M: BroadcastsTo<Scores<Q, K, V>>,
    T: Float,
{
    // The kernel reads the bias as a contiguous tensor of its own shape: a copy of `|M|`
    // elements, the size of the bias itself.
    one_tape("attention_biased", &[q.tape, bias.tape]);
    let mut mask = AttentionMask::from_bias(bias.to_tensor());
    if let Some(off) = causal {
        mask = mask.and_causal(off);
    }
    forward(q, k, v, Cow::Owned(mask), Some(bias.h.clone()))
}

/// The forward (the tensor op's kernel, keeping the log-sum-exps when an input is traced)
/// and the record of its backward.
fn forward<'t, Q, K, V, M, T>(
    q: &Var<'t, Q, T>,
    k: &Var<'t, K, T>,
    v: &Var<'t, V, T>,
    mask: Cow<'_, AttentionMask<M, T>>,
    bias: Option<Handle<M, T>>,
) -> Result<Var<'t, Out<Q, K, V>, T>, ShapeError>
where
    Q: AttentionShapes<K, V>,
    K: Shape,
    V: Shape,
    M: Shape,
    T: Float,
{
    let (qv, kv, vv) = (q.value(), k.value(), v.value());
    let (p, st) = plan(&qv, &kv, &vv, mask.bias())?;
    let shape = qv.shape().output_shape(&vv.shape());
    let bias_traced = bias.as_ref().is_some_and(Handle::is_traced);
    let traced = q.is_traced() || k.is_traced() || v.is_traced() || bias_traced;
    let mut out = crate::pool::zeroed(shape.num_elements());
    let rows = p.batch[0] * p.batch[1] * p.sq;
    let mut lse = crate::pool::zeroed(if traced { rows } else { 0 });
    let mut strides = [[0usize; 2]; 3];
    let [qs, ks, vs] = &mut strides;
    let ops = Operands {
        q: operand(&qv, &p, qs),
        k: operand(&kv, &p, ks),
        v: operand(&vv, &p, vs),
    };
    online::attend(
        ops,
        masking(&mask, st),
        &p,
        &mut out,
        traced.then_some(&mut lse[..]),
    );
    let value = Tensor::from_parts(shape, out);
    let (qh, kh, vh) = (q.h.clone(), k.h.clone(), v.h.clone());
    let tape = one_tape("attention", &[q.tape, k.tape, v.tape]);
    Ok(record(tape, value, traced, move |o| {
        let o = o.clone();
        // Only a recorded backward keeps the mask (a copy of a borrowed bias): the
        // untraced path copies nothing.
        let mask = mask.into_owned();
        let bias = bias.filter(Handle::is_traced);
        Box::new(move |g, sink| {
            let (qv, kv, vv) = (qh.view(), kh.view(), vh.view());
            let mut strides = [[0usize; 2]; 3];
            let [qs, ks, vs] = &mut strides;
            let ops = Operands {
                q: operand(&qv, &p, qs),
                k: operand(&kv, &p, ks),
                v: operand(&vv, &p, vs),
            };
            let items = p.batch[0] * p.batch[1];
            let mut dq = crate::pool::zeroed(items * p.sq * p.dk);
            let mut dk = crate::pool::zeroed(items * p.sk * p.dk);
            let mut dv = crate::pool::zeroed(items * p.sk * p.dv);
            // The bias gradient is laid out like the mask's (contiguous) bias tensor, so it
            // is read back with the same broadcast strides `st`.
            let mut db = bias
                .as_ref()
                .map(|b| crate::pool::zeroed(b.shape.num_elements()));
            let dbias = db.as_deref_mut().map(|buf| (buf, st));
            kernel::backward(
                ops,
                masking(&mask, st),
                &p,
                Saved {
                    out: o.data.slice(),
                    lse: &lse,
                },
                g,
                Grads {
                    dq: &mut dq,
                    dk: &mut dk,
                    dv: &mut dv,
                    dbias,
                },
            );
            sink.add_owned(&qh, dq);
            sink.add_owned(&kh, dk);
            sink.add_owned(&vh, dv);
            if let (Some(b), Some(db)) = (&bias, &db) {
                sink.add(b, db);
            }
        })
    }))
}
