//! [`LlamaConfig`]: a Hugging Face `config.json` of the LLaMA family (Llama, SmolLM2,
//! TinyLlama, Qwen2, Mistral), read in both of the forms the Hub holds — top-level
//! `rope_theta` with `rope_scaling` (`type` or `rope_type`), and transformers 5's
//! `rope_parameters` — and checked: a field that is missing, of the wrong type, or breaks a
//! rule (the KV heads must divide the heads, the head dim must be even) is a
//! [`ModelError::InvalidConfig`] naming the field, what the file holds and the rule.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::dim::Dim;
use crate::models::ModelError;
use crate::ops::rope::{Rope, RopeLayout, RopeScaling, Yarn};

/// More layers than any published model has, by far (the deepest have a few hundred):
/// a larger `num_hidden_layers` is a corrupt file, refused before it sizes a table.
const MAX_LAYERS: usize = 1 << 16;

/// Which member of the family a checkpoint is (`model_type`): they differ in biases and
/// attention windows, not in the block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Family {
    /// `llama`: Llama 2/3, SmolLM2, TinyLlama (biases as `attention_bias`, `mlp_bias` say).
    Llama,
    /// `qwen2`: biases on the query, key and value projections; a sliding window on the
    /// layers `use_sliding_window` names.
    Qwen2,
    /// `mistral`: a sliding window on every layer (`sliding_window`).
    Mistral,
}

/// The configuration of a LLaMA-family checkpoint; see the [module docs](super).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct LlamaConfig {
    /// `model_type`.
    pub family: Family,
    /// `vocab_size`.
    pub vocab_size: usize,
    /// `hidden_size`: the model width.
    pub hidden_size: usize,
    /// `intermediate_size`: the SwiGLU width.
    pub intermediate_size: usize,
    /// `num_hidden_layers`.
    pub layers: usize,
    /// `num_attention_heads`.
    pub heads: usize,
    /// `num_key_value_heads` (grouped-query attention; `heads` when absent).
    pub kv_heads: usize,
    /// `head_dim` (`hidden_size / heads` when absent or null); not always `hidden / heads`.
    pub head_dim: usize,
    /// `rms_norm_eps`.
    pub rms_norm_eps: f64,
    /// `rope_theta`: RoPE's base.
    pub rope_theta: f64,
    /// `rope_scaling` / `rope_parameters`.
    pub rope_scaling: RopeScaling,
    /// `max_position_embeddings`.
    pub max_positions: usize,
    /// `tie_word_embeddings`: the output head is the embedding table.
    pub tied: bool,
    /// Biases on the query, key and value projections (`attention_bias`; always for Qwen2).
    pub qkv_bias: bool,
    /// A bias on the output projection (`attention_bias` for Llama).
    pub o_bias: bool,
    /// Biases on the SwiGLU projections (`mlp_bias`).
    pub mlp_bias: bool,
    /// The attention window of the layers that slide (`sliding_window`), if any does.
    pub sliding_window: Option<usize>,
    /// Per layer, whether it attends within the window only.
    pub sliding_layers: Vec<bool>,
    /// `bos_token_id`.
    pub bos_token_id: Option<u32>,
    /// `eos_token_id`: one id or several.
    pub eos_token_ids: Vec<u32>,
}

/// Reads one `config.json`, naming the file in every error.
struct Reader<'a> {
    path: &'a Path,
    map: &'a Map<String, Value>,
}

impl Reader<'_> {
    fn error(&self, field: &'static str, rule: impl Into<String>, found: String) -> ModelError {
        ModelError::InvalidConfig {
            path: self.path.to_owned(),
            field,
            found,
            rule: rule.into(),
        }
    }

    fn found(v: Option<&Value>) -> String {
        v.map_or_else(|| "missing".to_owned(), Value::to_string)
    }

    /// A count (≥ `min`).
    fn count(
        &self,
        map: &Map<String, Value>,
        field: &'static str,
        min: usize,
    ) -> Result<usize, ModelError> {
        let v = map.get(field);
        v.and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n >= min)
            .ok_or_else(|| self.error(field, format!("a whole number ≥ {min}"), Self::found(v)))
    }

    /// A count that may be absent or null.
    fn count_or(
        &self,
        map: &Map<String, Value>,
        field: &'static str,
        min: usize,
        or: usize,
    ) -> Result<usize, ModelError> {
        match map.get(field) {
            None | Some(Value::Null) => Ok(or),
            Some(_) => self.count(map, field, min),
        }
    }

    /// A finite number, positive or (with `zero`) ≥ 0.
    fn number(
        &self,
        map: &Map<String, Value>,
        field: &'static str,
        zero: bool,
    ) -> Result<f64, ModelError> {
        let v = map.get(field);
        v.and_then(Value::as_f64)
            .filter(|x| x.is_finite() && (*x > 0.0 || (zero && *x == 0.0)))
            .ok_or_else(|| {
                let rule = if zero {
                    "a finite number ≥ 0"
                } else {
                    "a finite number > 0"
                };
                self.error(field, rule, Self::found(v))
            })
    }

    fn boolean_or(
        &self,
        map: &Map<String, Value>,
        field: &'static str,
        or: bool,
    ) -> Result<bool, ModelError> {
        match map.get(field) {
            None | Some(Value::Null) => Ok(or),
            Some(Value::Bool(b)) => Ok(*b),
            v => Err(self.error(field, "true or false", Self::found(v))),
        }
    }

    /// A token id, or several (`eos_token_id` may be a list).
    fn ids(&self, field: &'static str) -> Result<Vec<u32>, ModelError> {
        let one = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    one(v).ok_or_else(|| {
                        self.error(field, "token ids", Value::Array(a.clone()).to_string())
                    })
                })
                .collect(),
            Some(v) => one(v)
                .map(|id| vec![id])
                .ok_or_else(|| self.error(field, "a token id or a list of them", v.to_string())),
        }
    }

    /// RoPE's base and scaling, from `rope_parameters` (transformers 5) or from
    /// `rope_theta` and `rope_scaling` (older files).
    fn rope(&self, max_positions: usize) -> Result<(f64, RopeScaling), ModelError> {
        let (params, theta) = match self.map.get("rope_parameters") {
            Some(Value::Object(p)) => (Some(p), self.number(p, "rope_theta", false)),
            Some(v) => return Err(self.error("rope_parameters", "an object", v.to_string())),
            None => {
                let theta = match self.map.get("rope_theta") {
                    None | Some(Value::Null) => Ok(10_000.0),
                    Some(_) => self.number(self.map, "rope_theta", false),
                };
                match self.map.get("rope_scaling") {
                    None | Some(Value::Null) => (None, theta),
                    Some(Value::Object(p)) => (Some(p), theta),
                    Some(v) => {
                        return Err(self.error("rope_scaling", "an object or null", v.to_string()))
                    }
                }
            }
        };
        let theta = theta?;
        let Some(p) = params else {
            return Ok((theta, RopeScaling::None));
        };
        let kind = p
            .get("rope_type")
            .or_else(|| p.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("default");
        let factor = |r: &Self| r.number(p, "factor", false);
        let original = |r: &Self| r.count(p, "original_max_position_embeddings", 1);
        let optional = |field: &'static str| -> Result<Option<f64>, ModelError> {
            match p.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(_) => self.number(p, field, false).map(Some),
            }
        };
        let scaling = match kind {
            "default" => RopeScaling::None,
            "linear" => RopeScaling::Linear {
                factor: factor(self)?,
            },
            "dynamic" => RopeScaling::Dynamic {
                factor: factor(self)?,
                max_positions,
            },
            "llama3" => RopeScaling::Llama3 {
                factor: factor(self)?,
                low_freq_factor: self.number(p, "low_freq_factor", false)?,
                high_freq_factor: self.number(p, "high_freq_factor", false)?,
                original_max_positions: original(self)?,
            },
            "yarn" => {
                let original = original(self)?;
                // transformers' fallback when the factor is not given: the context ratio.
                let factor = match p.get("factor") {
                    None | Some(Value::Null) => max_positions as f64 / original as f64,
                    Some(_) => factor(self)?,
                };
                let mut y = Yarn::new(factor, original);
                y.beta_fast = optional("beta_fast")?.unwrap_or(y.beta_fast);
                y.beta_slow = optional("beta_slow")?.unwrap_or(y.beta_slow);
                y.attention_factor = optional("attention_factor")?;
                y.mscale = optional("mscale")?;
                y.mscale_all_dim = optional("mscale_all_dim")?;
                y.truncate = self.boolean_or(p, "truncate", true)?;
                RopeScaling::Yarn(y)
            }
            other => {
                return Err(self.error(
                    "rope_type",
                    "one of default, linear, dynamic, llama3, yarn",
                    format!("\"{other}\""),
                ))
            }
        };
        Ok((theta, scaling))
    }
}

impl LlamaConfig {
    /// The configuration in the `config.json` at `path`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::ConfigFile {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
        Self::from_json(&text, path)
    }

    /// The configuration in the text of a `config.json` (`path` names it in errors).
    ///
    /// ```
    /// use shapecheck::models::llama::{Family, LlamaConfig};
    /// use shapecheck::nn::rope::RopeScaling;
    /// let text = r#"{"model_type": "llama", "vocab_size": 49152, "hidden_size": 576,
    ///   "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
    ///   "num_key_value_heads": 3, "rms_norm_eps": 1e-05, "rope_theta": 100000,
    ///   "rope_scaling": null, "max_position_embeddings": 8192, "tie_word_embeddings": true,
    ///   "bos_token_id": 1, "eos_token_id": 2}"#;
    /// let c = LlamaConfig::from_json(text, "config.json")?;
    /// assert_eq!((c.family, c.heads, c.kv_heads, c.head_dim), (Family::Llama, 9, 3, 64));
    /// assert_eq!(c.rope_scaling, RopeScaling::None);
    /// let bad = text.replace("\"num_key_value_heads\": 3", "\"num_key_value_heads\": 4");
    /// let err = LlamaConfig::from_json(&bad, "config.json").unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "config.json: `num_key_value_heads` is 4, but it must be a divisor of \
    ///      num_attention_heads (9)"
    /// );
    /// # Ok::<(), shapecheck::models::ModelError>(())
    /// ```
    pub fn from_json(text: &str, path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path: PathBuf = path.as_ref().to_owned();
        let file_error = |detail: String| ModelError::ConfigFile {
            path: path.clone(),
            detail,
        };
        let value: Value =
            serde_json::from_str(text).map_err(|e| file_error(format!("not JSON: {e}")))?;
        let Some(map) = value.as_object() else {
            return Err(file_error("not a JSON object".into()));
        };
        let r = Reader { path: &path, map };
        let family = match map.get("model_type").and_then(Value::as_str) {
            Some("llama") => Family::Llama,
            Some("qwen2") => Family::Qwen2,
            Some("mistral") => Family::Mistral,
            _ => {
                return Err(r.error(
                    "model_type",
                    "\"llama\", \"qwen2\" or \"mistral\"",
                    Reader::found(map.get("model_type")),
                ))
            }
        };
        let hidden_size = r.count(map, "hidden_size", 1)?;
        let heads = r.count(map, "num_attention_heads", 1)?;
        let kv_heads = r.count_or(map, "num_key_value_heads", 1, heads)?;
        if heads % kv_heads != 0 {
            return Err(r.error(
                "num_key_value_heads",
                format!("a divisor of num_attention_heads ({heads})"),
                kv_heads.to_string(),
            ));
        }
        let head_dim = r.count_or(map, "head_dim", 2, hidden_size / heads)?;
        if head_dim % 2 != 0 || head_dim == 0 {
            return Err(r.error(
                "head_dim",
                "an even size, for RoPE to rotate pairs of features",
                head_dim.to_string(),
            ));
        }
        let layers = r.count(map, "num_hidden_layers", 1)?;
        // The per-layer table below is sized by this count: a few bytes of JSON must not
        // ask for gigabytes (found by tests/fuzz_formats.rs).
        if layers > MAX_LAYERS {
            return Err(r.error(
                "num_hidden_layers",
                format!("a whole number from 1 to {MAX_LAYERS}"),
                layers.to_string(),
            ));
        }
        let max_positions = r.count(map, "max_position_embeddings", 1)?;
        let (rope_theta, rope_scaling) = r.rope(max_positions)?;
        let attention_bias = r.boolean_or(map, "attention_bias", false)?;
        let (qkv_bias, o_bias) = match family {
            Family::Llama => (attention_bias, attention_bias),
            Family::Qwen2 => (true, false),
            Family::Mistral => (false, false),
        };
        let window = r.count_or(map, "sliding_window", 1, 0)?;
        let sliding_layers: Vec<bool> = match family {
            Family::Mistral => vec![window > 0; layers],
            Family::Qwen2 if window > 0 && r.boolean_or(map, "use_sliding_window", false)? => {
                match map.get("layer_types") {
                    Some(Value::Array(types)) if types.len() == layers => types
                        .iter()
                        .map(|t| t.as_str() == Some("sliding_attention"))
                        .collect(),
                    Some(v) => {
                        return Err(r.error(
                            "layer_types",
                            format!("one attention type per layer ({layers})"),
                            v.to_string(),
                        ))
                    }
                    None => {
                        let from = r.count_or(map, "max_window_layers", 0, layers)?;
                        (0..layers).map(|l| l >= from).collect()
                    }
                }
            }
            _ => vec![false; layers],
        };
        let bos = r.ids("bos_token_id")?;
        Ok(LlamaConfig {
            family,
            vocab_size: r.count(map, "vocab_size", 1)?,
            hidden_size,
            intermediate_size: r.count(map, "intermediate_size", 1)?,
            layers,
            heads,
            kv_heads,
            head_dim,
            rms_norm_eps: r.number(map, "rms_norm_eps", true)?,
            rope_theta,
            rope_scaling,
            max_positions,
            tied: r.boolean_or(map, "tie_word_embeddings", false)?,
            qkv_bias,
            o_bias,
            mlp_bias: r.boolean_or(map, "mlp_bias", false)?,
            sliding_window: sliding_layers.iter().any(|&s| s).then_some(window),
            sliding_layers,
            bos_token_id: bos.first().copied(),
            eos_token_ids: r.ids("eos_token_id")?,
        })
    }

    /// The rotary embedding the checkpoint was trained with, for heads of width `head_dim`
    /// (`rotate_half` pairing, as Hugging Face's LLaMA); `Err` when `head_dim` is not the
    /// configuration's or a scaling parameter is out of its range.
    pub fn rope<H: Dim>(&self, head_dim: H) -> Result<Rope<H>, crate::Error> {
        if head_dim.size() != self.head_dim {
            return Err(crate::ShapeError::incompatible_described(
                "LlamaConfig::rope",
                format!("head dim {head_dim:?}"),
                format!("head_dim {}", self.head_dim),
                "the rope is built for the configuration's head dim",
            )
            .into());
        }
        Ok(Rope::new_with(head_dim, RopeLayout::HalfSplit)?
            .base(self.rope_theta)
            .try_scaling(self.rope_scaling)?)
    }
}
