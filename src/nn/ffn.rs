//! The feed-forward blocks of a transformer layer: [`FeedForward`] (`down(act(up(x)))`,
//! BERT's and GPT-2's, with a choice of [`Activation`]) and [`SwiGlu`]
//! (`down(silu(gate(x)) ⊙ up(x))`, LLaMA's). Each has one forward, for tensors and traced
//! values ([`Input`]), over inputs `(…, DModel)` of any rank up to 6.
//!
//! ```
//! use shapecheck::prelude::*;
//! use shapecheck::nn::ffn::{Activation, FeedForward};
//! use shapecheck::nn::linear::Linear;
//! dim!(pub Seq; pub DModel = 8; pub DFf = 32);
//! let ffn = FeedForward::<DModel, DFf>::new(
//!     Linear::init(true, 0),
//!     Linear::init(true, 1),
//!     Activation::Gelu,
//! );
//! let x = Tensor::<(Seq, DModel)>::randn_with((Seq::new(5), DModel), 2);
//! let y: Tensor<(Seq, DModel)> = ffn.forward(&x);
//! assert_eq!(y.dims().as_slice(), &[5, 8]);
//! ```

use super::flow::{Input, Out};
use super::linear::{Linear, LinearInput, LinearOut};
use super::stored::{Dense, Project, Storage};
use crate::autodiff::Var;
use crate::autodiff::{ParamVisitor, ParamVisitorMut, Params};
use crate::dim::{Dim, StaticDim};
use crate::element::Float;
use crate::error::{OrPanic, ShapeError};
use crate::shape::BroadcastShapes;
use crate::shape::SameDim;

/// The nonlinearity of a [`FeedForward`] block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `x·Φ(x)` with the exact error function (BERT, PyTorch's default `gelu`).
    Gelu,
    /// GELU's tanh approximation (GPT-2).
    GeluTanh,
    /// `max(x, 0)`.
    Relu,
    /// `x·sigmoid(x)` (SwiGLU's gate, LLaMA).
    Silu,
}

/// `down(act(up(x)))`: `(…, DModel)` → `(…, DFf)` → `(…, DModel)`.
#[derive(Clone, Debug)]
pub struct FeedForward<DModel: Dim, DFf: Dim, T: Float = f32> {
    up: Linear<DModel, DFf, T>,
    down: Linear<DFf, DModel, T>,
    activation: Activation,
}

impl<DModel: Dim, DFf: Dim, T: Float> FeedForward<DModel, DFf, T> {
    /// A block from its two layers and activation.
    pub fn new(
        up: Linear<DModel, DFf, T>,
        down: Linear<DFf, DModel, T>,
        activation: Activation,
    ) -> Self {
        FeedForward {
            up,
            down,
            activation,
        }
    }

    /// The first layer, `DModel → DFf`.
    pub fn up(&self) -> &Linear<DModel, DFf, T> {
        &self.up
    }

    /// The second layer, `DFf → DModel`.
    pub fn down(&self) -> &Linear<DFf, DModel, T> {
        &self.down
    }

    /// The activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// `act(up(x))`, `(…, DFf)`: the activations the second layer reads
    /// (TransformerLens's `mlp.hook_post`).
    #[track_caller]
    pub fn activations<X>(&self, x: &X) -> Out<X, T, LinearOut<X::Shape, DModel, DFf>>
    where
        X: Input<T> + ?Sized,
        X::Shape: LinearInput<DModel, DFf>,
    {
        // The activation runs in the up product's write-back on tensors.
        x.try_linear_act_with(&self.up.weight, self.up.bias.as_ref(), self.activation)
            .or_panic()
    }

    /// `down(act(up(x)))` for `x: (…, DModel)`, a tensor or a traced value.
    ///
    /// # Panics
    ///
    /// When a runtime width disagrees (see [`Linear::try_forward`]).
    #[track_caller]
    pub fn forward<X>(&self, x: &X) -> Out<X, T, X::Shape>
    where
        X: Input<T> + ?Sized,
        X::Shape: LinearInput<DModel, DFf>,
        LinearOut<X::Shape, DModel, DFf>: LinearInput<DFf, DModel, Output = X::Shape>,
    {
        self.down.forward(&self.activations(x))
    }
}

impl<DModel: Dim, DFf: Dim, T: Float> Params<T> for FeedForward<DModel, DFf, T> {
    /// `up.weight`, `up.bias`, `down.weight`, `down.bias`.
    fn visit_params<'a>(&'a self, prefix: &str, v: &mut impl ParamVisitor<'a, T>) {
        self.up.visit_params(&format!("{prefix}up."), v);
        self.down.visit_params(&format!("{prefix}down."), v);
    }

    fn visit_params_mut<'a>(&'a mut self, prefix: &str, v: &mut impl ParamVisitorMut<'a, T>) {
        self.up.visit_params_mut(&format!("{prefix}up."), v);
        self.down.visit_params_mut(&format!("{prefix}down."), v);
    }
}

/// LLaMA's gated feed-forward: `down(silu(gate(x)) ⊙ up(x))`, `(…, DModel)` →
/// `(…, Ffn)` → `(…, DModel)`, the three projections without bias unless given one.
///
/// ```
/// use shapecheck::autodiff::Tape;
/// use shapecheck::nn::ffn::SwiGlu;
/// use shapecheck::prelude::*;
/// dim!(pub Seq = 3; pub DModel = 4; pub Ffn = 6);
/// let ffn = SwiGlu::<DModel, Ffn, f64>::init(0);
/// let x = Tensor::<(Seq, DModel), f64>::randn(1);
/// let y = ffn.forward(&x);
/// // Written out with tensor ops:
/// let gate = x.matmul(&ffn.gate.weight().t()).silu();
/// let up = x.matmul(&ffn.up.weight().t());
/// let want = (&gate * &up).matmul(&ffn.down.weight().t());
/// assert!(y.as_slice().iter().zip(want.as_slice()).all(|(a, b)| (a - b).abs() < 1e-12));
/// // Traced, the gradient of every projection is there.
/// let tape = Tape::new();
/// let grads = ffn.forward(&tape.constant(x)).sum_all().backward();
/// assert!(grads.of(&ffn.gate.weight).is_some() && grads.of(&ffn.down.weight).is_some());
/// ```
///
/// Its projections are trainable [`Linear`]s, or inference-only stored weights with `W` =
/// [`Stored`](crate::nn::stored::Stored) (run on traced values by
/// [`try_activations_of`](Self::try_activations_of)).
#[derive(Clone, Debug)]
pub struct SwiGlu<DModel: Dim, Ffn: Dim, T: Float = f32, W: Storage<T> = Dense> {
    /// The gate projection (`gate_proj`, `W1`), through SiLU.
    pub gate: W::Linear<DModel, Ffn>,
    /// The up projection (`up_proj`, `W3`).
    pub up: W::Linear<DModel, Ffn>,
    /// The down projection (`down_proj`, `W2`).
    pub down: W::Linear<Ffn, DModel>,
}

impl<DModel: SameDim, Ffn: SameDim, T: Float, W: Storage<T>> SwiGlu<DModel, Ffn, T, W> {
    /// [`activations`](SwiGlu::activations) of a traced `x: (B, S, DModel)`, whatever
    /// holds the projections: `silu(gate(x)) ⊙ up(x)`, `(B, S, Ffn)`.
    pub fn try_activations_of<'t, B: SameDim, S: SameDim>(
        &self,
        x: &Var<'t, (B, S, DModel), T>,
    ) -> Result<Var<'t, (B, S, Ffn), T>, ShapeError> {
        // One traced op (`Var::try_swiglu`): one pass forward, one backward.
        let gate = self.gate.try_project(None, x)?;
        gate.try_swiglu(&self.up.try_project(None, x)?)
    }
}

impl<DModel: StaticDim, Ffn: StaticDim, T: Float> SwiGlu<DModel, Ffn, T> {
    /// PyTorch's default initialisation of the three projections, without bias (seeds
    /// `seed`, `seed + 1`, `seed + 2`).
    pub fn init(seed: u64) -> Self {
        SwiGlu {
            gate: Linear::init(false, seed),
            up: Linear::init(false, seed.wrapping_add(1)),
            down: Linear::init(false, seed.wrapping_add(2)),
        }
    }
}

impl<DModel: Dim, Ffn: Dim, T: Float> SwiGlu<DModel, Ffn, T> {
    /// A block from its three projections.
    pub fn new(
        gate: Linear<DModel, Ffn, T>,
        up: Linear<DModel, Ffn, T>,
        down: Linear<Ffn, DModel, T>,
    ) -> Self {
        SwiGlu { gate, up, down }
    }

    /// `silu(gate(x)) ⊙ up(x)`, `(…, Ffn)`: the activations the down projection reads
    /// (TransformerLens's `mlp.hook_post`).
    #[track_caller]
    pub fn activations<X>(&self, x: &X) -> Out<X, T, LinearOut<X::Shape, DModel, Ffn>>
    where
        X: Input<T> + ?Sized,
        X::Shape: LinearInput<DModel, Ffn>,
        LinearOut<X::Shape, DModel, Ffn>: BroadcastShapes<
            LinearOut<X::Shape, DModel, Ffn>,
            Output = LinearOut<X::Shape, DModel, Ffn>,
        >,
    {
        // `silu(gate) ⊙ up` runs in the up product's write-back on tensors.
        let gate = self.gate.forward(x);
        x.try_linear_gated_with(&self.up.weight, self.up.bias.as_ref(), &gate)
            .or_panic()
    }

    /// `down(silu(gate(x)) ⊙ up(x))` for `x: (…, DModel)`, a tensor or a traced value.
    ///
    /// # Panics
    ///
    /// When a runtime width disagrees (see [`Linear::try_forward`]).
    #[track_caller]
    pub fn forward<X>(&self, x: &X) -> Out<X, T, X::Shape>
    where
        X: Input<T> + ?Sized,
        X::Shape: LinearInput<DModel, Ffn>,
        LinearOut<X::Shape, DModel, Ffn>: LinearInput<Ffn, DModel, Output = X::Shape>
            + BroadcastShapes<
                LinearOut<X::Shape, DModel, Ffn>,
                Output = LinearOut<X::Shape, DModel, Ffn>,
            >,
    {
        self.down.forward(&self.activations(x))
    }
}

impl<DModel: Dim, Ffn: Dim, T: Float> Params<T> for SwiGlu<DModel, Ffn, T> {
    /// Hugging Face LLaMA's names: `gate_proj.weight`, `up_proj.weight`,
    /// `down_proj.weight` (and their biases, if any).
    fn visit_params<'a>(&'a self, prefix: &str, v: &mut impl ParamVisitor<'a, T>) {
        self.gate.visit_params(&format!("{prefix}gate_proj."), v);
        self.up.visit_params(&format!("{prefix}up_proj."), v);
        self.down.visit_params(&format!("{prefix}down_proj."), v);
    }

    fn visit_params_mut<'a>(&'a mut self, prefix: &str, v: &mut impl ParamVisitorMut<'a, T>) {
        self.gate
            .visit_params_mut(&format!("{prefix}gate_proj."), v);
        self.up.visit_params_mut(&format!("{prefix}up_proj."), v);
        self.down
            .visit_params_mut(&format!("{prefix}down_proj."), v);
    }
}
