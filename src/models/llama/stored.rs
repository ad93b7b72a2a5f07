//! Loading a LLaMA-family checkpoint into a decoder of stored weights
//! (`Decoder<D, f32, Stored>`, inference only): each matrix kept in its file's own type
//! ([`LoadDtype::Stored`]: a GGUF's Q4_1/Q8_0/Q4_0/F16/BF16/F32 blocks as they are, a
//! Hugging Face checkpoint's F32/BF16/F16) or converted at load to one type
//! ([`LoadDtype::To`]); the norms and biases in f32. The same names, shape checks, q/k row
//! order and stray-tensor checks as the dense loaders (`load.rs`), tensor by tensor.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use super::config::{Family, LlamaConfig};
use super::load::{
    checked_config, gguf_config, gguf_strays, hf_strays, unpermute, with_path, HfDir, Source,
};
use crate::dim::{Dim, Times};
use crate::io::{Dtype, GgmlType, Gguf, LoadError};
use crate::models::decoder::{checked_rope, Block, Decoder, DecoderDims, DividesHeads};
use crate::models::ModelError;
use crate::nn::ffn::SwiGlu;
use crate::nn::lora::MlpAdapters;
use crate::nn::norm::RmsNorm;
use crate::nn::self_attention::SelfAttention;
use crate::nn::stored::{Stored, StoredEmbedding, StoredLinear};
use crate::quant::{LoadDtype, QuantKernel, StoredType, StoredWeight};
use crate::tensor::Tensor;

/// A matrix as the file holds it: bytes in a GGUF type, or f32 values read from a
/// checkpoint whose own type was `F32`, `BF16` or `F16`.
enum Raw<O: Dim, I: Dim> {
    Bytes(Vec<u8>),
    /// A range of the file's buffer, shared.
    Shared(Arc<Vec<u8>>, Range<usize>),
    Values(Tensor<(O, I)>),
}

/// Reads a decoder's weights, one tensor at a time, into the types `dtype` asks for.
struct StoredReader<'f> {
    source: Source<'f>,
    dtype: LoadDtype,
    /// The file's names read, to find the strays.
    read: Vec<String>,
    /// The file, named in errors.
    path: &'f Path,
}

impl StoredReader<'_> {
    /// A norm weight or a bias, in f32.
    fn vector<X: Dim>(&mut self, name: &str, x: X) -> Result<Tensor<(X,)>, ModelError> {
        let (full, t) = self.source.load(name, (x,));
        self.read.push(full);
        t.map_err(|e| ModelError::Weights(with_path(e, self.path)))
    }

    /// The matrix `name` of shape `(O, I)` in its file's type or the one asked for.
    fn matrix<O: Dim, I: Dim>(
        &mut self,
        name: &str,
        shape: (O, I),
    ) -> Result<StoredWeight<O, I>, ModelError> {
        let full = self.source.full_name(name);
        let (own, raw) = match &self.source {
            Source::Gguf(file, _) => 'gguf: {
                let info = file
                    .tensor_info(&full)
                    .ok_or_else(|| LoadError::Missing { name: full.clone() })?;
                let Some(own) = StoredType::from_ggml(info.ggml_type) else {
                    // No stored format: the values, stored below in the type asked for.
                    let values = self.dequantized(name, &full, info.ggml_type, shape)?;
                    break 'gguf (StoredType::F32, Raw::Values(values));
                };
                if info.shape != [shape.0.size(), shape.1.size()] {
                    return Err(LoadError::Shape {
                        name: full,
                        expected: format!("{shape:?}"),
                        found: info.shape,
                    }
                    .into());
                }
                let range = file.tensor_range(&full).unwrap_or_default();
                match self.source.permuted_heads(&full) {
                    Some(heads) => {
                        // Each row is whole blocks: the rows move as the values' rows do.
                        let mut bytes = file.shared_bytes()[range].to_vec();
                        unpermute(&mut bytes, shape.0.size(), heads);
                        (own, Raw::Bytes(bytes))
                    }
                    None => (own, Raw::Shared(file.shared_bytes(), range)),
                }
            }
            Source::Hf(file, _) => {
                let own = match file.info(&full).map(|i| i.dtype) {
                    Some(Dtype::BF16) => StoredType::Bf16,
                    Some(Dtype::F16) => StoredType::F16,
                    _ => StoredType::F32,
                };
                let (_, t) = self.source.load(name, shape);
                (own, Raw::Values(t.map_err(|e| with_path(e, self.path))?))
            }
        };
        self.read.push(full.clone());
        let to = match self.dtype {
            LoadDtype::Stored => own,
            LoadDtype::To(t) => t,
        };
        let stored = match raw {
            Raw::Bytes(b) if to == own => StoredWeight::try_from_bytes(shape, own, b),
            Raw::Shared(b, r) if to == own => StoredWeight::try_from_shared(shape, own, b, r),
            Raw::Bytes(b) => StoredWeight::try_from_bytes(shape, own, b)
                .and_then(|w| StoredWeight::try_from_f32(w.dequantize(), to)),
            Raw::Shared(b, r) => StoredWeight::try_from_shared(shape, own, b, r)
                .and_then(|w| StoredWeight::try_from_f32(w.dequantize(), to)),
            Raw::Values(t) => StoredWeight::try_from_f32(t, to),
        };
        stored.map_err(|e| ModelError::InvalidConfig {
            path: self.path.to_owned(),
            field: "dtype",
            found: to.to_string(),
            rule: format!("a type whose blocks divide the width of tensor `{full}` ({e})"),
        })
    }

    /// A GGUF matrix in a type with no stored format (Q5_0, Q5_1, the k-quants),
    /// dequantized to f32 at load, for a `LoadDtype::To`: `LoadDtype::Stored` names no type
    /// to store it in (an `Err` saying so); a type that does not load at all is the reader's
    /// `Unsupported`.
    fn dequantized<O: Dim, I: Dim>(
        &self,
        name: &str,
        full: &str,
        ty: GgmlType,
        shape: (O, I),
    ) -> Result<Tensor<(O, I)>, ModelError> {
        if self.dtype == LoadDtype::Stored {
            if !ty.is_loadable() {
                return Err(LoadError::Unsupported {
                    name: full.to_owned(),
                    found: ty.name().to_owned(),
                    supported: "F32, F16, BF16, Q8_0, Q4_0 and Q4_1 as they are, Q5_0, Q5_1, \
                                Q4_K, Q5_K and Q6_K converted",
                }
                .into());
            }
            return Err(ModelError::InvalidConfig {
                path: self.path.to_owned(),
                field: "dtype",
                found: "stored".to_owned(),
                rule: format!(
                    "a type to convert to: tensor `{full}` is {ty}, which is not kept in its \
                     own blocks (F32, F16, BF16, Q8_0, Q4_0 and Q4_1 are); ask for f32, bf16, \
                     f16, q8_0, q4_0 or q4_1 (`LoadDtype::To`, chat's `--dtype`)"
                ),
            });
        }
        let (_, values) = self.source.load(name, shape);
        values.map_err(|e| ModelError::Weights(with_path(e, self.path)))
    }

    /// A projection `name` (`….q_proj`): its weight `(O, I)` and, with `bias`, its bias.
    fn linear<I: Dim, O: Dim>(
        &mut self,
        name: &str,
        (din, dout): (I, O),
        bias: bool,
    ) -> Result<StoredLinear<I, O>, ModelError> {
        Ok(StoredLinear {
            weight: self.matrix(&format!("{name}.weight"), (dout, din))?,
            bias: match bias {
                true => Some(self.vector(&format!("{name}.bias"), dout)?),
                false => None,
            },
        })
    }
}

impl<D: DecoderDims> Decoder<D, f32, Stored>
where
    D::KvHeads: DividesHeads<D::Heads>,
{
    /// The decoder of a GGUF file (as [`from_gguf`](Decoder::from_gguf) reads it) with its
    /// matrices stored as `dtype` says: [`LoadDtype::Stored`] keeps each tensor's own type
    /// (SmolLM2-135M's Q4_1 projections and Q8_0 embedding: the weights take the file's
    /// size), [`LoadDtype::To`] converts every matrix at load. The norms are f32.
    ///
    /// `Err` as [`from_gguf`](Decoder::from_gguf), and when a tensor's type is not one of
    /// F32, F16, BF16, Q8_0, Q4_0, Q4_1 ([`LoadError::Unsupported`]) or the type asked for
    /// stores blocks that do not divide a tensor's width (naming both).
    pub fn from_gguf_with(path: impl AsRef<Path>, dtype: LoadDtype) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let file = Gguf::open(path).map_err(ModelError::Weights)?;
        Self::from_gguf_file_with(&file, path, dtype)
    }

    /// [`from_gguf_with`](Self::from_gguf_with) from a file already read (`path` names it
    /// in errors), e.g. the one its tokenizer was read from: the weights kept in their
    /// stored types point into the file's buffer
    /// ([`Gguf::shared_bytes`](crate::io::Gguf::shared_bytes)) rather than copy it, so the
    /// file is in memory once, loading and after.
    pub fn from_gguf_file_with(
        file: &Gguf,
        path: impl AsRef<Path>,
        dtype: LoadDtype,
    ) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let config = gguf_config(file, path)?;
        let permute = (config.family == Family::Llama).then_some((config.heads, config.kv_heads));
        let mut reader = StoredReader {
            source: Source::Gguf(file, permute),
            dtype,
            read: Vec::new(),
            path,
        };
        let model = Self::read_stored(&mut reader, &config, path)?;
        gguf_strays(file, &reader.read, &config, path)?;
        Ok(model)
    }

    /// The decoder of a Hugging Face checkpoint directory (as
    /// [`from_hf_dir`](Decoder::from_hf_dir) reads it) with its matrices in their files'
    /// types (F32, BF16, F16: [`LoadDtype::Stored`]) or converted at load
    /// ([`LoadDtype::To`]). `Err` as [`from_hf_dir`](Decoder::from_hf_dir), and when the
    /// type asked for stores blocks that do not divide a tensor's width.
    pub fn from_hf_dir_with(dir: impl AsRef<Path>, dtype: LoadDtype) -> Result<Self, ModelError> {
        let HfDir {
            config,
            config_path,
            weights,
            file,
        } = HfDir::open(dir.as_ref())?;
        let mut reader = StoredReader {
            source: Source::Hf(&file, &weights),
            dtype,
            read: Vec::new(),
            path: &weights,
        };
        let model = Self::read_stored(&mut reader, &config, &config_path)?;
        hf_strays(&file, &reader.read, &config, &weights)?;
        Ok(model)
    }

    /// Runs every block and half product on `kernel` ([`StoredWeight::set_kernel`]):
    /// [`QuantKernel::DequantF32`] keeps the activations f32 where the fastest kernels
    /// round them to 8 bits per block of 32, as llama.cpp does.
    pub fn set_quant_kernel(&mut self, kernel: QuantKernel) {
        self.embedding.table.set_kernel(kernel);
        for b in &mut self.blocks {
            let (a, f) = (&mut b.attn, &mut b.ffn);
            a.wq.weight.set_kernel(kernel);
            a.wk.weight.set_kernel(kernel);
            a.wv.weight.set_kernel(kernel);
            a.wo.weight.set_kernel(kernel);
            f.gate.weight.set_kernel(kernel);
            f.up.weight.set_kernel(kernel);
            f.down.weight.set_kernel(kernel);
        }
        if let Some(h) = &mut self.head {
            h.weight.set_kernel(kernel);
        }
    }

    /// Every weight of the decoder `config` describes, read by `reader`.
    fn read_stored(
        reader: &mut StoredReader<'_>,
        config: &LlamaConfig,
        path: &Path,
    ) -> Result<Self, ModelError> {
        let (dims, dc) = checked_config::<D>(config, path)?;
        let rope = checked_rope(dims, &dc).map_err(|e| ModelError::InvalidConfig {
            path: path.to_owned(),
            field: "num_key_value_heads",
            found: config.kv_heads.to_string(),
            rule: e.to_string(),
        })?;
        let (m, f, eps) = (dims.model(), dims.ffn(), dc.norm_eps);
        let heads = (dims.heads(), dims.kv_heads(), dims.head_dim());
        let (q, kv) = (Times::of(heads.0, heads.2), Times::of(heads.1, heads.2));
        let table = reader.matrix("embed_tokens.weight", (dims.vocab(), m))?;
        let mut blocks = Vec::with_capacity(config.layers);
        for l in 0..config.layers {
            let p = |s: &str| format!("layers.{l}.{s}");
            let bias = dc.qkv_bias;
            let projections = (
                reader.linear(&p("self_attn.q_proj"), (m, q), bias)?,
                reader.linear(&p("self_attn.k_proj"), (m, kv), bias)?,
                reader.linear(&p("self_attn.v_proj"), (m, kv), bias)?,
                reader.linear(&p("self_attn.o_proj"), (q, m), false)?,
            );
            let mut attn = SelfAttention::new(projections, heads)?;
            attn.window = match config.sliding_layers.get(l) {
                Some(true) => config.sliding_window,
                _ => None,
            };
            blocks.push(Block {
                attn_norm: RmsNorm::new(reader.vector(&p("input_layernorm.weight"), m)?, eps),
                attn,
                ffn_norm: RmsNorm::new(
                    reader.vector(&p("post_attention_layernorm.weight"), m)?,
                    eps,
                ),
                ffn: SwiGlu {
                    gate: reader.linear(&p("mlp.gate_proj"), (m, f), false)?,
                    up: reader.linear(&p("mlp.up_proj"), (m, f), false)?,
                    down: reader.linear(&p("mlp.down_proj"), (f, m), false)?,
                },
                mlp_lora: MlpAdapters::none(),
            });
        }
        let norm = RmsNorm::new(reader.vector("norm.weight", m)?, eps);
        let head = match dc.tied {
            true => None,
            false => Some(reader.linear("lm_head", (m, dims.vocab()), false)?),
        };
        Ok(Decoder::from_parts(
            (StoredEmbedding { table }, blocks, norm, head),
            rope,
            dc,
            dims,
        ))
    }
}
