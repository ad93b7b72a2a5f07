//! [`RopeScaling`] and [`Yarn`]: how RoPE's frequencies are scaled beyond the trained
//! context, as `transformers` computes them (`modeling_rope_utils.py`); the frequencies
//! themselves are computed in [`Rope`](super::Rope).

/// How RoPE's frequencies are scaled to reach beyond the trained context: `rope_type` and
/// its parameters in a Hugging Face config (`rope_scaling`, or transformers 5's
/// `rope_parameters`), computed as `transformers` computes them.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum RopeScaling {
    /// `default`: `θ_j = base^(−2j/d)`.
    None,
    /// `linear` (position interpolation): every frequency divided by `factor`, as
    /// [`Rope::interpolation`](super::Rope::interpolation).
    Linear {
        /// The context stretch.
        factor: f64,
    },
    /// `dynamic` (NTK-aware): for a sequence of `len > max_positions` positions the base
    /// becomes `base·(factor·len/max_positions − (factor − 1))^(d/(d−2))`; shorter sequences
    /// rotate as `default`. The length is that of each call (its last position + 1), as
    /// `transformers` takes it in a forward pass.
    Dynamic {
        /// The stretch factor.
        factor: f64,
        /// The trained context (`max_position_embeddings`).
        max_positions: usize,
    },
    /// `llama3` (Llama 3.1): frequencies whose wavelength exceeds
    /// `original_max_positions / low_freq_factor` are divided by `factor`, those shorter
    /// than `original_max_positions / high_freq_factor` are kept, and those between are
    /// interpolated smoothly.
    Llama3 {
        /// The division of the low frequencies (8 in Llama 3.1).
        factor: f64,
        /// 1 in Llama 3.1.
        low_freq_factor: f64,
        /// 4 in Llama 3.1.
        high_freq_factor: f64,
        /// The context before scaling (8192 in Llama 3.1).
        original_max_positions: usize,
    },
    /// `yarn` (Peng et al., 2023).
    Yarn(Yarn),
}

/// YaRN's parameters; [`Yarn::new`] gives `transformers`' defaults for the optional ones.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Yarn {
    /// The stretch factor.
    pub factor: f64,
    /// The context before scaling (`original_max_position_embeddings`).
    pub original_max_positions: usize,
    /// Extrapolation bound of the ramp, in rotations (32).
    pub beta_fast: f64,
    /// Interpolation bound of the ramp, in rotations (1).
    pub beta_slow: f64,
    /// The factor on the cosines and sines; `None`: `0.1·ln(factor) + 1` (or the ratio of
    /// the two `mscale` terms when both are given).
    pub attention_factor: Option<f64>,
    /// DeepSeek's `mscale`.
    pub mscale: Option<f64>,
    /// DeepSeek's `mscale_all_dim`.
    pub mscale_all_dim: Option<f64>,
    /// Whether the correction range is rounded outward to whole dims (`truncate`, true).
    pub truncate: bool,
}

impl Yarn {
    /// YaRN stretching a context of `original_max_positions` by `factor`, with the optional
    /// parameters at `transformers`' defaults.
    pub fn new(factor: f64, original_max_positions: usize) -> Self {
        Yarn {
            factor,
            original_max_positions,
            beta_fast: 32.0,
            beta_slow: 1.0,
            attention_factor: None,
            mscale: None,
            mscale_all_dim: None,
            truncate: true,
        }
    }

    /// The factor on the cosines and sines (`yarn_get_mscale`).
    pub(super) fn attention(&self) -> f64 {
        let get = |scale: f64, m: f64| {
            if scale <= 1.0 {
                1.0
            } else {
                0.1 * m * scale.ln() + 1.0
            }
        };
        match (self.attention_factor, self.mscale, self.mscale_all_dim) {
            (Some(a), _, _) => a,
            (None, Some(m), Some(all)) if m != 0.0 && all != 0.0 => {
                get(self.factor, m) / get(self.factor, all)
            }
            _ => get(self.factor, 1.0),
        }
    }
}
