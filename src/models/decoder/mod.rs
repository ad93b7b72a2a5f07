//! The LLaMA-family decoder (Llama, SmolLM2, TinyLlama, Qwen2, Mistral): token embedding →
//! N pre-norm [`Block`]s (RMS norm → grouped-query attention with RoPE → residual → RMS
//! norm → SwiGLU FFN → residual) → final RMS norm → output head, tied to the embedding or
//! not ([`DecoderConfig::tied`]).
//!
//! The sizes are one type, its dims ([`DecoderDims`]): `Decoder<Dims<Vocab, Model, Heads,
//! KvHeads, HeadDim, Ffn>>`, zero-sized for static dims (the toy models of the tests, the
//! [`presets`] of published checkpoints), or [`RuntimeDims`] for a checkpoint whose sizes
//! are read from its file: the same code runs. The key/value heads must divide the heads
//! ([`DividesHeads`], checked by the type checker for static dims, at build for runtime
//! ones); the queries' width `Heads × HeadDim` ([`Times`](crate::dim::Times)) need not be
//! the model's. The batch and the sequence are runtime dims chosen per call. The decoder
//! is built only from `nn` layers ([`Embedding`], [`RmsNorm`], [`Linear`](crate::nn::linear::Linear),
//! [`SwiGlu`](crate::nn::ffn::SwiGlu), the attention layer
//! [`SelfAttention`](crate::nn::self_attention::SelfAttention) with its optional biases,
//! window and [`LoRA`](crate::nn::lora::LoRA) adapters); every parameter is a
//! [`Param`](crate::autodiff::Param) reached through the fields
//! (`decoder.blocks[0].attn.wq.weight`), so `grads.of(&…)` gives its gradient with its
//! shape type, and [`Params`] walks them all under Hugging Face LLaMA's names.
//!
//! Published checkpoints load with [`from_hf_dir`](Decoder::from_hf_dir) (a Hugging Face
//! directory) and [`from_gguf`](Decoder::from_gguf) (a GGUF file), in `models/llama`.
//!
//! One forward is written, on [`Var`]s, in `block.rs`. [`forward`](Decoder::forward) and
//! [`loss`](Decoder::loss) trace it on the caller's tape (frozen parameters as constants);
//! [`logits`](Decoder::logits) runs it on an inference tape
//! ([`Tape::inference`]), which reads every parameter as a constant and records nothing;
//! [`decode`](Decoder::decode) and [`decode_last`](Decoder::decode_last) run it on an
//! inference tape too, with a KV cache of the key/value heads, and give the logits of the
//! full causal forward, token by token: the same layers, attention reading the cache.
//! [`decode_ragged`](Decoder::decode_ragged) and [`decode_packed`](Decoder::decode_packed)
//! feed several sequences, each with its own cache, as one batch (`batch.rs`).
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
//! Attention is the traced blocked attention op of
//! [`autodiff::attention`](crate::autodiff::attention), or, when decoding, the
//! attention layer's cache's
//! ([`AttentionCache`]).
//!
//! ```
//! use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
//! use shapecheck::prelude::*;
//!
//! dim!(pub Vocab = 11; pub DModel = 16; pub Heads = 2; pub HeadDim = 8; pub Ffn = 32);
//! dim!(pub Batch; pub Seq);
//! type Model = Decoder<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>, f64>;
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
//!     let g = grads.of(&model.embedding.table).unwrap().to_tensor();
//!     let e = model.embedding.table.value_mut().as_mut_slice();
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

mod batch;
mod block;
mod config;
mod decode;
pub mod dims;
mod hf_save;
pub mod inspect;
mod io;
pub mod lens;
mod lora;
mod peft;
pub mod steer;

/// The parameter visitors, re-exported where the decoder's walk is used.
pub use crate::autodiff::{ParamVisitor, ParamVisitorMut};
pub use crate::nn::self_attention::{AttnAdapters, LoraTargets};
pub use block::{Attention, Block};
pub use config::DecoderConfig;
pub use decode::{BatchLogits, DecoderCache};
pub use dims::{presets, DecoderDims, Dims, DividesHeads, RuntimeDims, SizeMismatch};
pub use inspect::{Seq, Tokens};
pub use lora::Adapter;
pub use peft::{PEFT_CONFIG, PEFT_PREFIX, PEFT_WEIGHTS};
pub use steer::Steered;

use self::block::{ones, BlockHooks, Kv};
use crate::autodiff::{Params, Tape, Var};
use crate::dim::{Dim, Dyn};
use crate::element::Float;
use crate::error::{Error, OrPanic, ShapeError};
use crate::inspect::NoHooks;
use crate::nn::embedding::Embedding;
use crate::nn::norm::RmsNorm;
use crate::nn::rope::Rope;
use crate::nn::self_attention::{check_groups, normal_linear, AttentionCache};
use crate::nn::stored::{Dense, Lookup, Project, Storage, Trainable};
use crate::shape::SameDim;
use crate::tensor::Tensor;

/// A LLaMA-family decoder of dims `D` ([`DecoderDims`]: vocabulary, width, heads,
/// key/value heads, head width, FFN width), its matrices held as `W` says: trainable
/// ([`Dense`], the default) or inference-only in a file's formats
/// ([`Stored`](crate::nn::stored::Stored), loaded by
/// [`from_gguf_with`](Decoder::from_gguf_with)); see the [module docs](self).
#[derive(Debug)]
pub struct Decoder<D: DecoderDims, T: Float = f32, W: Storage<T> = Dense> {
    /// The token embedding `(Vocab, Model)` (`embed_tokens`); the output head too when
    /// the head is tied.
    pub embedding: W::Embedding<D::Vocab, D::Model>,
    /// The blocks, in order (`layers.{i}.`).
    pub blocks: Vec<Block<D, T, W>>,
    /// The final RMS norm (`norm`).
    pub norm: RmsNorm<D::Model, T>,
    /// The output head `Model → Vocab` (`lm_head`), or `None` when tied to the embedding.
    pub head: Option<W::Linear<D::Model, D::Vocab>>,
    rope: Rope<D::HeadDim>,
    config: DecoderConfig,
    dims: D,
}

impl<D: DecoderDims + Default, T: Float> Decoder<D, T> {
    /// A decoder of static dims with `config.layers` blocks, matrices drawn from a normal
    /// of standard deviation `config.init_std` (seeded), norm weights of 1.
    ///
    /// # Panics
    ///
    /// If `config.rope_base` is not a finite number greater than 0, the head dim is odd or
    /// the RoPE scaling invalid; see [`try_init_with`](Self::try_init_with).
    #[track_caller]
    pub fn init(config: DecoderConfig, seed: u64) -> Self
    where
        D::KvHeads: DividesHeads<D::Heads>,
    {
        Self::try_init_with(D::default(), config, seed).or_panic()
    }
}

impl<D: DecoderDims, T: Float> Decoder<D, T> {
    /// [`init`](Self::init) with the dims given as values (runtime dims: a checkpoint's
    /// sizes read from its file). `Err` when the key/value heads do not divide the heads,
    /// the head dim is odd, or RoPE's base or scaling is invalid.
    ///
    /// Its weights do not keep GEMM packs ([`Params::set_prepack`] turns them on: a
    /// prefill or a LoRA step on a frozen base then reads each weight's pack instead of
    /// packing it per product, for about the weights' size again per form).
    pub fn try_init_with(dims: D, config: DecoderConfig, seed: u64) -> Result<Self, Error>
    where
        D::KvHeads: DividesHeads<D::Heads>,
    {
        let rope = checked_rope(dims, &config)?;
        let (std, eps) = (config.init_std, config.norm_eps);
        let base = seed.wrapping_mul(1000);
        let (v, m) = (dims.vocab(), dims.model());
        let mut blocks: Vec<Block<D, T>> = (0..config.layers)
            .map(|l| {
                Block::init(
                    dims,
                    (std, eps, config.qkv_bias),
                    base + 10 * (l as u64 + 1),
                )
            })
            .collect();
        for b in &mut blocks {
            b.attn.window = config.sliding_window;
        }
        let mut model = Decoder {
            embedding: Embedding::new(normal_table((v, m), std, base)),
            blocks,
            norm: RmsNorm::new(ones(m), eps),
            head: (!config.tied).then(|| normal_linear((m, v), false, std, base + 1)),
            rope,
            config,
            dims,
        };
        // A decoder's weights are its memory: packs would add about their size per form
        // (SmolLM2-135M under LoRA: +1 GB peak, no faster), so they pack only on
        // `set_prepack(true)`, as a stored weight does.
        model.set_prepack(false);
        Ok(model)
    }
}

/// The rotary embedding of a decoder of dims `dims` configured as `config`; `Err` when the
/// key/value heads do not divide the heads, the head dim is odd, or RoPE's base or scaling
/// is invalid.
pub(crate) fn checked_rope<D: DecoderDims>(
    dims: D,
    config: &DecoderConfig,
) -> Result<Rope<D::HeadDim>, Error> {
    check_groups("Decoder::init", dims.heads().size(), dims.kv_heads().size())?;
    if !(config.rope_base.is_finite() && config.rope_base > 0.0) {
        return Err(crate::error::NumericError::InvalidArgument {
            op: "Decoder::init",
            shape: format!("{dims:?}"),
            name: "rope_base",
            value: config.rope_base.to_string(),
            rule: "it must be a finite number greater than 0",
        }
        .into());
    }
    let rope = Rope::new_with(dims.head_dim(), config.rope_layout)?
        .base(config.rope_base)
        .try_scaling(config.rope_scaling)?;
    Ok(rope)
}

/// The caches a forward reads: none, one per block (one sequence), or one per block and
/// row (a left-padded batch, with each row's pads).
pub(crate) enum Caches<'c, T: Float> {
    None,
    One(&'c mut [AttentionCache<T>]),
    Rows(&'c mut [Vec<AttentionCache<T>>], &'c [usize]),
}

/// A decoder's layers: the embedding, the blocks, the final norm, the untied head.
#[cfg(feature = "llm")]
pub(crate) type Parts<D, T, W> = (
    <W as Storage<T>>::Embedding<<D as DecoderDims>::Vocab, <D as DecoderDims>::Model>,
    Vec<Block<D, T, W>>,
    RmsNorm<<D as DecoderDims>::Model, T>,
    Option<<W as Storage<T>>::Linear<<D as DecoderDims>::Model, <D as DecoderDims>::Vocab>>,
);

/// Logits `(B, S, Vocab)`.
type Logits<B, S, V, T> = Tensor<(B, S, V), T>;

/// `(B, S, X)` traced, or why not.
pub(crate) type Rows<'t, B, S, X, T> = Result<Var<'t, (B, S, X), T>, ShapeError>;

/// A `(rows, cols)` table of normal entries of standard deviation `std`.
fn normal_table<R: crate::dim::Dim, C: crate::dim::Dim, T: Float>(
    dims: (R, C),
    std: f64,
    seed: u64,
) -> Tensor<(R, C), T> {
    if std == 0.0 {
        return Tensor::zeros_with(dims);
    }
    let mut t = Tensor::<(R, C), T>::randn_with(dims, seed);
    let s = T::from_f64(std);
    t.map_inplace(|x| x * s);
    t
}

impl<D: DecoderDims, T: Float> Params<T> for Decoder<D, T> {
    /// Hugging Face LLaMA's names: `embed_tokens.weight`,
    /// `layers.{i}.self_attn.q_proj.weight`, …, `norm.weight`, and `lm_head.weight` when
    /// untied. The LoRA adapters have a walk of their own
    /// ([`Decoder::named_adapter_params`]).
    fn visit_params<'a>(&'a self, prefix: &str, v: &mut impl ParamVisitor<'a, T>) {
        self.embedding
            .visit_params(&format!("{prefix}embed_tokens."), v);
        for (i, b) in self.blocks.iter().enumerate() {
            b.visit_params(&format!("{prefix}layers.{i}."), v);
        }
        self.norm.visit_params(&format!("{prefix}norm."), v);
        self.head.visit_params(&format!("{prefix}lm_head."), v);
    }

    fn visit_params_mut<'a>(&'a mut self, prefix: &str, v: &mut impl ParamVisitorMut<'a, T>) {
        self.embedding
            .visit_params_mut(&format!("{prefix}embed_tokens."), v);
        for (i, b) in self.blocks.iter_mut().enumerate() {
            b.visit_params_mut(&format!("{prefix}layers.{i}."), v);
        }
        self.norm.visit_params_mut(&format!("{prefix}norm."), v);
        self.head.visit_params_mut(&format!("{prefix}lm_head."), v);
    }
}

impl<D: DecoderDims, T: Float, W: Storage<T>> Decoder<D, T, W> {
    /// A decoder from its parts (a loader's: every size already checked against `dims`).
    #[cfg(feature = "llm")]
    pub(crate) fn from_parts(
        (embedding, blocks, norm, head): Parts<D, T, W>,
        rope: Rope<D::HeadDim>,
        config: DecoderConfig,
        dims: D,
    ) -> Self {
        Decoder {
            embedding,
            blocks,
            norm,
            head,
            rope,
            config,
            dims,
        }
    }

    /// The bytes its weights take in memory: the embedding, every projection (in its
    /// stored format), the norms and the head.
    pub fn weight_bytes(&self) -> usize {
        let f = core::mem::size_of::<T>();
        let norms = |n: &RmsNorm<D::Model, T>| n.weight.value().len() * f;
        let blocks: usize = self
            .blocks
            .iter()
            .map(|b| {
                let (a, m) = (&b.attn, &b.ffn);
                [a.wq.nbytes(), a.wk.nbytes(), a.wv.nbytes(), a.wo.nbytes()]
                    .iter()
                    .sum::<usize>()
                    + m.gate.nbytes()
                    + m.up.nbytes()
                    + m.down.nbytes()
                    + norms(&b.attn_norm)
                    + norms(&b.ffn_norm)
            })
            .sum();
        self.embedding.nbytes()
            + blocks
            + norms(&self.norm)
            + self.head.as_ref().map_or(0, |h| h.nbytes())
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// Its dims.
    pub fn dims(&self) -> D {
        self.dims
    }

    /// The rotary embedding of its attention.
    pub fn rope(&self) -> &Rope<D::HeadDim> {
        &self.rope
    }

    /// The one forward: logits `(B, S, Vocab)` for `ids` (row-major, `B × S` of them), or
    /// with `last` those of the last position of each sequence only `(B, 1, Vocab)`,
    /// parameters read through `tape` (an inference tape reads them as constants), the
    /// blocks attending over a KV cache each when `caches` are given (one sequence: the
    /// positions come after the cached ones), their hook points passed to `hooks` (and,
    /// as block `layers`'s `ResidPre`, the stream leaving the last block).
    fn run<'t, B, S>(
        &self,
        tape: &'t Tape<T>,
        shape: (B, S),
        ids: &[u32],
        caches: Caches<'_, T>,
        hooks: &mut impl BlockHooks<'t, B, S, D, T>,
    ) -> Rows<'t, B, S, D::Vocab, T>
    where
        B: SameDim,
        S: SameDim,
    {
        let x = self.embedding.try_lookup(tape, shape, ids)?;
        let x = self.blocks_and_norm(x, caches, hooks)?;
        self.head_logits(&x)
    }

    /// The blocks and the final norm.
    fn blocks_and_norm<'t, B, S>(
        &self,
        mut x: Var<'t, (B, S, D::Model), T>,
        mut caches: Caches<'_, T>,
        hooks: &mut impl BlockHooks<'t, B, S, D, T>,
    ) -> Rows<'t, B, S, D::Model, T>
    where
        B: SameDim,
        S: SameDim,
    {
        for (l, block) in self.blocks.iter().enumerate() {
            hooks.block(l);
            let kv = match &mut caches {
                Caches::None => Kv::Own,
                Caches::One(c) => Kv::Cache(&mut c[l]),
                Caches::Rows(c, pads) => Kv::Rows(&mut c[l], pads),
            };
            x = block.forward::<B, S>(&x, &self.rope, kv, hooks)?;
        }
        hooks.block(self.blocks.len());
        let x = hooks.resid(crate::inspect::Site::ResidPre, x);
        self.norm.try_forward(&x)
    }

    /// The output head (or the tied embedding) on the normed stream.
    fn head_logits<'t, B, S>(&self, x: &Var<'t, (B, S, D::Model), T>) -> Rows<'t, B, S, D::Vocab, T>
    where
        B: SameDim,
        S: SameDim,
    {
        match &self.head {
            Some(head) => head.try_project(None, x),
            None => self.embedding.try_scores(x),
        }
    }

    /// The logits `(B, S, Vocab)` for inference: [`forward`](Self::forward) on an inference
    /// tape, so every parameter is read as a constant and nothing is recorded (or copied).
    pub fn logits<B, S>(
        &self,
        shape: (B, S),
        ids: &[u32],
    ) -> Result<Logits<B, S, D::Vocab, T>, ShapeError>
    where
        B: SameDim,
        S: SameDim,
    {
        let tape = Tape::inference();
        let logits = self.run(&tape, shape, ids, Caches::None, &mut NoHooks::new())?;
        debug_assert!(tape.is_empty(), "inference recorded {} nodes", tape.len());
        Ok(logits.into_tensor())
    }

    /// The logits `(B, S, Vocab)` of a batch of `B` sequences of `S` tokens (`ids`
    /// row-major), traced on `tape`: position `i` sees positions `≤ i` of its sequence
    /// (within the window, for a block that has one).
    ///
    /// `Err` when `ids` does not hold `B × S` ids or an id is not below `Vocab`.
    pub fn forward<'t, B, S>(
        &self,
        tape: &'t Tape<T>,
        shape: (B, S),
        ids: &[u32],
    ) -> Rows<'t, B, S, D::Vocab, T>
    where
        B: SameDim,
        S: SameDim,
        W: Trainable,
    {
        self.run(tape, shape, ids, Caches::None, &mut NoHooks::new())
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
        B: SameDim,
        S: SameDim,
        W: Trainable,
    {
        let logits = self.forward(tape, shape, ids)?;
        let rows = Dyn::new(shape.0.size() * shape.1.size());
        let targets: Vec<usize> = targets.iter().map(|&t| t as usize).collect();
        logits
            .try_reshape_with((rows, self.dims.vocab()))?
            .try_cross_entropy(&targets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autodiff::Param;
    use crate::shape::Shape;

    crate::dim!(Vocab = 7; DModel = 8; Heads = 2; HeadDim = 4; Ffn = 12);

    struct Names(Vec<(String, usize)>);
    impl<'a> ParamVisitor<'a, f32> for Names {
        fn visit<S: Shape>(&mut self, name: &str, p: &'a Param<S, f32>) {
            self.0.push((name.to_owned(), p.value().len()));
        }
    }

    /// The lists hold every parameter once, with `visit`'s names and order.
    #[test]
    fn params_match_visit() {
        for tied in [false, true] {
            let config = DecoderConfig {
                layers: 3,
                tied,
                ..DecoderConfig::default()
            };
            let mut model =
                Decoder::<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>>::init(config, 3);
            let mut names = Names(Vec::new());
            model.visit_params("", &mut names);
            let named: Vec<(String, usize)> = model
                .named_params()
                .iter()
                .map(|(n, p)| (n.clone(), p.values().len()))
                .collect();
            assert_eq!(named, names.0);
            let ids: Vec<_> = model.named_params().iter().map(|(_, p)| p.id()).collect();
            let mut_ids: Vec<_> = model.params_mut().iter().map(|p| p.id()).collect();
            assert_eq!(ids, mut_ids);
            let mut unique = ids.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), ids.len());
            let total: usize = named.iter().map(|(_, n)| n).sum();
            assert_eq!(total, model.num_parameters());
        }
    }

    /// A decoder's weights pack only after `set_prepack(true)`, and the logits are the same
    /// bits either way.
    #[test]
    fn a_decoder_packs_only_when_asked() {
        use crate::kernel::{packing_backends, with_backend};
        let ids: Vec<u32> = (0..60).map(|i| (i * 5 % 7) as u32).collect();
        let shape = (Dyn::new(1), Dyn::new(ids.len()));
        for backend in packing_backends() {
            with_backend(backend, || {
                let config = DecoderConfig {
                    layers: 2,
                    ..DecoderConfig::default()
                };
                let mut model =
                    Decoder::<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>>::init(config, 5);
                let plain = model.logits(shape, &ids).or_panic();
                assert_eq!(model.packed_bytes(), 0, "{backend:?}: packed unasked");
                model.set_prepack(true);
                let packed = model.logits(shape, &ids).or_panic();
                assert!(model.packed_bytes() > 0, "{backend:?}: no pack when asked");
                let bits = |t: &Tensor<_, f32>| -> Vec<u32> {
                    t.as_slice().iter().map(|x| x.to_bits()).collect()
                };
                assert_eq!(bits(&plain), bits(&packed), "{backend:?}");
            });
        }
    }
}
