//! Saving a [`Decoder`] as safetensors and loading it back.
//!
//! Every parameter is one tensor under its Hugging Face LLaMA name
//! (its [`Params`] walk), in the element type of the model. The sizes the type fixes
//! (`vocab`, `d_model`, `heads`, `kv_heads`, `head_dim`, `ffn`) and the [`DecoderConfig`]
//! (`layers`, `norm_eps`, `rope_base`, `rope_layout`, `tied`, `qkv_bias`,
//! `sliding_window`; not a RoPE scaling) are the file's metadata: loading checks
//! the first against the type (a mismatch is a [`ModelError::Config`] naming the field) and
//! rebuilds the second, then loads every tensor with its shape checked.

use std::path::{Path, PathBuf};

use super::{Decoder, DecoderConfig, DecoderDims, DividesHeads};
use crate::autodiff::Params;
use crate::dim::Dim;
use crate::element::Float;
use crate::io::{LoadError, SafeTensors, SafetensorsWriter, SaveError};
use crate::models::ModelError;
use crate::ops::rope::RopeLayout;

fn layout_name(l: RopeLayout) -> &'static str {
    match l {
        RopeLayout::HalfSplit => "half_split",
        RopeLayout::Interleaved => "interleaved",
    }
}

impl<D: DecoderDims + Default, T: Float> Decoder<D, T>
where
    D::KvHeads: DividesHeads<D::Heads>,
{
    fn sizes() -> [(&'static str, usize); 6] {
        let d = D::default();
        [
            ("vocab", d.vocab().size()),
            ("d_model", d.model().size()),
            ("heads", d.heads().size()),
            ("kv_heads", d.kv_heads().size()),
            ("head_dim", d.head_dim().size()),
            ("ffn", d.ffn().size()),
        ]
    }

    /// The weights and the configuration as a safetensors file in memory (write it with
    /// [`SafetensorsWriter::write`] or [`to_bytes`](SafetensorsWriter::to_bytes)).
    pub fn to_safetensors(&self) -> Result<SafetensorsWriter, SaveError> {
        let mut file = SafetensorsWriter::new();
        self.save_params(&mut file, "")?;
        let c = &self.config;
        for (key, size) in Self::sizes() {
            file.metadata(key, &size.to_string());
        }
        file.metadata("layers", &c.layers.to_string())
            .metadata("norm_eps", &c.norm_eps.to_string())
            .metadata("rope_base", &c.rope_base.to_string())
            .metadata("rope_layout", layout_name(c.rope_layout))
            .metadata("tied", &c.tied.to_string())
            .metadata("qkv_bias", &c.qkv_bias.to_string());
        if let Some(w) = c.sliding_window {
            file.metadata("sliding_window", &w.to_string());
        }
        Ok(file)
    }

    /// Writes [`to_safetensors`](Self::to_safetensors) to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), SaveError> {
        self.to_safetensors()?.write(path)
    }

    /// A decoder read from the safetensors file at `path` (as written by
    /// [`save`](Self::save)).
    ///
    /// `Err` when the file cannot be read or is malformed, when its sizes disagree with the
    /// type or its configuration is missing or invalid ([`ModelError::Config`] naming the
    /// field), or when a tensor is missing, has another shape, or is not a parameter.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let file = SafeTensors::open(path).map_err(ModelError::Weights)?;
        Self::from_safetensors(&file, path)
    }

    /// [`load`](Self::load) from a file already read; `path` names it in messages.
    pub fn from_safetensors(
        file: &SafeTensors,
        path: impl AsRef<Path>,
    ) -> Result<Self, ModelError> {
        let path: PathBuf = path.as_ref().to_owned();
        let meta = file.metadata();
        let field = |key: &'static str| meta.get(key).map(String::as_str);
        let bad = |key: &'static str, expected: String| ModelError::Config {
            path: path.clone(),
            field: key,
            expected,
            found: field(key).unwrap_or("missing").to_owned(),
        };
        for (key, size) in Self::sizes() {
            // Files written before grouped-query attention have no `kv_heads`: as many as
            // heads.
            let found = match (key, field(key)) {
                ("kv_heads", None) => field("heads"),
                (_, v) => v,
            };
            if found.and_then(|v| v.parse::<usize>().ok()) != Some(size) {
                return Err(bad(key, size.to_string()));
            }
        }
        let number = |key: &'static str| {
            field(key)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| bad(key, "a finite number greater than 0".into()))
        };
        let config = DecoderConfig {
            layers: field("layers")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad("layers", "a number of blocks".into()))?,
            norm_eps: field("norm_eps")
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| bad("norm_eps", "a finite number ≥ 0".into()))?,
            rope_base: number("rope_base")?,
            rope_layout: match field("rope_layout") {
                Some("half_split") => RopeLayout::HalfSplit,
                Some("interleaved") => RopeLayout::Interleaved,
                _ => return Err(bad("rope_layout", "`half_split` or `interleaved`".into())),
            },
            tied: field("tied")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad("tied", "`true` or `false`".into()))?,
            qkv_bias: match field("qkv_bias") {
                None => false,
                Some(v) => v
                    .parse()
                    .map_err(|_| bad("qkv_bias", "`true` or `false`".into()))?,
            },
            sliding_window: match field("sliding_window") {
                None => None,
                Some(v) => Some(
                    v.parse::<usize>()
                        .ok()
                        .filter(|&w| w > 0)
                        .ok_or_else(|| bad("sliding_window", "a number of positions ≥ 1".into()))?,
                ),
            },
            ..DecoderConfig::default()
        };
        // Each block holds at least 9 tensors: a count the file cannot back is refused
        // before any allocation.
        if config.layers > file.names().len() / 9 {
            return Err(bad(
                "layers",
                format!(
                    "at most {} for the {} tensors of the file",
                    file.names().len() / 9,
                    file.names().len()
                ),
            ));
        }
        let mut model = Self::init(config, 0);
        model.load_params(file, "").map_err(ModelError::Weights)?;
        if let Some(extra) = model.stray_tensors(file, "").first() {
            return Err(ModelError::Weights(LoadError::Malformed {
                path: Some(path),
                detail: format!(
                    "tensor `{extra}` is not a parameter of a decoder of {} blocks{}",
                    config.layers,
                    if config.tied { " with a tied head" } else { "" }
                ),
            }));
        }
        Ok(model)
    }
}
