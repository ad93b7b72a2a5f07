//! One post-LayerNorm BERT layer (self-attention, then the GELU feed-forward, each added to
//! its input and normalised) over a packed batch, built from `nn` layers, with its hook
//! points (the model-independent [`Hooks`]); and the loaders of its weights from safetensors names.

use super::packed::{attend, Spans};
use super::{Ffn, Hidden, Tokens, LN_EPS};
use crate::dim::{Dim, StaticDim};
use crate::error::OrPanic;
use crate::inspect::{Hooks, Site};
use crate::io::{LoadError, SafeTensors};
use crate::nn::ffn::{Activation, FeedForward};
use crate::nn::flow::{Input, Plain};
use crate::nn::linear::Linear;
use crate::nn::norm::LayerNorm;
use crate::tensor::Tensor;

/// The layers of one encoder layer.
pub(super) struct Layer {
    pub(super) query: Linear<Hidden, Hidden>,
    pub(super) key: Linear<Hidden, Hidden>,
    pub(super) value: Linear<Hidden, Hidden>,
    pub(super) output: Linear<Hidden, Hidden>,
    pub(super) attention_norm: LayerNorm<Hidden>,
    pub(super) ffn: FeedForward<Hidden, Ffn>,
    pub(super) output_norm: LayerNorm<Hidden>,
}

/// `residual + l(x)`, the add in the product's write-back: bit for bit `residual + l(x)`
/// unfused.
fn plus_linear<DIn: Dim>(
    residual: &Tensor<(Tokens, Hidden)>,
    l: &Linear<DIn, Hidden>,
    x: &Tensor<(Tokens, DIn)>,
) -> Tensor<(Tokens, Hidden)> {
    x.try_linear_residual_with(&l.weight, l.bias.as_ref(), residual)
        .or_panic()
}

/// `{prefix}.weight` (stored `(DOut, DIn)`, as PyTorch stores it) and `{prefix}.bias`.
fn linear<DIn: StaticDim, DOut: StaticDim>(
    st: &SafeTensors,
    prefix: &str,
) -> Result<Linear<DIn, DOut>, LoadError> {
    let weight = st.load::<(DOut, DIn), f32>(&format!("{prefix}.weight"))?;
    let bias = st.load::<(DOut,), f32>(&format!("{prefix}.bias"))?;
    Ok(Linear::new(weight, Some(bias)))
}

/// The `LayerNorm` under `{prefix}` (`.weight`, `.bias`).
pub(super) fn layer_norm(st: &SafeTensors, prefix: &str) -> Result<LayerNorm<Hidden>, LoadError> {
    Ok(LayerNorm::new(
        st.load(&format!("{prefix}.weight"))?,
        st.load(&format!("{prefix}.bias"))?,
        LN_EPS,
    ))
}

/// The hooks of a layer's forward over a packed batch: the stream `(Tokens, Hidden)`, the
/// packed queries and keys before the split into heads `(Tokens, Hidden)`, the FFN's
/// activations `(Tokens, Ffn)`.
pub(super) trait LayerHooks:
    Hooks<
    Plain,
    f32,
    Stream = (Tokens, Hidden),
    Merged = (Tokens, Hidden),
    Heads = (Tokens, Hidden),
    Ffn = (Tokens, Ffn),
>
{
}

impl<X> LayerHooks for X where
    X: Hooks<
        Plain,
        f32,
        Stream = (Tokens, Hidden),
        Merged = (Tokens, Hidden),
        Heads = (Tokens, Hidden),
        Ffn = (Tokens, Ffn),
    >
{
}

impl Layer {
    /// Layer `i` of a checkpoint: the tensors under `encoder.layer.{i}`.
    pub(super) fn load(st: &SafeTensors, i: usize) -> Result<Self, LoadError> {
        let p = format!("encoder.layer.{i}");
        Ok(Layer {
            query: linear(st, &format!("{p}.attention.self.query"))?,
            key: linear(st, &format!("{p}.attention.self.key"))?,
            value: linear(st, &format!("{p}.attention.self.value"))?,
            output: linear(st, &format!("{p}.attention.output.dense"))?,
            attention_norm: layer_norm(st, &format!("{p}.attention.output.LayerNorm"))?,
            ffn: FeedForward::new(
                linear(st, &format!("{p}.intermediate.dense"))?,
                linear(st, &format!("{p}.output.dense"))?,
                Activation::Gelu,
            ),
            output_norm: layer_norm(st, &format!("{p}.output.LayerNorm"))?,
        })
    }

    /// The layer over the packed rows `x` of the sentences `spans`: the residual stream in,
    /// the residual stream out, its hook points passed to `hooks`
    /// ([`NoHooks`](crate::inspect::NoHooks) for a plain forward). Every product runs on
    /// all tokens at once; attention runs per sentence on its own rows.
    pub(super) fn forward(
        &self,
        x: Tensor<(Tokens, Hidden)>,
        spans: &Spans,
        hooks: &mut impl LayerHooks,
    ) -> Tensor<(Tokens, Hidden)> {
        let x = hooks.resid(Site::ResidPre, x);
        let (q, k, v) = (
            self.query.forward(&x),
            self.key.forward(&x),
            self.value.forward(&x),
        );
        hooks.heads(&q, &k);
        let context = hooks.z(attend(&q, &k, &v, spans));
        // The residual adds run in the output projections' write-backs.
        let attended = plus_linear(&x, &self.output, &context);
        let x = hooks.resid(Site::ResidMid, self.attention_norm.forward(&attended));
        let act = self.ffn.activations(&x);
        hooks.ffn(&act);
        let h = plus_linear(&x, self.ffn.down(), &act);
        hooks.resid(Site::ResidPost, self.output_norm.forward(&h))
    }
}
