//! Layers, each written once with one forward for tensors and traced values, and the
//! pieces of attention they are built from:
//!
//! - [`linear`]: `Linear` (`x·Wᵀ + b`), with [`Flow`](flow::Flow), the two kinds of value a
//!   forward runs on;
//! - [`embedding`]: `Embedding` (ids → rows of a table);
//! - [`ffn`]: the feed-forward blocks (`FeedForward` with GELU/ReLU, `SwiGlu`);
//! - [`norm`]: `LayerNorm` and `RmsNorm`;
//! - [`lora`]: low-rank adapters (`LoRA`) and the adapted linear (`LoraLinear`);
//! - [`kv_cache`]: keys and values cached for decoding;
//! - [`self_attention`]: `SelfAttention`, the attention layer of a LLaMA-family block
//!   (projections with optional biases and LoRA adapters, grouped-query heads, an explicit
//!   head dim, RoPE, causal or sliding-window masks, its KV cache `AttentionCache`);
//! - [`attention`], [`heads`], [`rope`]: scaled dot-product attention and its masks, the
//!   multi-head layout and rotary position embeddings. They are ops on tensors and traced
//!   values alike, defined a floor below ([`ops`](crate::ops)), where both the tensor and
//!   the traced forms reach them; they are re-exported here, beside the layers that use
//!   them.
//!
//! Every layer's parameters are [`Param`](crate::autodiff::Param)s, walked by
//! [`Params`](crate::autodiff::Params).

pub mod embedding;
pub mod ffn;
pub mod flow;
pub mod kv_cache;
pub mod linear;
pub mod lora;
pub mod norm;
pub mod self_attention;
pub mod stored;

/// Scaled dot-product attention and its masks (defined in [`ops::attention`](crate::ops::attention)).
pub mod attention {
    pub use crate::ops::attention::*;
}

/// The multi-head layout (defined in [`ops::heads`](crate::ops::heads)).
pub mod heads {
    pub use crate::ops::heads::*;
}

/// Rotary position embeddings (defined in [`ops::rope`](crate::ops::rope)).
pub mod rope {
    pub use crate::ops::rope::*;
}
