//! One pre-norm decoder block ([`Block`]), built from `nn` layers, and the one forward it
//! has for training, inference and KV-cache decoding.
//!
//! `x + attn(n₁(x))`, then `x + ffn(n₂(x))`, with `n₁`, `n₂` RMS norms, `attn` the
//! grouped-query [`SelfAttention`] layer (RoPE, causal or sliding-window) and `ffn` SwiGLU:
//! LLaMA's block. Written once, on [`Var`]s: traced for training, on an inference tape
//! (parameters read as constants) for inference. The only thing that differs when
//! decoding with a KV cache is where attention reads its keys and values.

use super::dims::DecoderDims;
use super::Rows;
use crate::autodiff::{ParamVisitor, ParamVisitorMut, Params, Var};
use crate::dim::{Dim, Times};
use crate::element::Float;
use crate::error::Error;
use crate::inspect::{Hooks, Site};
use crate::nn::ffn::SwiGlu;
use crate::nn::flow::Traced;
use crate::nn::lora::{LoraConfig, MlpAdapters};
use crate::nn::norm::RmsNorm;
use crate::nn::rope::Rope;
use crate::nn::self_attention::LoraTargets;
use crate::nn::self_attention::{normal_linear, AttentionCache, SelfAttention};
use crate::nn::stored::{Dense, Project, Storage};
use crate::shape::SameDim;
use crate::tensor::Tensor;

/// The attention layer of a block of a decoder of dims `D`, its projections held as `W`
/// says.
pub type Attention<D, T, W = Dense> = SelfAttention<
    <D as DecoderDims>::Model,
    <D as DecoderDims>::Heads,
    <D as DecoderDims>::KvHeads,
    <D as DecoderDims>::HeadDim,
    T,
    W,
>;

/// The layers of one pre-norm block: RMS norm → grouped-query attention with RoPE →
/// residual → RMS norm → SwiGLU FFN → residual. Every projection is a [`Linear`](crate::nn::linear::Linear)
/// in PyTorch's layout (`weight: (DOut, DIn)`), or with `W` =
/// [`Stored`](crate::nn::stored::Stored) an inference-only stored weight; the attention's
/// may have biases (Qwen2) and (trainable) LoRA adapters.
#[derive(Debug)]
pub struct Block<D: DecoderDims, T: Float = f32, W: Storage<T> = Dense> {
    /// The RMS norm before attention (`input_layernorm`).
    pub attn_norm: RmsNorm<D::Model, T>,
    /// The attention layer (`self_attn`): `wq`, `wk`, `wv`, `wo`, their adapters, the
    /// window.
    pub attn: Attention<D, T, W>,
    /// The RMS norm before the FFN (`post_attention_layernorm`).
    pub ffn_norm: RmsNorm<D::Model, T>,
    /// The SwiGLU feed-forward (`mlp`): `gate` (`W1`), `up` (`W3`), `down` (`W2`).
    pub ffn: SwiGlu<D::Model, D::Ffn, T, W>,
    /// LoRA adapters of the feed-forward's projections, none by default.
    pub mlp_lora: MlpAdapters<D::Model, D::Ffn, T>,
}

/// A vector of ones.
pub(crate) fn ones<X: Dim, T: Float>(x: X) -> Tensor<(X,), T> {
    Tensor::from_parts((x,), vec![T::ONE; x.size()])
}

impl<D: DecoderDims, T: Float> Block<D, T> {
    /// A block of dims `dims` with normal matrices of standard deviation `std` (seeds
    /// `seed..seed + 7`), norm weights of 1 and the norms' `ε` `norm_eps`, zero q/k/v
    /// biases when `qkv_bias`.
    ///
    /// # Panics
    ///
    /// When runtime key/value heads do not divide the heads.
    #[track_caller]
    pub fn init(dims: D, (std, norm_eps, qkv_bias): (f64, f64, bool), seed: u64) -> Self {
        let (m, f) = (dims.model(), dims.ffn());
        Block {
            attn_norm: RmsNorm::new(ones(m), norm_eps),
            attn: SelfAttention::init(
                (m, dims.heads(), dims.kv_heads(), dims.head_dim()),
                qkv_bias,
                std,
                seed,
            ),
            ffn_norm: RmsNorm::new(ones(m), norm_eps),
            ffn: SwiGlu::new(
                normal_linear((m, f), false, std, seed + 4),
                normal_linear((m, f), false, std, seed + 5),
                normal_linear((f, m), false, std, seed + 6),
            ),
            mlp_lora: MlpAdapters::none(),
        }
    }
}

impl<D: DecoderDims, T: Float> Block<D, T> {
    /// Gives the projections named by `targets` a fresh adapter of rank `rank`
    /// ([`SelfAttention::add_adapters`] from `seed`, [`MlpAdapters::add`] from
    /// `seed + 4`). The block's own parameters are left as they are: freeze them (or use
    /// [`Decoder::add_adapters`](super::Decoder::add_adapters), which does). `Err` as
    /// theirs; the attention's are added before the feed-forward's are checked.
    pub fn add_adapters(
        &mut self,
        targets: LoraTargets,
        rank: usize,
        config: LoraConfig,
        seed: u64,
    ) -> Result<(), Error> {
        self.attn.add_adapters(targets, rank, config, seed)?;
        self.mlp_lora
            .add(&self.ffn, targets, rank, config, seed + 4)
    }

    /// Folds every adapter into its projection and removes it
    /// ([`SelfAttention::merge_adapters`], [`MlpAdapters::merge_into`]).
    pub fn merge_adapters(&mut self) {
        self.attn.merge_adapters();
        self.mlp_lora.merge_into(&mut self.ffn);
    }
}

impl<D: DecoderDims, T: Float> Params<T> for Block<D, T> {
    /// Hugging Face LLaMA's names under `prefix` (`{prefix}self_attn.q_proj.weight`, …);
    /// the adapters are not part of the walk (they have their own).
    fn visit_params<'a>(&'a self, prefix: &str, v: &mut impl ParamVisitor<'a, T>) {
        self.attn_norm
            .visit_params(&format!("{prefix}input_layernorm."), v);
        self.attn.visit_params(&format!("{prefix}self_attn."), v);
        self.ffn_norm
            .visit_params(&format!("{prefix}post_attention_layernorm."), v);
        self.ffn.visit_params(&format!("{prefix}mlp."), v);
    }

    fn visit_params_mut<'a>(&'a mut self, prefix: &str, v: &mut impl ParamVisitorMut<'a, T>) {
        self.attn_norm
            .visit_params_mut(&format!("{prefix}input_layernorm."), v);
        self.attn
            .visit_params_mut(&format!("{prefix}self_attn."), v);
        self.ffn_norm
            .visit_params_mut(&format!("{prefix}post_attention_layernorm."), v);
        self.ffn.visit_params_mut(&format!("{prefix}mlp."), v);
    }
}

impl<D: DecoderDims, T: Float, W: Storage<T>> Block<D, T, W> {
    /// The block on `x: (B, S, Model)`, attending causally over its own positions, or
    /// with a cache over the cached positions and its own (which are appended; a cache
    /// per row for a left-padded batch), passing
    /// its hook points to `hooks` ([`NoHooks`](crate::inspect::NoHooks) for a plain
    /// forward). The queries and keys shown to `hooks` are the key/value heads repeated
    /// to the query heads; when decoding with a cache they are not shown.
    ///
    /// `Err` when decoding with a cache a batch of more than one sequence.
    pub(crate) fn forward<'t, B, S>(
        &self,
        x: &Var<'t, (B, S, D::Model), T>,
        rope: &Rope<D::HeadDim>,
        kv: Kv<'_, T>,
        hooks: &mut impl BlockHooks<'t, B, S, D, T>,
    ) -> Rows<'t, B, S, D::Model, T>
    where
        B: SameDim,
        S: SameDim,
    {
        let x = &hooks.resid(Site::ResidPre, x.clone());
        let h = self.attn_norm.try_forward(x)?;
        let z = match kv {
            Kv::Own => {
                let (q, k, v) = self.attn.qkv(&h, rope, 0)?;
                if hooks.wants_heads() {
                    hooks.heads(&q, &self.attn.repeat_kv(&k)?);
                }
                self.attn.attend(&q, &k, &v, None)?
            }
            Kv::Cache(cache) => {
                let (q, k, v) = self.attn.qkv(&h, rope, cache.len())?;
                self.attn.attend(&q, &k, &v, Some(cache))?
            }
            Kv::Rows(caches, pads) => {
                let (q, k, v) = self.attn.qkv_unrotated(&h)?;
                self.attn.attend_rows((&q, &k, &v), rope, caches, pads)?
            }
        };
        let z = hooks.z(z);
        let x = hooks.resid(Site::ResidMid, self.attn.out_residual(&z, x)?);
        let h = self.ffn_norm.try_forward(&x)?;
        let act = self.mlp_lora.try_activations(&self.ffn, &h)?;
        hooks.ffn(&act);
        let x = self
            .ffn
            .down
            .try_project_residual(self.mlp_lora.down.as_ref(), &act, &x)?;
        Ok(hooks.resid(Site::ResidPost, x))
    }
}

/// Where a block's attention reads its keys and values.
pub(crate) enum Kv<'c, T: Float> {
    /// Its own positions, causally (training, inference on whole sequences).
    Own,
    /// A cache of one sequence, which the new positions are appended to.
    Cache(&'c mut AttentionCache<T>),
    /// A cache per row of a left-padded batch, and each row's number of pads.
    Rows(&'c mut [AttentionCache<T>], &'c [usize]),
}

/// The hooks of a block's forward on `(B, S, Model)` traced values: the stream
/// `(B, S, Model)`, queries and keys split into heads after RoPE `(B, Heads, S, HeadDim)`,
/// the merged heads `(B, S, Heads × HeadDim)`, the FFN's activations `(B, S, Ffn)`.
pub(crate) trait BlockHooks<'t, B, S, D, T>:
    Hooks<
    Traced<'t>,
    T,
    Stream = (B, S, D::Model),
    Heads = (B, D::Heads, S, D::HeadDim),
    Merged = (B, S, Times<D::Heads, D::HeadDim>),
    Ffn = (B, S, D::Ffn),
>
where
    B: Dim,
    S: Dim,
    D: DecoderDims,
    T: Float,
{
}

impl<'t, B, S, D, T, X> BlockHooks<'t, B, S, D, T> for X
where
    X: Hooks<
        Traced<'t>,
        T,
        Stream = (B, S, D::Model),
        Heads = (B, D::Heads, S, D::HeadDim),
        Merged = (B, S, Times<D::Heads, D::HeadDim>),
        Ffn = (B, S, D::Ffn),
    >,
    B: Dim,
    S: Dim,
    D: DecoderDims,
    T: Float,
{
}
