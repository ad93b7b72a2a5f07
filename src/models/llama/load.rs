//! Loading a LLaMA-family checkpoint into the one [`Decoder`]: a Hugging Face directory
//! ([`Decoder::from_hf_dir`]: `config.json` and `model.safetensors`, or the shards
//! `model.safetensors.index.json` lists, read through [`Checkpoint`]) or a GGUF file
//! ([`Decoder::from_gguf`]: the `llama.*` metadata and the tensors, dequantized to the
//! model's element type at load).
//!
//! The sizes of the file are checked against the decoder's dims ([`DecoderDims`]): a
//! static dim that disagrees is a [`ModelError::Config`] naming the field and both values;
//! runtime dims ([`RuntimeDims`](crate::models::decoder::RuntimeDims)) take the file's. Every
//! parameter is then read under its name with its shape checked (a missing tensor or one of
//! another shape is a [`ModelError::Weights`] naming it and the file it is in, or the index
//! when no shard holds it), and a tensor of the file that is no parameter is refused.
//!
//! GGUF stores the rows of the query and key projections permuted for ggml's interleaved
//! RoPE (llama.cpp's `convert_hf_to_gguf.py`, for the `llama` architecture); they are put
//! back in Hugging Face's order as `transformers` does (`LlamaTensorProcessor` in
//! `modeling_gguf_pytorch_utils.py`): the rows of each head `(HeadDim/2, 2)` transposed to
//! `(2, HeadDim/2)`, over the query heads for `attn_q`, the key/value heads for `attn_k`.

use std::path::{Path, PathBuf};

#[cfg(feature = "llm")]
use super::config::Family;
use super::config::LlamaConfig;
use crate::autodiff::{Param, ParamVisitorMut, Params};
use crate::element::Float;
#[cfg(feature = "llm")]
use crate::io::Gguf;
use crate::io::{Checkpoint, LoadError, INDEX_FILE, SINGLE_FILE};
use crate::models::decoder::{Decoder, DecoderConfig, DecoderDims, DividesHeads};
use crate::models::ModelError;
use crate::ops::rope::RopeLayout;
#[cfg(feature = "llm")]
use crate::ops::rope::RopeScaling;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// Where the tensors come from, and how a parameter's name maps to the file's.
pub(super) enum Source<'f> {
    /// A Hugging Face checkpoint (one file or shards): `model.` before every name but
    /// `lm_head.`; the path names the checkpoint (the file, or the shards' index) in the
    /// error of a tensor no shard holds.
    Hf(&'f Checkpoint, &'f Path),
    #[cfg(feature = "llm")]
    /// A GGUF file, its q/k rows to unpermute for `heads` and `kv_heads` (llama only).
    Gguf(&'f Gguf, Option<(usize, usize)>),
}

#[cfg(feature = "llm")]
/// The GGUF name of a parameter named as Hugging Face's LLaMA names it (without `model.`).
pub(super) fn gguf_name(name: &str) -> String {
    let (body, suffix) = match name.rsplit_once('.') {
        Some((b, s)) => (b, s),
        None => return name.to_owned(),
    };
    let mapped = match body {
        "embed_tokens" => "token_embd".to_owned(),
        "norm" => "output_norm".to_owned(),
        "lm_head" => "output".to_owned(),
        _ => {
            let Some(rest) = body.strip_prefix("layers.") else {
                return name.to_owned();
            };
            let Some((i, part)) = rest.split_once('.') else {
                return name.to_owned();
            };
            let part = match part {
                "input_layernorm" => "attn_norm",
                "post_attention_layernorm" => "ffn_norm",
                "self_attn.q_proj" => "attn_q",
                "self_attn.k_proj" => "attn_k",
                "self_attn.v_proj" => "attn_v",
                "self_attn.o_proj" => "attn_output",
                "mlp.gate_proj" => "ffn_gate",
                "mlp.up_proj" => "ffn_up",
                "mlp.down_proj" => "ffn_down",
                other => other,
            };
            format!("blk.{i}.{part}")
        }
    };
    format!("{mapped}.{suffix}")
}

#[cfg(feature = "llm")]
/// Undoes llama.cpp's permutation of the rows of a q or k projection (weight or bias):
/// `rows = n_head × HeadDim`, each head's rows read as `(HeadDim/2, 2)` and written as
/// `(2, HeadDim/2)`.
pub(super) fn unpermute<T: Copy>(data: &mut [T], rows: usize, n_head: usize) {
    if n_head == 0 || !rows.is_multiple_of(2 * n_head) || data.is_empty() {
        return;
    }
    let cols = data.len() / rows;
    let half = rows / n_head / 2;
    let old = data.to_vec();
    for h in 0..n_head {
        for i in 0..half {
            for j in 0..2 {
                let from = h * 2 * half + i * 2 + j;
                let to = h * 2 * half + j * half + i;
                data[to * cols..(to + 1) * cols]
                    .copy_from_slice(&old[from * cols..(from + 1) * cols]);
            }
        }
    }
}

impl Source<'_> {
    /// The file's name of the parameter `name` (Hugging Face LLaMA's, without `model.`).
    pub(super) fn full_name(&self, name: &str) -> String {
        match self {
            Source::Hf(..) if name.starts_with("lm_head.") => name.to_owned(),
            Source::Hf(..) => format!("model.{name}"),
            #[cfg(feature = "llm")]
            Source::Gguf(..) => gguf_name(name),
        }
    }

    /// The heads the rows of the file's tensor `full` are grouped in when they are to be
    /// unpermuted (q and k of a GGUF of the `llama` architecture), or `None`.
    #[cfg(feature = "llm")]
    pub(super) fn permuted_heads(&self, full: &str) -> Option<usize> {
        match self {
            Source::Gguf(_, Some((heads, kv_heads))) => {
                if full.contains(".attn_q.") {
                    Some(*heads)
                } else if full.contains(".attn_k.") {
                    Some(*kv_heads)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// The parameter `name` of shape `shape` read in `T`, shape-checked (GGUF's q/k rows
    /// put back in Hugging Face's order), and the file's name of it.
    pub(super) fn load<S: Shape, T: Float>(
        &self,
        name: &str,
        shape: S,
    ) -> (String, Result<Tensor<S, T>, LoadError>) {
        let full = self.full_name(name);
        let loaded = match self {
            Source::Hf(file, at) => file
                .load_with(&full, shape)
                .map_err(|e| in_checkpoint(e, file, at, &full)),
            #[cfg(feature = "llm")]
            Source::Gguf(file, _) => file.load_with(&full, shape).map(|mut t| {
                if let Some(heads) = self.permuted_heads(&full) {
                    unpermute(t.as_mut_slice(), shape.dims()[0], heads);
                }
                t
            }),
        };
        (full, loaded)
    }
}

/// Reads every parameter from the source, shape-checked; the first error is kept.
struct Reader<'f> {
    source: Source<'f>,
    error: Option<LoadError>,
    /// The file names read, to find the strays.
    read: Vec<String>,
}

impl<'a, T: Float> ParamVisitorMut<'a, T> for Reader<'_> {
    fn visit<S: Shape>(&mut self, name: &str, p: &'a mut Param<S, T>) {
        if self.error.is_some() {
            return;
        }
        let shape = p.value().shape();
        let (full, loaded) = self.source.load(name, shape);
        self.read.push(full);
        match loaded {
            Ok(t) => *p.value_mut() = t,
            Err(e) => self.error = Some(e),
        }
    }
}

impl<D: DecoderDims, T: Float> Decoder<D, T>
where
    D::KvHeads: DividesHeads<D::Heads>,
{
    /// The decoder of a Hugging Face checkpoint directory: `config.json` (read by
    /// [`LlamaConfig`]: Llama, SmolLM2, TinyLlama, Qwen2, Mistral) and the weights in
    /// `F32`, `F16` or `BF16` (widened to `T` at load): `model.safetensors`, or, as the
    /// Hub ships larger models, the shards `model-0000i-of-0000n.safetensors` that
    /// `model.safetensors.index.json` lists ([`Checkpoint`]: the index and the shards are
    /// checked against each other before a tensor is read).
    ///
    /// `Err` when a file cannot be read, the configuration is invalid or disagrees with
    /// the dims of `D` ([`ModelError::Config`], naming the field and both values), asks
    /// for what the decoder does not do (biases on the FFN, a bias on the output
    /// projection: [`ModelError::InvalidConfig`]), a shard the index names is missing or
    /// the index and the shards disagree, or a tensor is missing, of another shape or
    /// dtype, or is not a parameter ([`ModelError::Weights`], naming the tensor and the
    /// file it is in, or the index when no shard holds it).
    pub fn from_hf_dir(dir: impl AsRef<Path>) -> Result<Self, ModelError> {
        let HfDir {
            config,
            config_path,
            weights,
            file,
        } = HfDir::open(dir.as_ref())?;
        let mut model = Self::for_config(&config, &config_path)?;
        let mut reader = Reader {
            source: Source::Hf(&file, &weights),
            error: None,
            read: Vec::new(),
        };
        model.visit_params_mut("", &mut reader);
        if let Some(e) = reader.error {
            return Err(ModelError::Weights(with_path(e, &weights)));
        }
        hf_strays(&file, &reader.read, &config, &weights)?;
        Ok(model)
    }

    #[cfg(feature = "llm")]
    /// The decoder of a GGUF file of the `llama` architecture (SmolLM2, Llama, TinyLlama,
    /// Mistral converted by llama.cpp) or `qwen2`, every tensor dequantized to `T`
    /// (`F32`, `F16`, `BF16`, `Q8_0`, `Q4_0`, `Q4_1`), the q/k rows of `llama` put back in
    /// Hugging Face's order as `transformers` does (each head's rows read as
    /// `(HeadDim/2, 2)` and written as `(2, HeadDim/2)`). The sizes, the norms' ε, RoPE's
    /// base and the context come from the metadata (`{arch}.embedding_length`,
    /// `.block_count`, `.feed_forward_length`, `.attention.head_count`,
    /// `.attention.head_count_kv`, `.attention.key_length`,
    /// `.attention.layer_norm_rms_epsilon`, `.rope.freq_base`, `.context_length`), the
    /// vocabulary from `token_embd`'s rows; the head is tied when there is no `output`
    /// tensor.
    ///
    /// `Err` as [`from_hf_dir`](Self::from_hf_dir) does, and when the file is not GGUF,
    /// its architecture is another, a metadata value is missing or out of range, or it
    /// asks for a RoPE scaling (`.rope.scaling.type`) other than `none` or `linear`.
    pub fn from_gguf(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let file = Gguf::open(path).map_err(ModelError::Weights)?;
        let config = gguf_config(&file, path)?;
        let mut model = Self::for_config(&config, path)?;
        let permute = (config.family == Family::Llama).then_some((config.heads, config.kv_heads));
        let mut reader = Reader {
            source: Source::Gguf(&file, permute),
            error: None,
            read: Vec::new(),
        };
        model.visit_params_mut("", &mut reader);
        if let Some(e) = reader.error {
            return Err(ModelError::Weights(with_path(e, path)));
        }
        gguf_strays(&file, &reader.read, &config, path)?;
        Ok(model)
    }

    /// A decoder of zeros shaped and configured as `config` says (what the loaders fill),
    /// its sizes checked against `D`; `path` names the configuration in errors.
    pub fn for_config(config: &LlamaConfig, path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path: PathBuf = path.as_ref().to_owned();
        let (dims, decoder_config) = checked_config::<D>(config, &path)?;
        let invalid = |field: &'static str, found: String, rule: &str| ModelError::InvalidConfig {
            path: path.clone(),
            field,
            found,
            rule: rule.to_owned(),
        };
        let mut model = Self::try_init_with(dims, decoder_config, 0).map_err(|e| {
            invalid(
                "num_key_value_heads",
                config.kv_heads.to_string(),
                &e.to_string(),
            )
        })?;
        for (b, &slides) in model.blocks.iter_mut().zip(&config.sliding_layers) {
            b.attn.window = if slides { config.sliding_window } else { None };
        }
        Ok(model)
    }
}

/// The dims and the decoder's configuration of `config` (read from `path`), checked
/// against `D` and against what the decoder does.
pub(super) fn checked_config<D: DecoderDims>(
    config: &LlamaConfig,
    path: &Path,
) -> Result<(D, DecoderConfig), ModelError> {
    let path: PathBuf = path.to_owned();
    let invalid = |field: &'static str, found: String, rule: &str| ModelError::InvalidConfig {
        path: path.clone(),
        field,
        found,
        rule: rule.to_owned(),
    };
    if config.mlp_bias {
        return Err(invalid(
            "mlp_bias",
            "true".into(),
            "false: the decoder's SwiGLU has no biases",
        ));
    }
    if config.o_bias {
        return Err(invalid(
            "attention_bias",
            "true".into(),
            "false: the decoder's output projection has no bias",
        ));
    }
    let sizes = [
        config.vocab_size,
        config.hidden_size,
        config.heads,
        config.kv_heads,
        config.head_dim,
        config.intermediate_size,
    ];
    let dims = D::with_sizes(sizes).map_err(|m| ModelError::Config {
        path: path.clone(),
        field: m.field,
        expected: m.expected.to_string(),
        found: m.found.to_string(),
    })?;
    let decoder_config = DecoderConfig {
        layers: config.layers,
        norm_eps: config.rms_norm_eps,
        rope_base: config.rope_theta,
        rope_layout: RopeLayout::HalfSplit,
        rope_scaling: config.rope_scaling,
        qkv_bias: config.qkv_bias,
        sliding_window: None,
        tied: config.tied,
        init_std: 0.0,
    };
    Ok((dims, decoder_config))
}

/// `Err` naming the first tensor of the Hugging Face checkpoint `file` that was not
/// `read` (nor a buffer `transformers` saves, nor a tied head).
pub(super) fn hf_strays(
    file: &Checkpoint,
    read: &[String],
    config: &LlamaConfig,
    weights: &Path,
) -> Result<(), ModelError> {
    let stray = file.names().into_iter().find(|n| {
        let known = read.iter().any(|r| r == n)
            || n.ends_with("rotary_emb.inv_freq")
            || (config.tied && *n == "lm_head.weight");
        !known
    });
    if let Some(extra) = stray {
        return Err(ModelError::Weights(LoadError::Checkpoint {
            path: Some(file.path_of(extra).unwrap_or(weights).to_owned()),
            detail: format!(
                "tensor `{extra}` is not a parameter of a {:?} decoder of {} layers{}",
                config.family,
                config.layers,
                if config.tied { " with a tied head" } else { "" }
            ),
        }));
    }
    Ok(())
}

#[cfg(feature = "llm")]
/// `Err` naming the first tensor of the GGUF `file` that was not `read` (nor RoPE's
/// frequencies).
pub(super) fn gguf_strays(
    file: &Gguf,
    read: &[String],
    config: &LlamaConfig,
    path: &Path,
) -> Result<(), ModelError> {
    let stray = file
        .tensor_names()
        .into_iter()
        .find(|n| !read.iter().any(|r| r == n) && !n.ends_with("rope_freqs.weight"));
    if let Some(extra) = stray {
        return Err(ModelError::Weights(LoadError::MalformedGguf {
            path: Some(path.to_owned()),
            detail: format!(
                "tensor `{extra}` is not a parameter of a decoder of {} layers",
                config.layers
            ),
        }));
    }
    Ok(())
}

/// `Err` unless the `hidden_act` of the `config.json` at `path` is SwiGLU's `silu` (or
/// absent, as the family's default): the decoder computes no other activation, and a
/// checkpoint trained with another would give wrong logits silently.
/// A Hugging Face directory opened: its `config.json` read and checked, the file that names
/// the weights (the single file first, as transformers and `Checkpoint::open` choose, else
/// the index) and the checkpoint itself.
pub(super) struct HfDir {
    pub(super) config: LlamaConfig,
    pub(super) config_path: PathBuf,
    pub(super) weights: PathBuf,
    pub(super) file: Checkpoint,
}

impl HfDir {
    pub(super) fn open(dir: &Path) -> Result<Self, ModelError> {
        let config_path = dir.join("config.json");
        let config = LlamaConfig::from_file(&config_path)?;
        check_activation(&config_path)?;
        let weights = match dir.join(SINGLE_FILE) {
            single if single.is_file() => single,
            _ => dir.join(INDEX_FILE),
        };
        let file = Checkpoint::open(dir).map_err(ModelError::Weights)?;
        Ok(HfDir {
            config,
            config_path,
            weights,
            file,
        })
    }
}

pub(super) fn check_activation(path: &Path) -> Result<(), ModelError> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::ConfigFile {
        path: path.to_owned(),
        detail: e.to_string(),
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ModelError::ConfigFile {
            path: path.to_owned(),
            detail: format!("not JSON: {e}"),
        })?;
    match value.get("hidden_act") {
        None | Some(serde_json::Value::Null) => Ok(()),
        Some(serde_json::Value::String(a)) if a == "silu" => Ok(()),
        Some(v) => Err(ModelError::InvalidConfig {
            path: path.to_owned(),
            field: "hidden_act",
            found: v.to_string(),
            rule: "\"silu\": the decoder's FFN is SwiGLU".into(),
        }),
    }
}

/// A tensor's load error from a checkpoint, naming the file: the shard that holds the
/// tensor, or `at` (the single file or the index) when none does.
pub(super) fn in_checkpoint(e: LoadError, file: &Checkpoint, at: &Path, name: &str) -> LoadError {
    match e {
        LoadError::Missing { .. } => LoadError::Checkpoint {
            path: Some(at.to_owned()),
            detail: match file.num_shards() {
                1 => format!("no tensor `{name}`, a parameter of the decoder"),
                n => format!(
                    "none of the {n} shards holds tensor `{name}`, a parameter of the decoder"
                ),
            },
        },
        e @ (LoadError::Shape { .. } | LoadError::Dtype { .. }) => LoadError::Checkpoint {
            path: Some(file.path_of(name).unwrap_or(at).to_owned()),
            detail: e.to_string(),
        },
        e => e,
    }
}

/// A load error with the file's path where it has none.
pub(super) fn with_path(e: LoadError, path: &Path) -> LoadError {
    match e {
        LoadError::Malformed { path: None, detail } => LoadError::Malformed {
            path: Some(path.to_owned()),
            detail,
        },
        e => e,
    }
}

#[cfg(feature = "llm")]
/// The configuration a GGUF file's metadata gives.
pub(super) fn gguf_config(file: &Gguf, path: &Path) -> Result<LlamaConfig, ModelError> {
    let meta = file.metadata();
    let weights = |e: LoadError| ModelError::Weights(e);
    let arch = meta.get_str("general.architecture").map_err(weights)?;
    let family = match arch {
        "llama" => Family::Llama,
        "qwen2" => Family::Qwen2,
        other => {
            return Err(ModelError::InvalidConfig {
                path: path.to_owned(),
                field: "general.architecture",
                found: format!("\"{other}\""),
                rule: "\"llama\" or \"qwen2\"".into(),
            })
        }
    };
    let key = |k: &str| format!("{arch}.{k}");
    let count = |k: &str| meta.get_usize(&key(k)).map_err(weights);
    let hidden = count("embedding_length")?;
    let heads = count("attention.head_count")?;
    let kv_heads = match meta.get(&key("attention.head_count_kv")) {
        Some(_) => count("attention.head_count_kv")?,
        None => heads,
    };
    let head_dim = match meta.get(&key("attention.key_length")) {
        Some(_) => count("attention.key_length")?,
        None if heads > 0 => hidden / heads,
        None => 0,
    };
    let float = |k: &str, or: Option<f64>| -> Result<f64, ModelError> {
        match (meta.get(&key(k)), or) {
            (None, Some(v)) => Ok(v),
            _ => meta.get_as::<f32>(&key(k)).map(f64::from).map_err(weights),
        }
    };
    let vocab = file
        .tensor_info("token_embd.weight")
        .and_then(|i| i.shape.first().copied())
        .ok_or_else(|| {
            ModelError::Weights(LoadError::Missing {
                name: "token_embd.weight".into(),
            })
        })?;
    let layers = count("block_count")?;
    let max_positions = count("context_length")?;
    let scaling = match meta.get(&key("rope.scaling.type")) {
        None => RopeScaling::None,
        Some(_) => match meta.get_str(&key("rope.scaling.type")).map_err(weights)? {
            "none" => RopeScaling::None,
            "linear" => RopeScaling::Linear {
                factor: float("rope.scaling.factor", None)?,
            },
            other => {
                return Err(ModelError::InvalidConfig {
                    path: path.to_owned(),
                    field: "rope.scaling.type",
                    found: format!("\"{other}\""),
                    rule: "\"none\" or \"linear\" (the other scalings load from a Hugging Face config.json)"
                        .into(),
                })
            }
        },
    };
    // The rules a config.json is held to, through the same reader.
    let text = serde_json::json!({
        "model_type": if family == Family::Qwen2 { "qwen2" } else { "llama" },
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": count("feed_forward_length")?,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": head_dim,
        "rms_norm_eps": float("attention.layer_norm_rms_epsilon", None)?,
        "rope_theta": float("rope.freq_base", Some(10_000.0))?,
        "max_position_embeddings": max_positions,
        "tie_word_embeddings": file.tensor_info("output.weight").is_none(),
    })
    .to_string();
    let mut config = LlamaConfig::from_json(&text, path)?;
    config.rope_scaling = scaling;
    Ok(config)
}

#[cfg(all(test, feature = "llm"))]
mod tests {
    use super::*;

    #[test]
    fn gguf_names_follow_llama_cpp() {
        assert_eq!(gguf_name("embed_tokens.weight"), "token_embd.weight");
        assert_eq!(
            gguf_name("layers.3.self_attn.k_proj.bias"),
            "blk.3.attn_k.bias"
        );
        assert_eq!(
            gguf_name("layers.0.mlp.down_proj.weight"),
            "blk.0.ffn_down.weight"
        );
        assert_eq!(
            gguf_name("layers.12.post_attention_layernorm.weight"),
            "blk.12.ffn_norm.weight"
        );
        assert_eq!(gguf_name("norm.weight"), "output_norm.weight");
        assert_eq!(gguf_name("lm_head.weight"), "output.weight");
    }

    /// llama.cpp's permutation (`convert_hf_to_gguf.py`: `w.reshape(n_head, 2, d/2, …)
    /// .swapaxes(1, 2)`) followed by the unpermutation is the identity.
    #[test]
    fn unpermute_undoes_llama_cpp() {
        let (n_head, hd, cols) = (3, 4, 2);
        let rows = n_head * hd;
        let hf: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
        let mut permuted = vec![0.0; hf.len()];
        for h in 0..n_head {
            for j in 0..2 {
                for i in 0..hd / 2 {
                    let from = h * hd + j * (hd / 2) + i;
                    let to = h * hd + i * 2 + j;
                    permuted[to * cols..(to + 1) * cols]
                        .copy_from_slice(&hf[from * cols..(from + 1) * cols]);
                }
            }
        }
        assert_ne!(permuted, hf);
        unpermute(&mut permuted, rows, n_head);
        assert_eq!(permuted, hf);
    }
}
