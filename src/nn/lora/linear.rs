//! The adapted linear layer: [`LoraLinear`], a frozen [`Linear`] adapted by `(s·B·A)` whose
//! factors `A` and `B` are the only trainable parameters, with PEFT's conventions.
//!
//! - `A: (R, DIn)` starts Kaiming-uniform as PEFT initialises it
//!   (`kaiming_uniform_(a=√5)`: uniform in `±1/√DIn`, seeded), `B: (DOut, R)` starts at
//!   zero, so the adapted layer starts equal to the frozen one.
//! - The scale is `s = α/R`, or `α/√R` with rsLoRA ([`LoraConfig::rslora`]).
//! - The forward is `base(x) + s·(drop(x)·Aᵀ)·Bᵀ`: two thin GEMMs on the adapter path,
//!   `B·A` never formed (only by [`LoraLinear::merge`]); `drop` is inverted dropout on the
//!   adapter's input, applied only by [`LoraLinear::forward_train`] with a seed you pass,
//!   never by [`LoraLinear::forward`] (evaluation).
//! - The base's weight and bias are frozen [`Param`](crate::autodiff::Param)s: a tape reads them as constants, so
//!   they get no gradient, no optimizer state, and stay bit for bit as they were.
//! - The adapter saves and loads on its own, under PEFT's names
//!   (`{prefix}lora_A.weight`, `{prefix}lora_B.weight`).
//! - The adapter is a [`LoRA`] (the one adapter type, `layer.adapter`), and the forward is
//!   its [`forward_linear`](LoRA::forward_linear): a model that keeps its weights in place
//!   adapts them with bare `LoRA`s through the same code.
//!
//! ```
//! use shapecheck::autodiff::Tape;
//! use shapecheck::nn::linear::Linear;
//! use shapecheck::nn::lora::{LoraConfig, LoraLinear};
//! use shapecheck::optim::{AdamW, AdamWConfig, Optimizer};
//! use shapecheck::prelude::*;
//!
//! dim!(pub Batch = 8; pub DIn = 6; pub DOut = 4; pub Rank = 2);
//! let base = Linear::<DIn, DOut>::init(true, 0);
//! let mut layer = LoraLinear::<DIn, DOut, Rank>::new(base, LoraConfig::default(), 1)?;
//! let x = Tensor::<(Batch, DIn)>::randn(2);
//! let target = Tensor::<(Batch, DOut)>::randn(3);
//!
//! let mut opt = AdamW::new(AdamWConfig { lr: 1e-2, ..Default::default() }).unwrap();
//! for _ in 0..5 {
//!     let tape = Tape::new();
//!     let loss = layer.forward(&tape.constant(x.clone())).mse(&tape.constant(target.clone()));
//!     let grads = loss.backward();
//!     assert!(grads.of(&layer.base.weight).is_none()); // frozen
//!     drop(tape);
//!     opt.step(&mut layer.trainable(), &grads).unwrap();
//! }
//! // Merged into one plain layer, it computes the same outputs.
//! let merged = layer.merge();
//! let tape = Tape::new();
//! let y = layer.forward(&tape.constant(x.clone())).to_tensor();
//! let ym = merged.forward(&x);
//! assert!(y.as_slice().iter().zip(ym.as_slice()).all(|(a, b)| (a - b).abs() < 1e-5));
//! assert_eq!(layer.num_trainable(), 2 * (6 + 4));
//! # Ok::<(), shapecheck::Error>(())
//! ```

use super::{Adapted, LoRA, LoraConfig, LoraInput, LoraOut};
use crate::autodiff::{DynParam, ParamVisitor, ParamVisitorMut, Params, Var};
use crate::dim::{Dim, StaticDim};
use crate::element::Float;
use crate::error::{Error, OrPanic};
use crate::io::{LoadError, SafeTensors, SafetensorsWriter, SaveError};
use crate::linalg::RankAtMost;
use crate::nn::flow::{Input, Traced};
use crate::nn::linear::Linear;
use crate::ops::Elementwise;
use crate::shape::BroadcastShapes;
use crate::tensor::Tensor;

/// A frozen `Linear<DIn, DOut>` with a trainable rank-`R` adapter; see the
/// [module docs](super).
///
/// An input whose last dim is not `DIn` is a type error, as for the plain layer:
///
/// ```compile_fail
/// use shapecheck::autodiff::Tape;
/// use shapecheck::nn::linear::Linear;
/// use shapecheck::nn::lora::{LoraConfig, LoraLinear};
/// use shapecheck::prelude::*;
/// dim!(pub DIn = 6; pub DOut = 4);
/// let layer = LoraLinear::<DIn, DOut, D<2>>::new(Linear::init(false, 0), LoraConfig::default(), 1)
///     .unwrap();
/// let tape = Tape::new();
/// let y = layer.forward(&tape.constant(Tensor::<(D<3>, DOut)>::zeros()));
/// ```
#[derive(Debug)]
pub struct LoraLinear<DIn: Dim, DOut: Dim, R: Dim, T: Float = f32> {
    /// The adapted layer, frozen (its weight and bias are frozen
    /// [`Param`](crate::autodiff::Param)s).
    pub base: Linear<DIn, DOut, T>,
    /// The update: `adapter.lora_a: (R, DIn)`, `adapter.lora_b: (DOut, R)`, the scale.
    pub adapter: LoRA<DIn, DOut, R, T>,
}

impl<DIn: Dim, DOut: Dim, R: Dim, T: Float> LoraLinear<DIn, DOut, R, T> {
    /// Wraps `base` (freezing its weight and bias) with a fresh adapter of static rank `R`:
    /// `A` Kaiming-uniform (seeded), `B` zero. `Err` when α is not finite and positive, or
    /// the dropout is not in `[0, 1)`, or (runtime dims) `R > min(DIn, DOut)`.
    pub fn new(base: Linear<DIn, DOut, T>, config: LoraConfig, seed: u64) -> Result<Self, Error>
    where
        R: StaticDim + RankAtMost<DIn, DOut>,
    {
        Self::new_with(base, R::default(), config, seed)
    }

    /// [`new`](Self::new) with the rank given as a value (for a runtime rank).
    pub fn new_with(
        mut base: Linear<DIn, DOut, T>,
        rank: R,
        config: LoraConfig,
        seed: u64,
    ) -> Result<Self, Error>
    where
        R: RankAtMost<DIn, DOut>,
    {
        let (dout, din) = base.weight.value().shape();
        let adapter = LoRA::peft("LoraLinear::new", (din, dout), rank, config, seed)?;
        base.weight.freeze();
        if let Some(b) = &mut base.bias {
            b.freeze();
        }
        Ok(LoraLinear { base, adapter })
    }

    /// The settings.
    pub fn config(&self) -> &LoraConfig {
        self.adapter.config()
    }

    /// The rank `R`.
    pub fn rank(&self) -> usize {
        self.adapter.rank()
    }

    /// The scale `s` of the update: `α/R`, or `α/√R` with rsLoRA.
    pub fn scale(&self) -> T {
        self.adapter.scale()
    }

    /// The number of trainable parameters, `R·(DIn + DOut)`.
    pub fn num_trainable(&self) -> usize {
        self.adapter.num_params()
    }

    /// The number of frozen parameters (the base's weight and bias).
    pub fn num_frozen(&self) -> usize {
        self.base.weight.value().len() + self.base.bias.as_ref().map_or(0, |b| b.value().len())
    }

    /// The trainable parameters, `[A, B]`, for an optimizer step.
    pub fn trainable(&mut self) -> [&mut dyn DynParam<T>; 2] {
        self.adapter.trainable()
    }

    /// The trainable parameters with PEFT's names under `prefix`, for saving and loading
    /// optimizer state: `{prefix}lora_A.weight`, `{prefix}lora_B.weight`.
    pub fn named_trainable(&self, prefix: &str) -> [(String, &dyn DynParam<T>); 2] {
        self.adapter.named_trainable(prefix)
    }

    /// The evaluation forward, `base(x) + s·(x·Aᵀ)·Bᵀ` (no dropout), for `x: (…, DIn)`, a
    /// tensor or a traced value: [`LoRA::forward_linear`].
    ///
    /// # Panics
    ///
    /// When a runtime `DIn` of `x` differs from the layer's.
    #[track_caller]
    pub fn forward<X>(&self, x: &X) -> Adapted<X, DIn, DOut, R, T>
    where
        X: Input<T> + ?Sized,
        X::Shape: LoraInput<DIn, DOut, R>,
    {
        self.adapter.forward_linear(&self.base, x)
    }

    /// The training forward: [`forward`](Self::forward) with inverted dropout on the
    /// adapter's input (kept with probability `1 − p`, scaled by `1/(1 − p)`), its mask
    /// drawn from `seed` (pass a new seed each step; the same seed gives the same mask).
    /// Without dropout it is `forward`.
    #[track_caller]
    pub fn forward_train<'t, X>(
        &self,
        x: &Var<'t, X, T>,
        seed: u64,
    ) -> Var<'t, LoraOut<X, DIn, DOut, R>, T>
    where
        X: LoraInput<DIn, DOut, R> + BroadcastShapes<X, Output = X>,
    {
        let p = self.adapter.config().dropout;
        if p == 0.0 {
            return self.forward(x);
        }
        let keep = T::from_f64(1.0 / (1.0 - p));
        let mask = Tensor::<X, T>::uniform_with(x.shape(), T::ZERO, T::ONE, seed).map(|u| {
            if u.to_f64() < p {
                T::ZERO
            } else {
                keep
            }
        });
        let dropped = x * &x.tape().constant(mask);
        let y = <X as LoraInput<DIn, DOut, R>>::base(&self.base, x).or_panic();
        <X as LoraInput<DIn, DOut, R>>::add::<T, Traced<'t>>(y, &self.adapter.update(&dropped))
    }

    /// `ΔW = s·B·A`, `(DOut, DIn)`.
    pub fn delta(&self) -> Tensor<(DOut, DIn), T> {
        self.adapter.delta()
    }

    /// A plain layer with `W + s·B·A` and the base's bias, whose outputs equal the
    /// adapted layer's (in evaluation).
    pub fn merge(&self) -> Linear<DIn, DOut, T> {
        let mut w = self.base.weight.value().clone();
        self.adapter.merge(&mut w);
        Linear::new(w, self.base.bias.as_ref().map(|b| b.value().clone()))
    }

    /// Adds the adapter (only) to `writer`: `{prefix}lora_A.weight`, `{prefix}lora_B.weight`,
    /// its rank, α and rsLoRA recorded in the metadata ([`LoRA::save`]).
    pub fn save_adapter(
        &self,
        writer: &mut SafetensorsWriter,
        prefix: &str,
    ) -> Result<(), SaveError> {
        self.adapter.save(writer, prefix)
    }

    /// Replaces the adapter's values with those saved under `prefix`, checked against the
    /// adapter's shapes and its rank, α and rsLoRA against those the file records (all
    /// before anything is replaced; see [`LoRA::load`]). The parameters keep their ids, so
    /// an optimizer's state still belongs to them.
    pub fn load_adapter(&mut self, file: &SafeTensors, prefix: &str) -> Result<(), LoadError> {
        self.adapter.load(file, prefix)
    }
}

impl<DIn: Dim, DOut: Dim, R: Dim, T: Float> Params<T> for LoraLinear<DIn, DOut, R, T> {
    /// PEFT's names: `base_layer.weight` (and `.bias`), `lora_A.weight`, `lora_B.weight`.
    fn visit_params<'a>(&'a self, prefix: &str, v: &mut impl ParamVisitor<'a, T>) {
        self.base.visit_params(&format!("{prefix}base_layer."), v);
        self.adapter.visit_params(prefix, v);
    }

    fn visit_params_mut<'a>(&'a mut self, prefix: &str, v: &mut impl ParamVisitorMut<'a, T>) {
        self.base
            .visit_params_mut(&format!("{prefix}base_layer."), v);
        self.adapter.visit_params_mut(prefix, v);
    }
}
