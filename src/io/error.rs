//! [`LoadError`]: why a weights file or one of its tensors could not be loaded.

use core::fmt;
use std::path::PathBuf;

use super::Dtype;

/// Why a weights file could not be opened, or a tensor could not be loaded from it.
///
/// Every message names what was expected and what was found; a tensor's message names the
/// tensor, and a shape's message prints the expected dims by name:
///
/// ```text
/// tensor `encoder.layer.0.attention.self.query.weight`: expected shape (DModel=384, DModel=384), file has [384, 512]
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The bytes are not a valid safetensors file: truncated, a header that is not JSON or
    /// does not describe the data, offsets out of range or overlapping, an unknown dtype.
    Malformed {
        /// The file, when the bytes came from one.
        path: Option<PathBuf>,
        /// What is wrong, naming the tensor when one is at fault.
        detail: String,
    },
    /// The bytes are not a valid GGUF file: a wrong magic or version, truncated, a count or
    /// length larger than the bytes left, an unknown value or tensor type, a tensor whose
    /// data is misaligned, overlaps another or ends past the file, a repeated key or name.
    MalformedGguf {
        /// The file, when the bytes came from one.
        path: Option<PathBuf>,
        /// What is wrong and where, naming the key or tensor at fault.
        detail: String,
    },
    /// A Hugging Face checkpoint whose files do not fit together: a directory with neither
    /// `model.safetensors` nor `model.safetensors.index.json`, an index that is not valid
    /// (not JSON, no `weight_map`, a shard name that is not a plain file name), a shard the
    /// index names that is missing, a tensor the index names that its shard lacks, or a
    /// tensor in a shard the index does not put it in.
    Checkpoint {
        /// The file (or directory) at fault, when the checkpoint was read from files.
        path: Option<PathBuf>,
        /// What is wrong, naming the shard and the tensor.
        detail: String,
    },
    /// The file holds no tensor of this name.
    Missing {
        /// The name asked for.
        name: String,
    },
    /// The tensor is stored in a dtype that cannot be converted to the element type asked
    /// for (only `F32`, `F16`, `BF16` and `F64` convert).
    Dtype {
        /// The tensor.
        name: String,
        /// The dtype in the file.
        found: Dtype,
        /// The element type asked for, `"f32"` or `"f64"`.
        requested: &'static str,
    },
    /// The tensor is stored in a type this version does not convert to floats (a GGUF
    /// tensor quantized as `Q4_K`, say).
    Unsupported {
        /// The tensor.
        name: String,
        /// The type in the file: `"Q4_K"`.
        found: String,
        /// The types that do load: `"F32, F16, BF16, Q8_0, Q4_0 and Q4_1"`.
        supported: &'static str,
    },
    /// The file's metadata has no entry of this key.
    MissingKey {
        /// The key asked for: `llama.block_count`.
        key: String,
    },
    /// The file's metadata has this key, but its value is of another type than the one
    /// asked for.
    KeyType {
        /// The key.
        key: String,
        /// The type asked for, as the format names it: `UINT32`.
        expected: String,
        /// The type in the file: `UINT64`, `ARRAY of STRING`.
        found: String,
    },
    /// A setting recorded in the file's metadata differs from the one of the value it is
    /// loaded into (an adapter's `lora_alpha`, say), which would change its outputs.
    Mismatch {
        /// What was being loaded: `adapter `layers.0.self_attn.q_proj``.
        item: String,
        /// The setting, as the file's metadata spells it (`lora_alpha`).
        field: String,
        /// The value of the value loaded into.
        expected: String,
        /// The value in the file.
        found: String,
    },
    /// The tensor's shape in the file differs from the shape asked for.
    Shape {
        /// The tensor.
        name: String,
        /// The shape asked for, as its dims print: `(Vocab=30522, Hidden=384)`.
        expected: String,
        /// The shape in the file.
        found: Vec<usize>,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io { path, source } => {
                write!(f, "cannot read `{}`: {source}", path.display())
            }
            LoadError::Malformed { path, detail } => match path {
                Some(path) => write!(
                    f,
                    "`{}` is not a valid safetensors file: {detail}",
                    path.display()
                ),
                None => write!(f, "not a valid safetensors file: {detail}"),
            },
            LoadError::MalformedGguf { path, detail } => match path {
                Some(path) => write!(f, "`{}` is not a valid GGUF file: {detail}", path.display()),
                None => write!(f, "not a valid GGUF file: {detail}"),
            },
            LoadError::Checkpoint { path, detail } => match path {
                Some(path) => write!(f, "checkpoint `{}`: {detail}", path.display()),
                None => write!(f, "checkpoint: {detail}"),
            },
            LoadError::Unsupported {
                name,
                found,
                supported,
            } => write!(
                f,
                "tensor `{name}`: stored as {found}, which does not load yet (only {supported} do)"
            ),
            LoadError::MissingKey { key } => write!(f, "no metadata key `{key}` in the file"),
            LoadError::KeyType {
                key,
                expected,
                found,
            } => write!(f, "metadata `{key}` is {found}, not {expected}"),
            LoadError::Missing { name } => write!(f, "no tensor named `{name}` in the file"),
            LoadError::Dtype {
                name,
                found,
                requested,
            } => write!(
                f,
                "tensor `{name}`: stored as {found}, which does not convert to {requested} \
                 (F32, F16, BF16 and F64 do)"
            ),
            LoadError::Mismatch {
                item,
                field,
                expected,
                found,
            } => write!(
                f,
                "{item}: `{field}` is {found} in the file, but {expected} here; nothing was \
                 loaded"
            ),
            LoadError::Shape {
                name,
                expected,
                found,
            } => write!(
                f,
                "tensor `{name}`: expected shape {expected}, file has {found:?}"
            ),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
