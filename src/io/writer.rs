//! [`SafetensorsWriter`]: named `f32`/`f64` tensors of any shape type written as one
//! safetensors file, the counterpart of [`SafeTensors`](super::SafeTensors).
//!
//! The file is the standard format: an 8-byte little-endian header length, a JSON header
//! whose keys are sorted (`__metadata__` among them when there is metadata), padded with
//! spaces so that the data starts at a multiple of 8 bytes, then the data, little-endian.
//! `F64` tensors are laid out before `F32` ones (each group sorted by name), as the
//! reference implementation does, so that every tensor starts at a multiple of its own
//! element size. Writing never panics: a name given twice, a reserved name or a failed
//! write is a [`SaveError`].

use core::fmt;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::Dtype;
use crate::element::Float;
use crate::shape::Shape;
use crate::tensor::AsView;

/// Why a safetensors file could not be written.
#[derive(Debug)]
#[non_exhaustive]
pub enum SaveError {
    /// Two tensors were given the same name.
    Duplicate {
        /// The name.
        name: String,
    },
    /// The name `__metadata__` is reserved by the format for the metadata map.
    Reserved {
        /// The name.
        name: String,
    },
    /// A metadata entry cannot take what is recorded in it (two adapters of one file
    /// that disagree on a setting the file records once).
    Metadata {
        /// The metadata key.
        key: String,
        /// What is wrong.
        detail: String,
    },
    /// The file could not be written.
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

impl fmt::Display for SaveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaveError::Duplicate { name } => {
                write!(f, "tensor `{name}` is given twice: names must be unique")
            }
            SaveError::Reserved { name } => write!(
                f,
                "`{name}` cannot name a tensor: the format reserves it for the metadata"
            ),
            SaveError::Metadata { key, detail } => write!(f, "metadata `{key}`: {detail}"),
            SaveError::Io { path, source } => {
                write!(f, "cannot write `{}`: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for SaveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SaveError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// One tensor to write: its dtype, dims and little-endian bytes.
#[derive(Clone, Debug)]
struct Stored {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

/// A safetensors file being assembled: named tensors and string metadata.
///
/// ```
/// use shapecheck::io::{SafeTensors, SafetensorsWriter};
/// use shapecheck::prelude::*;
///
/// dim!(pub Out = 2; pub In = 3);
/// let w = Tensor::<(Out, In)>::from_vec(vec![1., 2., 3., 4., 5., 6.]).unwrap();
/// let b = Tensor::<(Out,), f64>::from_vec(vec![0.5, -0.5]).unwrap();
///
/// let mut file = SafetensorsWriter::new();
/// file.add("w", &w)?.add("b", &b)?.metadata("format", "pt");
/// // A name given twice is an error, not a silently overwritten tensor.
/// assert!(file.add("w", &w).is_err());
///
/// let back = SafeTensors::from_bytes(file.to_bytes()).unwrap();
/// assert_eq!(back.load::<(Out, In), f32>("w").unwrap().as_slice(), w.as_slice());
/// assert_eq!(back.load::<(Out,), f64>("b").unwrap().as_slice(), &[0.5, -0.5]);
/// assert_eq!(back.metadata()["format"], "pt");
/// # Ok::<(), shapecheck::io::SaveError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct SafetensorsWriter {
    tensors: BTreeMap<String, Stored>,
    metadata: BTreeMap<String, String>,
}

impl SafetensorsWriter {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds tensor `name` (a [`Tensor`](crate::Tensor) or any view, read in row-major
    /// order), stored as `F32` or `F64` like its element type. `Err` when the name is
    /// already taken or is `__metadata__`.
    pub fn add<V: AsView>(&mut self, name: &str, tensor: &V) -> Result<&mut Self, SaveError> {
        let view = tensor.as_view();
        self.insert(name, &view.shape(), &view.to_vec())
    }

    /// Adds tensor `name` from its elements in row-major order and the shape they fill
    /// (what [`add`](Self::add) does with a tensor's). The caller keeps
    /// `data.len() == shape.num_elements()`.
    fn insert<S: Shape, T: Float>(
        &mut self,
        name: &str,
        shape: &S,
        data: &[T],
    ) -> Result<&mut Self, SaveError> {
        if name == "__metadata__" {
            return Err(SaveError::Reserved {
                name: name.to_owned(),
            });
        }
        if self.tensors.contains_key(name) {
            return Err(SaveError::Duplicate {
                name: name.to_owned(),
            });
        }
        let (dtype, bytes) = encode(data);
        self.tensors.insert(
            name.to_owned(),
            Stored {
                dtype,
                shape: shape.dims().to_vec(),
                bytes,
            },
        );
        Ok(self)
    }

    /// Sets metadata entry `key` (the `__metadata__` map of strings), replacing any value.
    pub fn metadata(&mut self, key: &str, value: &str) -> &mut Self {
        self.metadata.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Whether a tensor named `name` was added.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The value of metadata entry `key`, if set.
    pub fn metadata_value(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// The number of tensors added.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether no tensor was added.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// The whole file, as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        // F64 first, then F32, each by name: every tensor starts 8-aligned, or 4-aligned
        // after the last F64.
        let mut order: Vec<(&String, &Stored)> = self.tensors.iter().collect();
        order.sort_by_key(|(name, s)| (core::cmp::Reverse(s.dtype.size_in_bits()), *name));

        let mut header = Map::new();
        let mut offset = 0usize;
        for (name, s) in &order {
            let end = offset + s.bytes.len();
            let mut entry = Map::new();
            entry.insert("dtype".into(), Value::from(s.dtype.name()));
            entry.insert("shape".into(), Value::from(s.shape.clone()));
            entry.insert("data_offsets".into(), Value::from(vec![offset, end]));
            header.insert((*name).clone(), Value::Object(entry));
            offset = end;
        }
        if !self.metadata.is_empty() {
            let meta = self
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect();
            header.insert("__metadata__".into(), Value::Object(meta));
        }
        let mut json = Value::Object(header).to_string().into_bytes();
        // Spaces are JSON whitespace: the header stays valid, and the data 8-aligned.
        while !(8 + json.len()).is_multiple_of(8) {
            json.push(b' ');
        }

        let mut out = Vec::with_capacity(8 + json.len() + offset);
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        for (_, s) in &order {
            out.extend_from_slice(&s.bytes);
        }
        out
    }

    /// Writes the file at `path` (created or truncated). `Err` naming the path when the
    /// write fails.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), SaveError> {
        let path = path.as_ref();
        std::fs::write(path, self.to_bytes()).map_err(|source| SaveError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// The dtype of `T` and the little-endian bytes of `data`.
fn encode<T: Float>(data: &[T]) -> (Dtype, Vec<u8>) {
    // `to_f64` is exact for both types, and an f32 value survives f64 → f32 unchanged.
    if T::NAME == "f32" {
        let bytes = data
            .iter()
            .flat_map(|x| (x.to_f64() as f32).to_le_bytes())
            .collect();
        (Dtype::F32, bytes)
    } else {
        let bytes = data.iter().flat_map(|x| x.to_f64().to_le_bytes()).collect();
        (Dtype::F64, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dim::{Dyn, D};
    use crate::io::SafeTensors;
    use crate::tensor::Tensor;

    #[test]
    fn round_trip_through_the_reader() {
        let a = Tensor::<(D<2>, D<3>)>::randn(1);
        let b = Tensor::<(D<3>,), f64>::randn(2);
        let c = Tensor::<(), f32>::full(f32::NAN);
        let e = Tensor::<(Dyn, D<4>)>::zeros_with((Dyn::new(0), D::<4>));
        let mut w = SafetensorsWriter::new();
        w.add("layer.a", &a).unwrap();
        w.add("b", &b).unwrap();
        w.add("c", &c).unwrap();
        w.add("empty", &e).unwrap();
        w.add("a.t", &a.t::<(D<3>, D<2>)>()).unwrap();
        w.metadata("step", "7");
        let bytes = w.to_bytes();

        let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!((8 + len) % 8, 0, "the data starts 8-aligned");
        let file = SafeTensors::from_bytes(bytes).unwrap();
        assert_eq!(file.names(), ["a.t", "b", "c", "empty", "layer.a"]);
        assert_eq!(file.info("b").unwrap().dtype, Dtype::F64);
        let a2: Tensor<(D<2>, D<3>)> = file.load("layer.a").unwrap();
        let bits = |s: &[f32]| s.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(a2.as_slice()), bits(a.as_slice()));
        let at: Tensor<(D<3>, D<2>)> = file.load("a.t").unwrap();
        assert_eq!(at[[2, 1]], a[[1, 2]]);
        let b2: Tensor<(D<3>,), f64> = file.load("b").unwrap();
        assert_eq!(b2.as_slice(), b.as_slice());
        assert!(file.load::<(), f32>("c").unwrap().as_slice()[0].is_nan());
        assert_eq!(file.info("empty").unwrap().shape, vec![0, 4]);
        assert_eq!(file.metadata()["step"], "7");
    }

    #[test]
    fn f64_tensors_come_first_so_each_is_aligned() {
        let mut w = SafetensorsWriter::new();
        w.add("a", &Tensor::<(D<3>,), f32>::ones()).unwrap();
        w.add("z", &Tensor::<(D<1>,), f64>::ones()).unwrap();
        let bytes = w.to_bytes();
        let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
        assert_eq!(header["z"]["data_offsets"], serde_json::json!([0, 8]));
        assert_eq!(header["a"]["data_offsets"], serde_json::json!([8, 20]));
    }

    #[test]
    fn duplicate_and_reserved_names_are_errors() {
        let t = Tensor::<(D<2>,)>::ones();
        let mut w = SafetensorsWriter::new();
        w.add("x", &t).unwrap();
        let err = w.add("x", &t).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tensor `x` is given twice: names must be unique"
        );
        assert!(matches!(
            w.add("__metadata__", &t),
            Err(SaveError::Reserved { .. })
        ));
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn a_failed_write_is_an_error_naming_the_path() {
        let mut w = SafetensorsWriter::new();
        w.add("x", &Tensor::<(D<2>,)>::ones()).unwrap();
        let path = std::env::temp_dir().join("shapecheck-no-such-dir/x/y.safetensors");
        let err = w.write(&path).unwrap_err();
        assert!(matches!(err, SaveError::Io { .. }));
        assert!(err.to_string().contains("shapecheck-no-such-dir"), "{err}");
    }

    #[test]
    fn writes_a_file_that_opens() {
        let dir = std::env::temp_dir().join(format!("shapecheck-writer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.safetensors");
        let t = Tensor::<(D<2>, D<2>), f64>::randn(3);
        let mut w = SafetensorsWriter::new();
        w.add("t", &t).unwrap();
        w.write(&path).unwrap();
        let back: Tensor<(D<2>, D<2>), f64> = SafeTensors::open(&path).unwrap().load("t").unwrap();
        assert_eq!(back.as_slice(), t.as_slice());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
