//! One pre-norm decoder block ([`Block`]), built from `nn` layers, and the one forward it
//! has for training, inference and KV-cache decoding.
//!
//! `x + Wo·attn(rope(Wq·n₁(x)), rope(Wk·n₁(x)), Wv·n₁(x))`, then `x + ffn(n₂(x))`, with
//! `n₁`, `n₂` RMS norms and `ffn` SwiGLU: LLaMA's block. Written once, on [`Var`]s: traced
//! for training, on an inference tape (parameters read as constants) for inference. The
//! only thing that differs when decoding with a KV cache is how attention reads its keys
//! and values ([`Attend`]).

use super::lora::{Adapter, AttnAdapters, LoraTargets};
use crate::autodiff::{ParamVisitor, ParamVisitorMut, Params, Var};
use crate::dim::{Dim, Dyn, Many, Runtime, StaticDim};
use crate::element::Float;
use crate::error::{Error, ShapeError};
use crate::inspect::{Hooks, Site};
use crate::nn::attention::AttentionMask;
use crate::nn::ffn::SwiGlu;
use crate::nn::flow::Traced;
use crate::nn::kv_cache::KvCache;
use crate::nn::linear::Linear;
use crate::nn::lora::{adapted, LoraConfig};
use crate::nn::norm::RmsNorm;
use crate::nn::rope::Rope;
use crate::shape::SplitsInto;
use crate::tensor::Tensor;

/// The layers of one pre-norm block: RMS norm → causal multi-head attention with RoPE →
/// residual → RMS norm → SwiGLU FFN → residual. Every projection is a [`Linear`] in
/// PyTorch's layout (`weight: (DOut, DIn)`), without bias as in LLaMA (a bias set by hand is
/// added), each attention projection optionally adapted by LoRA.
#[derive(Debug)]
pub struct Block<DModel: Dim, Ffn: Dim, T: Float = f32> {
    /// The RMS norm before attention (`input_layernorm`).
    pub attn_norm: RmsNorm<DModel, T>,
    /// The query projection, `DModel → Heads × HeadDim`.
    pub wq: Linear<DModel, DModel, T>,
    /// The key projection.
    pub wk: Linear<DModel, DModel, T>,
    /// The value projection.
    pub wv: Linear<DModel, DModel, T>,
    /// The output projection, merged heads → `DModel`.
    pub wo: Linear<DModel, DModel, T>,
    /// The RMS norm before the FFN (`post_attention_layernorm`).
    pub ffn_norm: RmsNorm<DModel, T>,
    /// The SwiGLU feed-forward (`mlp`): `gate` (`W1`), `up` (`W3`), `down` (`W2`).
    pub ffn: SwiGlu<DModel, Ffn, T>,
    /// LoRA adapters of the attention projections, none by default: each one present adds
    /// `s·(x·Aᵀ)·Bᵀ` to its projection (see [`Block::add_adapters`]).
    pub lora: AttnAdapters<DModel, T>,
}

/// A `(rows, cols)` matrix of normal entries with standard deviation `std`.
pub(crate) fn normal<R: StaticDim, C: StaticDim, T: Float>(
    std: f64,
    seed: u64,
) -> Tensor<(R, C), T> {
    let mut t = Tensor::<(R, C), T>::randn(seed);
    let s = T::from_f64(std);
    t.map_inplace(|x| x * s);
    t
}

fn linear<I: StaticDim, O: StaticDim, T: Float>(std: f64, seed: u64) -> Linear<I, O, T> {
    Linear::new(normal::<O, I, T>(std, seed), None)
}

impl<DModel: StaticDim, Ffn: StaticDim, T: Float> Block<DModel, Ffn, T> {
    /// A block with normal matrices of standard deviation `std` (seeds `seed..seed + 7`),
    /// norm weights of 1 and the norms' `ε` `norm_eps`.
    pub fn init(std: f64, norm_eps: f64, seed: u64) -> Self {
        Block {
            attn_norm: RmsNorm::new(Tensor::ones(), norm_eps),
            wq: linear(std, seed),
            wk: linear(std, seed + 1),
            wv: linear(std, seed + 2),
            wo: linear(std, seed + 3),
            ffn_norm: RmsNorm::new(Tensor::ones(), norm_eps),
            ffn: SwiGlu::new(
                linear(std, seed + 4),
                linear(std, seed + 5),
                linear(std, seed + 6),
            ),
            lora: AttnAdapters::none(),
        }
    }
}

impl<DModel: Dim, Ffn: Dim, T: Float> Params<T> for Block<DModel, Ffn, T> {
    /// Hugging Face LLaMA's names under `prefix` (`{prefix}self_attn.q_proj.weight`, …);
    /// the adapters are not part of the walk (they have their own, [`AttnAdapters`]).
    fn visit_params<'a>(&'a self, prefix: &str, v: &mut impl ParamVisitor<'a, T>) {
        self.attn_norm
            .visit_params(&format!("{prefix}input_layernorm."), v);
        for (name, l) in [
            ("q", &self.wq),
            ("k", &self.wk),
            ("v", &self.wv),
            ("o", &self.wo),
        ] {
            l.visit_params(&format!("{prefix}self_attn.{name}_proj."), v);
        }
        self.ffn_norm
            .visit_params(&format!("{prefix}post_attention_layernorm."), v);
        self.ffn.visit_params(&format!("{prefix}mlp."), v);
    }

    fn visit_params_mut<'a>(&'a mut self, prefix: &str, v: &mut impl ParamVisitorMut<'a, T>) {
        self.attn_norm
            .visit_params_mut(&format!("{prefix}input_layernorm."), v);
        for (name, l) in [
            ("q", &mut self.wq),
            ("k", &mut self.wk),
            ("v", &mut self.wv),
            ("o", &mut self.wo),
        ] {
            l.visit_params_mut(&format!("{prefix}self_attn.{name}_proj."), v);
        }
        self.ffn_norm
            .visit_params_mut(&format!("{prefix}post_attention_layernorm."), v);
        self.ffn.visit_params_mut(&format!("{prefix}mlp."), v);
    }
}

impl<DModel: Dim, Ffn: Dim, T: Float> Block<DModel, Ffn, T> {
    /// Gives each projection named by `targets` a fresh adapter of rank `rank` (`A`
    /// Kaiming-uniform from `seed`, `seed + 1`, … in the order q, k, v, o; `B` zero),
    /// replacing any it had. The block's own parameters are left as they are: freeze them
    /// (or use [`Decoder::add_adapters`](super::Decoder::add_adapters), which does).
    ///
    /// `Err` when `rank` exceeds the model width, or `config` is invalid (see
    /// [`LoRA::new_with`](crate::nn::lora::LoRA::new_with)); the block is then unchanged.
    pub fn add_adapters(
        &mut self,
        targets: LoraTargets,
        rank: usize,
        config: LoraConfig,
        seed: u64,
    ) -> Result<(), Error>
    where
        Dyn: crate::shape::RankAtMost<DModel, DModel>,
    {
        let dims = self.wq.weight.value().shape();
        let (d_in, d_out) = (dims.1, dims.0);
        let make = |on: bool, i: u64| {
            on.then(|| Adapter::new_with((d_in, d_out), Dyn::new(rank), config, seed + i))
                .transpose()
        };
        let (q, k, v, o) = (
            make(targets.q, 0)?,
            make(targets.k, 1)?,
            make(targets.v, 2)?,
            make(targets.o, 3)?,
        );
        for (slot, new) in [
            (&mut self.lora.q, q),
            (&mut self.lora.k, k),
            (&mut self.lora.v, v),
            (&mut self.lora.o, o),
        ] {
            if new.is_some() {
                *slot = new;
            }
        }
        Ok(())
    }

    /// Folds every adapter into its projection (`W += s·B·A`) and removes it: the block is
    /// plain again, and computes what it computed adapted (to rounding).
    pub fn merge_adapters(&mut self) {
        for (slot, l) in [
            (&mut self.lora.q, &mut self.wq),
            (&mut self.lora.k, &mut self.wk),
            (&mut self.lora.v, &mut self.wv),
            (&mut self.lora.o, &mut self.wo),
        ] {
            if let Some(ad) = slot.take() {
                ad.merge(l.weight.value_mut());
            }
        }
    }
}

/// How a block's attention reads its keys and values.
pub(crate) enum Attend<'c, H: StaticDim, Hd: StaticDim, T: Float> {
    /// Over the positions of the input itself, causally (training, inference on whole
    /// sequences).
    Causal,
    /// Over every position cached before the input and the input's own, which are
    /// appended to the cache: KV-cache decoding of one sequence, on an inference tape
    /// (the cache holds values, so nothing through it is traced).
    Cached(&'c mut BlockCache<H, Hd, T>),
}

impl<DModel, Ffn, T> Block<DModel, Ffn, T>
where
    DModel: StaticDim<Kind = Many>,
    Ffn: StaticDim<Kind = Many>,
    T: Float,
{
    /// The block on `x: (B, S, DModel)`, attending as `attend` says (position `i` of the
    /// input at `i`, or after the cached ones), passing its hook points to `hooks`
    /// ([`NoHooks`](crate::inspect::NoHooks) for a plain forward).
    ///
    /// `Err` when decoding with a cache a batch of more than one sequence.
    pub(crate) fn forward<'t, B, S, H, Hd>(
        &self,
        x: &Var<'t, (B, S, DModel), T>,
        rope: &Rope<Hd>,
        attend: Attend<'_, H, Hd, T>,
        hooks: &mut impl BlockHooks<'t, B, S, DModel, H, Hd, Ffn, T>,
    ) -> Result<Var<'t, (B, S, DModel), T>, ShapeError>
    where
        B: Dim<Kind = Runtime>,
        S: Dim<Kind = Runtime>,
        H: StaticDim,
        Hd: StaticDim,
        DModel: SplitsInto<H, Hd>,
    {
        let x = &hooks.resid(Site::ResidPre, x.clone());
        let h = self.attn_norm.try_forward(x)?;
        let ad = &self.lora;
        let q = adapted(&self.wq, ad.q.as_ref(), &h)?.split_heads::<H, Hd>();
        let k = adapted(&self.wk, ad.k.as_ref(), &h)?.split_heads::<H, Hd>();
        let v = adapted(&self.wv, ad.v.as_ref(), &h)?.split_heads::<H, Hd>();
        let offset = match &attend {
            Attend::Causal => 0,
            Attend::Cached(cache) => cache.len(),
        };
        let (q, k) = (q.rope(rope, offset), k.rope(rope, offset));
        hooks.heads(&q, &k);
        let o = match attend {
            Attend::Causal => {
                crate::autodiff::attention::attention_masked(&q, &k, &v, &AttentionMask::causal(0))
            }
            Attend::Cached(cache) => attend_cached(&q, &k, &v, cache)?,
        };
        let z = hooks.z(o.merge_heads::<DModel>());
        let x = hooks.resid(Site::ResidMid, x + &adapted(&self.wo, ad.o.as_ref(), &z)?);
        let h = self.ffn_norm.try_forward(&x)?;
        let act = self.ffn.activations(&h);
        hooks.ffn(&act);
        let down = self.ffn.down.try_forward(&act)?;
        Ok(hooks.resid(Site::ResidPost, &x + &down))
    }
}

/// Queries, keys or values of a batch, split into heads: `(B, H, S, Hd)`.
type Heads4<'t, B, H, S, Hd, T> = Var<'t, (B, H, S, Hd), T>;

/// The KV cache of one block of a decoder with `H` heads of width `Hd`.
pub(crate) type BlockCache<H, Hd, T> = KvCache<H, Dyn, Hd, Hd, T>;

/// Attention of the new positions of one sequence over `cache` (which the new keys and
/// values are appended to), on values: `q, k, v: (1, H, N, Hd)`.
fn attend_cached<'t, B, H, S, Hd, T>(
    q: &Var<'t, (B, H, S, Hd), T>,
    k: &Var<'t, (B, H, S, Hd), T>,
    v: &Var<'t, (B, H, S, Hd), T>,
    cache: &mut BlockCache<H, Hd, T>,
) -> Result<Heads4<'t, B, H, S, Hd, T>, ShapeError>
where
    B: Dim,
    H: StaticDim,
    S: Dim,
    Hd: StaticDim,
    T: Float,
{
    let shape = q.shape();
    if shape.0.size() != 1 {
        return Err(ShapeError::incompatible_described(
            "Decoder::decode",
            format!("queries {shape:?}"),
            "a KV cache of one sequence".to_string(),
            "decoding with a cache runs one sequence at a time",
        ));
    }
    let one = (H::default(), Dyn::new(shape.2.size()), Hd::default());
    let (q1, k1, v1) = (
        q.try_reshape_with(one)?,
        k.try_reshape_with(one)?,
        v.try_reshape_with(one)?,
    );
    let o = cache.attend(&q1.value(), &k1.value(), &v1.value())?;
    q.tape().constant(o).try_reshape_with(shape)
}

/// The hooks of a block's forward on `(B, S, DModel)` traced values: the stream
/// `(B, S, DModel)`, queries and keys split into heads after RoPE `(B, H, S, Hd)`, the FFN's
/// activations `(B, S, Ffn)`.
pub(crate) trait BlockHooks<'t, B, S, DModel, H, Hd, Ffn, T: Float>:
    Hooks<Traced<'t>, T, Stream = (B, S, DModel), Heads = (B, H, S, Hd), Ffn = (B, S, Ffn)>
where
    B: Dim,
    S: Dim,
    DModel: Dim,
    H: Dim,
    Hd: Dim,
    Ffn: Dim,
{
}

impl<'t, B, S, DModel, H, Hd, Ffn, T, X> BlockHooks<'t, B, S, DModel, H, Hd, Ffn, T> for X
where
    X: Hooks<Traced<'t>, T, Stream = (B, S, DModel), Heads = (B, H, S, Hd), Ffn = (B, S, Ffn)>,
    B: Dim,
    S: Dim,
    DModel: Dim,
    H: Dim,
    Hd: Dim,
    Ffn: Dim,
    T: Float,
{
}
