//! LoRA (Hu et al., 2021): a frozen weight `W: (DOut, DIn)` adapted by a low-rank update
//! `ΔW = s·B·A`, with `A: (R, DIn)`, `B: (DOut, R)` and the scale `s = α/R` (or `α/√R`
//! with rsLoRA).
//!
//! One adapter type, [`LoRA`], for inference and training: `A` and `B` are
//! [`Param`]s (PEFT's `lora_A.weight`, `lora_B.weight`), so a tape traces them and
//! `grads.of(&lora.lora_a)` is typed `(R, DIn)`; the same value runs the plain forward
//! [`forward`](LoRA::forward), folds into a weight ([`merge`](LoRA::merge) /
//! [`unmerge`](LoRA::unmerge)), saves and loads on its own. Its update
//! ([`update`](LoRA::update)) and the adapted layer's forward
//! ([`forward_linear`](LoRA::forward_linear)) are written once, for tensors and traced
//! values alike. The layer that wraps a frozen [`Linear`] with one is [`LoraLinear`]; a
//! model that keeps its weights in place adapts them with bare `LoRA`s through
//! `forward_linear` (the decoder's attention projections).
//!
//! The types carry the rule that makes it work: `A` and `B` share the rank dim `R` (so an
//! adapter whose factors disagree on the rank does not type-check), an input must have
//! width `DIn`, and [`RankAtMost`] keeps `R ≤ min(DIn, DOut)` (a larger rank saves nothing
//! and is not a low-rank update). The forward pass is `x·Wᵀ + s·(x·Aᵀ)·Bᵀ`, three GEMMs of
//! which two are thin; `B·A` is never formed there (only by [`LoRA::delta`] and
//! [`LoRA::merge`]).
//!
//! Three ways to make one (`build.rs`): [`new_with`](LoRA::new_with) is PEFT's (`A`
//! Kaiming-uniform, `B` zero, a [`LoraConfig`]); [`init`](LoRA::init) the paper's (`A`
//! Gaussian of standard deviation `1/√DIn`, `B` zero); [`from_delta`](LoRA::from_delta) the
//! best rank-`R` adapter for a given update (truncated SVD).

mod build;
mod config_meta;

pub use config_meta::AdapterConfig;

mod linear;
mod mlp;

pub use linear::LoraLinear;
pub use mlp::MlpAdapters;

use super::flow::{Flow, Input, Out, Plain};
use super::linear::{Linear, LinearInput, LinearOut};
use crate::autodiff::{DynParam, Param, ParamVisitor, ParamVisitorMut, Params};
use crate::dim::{Dim, StaticDim};
use crate::element::Float;
use crate::error::OrPanic;
use crate::error::ShapeError;
use crate::io::{LoadError, SafeTensors, SafetensorsWriter, SaveError};
use crate::linalg::RankAtMost;
use crate::ops::linear::try_linear;
use crate::ops::Elementwise;
use crate::shape::{BroadcastShapes, Shape};
use crate::tensor::{AsView, Tensor, TensorView};

/// An input a [`LoRA<DIn, DOut, R>`](LoRA) (and a [`LoraLinear`]) accepts: `(…, DIn)` of
/// rank 1 to 6, whose update goes through `(…, R)` to `(…, DOut)`.
#[diagnostic::on_unimplemented(
    message = "a LoRA adapter `{DIn} → {DOut}` cannot be applied to `{Self}`",
    label = "a LoRA adapter of a `Linear<{DIn}, {DOut}>` takes inputs whose last dim is `{DIn}`",
    note = "the adapted weight is stored (DOut, DIn) as in PyTorch; the input's last dim must be the very same dim as DIn"
)]
pub trait LoraInput<DIn: Dim, DOut: Dim, R: Dim>: Shape {
    /// The output shape, `(…, DOut)`.
    type Out: Shape;
    #[doc(hidden)]
    fn base<T: Float, X: Input<T, Shape = Self> + ?Sized>(
        base: &Linear<DIn, DOut, T>,
        x: &X,
    ) -> Result<Out<X, T, Self::Out>, ShapeError>;
    #[doc(hidden)]
    fn base_weight<T: Float>(
        x: &TensorView<'_, Self, T>,
        w: &TensorView<'_, (DOut, DIn), T>,
    ) -> Result<Tensor<Self::Out, T>, ShapeError>;
    #[doc(hidden)]
    fn update<T: Float, X: Input<T, Shape = Self> + ?Sized>(
        lora: &LoRA<DIn, DOut, R, T>,
        x: &X,
    ) -> Result<Out<X, T, Self::Out>, ShapeError>;
    #[doc(hidden)]
    fn add<T: Float, F: Flow<T>>(y: F::Of<Self::Out>, u: &F::Of<Self::Out>) -> F::Of<Self::Out>;
}

/// The output shape of a LoRA-adapted `DIn → DOut` layer applied to `S`: `(…, DOut)`.
pub type LoraOut<S, DIn, DOut, R> = <S as LoraInput<DIn, DOut, R>>::Out;

/// What [`LoRA::forward`] gives for a tensor or view `X`: a tensor `(…, DOut)`.
pub type PlainOut<X, DIn, DOut, R> =
    Tensor<LoraOut<<X as AsView>::Shape, DIn, DOut, R>, <X as AsView>::Elem>;

/// What a LoRA-adapted layer gives for the input `X`: a tensor or a `Var` `(…, DOut)`.
pub type Adapted<X, DIn, DOut, R, T> = Out<X, T, LoraOut<<X as Input<T>>::Shape, DIn, DOut, R>>;

/// `base(x)`, plus `s·(x·Aᵀ)·Bᵀ` when there is an adapter: a projection that may be
/// adapted, as a model's attention projections are ([`LoRA::try_forward_linear`], or the
/// plain [`Linear::try_forward`]).
pub fn adapted<X, DIn, DOut, R, T>(
    base: &Linear<DIn, DOut, T>,
    adapter: Option<&LoRA<DIn, DOut, R, T>>,
    x: &X,
) -> Result<Adapted<X, DIn, DOut, R, T>, ShapeError>
where
    X: Input<T> + ?Sized,
    X::Shape: LoraInput<DIn, DOut, R>,
    DIn: Dim,
    DOut: Dim,
    R: Dim,
    T: Float,
{
    match adapter {
        Some(a) => a.try_forward_linear(base, x),
        None => <X::Shape as LoraInput<DIn, DOut, R>>::base(base, x),
    }
}

#[diagnostic::do_not_recommend]
impl<S, DIn: Dim, DOut: Dim, R: Dim> LoraInput<DIn, DOut, R> for S
where
    S: LinearInput<DIn, DOut> + LinearInput<DIn, R>,
    LinearOut<S, DIn, R>: LinearInput<R, DOut, Output = LinearOut<S, DIn, DOut>>,
    LinearOut<S, DIn, DOut>:
        BroadcastShapes<LinearOut<S, DIn, DOut>, Output = LinearOut<S, DIn, DOut>>,
{
    type Out = LinearOut<S, DIn, DOut>;

    fn base<T: Float, X: Input<T, Shape = S> + ?Sized>(
        base: &Linear<DIn, DOut, T>,
        x: &X,
    ) -> Result<Out<X, T, Self::Out>, ShapeError> {
        base.try_forward(x)
    }

    fn base_weight<T: Float>(
        x: &TensorView<'_, S, T>,
        w: &TensorView<'_, (DOut, DIn), T>,
    ) -> Result<Tensor<Self::Out, T>, ShapeError> {
        try_linear(x, w, None)
    }

    fn update<T: Float, X: Input<T, Shape = S> + ?Sized>(
        lora: &LoRA<DIn, DOut, R, T>,
        x: &X,
    ) -> Result<Out<X, T, Self::Out>, ShapeError> {
        let low = x.try_linear_with(&lora.lora_a, None)?;
        let up = low.try_linear_with(&lora.lora_b, None)?;
        Ok(<X::Flow as Flow<T>>::scale(up, lora.scale()))
    }

    fn add<T: Float, F: Flow<T>>(y: F::Of<Self::Out>, u: &F::Of<Self::Out>) -> F::Of<Self::Out> {
        F::add(y, u)
    }
}

/// The settings of a LoRA adapter; `Default` is PEFT's `LoraConfig`: α = 8, no dropout,
/// no rsLoRA.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoraConfig {
    /// α: the update is scaled by `α/R` (or `α/√R` with rsLoRA).
    pub alpha: f64,
    /// The dropout probability on the adapter's input, in `[0, 1)` (applied by
    /// [`LoraLinear::forward_train`]).
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

impl LoraConfig {
    /// The paper's settings for a given α: no dropout, the scale `α/R`.
    pub fn alpha(alpha: f64) -> Self {
        LoraConfig {
            alpha,
            ..Default::default()
        }
    }
}

/// A LoRA adapter for a weight `W: (DOut, DIn)`, of rank `R`: `A: (R, DIn)`,
/// `B: (DOut, R)`, scale `α/R`; see the [module docs](self).
///
/// ```
/// use shapecheck::prelude::*;
/// dim!(pub DIn = 16);
/// dim!(pub DOut = 12);
/// dim!(pub Rank = 4);
/// dim!(pub Batch);
/// let w = Tensor::<(DOut, DIn)>::randn(0);
/// let lora = LoRA::<DIn, DOut, Rank>::init(8.0, 1); // A random, B zero
/// assert_eq!(lora.scale(), 2.0);
/// assert_eq!((lora.num_params(), lora.dense_params()), (4 * (16 + 12), 16 * 12));
/// let x = Tensor::<(Batch, DIn)>::randn_with((Batch::new(3), DIn), 2);
/// let y: Tensor<(Batch, DOut)> = lora.forward(&x, &w);
/// // Any leading dims: a batch of sequences.
/// dim!(pub Seq = 5);
/// let xs = Tensor::<(Batch, Seq, DIn)>::randn_with((Batch::new(2), Seq, DIn), 3);
/// let ys: Tensor<(Batch, Seq, DOut)> = lora.forward(&xs, &w);
/// // With B = 0 the adapter starts as the identity update.
/// assert_eq!(y.as_slice(), x.matmul(&w.t()).as_slice());
/// ```
///
/// An input of the wrong width is a type error:
///
/// ```compile_fail
/// use shapecheck::prelude::*;
/// dim!(pub DIn = 16);
/// dim!(pub DOut = 12);
/// let w = Tensor::<(DOut, DIn)>::randn(0);
/// let lora = LoRA::<DIn, DOut, D<4>>::init(8.0, 1);
/// let x = Tensor::<(D<3>, DOut)>::randn(2);
/// let y = lora.forward(&x, &w);
/// ```
///
/// `Clone` gives another adapter: the same values under fresh parameter ids.
#[derive(Debug)]
pub struct LoRA<DIn: Dim, DOut: Dim, R: Dim, T: Float = f32> {
    /// `A: (R, DIn)` (PEFT's `lora_A.weight`).
    pub lora_a: Param<(R, DIn), T>,
    /// `B: (DOut, R)` (PEFT's `lora_B.weight`).
    pub lora_b: Param<(DOut, R), T>,
    config: LoraConfig,
}

impl<DIn: Dim, DOut: Dim, R: Dim, T: Float> Clone for LoRA<DIn, DOut, R, T> {
    fn clone(&self) -> Self {
        fn copy<S: crate::shape::Shape, T: Float>(p: &Param<S, T>) -> Param<S, T> {
            let mut c = Param::new(p.value().clone());
            if p.is_frozen() {
                c.freeze();
            }
            c
        }
        LoRA {
            lora_a: copy(&self.lora_a),
            lora_b: copy(&self.lora_b),
            config: self.config,
        }
    }
}

impl<DIn: Dim, DOut: Dim, R: Dim, T: Float> LoRA<DIn, DOut, R, T> {
    /// The paper's initialisation for static dims: `A` Gaussian with standard deviation
    /// `1/√DIn` (seeded), `B` zero, so the adapted layer starts equal to the frozen one.
    pub fn init(alpha: T, seed: u64) -> Self
    where
        DIn: StaticDim,
        DOut: StaticDim,
        R: StaticDim + RankAtMost<DIn, DOut>,
    {
        Self::init_with((DIn::default(), DOut::default(), R::default()), alpha, seed)
    }

    /// `A: (R, DIn)`.
    pub fn a(&self) -> &Tensor<(R, DIn), T> {
        self.lora_a.value()
    }

    /// `B: (DOut, R)`.
    pub fn b(&self) -> &Tensor<(DOut, R), T> {
        self.lora_b.value()
    }

    /// `A`, mutably (the parameter keeps its id).
    pub fn a_mut(&mut self) -> &mut Tensor<(R, DIn), T> {
        self.lora_a.value_mut()
    }

    /// `B`, mutably (the parameter keeps its id).
    pub fn b_mut(&mut self) -> &mut Tensor<(DOut, R), T> {
        self.lora_b.value_mut()
    }

    /// The settings.
    pub fn config(&self) -> &LoraConfig {
        &self.config
    }

    /// `α`.
    pub fn alpha(&self) -> T {
        T::from_f64(self.config.alpha)
    }

    /// The rank.
    pub fn rank(&self) -> usize {
        self.a().dims()[0]
    }

    /// The scale `s` of `B·A` in the update: `α/R`, or `α/√R` with rsLoRA (0 at rank 0).
    /// Computed in f64 and rounded once, which for `α/R` is the correctly rounded quotient
    /// in `T` as well.
    pub fn scale(&self) -> T {
        T::from_f64(build::scale_of(&self.config, self.rank()))
    }

    /// Trainable parameters: `R·(DIn + DOut)`.
    pub fn num_params(&self) -> usize {
        self.a().len() + self.b().len()
    }

    /// Parameters of the dense update it stands for: `DIn·DOut`.
    pub fn dense_params(&self) -> usize {
        self.a().dims()[1] * self.b().dims()[0]
    }

    /// `s·(x·Aᵀ)·Bᵀ` for `x: (…, DIn)`, a tensor or a traced value: the update alone, two
    /// thin products, `B·A` never formed.
    ///
    /// # Panics
    ///
    /// When runtime dims disagree; see [`try_update`](Self::try_update).
    #[track_caller]
    pub fn update<X>(&self, x: &X) -> Adapted<X, DIn, DOut, R, T>
    where
        X: Input<T> + ?Sized,
        X::Shape: LoraInput<DIn, DOut, R>,
    {
        self.try_update(x).or_panic()
    }

    /// [`update`](Self::update), returning `Err` when runtime dims disagree.
    pub fn try_update<X>(&self, x: &X) -> Result<Adapted<X, DIn, DOut, R, T>, ShapeError>
    where
        X: Input<T> + ?Sized,
        X::Shape: LoraInput<DIn, DOut, R>,
    {
        <X::Shape as LoraInput<DIn, DOut, R>>::update(self, x)
    }

    /// `base(x) + s·(x·Aᵀ)·Bᵀ` for `x: (…, DIn)`, a tensor or a traced value: the adapted
    /// layer's forward, written once (what [`LoraLinear`] and a model's adapted
    /// projections run).
    ///
    /// # Panics
    ///
    /// When runtime dims disagree; see [`try_forward_linear`](Self::try_forward_linear).
    #[track_caller]
    pub fn forward_linear<X>(
        &self,
        base: &Linear<DIn, DOut, T>,
        x: &X,
    ) -> Adapted<X, DIn, DOut, R, T>
    where
        X: Input<T> + ?Sized,
        X::Shape: LoraInput<DIn, DOut, R>,
    {
        self.try_forward_linear(base, x).or_panic()
    }

    /// [`forward_linear`](Self::forward_linear), returning `Err` when runtime dims
    /// disagree.
    pub fn try_forward_linear<X>(
        &self,
        base: &Linear<DIn, DOut, T>,
        x: &X,
    ) -> Result<Adapted<X, DIn, DOut, R, T>, ShapeError>
    where
        X: Input<T> + ?Sized,
        X::Shape: LoraInput<DIn, DOut, R>,
    {
        let y = <X::Shape as LoraInput<DIn, DOut, R>>::base(base, x)?;
        let u = self.try_update(x)?;
        Ok(<X::Shape as LoraInput<DIn, DOut, R>>::add::<T, X::Flow>(
            y, &u,
        ))
    }

    /// `x·Wᵀ + s·(x·Aᵀ)·Bᵀ` for `x: (…, DIn)` and a weight `W` given as a tensor, without
    /// forming `B·A`.
    ///
    /// # Panics
    ///
    /// When runtime dims disagree; see [`try_forward`](Self::try_forward).
    #[track_caller]
    pub fn forward<X>(
        &self,
        x: &X,
        w: &Tensor<(DOut, DIn), T>,
    ) -> Tensor<LoraOut<X::Shape, DIn, DOut, R>, T>
    where
        X: AsView<Elem = T> + ?Sized,
        X::Shape: LoraInput<DIn, DOut, R>,
    {
        self.try_forward(x, w).or_panic()
    }

    /// [`forward`](Self::forward) returning `Err` when runtime dims disagree.
    pub fn try_forward<X>(
        &self,
        x: &X,
        w: &Tensor<(DOut, DIn), T>,
    ) -> Result<PlainOut<X, DIn, DOut, R>, ShapeError>
    where
        X: AsView<Elem = T> + ?Sized,
        X::Shape: LoraInput<DIn, DOut, R>,
    {
        if w.dims()[0] != self.b().dims()[0] {
            return Err(ShapeError::incompatible_described(
                "LoRA::forward",
                format!("W {:?}", w.shape()),
                format!("B {:?}", self.b().shape()),
                "W and B must have the same number of output rows",
            ));
        }
        // The product `x·Wᵀ`, whose inner dims are the input's width and W's.
        let (xv, wt) = (x.as_view(), w.t());
        let (k, k2) = (xv.dims()[xv.dims().len() - 1], wt.dims()[0]);
        if k != k2 {
            return Err(ShapeError::incompatible(
                "matmul",
                &xv.shape(),
                &wt.shape(),
                format!("the inner dims differ ({k} on the left, {k2} on the right)"),
            ));
        }
        let y = <X::Shape as LoraInput<DIn, DOut, R>>::base_weight(&xv, &w.view())?;
        let u = self.try_update(x)?;
        Ok(<X::Shape as LoraInput<DIn, DOut, R>>::add::<T, Plain>(
            y, &u,
        ))
    }

    /// `s·B·A: (DOut, DIn)`, the update as a dense matrix.
    pub fn delta(&self) -> Tensor<(DOut, DIn), T> {
        let scale = self.scale();
        self.b().matmul(self.a()).map(|x| x * scale)
    }

    /// `W += s·B·A`: after merging, `x·Wᵀ` alone is the adapted layer.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// let w0 = Tensor::<(D<6>, D<5>), f64>::randn(0);
    /// let mut lora = LoRA::<D<5>, D<6>, D<2>, f64>::init(4.0, 1);
    /// *lora.b_mut() = Tensor::randn(2);
    /// let x = Tensor::<(D<3>, D<5>), f64>::randn(3);
    /// let y = lora.forward(&x, &w0);
    /// let mut w = w0.clone();
    /// lora.merge(&mut w);
    /// let merged = x.matmul(&w.t());
    /// assert!(y.as_slice().iter().zip(merged.as_slice()).all(|(a, b)| (a - b).abs() < 1e-12));
    /// lora.unmerge(&mut w);
    /// assert!(w.as_slice().iter().zip(w0.as_slice()).all(|(a, b)| (a - b).abs() < 1e-12));
    /// ```
    ///
    /// # Panics
    ///
    /// When runtime dims of `W` differ from the adapter's.
    #[track_caller]
    pub fn merge(&self, w: &mut Tensor<(DOut, DIn), T>) {
        self.add_delta(w, T::ONE);
    }

    /// `W −= s·B·A`: undoes [`merge`](Self::merge) (to rounding).
    ///
    /// # Panics
    ///
    /// When runtime dims of `W` differ from the adapter's.
    #[track_caller]
    pub fn unmerge(&self, w: &mut Tensor<(DOut, DIn), T>) {
        self.add_delta(w, -T::ONE);
    }

    #[track_caller]
    fn add_delta(&self, w: &mut Tensor<(DOut, DIn), T>, sign: T) {
        let d = self.delta();
        if d.dims() != w.dims() {
            panic!(
                "LoRA::merge: cannot combine W {:?} with the update {:?}: the shapes differ",
                w.shape(),
                d.shape()
            );
        }
        for (w, d) in w.as_mut_slice().iter_mut().zip(d.as_slice()) {
            *w += sign * *d;
        }
    }

    /// The trainable parameters, `[A, B]`, for an optimizer step.
    pub fn trainable(&mut self) -> [&mut dyn DynParam<T>; 2] {
        [&mut self.lora_a, &mut self.lora_b]
    }

    /// The trainable parameters with PEFT's names under `prefix` (for saving optimizer
    /// state): `{prefix}lora_A.weight`, `{prefix}lora_B.weight`.
    pub fn named_trainable(&self, prefix: &str) -> [(String, &dyn DynParam<T>); 2] {
        [
            (format!("{prefix}lora_A.weight"), &self.lora_a),
            (format!("{prefix}lora_B.weight"), &self.lora_b),
        ]
    }

    /// Adds `A` and `B` to `writer` under `{prefix}lora_A.weight`, `{prefix}lora_B.weight`,
    /// and records the adapter's rank, α and rsLoRA (and dropout) in the writer's
    /// metadata, in the shape of PEFT's `adapter_config.json` ([`AdapterConfig`]; the
    /// module's name is `prefix` without its final `.`). Adapters saved into one writer
    /// share one record, as in PEFT: a rank or α that differs from the first adapter's goes
    /// to `rank_pattern` / `alpha_pattern`.
    ///
    /// `Err` when a tensor name is taken, or this adapter's rsLoRA differs from that of
    /// the adapters already in the writer (the record holds one for all); nothing is then
    /// recorded.
    pub fn save(&self, writer: &mut SafetensorsWriter, prefix: &str) -> Result<(), SaveError> {
        let (a, b) = (
            format!("{prefix}lora_A.weight"),
            format!("{prefix}lora_B.weight"),
        );
        if let Some(name) = [&a, &b].into_iter().find(|n| writer.contains(n)) {
            return Err(SaveError::Duplicate { name: name.clone() });
        }
        // The record is made aside, so that a refused one leaves the writer as it was.
        let mut record = SafetensorsWriter::new();
        if let Some(text) = writer.metadata_value(AdapterConfig::METADATA_KEY) {
            record.metadata(AdapterConfig::METADATA_KEY, text);
        }
        let module = config_meta::module_of(prefix);
        AdapterConfig::record(&mut record, module, self.rank(), &self.config)?;
        writer.add(&a, self.a())?.add(&b, self.b())?;
        let text = record
            .metadata_value(AdapterConfig::METADATA_KEY)
            .unwrap_or_default();
        writer.metadata(AdapterConfig::METADATA_KEY, text);
        Ok(())
    }

    /// Replaces `A` and `B` with those saved under `prefix`, after checking them: the
    /// tensors against the adapter's shapes, then the configuration the file records
    /// ([`AdapterConfig`], written by [`save`](Self::save)) against the adapter's — the
    /// rank `r`, `lora_alpha` and `use_rslora` must be the adapter's own, or its outputs
    /// would differ from the saved adapter's. The parameters keep their ids, so an
    /// optimizer's state still belongs to them.
    ///
    /// `Err`, leaving the adapter as it was, when a tensor is missing or has another
    /// shape, the file records no adapter configuration (a PEFT file keeps it beside:
    /// read it with [`AdapterConfig::from_json`] and use
    /// [`load_with_config`](Self::load_with_config)), or a setting differs
    /// ([`LoadError::Mismatch`], naming the field and both values).
    pub fn load(&mut self, file: &SafeTensors, prefix: &str) -> Result<(), LoadError> {
        let config = recorded_config(file)?;
        self.load_with_config(file, prefix, &config)
    }

    /// [`load`](Self::load) with the configuration given rather than read from the file's
    /// metadata (PEFT's `adapter_config.json`, read by [`AdapterConfig::from_json`]).
    pub fn load_with_config(
        &mut self,
        file: &SafeTensors,
        prefix: &str,
        config: &AdapterConfig,
    ) -> Result<(), LoadError> {
        let (a, b) = self.read_checked(file, prefix, config)?;
        *self.a_mut() = a;
        *self.b_mut() = b;
        Ok(())
    }

    /// `A` and `B` as saved under `prefix`, checked as [`load`](Self::load) checks them,
    /// without replacing anything.
    #[allow(clippy::type_complexity)]
    pub(crate) fn read_checked(
        &self,
        file: &SafeTensors,
        prefix: &str,
        config: &AdapterConfig,
    ) -> Result<(Tensor<(R, DIn), T>, Tensor<(DOut, R), T>), LoadError> {
        let a = file.load_with(&format!("{prefix}lora_A.weight"), self.a().shape())?;
        let b = file.load_with(&format!("{prefix}lora_B.weight"), self.b().shape())?;
        config.check(config_meta::module_of(prefix), self.rank(), &self.config)?;
        Ok((a, b))
    }
}

/// The adapter configuration `file` records; `Err` when it records none.
pub(crate) fn recorded_config(file: &SafeTensors) -> Result<AdapterConfig, LoadError> {
    AdapterConfig::from_metadata(file)?.ok_or_else(|| LoadError::Malformed {
        path: None,
        detail: format!(
            "the file records no adapter configuration (metadata `{}`), so the rank, α and \
             rsLoRA its factors were trained with are unknown; give them with \
             `LoRA::load_with_config` (PEFT keeps them in adapter_config.json)",
            AdapterConfig::METADATA_KEY
        ),
    })
}

impl<DIn: Dim, DOut: Dim, R: Dim, T: Float> Params<T> for LoRA<DIn, DOut, R, T> {
    /// PEFT's names: `lora_A.weight`, `lora_B.weight`.
    fn visit_params<'a>(&'a self, prefix: &str, v: &mut impl ParamVisitor<'a, T>) {
        v.visit(&format!("{prefix}lora_A.weight"), &self.lora_a);
        v.visit(&format!("{prefix}lora_B.weight"), &self.lora_b);
    }

    fn visit_params_mut<'a>(&'a mut self, prefix: &str, v: &mut impl ParamVisitorMut<'a, T>) {
        v.visit(&format!("{prefix}lora_A.weight"), &mut self.lora_a);
        v.visit(&format!("{prefix}lora_B.weight"), &mut self.lora_b);
    }
}
