//! Real models built from [`nn`](crate::nn): typed with named dims, loaded from safetensors
//! with the checkpoint's `config.json` checked against the type.
//!
//! - [`minilm`]: the BERT sentence encoder of sentence-transformers/all-MiniLM-L6-v2
//!   (tokenizer, 6 layers, mean pooling, unit-length embeddings);
//! - [`decoder`]: a LLaMA-style decoder (RMS norm, RoPE, causal attention, SwiGLU),
//!   trainable, with KV-cache decoding;
//! - [`llama`]: the configuration of published LLaMA-family checkpoints;
//! - [`generate`] (feature `llm`): generation over any [`CausalLm`](generate::CausalLm)
//!   (greedy, sampling with Hugging Face's processors, stop ids, streaming) and chat
//!   templates.
//!
//! Loading follows the crate's rule for fallible constructors: a [`ModelError`] that names
//! the file and what in it disagrees with the type (a tensor's shape, a config field).

pub mod decoder;
mod error;
#[cfg(feature = "llm")]
pub mod generate;
pub mod llama;
pub mod minilm;

pub use error::ModelError;
