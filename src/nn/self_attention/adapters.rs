//! The optional LoRA adapters of an attention layer's four projections, and which of them
//! to adapt.

use super::{KvWidth, QWidth};
use crate::autodiff::{ParamVisitor, ParamVisitorMut, Params};
use crate::dim::{Dim, Dyn};
use crate::element::Float;
use crate::nn::lora::LoRA;

/// The optional LoRA adapters of the four projections, of runtime rank (`None`: not
/// adapted).
#[derive(Debug)]
pub struct AttnAdapters<M: Dim, H: Dim, Kh: Dim, Hd: Dim, T: Float = f32> {
    /// The adapter of `wq`, `M → Heads × HeadDim`.
    pub q: Option<LoRA<M, QWidth<H, Hd>, Dyn, T>>,
    /// The adapter of `wk`, `M → KvHeads × HeadDim`.
    pub k: Option<LoRA<M, KvWidth<Kh, Hd>, Dyn, T>>,
    /// The adapter of `wv`.
    pub v: Option<LoRA<M, KvWidth<Kh, Hd>, Dyn, T>>,
    /// The adapter of `wo`, `Heads × HeadDim → M`.
    pub o: Option<LoRA<QWidth<H, Hd>, M, Dyn, T>>,
}

impl<M: Dim, H: Dim, Kh: Dim, Hd: Dim, T: Float> AttnAdapters<M, H, Kh, Hd, T> {
    /// No adapter.
    pub fn none() -> Self {
        AttnAdapters {
            q: None,
            k: None,
            v: None,
            o: None,
        }
    }

    /// The names (`q_proj`, …) of the projections that have an adapter, in the order q,
    /// k, v, o.
    pub fn names(&self) -> Vec<&'static str> {
        let present = [
            self.q.is_some(),
            self.k.is_some(),
            self.v.is_some(),
            self.o.is_some(),
        ];
        PROJ.iter()
            .zip(present)
            .filter_map(|(n, p)| p.then_some(*n))
            .collect()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.q.is_none() && self.k.is_none() && self.v.is_none() && self.o.is_none()
    }

    /// The number of scalar parameters of the adapters.
    pub fn num_params(&self) -> usize {
        self.q.as_ref().map_or(0, LoRA::num_params)
            + self.k.as_ref().map_or(0, LoRA::num_params)
            + self.v.as_ref().map_or(0, LoRA::num_params)
            + self.o.as_ref().map_or(0, LoRA::num_params)
    }
}

/// The projections' names, as Hugging Face and PEFT spell them.
const PROJ: [&str; 4] = ["q_proj", "k_proj", "v_proj", "o_proj"];

impl<M: Dim, H: Dim, Kh: Dim, Hd: Dim, T: Float> Params<T> for AttnAdapters<M, H, Kh, Hd, T> {
    /// PEFT's names under `prefix`: `{prefix}q_proj.lora_A.weight`, … (the projections
    /// without an adapter have none).
    fn visit_params<'a>(&'a self, prefix: &str, v: &mut impl ParamVisitor<'a, T>) {
        self.q.visit_params(&format!("{prefix}q_proj."), v);
        self.k.visit_params(&format!("{prefix}k_proj."), v);
        self.v.visit_params(&format!("{prefix}v_proj."), v);
        self.o.visit_params(&format!("{prefix}o_proj."), v);
    }

    fn visit_params_mut<'a>(&'a mut self, prefix: &str, v: &mut impl ParamVisitorMut<'a, T>) {
        self.q.visit_params_mut(&format!("{prefix}q_proj."), v);
        self.k.visit_params_mut(&format!("{prefix}k_proj."), v);
        self.v.visit_params_mut(&format!("{prefix}v_proj."), v);
        self.o.visit_params_mut(&format!("{prefix}o_proj."), v);
    }
}

/// Which projections get an adapter: the attention's four and (in a decoder block) the
/// SwiGLU feed-forward's three ([`MlpAdapters`](crate::nn::lora::MlpAdapters)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoraTargets {
    /// The query projection `wq` (`q_proj`).
    pub q: bool,
    /// The key projection `wk` (`k_proj`).
    pub k: bool,
    /// The value projection `wv` (`v_proj`).
    pub v: bool,
    /// The output projection `wo` (`o_proj`).
    pub o: bool,
    /// The feed-forward's gate projection (`gate_proj`).
    pub gate: bool,
    /// The feed-forward's up projection (`up_proj`).
    pub up: bool,
    /// The feed-forward's down projection (`down_proj`).
    pub down: bool,
}

impl LoraTargets {
    /// No projection.
    pub const NONE: LoraTargets = LoraTargets {
        q: false,
        k: false,
        v: false,
        o: false,
        gate: false,
        up: false,
        down: false,
    };
    /// The four attention projections (q, k, v, o).
    pub const ALL: LoraTargets = LoraTargets {
        q: true,
        k: true,
        v: true,
        o: true,
        ..LoraTargets::NONE
    };
    /// The feed-forward's three projections (gate, up, down).
    pub const MLP: LoraTargets = LoraTargets {
        gate: true,
        up: true,
        down: true,
        ..LoraTargets::NONE
    };
    /// Every linear projection of a decoder block (PEFT's `all-linear` without the head).
    pub const ALL_LINEAR: LoraTargets = LoraTargets {
        q: true,
        k: true,
        v: true,
        o: true,
        ..LoraTargets::MLP
    };
}
