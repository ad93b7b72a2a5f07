//! [`SafeTensors`]: a safetensors file read and validated up front, from which tensors are
//! loaded by name into typed [`Tensor`]s.
//!
//! The format: an 8-byte little-endian header length `n`, `n` bytes of JSON mapping each
//! tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (plus an optional
//! `"__metadata__"` map of strings), then the data, every offset relative to its start.
//! [`SafeTensors::from_bytes`] checks all of it before any tensor is read: numbers from the
//! file are compared with the file's length before anything is allocated from them, and
//! the tensors must tile the data exactly (no gap, no overlap, nothing after the last).
//! A header that declares a tensor twice (or repeats a key anywhere) is refused, naming the
//! key: JSON leaves the meaning of a repeated key open, and serde_json would keep the last.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::dtype::decode;
use super::strict_json::{self, StrictError};
use super::{Dtype, LoadError};
use crate::element::Float;
use crate::shape::{Shape, StaticShape};
use crate::tensor::Tensor;

/// The dtype and shape of a stored tensor, as the file declares them.
///
/// ```
/// use shapecheck::io::{Dtype, TensorInfo};
/// let info = TensorInfo { dtype: Dtype::F16, shape: vec![2, 3] };
/// assert_eq!(info.num_elements(), 6);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// The element type in the file.
    pub dtype: Dtype,
    /// The size of each axis, outermost first; empty for a scalar.
    pub shape: Vec<usize>,
}

impl TensorInfo {
    /// Product of the sizes (1 for a scalar).
    ///
    /// # Panics
    ///
    /// When the product overflows `usize`, which no `TensorInfo` of an opened file does
    /// (opening checks every shape) but one built by hand may.
    #[track_caller]
    pub fn num_elements(&self) -> usize {
        match self.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) {
            Some(n) => n,
            None if self.shape.contains(&0) => 0,
            None => panic!(
                "a tensor of shape {:?} has too many elements: their count overflows usize",
                self.shape
            ),
        }
    }
}

/// One tensor of the index; `begin..end` is absolute in the file's bytes.
#[derive(Clone, Debug)]
struct Entry {
    info: TensorInfo,
    begin: usize,
    end: usize,
}

/// A safetensors file: its bytes and their validated index.
///
/// Opening checks the whole header, so [`load`](Self::load) can fail only on what the
/// caller asks for: a name the file lacks, a dtype that does not convert, another shape.
///
/// ```
/// use shapecheck::io::{Dtype, LoadError, SafeTensors};
/// use shapecheck::prelude::*;
///
/// // Two tensors: an 8-byte header length, the JSON header, then the little-endian data.
/// let header = br#"{"b":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},
///                   "w":{"dtype":"F32","shape":[2,3],"data_offsets":[4,28]}}"#;
/// let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
/// bytes.extend_from_slice(header);
/// bytes.extend_from_slice(&[0x80, 0x3F, 0x00, 0xC0]); // bf16 1.0 and -2.0
/// for x in 0..6 {
///     bytes.extend_from_slice(&(x as f32).to_le_bytes());
/// }
///
/// let file = SafeTensors::from_bytes(bytes)?;
/// assert_eq!(file.names(), ["b", "w"]);
/// assert_eq!(file.info("b").unwrap().dtype, Dtype::BF16);
///
/// dim!(pub Out = 2);
/// dim!(pub In = 3);
/// let w: Tensor<(Out, In)> = file.load("w")?;
/// assert_eq!(w[[1, 2]], 5.0);
/// let b = file.load::<(Out,), f64>("b")?;
/// assert_eq!(b.as_slice(), &[1.0, -2.0]);
///
/// // A runtime dim takes its size from the caller, and is checked against the file.
/// dim!(pub Rows);
/// let w = file.load_with::<_, f32>("w", (Rows::new(2), In))?;
/// assert_eq!(w.dims().as_slice(), &[2, 3]);
/// let err = file.load_with::<_, f32>("w", (Rows::new(4), In)).unwrap_err();
/// assert_eq!(err.to_string(), "tensor `w`: expected shape (Rows=4, In=3), file has [2, 3]");
/// # Ok::<(), LoadError>(())
/// ```
pub struct SafeTensors {
    bytes: Vec<u8>,
    tensors: BTreeMap<String, Entry>,
    metadata: BTreeMap<String, String>,
}

impl core::fmt::Debug for SafeTensors {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SafeTensors")
            .field("bytes", &self.bytes.len())
            .field(
                "tensors",
                &self
                    .tensors
                    .iter()
                    .map(|(name, e)| (name, &e.info))
                    .collect::<BTreeMap<_, _>>(),
            )
            .field("metadata", &self.metadata)
            .finish()
    }
}

impl SafeTensors {
    /// Reads and validates the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(bytes, Some(path))
    }

    /// Validates the bytes of a whole file: the header, every tensor's dtype, shape and
    /// offsets, and that the tensors tile the data exactly. Any defect is
    /// [`LoadError::Malformed`], naming the tensor at fault; so is a header that declares
    /// a tensor twice (`the header is ambiguous: tensor `w` is declared twice at line 1
    /// column 80; a name must be declared once`), or repeats a key in any of its objects,
    /// even when the declarations agree.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, LoadError> {
        Self::parse(bytes, None)
    }

    fn parse(bytes: Vec<u8>, path: Option<&Path>) -> Result<Self, LoadError> {
        match parse_header(&bytes) {
            Ok((tensors, metadata)) => Ok(SafeTensors {
                bytes,
                tensors,
                metadata,
            }),
            Err(detail) => Err(LoadError::Malformed {
                path: path.map(PathBuf::from),
                detail,
            }),
        }
    }

    /// The names of the tensors, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.tensors.keys().map(String::as_str).collect()
    }

    /// The dtype and shape of tensor `name` as stored, or `None` if the file lacks it.
    pub fn info(&self, name: &str) -> Option<TensorInfo> {
        self.tensors.get(name).map(|e| e.info.clone())
    }

    /// The stored little-endian bytes of tensor `name`, for dtypes that
    /// [`load`](Self::load) does not convert (an `I64` table of position ids, say).
    pub fn data(&self, name: &str) -> Option<&[u8]> {
        self.tensors.get(name).map(|e| &self.bytes[e.begin..e.end])
    }

    /// The file's `__metadata__` map (empty when it has none).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Loads tensor `name` as a tensor of static shape `S`, converting `F32`, `F16`,
    /// `BF16` or `F64` elements to `T`; see [`load_with`](Self::load_with) for the errors.
    pub fn load<S: StaticShape, T: Float>(&self, name: &str) -> Result<Tensor<S, T>, LoadError> {
        self.load_with(name, S::default())
    }

    /// Loads tensor `name` as a tensor of shape `shape`, whose runtime dims carry their
    /// sizes, converting `F32`, `F16`, `BF16` or `F64` elements to `T` (exactly, except
    /// `F64` to `f32`, which rounds to nearest).
    ///
    /// `Err` when the file has no such tensor ([`LoadError::Missing`]), stores it in
    /// another dtype ([`LoadError::Dtype`]), or with another rank or size on any axis
    /// ([`LoadError::Shape`], whose message names the tensor and both shapes).
    pub fn load_with<S: Shape, T: Float>(
        &self,
        name: &str,
        shape: S,
    ) -> Result<Tensor<S, T>, LoadError> {
        let entry = self.tensors.get(name).ok_or_else(|| LoadError::Missing {
            name: name.to_owned(),
        })?;
        let dtype_error = || LoadError::Dtype {
            name: name.to_owned(),
            found: entry.info.dtype,
            requested: T::NAME,
        };
        if !entry.info.dtype.is_loadable() {
            return Err(dtype_error());
        }
        if shape.dims().as_slice() != entry.info.shape.as_slice() {
            return Err(LoadError::Shape {
                name: name.to_owned(),
                expected: format!("{shape:?}"),
                found: entry.info.shape.clone(),
            });
        }
        // The index guarantees that the byte span holds exactly the declared elements, and
        // the dims were just found equal, so the length matches the shape.
        let data = decode(entry.info.dtype, &self.bytes[entry.begin..entry.end])
            .ok_or_else(dtype_error)?;
        Tensor::from_vec_with(shape, data).map_err(|e| LoadError::Malformed {
            path: None,
            detail: format!("tensor `{name}`: {e}"),
        })
    }
}

type Index = (BTreeMap<String, Entry>, BTreeMap<String, String>);

/// Parses and validates the header; the error is the detail of a `Malformed`.
fn parse_header(bytes: &[u8]) -> Result<Index, String> {
    let Some((len_bytes, rest)) = bytes.split_first_chunk::<8>() else {
        return Err(format!(
            "the file is {} bytes long, shorter than the 8-byte header length",
            bytes.len()
        ));
    };
    let header_len = u64::from_le_bytes(*len_bytes);
    // Compared with what the file holds before it is used for anything: a header length
    // of 2^64 − 1 is an error, not an allocation.
    let header_len = match usize::try_from(header_len) {
        Ok(n) if n <= rest.len() => n,
        _ => {
            return Err(format!(
                "the header length is {header_len} bytes, but only {} bytes follow it",
                rest.len()
            ))
        }
    };
    let (header, data) = rest.split_at(header_len);
    let data_start = 8 + header_len;

    let header = core::str::from_utf8(header).map_err(|e| {
        format!(
            "the header is not UTF-8 (invalid byte at offset {})",
            8 + e.valid_up_to()
        )
    })?;
    // serde_json alone would keep the last of two entries of one name: a tensor declared
    // twice (or a field of one) is refused instead.
    let json = strict_json::parse(header, "tensor").map_err(|e| match e {
        StrictError::Syntax(e) => format!("the header is not valid JSON: {e}"),
        StrictError::Duplicate(e) => {
            format!("the header is ambiguous: {e}; a name must be declared once")
        }
    })?;
    let Value::Object(map) = json else {
        return Err(format!(
            "the header must be a JSON object, found {}",
            brief(&json)
        ));
    };

    let mut tensors = BTreeMap::new();
    let mut metadata = BTreeMap::new();
    for (name, value) in map {
        if name == "__metadata__" {
            metadata = parse_metadata(&value)?;
            continue;
        }
        let entry = parse_entry(&name, &value, data.len(), data_start)?;
        tensors.insert(name, entry);
    }
    check_tiling(&tensors, data_start, data.len())?;
    Ok((tensors, metadata))
}

/// `__metadata__`: an object whose values are strings.
fn parse_metadata(value: &Value) -> Result<BTreeMap<String, String>, String> {
    let Value::Object(map) = value else {
        return Err(format!(
            "`__metadata__` must be an object of strings, found {}",
            brief(value)
        ));
    };
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            other => Err(format!(
                "`__metadata__` entry `{k}` must be a string, found {}",
                brief(other)
            )),
        })
        .collect()
}

/// One tensor's `{"dtype", "shape", "data_offsets"}`, checked against itself and against
/// the data's length.
fn parse_entry(
    name: &str,
    value: &Value,
    data_len: usize,
    data_start: usize,
) -> Result<Entry, String> {
    let Value::Object(fields) = value else {
        return Err(format!(
            "tensor `{name}`: expected an object with dtype, shape and data_offsets, found {}",
            brief(value)
        ));
    };
    let field = |key: &str| {
        fields
            .get(key)
            .ok_or_else(|| format!("tensor `{name}`: no `{key}` field"))
    };

    let dtype = match field("dtype")? {
        Value::String(s) => {
            Dtype::from_name(s).ok_or_else(|| format!("tensor `{name}`: unknown dtype `{s}`"))?
        }
        other => {
            return Err(format!(
                "tensor `{name}`: dtype must be a string, found {}",
                brief(other)
            ))
        }
    };
    let shape_value = field("shape")?;
    let shape = u64_array(shape_value)
        .ok_or_else(|| {
            format!(
                "tensor `{name}`: shape must be an array of non-negative integers, found {}",
                brief(shape_value)
            )
        })?
        .into_iter()
        .map(|d| usize::try_from(d).map_err(|_| format!("tensor `{name}`: dim {d} is too large")))
        .collect::<Result<Vec<usize>, String>>()?;
    let offsets_value = field("data_offsets")?;
    let offsets = u64_array(offsets_value).filter(|o| o.len() == 2);
    let Some(&[begin, end]) = offsets.as_deref() else {
        return Err(format!(
            "tensor `{name}`: data_offsets must be two non-negative integers, found {}",
            brief(offsets_value)
        ));
    };

    // Every partial product of the non-zero dims must fit, so that neither the element
    // count nor the row-major strides of a tensor of this shape can overflow.
    let too_large = || format!("tensor `{name}`: shape {shape:?} has too many elements");
    let nonzero = shape
        .iter()
        .filter(|&&d| d != 0)
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(too_large)?;
    let elements = if shape.contains(&0) { 0 } else { nonzero };
    let bits = elements
        .checked_mul(dtype.size_in_bits())
        .ok_or_else(too_large)?;
    if bits % 8 != 0 {
        return Err(format!(
            "tensor `{name}`: {elements} elements of {dtype} do not fill a whole number of bytes"
        ));
    }
    let size = bits / 8;

    if begin > end {
        return Err(format!(
            "tensor `{name}`: data_offsets [{begin}, {end}] are reversed"
        ));
    }
    if end > data_len as u64 {
        return Err(format!(
            "tensor `{name}`: data_offsets [{begin}, {end}] end past the data, which is {data_len} bytes"
        ));
    }
    // Both offsets are at most data_len, a usize, from here on.
    let (begin, end) = (begin as usize, end as usize);
    if end - begin != size {
        return Err(format!(
            "tensor `{name}`: shape {shape:?} of {dtype} needs {size} bytes, but data_offsets [{begin}, {end}] span {}",
            end - begin
        ));
    }
    Ok(Entry {
        info: TensorInfo { dtype, shape },
        begin: data_start + begin,
        end: data_start + end,
    })
}

/// The array's elements if it is an array of integers that fit a `u64`.
fn u64_array(value: &Value) -> Option<Vec<u64>> {
    match value {
        Value::Array(items) => items.iter().map(Value::as_u64).collect(),
        _ => None,
    }
}

/// The tensors must tile the data: sorted by offset, each begins where the previous ended,
/// the first at 0 and the last at the end.
fn check_tiling(
    tensors: &BTreeMap<String, Entry>,
    data_start: usize,
    data_len: usize,
) -> Result<(), String> {
    let mut spans: Vec<(usize, usize, &str)> = tensors
        .iter()
        .map(|(name, e)| (e.begin - data_start, e.end - data_start, name.as_str()))
        .collect();
    spans.sort_unstable();
    let mut cursor = 0;
    let mut previous: Option<&str> = None;
    for (begin, end, name) in spans {
        if begin < cursor {
            return Err(format!(
                "tensor `{name}` (bytes {begin}..{end} of the data) overlaps tensor `{}`, which ends at {cursor}",
                previous.unwrap_or("?")
            ));
        }
        if begin > cursor {
            return Err(format!(
                "bytes {cursor}..{begin} of the data belong to no tensor (the next, `{name}`, begins at {begin})"
            ));
        }
        cursor = end;
        previous = Some(name);
    }
    if cursor != data_len {
        return Err(format!(
            "the tensors end at byte {cursor} of the data, but the data is {data_len} bytes"
        ));
    }
    Ok(())
}

/// A JSON value for a message, cut short: headers come from files and may be huge.
fn brief(value: &Value) -> String {
    const MAX: usize = 60;
    let text = value.to_string();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}
