//! The file-format fuzz of issue 22: structured generation and byte-level mutation of GGUF
//! files, safetensors files, `config.json` texts and sharded-checkpoint indexes, over
//! everything a loader does with them — `Gguf::from_bytes`, loading every tensor, the
//! tokenizer vocabulary (`Gguf::vocab` + `Tokenizer::from_gguf_vocab`, then encoding and
//! decoding), `SafeTensors::from_bytes` + loading, `LlamaConfig::from_json`,
//! `ShardIndex::from_json` + `Checkpoint::from_shards`.
//!
//! Two properties are checked on every input:
//! - nothing panics (each input runs under `catch_unwind`; a panicking input is written to
//!   the temp directory and the run fails naming it);
//! - nothing allocates more than a bound tied to the input's length: a counting global
//!   allocator (bench-support's, which has the `unsafe`) measures the peak bytes live
//!   during each call, which must stay under [`BOUND_PER_BYTE`] × length + [`FIXED`]
//!   ([`FIXED_TOKENIZER`] for building a tokenizer).
//!   A count, length or dims product from a header that sized an allocation would break it
//!   (or abort the process, which fails the run as surely).
//!
//! The seeds of the mutations: the committed fixtures (tests/fixtures/gguf/tiny.gguf, the
//! checkpoint shards and index, published `config.json` texts), files generated here, and,
//! when fetched, SmolLM2's GGUF header (its whole metadata and tokenizer, with its tensor
//! infos shrunk) and MiniLM's safetensors header (its names and dtypes, shapes shrunk).
//!
//! `cargo test --test fuzz_formats` runs a short fuzz (20 000 inputs, a second in debug: CI);
//! the long one is
//! `SHAPECHECK_FUZZ_INPUTS=1000000 cargo test --release --test fuzz_formats -- --ignored
//! --nocapture`, which prints what it ran, per target.
//!
//! This binary holds only these tests: the allocator's counters are global, so no other
//! test may run beside them.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bench_support::alloc::{peak_extra, Counting};
use shapecheck::io::{Checkpoint, SafeTensors, ShardIndex};
use shapecheck::models::llama::LlamaConfig;
use shapecheck::prelude::*;

#[global_allocator]
static ALLOC: Counting = Counting;

/// Bytes that a call may have live at its peak, per byte of its input (a `Q4_0` block of
/// 18 bytes dequantizes to 32 `f64`s, 256 bytes: 14 per byte; a metadata string of 8 + 1
/// bytes becomes a `String` of 24 + 1, a token one of a few tables).
const BOUND_PER_BYTE: usize = 64;
/// … and besides: small maps, a message.
const FIXED: usize = 64 << 10;
/// … and besides, for building a tokenizer: its cache, its regex programs.
const FIXED_TOKENIZER: usize = 8 << 20;

/// Whether a call given `len` bytes that had `peak` bytes live at once stayed in bounds.
fn within_bound(peak: usize, len: usize, fixed: usize) -> bool {
    peak <= BOUND_PER_BYTE.saturating_mul(len).saturating_add(fixed)
}

/// The tests must not run at once (the counters are global).
static SERIAL: Mutex<()> = Mutex::new(());

// ---------------------------------------------------------------------------------------
// Randomness

/// SplitMix64: small, fast, and the same stream on every platform. A `calm` generator
/// writes files without defects of their own (then mutated, or not), so that the deep
/// paths (tokenizers, loads) are reached as often as the errors.
struct Rng {
    state: u64,
    calm: bool,
}

impl Rng {
    fn new(seed: u64) -> Self {
        Rng {
            state: 0xf0e1_d2c3_b4a5_9687 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            calm: false,
        }
    }
    /// A defect, one time in `one_in`, unless calm.
    fn odd(&mut self, one_in: usize) -> bool {
        !self.calm && self.chance(one_in)
    }
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a, X>(&mut self, xs: &'a [X]) -> &'a X {
        &xs[self.below(xs.len())]
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Integers that sit on edges: zero, one, signs, widths, and counts far beyond any file.
const INTERESTING: [u64; 20] = [
    0,
    1,
    2,
    3,
    4,
    8,
    31,
    32,
    0x7f,
    0x80,
    0xff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX - 1,
    u64::MAX,
];

/// A number from a file's point of view: mostly small, sometimes on an edge.
fn number(rng: &mut Rng) -> u64 {
    match rng.below(6) {
        0 => *rng.pick(&INTERESTING),
        1 => rng.next(),
        _ => rng.below(70) as u64,
    }
}

// ---------------------------------------------------------------------------------------
// Byte-level mutation

/// JSON fragments that reach a parser's edges.
const JSON_TOKENS: [&str; 22] = [
    "{",
    "}",
    "[",
    "]",
    "\"",
    ",",
    ":",
    "null",
    "true",
    "-1",
    "0",
    "1e999",
    "-0.0",
    "1.5",
    "18446744073709551616",
    "4294967296",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"../x\"",
    "{}",
    "[]",
    "\"weight_map\"",
];

/// Applies 1 to 4 mutations of `bytes`: flip a bit, set a byte, insert or delete bytes,
/// duplicate a run, splice in a run of another seed, truncate, write an interesting integer
/// (1, 2, 4 or 8 bytes, little-endian) or, for a text format, a JSON token.
fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>, donors: &[Vec<u8>], json: bool) {
    for _ in 0..1 + rng.below(4) {
        let len = bytes.len();
        let at = rng.below(len + 1);
        match rng.below(if json { 10 } else { 9 }) {
            0 if len > 0 => {
                let i = rng.below(len);
                bytes[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                bytes[i] = rng.next() as u8;
            }
            2 => {
                let n = 1 + rng.below(8);
                let new = rng.bytes(n);
                bytes.splice(at..at, new);
            }
            3 if len > 0 => {
                let n = (1 + rng.below(16)).min(len - at.min(len - 1));
                let from = at.min(len - 1);
                bytes.drain(from..(from + n).min(len));
            }
            4 if len > 0 => {
                let from = rng.below(len);
                let n = (1 + rng.below(64)).min(len - from);
                let run = bytes[from..from + n].to_vec();
                bytes.splice(at..at, run);
            }
            5 => {
                let donor = rng.pick(donors);
                if !donor.is_empty() {
                    let from = rng.below(donor.len());
                    let n = (1 + rng.below(256)).min(donor.len() - from);
                    let run = donor[from..from + n].to_vec();
                    if rng.chance(2) && at + n <= len {
                        bytes[at..at + n].copy_from_slice(&run);
                    } else {
                        bytes.splice(at..at, run);
                    }
                }
            }
            6 => bytes.truncate(at),
            7 | 8 => {
                let width = *rng.pick(&[1usize, 2, 4, 8]);
                let mut x = *rng.pick(&INTERESTING);
                if rng.chance(4) {
                    x = x.wrapping_add(len as u64);
                }
                if rng.chance(8) {
                    x = x.wrapping_neg();
                }
                let le = x.to_le_bytes();
                if at + width <= len {
                    bytes[at..at + width].copy_from_slice(&le[..width]);
                }
            }
            _ => {
                let token = rng.pick(&JSON_TOKENS).as_bytes().to_vec();
                if rng.chance(2) && at + token.len() <= len {
                    bytes[at..at + token.len()].copy_from_slice(&token);
                } else {
                    bytes.splice(at..at, token);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// GGUF: a writer, a generator of valid-ish files, the seeds

#[cfg(feature = "llm")]
mod gguf_gen {
    use super::*;
    use shapecheck::io::{GgmlType, Gguf, MetaArray, MetaValue};

    pub fn string(out: &mut Vec<u8>, s: &[u8]) {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s);
    }

    /// A metadata key: real ones (so the readers that look for them find them) or not.
    const KEYS: [&str; 24] = [
        "general.architecture",
        "general.alignment",
        "general.name",
        "llama.block_count",
        "llama.context_length",
        "llama.embedding_length",
        "llama.attention.head_count",
        "llama.attention.head_count_kv",
        "llama.rope.freq_base",
        "llama.attention.layer_norm_rms_epsilon",
        "tokenizer.ggml.model",
        "tokenizer.ggml.pre",
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.merges",
        "tokenizer.ggml.scores",
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.padding_token_id",
        "tokenizer.ggml.unknown_token_id",
        "tokenizer.ggml.add_bos_token",
        "tokenizer.ggml.add_space_prefix",
        "tokenizer.chat_template",
        "",
    ];

    /// Short strings that are tokens of real vocabularies, or edges of UTF-8.
    const PIECES: [&str; 24] = [
        "a",
        "b",
        "c",
        "ab",
        "bc",
        "abc",
        "Ġ",
        "Ġa",
        "▁",
        "▁a",
        "<s>",
        "</s>",
        "<unk>",
        "<0x0A>",
        "<0xFF>",
        "<|im_start|>",
        " ",
        "  ",
        "é",
        "字",
        "🙂",
        "\u{0}",
        "'s",
        "1",
    ];

    /// A value of type `ty` (0..=12) at nesting `depth`, with lengths that sometimes lie.
    pub fn value(rng: &mut Rng, out: &mut Vec<u8>, ty: u32, depth: usize) {
        match ty {
            0 | 1 | 7 => out.push(if ty == 7 && !rng.odd(8) {
                rng.below(2) as u8
            } else {
                number(rng) as u8
            }),
            2 | 3 => out.extend((number(rng) as u16).to_le_bytes()),
            4 | 5 => out.extend((number(rng) as u32).to_le_bytes()),
            6 => out.extend((rng.next() as f32 / 7.0).to_le_bytes()),
            10 | 11 => out.extend(number(rng).to_le_bytes()),
            12 => out.extend(f64::from_bits(rng.next()).to_le_bytes()),
            8 => {
                if rng.odd(16) {
                    // A length that lies.
                    out.extend(number(rng).to_le_bytes());
                    let n = rng.below(8);
                    out.extend(rng.bytes(n));
                } else {
                    string(out, rng.pick(&PIECES).as_bytes());
                }
            }
            _ => {
                let inner = if depth > 2 || !rng.chance(4) {
                    *rng.pick(&[0u32, 4, 5, 6, 7, 8, 8, 10, 12])
                } else {
                    9
                };
                let n = if rng.odd(16) {
                    number(rng)
                } else {
                    rng.below(6) as u64
                };
                out.extend(inner.to_le_bytes());
                out.extend(n.to_le_bytes());
                for _ in 0..n.min(8) {
                    value(rng, out, inner, depth + 1);
                }
            }
        }
    }

    /// A tokenizer in metadata entries, mostly coherent: tokens, types, merges of tokens,
    /// scores, special ids; `(key, type, writer)` of each.
    pub fn tokenizer_kvs(rng: &mut Rng, out: &mut Vec<u8>) -> u64 {
        let model = *rng.pick(&["gpt2", "gpt2", "llama", "llama", "bert", ""]);
        let pre = *rng.pick(&[
            "gpt-2",
            "smollm",
            "llama-bpe",
            "qwen2",
            "dbrx",
            "stablelm2",
            "deepseek-llm",
            "",
        ]);
        let n = 1 + rng.below(20);
        let mut tokens: Vec<String> = Vec::new();
        while tokens.len() < n {
            let t = if rng.chance(3) {
                format!("{}{}", rng.pick(&PIECES), rng.pick(&PIECES))
            } else {
                rng.pick(&PIECES).to_string()
            };
            if rng.odd(30) || !tokens.contains(&t) {
                tokens.push(t);
            }
        }
        if rng.chance(100) {
            // A very long token (and its halves), for the cost of deriving merges.
            let n = 1000 + rng.below(100_000);
            tokens.push("a".repeat(n));
            tokens.push("a".repeat(n / 2));
            tokens.push("a".repeat(n - n / 2));
        }
        let mut count = 0;
        let mut kv = |out: &mut Vec<u8>, key: &str, ty: u32, body: &dyn Fn(&mut Vec<u8>)| {
            string(out, key.as_bytes());
            out.extend(ty.to_le_bytes());
            body(out);
            count += 1;
        };
        kv(out, "tokenizer.ggml.model", 8, &|o| {
            string(o, model.as_bytes())
        });
        if !rng.odd(6) {
            kv(out, "tokenizer.ggml.pre", 8, &|o| string(o, pre.as_bytes()));
        }
        let toks = tokens.clone();
        kv(out, "tokenizer.ggml.tokens", 9, &move |o| {
            o.extend(8u32.to_le_bytes());
            o.extend((toks.len() as u64).to_le_bytes());
            for t in &toks {
                string(o, t.as_bytes());
            }
        });
        if rng.chance(2) {
            let types: Vec<i32> = (0..n + usize::from(rng.odd(10)))
                .map(|_| {
                    if rng.odd(10) {
                        number(rng) as i32
                    } else {
                        1 + rng.below(6) as i32
                    }
                })
                .collect();
            kv(out, "tokenizer.ggml.token_type", 9, &move |o| {
                o.extend(5u32.to_le_bytes());
                o.extend((types.len() as u64).to_le_bytes());
                for t in &types {
                    o.extend(t.to_le_bytes());
                }
            });
        }
        if !rng.chance(4) {
            // Mostly merges whose halves and whole are tokens, as a real vocabulary's are.
            let pairs: Vec<String> = tokens
                .iter()
                .flat_map(|t| {
                    t.char_indices().skip(1).filter_map(|(i, _)| {
                        let (l, r) = t.split_at(i);
                        (tokens.iter().any(|x| x == l) && tokens.iter().any(|x| x == r))
                            .then(|| format!("{l} {r}"))
                    })
                })
                .collect();
            let merges: Vec<String> = (0..rng.below(12))
                .map(|_| {
                    if !pairs.is_empty() && !rng.odd(8) {
                        rng.pick(&pairs).clone()
                    } else if rng.odd(2) {
                        rng.pick(&PIECES).to_string()
                    } else {
                        format!("{} {}", rng.pick(&tokens), rng.pick(&tokens))
                    }
                })
                .collect();
            kv(out, "tokenizer.ggml.merges", 9, &move |o| {
                o.extend(8u32.to_le_bytes());
                o.extend((merges.len() as u64).to_le_bytes());
                for m in &merges {
                    string(o, m.as_bytes());
                }
            });
        }
        if rng.chance(2) {
            let scores: Vec<f32> = (0..n - usize::from(rng.odd(10) && n > 0))
                .map(|_| {
                    if rng.odd(20) {
                        f32::NAN
                    } else {
                        -(rng.below(100) as f32)
                    }
                })
                .collect();
            kv(out, "tokenizer.ggml.scores", 9, &move |o| {
                o.extend(6u32.to_le_bytes());
                o.extend((scores.len() as u64).to_le_bytes());
                for s in &scores {
                    o.extend(s.to_le_bytes());
                }
            });
        }
        for key in [
            "tokenizer.ggml.bos_token_id",
            "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.unknown_token_id",
        ] {
            if rng.calm || rng.chance(2) {
                let id = if rng.odd(6) {
                    number(rng) as u32
                } else {
                    rng.below(n) as u32
                };
                kv(out, key, 4, &move |o| o.extend(id.to_le_bytes()));
            }
        }
        for key in [
            "tokenizer.ggml.add_bos_token",
            "tokenizer.ggml.add_space_prefix",
        ] {
            if rng.chance(3) {
                let b = rng.below(2) as u8;
                kv(out, key, 7, &move |o| o.push(b));
            }
        }
        count
    }

    /// The loadable types, often, and every other type of the table, sometimes.
    const TYPES: [u32; 14] = [0, 1, 30, 8, 2, 3, 0, 8, 2, 3, 12, 14, 24, 41];

    /// A valid-ish GGUF file: random metadata kinds and counts, maybe a tokenizer, tensor
    /// infos of random types, dims and offsets, data laid out as the infos say or not.
    pub fn file(rng: &mut Rng) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        let version = if rng.odd(30) {
            number(rng) as u32
        } else {
            *rng.pick(&[2u32, 3])
        };
        out.extend(version.to_le_bytes());
        let n_tensors = rng.below(5);
        let count_at = out.len();
        out.extend([0u8; 16]); // counts, written below
        let mut kv = Vec::new();
        let mut n_kv = 0u64;
        let alignment: u64 = if rng.chance(3) {
            let a = if rng.odd(4) {
                *rng.pick(&[48u32, 0, 3])
            } else {
                *rng.pick(&[1u32, 8, 16, 32, 64, 128])
            };
            string(&mut kv, b"general.alignment");
            kv.extend(4u32.to_le_bytes());
            kv.extend(a.to_le_bytes());
            n_kv += 1;
            u64::from(a.max(1))
        } else {
            32
        };
        for i in 0..rng.below(6) {
            // Calm: no key twice, none of the tokenizer's (written below, typed).
            let key = if rng.calm {
                format!("{}.{i}", rng.pick(&KEYS[..10]))
            } else {
                rng.pick(&KEYS).to_string()
            };
            string(&mut kv, key.as_bytes());
            let ty = if rng.odd(40) {
                number(rng) as u32
            } else {
                rng.below(13) as u32
            };
            kv.extend(ty.to_le_bytes());
            value(rng, &mut kv, ty, 0);
            n_kv += 1;
        }
        if rng.chance(if rng.calm { 1 } else { 2 }) {
            n_kv += tokenizer_kvs(rng, &mut kv);
        }
        out.extend(kv);

        let mut data = Vec::new();
        for i in 0..n_tensors {
            let name = if rng.odd(10) {
                "t0".to_string()
            } else {
                format!("t{i}")
            };
            string(&mut out, name.as_bytes());
            let ty = if rng.odd(20) {
                number(rng) as u32
            } else {
                *rng.pick(&TYPES)
            };
            let block = GgmlType::from_id(ty).map_or(1, |t| t.block_size());
            let bytes_per_block = GgmlType::from_id(ty).map_or(4, |t| t.block_bytes());
            let n_dims = if rng.odd(20) {
                number(rng) as u32
            } else {
                rng.below(4) as u32
            };
            out.extend(n_dims.to_le_bytes());
            let mut elements: u64 = 1;
            for d in 0..n_dims.min(6) {
                let dim = if rng.odd(12) {
                    number(rng)
                } else if d == 0 {
                    (block * (1 + rng.below(3))) as u64
                } else {
                    rng.below(4) as u64
                };
                elements = elements.saturating_mul(dim);
                out.extend(dim.to_le_bytes());
            }
            out.extend(ty.to_le_bytes());
            let size = (elements / block as u64).saturating_mul(bytes_per_block as u64);
            let offset = if rng.odd(12) {
                number(rng)
            } else {
                data.len() as u64
            };
            out.extend(offset.to_le_bytes());
            if size < 4096 {
                data.extend(rng.bytes(size as usize));
                while !(data.len() as u64).is_multiple_of(alignment) {
                    data.push(0);
                }
            }
        }
        let kv_count = if rng.odd(20) { number(rng) } else { n_kv };
        let t_count = if rng.odd(20) {
            number(rng)
        } else {
            n_tensors as u64
        };
        out[count_at..count_at + 8].copy_from_slice(&t_count.to_le_bytes());
        out[count_at + 8..count_at + 16].copy_from_slice(&kv_count.to_le_bytes());
        while !(out.len() as u64).is_multiple_of(alignment) {
            out.push(0);
        }
        out.extend(data);
        if rng.odd(10) {
            let cut = rng.below(out.len() + 1);
            out.truncate(cut);
        }
        out
    }

    fn write_value(out: &mut Vec<u8>, v: &MetaValue) {
        match v {
            MetaValue::U8(x) => out.push(*x),
            MetaValue::I8(x) => out.extend(x.to_le_bytes()),
            MetaValue::U16(x) => out.extend(x.to_le_bytes()),
            MetaValue::I16(x) => out.extend(x.to_le_bytes()),
            MetaValue::U32(x) => out.extend(x.to_le_bytes()),
            MetaValue::I32(x) => out.extend(x.to_le_bytes()),
            MetaValue::F32(x) => out.extend(x.to_le_bytes()),
            MetaValue::Bool(x) => out.push(u8::from(*x)),
            MetaValue::String(s) => string(out, s.as_bytes()),
            MetaValue::Array(a) => write_array(out, a),
            MetaValue::U64(x) => out.extend(x.to_le_bytes()),
            MetaValue::I64(x) => out.extend(x.to_le_bytes()),
            MetaValue::F64(x) => out.extend(x.to_le_bytes()),
            other => panic!("a metadata value this writer does not know: {other:?}"),
        }
    }

    fn type_id(v: &MetaValue) -> u32 {
        match v {
            MetaValue::U8(_) => 0,
            MetaValue::I8(_) => 1,
            MetaValue::U16(_) => 2,
            MetaValue::I16(_) => 3,
            MetaValue::U32(_) => 4,
            MetaValue::I32(_) => 5,
            MetaValue::F32(_) => 6,
            MetaValue::Bool(_) => 7,
            MetaValue::String(_) => 8,
            MetaValue::Array(_) => 9,
            MetaValue::U64(_) => 10,
            MetaValue::I64(_) => 11,
            _ => 12,
        }
    }

    fn write_array(out: &mut Vec<u8>, a: &MetaArray) {
        macro_rules! each {
            ($ty:expr, $v:expr, $w:expr) => {{
                out.extend(($ty as u32).to_le_bytes());
                out.extend(($v.len() as u64).to_le_bytes());
                for x in $v {
                    $w(&mut *out, x);
                }
            }};
        }
        match a {
            MetaArray::U8(v) => each!(0, v, |o: &mut Vec<u8>, x: &u8| o.push(*x)),
            MetaArray::I8(v) => each!(1, v, |o: &mut Vec<u8>, x: &i8| o.extend(x.to_le_bytes())),
            MetaArray::U16(v) => each!(2, v, |o: &mut Vec<u8>, x: &u16| o.extend(x.to_le_bytes())),
            MetaArray::I16(v) => each!(3, v, |o: &mut Vec<u8>, x: &i16| o.extend(x.to_le_bytes())),
            MetaArray::U32(v) => each!(4, v, |o: &mut Vec<u8>, x: &u32| o.extend(x.to_le_bytes())),
            MetaArray::I32(v) => each!(5, v, |o: &mut Vec<u8>, x: &i32| o.extend(x.to_le_bytes())),
            MetaArray::F32(v) => each!(6, v, |o: &mut Vec<u8>, x: &f32| o.extend(x.to_le_bytes())),
            MetaArray::Bool(v) => each!(7, v, |o: &mut Vec<u8>, x: &bool| o.push(u8::from(*x))),
            MetaArray::String(v) => {
                each!(8, v, |o: &mut Vec<u8>, x: &String| string(o, x.as_bytes()))
            }
            MetaArray::Array(v) => each!(9, v, |o: &mut Vec<u8>, x: &MetaArray| write_array(o, x)),
            MetaArray::U64(v) => each!(10, v, |o: &mut Vec<u8>, x: &u64| o.extend(x.to_le_bytes())),
            MetaArray::I64(v) => each!(11, v, |o: &mut Vec<u8>, x: &i64| o.extend(x.to_le_bytes())),
            MetaArray::F64(v) => each!(12, v, |o: &mut Vec<u8>, x: &f64| o.extend(x.to_le_bytes())),
            other => panic!("a metadata array this writer does not know: {other:?}"),
        }
    }

    /// A file of `file`'s metadata (arrays cut to `keep` elements when `keep` is given; the
    /// merges kept are those of tokens kept) and its first `tensors` tensors, each cut to
    /// its first rows of at most 2 × (one row), with their own bytes.
    pub fn rewrite(file: &Gguf, keep: Option<usize>, tensors: usize) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(3u32.to_le_bytes());
        let names: Vec<&str> = file.tensor_names().into_iter().take(tensors).collect();
        out.extend((names.len() as u64).to_le_bytes());
        let meta = file.metadata();
        out.extend((meta.len() as u64).to_le_bytes());
        let kept_tokens: Option<std::collections::HashSet<String>> = keep.map(|k| {
            meta.get_str_array("tokenizer.ggml.tokens")
                .map(|t| t.iter().take(k).cloned().collect())
                .unwrap_or_default()
        });
        for (key, value) in meta.iter() {
            string(&mut out, key.as_bytes());
            let value = match (keep, value) {
                (Some(k), MetaValue::Array(MetaArray::String(v)))
                    if key == "tokenizer.ggml.merges" =>
                {
                    let tokens = kept_tokens.as_ref().unwrap();
                    let v: Vec<String> = v
                        .iter()
                        .filter(|m| {
                            m.split_once(' ').is_some_and(|(l, r)| {
                                tokens.contains(l)
                                    && tokens.contains(r)
                                    && tokens.contains(&format!("{l}{r}"))
                            })
                        })
                        .take(k)
                        .cloned()
                        .collect();
                    MetaValue::Array(MetaArray::String(v))
                }
                (Some(k), MetaValue::Array(MetaArray::String(v))) => {
                    MetaValue::Array(MetaArray::String(v.iter().take(k).cloned().collect()))
                }
                (Some(k), MetaValue::Array(MetaArray::I32(v))) => {
                    MetaValue::Array(MetaArray::I32(v.iter().take(k).copied().collect()))
                }
                (Some(k), MetaValue::Array(MetaArray::F32(v))) => {
                    MetaValue::Array(MetaArray::F32(v.iter().take(k).copied().collect()))
                }
                (Some(k), MetaValue::U32(id)) if key.ends_with("_token_id") => {
                    MetaValue::U32(*id % k as u32)
                }
                _ => value.clone(),
            };
            out.extend(type_id(&value).to_le_bytes());
            write_value(&mut out, &value);
        }
        let alignment = file.alignment();
        let mut data = Vec::new();
        for name in &names {
            let info = file.tensor_info(name).unwrap();
            let bytes = file.tensor_data(name).unwrap();
            let row = info.shape.last().copied().unwrap_or(1);
            let rows = if info.shape.len() >= 2 { 2 } else { 1 };
            let ty = info.ggml_type;
            let row_bytes = row / ty.block_size() * ty.block_bytes();
            string(&mut out, name.as_bytes());
            let dims: Vec<u64> = if info.shape.len() >= 2 {
                vec![row as u64, rows as u64]
            } else {
                vec![row as u64]
            };
            out.extend((dims.len() as u32).to_le_bytes());
            for d in &dims {
                out.extend(d.to_le_bytes());
            }
            out.extend(ty.id().to_le_bytes());
            out.extend((data.len() as u64).to_le_bytes());
            data.extend(&bytes[..(row_bytes * rows).min(bytes.len())]);
            data.resize(data.len().next_multiple_of(alignment), 0);
        }
        out.resize(out.len().next_multiple_of(alignment), 0);
        out.extend(data);
        out
    }
}

// ---------------------------------------------------------------------------------------
// safetensors, config.json, index: generators

const DTYPES: [&str; 12] = [
    "F32", "F16", "BF16", "F64", "F32", "F16", "BF16", "I64", "U8", "BOOL", "F4", "F8_E4M3",
];

fn dtype_bits(d: &str) -> usize {
    match d {
        "F64" | "I64" => 64,
        "F32" => 32,
        "F16" | "BF16" => 16,
        "F4" => 4,
        _ => 8,
    }
}

/// A valid-ish safetensors file: tensors of random dtypes, ranks and dims, offsets that
/// tile the data or not, metadata or not, odd JSON (whitespace, escapes, deep nesting).
fn safetensors_file(rng: &mut Rng) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut data = Vec::new();
    for i in 0..rng.below(5) {
        let dtype = *rng.pick(&DTYPES);
        let shape: Vec<u64> = (0..rng.below(4))
            .map(|_| {
                if rng.chance(15) {
                    number(rng)
                } else {
                    rng.below(5) as u64
                }
            })
            .collect();
        let elements = shape.iter().fold(1u64, |n, &d| n.saturating_mul(d));
        let size = elements
            .saturating_mul(dtype_bits(dtype) as u64)
            .div_ceil(8);
        let begin = data.len() as u64;
        if size < 4096 {
            data.extend(rng.bytes(size as usize));
        }
        let end = if rng.chance(12) {
            number(rng)
        } else {
            data.len() as u64
        };
        let begin = if rng.chance(15) { number(rng) } else { begin };
        let name = match rng.below(8) {
            0 => "t0".to_string(),
            1 => "__metadata__".to_string(),
            2 => format!("t{i}\\u00e9\\\""),
            _ => format!("model.layers.{i}.weight"),
        };
        let shape_text = if rng.chance(20) {
            "[[[[[[[[1]]]]]]]]".to_string()
        } else {
            format!("{shape:?}").replace(' ', "")
        };
        entries.push(format!(
            r#""{name}":{{"dtype":"{dtype}","shape":{shape_text},"data_offsets":[{begin},{end}]}}"#
        ));
    }
    if rng.chance(3) {
        entries.push(r#""__metadata__":{"format":"pt","total":"1"}"#.to_string());
    }
    let sep = if rng.chance(4) { " ,\n " } else { "," };
    let header = format!("{{{}}}", entries.join(sep));
    let len = if rng.chance(20) {
        number(rng)
    } else {
        header.len() as u64
    };
    let mut out = len.to_le_bytes().to_vec();
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

/// The keys of a `config.json` and plausible values for them.
const CONFIG_KEYS: [&str; 22] = [
    "model_type",
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "rms_norm_eps",
    "rope_theta",
    "rope_scaling",
    "rope_parameters",
    "max_position_embeddings",
    "tie_word_embeddings",
    "sliding_window",
    "use_sliding_window",
    "max_window_layers",
    "layer_types",
    "attention_bias",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
];

fn json_value(rng: &mut Rng, depth: usize) -> String {
    match rng.below(if depth > 2 { 8 } else { 11 }) {
        0 => "null".into(),
        1 => rng.pick(&["true", "false"]).to_string(),
        2 => number(rng).to_string(),
        3 => format!("-{}", number(rng)),
        4 => format!("{}.{}", rng.below(100), rng.below(1000)),
        5 => rng
            .pick(&["1e-05", "1e999", "-0.0", "4294967297", "1e308"])
            .to_string(),
        6 => format!(
            "\"{}\"",
            rng.pick(&[
                "llama",
                "qwen2",
                "mistral",
                "linear",
                "dynamic",
                "llama3",
                "yarn",
                "default",
                "longrope",
                "full_attention",
                "sliding_attention",
                "",
            ])
        ),
        7 => (16 * (1 + rng.below(8))).to_string(),
        8 => format!(
            "[{}]",
            (0..rng.below(4))
                .map(|_| json_value(rng, depth + 1))
                .collect::<Vec<_>>()
                .join(",")
        ),
        _ => {
            let keys = [
                "type",
                "rope_type",
                "factor",
                "rope_theta",
                "original_max_position_embeddings",
                "low_freq_factor",
                "high_freq_factor",
                "beta_fast",
                "beta_slow",
                "attention_factor",
                "mscale",
                "truncate",
            ];
            format!(
                "{{{}}}",
                (0..rng.below(5))
                    .map(|_| format!("\"{}\":{}", rng.pick(&keys), json_value(rng, depth + 1)))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
    }
}

fn config_text(rng: &mut Rng) -> String {
    let base = rng.pick(&CONFIGS);
    if rng.chance(3) {
        return base.to_string();
    }
    let mut map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(base).expect("the seed configs are JSON");
    for _ in 0..1 + rng.below(4) {
        let key = rng.pick(&CONFIG_KEYS).to_string();
        if rng.chance(5) {
            map.remove(&key);
        } else if let Ok(v) = serde_json::from_str(&json_value(rng, 0)) {
            map.insert(key, v);
        }
    }
    serde_json::Value::Object(map).to_string()
}

/// Published `config.json` texts (the same as tests/llama_config.rs reads).
const CONFIGS: [&str; 4] = [
    r#"{"architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 576, "intermediate_size": 1536, "max_position_embeddings": 8192, "model_type": "llama", "num_attention_heads": 9, "num_hidden_layers": 30, "num_key_value_heads": 3, "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 100000, "tie_word_embeddings": true, "vocab_size": 49152}"#,
    r#"{"architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096, "tie_word_embeddings": false, "vocab_size": 32000}"#,
    r#"{"attention_bias": false, "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "head_dim": 64, "hidden_size": 2048, "intermediate_size": 8192, "max_position_embeddings": 131072, "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_parameters": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 8192, "rope_theta": 500000.0, "rope_type": "llama3"}, "tie_word_embeddings": true, "vocab_size": 128256}"#,
    r#"{"bos_token_id": null, "eos_token_id": null, "hidden_size": 896, "intermediate_size": 4864, "layer_types": ["full_attention", "full_attention", "sliding_attention", "sliding_attention"], "max_position_embeddings": 32768, "max_window_layers": 2, "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 2048}, "sliding_window": 4096, "tie_word_embeddings": true, "use_sliding_window": true, "vocab_size": 151936}"#,
];

/// A shard name: the usual ones, and ones that try to leave the directory.
const SHARDS: [&str; 10] = [
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
    "../model.safetensors",
    "/etc/passwd",
    "a/b.safetensors",
    "C:x",
    "..",
    "",
];

fn index_text(rng: &mut Rng) -> String {
    let entries: Vec<String> = (0..rng.below(7))
        .map(|i| {
            let name = if rng.chance(8) {
                "w0".to_string()
            } else {
                format!("w{i}")
            };
            let shard = if rng.chance(15) {
                json_value(rng, 1)
            } else {
                format!("\"{}\"", rng.pick(&SHARDS))
            };
            format!("\"{name}\":{shard}")
        })
        .collect();
    let map = format!("{{{}}}", entries.join(","));
    match rng.below(8) {
        0 => map,
        1 => format!(
            r#"{{"metadata":{},"weight_map":{map}}}"#,
            json_value(rng, 1)
        ),
        _ => format!(r#"{{"metadata":{{"total_size":4}},"weight_map":{map}}}"#),
    }
}

// ---------------------------------------------------------------------------------------
// The targets

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Gguf,
    Safetensors,
    Config,
    Index,
}

const TARGETS: [Target; 4] = [
    Target::Gguf,
    Target::Safetensors,
    Target::Config,
    Target::Index,
];

/// What one input did: whether the file opened, and the peak live bytes of each call
/// measured, with the length of what that call was given.
struct Outcome {
    opened: bool,
    /// Whether it went all the way: a tokenizer built and used, a tensor loaded, a
    /// checkpoint assembled.
    deep: bool,
    peaks: Vec<(usize, usize, usize)>,
}

/// Loads every tensor of `shape`'s rank (0 to 4) with runtime dims through `load`.
macro_rules! load_dyn {
    ($file:expr, $name:expr, $shape:expr, $t:ty) => {{
        let d = |k: usize| Dyn::new($shape[k]);
        match $shape.len() {
            0 => $file
                .load_with::<_, $t>($name, ())
                .map(|t| t.into_vec().len()),
            1 => $file
                .load_with::<_, $t>($name, (d(0),))
                .map(|t| t.into_vec().len()),
            2 => $file
                .load_with::<_, $t>($name, (d(0), d(1)))
                .map(|t| t.into_vec().len()),
            3 => $file
                .load_with::<_, $t>($name, (d(0), d(1), d(2)))
                .map(|t| t.into_vec().len()),
            _ => $file
                .load_with::<_, $t>($name, (d(0), d(1), d(2), d(3)))
                .map(|t| t.into_vec().len()),
        }
    }};
}

#[cfg(feature = "llm")]
fn run_gguf(bytes: Vec<u8>, rng: &mut Rng) -> Outcome {
    use shapecheck::io::Gguf;
    use shapecheck::text::Tokenizer;
    let len = bytes.len();
    let wide = rng.chance(4);
    // Text to encode: fixed lines, or pieces of tokens, specials, whitespace runs, bytes
    // that are not UTF-8 (decoded lossily) and random code points.
    let text: String = match rng.below(4) {
        0 => rng
            .pick(&[
                "hi abc",
                "a\u{0}b  c\n\n字🙂 é 123",
                "<|im_start|>user\nabc<s>",
            ])
            .to_string(),
        1 => {
            let n = rng.below(40);
            String::from_utf8_lossy(&rng.bytes(n)).into_owned()
        }
        2 => (0..rng.below(30))
            .filter_map(|_| char::from_u32(rng.below(0x3_0000) as u32))
            .collect(),
        _ => (0..rng.below(12))
            .map(|_| {
                *rng.pick(&[
                    "a",
                    "ab",
                    "bc",
                    " ",
                    "  ",
                    "\n",
                    "\t",
                    "<s>",
                    "</s>",
                    "<|im_start|>",
                    "▁",
                    "Ġ",
                    "é",
                    "e\u{301}",
                    "字",
                    "🙂",
                    "'s",
                    "123",
                    "<0x0A>",
                ])
            })
            .collect(),
    };
    let add_special = rng.chance(2);
    // The file stays alive from the first measure to the second: the tokenizer's peak is
    // what it adds.
    let mut kept = None;
    let parse = peak_extra(|| {
        let Ok(file) = Gguf::from_bytes(bytes) else {
            return;
        };
        for name in file.tensor_names() {
            let info = file.tensor_info(name).expect("a listed tensor has an info");
            let shape = info.shape.clone();
            match load_dyn!(file, name, shape, f32) {
                Ok(n) => assert_eq!(Some(n), info.num_elements(), "{name}"),
                Err(e) => assert!(
                    !info.ggml_type.is_loadable(),
                    "a loadable tensor failed: {e}"
                ),
            }
            if wide {
                let _ = load_dyn!(file, name, shape, f64);
            }
        }
        kept = Some(file);
    });
    let Some(file) = kept else {
        return Outcome {
            opened: false,
            deep: false,
            peaks: vec![(parse, len, FIXED)],
        };
    };
    // On a thread of its own: tokenizers 0.23 keeps each BPE's cache in a thread-local map
    // from which the entries of a dropped BPE are never removed, so a thread that builds
    // and uses hundreds of thousands of tokenizers grows that map without end (its rehash
    // was a 9 MB allocation 5.3 million inputs into a run). The thread's end frees it.
    let (tokenizer, deep) = std::thread::scope(|s| {
        let joined = s
            .spawn(|| {
                let mut deep = false;
                let peak = peak_extra(|| {
                    if let Ok(vocab) = file.vocab() {
                        if let Ok(tok) = Tokenizer::from_gguf_vocab(&vocab) {
                            if let Ok(ids) = tok.encode(&text, add_special) {
                                assert!(ids.iter().all(|&id| id < tok.vocab_size()));
                                let _ = tok.decode(&ids);
                                deep = true;
                            }
                        }
                    }
                });
                (peak, deep)
            })
            .join();
        joined.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
    Outcome {
        opened: true,
        deep,
        peaks: vec![(parse, len, FIXED), (tokenizer, len, FIXED_TOKENIZER)],
    }
}

fn run_safetensors(bytes: Vec<u8>, rng: &mut Rng) -> Outcome {
    let len = bytes.len();
    let mut opened = false;
    let mut deep = false;
    let wide = rng.chance(4);
    let peak = peak_extra(|| {
        let Ok(file) = SafeTensors::from_bytes(bytes) else {
            return;
        };
        opened = true;
        let ckpt = Checkpoint::from(file);
        for name in ckpt.names() {
            let info = ckpt.info(name).expect("a listed tensor has an info");
            let shape = info.shape.clone();
            if shape.len() > 4 {
                continue;
            }
            match load_dyn!(ckpt, name, shape, f32) {
                Ok(n) => {
                    assert_eq!(n, info.num_elements(), "{name}");
                    deep = true;
                }
                Err(e) => assert!(!info.dtype.is_loadable(), "a loadable tensor failed: {e}"),
            }
            if wide {
                let _ = load_dyn!(ckpt, name, shape, f64);
            }
        }
    });
    Outcome {
        opened,
        deep,
        peaks: vec![(peak, len, FIXED)],
    }
}

fn run_config(bytes: Vec<u8>) -> Outcome {
    let len = bytes.len();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let mut opened = false;
    let peak = peak_extra(|| match LlamaConfig::from_json(&text, "config.json") {
        Ok(_) => opened = true,
        Err(e) => assert!(!e.to_string().is_empty()),
    });
    Outcome {
        opened,
        deep: opened,
        peaks: vec![(peak, len, FIXED)],
    }
}

/// The index parsed; if valid, shards built to match it (or not: a tensor dropped, moved
/// or added), assembled into a checkpoint, and every tensor loaded.
fn run_index(bytes: Vec<u8>, rng: &mut Rng) -> Outcome {
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let mut index = None;
    let peak = peak_extra(|| {
        index = ShardIndex::from_json(&text).ok();
    });
    let Some(index) = index else {
        return Outcome {
            opened: false,
            deep: false,
            peaks: vec![(peak, text.len(), FIXED)],
        };
    };
    let mut shards: Vec<(String, Vec<String>)> = index
        .shards()
        .iter()
        .map(|s| {
            let names = index
                .weight_map()
                .iter()
                .filter(|(_, shard)| shard == s)
                .map(|(n, _)| n.clone())
                .collect();
            (s.to_string(), names)
        })
        .collect();
    match rng.below(6) {
        0 => {
            let i = rng.below(shards.len());
            shards[i].1.pop();
        }
        1 => {
            let i = rng.below(shards.len());
            shards[i].1.push("extra".into());
        }
        2 => {
            let i = rng.below(shards.len());
            let j = rng.below(shards.len());
            if let Some(n) = shards[i].1.first().cloned() {
                shards[j].1.push(n);
            }
        }
        3 => {
            shards.pop();
        }
        _ => {}
    }
    let files: Vec<(String, SafeTensors)> = shards
        .into_iter()
        .map(|(s, mut names)| {
            names.sort();
            names.dedup();
            let mut header = Vec::new();
            for (i, n) in names.iter().enumerate() {
                header.push(format!(
                    r#"{}:{{"dtype":"F32","shape":[1],"data_offsets":[{},{}]}}"#,
                    serde_json::Value::String(n.clone()),
                    4 * i,
                    4 * i + 4
                ));
            }
            let header = format!("{{{}}}", header.join(","));
            let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
            bytes.extend(header.as_bytes());
            bytes.extend((0..names.len()).flat_map(|i| (i as f32).to_le_bytes()));
            (
                s,
                SafeTensors::from_bytes(bytes).expect("a built shard is valid"),
            )
        })
        .collect();
    let size: usize = text.len()
        + files
            .iter()
            .map(|(s, f)| s.len() + f.names().iter().map(|n| n.len() + 64).sum::<usize>())
            .sum::<usize>();
    let mut deep = false;
    let assembled = peak_extra(|| {
        if let Ok(ckpt) = Checkpoint::from_shards(&index, files) {
            deep = true;
            assert_eq!(ckpt.names().len(), index.weight_map().len());
            for name in ckpt.names() {
                let v = ckpt.load_with::<_, f32>(name, (Dyn::new(1),));
                assert!(v.is_ok(), "{name}: {v:?}");
            }
        }
    });
    // The assembly's peak is measured against what it was given, the shards too.
    Outcome {
        opened: true,
        deep,
        peaks: vec![(peak, text.len(), FIXED), (assembled, size, FIXED)],
    }
}

// ---------------------------------------------------------------------------------------
// Seeds and the loop

struct Seeds {
    gguf: Vec<Vec<u8>>,
    safetensors: Vec<Vec<u8>>,
    config: Vec<Vec<u8>>,
    index: Vec<Vec<u8>>,
    /// The whole SmolLM2 header (all 49152 tokens), mutated rarely: building its tokenizer
    /// takes a tenth of a second.
    big_gguf: Option<Vec<u8>>,
    notes: Vec<String>,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn seeds(real: bool) -> Seeds {
    let mut s = Seeds {
        gguf: Vec::new(),
        safetensors: Vec::new(),
        config: CONFIGS.iter().map(|c| c.as_bytes().to_vec()).collect(),
        index: vec![read(
            "tests/fixtures/checkpoint/sharded/model.safetensors.index.json",
        )],
        big_gguf: None,
        notes: Vec::new(),
    };
    for entry in std::fs::read_dir(root().join("tests/fixtures/checkpoint/sharded")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "safetensors") {
            s.safetensors.push(std::fs::read(path).unwrap());
        }
    }
    s.safetensors
        .push(read("tests/fixtures/checkpoint/single/model.safetensors"));
    #[cfg(feature = "llm")]
    {
        s.gguf.push(read("tests/fixtures/gguf/tiny.gguf"));
        let smollm2 = root().join("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
        if real && smollm2.is_file() {
            let file = shapecheck::io::Gguf::open(&smollm2).unwrap();
            s.gguf.push(gguf_gen::rewrite(&file, Some(300), 3));
            s.gguf.push(gguf_gen::rewrite(&file, Some(40), 2));
            s.big_gguf = Some(gguf_gen::rewrite(&file, None, 2));
            s.notes
                .push("seeds: SmolLM2's GGUF header (cut to 300 and 40 tokens, and whole)".into());
        } else if real {
            s.notes
                .push(format!("note: {} missing, not a seed", smollm2.display()));
        }
    }
    let minilm = root().join("models/all-MiniLM-L6-v2/model.safetensors");
    if real && minilm.is_file() {
        s.safetensors.push(minilm_seed(&minilm));
        s.notes
            .push("seeds: MiniLM's safetensors header (shapes cut to ≤ 3 per dim)".into());
    } else if real {
        s.notes
            .push(format!("note: {} missing, not a seed", minilm.display()));
    }
    s
}

/// MiniLM's header with its names, dtypes and ranks, each dim cut to at most 3, and its
/// tensors' first bytes.
fn minilm_seed(path: &Path) -> Vec<u8> {
    let file = SafeTensors::open(path).unwrap();
    let mut entries: Vec<String> = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    for name in file.names() {
        let info = file.info(name).unwrap();
        let shape: Vec<usize> = info.shape.iter().map(|&d| d.min(3)).collect();
        let n: usize = shape.iter().product::<usize>() * info.dtype.size_in_bits() / 8;
        let begin = data.len();
        data.extend(&file.data(name).unwrap()[..n]);
        entries.push(format!(
            r#""{name}":{{"dtype":"{}","shape":{shape:?},"data_offsets":[{begin},{}]}}"#,
            info.dtype,
            data.len()
        ));
    }
    let header = format!(
        r#"{{"__metadata__":{{"format":"pt"}},{}}}"#,
        entries.join(",")
    );
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

#[derive(Default, Clone)]
struct Stats {
    inputs: u64,
    opened: u64,
    deep: u64,
    max_len: usize,
    /// The slowest input: its time and length.
    slowest: (Duration, usize),
    /// The largest peak / length seen (of inputs of 256 bytes or more), and its input's
    /// length and peak.
    worst: (f64, usize, usize),
    time: Duration,
}

/// One input for `target`: generated (structured) or a mutated seed.
fn input(target: Target, rng: &mut Rng, seeds: &Seeds) -> (Vec<u8>, bool) {
    #[cfg(feature = "llm")]
    if target == Target::Gguf && rng.chance(5000) {
        if let Some(big) = &seeds.big_gguf {
            let mut bytes = big.clone();
            mutate(rng, &mut bytes, &seeds.gguf, false);
            return (bytes, true);
        }
    }
    let (pool, json): (&[Vec<u8>], bool) = match target {
        Target::Gguf => (&seeds.gguf, false),
        Target::Safetensors => (&seeds.safetensors, false),
        Target::Config => (&seeds.config, true),
        Target::Index => (&seeds.index, true),
    };
    let structured = rng.chance(2);
    rng.calm = structured && rng.chance(2);
    let mut bytes = if structured {
        match target {
            #[cfg(feature = "llm")]
            Target::Gguf => gguf_gen::file(rng),
            #[cfg(not(feature = "llm"))]
            Target::Gguf => Vec::new(),
            Target::Safetensors => safetensors_file(rng),
            Target::Config => config_text(rng).into_bytes(),
            Target::Index => index_text(rng).into_bytes(),
        }
    } else {
        rng.pick(pool).clone()
    };
    // A third of the structured inputs are mutated too; every seed is.
    if !structured || rng.chance(3) {
        mutate(rng, &mut bytes, pool, json);
    }
    rng.calm = false;
    (bytes, false)
}

/// Runs `n` inputs spread over the targets, from case numbers `first..first + n`; returns
/// the statistics per target, or the panics and bound breaches found (their inputs
/// written to the temp directory).
fn fuzz(
    first: u64,
    n: u64,
    seeds: &Seeds,
    slow: Duration,
) -> Result<Vec<(Target, Stats)>, Vec<String>> {
    let mut stats: Vec<(Target, Stats)> = TARGETS.iter().map(|&t| (t, Stats::default())).collect();
    let mut failures = Vec::new();
    for case in first..first + n {
        let mut rng = Rng::new(case);
        let t = TARGETS[(case % 4) as usize];
        if cfg!(not(feature = "llm")) && t == Target::Gguf {
            continue;
        }
        let (bytes, _) = input(t, &mut rng, seeds);
        let len = bytes.len();
        let keep = bytes.clone();
        let start = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| match t {
            #[cfg(feature = "llm")]
            Target::Gguf => run_gguf(bytes, &mut rng),
            #[cfg(not(feature = "llm"))]
            Target::Gguf => unreachable!(),
            Target::Safetensors => run_safetensors(bytes, &mut rng),
            Target::Config => run_config(bytes),
            Target::Index => run_index(bytes, &mut rng),
        }));
        let elapsed = start.elapsed();
        let save = |what: &str| {
            let path: PathBuf =
                std::env::temp_dir().join(format!("shapecheck-fuzz-{t:?}-case{case}.bin"));
            let _ = std::fs::write(&path, &keep);
            format!(
                "{t:?} case {case} ({len} bytes, {}): {what}",
                path.display()
            )
        };
        let s = &mut stats.iter_mut().find(|(x, _)| *x == t).unwrap().1;
        s.inputs += 1;
        s.time += elapsed;
        s.max_len = s.max_len.max(len);
        if elapsed > s.slowest.0 {
            s.slowest = (elapsed, len);
        }
        if elapsed > slow {
            failures.push(save(&format!(
                "took {elapsed:.2?}, more than {slow:?}: a file must not be able to hang a loader"
            )));
        }
        match result {
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(save(&format!("panicked: {msg}")));
            }
            Ok(out) => {
                s.opened += u64::from(out.opened);
                s.deep += u64::from(out.deep);
                for (peak, given, fixed) in out.peaks {
                    let ratio = peak as f64 / given.max(1) as f64;
                    // Below a few hundred bytes the fixed part dominates the ratio.
                    if given >= 256 && ratio > s.worst.0 {
                        s.worst = (ratio, given, peak);
                    }
                    if !within_bound(peak, given, fixed) {
                        failures.push(save(&format!(
                            "allocated {peak} bytes at its peak, beyond the bound \
                             {BOUND_PER_BYTE} × {given} + {fixed}"
                        )));
                    }
                }
            }
        }
    }
    if failures.is_empty() {
        Ok(stats)
    } else {
        Err(failures)
    }
}

fn report(stats: &[(Target, Stats)], total: Duration) {
    let n: u64 = stats.iter().map(|(_, s)| s.inputs).sum();
    println!("{n} inputs in {:.1} s", total.as_secs_f64());
    for (t, s) in stats {
        println!(
            "  {t:?}: {} inputs ({} opened, {} all the way), {:.1} s (slowest {:.1?} for {} \
             bytes), longest {} bytes, worst peak {:.1} bytes per input byte ({} bytes for {})",
            s.inputs,
            s.opened,
            s.deep,
            s.time.as_secs_f64(),
            s.slowest.0,
            s.slowest.1,
            s.max_len,
            s.worst.0,
            s.worst.2,
            s.worst.1
        );
    }
}

/// The short run, in every `cargo test`: a few thousand inputs, each target reached, most
/// of them refused and some opened.
///
/// First, the measure itself: it sees an allocation sized by a number from a file (here
/// 16 MiB for a file of 100 bytes), and the bound refuses it. (One test, not two: the
/// counters are global, and a test thread ending beside a measure would skew it.)
#[test]
fn formats_fuzz_short() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let header_says: usize = 1 << 24;
    let peak = peak_extra(|| vec![1u8; header_says]);
    assert!(peak >= header_says, "{peak}");
    assert!(!within_bound(peak, 100, FIXED));
    assert!(within_bound(peak_extra(|| vec![1u8; 100 * 64]), 100, FIXED));

    let seeds = seeds(false);
    let start = Instant::now();
    // Debug builds are 10 to 50 times slower than release.
    let stats = match fuzz(0, 20_000, &seeds, Duration::from_secs(20)) {
        Ok(stats) => stats,
        Err(failures) => panic!("{} failures:\n{}", failures.len(), failures.join("\n")),
    };
    report(&stats, start.elapsed());
    for (t, s) in &stats {
        if cfg!(not(feature = "llm")) && *t == Target::Gguf {
            continue;
        }
        assert!(
            s.opened > 20,
            "{t:?}: only {} of {} opened",
            s.opened,
            s.inputs
        );
        assert!(
            s.deep > 10,
            "{t:?}: only {} of {} went all the way",
            s.deep,
            s.inputs
        );
        assert!(
            s.opened < s.inputs * 9 / 10,
            "{t:?}: {} of {} opened: the mutations do not reach the errors",
            s.opened,
            s.inputs
        );
    }
}

/// The long run: `SHAPECHECK_FUZZ_INPUTS` inputs (default 1 000 000) from
/// `SHAPECHECK_FUZZ_FIRST` (default 1 000 000, after the short run's cases), with the real
/// seeds when fetched. Run it in release.
#[test]
#[ignore = "long: SHAPECHECK_FUZZ_INPUTS=1000000 cargo test --release --test fuzz_formats -- --ignored --nocapture"]
fn formats_fuzz_long() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let n = env("SHAPECHECK_FUZZ_INPUTS", 1_000_000);
    let first = env("SHAPECHECK_FUZZ_FIRST", 1_000_000);
    let seeds = seeds(true);
    for note in &seeds.notes {
        println!("{note}");
    }
    let start = Instant::now();
    match fuzz(first, n, &seeds, Duration::from_secs(2)) {
        Ok(stats) => report(&stats, start.elapsed()),
        Err(failures) => panic!("{} failures:\n{}", failures.len(), failures.join("\n")),
    }
}
