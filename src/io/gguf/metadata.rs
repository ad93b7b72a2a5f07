//! A GGUF file's metadata: [`MetaValue`]s of the format's thirteen types (arrays typed,
//! nested arrays included) under string keys, with typed getters whose errors name the
//! key and both types.

use std::collections::BTreeMap;

use crate::io::LoadError;

/// One metadata value, of one of GGUF's value types.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum MetaValue {
    /// `UINT8`.
    U8(u8),
    /// `INT8`.
    I8(i8),
    /// `UINT16`.
    U16(u16),
    /// `INT16`.
    I16(i16),
    /// `UINT32`.
    U32(u32),
    /// `INT32`.
    I32(i32),
    /// `FLOAT32`.
    F32(f32),
    /// `BOOL` (a byte, 0 or 1).
    Bool(bool),
    /// `STRING` (UTF-8).
    String(String),
    /// `ARRAY`: elements of one type.
    Array(MetaArray),
    /// `UINT64`.
    U64(u64),
    /// `INT64`.
    I64(i64),
    /// `FLOAT64`.
    F64(f64),
}

/// A metadata array: its elements share one type, so they are stored as one typed `Vec`.
/// An array of arrays holds inner arrays each of its own element type.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum MetaArray {
    /// `UINT8` elements.
    U8(Vec<u8>),
    /// `INT8` elements.
    I8(Vec<i8>),
    /// `UINT16` elements.
    U16(Vec<u16>),
    /// `INT16` elements.
    I16(Vec<i16>),
    /// `UINT32` elements.
    U32(Vec<u32>),
    /// `INT32` elements.
    I32(Vec<i32>),
    /// `FLOAT32` elements.
    F32(Vec<f32>),
    /// `BOOL` elements.
    Bool(Vec<bool>),
    /// `STRING` elements.
    String(Vec<String>),
    /// `ARRAY` elements.
    Array(Vec<MetaArray>),
    /// `UINT64` elements.
    U64(Vec<u64>),
    /// `INT64` elements.
    I64(Vec<i64>),
    /// `FLOAT64` elements.
    F64(Vec<f64>),
}

impl MetaArray {
    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            MetaArray::U8(v) => v.len(),
            MetaArray::I8(v) => v.len(),
            MetaArray::U16(v) => v.len(),
            MetaArray::I16(v) => v.len(),
            MetaArray::U32(v) => v.len(),
            MetaArray::I32(v) => v.len(),
            MetaArray::F32(v) => v.len(),
            MetaArray::Bool(v) => v.len(),
            MetaArray::String(v) => v.len(),
            MetaArray::Array(v) => v.len(),
            MetaArray::U64(v) => v.len(),
            MetaArray::I64(v) => v.len(),
            MetaArray::F64(v) => v.len(),
        }
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The GGUF name of the element type: `"STRING"`.
    pub fn element_type_name(&self) -> &'static str {
        match self {
            MetaArray::U8(_) => "UINT8",
            MetaArray::I8(_) => "INT8",
            MetaArray::U16(_) => "UINT16",
            MetaArray::I16(_) => "INT16",
            MetaArray::U32(_) => "UINT32",
            MetaArray::I32(_) => "INT32",
            MetaArray::F32(_) => "FLOAT32",
            MetaArray::Bool(_) => "BOOL",
            MetaArray::String(_) => "STRING",
            MetaArray::Array(_) => "ARRAY",
            MetaArray::U64(_) => "UINT64",
            MetaArray::I64(_) => "INT64",
            MetaArray::F64(_) => "FLOAT64",
        }
    }
}

impl MetaValue {
    /// The GGUF name of the value's type, with the element type of an array:
    /// `"UINT32"`, `"ARRAY of STRING"`.
    pub fn type_name(&self) -> String {
        match self {
            MetaValue::U8(_) => "UINT8".into(),
            MetaValue::I8(_) => "INT8".into(),
            MetaValue::U16(_) => "UINT16".into(),
            MetaValue::I16(_) => "INT16".into(),
            MetaValue::U32(_) => "UINT32".into(),
            MetaValue::I32(_) => "INT32".into(),
            MetaValue::F32(_) => "FLOAT32".into(),
            MetaValue::Bool(_) => "BOOL".into(),
            MetaValue::String(_) => "STRING".into(),
            MetaValue::Array(a) => format!("ARRAY of {}", a.element_type_name()),
            MetaValue::U64(_) => "UINT64".into(),
            MetaValue::I64(_) => "INT64".into(),
            MetaValue::F64(_) => "FLOAT64".into(),
        }
    }

    /// An integer value as text, for messages.
    fn int_text(&self) -> Option<String> {
        match *self {
            MetaValue::U8(x) => Some(x.to_string()),
            MetaValue::U16(x) => Some(x.to_string()),
            MetaValue::U32(x) => Some(x.to_string()),
            MetaValue::U64(x) => Some(x.to_string()),
            MetaValue::I8(x) => Some(x.to_string()),
            MetaValue::I16(x) => Some(x.to_string()),
            MetaValue::I32(x) => Some(x.to_string()),
            MetaValue::I64(x) => Some(x.to_string()),
            _ => None,
        }
    }

    /// The value as a `u64` if it is an integer of any type that is not negative; the
    /// lenient reading behind [`Metadata::get_usize`].
    fn as_unsigned(&self) -> Option<u64> {
        match *self {
            MetaValue::U8(x) => Some(x.into()),
            MetaValue::U16(x) => Some(x.into()),
            MetaValue::U32(x) => Some(x.into()),
            MetaValue::U64(x) => Some(x),
            MetaValue::I8(x) => u64::try_from(x).ok(),
            MetaValue::I16(x) => u64::try_from(x).ok(),
            MetaValue::I32(x) => u64::try_from(x).ok(),
            MetaValue::I64(x) => u64::try_from(x).ok(),
            _ => None,
        }
    }
}

/// A value of one metadata type, read by [`Metadata::get_as`] and
/// [`Metadata::get_opt`]: `u32`, `f32`, `bool`, `&str`, `&[String]`, `&MetaArray`, ….
pub trait FromMeta<'a>: Sized {
    /// The GGUF type read, as errors name it: `"UINT32"`, `"ARRAY of STRING"`.
    const TYPE: &'static str;
    /// The value, if it has exactly this type.
    fn from_meta(value: &'a MetaValue) -> Option<Self>;
}

macro_rules! from_meta_scalar {
    ($($t:ty => $variant:ident, $name:literal;)*) => {$(
        impl<'a> FromMeta<'a> for $t {
            const TYPE: &'static str = $name;
            fn from_meta(value: &'a MetaValue) -> Option<Self> {
                match value {
                    MetaValue::$variant(x) => Some(*x),
                    _ => None,
                }
            }
        }
    )*};
}

from_meta_scalar! {
    u8 => U8, "UINT8";
    i8 => I8, "INT8";
    u16 => U16, "UINT16";
    i16 => I16, "INT16";
    u32 => U32, "UINT32";
    i32 => I32, "INT32";
    f32 => F32, "FLOAT32";
    bool => Bool, "BOOL";
    u64 => U64, "UINT64";
    i64 => I64, "INT64";
    f64 => F64, "FLOAT64";
}

macro_rules! from_meta_slice {
    ($($t:ty => $variant:ident, $name:literal;)*) => {$(
        impl<'a> FromMeta<'a> for &'a [$t] {
            const TYPE: &'static str = $name;
            fn from_meta(value: &'a MetaValue) -> Option<Self> {
                match value {
                    MetaValue::Array(MetaArray::$variant(v)) => Some(v.as_slice()),
                    _ => None,
                }
            }
        }
    )*};
}

from_meta_slice! {
    u8 => U8, "ARRAY of UINT8";
    i8 => I8, "ARRAY of INT8";
    u16 => U16, "ARRAY of UINT16";
    i16 => I16, "ARRAY of INT16";
    u32 => U32, "ARRAY of UINT32";
    i32 => I32, "ARRAY of INT32";
    f32 => F32, "ARRAY of FLOAT32";
    bool => Bool, "ARRAY of BOOL";
    String => String, "ARRAY of STRING";
    MetaArray => Array, "ARRAY of ARRAY";
    u64 => U64, "ARRAY of UINT64";
    i64 => I64, "ARRAY of INT64";
    f64 => F64, "ARRAY of FLOAT64";
}

impl<'a> FromMeta<'a> for &'a str {
    const TYPE: &'static str = "STRING";
    fn from_meta(value: &'a MetaValue) -> Option<Self> {
        match value {
            MetaValue::String(s) => Some(s.as_str()),
            _ => None,
        }
    }
}

impl<'a> FromMeta<'a> for &'a MetaArray {
    const TYPE: &'static str = "ARRAY";
    fn from_meta(value: &'a MetaValue) -> Option<Self> {
        match value {
            MetaValue::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// The metadata of a GGUF file: every key and its value, as the file stores them (keys are
/// unique: a file that repeats one does not open).
///
/// The getters are strict about the type (`get_u32` of a key stored as `UINT64` is an
/// error), because the type is part of the format's definition of each key, and naming
/// the mismatch is more useful than a silent conversion; [`get_usize`](Self::get_usize)
/// is the one lenient getter, for counts that writers store in varying integer types.
///
/// ```
/// # use shapecheck::io::{LoadError, MetaValue};
/// # let meta = shapecheck::io::Metadata::from_entries([
/// #     ("llama.block_count".to_string(), MetaValue::U32(30)),
/// #     ("general.name".to_string(), MetaValue::String("SmolLM2".into())),
/// # ]);
/// assert_eq!(meta.get_u32("llama.block_count")?, 30);
/// assert_eq!(meta.get_str("general.name")?, "SmolLM2");
/// assert_eq!(
///     meta.get_u64("llama.block_count").unwrap_err().to_string(),
///     "metadata `llama.block_count` is UINT32, not UINT64"
/// );
/// assert_eq!(
///     meta.get_f32("llama.rope.freq_base").unwrap_err().to_string(),
///     "no metadata key `llama.rope.freq_base` in the file"
/// );
/// assert_eq!(meta.get_opt::<f32>("llama.rope.freq_base")?, None);
/// # Ok::<(), LoadError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    entries: BTreeMap<String, MetaValue>,
}

macro_rules! getters {
    ($($(#[$doc:meta])* $name:ident -> $t:ty;)*) => {$(
        $(#[$doc])*
        pub fn $name(&self, key: &str) -> Result<$t, LoadError> {
            self.get_as(key)
        }
    )*};
}

impl Metadata {
    /// Metadata holding `entries` (a later entry of a repeated key replaces the earlier).
    pub fn from_entries(entries: impl IntoIterator<Item = (String, MetaValue)>) -> Self {
        Metadata {
            entries: entries.into_iter().collect(),
        }
    }

    pub(crate) fn insert(&mut self, key: String, value: MetaValue) -> Option<MetaValue> {
        self.entries.insert(key, value)
    }

    /// The value of `key`, of whatever type.
    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        self.entries.get(key)
    }

    /// Whether the file has `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// The keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Every key with its value, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &MetaValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no key.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `key` as a `T`: [`LoadError::MissingKey`] when the file lacks it,
    /// [`LoadError::KeyType`] (naming the key, the type asked for and the type stored)
    /// when it has another type.
    pub fn get_as<'a, T: FromMeta<'a>>(&'a self, key: &str) -> Result<T, LoadError> {
        let value = self.get(key).ok_or_else(|| LoadError::MissingKey {
            key: key.to_owned(),
        })?;
        T::from_meta(value).ok_or_else(|| LoadError::KeyType {
            key: key.to_owned(),
            expected: T::TYPE.to_owned(),
            found: value.type_name(),
        })
    }

    /// Like [`get_as`](Self::get_as), with `Ok(None)` for a key the file lacks (a key of
    /// another type is still an error).
    pub fn get_opt<'a, T: FromMeta<'a>>(&'a self, key: &str) -> Result<Option<T>, LoadError> {
        if self.contains(key) {
            self.get_as(key).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The value of `key` as a `usize` if it is an integer of any GGUF type that is not
    /// negative and fits (writers store counts as `UINT32`, `UINT64` or `INT32`).
    pub fn get_usize(&self, key: &str) -> Result<usize, LoadError> {
        let value = self.get(key).ok_or_else(|| LoadError::MissingKey {
            key: key.to_owned(),
        })?;
        value
            .as_unsigned()
            .and_then(|x| usize::try_from(x).ok())
            .ok_or_else(|| LoadError::KeyType {
                key: key.to_owned(),
                expected: "a non-negative integer that fits usize".to_owned(),
                found: match value.int_text() {
                    Some(x) => format!("{} {x}", value.type_name()),
                    None => value.type_name(),
                },
            })
    }

    getters! {
        /// The `UINT8` value of `key`; see [`get_as`](Self::get_as) for the errors.
        get_u8 -> u8;
        /// The `INT8` value of `key`.
        get_i8 -> i8;
        /// The `UINT16` value of `key`.
        get_u16 -> u16;
        /// The `INT16` value of `key`.
        get_i16 -> i16;
        /// The `UINT32` value of `key`.
        get_u32 -> u32;
        /// The `INT32` value of `key`.
        get_i32 -> i32;
        /// The `UINT64` value of `key`.
        get_u64 -> u64;
        /// The `INT64` value of `key`.
        get_i64 -> i64;
        /// The `FLOAT32` value of `key`.
        get_f32 -> f32;
        /// The `FLOAT64` value of `key`.
        get_f64 -> f64;
        /// The `BOOL` value of `key`.
        get_bool -> bool;
    }

    /// The `STRING` value of `key`.
    pub fn get_str(&self, key: &str) -> Result<&str, LoadError> {
        self.get_as(key)
    }

    /// The `ARRAY` value of `key`, of any element type.
    pub fn get_array(&self, key: &str) -> Result<&MetaArray, LoadError> {
        self.get_as(key)
    }

    /// The `ARRAY of STRING` value of `key` (`tokenizer.ggml.tokens`).
    pub fn get_str_array(&self, key: &str) -> Result<&[String], LoadError> {
        self.get_as(key)
    }

    /// The `ARRAY of FLOAT32` value of `key` (`tokenizer.ggml.scores`).
    pub fn get_f32_array(&self, key: &str) -> Result<&[f32], LoadError> {
        self.get_as(key)
    }

    /// The `ARRAY of INT32` value of `key` (`tokenizer.ggml.token_type`).
    pub fn get_i32_array(&self, key: &str) -> Result<&[i32], LoadError> {
        self.get_as(key)
    }

    /// The `ARRAY of UINT32` value of `key`.
    pub fn get_u32_array(&self, key: &str) -> Result<&[u32], LoadError> {
        self.get_as(key)
    }
}
