//! [`DecoderDims`]: a decoder's sizes as one type, [`Dims`] the one implementation, the
//! rule that the key/value heads divide the heads ([`DividesHeads`]), and presets of
//! published checkpoints.
//!
//! A decoder is `Decoder<D, T>` with `D` its dims: the vocabulary, the model width, the
//! query heads, the key/value heads, the head width and the FFN width, each a [`Dim`].
//! Static dims make `D` zero-sized and check the rules at compile time; [`Dyn`] dims (a
//! checkpoint whose sizes are read from its file, [`RuntimeDims`]) carry their sizes and
//! have the rules checked when the model is built. The code that runs is the same.
//!
//! The key/value heads must divide the heads, a compile error for static dims whose first
//! line names the rule and the dims:
//!
//! ```compile_fail
//! use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
//! use shapecheck::prelude::*;
//! dim!(pub Vocab = 11; pub DModel = 16; pub Heads = 3; pub KvHeads = 2; pub HeadDim = 8; pub Ffn = 32);
//! let model = Decoder::<Dims<Vocab, DModel, Heads, KvHeads, HeadDim, Ffn>>::init(DecoderConfig::default(), 0);
//! ```
//!
//! ```
//! use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
//! use shapecheck::prelude::*;
//! dim!(pub Vocab = 11; pub DModel = 16; pub Heads = 4; pub KvHeads = 2; pub HeadDim = 6; pub Ffn = 32);
//! let model = Decoder::<Dims<Vocab, DModel, Heads, KvHeads, HeadDim, Ffn>>::init(DecoderConfig::default(), 0);
//! // q_proj maps the width 16 to 4 heads of 6, k_proj to 2 heads of 6.
//! assert_eq!(model.blocks[0].attn.wq.weight.value().dims().as_slice(), &[24, 16]);
//! assert_eq!(model.blocks[0].attn.wk.weight.value().dims().as_slice(), &[12, 16]);
//! ```

use core::fmt::Debug;
use core::ops::Rem;

use typenum::{Mod, Same, U0};

use crate::dim::{Dim, Dyn, StaticDim};
use crate::shape::SameDim;

/// The key/value heads `Self` divide the query heads `H` (grouped-query attention: each
/// key/value head serves `H / Self` query heads). Checked by the type checker for static
/// dims; for [`Dyn`] when the model is built.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::models::decoder::DividesHeads;
/// dim!(pub Heads = 9; pub KvHeads = 3);
/// fn check<K: DividesHeads<H>, H: Dim>() {}
/// check::<KvHeads, Heads>();
/// check::<Dyn, Dyn>(); // checked at run time
/// ```
#[diagnostic::on_unimplemented(
    message = "grouped-query attention needs the key/value heads `{Self}` to divide the heads `{H}`",
    label = "`{Self}` does not divide `{H}`",
    note = "each key/value head serves a group of query heads, so the number of heads must be a multiple of the number of key/value heads (and both static, or both `Dyn`)"
)]
pub trait DividesHeads<H: Dim>: Dim {}

#[diagnostic::do_not_recommend]
impl<K: StaticDim, H: StaticDim> DividesHeads<H> for K
where
    H::Size: Rem<K::Size>,
    Mod<H::Size, K::Size>: Same<U0>,
{
}

impl DividesHeads<Dyn> for Dyn {}

/// A decoder's sizes; see the [module docs](self). Implemented by [`Dims`].
pub trait DecoderDims: Copy + Debug + Send + Sync + 'static {
    /// The vocabulary (`vocab_size`).
    type Vocab: SameDim;
    /// The model width (`hidden_size`).
    type Model: SameDim;
    /// The query heads (`num_attention_heads`).
    type Heads: Dim;
    /// The key/value heads (`num_key_value_heads`).
    type KvHeads: Dim;
    /// The width of a head (`head_dim`; not always `Model / Heads`).
    type HeadDim: Dim;
    /// The SwiGLU width (`intermediate_size`).
    type Ffn: SameDim;

    /// The vocabulary's value.
    fn vocab(&self) -> Self::Vocab;
    /// The model width's value.
    fn model(&self) -> Self::Model;
    /// The query heads' value.
    fn heads(&self) -> Self::Heads;
    /// The key/value heads' value.
    fn kv_heads(&self) -> Self::KvHeads;
    /// The head width's value.
    fn head_dim(&self) -> Self::HeadDim;
    /// The FFN width's value.
    fn ffn(&self) -> Self::Ffn;

    /// Dims of these sizes, in [`sizes`](Self::sizes)' order (vocabulary, width, heads,
    /// key/value heads, head width, FFN width): a runtime dim takes its size, a static
    /// one must have it. `Err` names the first that does not: its `config.json` name, the
    /// type's size and the one asked for.
    fn with_sizes(sizes: [usize; 6]) -> Result<Self, SizeMismatch>;

    /// The sizes by their `config.json` names, for messages and checks.
    fn sizes(&self) -> [(&'static str, usize); 6] {
        [
            ("vocab_size", self.vocab().size()),
            ("hidden_size", self.model().size()),
            ("num_attention_heads", self.heads().size()),
            ("num_key_value_heads", self.kv_heads().size()),
            ("head_dim", self.head_dim().size()),
            ("intermediate_size", self.ffn().size()),
        ]
    }
}

/// A size that a static dim of a [`DecoderDims`] does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeMismatch {
    /// The size's `config.json` name (`hidden_size`).
    pub field: &'static str,
    /// The size the type fixes.
    pub expected: usize,
    /// The size asked for (the file's).
    pub found: usize,
}

/// The dim `X` of size `n`, or the mismatch.
fn sized<X: Dim>(field: &'static str, n: usize) -> Result<X, SizeMismatch> {
    X::from_size(n).ok_or(SizeMismatch {
        field,
        expected: X::STATIC_SIZE.unwrap_or(n),
        found: n,
    })
}

/// A decoder's dims as six type parameters (their values, zero-sized for static dims):
/// `Dims<Vocab, Model, Heads, KvHeads, HeadDim, Ffn>`. `KvHeads = Heads` is multi-head
/// attention; fewer key/value heads, grouped-query attention.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dims<Vocab, Model, Heads, KvHeads, HeadDim, Ffn> {
    /// The vocabulary.
    pub vocab: Vocab,
    /// The model width.
    pub model: Model,
    /// The query heads.
    pub heads: Heads,
    /// The key/value heads.
    pub kv_heads: KvHeads,
    /// The width of a head.
    pub head_dim: HeadDim,
    /// The SwiGLU width.
    pub ffn: Ffn,
}

impl<V, M, H, K, Hd, F> DecoderDims for Dims<V, M, H, K, Hd, F>
where
    V: SameDim,
    M: SameDim,
    H: Dim,
    K: Dim,
    Hd: Dim,
    F: SameDim,
{
    type Vocab = V;
    type Model = M;
    type Heads = H;
    type KvHeads = K;
    type HeadDim = Hd;
    type Ffn = F;

    fn vocab(&self) -> V {
        self.vocab
    }
    fn model(&self) -> M {
        self.model
    }
    fn heads(&self) -> H {
        self.heads
    }
    fn kv_heads(&self) -> K {
        self.kv_heads
    }
    fn head_dim(&self) -> Hd {
        self.head_dim
    }
    fn ffn(&self) -> F {
        self.ffn
    }

    fn with_sizes(s: [usize; 6]) -> Result<Self, SizeMismatch> {
        Ok(Dims {
            vocab: sized("vocab_size", s[0])?,
            model: sized("hidden_size", s[1])?,
            heads: sized("num_attention_heads", s[2])?,
            kv_heads: sized("num_key_value_heads", s[3])?,
            head_dim: sized("head_dim", s[4])?,
            ffn: sized("intermediate_size", s[5])?,
        })
    }
}

/// The dims of a checkpoint whose sizes are known only at run time (read from its
/// `config.json` or GGUF metadata): every one a [`Dyn`].
pub type RuntimeDims = Dims<Dyn, Dyn, Dyn, Dyn, Dyn, Dyn>;

impl RuntimeDims {
    /// Runtime dims of these sizes: vocabulary, width, heads, key/value heads, head
    /// width, FFN width.
    pub fn of(
        vocab: usize,
        model: usize,
        heads: usize,
        kv_heads: usize,
        head_dim: usize,
        ffn: usize,
    ) -> Self {
        Dims {
            vocab: Dyn::new(vocab),
            model: Dyn::new(model),
            heads: Dyn::new(heads),
            kv_heads: Dyn::new(kv_heads),
            head_dim: Dyn::new(head_dim),
            ffn: Dyn::new(ffn),
        }
    }
}

/// The dims of published checkpoints, named; each preset cites its `config.json`.
pub mod presets {
    use super::Dims;

    /// SmolLM2-135M (and -Instruct), `HuggingFaceTB/SmolLM2-135M-Instruct`'s
    /// `config.json`: `vocab_size` 49152, `hidden_size` 576, `num_attention_heads` 9,
    /// `num_key_value_heads` 3, head dim 64 (576 / 9), `intermediate_size` 1536; 30 layers,
    /// tied embeddings, `rope_theta` 100000, `rms_norm_eps` 1e-5.
    pub mod smollm2_135m {
        crate::dim!(
            /// `vocab_size`.
            pub Vocab = 49152;
            /// `hidden_size`.
            pub Model = 576;
            /// `num_attention_heads`.
            pub Heads = 9;
            /// `num_key_value_heads`.
            pub KvHeads = 3;
            /// The head width.
            pub HeadDim = 64;
            /// `intermediate_size`.
            pub Ffn = 1536
        );
    }

    /// Llama-3.2-1B, `meta-llama/Llama-3.2-1B`'s `config.json`: `vocab_size` 128256,
    /// `hidden_size` 2048, 32 heads, 8 key/value heads, `head_dim` 64,
    /// `intermediate_size` 8192; 16 layers, tied, `rope_theta` 500000 with `llama3`
    /// scaling (factor 32, low 1, high 4, original 8192).
    pub mod llama32_1b {
        crate::dim!(
            /// `vocab_size`.
            pub Vocab = 128256;
            /// `hidden_size`.
            pub Model = 2048;
            /// `num_attention_heads`.
            pub Heads = 32;
            /// `num_key_value_heads`.
            pub KvHeads = 8;
            /// `head_dim`.
            pub HeadDim = 64;
            /// `intermediate_size`.
            pub Ffn = 8192
        );
    }

    /// Qwen2.5-0.5B, `Qwen/Qwen2.5-0.5B`'s `config.json`: `vocab_size` 151936,
    /// `hidden_size` 896, 14 heads, 2 key/value heads, head dim 64 (896 / 14),
    /// `intermediate_size` 4864; 24 layers, tied, q/k/v biases, `rope_theta` 1000000.
    pub mod qwen25_05b {
        crate::dim!(
            /// `vocab_size`.
            pub Vocab = 151936;
            /// `hidden_size`.
            pub Model = 896;
            /// `num_attention_heads`.
            pub Heads = 14;
            /// `num_key_value_heads`.
            pub KvHeads = 2;
            /// The head width.
            pub HeadDim = 64;
            /// `intermediate_size`.
            pub Ffn = 4864
        );
    }

    /// TinyLlama-1.1B, `TinyLlama/TinyLlama-1.1B-Chat-v1.0`'s `config.json`:
    /// `vocab_size` 32000, `hidden_size` 2048, 32 heads, 4 key/value heads, head dim 64,
    /// `intermediate_size` 5632; 22 layers, untied, `rope_theta` 10000.
    pub mod tinyllama_11b {
        crate::dim!(
            /// `vocab_size`.
            pub Vocab = 32000;
            /// `hidden_size`.
            pub Model = 2048;
            /// `num_attention_heads`.
            pub Heads = 32;
            /// `num_key_value_heads`.
            pub KvHeads = 4;
            /// The head width.
            pub HeadDim = 64;
            /// `intermediate_size`.
            pub Ffn = 5632
        );
    }

    /// SmolLM2-135M's dims.
    pub type SmolLm2_135m = Dims<
        smollm2_135m::Vocab,
        smollm2_135m::Model,
        smollm2_135m::Heads,
        smollm2_135m::KvHeads,
        smollm2_135m::HeadDim,
        smollm2_135m::Ffn,
    >;
    /// Llama-3.2-1B's dims.
    pub type Llama32_1b = Dims<
        llama32_1b::Vocab,
        llama32_1b::Model,
        llama32_1b::Heads,
        llama32_1b::KvHeads,
        llama32_1b::HeadDim,
        llama32_1b::Ffn,
    >;
    /// Qwen2.5-0.5B's dims.
    pub type Qwen25_05b = Dims<
        qwen25_05b::Vocab,
        qwen25_05b::Model,
        qwen25_05b::Heads,
        qwen25_05b::KvHeads,
        qwen25_05b::HeadDim,
        qwen25_05b::Ffn,
    >;
    /// TinyLlama-1.1B's dims.
    pub type TinyLlama11b = Dims<
        tinyllama_11b::Vocab,
        tinyllama_11b::Model,
        tinyllama_11b::Heads,
        tinyllama_11b::KvHeads,
        tinyllama_11b::HeadDim,
        tinyllama_11b::Ffn,
    >;
}
