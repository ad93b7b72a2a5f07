//! The optional LoRA adapters of a SwiGLU feed-forward's three projections (PEFT's
//! `gate_proj`, `up_proj`, `down_proj` targets), beside the layer rather than in it: a
//! decoder block holds them next to its [`SwiGlu`], and runs its activations through
//! [`MlpAdapters::try_activations`], which is the layer's own
//! [`try_activations_of`](SwiGlu::try_activations_of) when neither `gate` nor `up` is
//! adapted.

use crate::autodiff::{ParamVisitor, ParamVisitorMut, Params, Var};
use crate::dim::{Dim, Dyn};
use crate::element::Float;
use crate::error::{Error, ShapeError};
use crate::nn::ffn::{Activation, SwiGlu};
use crate::nn::flow::{Flow, Traced};
use crate::nn::lora::{LoRA, LoraConfig};
use crate::nn::self_attention::LoraTargets;
use crate::nn::stored::{Project, Storage};
use crate::shape::SameDim;

/// The optional LoRA adapters of a SwiGLU's projections `DModel → Ffn → DModel`, of
/// runtime rank (`None`: not adapted).
#[derive(Debug)]
pub struct MlpAdapters<M: Dim, F: Dim, T: Float = f32> {
    /// The adapter of `gate` (`gate_proj`), `M → F`.
    pub gate: Option<LoRA<M, F, Dyn, T>>,
    /// The adapter of `up` (`up_proj`), `M → F`.
    pub up: Option<LoRA<M, F, Dyn, T>>,
    /// The adapter of `down` (`down_proj`), `F → M`.
    pub down: Option<LoRA<F, M, Dyn, T>>,
}

/// The projections' names, as Hugging Face and PEFT spell them.
const PROJ: [&str; 3] = ["gate_proj", "up_proj", "down_proj"];

impl<M: Dim, F: Dim, T: Float> MlpAdapters<M, F, T> {
    /// No adapter.
    pub fn none() -> Self {
        MlpAdapters {
            gate: None,
            up: None,
            down: None,
        }
    }

    /// The names (`gate_proj`, …) of the projections that have an adapter, in the order
    /// gate, up, down.
    pub fn names(&self) -> Vec<&'static str> {
        let present = [self.gate.is_some(), self.up.is_some(), self.down.is_some()];
        PROJ.iter()
            .zip(present)
            .filter_map(|(n, p)| p.then_some(*n))
            .collect()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.names().is_empty()
    }

    /// The number of scalar parameters of the adapters.
    pub fn num_params(&self) -> usize {
        self.gate.as_ref().map_or(0, LoRA::num_params)
            + self.up.as_ref().map_or(0, LoRA::num_params)
            + self.down.as_ref().map_or(0, LoRA::num_params)
    }

    /// `silu(gate(x)) ⊙ up(x)` of a traced `x: (B, S, M)`, each projection with its
    /// adapter: `ffn`'s own [`try_activations_of`](SwiGlu::try_activations_of) when
    /// neither is adapted. (The down projection's adapter goes to its
    /// [`try_project`](Project::try_project).)
    pub fn try_activations<'t, B: SameDim, S: SameDim, W: Storage<T>>(
        &self,
        ffn: &SwiGlu<M, F, T, W>,
        x: &Var<'t, (B, S, M), T>,
    ) -> Result<Var<'t, (B, S, F), T>, ShapeError>
    where
        M: SameDim,
        F: SameDim,
    {
        if self.gate.is_none() && self.up.is_none() {
            return ffn.try_activations_of(x);
        }
        let gate = ffn.gate.try_project(self.gate.as_ref(), x)?;
        let up = ffn.up.try_project(self.up.as_ref(), x)?;
        let gate = <Traced<'t> as Flow<T>>::activate(gate, Activation::Silu);
        Ok(<Traced<'t> as Flow<T>>::mul(gate, &up))
    }
}

impl<M: Dim, F: Dim, T: Float> MlpAdapters<M, F, T> {
    /// Gives each projection of `ffn` that `targets` names (`gate`, `up`, `down`; the
    /// attention's are not this layer's) a fresh adapter of rank `rank` (`A`
    /// Kaiming-uniform from `seed`, `seed + 1`, `seed + 2` in the order gate, up, down;
    /// `B` zero), replacing any it had. `Err` when `rank` exceeds a projection's smaller
    /// side or `config` is invalid; nothing is then replaced.
    pub fn add(
        &mut self,
        ffn: &SwiGlu<M, F, T>,
        targets: LoraTargets,
        rank: usize,
        config: LoraConfig,
        seed: u64,
    ) -> Result<(), Error> {
        let (f, m) = ffn.gate.weight.value().shape();
        let (r, op) = (Dyn::new(rank), "MlpAdapters::add");
        let gate = targets
            .gate
            .then(|| LoRA::peft(op, (m, f), r, config, seed))
            .transpose()?;
        let up = targets
            .up
            .then(|| LoRA::peft(op, (m, f), r, config, seed + 1))
            .transpose()?;
        let down = targets
            .down
            .then(|| LoRA::peft(op, (f, m), r, config, seed + 2))
            .transpose()?;
        self.gate = gate.or(self.gate.take());
        self.up = up.or(self.up.take());
        self.down = down.or(self.down.take());
        Ok(())
    }

    /// Folds every adapter into its projection of `ffn` (`W += s·B·A`) and removes it.
    pub fn merge_into(&mut self, ffn: &mut SwiGlu<M, F, T>) {
        if let Some(a) = self.gate.take() {
            a.merge(ffn.gate.weight.value_mut());
        }
        if let Some(a) = self.up.take() {
            a.merge(ffn.up.weight.value_mut());
        }
        if let Some(a) = self.down.take() {
            a.merge(ffn.down.weight.value_mut());
        }
    }
}

impl<M: Dim, F: Dim, T: Float> Params<T> for MlpAdapters<M, F, T> {
    /// PEFT's names under `prefix`: `{prefix}gate_proj.lora_A.weight`, … (the projections
    /// without an adapter have none).
    fn visit_params<'a>(&'a self, prefix: &str, v: &mut impl ParamVisitor<'a, T>) {
        let [gate, up, down] = PROJ.map(|n| format!("{prefix}{n}."));
        self.gate.visit_params(&gate, v);
        self.up.visit_params(&up, v);
        self.down.visit_params(&down, v);
    }

    fn visit_params_mut<'a>(&'a mut self, prefix: &str, v: &mut impl ParamVisitorMut<'a, T>) {
        let [gate, up, down] = PROJ.map(|n| format!("{prefix}{n}."));
        self.gate.visit_params_mut(&gate, v);
        self.up.visit_params_mut(&up, v);
        self.down.visit_params_mut(&down, v);
    }
}
