//! Loading weights (safetensors, one file or a sharded Hugging Face checkpoint:
//! [`Checkpoint`]; GGUF with the `llm` feature: [`Gguf`]) into typed tensors,
//! and saving them ([`SafetensorsWriter`]; a float32 matrix also as NumPy's `.npy`,
//! streamed: [`NpyWriter`]).
//!
//! A weights file has no types, so its shapes are checked at run time, once, at the
//! boundary: [`SafeTensors::open`] reads a file and validates its whole header (any defect
//! is a [`LoadError::Malformed`], never a panic), then [`SafeTensors::load`] gives a
//! [`Tensor`](crate::Tensor) of the shape the model's types say, or a [`LoadError`] naming
//! the tensor, the shape asked for and the shape in the file. From there on, shapes are
//! checked by the compiler.
//!
//! Stored `F32`, `F16`, `BF16` and `F64` elements convert to `f32` or `f64`; the half
//! precision formats are decoded from their bit layouts ([`f16_bits_to_f32`],
//! [`bf16_bits_to_f32`]), subnormals, infinities and NaNs included.
//!
//! ```
//! use shapecheck::io::{LoadError, SafeTensors};
//! use shapecheck::prelude::*;
//!
//! dim!(pub Vocab = 4);
//! dim!(pub Hidden = 2);
//!
//! // A file with one F16 tensor [4, 2], built in memory: the header length (u64, little
//! // endian), the JSON header, then the data.
//! let header = br#"{"embeddings":{"dtype":"F16","shape":[4,2],"data_offsets":[0,16]}}"#;
//! let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
//! bytes.extend_from_slice(header);
//! for h in [0x3C00u16, 0x4000, 0x4200, 0x4400, 0xBC00, 0x0000, 0x8000, 0x3800] {
//!     bytes.extend_from_slice(&h.to_le_bytes()); // 1, 2, 3, 4, -1, 0, -0, 0.5
//! }
//! let file = SafeTensors::from_bytes(bytes)?;
//!
//! let emb: Tensor<(Vocab, Hidden)> = file.load("embeddings")?;
//! assert_eq!(emb[[1, 1]], 4.0);
//! assert_eq!(emb[[3, 1]], 0.5);
//!
//! // The model's types disagree with the file: an error, naming both shapes.
//! dim!(pub Seq = 8);
//! let err = file.load::<(Seq, Hidden), f32>("embeddings").unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "tensor `embeddings`: expected shape (Seq=8, Hidden=2), file has [4, 2]"
//! );
//! assert!(matches!(
//!     file.load::<(Vocab, Hidden), f32>("pooler.weight"),
//!     Err(LoadError::Missing { .. })
//! ));
//!
//! // A truncated file is an error, not a panic.
//! let mut cut = (header.len() as u64).to_le_bytes().to_vec();
//! cut.extend_from_slice(header);
//! assert!(matches!(
//!     SafeTensors::from_bytes(cut),
//!     Err(LoadError::Malformed { .. })
//! ));
//! # Ok::<(), LoadError>(())
//! ```

mod checkpoint;
mod dtype;
mod error;
#[cfg(feature = "llm")]
mod gguf;
mod npy;
mod safetensors;
pub(crate) mod strict_json;
mod writer;

pub use checkpoint::{Checkpoint, ShardIndex, INDEX_FILE, SINGLE_FILE};
pub use dtype::{bf16_bits_to_f32, f16_bits_to_f32, Dtype};
pub use error::LoadError;
#[cfg(feature = "llm")]
pub use gguf::{FromMeta, GgmlType, Gguf, GgufTensorInfo, MetaArray, MetaValue, Metadata};
// The block decoding that `quant::Quantized::dequantize` shares with the GGUF reader.
#[cfg(feature = "llm")]
pub(crate) use gguf::dequant::dequantize;
pub use npy::NpyWriter;
pub use safetensors::{SafeTensors, TensorInfo};
pub use writer::{SafetensorsWriter, SaveError};
