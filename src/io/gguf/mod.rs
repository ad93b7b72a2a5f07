//! [`Gguf`]: a GGUF file (llama.cpp's format, versions 2 and 3) read and validated up
//! front, whose metadata is read with typed getters and whose tensors load by name into
//! typed [`Tensor`]s, dequantized to floats.
//!
//! The format, little-endian throughout: the magic `GGUF`, a `u32` version, a `u64` tensor
//! count and a `u64` metadata count; the metadata entries (a string key, a `u32` value
//! type, the value: integers, floats, bools, strings as a `u64` length and UTF-8 bytes, or
//! an array of one element type, arrays of arrays included); one info per tensor (name, a
//! `u32` number of dims, the dims as `u64`s **innermost first**, a `u32` ggml type, a `u64`
//! offset); padding to the alignment (`general.alignment`, 32 unless the file says
//! otherwise); then the data, each tensor's offset counted from its start and a multiple
//! of the alignment.
//!
//! Shapes here are row-major, outermost first, like every shape in this crate: GGUF's
//! dims `[576, 49152]` (ne[0] = 576, the row length) are the shape `[49152, 576]`, which
//! loads as a `Tensor<(Vocab, Hidden)>`.
//!
//! [`Gguf::from_bytes`] checks the whole header before any tensor is read (`parse.rs`
//! lists the rules): a malformed or truncated file is a
//! [`LoadError::MalformedGguf`], never a panic, and no number in it sizes an allocation
//! before it is compared with the bytes that are there. `F32`, `F16`, `BF16`, `Q8_0`,
//! `Q4_0`, `Q4_1`, `Q5_0`, `Q5_1`, `Q4_K`, `Q5_K` and `Q6_K` tensors dequantize to `f32` or
//! `f64` at load (`dequant.rs` gives the block layouts); a tensor of another type (`Q2_K`,
//! `Q3_K`, the i-quants, …) is a [`LoadError::Unsupported`]
//! naming the tensor and its type, while the file still opens and its other tensors load.
//!
//! This module sits behind the `llm` cargo feature (on by default).

pub(crate) mod dequant;
mod metadata;
mod parse;
mod types;
mod vocab;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use metadata::{FromMeta, MetaArray, MetaValue, Metadata};
pub use types::GgmlType;

use super::LoadError;
use crate::element::Float;
use crate::shape::{Shape, StaticShape};
use crate::tensor::Tensor;
use parse::Entry;

/// The type and shape of a tensor of a GGUF file.
///
/// ```
/// use shapecheck::io::{GgmlType, GgufTensorInfo};
/// let info = GgufTensorInfo { ggml_type: GgmlType::Q4_1, shape: vec![49152, 576] };
/// assert_eq!(info.num_elements(), Some(49152 * 576));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GgufTensorInfo {
    /// How the elements are stored.
    pub ggml_type: GgmlType,
    /// The size of each axis, outermost first (the reverse of GGUF's `ne`); empty for a
    /// scalar.
    pub shape: Vec<usize>,
}

impl GgufTensorInfo {
    /// Product of the sizes (1 for a scalar), `None` if it overflows (never for a tensor of
    /// an opened file).
    pub fn num_elements(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
    }
}

/// A GGUF file: its bytes, its metadata and its validated tensor index.
///
/// ```
/// use shapecheck::io::{GgmlType, Gguf, LoadError};
/// use shapecheck::prelude::*;
///
/// // A GGUF v3 file built by hand: one metadata entry and one Q8_0 tensor of 2 rows of
/// // 32, whose GGUF dims are [32, 2] (innermost first).
/// fn string(out: &mut Vec<u8>, s: &str) {
///     out.extend((s.len() as u64).to_le_bytes());
///     out.extend(s.as_bytes());
/// }
/// let mut bytes = b"GGUF".to_vec();
/// bytes.extend(3u32.to_le_bytes()); // version
/// bytes.extend(1u64.to_le_bytes()); // tensors
/// bytes.extend(1u64.to_le_bytes()); // metadata entries
/// string(&mut bytes, "llama.block_count");
/// bytes.extend(4u32.to_le_bytes()); // UINT32
/// bytes.extend(30u32.to_le_bytes());
/// string(&mut bytes, "w");
/// bytes.extend(2u32.to_le_bytes()); // 2 dims
/// bytes.extend(32u64.to_le_bytes());
/// bytes.extend(2u64.to_le_bytes());
/// bytes.extend(8u32.to_le_bytes()); // Q8_0
/// bytes.extend(0u64.to_le_bytes()); // offset
/// bytes.resize(bytes.len().next_multiple_of(32), 0); // align the data
/// for scale in [0x3C00u16, 0xB800] {
///     // one block per row: an f16 scale (1.0, then -0.5), 32 signed bytes
///     bytes.extend(scale.to_le_bytes());
///     bytes.extend((0..32).map(|q: i8| q as u8));
/// }
///
/// let file = Gguf::from_bytes(bytes)?;
/// assert_eq!(file.metadata().get_u32("llama.block_count")?, 30);
/// assert_eq!(file.tensor_names(), ["w"]);
/// assert_eq!(file.tensor_info("w").unwrap().ggml_type, GgmlType::Q8_0);
///
/// dim!(pub Rows = 2);
/// dim!(pub Cols = 32);
/// let w: Tensor<(Rows, Cols)> = file.load("w")?;
/// assert_eq!(w[[0, 5]], 5.0);
/// assert_eq!(w[[1, 5]], -2.5);
///
/// // The model's types disagree with the file: an error naming both shapes.
/// let err = file.load::<(Cols, Rows), f32>("w").unwrap_err();
/// assert_eq!(err.to_string(), "tensor `w`: expected shape (Cols=32, Rows=2), file has [2, 32]");
/// # Ok::<(), LoadError>(())
/// ```
pub struct Gguf {
    /// The whole file, shared with the weights that keep their blocks in it
    /// ([`shared_bytes`](Gguf::shared_bytes)).
    bytes: std::sync::Arc<Vec<u8>>,
    version: u32,
    alignment: usize,
    data_start: usize,
    metadata: Metadata,
    tensors: Vec<Entry>,
    index: BTreeMap<String, usize>,
}

impl core::fmt::Debug for Gguf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Gguf")
            .field("bytes", &self.bytes.len())
            .field("version", &self.version)
            .field("alignment", &self.alignment)
            .field("metadata keys", &self.metadata.len())
            .field(
                "tensors",
                &self
                    .tensors
                    .iter()
                    .map(|e| (&e.name, e.ggml_type, &e.shape))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Gguf {
    /// Reads and validates the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(bytes, Some(path))
    }

    /// Validates the bytes of a whole file: header, metadata, tensor infos, alignment and
    /// every tensor's place in the data. Any defect is [`LoadError::MalformedGguf`], whose
    /// message says what is wrong and where (`tensor `blk.0.attn_q.weight`: its data
    /// offset 100 is not a multiple of the alignment 32`).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, LoadError> {
        Self::parse(bytes, None)
    }

    fn parse(bytes: Vec<u8>, path: Option<&Path>) -> Result<Self, LoadError> {
        match parse::parse_header(&bytes) {
            Ok(h) => Ok(Gguf {
                bytes: std::sync::Arc::new(bytes),
                version: h.version,
                alignment: h.alignment,
                data_start: h.data_start,
                metadata: h.metadata,
                tensors: h.tensors,
                index: h.index,
            }),
            Err(detail) => Err(LoadError::MalformedGguf {
                path: path.map(PathBuf::from),
                detail,
            }),
        }
    }

    /// The format version, 2 or 3.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The alignment of the data section and of each tensor in it, in bytes.
    pub fn alignment(&self) -> usize {
        self.alignment
    }

    /// Where the data section begins, in bytes from the start of the file.
    pub fn data_offset(&self) -> usize {
        self.data_start
    }

    /// The metadata, with typed getters: `file.metadata().get_u32("llama.block_count")?`.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The names of the tensors, in the file's order.
    pub fn tensor_names(&self) -> Vec<&str> {
        self.tensors.iter().map(|e| e.name.as_str()).collect()
    }

    fn entry(&self, name: &str) -> Option<&Entry> {
        self.index.get(name).map(|&i| &self.tensors[i])
    }

    /// The type and row-major shape of tensor `name`, or `None` if the file lacks it.
    pub fn tensor_info(&self, name: &str) -> Option<GgufTensorInfo> {
        self.entry(name).map(|e| GgufTensorInfo {
            ggml_type: e.ggml_type,
            shape: e.shape.clone(),
        })
    }

    /// The stored bytes of tensor `name` (blocks of its ggml type, as in the file).
    pub fn tensor_data(&self, name: &str) -> Option<&[u8]> {
        self.entry(name).map(|e| &self.bytes[e.begin..e.end])
    }

    /// Where the bytes of tensor `name` lie in [`shared_bytes`](Self::shared_bytes).
    pub fn tensor_range(&self, name: &str) -> Option<core::ops::Range<usize>> {
        self.entry(name).map(|e| e.begin..e.end)
    }

    /// The file's bytes, shared: a weight that keeps its blocks as the file stores them
    /// can point into them instead of copying them (the buffer lives while one does).
    pub fn shared_bytes(&self) -> std::sync::Arc<Vec<u8>> {
        std::sync::Arc::clone(&self.bytes)
    }

    /// Loads tensor `name` as a tensor of static shape `S`, dequantized to `T`; see
    /// [`load_with`](Self::load_with) for the errors.
    pub fn load<S: StaticShape, T: Float>(&self, name: &str) -> Result<Tensor<S, T>, LoadError> {
        self.load_with(name, S::default())
    }

    /// Loads tensor `name` as a tensor of shape `shape`, whose runtime dims carry their
    /// sizes, dequantizing `F32`, `F16`, `BF16`, `Q8_0`, `Q4_0` or `Q4_1` elements to `T`
    /// (`F32`, `F16` and `BF16` exactly; the block formats as ggml computes them in `f32`).
    ///
    /// `Err` when the file has no such tensor ([`LoadError::Missing`]), stores it in a
    /// type that does not load ([`LoadError::Unsupported`], naming the tensor and the
    /// type), or with another rank or size on any axis ([`LoadError::Shape`], naming the
    /// tensor and both shapes, the file's row-major).
    pub fn load_with<S: Shape, T: Float>(
        &self,
        name: &str,
        shape: S,
    ) -> Result<Tensor<S, T>, LoadError> {
        let entry = self.entry(name).ok_or_else(|| LoadError::Missing {
            name: name.to_owned(),
        })?;
        let unsupported = || LoadError::Unsupported {
            name: name.to_owned(),
            found: entry.ggml_type.name().to_owned(),
            supported: types::LOADABLE,
        };
        if !entry.ggml_type.is_loadable() {
            return Err(unsupported());
        }
        if shape.dims().as_slice() != entry.shape.as_slice() {
            return Err(LoadError::Shape {
                name: name.to_owned(),
                expected: format!("{shape:?}"),
                found: entry.shape.clone(),
            });
        }
        let data = dequant::dequantize(entry.ggml_type, &self.bytes[entry.begin..entry.end])
            .ok_or_else(unsupported)?;
        debug_assert_eq!(data.len(), entry.elements);
        Tensor::from_vec_with(shape, data).map_err(|e| LoadError::MalformedGguf {
            path: None,
            detail: format!("tensor `{name}`: {e}"),
        })
    }
}
