//! One pre-norm decoder block ([`Block`]) and the attention it runs ([`attend`]).
//!
//! `x + Wo·attn(rope(Wq·n₁(x)), rope(Wk·n₁(x)), Wv·n₁(x))`, then
//! `x + W2·(silu(W1·n₂(x)) ⊙ W3·n₂(x))`, with `n₁`, `n₂` RMS norms: LLaMA's block. Written
//! once, on [`Var`]s: traced for training, on constants for inference.

use super::lora::{adapted, AttnAdapters};
use super::ops::{read, Read};
use super::ParamVisitor;
use crate::autodiff::attention::attention_masked;
use crate::autodiff::linear::Linear;
use crate::autodiff::{Param, Var};
use crate::dim::{Dim, Many, Runtime, StaticDim};
use crate::element::Float;
use crate::inspect::Site;
use crate::nn::attention::AttentionMask;
use crate::nn::rope::Rope;
use crate::shape::SplitsInto;
use crate::tensor::Tensor;

/// The parameters of one pre-norm block: RMS norm → causal multi-head attention with RoPE
/// → residual → RMS norm → SwiGLU FFN → residual. Every projection is a
/// [`Linear`] in PyTorch's layout (`weight: (DOut, DIn)`), without bias as in LLaMA (a bias
/// set by hand is added), each attention projection optionally adapted by LoRA.
#[derive(Debug)]
pub struct Block<DModel: Dim, Ffn: Dim, T: Float = f32> {
    /// The RMS norm before attention (`input_layernorm`).
    pub attn_norm: Param<(DModel,), T>,
    /// The query projection, `DModel → Heads × HeadDim`.
    pub wq: Linear<DModel, DModel, T>,
    /// The key projection.
    pub wk: Linear<DModel, DModel, T>,
    /// The value projection.
    pub wv: Linear<DModel, DModel, T>,
    /// The output projection, merged heads → `DModel`.
    pub wo: Linear<DModel, DModel, T>,
    /// The RMS norm before the FFN (`post_attention_layernorm`).
    pub ffn_norm: Param<(DModel,), T>,
    /// The gate projection `W1` (`gate_proj`), `DModel → Ffn`, through SiLU.
    pub w1: Linear<DModel, Ffn, T>,
    /// The up projection `W3` (`up_proj`), `DModel → Ffn`.
    pub w3: Linear<DModel, Ffn, T>,
    /// The down projection `W2` (`down_proj`), `Ffn → DModel`.
    pub w2: Linear<Ffn, DModel, T>,
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
    /// A block with normal matrices of standard deviation `std` (seeds `seed..seed + 7`)
    /// and norm weights of 1.
    pub fn init(std: f64, seed: u64) -> Self {
        Block {
            attn_norm: Param::new(Tensor::ones()),
            wq: linear(std, seed),
            wk: linear(std, seed + 1),
            wv: linear(std, seed + 2),
            wo: linear(std, seed + 3),
            ffn_norm: Param::new(Tensor::ones()),
            w1: linear(std, seed + 4),
            w3: linear(std, seed + 5),
            w2: linear(std, seed + 6),
            lora: AttnAdapters::none(),
        }
    }
}

impl<DModel: Dim, Ffn: Dim, T: Float> Block<DModel, Ffn, T> {
    /// Calls `v` on every parameter, named as in Hugging Face's LLaMA under `prefix`
    /// (`{prefix}self_attn.q_proj.weight`, …).
    pub(crate) fn visit(&self, prefix: &str, v: &mut impl ParamVisitor<T>) {
        let n = |s: &str| format!("{prefix}{s}");
        v.visit(&n("input_layernorm.weight"), &self.attn_norm);
        for (name, l) in [
            ("q", &self.wq),
            ("k", &self.wk),
            ("v", &self.wv),
            ("o", &self.wo),
        ] {
            visit_linear(v, &n(&format!("self_attn.{name}_proj")), l);
        }
        v.visit(&n("post_attention_layernorm.weight"), &self.ffn_norm);
        visit_linear(v, &n("mlp.gate_proj"), &self.w1);
        visit_linear(v, &n("mlp.up_proj"), &self.w3);
        visit_linear(v, &n("mlp.down_proj"), &self.w2);
    }

    /// [`visit`](Self::visit), mutably.
    pub(crate) fn visit_mut(&mut self, prefix: &str, v: &mut impl super::ParamVisitorMut<T>) {
        let n = |s: &str| format!("{prefix}{s}");
        v.visit(&n("input_layernorm.weight"), &mut self.attn_norm);
        for (name, l) in [
            ("q", &mut self.wq),
            ("k", &mut self.wk),
            ("v", &mut self.wv),
            ("o", &mut self.wo),
        ] {
            visit_linear_mut(v, &n(&format!("self_attn.{name}_proj")), l);
        }
        v.visit(&n("post_attention_layernorm.weight"), &mut self.ffn_norm);
        visit_linear_mut(v, &n("mlp.gate_proj"), &mut self.w1);
        visit_linear_mut(v, &n("mlp.up_proj"), &mut self.w3);
        visit_linear_mut(v, &n("mlp.down_proj"), &mut self.w2);
    }
}

pub(crate) fn visit_linear<I: Dim, O: Dim, T: Float>(
    v: &mut impl ParamVisitor<T>,
    name: &str,
    l: &Linear<I, O, T>,
) {
    v.visit(&format!("{name}.weight"), &l.weight);
    if let Some(b) = &l.bias {
        v.visit(&format!("{name}.bias"), b);
    }
}

pub(crate) fn visit_linear_mut<I: Dim, O: Dim, T: Float>(
    v: &mut impl super::ParamVisitorMut<T>,
    name: &str,
    l: &mut Linear<I, O, T>,
) {
    v.visit(&format!("{name}.weight"), &mut l.weight);
    if let Some(b) = &mut l.bias {
        v.visit(&format!("{name}.bias"), b);
    }
}

/// `x·Wᵀ (+ b)` for `x: (B, S, I)`, `Wᵀ` read through swapped strides.
pub(crate) fn proj<'t, B, S, I, O, T>(
    x: &Var<'t, (B, S, I), T>,
    l: &Linear<I, O, T>,
    mode: Read,
) -> Var<'t, (B, S, O), T>
where
    B: Dim,
    S: Dim,
    I: Dim,
    O: Dim<Kind = Many>,
    T: Float,
{
    let tape = x.tape();
    let y = x.matmul(&read(tape, &l.weight, mode).t::<(I, O)>());
    match &l.bias {
        Some(b) => &y + &read(tape, b, mode),
        None => y,
    }
}

impl<DModel, Ffn, T> Block<DModel, Ffn, T>
where
    DModel: StaticDim<Kind = Many>,
    Ffn: StaticDim<Kind = Many>,
    T: Float,
{
    /// The block on `x: (B, S, DModel)`, position `i` of each sequence at `i`, passing its
    /// hook points to `hooks` ([`NoHooks`] for a plain forward).
    pub(crate) fn forward<'t, B, S, H, Hd>(
        &self,
        x: &Var<'t, (B, S, DModel), T>,
        rope: &Rope<Hd>,
        eps: T,
        mode: Read,
        hooks: &mut impl BlockHooks<DModel, H, Hd, Ffn, T>,
    ) -> Var<'t, (B, S, DModel), T>
    where
        B: Dim<Kind = Runtime>,
        S: Dim<Kind = Runtime>,
        H: StaticDim,
        Hd: StaticDim,
        DModel: SplitsInto<H, Hd>,
    {
        let tape = x.tape();
        let x = &hooks.resid(Site::ResidPre, x.clone());
        let h = x.rms_norm(&read(tape, &self.attn_norm, mode), eps);
        let ad = &self.lora;
        let q = adapted(&h, &self.wq, ad.q.as_ref(), mode).split_heads::<H, Hd>();
        let k = adapted(&h, &self.wk, ad.k.as_ref(), mode).split_heads::<H, Hd>();
        let v = adapted(&h, &self.wv, ad.v.as_ref(), mode).split_heads::<H, Hd>();
        let (q, k) = (q.rope(rope, 0), k.rope(rope, 0));
        hooks.heads(&q, &k);
        let o = attend(&q, &k, &v, true);
        let z = hooks.z(o.merge_heads::<DModel>());
        let x = hooks.resid(
            Site::ResidMid,
            x + &adapted(&z, &self.wo, ad.o.as_ref(), mode),
        );
        let h = x.rms_norm(&read(tape, &self.ffn_norm, mode), eps);
        let gate = proj(&h, &self.w1, mode).silu();
        let up = proj(&h, &self.w3, mode);
        let act = &gate * &up;
        hooks.ffn(&act);
        hooks.resid(Site::ResidPost, &x + &proj(&act, &self.w2, mode))
    }
}

/// The hook points of [`Block::forward`] (TransformerLens's names in [`Site`]): each gets
/// the value the block computed there and, where it returns one, the block goes on with
/// what it returns. Every method defaults to doing nothing, and [`NoHooks`] keeps the
/// defaults, so a plain forward is the same code with nothing added.
pub(crate) trait BlockHooks<DModel: Dim, H: Dim, Hd: Dim, Ffn: Dim, T: Float> {
    /// The forward is entering block `layer` (or, with the block count, leaving the last).
    fn block(&mut self, _layer: usize) {}

    /// The residual stream at `site` (`ResidPre`, `ResidMid` or `ResidPost`).
    fn resid<'t, B: Dim, S: Dim>(
        &mut self,
        _site: Site,
        x: Var<'t, (B, S, DModel), T>,
    ) -> Var<'t, (B, S, DModel), T> {
        x
    }

    /// The queries and keys, split into heads, after RoPE: what the scores are made of.
    fn heads<'t, B: Dim, S: Dim>(
        &mut self,
        _q: &Var<'t, (B, H, S, Hd), T>,
        _k: &Var<'t, (B, H, S, Hd), T>,
    ) {
    }

    /// The heads' outputs, merged, before the output projection (`hook_z`).
    fn z<'t, B: Dim, S: Dim>(
        &mut self,
        z: Var<'t, (B, S, DModel), T>,
    ) -> Var<'t, (B, S, DModel), T> {
        z
    }

    /// The FFN's activations `silu(W1·h) ⊙ W3·h`, the input of `W2` (`mlp.hook_post`).
    fn ffn<'t, B: Dim, S: Dim>(&mut self, _act: &Var<'t, (B, S, Ffn), T>) {}
}

/// The hooks of a plain forward: none.
pub(crate) struct NoHooks;

impl<DModel: Dim, H: Dim, Hd: Dim, Ffn: Dim, T: Float> BlockHooks<DModel, H, Hd, Ffn, T>
    for NoHooks
{
}

// ======================================================================================
// ATTENTION — the one place the decoder computes attention: the traced blocked attention
// op (autodiff::attention), whose backward recomputes the scores block by block.
// ======================================================================================

/// Scaled dot-product attention over batched heads: `softmax(q·kᵀ/√Hd + mask)·v` for
/// `q, k, v: (B, H, S, Hd)`; with `causal`, position `i` attends to positions `≤ i`.
fn attend<'t, B, H, S, Hd, T>(
    q: &Var<'t, (B, H, S, Hd), T>,
    k: &Var<'t, (B, H, S, Hd), T>,
    v: &Var<'t, (B, H, S, Hd), T>,
    causal: bool,
) -> Var<'t, (B, H, S, Hd), T>
where
    B: Dim,
    H: Dim,
    S: Dim<Kind = Runtime>,
    Hd: StaticDim,
    T: Float,
{
    let mask = if causal {
        AttentionMask::causal(0)
    } else {
        AttentionMask::none()
    };
    attention_masked(q, k, v, &mask)
}
