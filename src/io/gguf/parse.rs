//! Reading and validating a GGUF file's header: magic, version, metadata, tensor infos,
//! alignment and the data section's layout.
//!
//! Every number from the file is compared with the bytes that are left before it sizes
//! anything: a count of items with the smallest size an item can have, an array's length
//! with its element size, a string's length with the bytes after it. Offsets and element
//! counts use checked arithmetic; the data of every tensor lies inside the file, starts on
//! the alignment, and overlaps no other. Any defect is a message (the caller wraps it in a
//! [`LoadError::MalformedGguf`](crate::io::LoadError::MalformedGguf)), never a panic.

use std::collections::BTreeMap;

use super::metadata::{MetaArray, MetaValue, Metadata};
use super::GgmlType;

/// The alignment of the data section and of every tensor in it, unless
/// `general.alignment` says otherwise.
pub(crate) const DEFAULT_ALIGNMENT: usize = 32;
/// ggml's `GGML_MAX_DIMS`: a tensor has at most 4 axes.
pub(crate) const MAX_DIMS: u32 = 4;
/// How deep arrays of arrays may nest. GGUF puts no bound on it, but each level costs a
/// frame of the recursive reader, and real files nest at most once: a bound keeps a
/// hostile file of nested array headers from exhausting the stack.
pub(crate) const MAX_NESTING: usize = 8;

/// The smallest metadata entry: an empty key (8 bytes of length), a type (4), one byte.
const MIN_KV_BYTES: usize = 8 + 4 + 1;
/// The smallest tensor info: an empty name (8), no dims (4), a type (4), an offset (8).
const MIN_TENSOR_INFO_BYTES: usize = 8 + 4 + 4 + 8;

/// One tensor as the file declares it, validated.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub name: String,
    pub ggml_type: GgmlType,
    /// Row-major: outermost first, the reverse of GGUF's `ne`.
    pub shape: Vec<usize>,
    pub elements: usize,
    /// Absolute byte range in the file.
    pub begin: usize,
    pub end: usize,
}

/// What a valid header describes.
#[derive(Debug)]
pub(crate) struct Header {
    pub version: u32,
    pub metadata: Metadata,
    pub alignment: usize,
    pub data_start: usize,
    /// In the file's order.
    pub tensors: Vec<Entry>,
    /// Each tensor's position in `tensors`, by name.
    pub index: BTreeMap<String, usize>,
}

/// A cursor over the file's bytes whose reads fail, naming what was being read, when the
/// file ends first.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &dyn Fn() -> String) -> Result<&'a [u8], String> {
        if n > self.remaining() {
            return Err(format!(
                "the file ends inside {}: {n} bytes needed at offset {}, {} left",
                what(),
                self.pos,
                self.remaining()
            ));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &dyn Fn() -> String) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32, String> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64, String> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A GGUF string: a `u64` length, then that many bytes of UTF-8.
    fn string(&mut self, what: &dyn Fn() -> String) -> Result<String, String> {
        let start = self.pos;
        let len = self.u64(&|| format!("the length of {}", what()))?;
        let len = match usize::try_from(len) {
            Ok(n) if n <= self.remaining() => n,
            _ => {
                return Err(format!(
                    "{} at offset {start} declares {len} bytes, but only {} bytes follow",
                    what(),
                    self.remaining()
                ))
            }
        };
        let bytes = self.take(len, what)?;
        match core::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(format!(
                "{} at offset {start} is not UTF-8 (invalid byte at offset {})",
                what(),
                start + 8 + e.valid_up_to()
            )),
        }
    }
}

/// GGUF's value types, by their number in the file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ValueType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    String,
    Array,
    U64,
    I64,
    F64,
}

impl ValueType {
    fn from_id(id: u32) -> Option<ValueType> {
        use ValueType::*;
        Some(match id {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    /// The fewest bytes a value of this type takes: its size when fixed, 8 for a string
    /// (its length), 12 for an array (element type and length).
    fn min_bytes(self) -> usize {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => 1,
            U16 | I16 => 2,
            U32 | I32 | F32 => 4,
            U64 | I64 | F64 | String => 8,
            Array => 12,
        }
    }
}

/// Reads one value of type `ty`; `depth` counts the arrays it sits in.
fn read_value(
    r: &mut Reader<'_>,
    ty: ValueType,
    depth: usize,
    what: &dyn Fn() -> String,
) -> Result<MetaValue, String> {
    Ok(match ty {
        ValueType::U8 => MetaValue::U8(r.array::<1>(what)?[0]),
        ValueType::I8 => MetaValue::I8(i8::from_le_bytes(r.array(what)?)),
        ValueType::U16 => MetaValue::U16(u16::from_le_bytes(r.array(what)?)),
        ValueType::I16 => MetaValue::I16(i16::from_le_bytes(r.array(what)?)),
        ValueType::U32 => MetaValue::U32(r.u32(what)?),
        ValueType::I32 => MetaValue::I32(i32::from_le_bytes(r.array(what)?)),
        ValueType::F32 => MetaValue::F32(f32::from_le_bytes(r.array(what)?)),
        ValueType::Bool => MetaValue::Bool(read_bool(r, what)?),
        ValueType::String => MetaValue::String(r.string(what)?),
        ValueType::Array => MetaValue::Array(read_array(r, depth + 1, what)?),
        ValueType::U64 => MetaValue::U64(r.u64(what)?),
        ValueType::I64 => MetaValue::I64(i64::from_le_bytes(r.array(what)?)),
        ValueType::F64 => MetaValue::F64(f64::from_le_bytes(r.array(what)?)),
    })
}

fn read_bool(r: &mut Reader<'_>, what: &dyn Fn() -> String) -> Result<bool, String> {
    let at = r.pos;
    match r.array::<1>(what)?[0] {
        0 => Ok(false),
        1 => Ok(true),
        b => Err(format!(
            "{} at offset {at} is a BOOL of byte {b}; a BOOL is 0 or 1",
            what()
        )),
    }
}

/// An array: its element type, its length, then the elements. The length is compared with
/// the bytes left (times the smallest size of an element) before anything is allocated.
fn read_array(
    r: &mut Reader<'_>,
    depth: usize,
    what: &dyn Fn() -> String,
) -> Result<MetaArray, String> {
    if depth > MAX_NESTING {
        return Err(format!(
            "{} nests arrays {depth} deep; this reader accepts {MAX_NESTING}",
            what()
        ));
    }
    let at = r.pos;
    let type_id = r.u32(&|| format!("the element type of {}", what()))?;
    let ty = ValueType::from_id(type_id).ok_or_else(|| {
        format!(
            "{} at offset {at} has elements of unknown type {type_id} (GGUF's types are 0..=12)",
            what()
        )
    })?;
    let len = r.u64(&|| format!("the length of {}", what()))?;
    let needed = usize::try_from(len)
        .ok()
        .and_then(|n| n.checked_mul(ty.min_bytes()));
    let len = match needed {
        Some(bytes) if bytes <= r.remaining() => len as usize,
        _ => {
            return Err(format!(
                "{} at offset {at} declares {len} elements, at least {} bytes each, but only {} bytes follow",
                what(),
                ty.min_bytes(),
                r.remaining()
            ))
        }
    };

    macro_rules! fixed {
        ($variant:ident, $t:ty) => {{
            let bytes = r.take(len * core::mem::size_of::<$t>(), what)?;
            MetaArray::$variant(
                bytes
                    .chunks_exact(core::mem::size_of::<$t>())
                    .map(|c| {
                        let mut b = [0u8; core::mem::size_of::<$t>()];
                        b.copy_from_slice(c);
                        <$t>::from_le_bytes(b)
                    })
                    .collect(),
            )
        }};
    }
    let element = |i: usize| move || format!("element {i} of {}", what());
    Ok(match ty {
        ValueType::U8 => fixed!(U8, u8),
        ValueType::I8 => fixed!(I8, i8),
        ValueType::U16 => fixed!(U16, u16),
        ValueType::I16 => fixed!(I16, i16),
        ValueType::U32 => fixed!(U32, u32),
        ValueType::I32 => fixed!(I32, i32),
        ValueType::F32 => fixed!(F32, f32),
        ValueType::U64 => fixed!(U64, u64),
        ValueType::I64 => fixed!(I64, i64),
        ValueType::F64 => fixed!(F64, f64),
        ValueType::Bool => MetaArray::Bool(
            (0..len)
                .map(|i| read_bool(r, &element(i)))
                .collect::<Result<_, _>>()?,
        ),
        ValueType::String => MetaArray::String(
            (0..len)
                .map(|i| r.string(&element(i)))
                .collect::<Result<_, _>>()?,
        ),
        ValueType::Array => MetaArray::Array(
            (0..len)
                .map(|i| read_array(r, depth + 1, &element(i)))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// Reads and validates everything but the tensors' contents.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<Header, String> {
    let mut r = Reader { bytes, pos: 0 };
    let magic = r.array::<4>(&|| "the magic number".into())?;
    if &magic != b"GGUF" {
        return Err(format!(
            "the file does not begin with the magic bytes `GGUF` (it begins with {magic:02x?})"
        ));
    }
    let version = r.u32(&|| "the version".into())?;
    match version {
        2 | 3 => {}
        1 => {
            return Err(
                "GGUF version 1 (32-bit counts, before August 2023) is not supported; \
                 versions 2 and 3 are"
                    .into(),
            )
        }
        v if matches!(v.swap_bytes(), 2 | 3) => {
            return Err(format!(
                "the file is big-endian (its version reads {} byte-swapped); only \
                 little-endian GGUF files are supported",
                v.swap_bytes()
            ))
        }
        v => {
            return Err(format!(
                "GGUF version {v} is not supported; versions 2 and 3 are"
            ))
        }
    }
    let tensor_count = r.u64(&|| "the tensor count".into())?;
    let kv_count = r.u64(&|| "the metadata count".into())?;
    // Counts from the file bound only loops, never an allocation, but a count the bytes
    // left cannot hold is refused at once, with a message that says so.
    let fits = |count: u64, min: usize, left: usize| {
        usize::try_from(count)
            .ok()
            .and_then(|n| n.checked_mul(min))
            .is_some_and(|b| b <= left)
    };
    if !fits(kv_count, MIN_KV_BYTES, r.remaining()) {
        return Err(format!(
            "the header declares {kv_count} metadata entries, but the {} bytes after it hold \
             at most {} (each takes at least {MIN_KV_BYTES} bytes)",
            r.remaining(),
            r.remaining() / MIN_KV_BYTES
        ));
    }
    if !fits(tensor_count, MIN_TENSOR_INFO_BYTES, r.remaining()) {
        return Err(format!(
            "the header declares {tensor_count} tensors, but the {} bytes after it hold at \
             most {} tensor infos (each takes at least {MIN_TENSOR_INFO_BYTES} bytes)",
            r.remaining(),
            r.remaining() / MIN_TENSOR_INFO_BYTES
        ));
    }

    let mut metadata = Metadata::default();
    for i in 0..kv_count {
        let key = r.string(&|| format!("the key of metadata entry {i}"))?;
        let what = || format!("the value of metadata key `{key}`");
        let at = r.pos;
        let type_id = r.u32(&|| format!("the type of metadata key `{key}`"))?;
        let ty = ValueType::from_id(type_id).ok_or_else(|| {
            format!(
                "metadata key `{key}` has unknown value type {type_id} at offset {at} \
                 (GGUF's types are 0..=12)"
            )
        })?;
        let value = read_value(&mut r, ty, 0, &what)?;
        if metadata.insert(key.clone(), value).is_some() {
            return Err(format!(
                "metadata key `{key}` appears twice; a key must appear once"
            ));
        }
    }

    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(MetaValue::U32(a)) if a.is_power_of_two() => *a as usize,
        Some(MetaValue::U32(a)) => {
            return Err(format!(
                "`general.alignment` is {a}; it must be a power of two"
            ))
        }
        Some(other) => {
            return Err(format!(
                "`general.alignment` is {}, not UINT32",
                other.type_name()
            ))
        }
    };

    let mut tensors: Vec<Entry> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut offsets: Vec<u64> = Vec::new();
    for i in 0..tensor_count {
        let name = r.string(&|| format!("the name of tensor {i}"))?;
        let tensor = || format!("tensor `{name}`");
        let n_dims = r.u32(&|| format!("the number of dims of {}", tensor()))?;
        if n_dims > MAX_DIMS {
            return Err(format!(
                "{} has {n_dims} dims; GGUF tensors have at most {MAX_DIMS}",
                tensor()
            ));
        }
        let mut ne = Vec::with_capacity(n_dims as usize);
        for d in 0..n_dims {
            let dim = r.u64(&|| format!("dim {d} of {}", tensor()))?;
            let dim = usize::try_from(dim)
                .map_err(|_| format!("{}: dim {d} is {dim}, too large", tensor()))?;
            ne.push(dim);
        }
        let type_id = r.u32(&|| format!("the type of {}", tensor()))?;
        let ggml_type = GgmlType::from_id(type_id).ok_or_else(|| {
            format!(
                "{} has unknown ggml type {type_id} (this reader knows 0..=41 but 4, 5, 31..=33, 36..=38)",
                tensor()
            )
        })?;
        let offset = r.u64(&|| format!("the data offset of {}", tensor()))?;

        // GGUF's dims run innermost first: ne[0] is the length of a row.
        let shape: Vec<usize> = ne.iter().rev().copied().collect();
        let too_large = || format!("{}: shape {shape:?} has too many elements", tensor());
        // As for safetensors, the product of the non-zero dims must fit too, so that
        // neither the element count nor the row-major strides of this shape overflow.
        let nonzero = ne
            .iter()
            .filter(|&&d| d != 0)
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(too_large)?;
        let elements = if ne.contains(&0) { 0 } else { nonzero };
        let row = ne.first().copied().unwrap_or(1);
        if row % ggml_type.block_size() != 0 {
            return Err(format!(
                "{}: its rows of {row} elements are not a whole number of {ggml_type} blocks of {}",
                tensor(),
                ggml_type.block_size()
            ));
        }
        let size = (elements / ggml_type.block_size())
            .checked_mul(ggml_type.block_bytes())
            .ok_or_else(too_large)?;
        if offset % alignment as u64 != 0 {
            return Err(format!(
                "{}: its data offset {offset} is not a multiple of the alignment {alignment}",
                tensor()
            ));
        }
        if index.insert(name.clone(), tensors.len()).is_some() {
            return Err(format!(
                "{} is declared twice; a name must be declared once",
                tensor()
            ));
        }
        offsets.push(offset);
        tensors.push(Entry {
            name,
            ggml_type,
            shape,
            elements,
            begin: 0,
            end: size, // made absolute below, once the data's start is known
        });
    }

    // The data section starts at the next multiple of the alignment.
    let data_start = r
        .pos
        .checked_next_multiple_of(alignment)
        .ok_or_else(|| "the data section's offset overflows".to_string())?;
    let file_len = bytes.len();
    for (entry, &offset) in tensors.iter_mut().zip(&offsets) {
        let size = entry.end;
        let range = usize::try_from(offset)
            .ok()
            .and_then(|o| data_start.checked_add(o))
            .and_then(|b| b.checked_add(size).map(|e| (b, e)));
        match range {
            Some((begin, end)) if end <= file_len => {
                entry.begin = begin;
                entry.end = end;
            }
            _ => {
                return Err(format!(
                    "tensor `{}`: its {size} bytes at data offset {offset} end past the file \
                     (the data section starts at byte {data_start} of {file_len})",
                    entry.name
                ))
            }
        }
    }

    // Sorted by start, the tensors that hold bytes must each start at or after the end of
    // the one before (empty tensors hold none and overlap nothing).
    let mut spans: Vec<(usize, usize, &str)> = tensors
        .iter()
        .filter(|e| e.begin < e.end)
        .map(|e| (e.begin, e.end, e.name.as_str()))
        .collect();
    spans.sort_unstable();
    for pair in spans.windows(2) {
        let ((b0, e0, n0), (b1, e1, n1)) = (pair[0], pair[1]);
        if b1 < e0 {
            return Err(format!(
                "tensor `{n1}` (bytes {}..{} of the data) overlaps tensor `{n0}` ({}..{})",
                b1 - data_start,
                e1 - data_start,
                b0 - data_start,
                e0 - data_start
            ));
        }
    }

    Ok(Header {
        version,
        metadata,
        alignment,
        data_start,
        tensors,
        index,
    })
}
