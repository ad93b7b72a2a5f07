//! [`DecoderConfig`]: what a decoder's types do not say (the sizes are its dims).

use crate::ops::rope::{RopeLayout, RopeScaling};

/// The knobs of a [`Decoder`](super::Decoder) that are not sizes: the sizes (vocabulary,
/// model width, heads, key/value heads, head width, FFN width) are its dims
/// ([`DecoderDims`](super::DecoderDims)).
///
/// ```
/// use shapecheck::models::decoder::DecoderConfig;
/// use shapecheck::nn::rope::RopeLayout;
/// let config = DecoderConfig { layers: 4, tied: true, ..DecoderConfig::default() };
/// assert_eq!(config.rope_layout, RopeLayout::HalfSplit);
/// assert_eq!(config.norm_eps, 1e-5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecoderConfig {
    /// The number of blocks.
    pub layers: usize,
    /// The `ε` of every RMS norm: `x / √(mean(x²) + ε) · w` (LLaMA's placement).
    pub norm_eps: f64,
    /// RoPE's base frequency (`θ_j = base^(−2j/d)`).
    pub rope_base: f64,
    /// Which features RoPE rotates together.
    pub rope_layout: RopeLayout,
    /// RoPE's scaling beyond the trained context (`rope_scaling` of a Hugging Face
    /// config), as `transformers` computes it.
    pub rope_scaling: RopeScaling,
    /// Biases on the query, key and value projections (Qwen2's); they start at zero.
    pub qkv_bias: bool,
    /// The attention window of every block (Mistral's `sliding_window`), `None` for
    /// attention over every earlier position. A loaded checkpoint sets it per block
    /// (Qwen2's sliding layers) on [`SelfAttention::window`](crate::nn::self_attention::SelfAttention::window).
    pub sliding_window: Option<usize>,
    /// Whether the output head is the token embedding's table (`logits = h·Eᵀ`), or a
    /// matrix of its own.
    pub tied: bool,
    /// The standard deviation of the normal initialisation of every matrix (the norms'
    /// weights start at 1).
    pub init_std: f64,
}

impl Default for DecoderConfig {
    /// 2 blocks, ε = 1e-5, base 10 000, [`RopeLayout::HalfSplit`] (Hugging Face LLaMA's
    /// `rotate_half`) without scaling, no biases, no window, an untied head,
    /// initialisation std 0.02.
    fn default() -> Self {
        DecoderConfig {
            layers: 2,
            norm_eps: 1e-5,
            rope_base: 10_000.0,
            rope_layout: RopeLayout::HalfSplit,
            rope_scaling: RopeScaling::None,
            qkv_bias: false,
            sliding_window: None,
            tied: false,
            init_std: 0.02,
        }
    }
}
