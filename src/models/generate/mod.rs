//! Text generation over any causal language model, and chat templates.
//!
//! The pieces:
//! - [`CausalLm`]: what a model offers generation — a cache, and the logits of the last of
//!   the ids fed after what the cache holds. The LLaMA-family
//!   [`Decoder`](crate::models::decoder::Decoder) implements it (`decoder.rs`).
//! - [`processors`]: Hugging Face's logits processors (repetition penalty, temperature,
//!   top-k, top-p, min-p), one function each, checked against transformers' classes.
//! - [`Sampling`] and [`Sampler`]: the knobs, in transformers' order, and a seeded random
//!   stream; temperature 0 is greedy.
//! - [`Generator`]: the loop as an iterator of ids (prompt first, then one id per step, a
//!   token budget, several stop ids); [`generate`] collects it, [`generate_text`] streams
//!   the text through [`Tokenizer::stream_skip_special`](crate::text::Tokenizer::stream_skip_special)
//!   (a token that ends mid-character waits for the next).
//! - [`generate_batch`]: several prompts of any lengths at once, their decode steps packed
//!   into one batched step ([`BatchedCausalLm`]), each result what [`generate`] gives.
//! - [`ChatTemplate`]: a model's Jinja chat template (from a GGUF or a
//!   `tokenizer_config.json`) rendered as transformers' `apply_chat_template` does.
//!
//! ```
//! use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
//! use shapecheck::models::generate::{generate, GenerateConfig, Sampling, StopReason};
//! use shapecheck::prelude::*;
//!
//! dim!(pub Vocab = 11; pub DModel = 16; pub Heads = 2; pub HeadDim = 8; pub Ffn = 32);
//! type Toy = Decoder<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>>;
//! let model = Toy::init(DecoderConfig::default(), 0);
//!
//! let config = GenerateConfig {
//!     max_new_tokens: 6,
//!     sampling: Sampling { temperature: 0.8, top_k: 5, seed: 3, ..Sampling::default() },
//!     ..GenerateConfig::default()
//! };
//! let a = generate(&model, &[1, 2, 3], config.clone())?;
//! let b = generate(&model, &[1, 2, 3], config)?;
//! assert_eq!(a.ids, b.ids); // seeded
//! assert_eq!((a.ids.len(), a.stop), (6, StopReason::Budget));
//! # Ok::<(), shapecheck::models::generate::GenerateError>(())
//! ```
//!
//! This module sits behind the `llm` cargo feature (on by default).

mod batch;
mod chat;
mod decoder;
mod error;
mod generator;
pub mod processors;
mod sampling;

pub use batch::{generate_batch, BatchedCausalLm};
pub use chat::{ChatMessage, ChatTemplate};
pub use error::GenerateError;
pub use generator::{
    generate, generate_text, GenerateConfig, GenerateStats, Generation, Generator, StopReason,
};
pub use sampling::{Sampler, Sampling};

/// A causal language model that decodes with a cache of what it has seen.
///
/// ```
/// use shapecheck::models::generate::CausalLm;
///
/// /// A bigram table: the logits of the next id depend on the last id only.
/// struct Bigram(Vec<Vec<f32>>);
/// impl CausalLm for Bigram {
///     type Cache = ();
///     fn vocab_size(&self) -> usize { self.0.len() }
///     fn new_cache(&self) {}
///     fn step(&self, _: &mut (), ids: &[u32]) -> Result<Vec<f32>, shapecheck::Error> {
///         Ok(self.0[*ids.last().unwrap() as usize].clone())
///     }
/// }
/// let m = Bigram(vec![vec![0.0, 1.0], vec![1.0, 0.0]]);
/// assert_eq!(m.step(&mut m.new_cache(), &[0]).unwrap(), [0.0, 1.0]);
/// ```
pub trait CausalLm {
    /// What the model keeps between calls (its KV cache).
    type Cache;
    /// The vocabulary size (the length of a logits row).
    fn vocab_size(&self) -> usize;
    /// An empty cache.
    fn new_cache(&self) -> Self::Cache;
    /// Feeds `ids` after what `cache` holds (the whole prompt, or one token) and gives the
    /// logits of the last of them, `vocab_size()` long, as f32.
    fn step(&self, cache: &mut Self::Cache, ids: &[u32]) -> Result<Vec<f32>, crate::Error>;
}
