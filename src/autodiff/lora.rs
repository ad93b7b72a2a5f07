//! A trainable LoRA layer: [`LoraLinear`], a frozen [`Linear`] adapted by `(s·B·A)` whose
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
//! - The base's weight and bias are frozen [`Param`]s: a tape reads them as constants, so
//!   they get no gradient, no optimizer state, and stay bit for bit as they were.
//! - The adapter saves and loads on its own, under PEFT's names
//!   (`{prefix}lora_A.weight`, `{prefix}lora_B.weight`).
//! - [`LoraAdapter`] is the update without the layer (`A`, `B`, the scale, the same
//!   initialisation, checks, save and load): for a model that keeps its weights in place
//!   and adapts some of them, as the decoder's attention projections
//!   ([`Decoder::add_adapters`](crate::models::decoder::Decoder::add_adapters)).
//!
//! ```
//! use shapecheck::autodiff::{linear::Linear, lora::{LoraConfig, LoraLinear}, Tape};
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

use super::linear::Linear;
use super::param::Param;
use super::var::Var;
use crate::dim::{Dim, StaticDim};
use crate::element::Float;
use crate::error::{Error, NumericError};
use crate::io::{LoadError, SafeTensors, SafetensorsWriter, SaveError};
use crate::linalg::{check_rank, RankAtMost};
use crate::nn::linear::{LinearInput, LinearOut};
use crate::ops::{Elementwise, MatMul};
use crate::optim::DynParam;
use crate::shape::{BroadcastShapes, Shape};
use crate::tensor::Tensor;

/// The settings of a [`LoraLinear`]; `Default` is PEFT's `LoraConfig`: α = 8, no dropout,
/// no rsLoRA.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoraConfig {
    /// α: the update is scaled by `α/R` (or `α/√R` with rsLoRA).
    pub alpha: f64,
    /// The dropout probability on the adapter's input, in `[0, 1)`.
    pub dropout: f64,
    /// rsLoRA: scale by `α/√R` instead of `α/R`.
    pub rslora: bool,
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig {
            alpha: 8.0,
            dropout: 0.0,
            rslora: false,
        }
    }
}

/// A frozen `Linear<DIn, DOut>` with a trainable rank-`R` adapter; see the
/// [module docs](self).
///
/// An input whose last dim is not `DIn` is a type error, as for the plain layer:
///
/// ```compile_fail
/// use shapecheck::autodiff::{linear::Linear, lora::{LoraConfig, LoraLinear}, Tape};
/// use shapecheck::prelude::*;
/// dim!(pub DIn = 6; pub DOut = 4);
/// let layer = LoraLinear::<DIn, DOut, D<2>>::new(Linear::init(false, 0), LoraConfig::default(), 1)
///     .unwrap();
/// let tape = Tape::new();
/// let y = layer.forward(&tape.constant(Tensor::<(D<3>, DOut)>::zeros()));
/// ```
#[derive(Debug)]
pub struct LoraLinear<DIn: Dim, DOut: Dim, R: Dim, T: Float = f32> {
    /// The adapted layer, frozen (its weight and bias are frozen [`Param`]s).
    pub base: Linear<DIn, DOut, T>,
    /// `A: (R, DIn)` (PEFT's `lora_A.weight`).
    pub lora_a: Param<(R, DIn), T>,
    /// `B: (DOut, R)` (PEFT's `lora_B.weight`).
    pub lora_b: Param<(DOut, R), T>,
    config: LoraConfig,
}

/// An input a [`LoraLinear`] accepts: `(…, DIn)` of rank 1 to 6, whose output is
/// `(…, DOut)` and whose adapter path goes through `(…, R)`.
pub trait LoraInput<DIn: Dim, DOut: Dim, R: Dim>: Shape {
    /// The output shape, `(…, DOut)`.
    type Out: Shape;
    #[doc(hidden)]
    fn lora_forward<'t, T: Float>(
        layer: &LoraLinear<DIn, DOut, R, T>,
        x: &Var<'t, Self, T>,
        dropout_seed: Option<u64>,
    ) -> Var<'t, Self::Out, T>;
}

impl<X, DIn: Dim, DOut: Dim, R: Dim> LoraInput<DIn, DOut, R> for X
where
    X: LinearInput<DIn, DOut>
        + MatMul<(DIn, DOut), Output = LinearOut<X, DIn, DOut>>
        + MatMul<(DIn, R)>
        + BroadcastShapes<X, Output = X>,
    <X as MatMul<(DIn, R)>>::Output: MatMul<(R, DOut), Output = LinearOut<X, DIn, DOut>>,
    LinearOut<X, DIn, DOut>:
        BroadcastShapes<LinearOut<X, DIn, DOut>, Output = LinearOut<X, DIn, DOut>>,
{
    type Out = LinearOut<X, DIn, DOut>;

    fn lora_forward<'t, T: Float>(
        layer: &LoraLinear<DIn, DOut, R, T>,
        x: &Var<'t, X, T>,
        dropout_seed: Option<u64>,
    ) -> Var<'t, Self::Out, T> {
        let tape = x.tape();
        let base = layer.base.forward(x);
        let p = layer.config.dropout;
        let input = match dropout_seed {
            Some(seed) if p > 0.0 => {
                // Inverted dropout: keep with probability 1 − p, scaled by 1/(1 − p).
                let keep = T::from_f64(1.0 / (1.0 - p));
                let mask = Tensor::<X, T>::uniform_with(x.shape(), T::ZERO, T::ONE, seed)
                    .map(|u| if u.to_f64() < p { T::ZERO } else { keep });
                x * &tape.constant(mask)
            }
            _ => x.clone(),
        };
        let a = tape.param(&layer.lora_a).t::<(DIn, R)>();
        let b = tape.param(&layer.lora_b).t::<(R, DOut)>();
        let delta = input
            .matmul(&a)
            .matmul(&b)
            .scale(T::from_f64(layer.scale()));
        &base + &delta
    }
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
        let (a, b) = init_factors(
            "LoraLinear::new",
            base.weight.value().shape(),
            rank,
            &config,
            seed,
        )?;
        base.weight.freeze();
        if let Some(b) = &mut base.bias {
            b.freeze();
        }
        Ok(LoraLinear {
            base,
            lora_a: Param::new(a),
            lora_b: Param::new(b),
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &LoraConfig {
        &self.config
    }

    /// The rank `R`.
    pub fn rank(&self) -> usize {
        self.lora_a.value().dims()[0]
    }

    /// The scale `s` of the update: `α/R`, or `α/√R` with rsLoRA.
    pub fn scale(&self) -> f64 {
        scale_of(&self.config, self.rank())
    }

    /// The number of trainable parameters, `R·(DIn + DOut)`.
    pub fn num_trainable(&self) -> usize {
        self.lora_a.value().len() + self.lora_b.value().len()
    }

    /// The number of frozen parameters (the base's weight and bias).
    pub fn num_frozen(&self) -> usize {
        self.base.weight.value().len() + self.base.bias.as_ref().map_or(0, |b| b.value().len())
    }

    /// The trainable parameters, `[A, B]`, for an optimizer step.
    pub fn trainable(&mut self) -> [&mut dyn DynParam<T>; 2] {
        [&mut self.lora_a, &mut self.lora_b]
    }

    /// The trainable parameters with PEFT's names under `prefix`, for saving and loading
    /// optimizer state: `{prefix}lora_A.weight`, `{prefix}lora_B.weight`.
    pub fn named_trainable(&self, prefix: &str) -> [(String, &dyn DynParam<T>); 2] {
        [
            (format!("{prefix}lora_A.weight"), &self.lora_a),
            (format!("{prefix}lora_B.weight"), &self.lora_b),
        ]
    }

    /// The evaluation forward, `base(x) + s·(x·Aᵀ)·Bᵀ` (no dropout), traced on `x`'s tape.
    ///
    /// # Panics
    ///
    /// When a runtime `DIn` of `x` differs from the layer's.
    #[track_caller]
    pub fn forward<'t, X: LoraInput<DIn, DOut, R>>(&self, x: &Var<'t, X, T>) -> Var<'t, X::Out, T> {
        X::lora_forward(self, x, None)
    }

    /// The training forward: [`forward`](Self::forward) with dropout on the adapter's
    /// input, its mask drawn from `seed` (pass a new seed each step; the same seed gives
    /// the same mask). Without dropout it is `forward`.
    #[track_caller]
    pub fn forward_train<'t, X: LoraInput<DIn, DOut, R>>(
        &self,
        x: &Var<'t, X, T>,
        seed: u64,
    ) -> Var<'t, X::Out, T> {
        X::lora_forward(self, x, Some(seed))
    }

    /// `ΔW = s·B·A`, `(DOut, DIn)`.
    pub fn delta(&self) -> Tensor<(DOut, DIn), T> {
        delta_of(&self.lora_a, &self.lora_b, self.scale())
    }

    /// A plain layer with `W + s·B·A` and the base's bias, whose outputs equal the
    /// adapted layer's (in evaluation).
    pub fn merge(&self) -> crate::nn::linear::Linear<DIn, DOut, T> {
        let mut w = self.base.weight.value().clone();
        add_into(&mut w, &self.delta());
        crate::nn::linear::Linear::new(w, self.base.bias.as_ref().map(|b| b.value().clone()))
    }

    /// Adds the adapter (only) to `writer`: `{prefix}lora_A.weight`, `{prefix}lora_B.weight`.
    pub fn save_adapter(
        &self,
        writer: &mut SafetensorsWriter,
        prefix: &str,
    ) -> Result<(), SaveError> {
        save_factors(writer, prefix, &self.lora_a, &self.lora_b)
    }

    /// Replaces the adapter's values with those saved under `prefix`, checked against the
    /// adapter's shapes (both are read before either is replaced). The parameters keep
    /// their ids, so an optimizer's state still belongs to them.
    pub fn load_adapter(&mut self, file: &SafeTensors, prefix: &str) -> Result<(), LoadError> {
        load_factors(file, prefix, &mut self.lora_a, &mut self.lora_b)
    }
}

/// The update of a LoRA layer without the layer: `A: (R, DIn)` and `B: (DOut, R)`, both
/// trainable, and the scale `α/R` (or `α/√R` with rsLoRA), initialised as
/// [`LoraLinear`]'s (`A` Kaiming-uniform, `B` zero).
///
/// For a model that keeps its weights where they are and adapts some of them, such as the
/// attention projections of a [`Decoder`](crate::models::decoder::Decoder): the model adds
/// `s·(x·Aᵀ)·Bᵀ` to the frozen projection's output, and [`add_to`](Self::add_to) folds the
/// update into the weight.
///
/// ```
/// use shapecheck::autodiff::lora::{LoraAdapter, LoraConfig};
/// use shapecheck::prelude::*;
/// dim!(pub DModel = 8; pub Rank);
/// let mut ad = LoraAdapter::<DModel, DModel, Rank, f64>::new_with(
///     (DModel, DModel), Rank::new(2), LoraConfig::default(), 0)?;
/// assert_eq!((ad.rank(), ad.scale(), ad.num_params()), (2, 4.0, 2 * (8 + 8)));
/// *ad.lora_b.value_mut() = Tensor::randn_with((DModel, Rank::new(2)), 1);
/// let mut w = Tensor::<(DModel, DModel), f64>::zeros();
/// ad.add_to(&mut w);
/// assert_eq!(w, ad.delta());
/// # Ok::<(), shapecheck::Error>(())
/// ```
#[derive(Debug)]
pub struct LoraAdapter<DIn: Dim, DOut: Dim, R: Dim, T: Float = f32> {
    /// `A: (R, DIn)` (PEFT's `lora_A.weight`).
    pub lora_a: Param<(R, DIn), T>,
    /// `B: (DOut, R)` (PEFT's `lora_B.weight`).
    pub lora_b: Param<(DOut, R), T>,
    config: LoraConfig,
}

impl<DIn: Dim, DOut: Dim, R: Dim, T: Float> LoraAdapter<DIn, DOut, R, T> {
    /// A fresh adapter for a weight `(DOut, DIn)`, of rank `rank`: `A` Kaiming-uniform
    /// (seeded), `B` zero. `Err` as [`LoraLinear::new`]'s: α not finite and positive, the
    /// dropout not in `[0, 1)`, or a rank above `min(DIn, DOut)`.
    pub fn new_with(
        (din, dout): (DIn, DOut),
        rank: R,
        config: LoraConfig,
        seed: u64,
    ) -> Result<Self, Error>
    where
        R: RankAtMost<DIn, DOut>,
    {
        let (a, b) = init_factors("LoraAdapter::new", (dout, din), rank, &config, seed)?;
        Ok(LoraAdapter {
            lora_a: Param::new(a),
            lora_b: Param::new(b),
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &LoraConfig {
        &self.config
    }

    /// The rank.
    pub fn rank(&self) -> usize {
        self.lora_a.value().dims()[0]
    }

    /// The scale `s` of the update: `α/R`, or `α/√R` with rsLoRA.
    pub fn scale(&self) -> f64 {
        scale_of(&self.config, self.rank())
    }

    /// The number of trainable parameters, `R·(DIn + DOut)`.
    pub fn num_params(&self) -> usize {
        self.lora_a.value().len() + self.lora_b.value().len()
    }

    /// `ΔW = s·B·A`, `(DOut, DIn)`.
    pub fn delta(&self) -> Tensor<(DOut, DIn), T> {
        delta_of(&self.lora_a, &self.lora_b, self.scale())
    }

    /// `W += s·B·A`: folds the update into the weight it adapts.
    ///
    /// # Panics
    ///
    /// When runtime dims of `w` differ from the adapter's.
    #[track_caller]
    pub fn add_to(&self, w: &mut Tensor<(DOut, DIn), T>) {
        let d = self.delta();
        assert!(
            d.dims() == w.dims(),
            "LoraAdapter::add_to: cannot combine W {:?} with the update {:?}: the shapes differ",
            w.shape(),
            d.shape()
        );
        add_into(w, &d);
    }

    /// The trainable parameters, `[A, B]`, for an optimizer step.
    pub fn trainable(&mut self) -> [&mut dyn DynParam<T>; 2] {
        [&mut self.lora_a, &mut self.lora_b]
    }

    /// The trainable parameters with PEFT's names under `prefix`: `{prefix}lora_A.weight`,
    /// `{prefix}lora_B.weight`.
    pub fn named_trainable(&self, prefix: &str) -> [(String, &dyn DynParam<T>); 2] {
        [
            (format!("{prefix}lora_A.weight"), &self.lora_a),
            (format!("{prefix}lora_B.weight"), &self.lora_b),
        ]
    }

    /// Adds `A` and `B` to `writer` under `{prefix}lora_A.weight`, `{prefix}lora_B.weight`.
    pub fn save(&self, writer: &mut SafetensorsWriter, prefix: &str) -> Result<(), SaveError> {
        save_factors(writer, prefix, &self.lora_a, &self.lora_b)
    }

    /// Replaces `A` and `B` with those saved under `prefix`, checked against their shapes
    /// (both read before either is replaced); the parameters keep their ids.
    pub fn load(&mut self, file: &SafeTensors, prefix: &str) -> Result<(), LoadError> {
        load_factors(file, prefix, &mut self.lora_a, &mut self.lora_b)
    }
}

/// `A: (R, DIn)` and `B: (DOut, R)`.
type Factors<DIn, DOut, R, T> = (Tensor<(R, DIn), T>, Tensor<(DOut, R), T>);

/// The checked settings and PEFT's initial factors for a weight of shape `(DOut, DIn)`.
fn init_factors<DIn: Dim, DOut: Dim, R: Dim, T: Float>(
    op: &'static str,
    shape: (DOut, DIn),
    rank: R,
    config: &LoraConfig,
    seed: u64,
) -> Result<Factors<DIn, DOut, R, T>, Error> {
    let (dout, din) = shape;
    check_rank(op, shape, (dout.size(), din.size()), rank)?;
    let invalid = |name, value: f64, rule| {
        Error::Numeric(NumericError::InvalidArgument {
            op,
            shape: format!("{shape:?}"),
            name,
            value: value.to_string(),
            rule,
        })
    };
    if !(config.alpha > 0.0 && config.alpha.is_finite()) {
        return Err(invalid(
            "alpha",
            config.alpha,
            "it must be finite and greater than 0",
        ));
    }
    if !(0.0..1.0).contains(&config.dropout) {
        return Err(invalid("dropout", config.dropout, "it must be in [0, 1)"));
    }
    // kaiming_uniform_(a = √5) on a (R, DIn) weight: gain √(2/(1 + 5)), bound
    // gain·√(3/fan_in) = 1/√DIn.
    let bound = T::from_f64(1.0 / (din.size().max(1) as f64).sqrt());
    let a = Tensor::uniform_with((rank, din), -bound, bound, seed);
    let b = Tensor::zeros_with((dout, rank));
    Ok((a, b))
}

fn scale_of(config: &LoraConfig, rank: usize) -> f64 {
    let r = rank as f64;
    if config.rslora {
        config.alpha / r.sqrt()
    } else {
        config.alpha / r
    }
}

fn delta_of<DIn: Dim, DOut: Dim, R: Dim, T: Float>(
    a: &Param<(R, DIn), T>,
    b: &Param<(DOut, R), T>,
    scale: f64,
) -> Tensor<(DOut, DIn), T> {
    let s = T::from_f64(scale);
    b.value().matmul(a.value()).map(|x| x * s)
}

/// `w += d`, element by element: the same shape type on both sides, so the same layout.
fn add_into<S: Shape, T: Float>(w: &mut Tensor<S, T>, d: &Tensor<S, T>) {
    w.as_mut_slice()
        .iter_mut()
        .zip(d.as_slice())
        .for_each(|(w, &d)| *w += d);
}

fn save_factors<DIn: Dim, DOut: Dim, R: Dim, T: Float>(
    writer: &mut SafetensorsWriter,
    prefix: &str,
    a: &Param<(R, DIn), T>,
    b: &Param<(DOut, R), T>,
) -> Result<(), SaveError> {
    writer
        .add(&format!("{prefix}lora_A.weight"), a.value())?
        .add(&format!("{prefix}lora_B.weight"), b.value())?;
    Ok(())
}

fn load_factors<DIn: Dim, DOut: Dim, R: Dim, T: Float>(
    file: &SafeTensors,
    prefix: &str,
    a: &mut Param<(R, DIn), T>,
    b: &mut Param<(DOut, R), T>,
) -> Result<(), LoadError> {
    let va = file.load_with(&format!("{prefix}lora_A.weight"), a.value().shape())?;
    let vb = file.load_with(&format!("{prefix}lora_B.weight"), b.value().shape())?;
    *a.value_mut() = va;
    *b.value_mut() = vb;
    Ok(())
}
