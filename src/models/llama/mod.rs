//! The LLaMA family (Llama, SmolLM2, TinyLlama, Qwen2, Mistral): what a published
//! checkpoint says about itself. [`LlamaConfig`] reads a Hugging Face `config.json` in both
//! of its forms and checks it; [`LlamaConfig::rope`] builds the rotary embedding it was
//! trained with, its scaling computed as `transformers` computes it.
//!
//! The model that loads these checkpoints is the one [`Decoder`](super::decoder::Decoder)
//! (grouped-query attention, explicit head dims, biases, sliding windows, RoPE scalings):
//! [`Decoder::from_hf_dir`](super::decoder::Decoder::from_hf_dir) reads a Hugging Face
//! directory (one `model.safetensors` or its shards, F32/F16/BF16, through
//! [`Checkpoint`](crate::io::Checkpoint)), [`Decoder::from_gguf`](super::decoder::Decoder::from_gguf) a GGUF file
//! (`load.rs`), into static dims (a preset of [`presets`](super::decoder::presets), checked
//! against the file) or runtime ones ([`RuntimeDims`](super::decoder::RuntimeDims)).

mod config;
mod load;
#[cfg(feature = "llm")]
mod stored;

pub use config::{Family, LlamaConfig};
