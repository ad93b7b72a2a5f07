//! Saving a decoder as a Hugging Face LLaMA directory (`config.json` and
//! `model.safetensors`): what `transformers`' `AutoModelForCausalLM.from_pretrained` and
//! [`Decoder::from_hf_dir`] load. With [`Decoder::merge_adapters`] first, this is PEFT's
//! `merge_and_unload()` followed by `save_pretrained`.

use std::path::Path;

use serde_json::{json, Value};

use super::{Decoder, DecoderDims};
use crate::autodiff::Params;
use crate::dim::Dim;
use crate::element::Float;
use crate::io::{SafetensorsWriter, SaveError};
use crate::ops::rope::{RopeLayout, RopeScaling};

fn refused(field: &str, detail: String) -> SaveError {
    SaveError::Metadata {
        key: format!("config.json `{field}`"),
        detail,
    }
}

impl<D: DecoderDims, T: Float> Decoder<D, T> {
    /// The text of the Hugging Face `config.json` of this decoder (`model_type` `llama`,
    /// `LlamaForCausalLM`, its sizes, ε, RoPE's θ, the tied head),
    /// `max_position_embeddings` set to `max_positions`.
    ///
    /// `Err` when the decoder is one a LLaMA config cannot describe: adapters not merged,
    /// biases on q/k/v (Qwen2's), a sliding window, a RoPE scaling, or the interleaved RoPE
    /// layout.
    pub fn hf_config_json(&self, max_positions: usize) -> Result<String, SaveError> {
        let c = &self.config;
        if self.has_adapters() {
            return Err(refused(
                "adapters",
                "the decoder has adapters: merge them first (`merge_adapters`), or save them \
                 apart (`save_peft`)"
                    .into(),
            ));
        }
        if c.qkv_bias {
            return Err(refused(
                "attention_bias",
                "biases on q/k/v only are Qwen2's, not LLaMA's".into(),
            ));
        }
        if self.blocks.iter().any(|b| b.attn.window.is_some()) || c.sliding_window.is_some() {
            return Err(refused(
                "sliding_window",
                "LLaMA has no sliding window".into(),
            ));
        }
        if c.rope_scaling != RopeScaling::None {
            return Err(refused(
                "rope_scaling",
                format!("{:?} is not written by this version", c.rope_scaling),
            ));
        }
        if c.rope_layout != RopeLayout::HalfSplit {
            return Err(refused(
                "rope_layout",
                "Hugging Face's LLaMA rotates half-split features".into(),
            ));
        }
        let d = self.dims();
        let value: Value = json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_act": "silu",
            "vocab_size": d.vocab().size(),
            "hidden_size": d.model().size(),
            "intermediate_size": d.ffn().size(),
            "num_hidden_layers": self.blocks.len(),
            "num_attention_heads": d.heads().size(),
            "num_key_value_heads": d.kv_heads().size(),
            "head_dim": d.head_dim().size(),
            "rms_norm_eps": c.norm_eps,
            "rope_theta": c.rope_base,
            "max_position_embeddings": max_positions,
            "tie_word_embeddings": c.tied,
            "attention_bias": false,
            "mlp_bias": false,
            "torch_dtype": if T::NAME == "f32" { "float32" } else { "float64" },
        });
        serde_json::to_string_pretty(&value).map_err(|e| refused("config", e.to_string()))
    }

    /// The weights under Hugging Face's names (`model.layers.0.self_attn.q_proj.weight`,
    /// …, `lm_head.weight` unless the head is tied), in the model's element type.
    pub fn to_hf_safetensors(&self) -> Result<SafetensorsWriter, SaveError> {
        let mut file = SafetensorsWriter::new();
        for (name, p) in self.named_params() {
            let hf = if name.starts_with("lm_head.") {
                name
            } else {
                format!("model.{name}")
            };
            p.save_like(&mut file, &hf, p.values())?;
        }
        file.metadata("format", "pt");
        Ok(file)
    }

    /// Writes the decoder to directory `dir` (created if missing) as a Hugging Face LLaMA
    /// checkpoint: `config.json` ([`hf_config_json`](Self::hf_config_json)) and
    /// `model.safetensors` ([`to_hf_safetensors`](Self::to_hf_safetensors)). `Err` as
    /// `hf_config_json` refuses, or when a file cannot be written.
    pub fn save_hf_dir(
        &self,
        dir: impl AsRef<Path>,
        max_positions: usize,
    ) -> Result<(), SaveError> {
        let dir = dir.as_ref();
        let config = self.hf_config_json(max_positions)?;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| SaveError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        self.to_hf_safetensors()?
            .write(dir.join("model.safetensors"))?;
        let path = dir.join("config.json");
        std::fs::write(&path, config).map_err(io(&path))
    }
}
