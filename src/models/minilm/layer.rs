//! One post-LayerNorm BERT layer (self-attention, then the GELU feed-forward, each added to
//! its input and normalised) over a packed batch, and the loaders of its weights from
//! safetensors names.

use super::packed::{attend, Spans};
use super::{Ffn, Hidden, Tokens, LN_EPS};
use crate::dim::StaticDim;
use crate::io::{LoadError, SafeTensors};
use crate::nn::linear::{Activation, FeedForward, Linear};
use crate::ops::Norms;
use crate::tensor::Tensor;

/// A `LayerNorm`'s weight and bias.
pub(super) struct Norm {
    pub(super) weight: Tensor<(Hidden,)>,
    pub(super) bias: Tensor<(Hidden,)>,
}

/// The weights of one encoder layer.
pub(super) struct Layer {
    pub(super) query: Linear<Hidden, Hidden>,
    pub(super) key: Linear<Hidden, Hidden>,
    pub(super) value: Linear<Hidden, Hidden>,
    pub(super) output: Linear<Hidden, Hidden>,
    pub(super) attention_norm: Norm,
    pub(super) ffn: FeedForward<Hidden, Ffn>,
    pub(super) output_norm: Norm,
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

impl Norm {
    /// `{prefix}.weight` and `{prefix}.bias`.
    pub(super) fn load(st: &SafeTensors, prefix: &str) -> Result<Self, LoadError> {
        Ok(Norm {
            weight: st.load(&format!("{prefix}.weight"))?,
            bias: st.load(&format!("{prefix}.bias"))?,
        })
    }

    /// The normalised rows of `x`.
    pub(super) fn apply(&self, x: &Tensor<(Tokens, Hidden)>) -> Tensor<(Tokens, Hidden)> {
        x.layer_norm(&self.weight, &self.bias, LN_EPS)
    }
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
            attention_norm: Norm::load(st, &format!("{p}.attention.output.LayerNorm"))?,
            ffn: FeedForward::new(
                linear(st, &format!("{p}.intermediate.dense"))?,
                linear(st, &format!("{p}.output.dense"))?,
                Activation::Gelu,
            ),
            output_norm: Norm::load(st, &format!("{p}.output.LayerNorm"))?,
        })
    }

    /// The layer over the packed rows `x` of the sentences `spans`: the residual stream in,
    /// the residual stream out. Every product runs on all tokens at once; attention runs per
    /// sentence on its own rows.
    pub(super) fn forward(
        &self,
        x: &Tensor<(Tokens, Hidden)>,
        spans: &Spans,
    ) -> Tensor<(Tokens, Hidden)> {
        self.forward_with(x, spans, |_| {})
    }

    /// [`forward`](Self::forward) with a hook on the heads' merged outputs before the
    /// output projection (`hook_z`): `edit` may change them (an ablation) in place.
    pub(super) fn forward_with(
        &self,
        x: &Tensor<(Tokens, Hidden)>,
        spans: &Spans,
        edit: impl FnOnce(&mut Tensor<(Tokens, Hidden)>),
    ) -> Tensor<(Tokens, Hidden)> {
        let (q, k, v) = (
            self.query.forward(x),
            self.key.forward(x),
            self.value.forward(x),
        );
        let mut context = attend(&q, &k, &v, spans);
        edit(&mut context);
        let attended = self.output.forward(&context);
        let x = self.attention_norm.apply(&(x + &attended));
        let h = self.ffn.forward(&x);
        self.output_norm.apply(&(&x + &h))
    }
}
