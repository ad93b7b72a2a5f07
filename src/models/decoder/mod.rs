//! A LLaMA-style decoder: token embedding → N pre-norm [`Block`]s (RMS norm → causal
//! multi-head attention with RoPE → residual → RMS norm → SwiGLU FFN → residual) → final
//! RMS norm → output head, tied to the embedding or not ([`DecoderConfig::tied`]).
//!
//! The sizes are type parameters, named dims: `Decoder<Vocab, DModel, Heads, HeadDim, Ffn>`,
//! with `Heads × HeadDim = DModel` checked by the type checker; the batch and the sequence
//! are runtime dims chosen per call. Every parameter is a [`Param`], reached through the
//! fields (`decoder.blocks[0].wq.weight`), so `grads.of(&…)` gives its gradient with its
//! shape type; [`Decoder::visit`] walks them all under Hugging Face LLaMA's names.
//!
//! One forward is written, on [`Var`]s. [`forward`](Decoder::forward) and
//! [`loss`](Decoder::loss) trace it on the caller's tape (frozen parameters as constants);
//! [`logits`](Decoder::logits) runs the same code with every parameter read as a constant,
//! which records nothing. [`decode`](Decoder::decode) is the incremental inference path on
//! plain tensors with a KV cache, and gives the logits of the full causal forward, token by
//! token.
//!
//! The heads must tile the model width, a compile error otherwise:
//!
//! ```compile_fail
//! use shapecheck::models::decoder::{Decoder, DecoderConfig};
//! use shapecheck::prelude::*;
//! dim!(pub Vocab = 11; pub DModel = 16; pub Heads = 3; pub HeadDim = 8; pub Ffn = 32);
//! let model = Decoder::<Vocab, DModel, Heads, HeadDim, Ffn>::init(DecoderConfig::default(), 0);
//! ```
//!
//! [`save`](Decoder::save) and [`load`](Decoder::load) write and read the weights with the
//! configuration as safetensors (Hugging Face LLaMA's tensor names).
//!
//! LoRA: [`add_adapters`](Decoder::add_adapters) freezes the decoder and puts adapters on
//! chosen attention projections, [`adapter_params_mut`](Decoder::adapter_params_mut) is
//! what an optimizer trains, [`merge_adapters`](Decoder::merge_adapters) folds them into
//! the projections, [`save_adapters`](Decoder::save_adapters) writes them alone; see the
//! `lora` module's docs (in `models/decoder/lora.rs`).
//! [`run_with_cache`](Decoder::run_with_cache) and [`run_with_hooks`](Decoder::run_with_hooks)
//! ([`inspect`](mod@inspect)) run the same forward with an activation cache, steering vectors
//! and head ablations at the blocks' hook points.
//!
//! Attention sits in one private function, `attend` in `block.rs`: the traced blocked
//! attention op of [`autodiff::attention`](crate::autodiff::attention).
//!
//! ```
//! use shapecheck::models::decoder::{Decoder, DecoderConfig};
//! use shapecheck::prelude::*;
//!
//! dim!(pub Vocab = 11; pub DModel = 16; pub Heads = 2; pub HeadDim = 8; pub Ffn = 32);
//! dim!(pub Batch; pub Seq);
//! type Model = Decoder<Vocab, DModel, Heads, HeadDim, Ffn, f64>;
//!
//! let mut model = Model::init(DecoderConfig::default(), 0);
//! let (b, s) = (Batch::new(2), Seq::new(5));
//! // Learn to copy: the target of each position is its own token.
//! let ids: Vec<u32> = (0..10).map(|i| (i * 7 % 11) as u32).collect();
//! let mut losses = Vec::new();
//! for _ in 0..5 {
//!     let tape = Tape::new();
//!     let loss = model.loss(&tape, (b, s), &ids, &ids).unwrap();
//!     let grads = loss.backward();
//!     losses.push(loss.item());
//!     drop(tape);
//!     // A plain gradient step on the embedding (the optimizers are another module).
//!     let g = grads.of(&model.embedding).unwrap().to_tensor();
//!     let e = model.embedding.value_mut().as_mut_slice();
//!     e.iter_mut().zip(g.as_slice()).for_each(|(w, g)| *w -= 50.0 * g);
//! }
//! assert!(losses[4] < losses[0], "{losses:?}");
//!
//! // Inference records nothing, and decoding token by token gives the same logits.
//! let logits = model.logits((Batch::new(1), Seq::new(5)), &ids[..5]).unwrap();
//! let mut cache = model.cache();
//! for (t, &id) in ids[..5].iter().enumerate() {
//!     let step = model.decode(&mut cache, &[id]).unwrap(); // (1, Vocab)
//!     for v in 0..11 {
//!         assert!((step[[0, v]] - logits[[0, t, v]]).abs() < 1e-12);
//!     }
//! }
//! ```

mod block;
mod config;
mod decode;
pub mod inspect;
mod io;
mod lora;
mod ops;
mod params;

use core::marker::PhantomData;

pub use block::Block;
pub use config::DecoderConfig;
pub use decode::DecoderCache;
pub use inspect::{Seq, Tokens};
pub use lora::{Adapter, AttnAdapters, LoraTargets};

use self::block::{normal, proj, visit_linear, visit_linear_mut, BlockHooks, NoHooks};
use self::ops::{flatten_rows, read, Read};
use crate::autodiff::linear::Linear;
use crate::autodiff::{Param, Tape, Var};
use crate::dim::{Dim, Many, Runtime, StaticDim};
use crate::element::Float;
use crate::error::ShapeError;
use crate::nn::rope::{IsEven, Rope};
use crate::shape::{Shape, SplitsInto};
use crate::tensor::Tensor;

/// Something that looks at every parameter of a model, by name: saving, comparing,
/// counting. See [`Decoder::visit`].
pub trait ParamVisitor<T: Float> {
    /// Called once per parameter.
    fn visit<S: Shape>(&mut self, name: &str, param: &Param<S, T>);
}

/// Something that changes every parameter of a model, by name: loading, updating. See
/// [`Decoder::visit_mut`].
pub trait ParamVisitorMut<T: Float> {
    /// Called once per parameter.
    fn visit<S: Shape>(&mut self, name: &str, param: &mut Param<S, T>);
}

/// A LLaMA-style decoder with vocabulary `Vocab`, width `DModel = Heads × HeadDim`, and
/// SwiGLU FFNs of width `Ffn`; see the [module docs](self).
#[derive(Debug)]
pub struct Decoder<Vocab, DModel, Heads, HeadDim, Ffn, T = f32>
where
    Vocab: Dim,
    DModel: Dim,
    Heads: Dim,
    HeadDim: Dim,
    Ffn: Dim,
    T: Float,
{
    /// The token embedding `(Vocab, DModel)` (`embed_tokens`); the output head too when
    /// the head is tied.
    pub embedding: Param<(Vocab, DModel), T>,
    /// The blocks, in order (`layers.{i}.`).
    pub blocks: Vec<Block<DModel, Ffn, T>>,
    /// The final RMS norm (`norm`).
    pub norm: Param<(DModel,), T>,
    /// The output head `DModel → Vocab` (`lm_head`), or `None` when tied to the embedding.
    pub head: Option<Linear<DModel, Vocab, T>>,
    rope: Rope<HeadDim>,
    config: DecoderConfig,
    _heads: PhantomData<fn() -> Heads>,
}

impl<Vocab, DModel, Heads, HeadDim, Ffn, T> Decoder<Vocab, DModel, Heads, HeadDim, Ffn, T>
where
    Vocab: StaticDim<Kind = Many>,
    DModel: StaticDim<Kind = Many> + SplitsInto<Heads, HeadDim>,
    Heads: StaticDim,
    HeadDim: StaticDim + IsEven,
    Ffn: StaticDim<Kind = Many>,
    T: Float,
{
    /// A decoder with `config.layers` blocks, matrices drawn from a normal of standard
    /// deviation `config.init_std` (seeded), norm weights of 1.
    ///
    /// # Panics
    ///
    /// If `config.rope_base` is not a finite number greater than 0.
    pub fn init(config: DecoderConfig, seed: u64) -> Self {
        let std = config.init_std;
        let base = seed.wrapping_mul(1000);
        Decoder {
            embedding: Param::new(normal(std, base)),
            blocks: (0..config.layers)
                .map(|l| Block::init(std, base + 10 * (l as u64 + 1)))
                .collect(),
            norm: Param::new(Tensor::ones()),
            head: (!config.tied).then(|| Linear::new(normal(std, base + 1), None)),
            rope: Rope::new(config.rope_layout).base(config.rope_base),
            config,
            _heads: PhantomData,
        }
    }
}

impl<Vocab, DModel, Heads, HeadDim, Ffn, T> Decoder<Vocab, DModel, Heads, HeadDim, Ffn, T>
where
    Vocab: StaticDim<Kind = Many>,
    DModel: StaticDim<Kind = Many> + SplitsInto<Heads, HeadDim>,
    Heads: StaticDim,
    HeadDim: StaticDim,
    Ffn: StaticDim<Kind = Many>,
    T: Float,
{
    /// The configuration it was built with.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// The rotary embedding of its attention.
    pub fn rope(&self) -> &Rope<HeadDim> {
        &self.rope
    }

    /// Calls `v` on every parameter, under Hugging Face LLaMA's names
    /// (`embed_tokens.weight`, `layers.{i}.self_attn.q_proj.weight`, …, `norm.weight`,
    /// `lm_head.weight` when untied).
    pub fn visit(&self, v: &mut impl ParamVisitor<T>) {
        v.visit("embed_tokens.weight", &self.embedding);
        for (i, b) in self.blocks.iter().enumerate() {
            b.visit(&format!("layers.{i}."), v);
        }
        v.visit("norm.weight", &self.norm);
        if let Some(h) = &self.head {
            visit_linear(v, "lm_head", h);
        }
    }

    /// [`visit`](Self::visit), mutably.
    pub fn visit_mut(&mut self, v: &mut impl ParamVisitorMut<T>) {
        v.visit("embed_tokens.weight", &mut self.embedding);
        for (i, b) in self.blocks.iter_mut().enumerate() {
            b.visit_mut(&format!("layers.{i}."), v);
        }
        v.visit("norm.weight", &mut self.norm);
        if let Some(h) = &mut self.head {
            visit_linear_mut(v, "lm_head", h);
        }
    }

    /// The number of scalar parameters (a tied head counted once).
    pub fn num_parameters(&self) -> usize {
        struct Count(usize);
        impl<T: Float> ParamVisitor<T> for Count {
            fn visit<S: Shape>(&mut self, _: &str, p: &Param<S, T>) {
                self.0 += p.value().len();
            }
        }
        let mut c = Count(0);
        self.visit(&mut c);
        c.0
    }

    /// The one forward: logits `(B, S, Vocab)` for `ids` (row-major, `B × S` of them),
    /// parameters read as `mode` says, the blocks' hook points passed to `hooks` (and, as
    /// block `layers`'s `ResidPre`, the stream leaving the last block).
    fn run<'t, B, S>(
        &self,
        tape: &'t Tape<T>,
        shape: (B, S),
        ids: &[u32],
        mode: Read,
        hooks: &mut impl BlockHooks<DModel, Heads, HeadDim, Ffn, T>,
    ) -> Result<Var<'t, (B, S, Vocab), T>, ShapeError>
    where
        B: Dim<Kind = Runtime>,
        S: Dim<Kind = Runtime>,
    {
        let eps = T::from_f64(self.config.norm_eps);
        let table = read(tape, &self.embedding, mode);
        let mut x = table.try_embed_batch(shape, ids)?;
        for (l, block) in self.blocks.iter().enumerate() {
            hooks.block(l);
            x = block.forward::<B, S, Heads, HeadDim>(&x, &self.rope, eps, mode, hooks);
        }
        hooks.block(self.blocks.len());
        let x = hooks.resid(crate::inspect::Site::ResidPre, x);
        let x = x.rms_norm(&read(tape, &self.norm, mode), eps);
        Ok(match &self.head {
            Some(head) => proj(&x, head, mode),
            None => x.matmul(&table.t::<(DModel, Vocab)>()),
        })
    }

    /// The logits `(B, S, Vocab)` of a batch of `B` sequences of `S` tokens (`ids`
    /// row-major), traced on `tape`: position `i` sees positions `≤ i` of its sequence.
    ///
    /// `Err` when `ids` does not hold `B × S` ids or an id is not below `Vocab`.
    pub fn forward<'t, B, S>(
        &self,
        tape: &'t Tape<T>,
        shape: (B, S),
        ids: &[u32],
    ) -> Result<Var<'t, (B, S, Vocab), T>, ShapeError>
    where
        B: Dim<Kind = Runtime>,
        S: Dim<Kind = Runtime>,
    {
        self.run(tape, shape, ids, Read::Traced, &mut NoHooks)
    }

    /// The mean cross-entropy of next-token prediction, traced on `tape`: `targets[p]` is
    /// the class expected from position `p` (row-major like `ids`).
    ///
    /// `Err` when `ids` or `targets` does not hold `B × S` ids or one is not below `Vocab`.
    pub fn loss<'t, B, S>(
        &self,
        tape: &'t Tape<T>,
        shape: (B, S),
        ids: &[u32],
        targets: &[u32],
    ) -> Result<Var<'t, (), T>, ShapeError>
    where
        B: Dim<Kind = Runtime>,
        S: Dim<Kind = Runtime>,
    {
        let logits = self.forward(tape, shape, ids)?;
        let targets: Vec<usize> = targets.iter().map(|&t| t as usize).collect();
        flatten_rows(&logits).try_cross_entropy(&targets)
    }

    /// The logits `(B, S, Vocab)` for inference: [`forward`](Self::forward) with every
    /// parameter read as a constant, so nothing is recorded (and nothing is copied).
    pub fn logits<B, S>(
        &self,
        shape: (B, S),
        ids: &[u32],
    ) -> Result<Tensor<(B, S, Vocab), T>, ShapeError>
    where
        B: Dim<Kind = Runtime>,
        S: Dim<Kind = Runtime>,
    {
        let tape = Tape::new();
        let logits = self.run(&tape, shape, ids, Read::Constant, &mut NoHooks)?;
        debug_assert!(tape.is_empty(), "inference recorded {} nodes", tape.len());
        Ok(logits.to_tensor())
    }
}
