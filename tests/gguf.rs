//! The GGUF reader (`shapecheck::io::Gguf`): files written by llama.cpp's own Python package
//! (tests/fixtures/gguf, from scripts/gen_gguf_fixture.py), small files built here by a
//! test writer, one per rule of the format, hand-computed quantized blocks, a fuzz loop
//! (random valid files, then mutated fields and mutated bytes: never a panic), and the real
//! SmolLM2-135M-Instruct GGUF when scripts/fetch-smollm2.sh has fetched it (without it the
//! test prints a note and passes, and fails under `CI=true`).
//!
//! The fuzz loop runs `SHAPECHECK_GGUF_FUZZ` inputs (default 20 000, a quarter of a second in
//! debug): `SHAPECHECK_GGUF_FUZZ=1000000 cargo test --release --test gguf fuzz -- --nocapture`.

use std::path::{Path, PathBuf};

use serde_json::Value;
use shapecheck::io::{
    bf16_bits_to_f32, f16_bits_to_f32, GgmlType, Gguf, LoadError, MetaArray, MetaValue,
};
use shapecheck::prelude::*;

use writer::{FileSpec, V};

/// A GGUF writer for tests: every field can be set to a value a valid writer would not
/// write (a count, a length, a type, an offset), so that each rule has its own file.
mod writer {
    /// Type ids of GGUF's metadata values.
    pub const U8: u32 = 0;
    pub const I8: u32 = 1;
    pub const U16: u32 = 2;
    pub const I16: u32 = 3;
    pub const U32: u32 = 4;
    pub const I32: u32 = 5;
    pub const F32: u32 = 6;
    pub const BOOL: u32 = 7;
    pub const STRING: u32 = 8;
    pub const ARRAY: u32 = 9;
    pub const U64: u32 = 10;
    pub const I64: u32 = 11;
    pub const F64: u32 = 12;

    /// A metadata value as written.
    #[derive(Clone, Debug)]
    pub enum V {
        U8(u8),
        I8(i8),
        U16(u16),
        I16(i16),
        U32(u32),
        I32(i32),
        F32(f32),
        /// The byte written (0 and 1 are the valid ones).
        Bool(u8),
        Str(Vec<u8>),
        /// Element type and elements (each written without its type).
        Arr(u32, Vec<V>),
        U64(u64),
        I64(i64),
        F64(f64),
        /// A declared type followed by arbitrary bytes.
        Raw(u32, Vec<u8>),
    }

    pub fn s(text: &str) -> V {
        V::Str(text.as_bytes().to_vec())
    }

    impl V {
        pub fn type_id(&self) -> u32 {
            match self {
                V::U8(_) => U8,
                V::I8(_) => I8,
                V::U16(_) => U16,
                V::I16(_) => I16,
                V::U32(_) => U32,
                V::I32(_) => I32,
                V::F32(_) => F32,
                V::Bool(_) => BOOL,
                V::Str(_) => STRING,
                V::Arr(..) => ARRAY,
                V::U64(_) => U64,
                V::I64(_) => I64,
                V::F64(_) => F64,
                V::Raw(t, _) => *t,
            }
        }

        pub fn write_body(&self, out: &mut Vec<u8>) {
            match self {
                V::U8(x) => out.push(*x),
                V::I8(x) => out.extend(x.to_le_bytes()),
                V::U16(x) => out.extend(x.to_le_bytes()),
                V::I16(x) => out.extend(x.to_le_bytes()),
                V::U32(x) => out.extend(x.to_le_bytes()),
                V::I32(x) => out.extend(x.to_le_bytes()),
                V::F32(x) => out.extend(x.to_le_bytes()),
                V::Bool(b) => out.push(*b),
                V::Str(bytes) => string(out, bytes),
                V::Arr(ty, items) => {
                    out.extend(ty.to_le_bytes());
                    out.extend((items.len() as u64).to_le_bytes());
                    for item in items {
                        item.write_body(out);
                    }
                }
                V::U64(x) => out.extend(x.to_le_bytes()),
                V::I64(x) => out.extend(x.to_le_bytes()),
                V::F64(x) => out.extend(x.to_le_bytes()),
                V::Raw(_, bytes) => out.extend(bytes),
            }
        }
    }

    pub fn string(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend((bytes.len() as u64).to_le_bytes());
        out.extend(bytes);
    }

    #[derive(Clone, Debug)]
    pub struct TensorSpec {
        pub name: Vec<u8>,
        /// GGUF's dims, innermost first.
        pub ne: Vec<u64>,
        pub ty: u32,
        pub data: Vec<u8>,
        /// Where the data goes; by default the next multiple of the alignment.
        pub offset: Option<u64>,
        /// The number of dims written; by default `ne.len()`.
        pub n_dims: Option<u32>,
    }

    #[derive(Clone, Debug)]
    pub struct FileSpec {
        pub magic: [u8; 4],
        pub version: u32,
        pub kvs: Vec<(Vec<u8>, V)>,
        pub tensors: Vec<TensorSpec>,
        /// The alignment the layout follows (write `general.alignment` to declare it).
        pub alignment: u64,
        pub kv_count: Option<u64>,
        pub tensor_count: Option<u64>,
        /// Bytes cut from the end of the file.
        pub cut: usize,
    }

    impl FileSpec {
        pub fn new() -> Self {
            FileSpec {
                magic: *b"GGUF",
                version: 3,
                kvs: Vec::new(),
                tensors: Vec::new(),
                alignment: 32,
                kv_count: None,
                tensor_count: None,
                cut: 0,
            }
        }

        pub fn kv(mut self, key: &str, value: V) -> Self {
            self.kvs.push((key.as_bytes().to_vec(), value));
            self
        }

        pub fn tensor(mut self, name: &str, ne: &[u64], ty: u32, data: Vec<u8>) -> Self {
            self.tensors.push(TensorSpec {
                name: name.as_bytes().to_vec(),
                ne: ne.to_vec(),
                ty,
                data,
                offset: None,
                n_dims: None,
            });
            self
        }

        /// The file's bytes.
        pub fn build(&self) -> Vec<u8> {
            let mut out = self.magic.to_vec();
            out.extend(self.version.to_le_bytes());
            let tensor_count = self.tensor_count.unwrap_or(self.tensors.len() as u64);
            out.extend(tensor_count.to_le_bytes());
            out.extend(self.kv_count.unwrap_or(self.kvs.len() as u64).to_le_bytes());
            for (key, value) in &self.kvs {
                string(&mut out, key);
                out.extend(value.type_id().to_le_bytes());
                value.write_body(&mut out);
            }
            let align = self.alignment.max(1);
            let mut cursor = 0u64;
            let mut placed = Vec::new();
            for t in &self.tensors {
                let offset = t.offset.unwrap_or(cursor);
                cursor = (cursor + t.data.len() as u64).div_ceil(align) * align;
                string(&mut out, &t.name);
                out.extend(t.n_dims.unwrap_or(t.ne.len() as u32).to_le_bytes());
                for d in &t.ne {
                    out.extend(d.to_le_bytes());
                }
                out.extend(t.ty.to_le_bytes());
                out.extend(offset.to_le_bytes());
                placed.push((offset, &t.data));
            }
            let start = (out.len() as u64).div_ceil(align) * align;
            out.resize(start as usize, 0);
            for (offset, data) in placed {
                // Offsets far out (a hostile override) get no data; the file then ends
                // before them.
                if offset < 1 << 20 {
                    let begin = start as usize + offset as usize;
                    if out.len() < begin + data.len() {
                        out.resize(begin + data.len(), 0);
                    }
                    out[begin..begin + data.len()].copy_from_slice(data);
                }
            }
            let len = out.len().saturating_sub(self.cut);
            out.truncate(len);
            out
        }
    }

    /// A block of Q8_0: the f16 bits of `d`, then 32 signed quants.
    pub fn q8_0(d: u16, qs: [i8; 32]) -> Vec<u8> {
        let mut out = d.to_le_bytes().to_vec();
        out.extend(qs.iter().map(|&q| q as u8));
        out
    }

    /// A block of Q4_0 from its 32 quants (0..=15) in element order.
    pub fn q4_0(d: u16, q: [u8; 32]) -> Vec<u8> {
        let mut out = d.to_le_bytes().to_vec();
        out.extend((0..16).map(|j| q[j] | (q[j + 16] << 4)));
        out
    }

    /// A block of Q4_1 from its 32 quants (0..=15) in element order.
    pub fn q4_1(d: u16, m: u16, q: [u8; 32]) -> Vec<u8> {
        let mut out = d.to_le_bytes().to_vec();
        out.extend(m.to_le_bytes());
        out.extend((0..16).map(|j| q[j] | (q[j + 16] << 4)));
        out
    }
}

/// ggml type ids used here.
const F32: u32 = 0;
const F16: u32 = 1;
const Q4_0: u32 = 2;
const Q4_1: u32 = 3;
const Q8_0: u32 = 8;
const Q2_K: u32 = 10;
const BF16: u32 = 30;

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Opens `bytes`, expecting a `MalformedGguf` error; returns its message.
fn malformed(bytes: Vec<u8>) -> String {
    match Gguf::from_bytes(bytes) {
        Err(e @ LoadError::MalformedGguf { .. }) => e.to_string(),
        Err(e) => panic!("expected a MalformedGguf error, got {e:?}"),
        Ok(file) => panic!("expected a MalformedGguf error, the file opened: {file:?}"),
    }
}

fn assert_malformed(spec: &FileSpec, expected: &str) {
    let msg = malformed(spec.build());
    assert!(
        msg.contains(expected),
        "the message\n  {msg}\ndoes not say\n  {expected}"
    );
}

/// Loads any tensor with runtime dims of its own shape, as `f32`.
fn load_any(file: &Gguf, name: &str) -> Result<Vec<f32>, LoadError> {
    let shape = file.tensor_info(name).expect("the tensor exists").shape;
    fn go<S: Shape>(file: &Gguf, name: &str, dims: &[usize]) -> Result<Vec<f32>, LoadError> {
        let shape = S::from_dims(dims).expect("runtime dims take any size");
        Ok(file.load_with::<S, f32>(name, shape)?.as_slice().to_vec())
    }
    match shape.len() {
        0 => go::<()>(file, name, &shape),
        1 => go::<(Dyn,)>(file, name, &shape),
        2 => go::<(Dyn, Dyn)>(file, name, &shape),
        3 => go::<(Dyn, Dyn, Dyn)>(file, name, &shape),
        4 => go::<(Dyn, Dyn, Dyn, Dyn)>(file, name, &shape),
        r => panic!("a GGUF tensor of rank {r}"),
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf")
}

// ---------------------------------------------------------------------------------------
// Files written by gguf-py (llama.cpp's Python package)
// ---------------------------------------------------------------------------------------

#[test]
fn reads_a_file_written_by_gguf_py_bit_for_bit() {
    let file = Gguf::open(fixtures().join("tiny.gguf")).expect("gguf-py's file opens");
    let want: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("tiny.json")).unwrap())
            .unwrap();
    assert_eq!(file.version(), 3);
    assert_eq!(file.alignment(), 64);
    assert_eq!(file.data_offset() % 64, 0);

    let meta = file.metadata();
    assert_eq!(meta.get_str("general.architecture").unwrap(), "llama");
    assert_eq!(meta.get_u32("general.alignment").unwrap(), 64);
    assert_eq!(meta.get_u8("test.u8").unwrap(), 200);
    assert_eq!(meta.get_i8("test.i8").unwrap(), -100);
    assert_eq!(meta.get_u16("test.u16").unwrap(), 60000);
    assert_eq!(meta.get_i16("test.i16").unwrap(), -30000);
    assert_eq!(meta.get_u32("llama.block_count").unwrap(), 30);
    assert_eq!(meta.get_i32("test.i32").unwrap(), -2_000_000_000);
    assert_eq!(meta.get_f32("llama.rope.freq_base").unwrap(), 100000.0);
    assert!(meta.get_bool("test.bool").unwrap());
    assert_eq!(
        meta.get_str("general.name").unwrap(),
        want["metadata"]["general.name"].as_str().unwrap()
    );
    assert_eq!(meta.get_u64("test.u64").unwrap(), (1 << 63) + 5);
    assert_eq!(meta.get_i64("test.i64").unwrap(), -(1 << 62));
    assert_eq!(meta.get_f64("test.f64").unwrap(), -1.5e300);
    assert_eq!(
        meta.get_str_array("tokenizer.ggml.tokens").unwrap(),
        ["<s>", "Ġthe", "▁x", "🙂", ""]
    );
    assert_eq!(
        meta.get_i32_array("tokenizer.ggml.token_type").unwrap(),
        [1, 3, -2]
    );
    assert_eq!(
        meta.get_f32_array("tokenizer.ggml.scores").unwrap(),
        [0.5, -1.25]
    );
    // An array of arrays, each of its own element type.
    let nested: &[MetaArray] = meta.get_as("test.nested").unwrap();
    assert_eq!(
        nested,
        [
            MetaArray::I32(vec![1, 2, 3]),
            MetaArray::String(vec!["a".into(), "bc".into()]),
            MetaArray::Bool(vec![true]),
        ]
    );
    assert_eq!(
        meta.get("test.nested").unwrap().type_name(),
        "ARRAY of ARRAY"
    );

    let order: Vec<&str> = want["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(file.tensor_names(), order);
    for name in order {
        let t = &want["tensors"][name];
        let info = file.tensor_info(name).unwrap();
        assert_eq!(info.ggml_type.name(), t["type"].as_str().unwrap());
        let shape: Vec<usize> = t["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(
            info.shape, shape,
            "tensor `{name}`: numpy's row-major shape"
        );
        let got = load_any(&file, name).unwrap();
        let want_bits: Vec<u32> = t["bits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap() as u32)
            .collect();
        let got_bits: Vec<u32> = got.iter().map(|x| x.to_bits()).collect();
        assert_eq!(
            got_bits, want_bits,
            "tensor `{name}` differs from gguf-py's"
        );
    }

    // Typed, with the dims the types name: the Q4_1 tensor is 2 rows of 128.
    dim!(pub Rows = 2);
    dim!(pub Cols = 128);
    let q: Tensor<(Rows, Cols), f64> = file.load("q4_1").unwrap();
    assert_eq!(q.as_slice().len(), 256);
    let err = file.load::<(Cols, Rows), f32>("q4_1").unwrap_err();
    assert_eq!(
        err.to_string(),
        "tensor `q4_1`: expected shape (Cols=128, Rows=2), file has [2, 128]"
    );
}

/// GGUF v2 and v3 differ only in what v3 allows (big-endian files, refused here): the
/// little-endian layout is the same. gguf-py writes v3, so its file with the version set
/// to 2 must read the same metadata and the same values, bit for bit.
#[test]
fn the_gguf_py_file_as_version_2_reads_the_same() {
    let bytes = std::fs::read(fixtures().join("tiny.gguf")).unwrap();
    let v3 = Gguf::from_bytes(bytes.clone()).unwrap();
    let mut v2_bytes = bytes;
    assert_eq!(v2_bytes[4..8], 3u32.to_le_bytes());
    v2_bytes[4..8].copy_from_slice(&2u32.to_le_bytes());
    let v2 = Gguf::from_bytes(v2_bytes).expect("the v2 file opens");
    assert_eq!((v2.version(), v3.version()), (2, 3));
    assert_eq!(v2.alignment(), 64);
    assert_eq!(v2.data_offset(), v3.data_offset());
    assert_eq!(v2.metadata(), v3.metadata());
    assert_eq!(v2.tensor_names(), v3.tensor_names());
    for name in v3.tensor_names() {
        assert_eq!(v2.tensor_info(name), v3.tensor_info(name));
        let (a, b) = (load_any(&v2, name).unwrap(), load_any(&v3, name).unwrap());
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b), "tensor `{name}`");
    }
}

// ---------------------------------------------------------------------------------------
// Layout and dequantization
// ---------------------------------------------------------------------------------------

#[test]
fn gguf_dims_are_innermost_first() {
    // ne = [3, 2]: rows of 3, 2 of them; the data is row-major.
    let data = f32_bytes(&[0., 1., 2., 10., 11., 12.]);
    let file = Gguf::from_bytes(FileSpec::new().tensor("w", &[3, 2], F32, data).build()).unwrap();
    assert_eq!(file.tensor_info("w").unwrap().shape, [2, 3]);
    dim!(pub Two = 2);
    dim!(pub Three = 3);
    let w: Tensor<(Two, Three)> = file.load("w").unwrap();
    assert_eq!(w[[0, 2]], 2.0);
    assert_eq!(w[[1, 0]], 10.0);
    let err = file.load::<(Three, Two), f32>("w").unwrap_err();
    assert_eq!(
        err.to_string(),
        "tensor `w`: expected shape (Three=3, Two=2), file has [2, 3]"
    );
    // A rank-4 tensor: ne = [1, 2, 3, 4] is the shape [4, 3, 2, 1].
    let data = f32_bytes(&(0..24).map(|x| x as f32).collect::<Vec<_>>());
    let file = Gguf::from_bytes(
        FileSpec::new()
            .tensor("x", &[1, 2, 3, 4], F32, data)
            .build(),
    )
    .unwrap();
    assert_eq!(file.tensor_info("x").unwrap().shape, [4, 3, 2, 1]);
    let x = file.load::<(D<4>, D<3>, D<2>, D<1>), f32>("x").unwrap();
    assert_eq!(x[[2, 1, 1, 0]], 15.0); // 2·6 + 1·2 + 1
}

/// The elements of a one-block tensor of `ty`.
fn one_block(ty: u32, block: Vec<u8>) -> Vec<f32> {
    let file = Gguf::from_bytes(FileSpec::new().tensor("b", &[32], ty, block).build()).unwrap();
    file.load::<(D<32>,), f32>("b").unwrap().as_slice().to_vec()
}

#[test]
fn q8_0_blocks_dequantize_as_ggml_does() {
    let mut qs = [0i8; 32];
    qs[..6].copy_from_slice(&[-128, -1, 0, 1, 127, 5]);
    qs[31] = -7;
    // d = 0.5 (f16 0x3800)
    let x = one_block(Q8_0, writer::q8_0(0x3800, qs));
    assert_eq!(&x[..6], &[-64.0, -0.5, 0.0, 0.5, 63.5, 2.5]);
    assert_eq!(x[31], -3.5);
    // A negative scale, d = -2 (0xC000), flips every sign.
    let x = one_block(Q8_0, writer::q8_0(0xC000, qs));
    assert_eq!(&x[..6], &[256.0, 2.0, -0.0, -2.0, -254.0, -10.0]);
    assert_eq!(x[31], 14.0);
}

#[test]
fn q4_0_blocks_dequantize_both_nibble_halves() {
    let mut q = [8u8; 32]; // 8 is zero
    q[0] = 0; // low nibble of byte 0
    q[16] = 15; // high nibble of byte 0
    q[1] = 9;
    q[17] = 1;
    q[15] = 4; // low nibble of the last byte
    q[31] = 12; // high nibble of the last byte
    let block = writer::q4_0(0x4000, q); // d = 2
    assert_eq!(block[2], 0xF0, "element 0 low, element 16 high");
    assert_eq!(block[3], 0x19);
    let x = one_block(Q4_0, block.clone());
    assert_eq!(x[0], -16.0); // (0 − 8)·2
    assert_eq!(x[16], 14.0); // (15 − 8)·2
    assert_eq!(x[1], 2.0);
    assert_eq!(x[17], -14.0);
    assert_eq!(x[15], -8.0);
    assert_eq!(x[31], 8.0);
    assert_eq!(x[5], 0.0);
    // d = -0.5 (0xB800)
    let mut block = block;
    block[..2].copy_from_slice(&0xB800u16.to_le_bytes());
    let x = one_block(Q4_0, block);
    assert_eq!((x[0], x[16], x[1], x[17]), (4.0, -3.5, -0.5, 3.5));
}

#[test]
fn q4_1_blocks_add_their_minimum() {
    let mut q = [0u8; 32];
    q[0] = 12;
    q[16] = 3;
    q[7] = 15;
    q[23] = 1;
    // d = 0.25 (0x3400), m = -1 (0xBC00)
    let x = one_block(Q4_1, writer::q4_1(0x3400, 0xBC00, q));
    assert_eq!(x[0], 2.0); // 12·0.25 − 1
    assert_eq!(x[16], -0.25); // 3·0.25 − 1
    assert_eq!(x[7], 2.75);
    assert_eq!(x[23], -0.75);
    assert_eq!(x[1], -1.0); // a zero quant is the minimum
                            // A negative scale with a positive minimum: d = -1.5 (0xBE00), m = 100 (0x5640).
    let x = one_block(Q4_1, writer::q4_1(0xBE00, 0x5640, q));
    assert_eq!((x[0], x[16], x[1]), (82.0, 95.5, 100.0));
}

#[test]
fn f16_bf16_and_f32_tensors_load_exactly() {
    // f16: 1, -2, the smallest subnormal, 65504, −∞; bf16: 1, π rounded, −0, 1e38-ish.
    let f16: Vec<u8> = [0x3C00u16, 0xC000, 0x0001, 0x7BFF]
        .iter()
        .flat_map(|h| h.to_le_bytes())
        .collect();
    let bf16: Vec<u8> = [0x3F80u16, 0x4049, 0x8000, 0x7E96]
        .iter()
        .flat_map(|h| h.to_le_bytes())
        .collect();
    let file = Gguf::from_bytes(
        FileSpec::new()
            .tensor("h", &[4], F16, f16)
            .tensor("b", &[4], BF16, bf16)
            .tensor("f", &[2], F32, f32_bytes(&[1e-40, -3.25]))
            .build(),
    )
    .unwrap();
    let h = file.load::<(D<4>,), f64>("h").unwrap();
    assert_eq!(h.as_slice(), &[1.0, -2.0, 2f64.powi(-24), 65504.0]);
    let b = file.load::<(D<4>,), f32>("b").unwrap();
    assert_eq!(b.as_slice()[..2], [1.0, 3.140625]);
    assert!(b.as_slice()[2] == 0.0 && b.as_slice()[2].is_sign_negative());
    assert_eq!(b.as_slice()[3], f32::from_bits(0x7E96_0000));
    let f = file.load::<(D<2>,), f32>("f").unwrap();
    assert_eq!(f.as_slice(), &[1e-40, -3.25]);
}

#[test]
fn an_unsupported_type_is_an_error_naming_the_tensor_and_the_type() {
    // One Q2_K super-block (256 elements, 84 bytes): the file opens, the tensor is
    // listed with its type, its bytes are there, and loading it says what is missing.
    let file = Gguf::from_bytes(
        FileSpec::new()
            .tensor("blk.0.ffn_down.weight", &[256], Q2_K, vec![0; 84])
            .tensor("norm", &[2], F32, f32_bytes(&[1.0, 2.0]))
            .build(),
    )
    .unwrap();
    let info = file.tensor_info("blk.0.ffn_down.weight").unwrap();
    assert_eq!(info.ggml_type, GgmlType::Q2_K);
    assert_eq!(file.tensor_data("blk.0.ffn_down.weight").unwrap().len(), 84);
    let err = file
        .load::<(D<256>,), f32>("blk.0.ffn_down.weight")
        .unwrap_err();
    assert!(matches!(err, LoadError::Unsupported { .. }));
    assert_eq!(
        err.to_string(),
        "tensor `blk.0.ffn_down.weight`: stored as Q2_K, which does not load yet \
         (only F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K do)"
    );
    // The other tensors of the file still load.
    assert_eq!(
        file.load::<(D<2>,), f32>("norm").unwrap().as_slice(),
        &[1.0, 2.0]
    );
    assert!(matches!(
        file.load::<(D<2>,), f32>("nope"),
        Err(LoadError::Missing { .. })
    ));
}

#[test]
fn metadata_getters_name_the_key_and_both_types() {
    let file = Gguf::from_bytes(
        FileSpec::new()
            .kv("llama.block_count", V::U32(30))
            .kv("llama.context_length", V::U64(8192))
            .kv("neg", V::I32(-3))
            .kv("tokens", V::Arr(writer::STRING, vec![writer::s("a")]))
            .kv("flag", V::Bool(0))
            .build(),
    )
    .unwrap();
    let meta = file.metadata();
    assert_eq!(meta.len(), 5);
    assert_eq!(meta.get_u32("llama.block_count").unwrap(), 30);
    assert!(!meta.get_bool("flag").unwrap());
    let err = meta.get_u32("llama.context_length").unwrap_err();
    assert!(matches!(err, LoadError::KeyType { .. }));
    assert_eq!(
        err.to_string(),
        "metadata `llama.context_length` is UINT64, not UINT32"
    );
    assert_eq!(
        meta.get_str("tokens").unwrap_err().to_string(),
        "metadata `tokens` is ARRAY of STRING, not STRING"
    );
    assert_eq!(
        meta.get_f32_array("tokens").unwrap_err().to_string(),
        "metadata `tokens` is ARRAY of STRING, not ARRAY of FLOAT32"
    );
    assert_eq!(meta.get_str_array("tokens").unwrap(), ["a"]);
    assert_eq!(
        meta.get_u32("llama.vocab_size").unwrap_err().to_string(),
        "no metadata key `llama.vocab_size` in the file"
    );
    assert_eq!(meta.get_opt::<u32>("llama.vocab_size").unwrap(), None);
    assert_eq!(meta.get_opt::<u32>("llama.block_count").unwrap(), Some(30));
    assert!(meta.get_opt::<f32>("llama.block_count").is_err());
    // The lenient getter takes any non-negative integer.
    assert_eq!(meta.get_usize("llama.context_length").unwrap(), 8192);
    assert_eq!(meta.get_usize("llama.block_count").unwrap(), 30);
    assert_eq!(
        meta.get_usize("neg").unwrap_err().to_string(),
        "metadata `neg` is INT32 -3, not a non-negative integer that fits usize"
    );
    assert_eq!(meta.get("neg"), Some(&MetaValue::I32(-3)));
}

// ---------------------------------------------------------------------------------------
// Hostile input: one rule each
// ---------------------------------------------------------------------------------------

/// A valid file exercising every section: metadata (with an array), two tensors.
fn valid() -> FileSpec {
    FileSpec::new()
        .kv("general.architecture", writer::s("llama"))
        .kv(
            "tokenizer.ggml.tokens",
            V::Arr(writer::STRING, vec![writer::s("a"), writer::s("bc")]),
        )
        .tensor("a", &[32, 2], Q8_0, writer::q8_0(0x3C00, [1; 32]).repeat(2))
        .tensor("b", &[4], F32, f32_bytes(&[1., 2., 3., 4.]))
}

#[test]
fn the_valid_base_file_opens() {
    let file = Gguf::from_bytes(valid().build()).unwrap();
    assert_eq!(file.tensor_names(), ["a", "b"]);
    assert_eq!(load_any(&file, "a").unwrap(), vec![1.0; 64]);
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = valid().build();
    for len in 0..bytes.len() {
        let cut = bytes[..len].to_vec();
        // A cut inside the padding after the last tensor's data would still be a valid
        // file; the base file's last tensor ends the file exactly.
        let msg = malformed(cut);
        assert!(!msg.is_empty(), "{len}");
    }
    assert!(malformed(valid().build()[..20].to_vec()).contains("the file ends inside"));
}

#[test]
fn a_wrong_magic_is_refused() {
    let mut spec = valid();
    spec.magic = *b"GGUG";
    assert_malformed(&spec, "does not begin with the magic bytes `GGUF`");
}

#[test]
fn versions_other_than_2_and_3_are_refused() {
    let mut spec = valid();
    spec.version = 2;
    assert!(Gguf::from_bytes(spec.build()).is_ok(), "version 2 opens");
    spec.version = 1;
    assert_malformed(&spec, "GGUF version 1");
    spec.version = 4;
    assert_malformed(&spec, "GGUF version 4 is not supported");
    spec.version = 3u32.swap_bytes();
    assert_malformed(&spec, "big-endian");
}

#[test]
fn counts_larger_than_the_file_are_refused_before_allocating() {
    let mut spec = valid();
    spec.kv_count = Some(u64::MAX);
    assert_malformed(&spec, "declares 18446744073709551615 metadata entries");
    let mut spec = valid();
    spec.tensor_count = Some(1 << 40);
    assert_malformed(&spec, "declares 1099511627776 tensors");
    // One more than there are: the reader runs out of bytes.
    let mut spec = valid();
    spec.kv_count = Some(3);
    assert!(!malformed(spec.build()).is_empty());
}

#[test]
fn string_lengths_beyond_the_file_are_refused() {
    // A key whose length is 2^64 − 1.
    let mut bytes = FileSpec::new().build();
    bytes.truncate(24); // no padding: the header alone
    bytes[16..24].copy_from_slice(&1u64.to_le_bytes()); // one metadata entry
    bytes.extend(u64::MAX.to_le_bytes());
    bytes.extend([0; 16]);
    assert!(malformed(bytes).contains("the key of metadata entry 0 at offset 24 declares"));
    // A string value longer than what follows.
    let mut raw = 1000u64.to_le_bytes().to_vec();
    raw.extend(b"short");
    let spec = FileSpec::new().kv("k", V::Raw(writer::STRING, raw));
    assert_malformed(
        &spec,
        // (the 5 bytes and the padding to the alignment)
        "the value of metadata key `k` at offset 37 declares 1000 bytes, but only 19 bytes follow",
    );
}

#[test]
fn array_lengths_beyond_the_file_are_refused() {
    for (ty, len) in [
        (writer::U64, 1u64 << 61), // 2^61 · 8 overflows
        (writer::U8, 1 << 40),
        (writer::STRING, 1 << 30),
        (writer::ARRAY, 1000),
        (writer::BOOL, u64::MAX),
    ] {
        let mut raw = ty.to_le_bytes().to_vec();
        raw.extend(len.to_le_bytes());
        raw.extend([0; 64]);
        let spec = FileSpec::new().kv("arr", V::Raw(writer::ARRAY, raw));
        assert_malformed(
            &spec,
            &format!("the value of metadata key `arr` at offset 39 declares {len} elements"),
        );
    }
}

#[test]
fn deeply_nested_arrays_are_refused() {
    // Eight levels of arrays open; nine do not.
    let mut value = V::Arr(writer::U8, vec![V::U8(1)]);
    for _ in 0..7 {
        value = V::Arr(writer::ARRAY, vec![value]);
    }
    assert!(Gguf::from_bytes(FileSpec::new().kv("deep", value.clone()).build()).is_ok());
    let value = V::Arr(writer::ARRAY, vec![value]);
    assert_malformed(
        &FileSpec::new().kv("deep", value),
        "nests arrays 9 deep; this reader accepts 8",
    );
}

#[test]
fn text_that_is_not_utf8_is_refused() {
    let mut spec = valid();
    spec.kvs[0].0 = b"general.\xffarch".to_vec();
    assert_malformed(
        &spec,
        "the key of metadata entry 0 at offset 24 is not UTF-8",
    );
    let spec = FileSpec::new().kv("name", V::Str(b"ok\xc3".to_vec()));
    assert_malformed(&spec, "the value of metadata key `name`");
    let mut spec = valid();
    spec.tensors[1].name = b"\xfe".to_vec();
    assert_malformed(&spec, "the name of tensor 1 at offset");
}

#[test]
fn a_bool_is_0_or_1() {
    assert_malformed(
        &FileSpec::new().kv("flag", V::Bool(2)),
        "the value of metadata key `flag` at offset 40 is a BOOL of byte 2",
    );
    assert_malformed(
        &FileSpec::new().kv(
            "flags",
            V::Arr(writer::BOOL, vec![V::Bool(1), V::Bool(255)]),
        ),
        "element 1 of the value of metadata key `flags`",
    );
}

#[test]
fn unknown_value_types_are_refused() {
    assert_malformed(
        &FileSpec::new().kv("k", V::Raw(13, vec![0; 8])),
        "metadata key `k` has unknown value type 13",
    );
    let mut raw = 99u32.to_le_bytes().to_vec();
    raw.extend(0u64.to_le_bytes());
    assert_malformed(
        &FileSpec::new().kv("k", V::Raw(writer::ARRAY, raw)),
        "has elements of unknown type 99",
    );
}

#[test]
fn a_repeated_key_or_tensor_name_is_refused() {
    let spec = valid().kv("general.architecture", writer::s("qwen2"));
    assert_malformed(&spec, "metadata key `general.architecture` appears twice");
    let spec = valid().tensor("a", &[1], F32, f32_bytes(&[0.0]));
    assert_malformed(&spec, "tensor `a` is declared twice");
}

#[test]
fn the_alignment_is_a_u32_power_of_two() {
    let mut spec = valid().kv("general.alignment", V::U32(64));
    spec.alignment = 64;
    let file = Gguf::from_bytes(spec.build()).unwrap();
    assert_eq!(file.alignment(), 64);
    assert_eq!(file.data_offset() % 64, 0);
    assert_malformed(
        &valid().kv("general.alignment", V::U32(48)),
        "`general.alignment` is 48; it must be a power of two",
    );
    assert_malformed(
        &valid().kv("general.alignment", V::U32(0)),
        "`general.alignment` is 0",
    );
    assert_malformed(
        &valid().kv("general.alignment", V::U64(32)),
        "`general.alignment` is UINT64, not UINT32",
    );
}

#[test]
fn tensors_have_at_most_4_dims_of_a_known_type() {
    let spec = FileSpec::new().tensor("t", &[1, 1, 1, 1, 1], F32, f32_bytes(&[0.0]));
    assert_malformed(&spec, "tensor `t` has 5 dims; GGUF tensors have at most 4");
    let spec = FileSpec::new().tensor("t", &[1], 4, vec![0; 32]);
    assert_malformed(&spec, "tensor `t` has unknown ggml type 4");
}

#[test]
fn element_counts_that_overflow_are_refused() {
    let spec = FileSpec::new().tensor("t", &[1 << 32, 1 << 32, 1 << 32], F32, vec![]);
    assert_malformed(
        &spec,
        "tensor `t`: shape [4294967296, 4294967296, 4294967296] has too many elements",
    );
    // An empty tensor whose other dims overflow: its strides would.
    let spec = FileSpec::new().tensor("t", &[0, 1 << 40, 1 << 40], F32, vec![]);
    assert_malformed(
        &spec,
        "tensor `t`: shape [1099511627776, 1099511627776, 0] has too many elements",
    );
    // The element count fits, the byte count does not.
    let spec = FileSpec::new().tensor("t", &[1 << 62, 2], F32, vec![]);
    assert_malformed(&spec, "has too many elements");
    let spec = FileSpec::new().tensor("t", &[u64::MAX], F32, vec![]);
    assert!(!malformed(spec.build()).is_empty());
}

#[test]
fn rows_are_whole_blocks() {
    let spec = FileSpec::new().tensor("t", &[48, 2], Q4_0, vec![0; 18 * 3]);
    assert_malformed(
        &spec,
        "tensor `t`: its rows of 48 elements are not a whole number of Q4_0 blocks of 32",
    );
}

#[test]
fn misaligned_offsets_are_refused() {
    let mut spec = valid();
    spec.tensors[1].offset = Some(72);
    assert_malformed(
        &spec,
        "tensor `b`: its data offset 72 is not a multiple of the alignment 32",
    );
}

#[test]
fn data_past_the_end_of_the_file_is_refused() {
    let mut spec = valid();
    spec.cut = 1;
    assert_malformed(
        &spec,
        "tensor `b`: its 16 bytes at data offset 96 end past the file",
    );
    let mut spec = valid();
    spec.tensors[1].offset = Some(u64::MAX - 31);
    assert_malformed(
        &spec,
        "tensor `b`: its 16 bytes at data offset 18446744073709551584",
    );
}

#[test]
fn overlapping_tensors_are_refused() {
    let mut spec = valid();
    spec.tensors[1].offset = Some(64); // inside `a`, which spans 0..68
    assert_malformed(
        &spec,
        "tensor `b` (bytes 64..80 of the data) overlaps tensor `a` (0..68)",
    );
    // Empty tensors take no bytes: two at one offset, or one inside another, are fine.
    let mut spec = valid().tensor("e", &[0], F32, vec![]);
    spec.tensors[2].offset = Some(32);
    let file = Gguf::from_bytes(spec.build()).unwrap();
    assert_eq!(load_any(&file, "e").unwrap(), Vec::<f32>::new());
}

// ---------------------------------------------------------------------------------------
// Fuzz: random valid files round trip; mutated ones never panic
// ---------------------------------------------------------------------------------------

/// xorshift64*: a seeded generator, so a failure names the input that caused it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// The value as the reader should return it.
fn expected(value: &V) -> MetaValue {
    fn array(ty: u32, items: &[V]) -> MetaArray {
        macro_rules! collect {
            ($variant:ident, $v:ident) => {
                MetaArray::$variant(
                    items
                        .iter()
                        .map(|x| match x {
                            V::$v(y) => y.clone(),
                            _ => unreachable!(),
                        })
                        .collect(),
                )
            };
        }
        match ty {
            writer::U8 => collect!(U8, U8),
            writer::I8 => collect!(I8, I8),
            writer::U16 => collect!(U16, U16),
            writer::I16 => collect!(I16, I16),
            writer::U32 => collect!(U32, U32),
            writer::I32 => collect!(I32, I32),
            writer::F32 => collect!(F32, F32),
            writer::U64 => collect!(U64, U64),
            writer::I64 => collect!(I64, I64),
            writer::F64 => collect!(F64, F64),
            writer::BOOL => {
                MetaArray::Bool(items.iter().map(|x| matches!(x, V::Bool(1))).collect())
            }
            writer::STRING => MetaArray::String(
                items
                    .iter()
                    .map(|x| match x {
                        V::Str(s) => String::from_utf8(s.clone()).unwrap(),
                        _ => unreachable!(),
                    })
                    .collect(),
            ),
            writer::ARRAY => MetaArray::Array(
                items
                    .iter()
                    .map(|x| match x {
                        V::Arr(t, inner) => array(*t, inner),
                        _ => unreachable!(),
                    })
                    .collect(),
            ),
            _ => unreachable!(),
        }
    }
    match value {
        V::U8(x) => MetaValue::U8(*x),
        V::I8(x) => MetaValue::I8(*x),
        V::U16(x) => MetaValue::U16(*x),
        V::I16(x) => MetaValue::I16(*x),
        V::U32(x) => MetaValue::U32(*x),
        V::I32(x) => MetaValue::I32(*x),
        V::F32(x) => MetaValue::F32(*x),
        V::Bool(b) => MetaValue::Bool(*b == 1),
        V::Str(s) => MetaValue::String(String::from_utf8(s.clone()).unwrap()),
        V::Arr(t, items) => MetaValue::Array(array(*t, items)),
        V::U64(x) => MetaValue::U64(*x),
        V::I64(x) => MetaValue::I64(*x),
        V::F64(x) => MetaValue::F64(*x),
        V::Raw(..) => unreachable!(),
    }
}

/// A random valid value of type `ty`; arrays nest at most `depth` more levels.
fn random_value(rng: &mut Rng, ty: u32, depth: u32) -> V {
    match ty {
        writer::U8 => V::U8(rng.next() as u8),
        writer::I8 => V::I8(rng.next() as i8),
        writer::U16 => V::U16(rng.next() as u16),
        writer::I16 => V::I16(rng.next() as i16),
        writer::U32 => V::U32(rng.next() as u32),
        writer::I32 => V::I32(rng.next() as i32),
        writer::F32 => V::F32(f32::from_bits(rng.next() as u32 & 0x7F7F_FFFF)), // no NaN
        writer::BOOL => V::Bool(rng.below(2) as u8),
        writer::STRING => {
            let len = rng.below(12) as usize;
            let text: String = (0..len)
                .map(|_| rng.pick(&['a', 'Ġ', '▁', '🙂', '字', ' ', '\n', '<', '|']))
                .collect();
            V::Str(text.into_bytes())
        }
        writer::ARRAY => {
            let inner = if depth == 0 {
                rng.pick(&[writer::U8, writer::I32, writer::STRING])
            } else {
                rng.below(13) as u32
            };
            let len = rng.below(6);
            V::Arr(
                inner,
                (0..len)
                    .map(|_| random_value(rng, inner, depth.saturating_sub(1)))
                    .collect(),
            )
        }
        writer::U64 => V::U64(rng.next()),
        writer::I64 => V::I64(rng.next() as i64),
        _ => V::F64(f64::from_bits(rng.next() & 0x7FEF_FFFF_FFFF_FFFF)),
    }
}

/// A random valid file: version 2 or 3, maybe an alignment, metadata of random types,
/// tensors of every loadable type (and one that does not load) with random bytes.
fn random_file(rng: &mut Rng) -> FileSpec {
    let mut spec = FileSpec::new();
    spec.version = rng.pick(&[2, 3]);
    if rng.below(3) == 0 {
        let align = 1u32 << rng.below(9);
        spec.alignment = u64::from(align);
        spec = spec.kv("general.alignment", V::U32(align));
    }
    for i in 0..rng.below(6) {
        let ty = rng.below(13) as u32;
        let value = random_value(rng, ty, 2);
        spec = spec.kv(&format!("key.{i}"), value);
    }
    for i in 0..rng.below(5) {
        let (ty, block, bytes) = rng.pick(&[
            (F32, 1, 4),
            (F16, 1, 2),
            (BF16, 1, 2),
            (Q8_0, 32, 34),
            (Q4_0, 32, 18),
            (Q4_1, 32, 20),
            (Q2_K, 256, 84),
        ]);
        let rank = 1 + rng.below(3) as usize;
        let mut ne: Vec<u64> = (0..rank).map(|_| rng.below(4)).collect();
        ne[0] *= block;
        let elements: u64 = ne.iter().product();
        let data = rng.bytes((elements / block * bytes) as usize);
        spec = spec.tensor(&format!("t{i}"), &ne, ty, data);
    }
    spec
}

/// The elements of a tensor of type `ty`, from the bytes as written, by the formulas of
/// ggml's reference dequantizer, element by element (the library decodes block by block).
fn reference(ty: u32, data: &[u8]) -> Vec<f32> {
    let h = |b: &[u8], i: usize| f16_bits_to_f32(u16::from_le_bytes([b[i], b[i + 1]]));
    let nibble = |qs: &[u8], j: usize| {
        if j < 16 {
            qs[j] & 0x0F
        } else {
            qs[j - 16] >> 4
        }
    };
    match ty {
        F32 => data
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        F16 => (0..data.len() / 2).map(|i| h(data, 2 * i)).collect(),
        BF16 => (0..data.len() / 2)
            .map(|i| bf16_bits_to_f32(u16::from_le_bytes([data[2 * i], data[2 * i + 1]])))
            .collect(),
        Q8_0 => data
            .chunks(34)
            .flat_map(|b| (0..32).map(move |j| h(b, 0) * f32::from(b[2 + j] as i8)))
            .collect(),
        Q4_0 => data
            .chunks(18)
            .flat_map(|b| (0..32).map(move |j| h(b, 0) * (f32::from(nibble(&b[2..], j)) - 8.0)))
            .collect(),
        Q4_1 => data
            .chunks(20)
            .flat_map(|b| (0..32).map(move |j| h(b, 0) * f32::from(nibble(&b[4..], j)) + h(b, 2)))
            .collect(),
        _ => unreachable!(),
    }
}

/// A random valid file opens and reads back exactly what was written.
fn check_round_trip(spec: &FileSpec) {
    let file = Gguf::from_bytes(spec.build()).unwrap_or_else(|e| panic!("{e}\n{spec:?}"));
    assert_eq!(file.version(), spec.version);
    assert_eq!(file.metadata().len(), spec.kvs.len());
    for (key, value) in &spec.kvs {
        let key = std::str::from_utf8(key).unwrap();
        let got = file.metadata().get(key).unwrap();
        // Compared as debug text so that -0.0 and 0.0 differ.
        assert_eq!(
            format!("{got:?}"),
            format!("{:?}", expected(value)),
            "key `{key}`"
        );
    }
    for t in &spec.tensors {
        let name = std::str::from_utf8(&t.name).unwrap();
        let info = file.tensor_info(name).unwrap();
        let shape: Vec<usize> = t.ne.iter().rev().map(|&d| d as usize).collect();
        assert_eq!(info.shape, shape);
        assert_eq!(file.tensor_data(name).unwrap(), &t.data[..]);
        match load_any(&file, name) {
            Ok(values) => {
                // Bit for bit, except that a NaN may lose its payload (half's conversion
                // quiets a signalling NaN; a NaN is all that matters).
                let bits = |x: &f32| if x.is_nan() { u32::MAX } else { x.to_bits() };
                let got: Vec<u32> = values.iter().map(bits).collect();
                let want: Vec<u32> = reference(t.ty, &t.data).iter().map(bits).collect();
                assert_eq!(got, want, "tensor `{name}` of type {}", t.ty);
            }
            Err(LoadError::Unsupported { .. }) if t.ty == Q2_K => {}
            Err(e) => panic!("tensor `{name}`: {e}"),
        }
    }
}

/// One field of a valid file set to a value a writer would not write.
fn mutate_field(rng: &mut Rng, spec: &mut FileSpec) {
    let hostile = |rng: &mut Rng, near: u64| -> u64 {
        match rng.below(8) {
            0 => u64::MAX,
            1 => u64::MAX - rng.below(64),
            2 => 1 << rng.below(64),
            3 => near.wrapping_add(1),
            4 => near.wrapping_sub(1),
            5 => rng.below(64),
            6 => (1 << 32) + rng.below(4),
            _ => rng.next(),
        }
    };
    match rng.below(12) {
        0 => spec.kv_count = Some(hostile(rng, spec.kvs.len() as u64)),
        1 => spec.tensor_count = Some(hostile(rng, spec.tensors.len() as u64)),
        2 => spec.version = hostile(rng, 3) as u32,
        3 => spec.cut = rng.below(64) as usize,
        4 if !spec.tensors.is_empty() => {
            let i = rng.below(spec.tensors.len() as u64) as usize;
            let d = rng.below(spec.tensors[i].ne.len() as u64) as usize;
            let near = spec.tensors[i].ne[d];
            spec.tensors[i].ne[d] = hostile(rng, near);
        }
        5 if !spec.tensors.is_empty() => {
            let i = rng.below(spec.tensors.len() as u64) as usize;
            spec.tensors[i].ty = hostile(rng, 8) as u32 % 48;
        }
        6 if !spec.tensors.is_empty() => {
            let i = rng.below(spec.tensors.len() as u64) as usize;
            spec.tensors[i].offset = Some(hostile(rng, 32));
        }
        7 if !spec.tensors.is_empty() => {
            let i = rng.below(spec.tensors.len() as u64) as usize;
            spec.tensors[i].n_dims = Some(rng.below(9) as u32);
        }
        8 => {
            let ty = rng.below(16) as u32;
            let mut raw = rng.below(16).to_le_bytes().to_vec();
            raw.extend(hostile(rng, 3).to_le_bytes());
            let n = rng.below(24) as usize;
            raw.extend(rng.bytes(n));
            spec.kvs.push((b"hostile".to_vec(), V::Raw(ty, raw)));
        }
        9 => {
            let value = match rng.below(3) {
                0 => V::U32(rng.next() as u32),
                1 => V::U64(32),
                _ => V::I32(-32),
            };
            spec.kvs.insert(0, (b"general.alignment".to_vec(), value));
        }
        10 if !spec.tensors.is_empty() => {
            let name = spec.tensors[0].name.clone();
            let last = spec.tensors.len() - 1;
            spec.tensors[last].name = name;
        }
        _ => {
            let ty = rng.below(14) as u32;
            let n = rng.below(40) as usize;
            let value = V::Raw(ty, rng.bytes(n));
            let n = rng.below(6) as usize;
            spec.kvs.push((rng.bytes(n), value));
        }
    }
}

/// A few byte-level edits: flips, overwritten words, cuts, insertions, deletions.
fn mutate_bytes(rng: &mut Rng, bytes: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let len = bytes.len() as u64;
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len) as usize;
                bytes[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len) as usize;
                bytes[i] = rng.next() as u8;
            }
            2 if len >= 8 => {
                let i = rng.below(len - 7) as usize;
                let random = rng.next();
                let word = rng.pick(&[u64::MAX, 1 << 63, len, len + 1, 0, 1 << 32, random]);
                bytes[i..i + 8].copy_from_slice(&word.to_le_bytes());
            }
            3 => bytes.truncate(rng.below(len + 1) as usize),
            4 => {
                let i = rng.below(len + 1) as usize;
                let n = 1 + rng.below(16) as usize;
                let extra = rng.bytes(n);
                bytes.splice(i..i, extra);
            }
            _ if len > 0 => {
                let i = rng.below(len) as usize;
                let n = (1 + rng.below(16) as usize).min(bytes.len() - i);
                bytes.drain(i..i + n);
            }
            _ => {}
        }
    }
}

/// Whatever the bytes, opening them and loading every tensor of what opens returns.
fn open_and_load_all(bytes: Vec<u8>) -> (bool, usize) {
    match Gguf::from_bytes(bytes) {
        Ok(file) => {
            let mut loaded = 0;
            for name in file.tensor_names() {
                if load_any(&file, name).is_ok() {
                    loaded += 1;
                }
            }
            (true, loaded)
        }
        Err(e) => {
            assert!(matches!(e, LoadError::MalformedGguf { .. }), "{e:?}");
            (false, 0)
        }
    }
}

#[test]
fn fuzz_structured_and_byte_mutations_never_panic() {
    let cases: u64 = std::env::var("SHAPECHECK_GGUF_FUZZ")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let start = std::time::Instant::now();
    let (mut valid_files, mut opened, mut refused, mut tensors_loaded) = (0u64, 0u64, 0u64, 0);
    for case in 0..cases {
        let seed = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(case + 1);
        let mut rng = Rng(seed | 1);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let spec = random_file(&mut rng);
            // One input in three: the valid file itself, checked value by value; the
            // others: the same file with a field or its bytes mutated.
            match case % 3 {
                0 => {
                    check_round_trip(&spec);
                    (true, 0, true)
                }
                1 => {
                    let mut spec = spec;
                    for _ in 0..1 + rng.below(2) {
                        mutate_field(&mut rng, &mut spec);
                    }
                    let (ok, n) = open_and_load_all(spec.build());
                    (ok, n, false)
                }
                _ => {
                    let mut bytes = spec.build();
                    mutate_bytes(&mut rng, &mut bytes);
                    let (ok, n) = open_and_load_all(bytes);
                    (ok, n, false)
                }
            }
        }));
        match outcome {
            Ok((ok, n, was_valid)) => {
                valid_files += u64::from(was_valid);
                if ok {
                    opened += 1;
                } else {
                    refused += 1;
                }
                tensors_loaded += n;
            }
            Err(_) => panic!("fuzz case {case} (seed {seed:#x}) panicked"),
        }
    }
    eprintln!(
        "gguf fuzz: {cases} inputs ({valid_files} valid round trips; of all, {opened} opened, \
         {refused} refused; {tensors_loaded} tensors of mutated files loaded) in {:.2?}",
        start.elapsed()
    );
    // Not vacuous: mutations are refused often, and often not.
    if cases >= 300 {
        assert!(
            refused > cases / 10 && opened > cases / 3,
            "{opened} {refused}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The real model: SmolLM2-135M-Instruct, Q4_1
// ---------------------------------------------------------------------------------------

fn smollm2_path() -> PathBuf {
    std::env::var_os("SHAPECHECK_SMOLLM2_GGUF")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
        })
}

#[test]
fn smollm2_gguf_reads_and_dequantizes_as_gguf_py_does() {
    let path = smollm2_path();
    if !path.is_file() {
        let msg = format!(
            "the SmolLM2-135M-Instruct GGUF not found at {}: run scripts/fetch-smollm2.sh \
             (or set SHAPECHECK_SMOLLM2_GGUF)",
            path.display()
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("note: skipping: {msg}");
        return;
    }
    let start = std::time::Instant::now();
    let file = Gguf::open(&path).expect("the model opens");
    let opened = start.elapsed();
    let meta = file.metadata();
    assert_eq!(file.version(), 3);
    assert_eq!(meta.get_str("general.architecture").unwrap(), "llama");
    assert_eq!(meta.get_u32("llama.block_count").unwrap(), 30);
    assert_eq!(meta.get_u32("llama.embedding_length").unwrap(), 576);
    assert_eq!(meta.get_u32("llama.feed_forward_length").unwrap(), 1536);
    assert_eq!(meta.get_u32("llama.attention.head_count").unwrap(), 9);
    assert_eq!(meta.get_u32("llama.attention.head_count_kv").unwrap(), 3);
    assert_eq!(meta.get_f32("llama.rope.freq_base").unwrap(), 100000.0);
    assert_eq!(meta.get_str("tokenizer.ggml.model").unwrap(), "gpt2");
    assert_eq!(
        meta.get_str_array("tokenizer.ggml.tokens").unwrap().len(),
        49152
    );
    assert_eq!(
        meta.get_str_array("tokenizer.ggml.merges").unwrap().len(),
        48900
    );
    assert!(meta
        .get_str("tokenizer.chat_template")
        .unwrap()
        .contains("<|im_start|>"));

    // Every tensor's type and shape: 30 blocks of 9, the embedding, the final norm.
    let names = file.tensor_names();
    assert_eq!(names.len(), 272);
    let mut counts = std::collections::BTreeMap::new();
    for name in &names {
        let info = file.tensor_info(name).unwrap();
        *counts.entry(info.ggml_type.name()).or_insert(0) += 1;
        let bytes = file.tensor_data(name).unwrap().len();
        let elements = info.num_elements().unwrap();
        assert_eq!(
            bytes,
            elements / info.ggml_type.block_size() * info.ggml_type.block_bytes()
        );
        let want: &[usize] = match name.rsplit_once("blk.").map_or(*name, |(_, r)| {
            r.split_once('.').map_or(r, |(_, rest)| rest)
        }) {
            "token_embd.weight" => &[49152, 576],
            "output_norm.weight" | "attn_norm.weight" | "ffn_norm.weight" => &[576],
            "attn_q.weight" | "attn_output.weight" => &[576, 576],
            "attn_k.weight" | "attn_v.weight" => &[192, 576],
            "ffn_gate.weight" | "ffn_up.weight" => &[1536, 576],
            "ffn_down.weight" => &[576, 1536],
            other => panic!("unexpected tensor `{name}` ({other})"),
        };
        assert_eq!(info.shape, want, "tensor `{name}`");
    }
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        [("F32", 61), ("Q4_1", 210), ("Q8_0", 1)]
    );

    // Dequantized: the Q8_0 embedding, two Q4_1 projections and a norm, typed; the first
    // 64 values of a few rows equal gguf-py's bit for bit, and all are finite.
    dim!(pub Vocab = 49152);
    dim!(pub Hidden = 576);
    dim!(pub Ffn = 1536);
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("smollm2.json")).unwrap())
            .unwrap();
    let check_rows = |name: &str, values: &[f32], cols: usize| {
        assert!(values.iter().all(|x| x.is_finite()), "`{name}` is finite");
        let rows = reference[name]["rows"].as_object().unwrap();
        assert!(!rows.is_empty());
        for (row, bits) in rows {
            let row: usize = row.parse().unwrap();
            let want: Vec<u32> = bits
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_u64().unwrap() as u32)
                .collect();
            let got: Vec<u32> = values[row * cols..row * cols + want.len()]
                .iter()
                .map(|x| x.to_bits())
                .collect();
            assert_eq!(got, want, "`{name}` row {row} differs from gguf-py's");
        }
    };
    let t = std::time::Instant::now();
    let embd: Tensor<(Vocab, Hidden)> = file.load("token_embd.weight").unwrap();
    check_rows("token_embd.weight", embd.as_slice(), 576);
    let q: Tensor<(Hidden, Hidden)> = file.load("blk.0.attn_q.weight").unwrap();
    check_rows("blk.0.attn_q.weight", q.as_slice(), 576);
    let down: Tensor<(Hidden, Ffn)> = file.load("blk.29.ffn_down.weight").unwrap();
    check_rows("blk.29.ffn_down.weight", down.as_slice(), 1536);
    let norm: Tensor<(Hidden,)> = file.load("output_norm.weight").unwrap();
    assert!(norm.as_slice().iter().all(|x| x.is_finite() && *x != 0.0));
    eprintln!(
        "smollm2: opened in {opened:.2?}, 4 tensors ({} values) dequantized in {:.2?}",
        49152 * 576 + 576 * 576 + 576 * 1536 + 576,
        t.elapsed()
    );
}

/// The tokenizer SmolLM2's GGUF carries, read by `Gguf::vocab` and built by
/// `Tokenizer::from_gguf_vocab`, gives Python `tokenizers`' ids for SmolLM2's published
/// `tokenizer.json` on the committed corpus (tests/fixtures/bpe).
#[test]
fn smollm2_gguf_vocabulary_tokenizes_as_python_does() {
    use shapecheck::text::Tokenizer;
    let path = smollm2_path();
    if !path.is_file() {
        let msg = format!(
            "the SmolLM2-135M-Instruct GGUF not found at {}: run scripts/fetch-smollm2.sh",
            path.display()
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("note: skipping: {msg}");
        return;
    }
    let file = Gguf::open(&path).unwrap();
    let vocab = file.vocab().unwrap();
    assert_eq!(
        (vocab.model.as_str(), vocab.pre.as_deref()),
        ("gpt2", Some("smollm"))
    );
    assert_eq!((vocab.tokens.len(), vocab.merges.len()), (49152, 48900));
    let tok = Tokenizer::from_gguf_vocab(&vocab).unwrap();
    let bpe = |name: &str| -> Value {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/bpe")
            .join(name);
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let (corpus, reference) = (bpe("corpus.json"), bpe("reference.json"));
    let lines = corpus["lines"].as_array().unwrap();
    let rows = reference["tokenizers"]["smollm2"]["ids"]
        .as_array()
        .unwrap();
    assert_eq!(lines.len(), rows.len());
    for (line, row) in lines.iter().zip(rows) {
        let line = line.as_str().unwrap();
        let want: Vec<u32> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(tok.encode(line, false).unwrap(), want, "{line:?}");
    }
}

/// The k-quants (`Q4_K`, `Q5_K`, `Q6_K`) and `Q5_0`/`Q5_1` (a `Q4_K_M` file's types)
/// dequantize to gguf-py's values bit for bit: 768 values of each, random bytes with finite scales
/// (`scripts/gen_kquant_fixture.py`), loaded as f32 and as f64 (the f32 widened).
#[test]
fn k_quants_and_5_bit_blocks_dequantize_as_gguf_py_does() {
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("kquants.json")).unwrap())
            .unwrap();
    let kinds = [
        ("Q4_K", 12, GgmlType::Q4_K),
        ("Q5_K", 13, GgmlType::Q5_K),
        ("Q6_K", 14, GgmlType::Q6_K),
        ("Q5_0", 6, GgmlType::Q5_0),
        ("Q5_1", 7, GgmlType::Q5_1),
    ];
    let mut spec = FileSpec::new();
    for (name, id, _) in kinds {
        let hex = fixture[name]["bytes"].as_str().unwrap();
        let bytes = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        spec = spec.tensor(name, &[768], id, bytes);
    }
    let file = Gguf::from_bytes(spec.build()).unwrap();
    for (name, _, ty) in kinds {
        assert_eq!(file.tensor_info(name).unwrap().ggml_type, ty);
        let want: Vec<u32> = fixture[name]["f32_bits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let got = file.load::<(D<768>,), f32>(name).unwrap();
        let bits: Vec<u32> = got.as_slice().iter().map(|v| v.to_bits()).collect();
        assert_eq!(bits, want, "{name}");
        let wide = file.load::<(D<768>,), f64>(name).unwrap();
        let widened = got.as_slice().iter().map(|&g| f64::from(g));
        assert!(wide.as_slice().iter().copied().eq(widened), "{name} as f64");
    }
}
