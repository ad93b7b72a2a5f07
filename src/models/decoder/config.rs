//! [`DecoderConfig`]: what a decoder's types do not say (the sizes are its dims).

use crate::ops::rope::RopeLayout;

/// The knobs of a [`Decoder`](super::Decoder) that are not sizes: the sizes (vocabulary,
/// model width, heads, head width, FFN width) are its type parameters.
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
    /// Whether the output head is the token embedding's table (`logits = h·Eᵀ`), or a
    /// matrix of its own.
    pub tied: bool,
    /// The standard deviation of the normal initialisation of every matrix (the norms'
    /// weights start at 1).
    pub init_std: f64,
}

impl Default for DecoderConfig {
    /// 2 blocks, ε = 1e-5, base 10 000, [`RopeLayout::HalfSplit`] (Hugging Face LLaMA's
    /// `rotate_half`), an untied head, initialisation std 0.02.
    fn default() -> Self {
        DecoderConfig {
            layers: 2,
            norm_eps: 1e-5,
            rope_base: 10_000.0,
            rope_layout: RopeLayout::HalfSplit,
            tied: false,
            init_std: 0.02,
        }
    }
}
