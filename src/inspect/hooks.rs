//! [`Hooks`]: the hook points of a transformer layer's forward, one trait for every model.
//!
//! A model's layer calls its hooks at TransformerLens's points — the residual stream
//! entering the layer, after its attention sublayer and leaving it ([`Site`]), the queries
//! and keys, the heads' outputs before the output projection (`hook_z`), the FFN's
//! activations — with the values it computed there, and goes on with what `resid` and `z`
//! return. The values are of the forward's own kind ([`Flow`]): tensors for a model that
//! runs on tensors (MiniLM's packed batches), traced values for one written on `Var`s (the
//! decoder, on an inference tape). The shapes are the model's, named by the associated
//! types. Every method defaults to doing nothing, and [`NoHooks`] keeps the defaults, so a
//! plain forward is the same code with nothing added; what an activation cache records and
//! what interventions and ablations change is the models' implementation of this trait.

use core::marker::PhantomData;

use super::Site;
use crate::element::Float;
use crate::nn::flow::Flow;
use crate::shape::Shape;

/// The hook points of one layer's forward, for values of kind `F` (see the
/// [module docs](self)).
pub trait Hooks<F: Flow<T>, T: Float> {
    /// The residual stream's shape (`(B, S, Hidden)` for a batch of sequences,
    /// `(Tokens, Hidden)` for a packed batch).
    type Stream: Shape;
    /// The shape of the heads' merged outputs (the stream's, unless the heads' total
    /// width is not the model's).
    type Merged: Shape;
    /// The shape of the queries and keys where the layer shows them.
    type Heads: Shape;
    /// The shape of the FFN's activations.
    type Ffn: Shape;

    /// The forward is entering layer `layer` (or, with the layer count, leaving the last).
    fn block(&mut self, _layer: usize) {}

    /// The residual stream at `site` (`ResidPre`, `ResidMid` or `ResidPost`); the layer
    /// goes on with what this returns.
    fn resid(&mut self, _site: Site, x: F::Of<Self::Stream>) -> F::Of<Self::Stream> {
        x
    }

    /// Whether [`heads`](Self::heads) looks at what it is given: a model whose keys must
    /// be made into the queries' shape first (grouped key/value heads repeated) does so
    /// only then.
    fn wants_heads(&self) -> bool {
        true
    }

    /// The queries and keys: what the attention scores are made of.
    fn heads(&mut self, _q: &F::Of<Self::Heads>, _k: &F::Of<Self::Heads>) {}

    /// The heads' outputs, merged, before the output projection (`hook_z`); the layer goes
    /// on with what this returns.
    fn z(&mut self, z: F::Of<Self::Merged>) -> F::Of<Self::Merged> {
        z
    }

    /// The FFN's activations, the input of its last projection (`mlp.hook_post`).
    fn ffn(&mut self, _act: &F::Of<Self::Ffn>) {}
}

/// The hooks of a plain forward: none. The shapes are the forward's, inferred.
pub struct NoHooks<Stream, Heads, Ffn, Merged = Stream>(
    PhantomData<Shapes<Stream, Heads, Ffn, Merged>>,
);

/// The shapes a [`NoHooks`] stands for, as a variance-neutral marker.
type Shapes<Stream, Heads, Ffn, Merged> = fn() -> (Stream, Heads, Ffn, Merged);

impl<Stream, Heads, Ffn, Merged> NoHooks<Stream, Heads, Ffn, Merged> {
    /// No hooks.
    pub fn new() -> Self {
        NoHooks(PhantomData)
    }
}

impl<Stream, Heads, Ffn, Merged> Default for NoHooks<Stream, Heads, Ffn, Merged> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F, T, Stream, Heads, Ffn, Merged> Hooks<F, T> for NoHooks<Stream, Heads, Ffn, Merged>
where
    F: Flow<T>,
    T: Float,
    Stream: Shape,
    Heads: Shape,
    Ffn: Shape,
    Merged: Shape,
{
    type Stream = Stream;
    type Merged = Merged;
    type Heads = Heads;
    type Ffn = Ffn;

    fn wants_heads(&self) -> bool {
        false
    }
}
