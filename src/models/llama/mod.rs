//! The LLaMA family (Llama, SmolLM2, TinyLlama, Qwen2, Mistral): what a published
//! checkpoint says about itself. [`LlamaConfig`] reads a Hugging Face `config.json` in both
//! of its forms and checks it; [`LlamaConfig::rope`] builds the rotary embedding it was
//! trained with, its scaling computed as `transformers` computes it.
//!
//! The model that loads these checkpoints is the next step (the decoder of
//! [`decoder`](super::decoder) is this family's block, without grouped-query attention yet).

mod config;

pub use config::{Family, LlamaConfig};
