//! A bounded, seeded fuzz of the two parsers of untrusted input: the safetensors loader
//! (`shapecheck::io`) and the WordPiece tokenizer (`shapecheck::text`). It runs in
//! `cargo test` (a few thousand cases, a few seconds in debug), so a regression is caught in
//! CI; each case is reproducible from its number (a fixed-seed SplitMix64 stream).
//!
//! Valid files are built at random and must load back the values they hold; mutated ones
//! (header bytes, the header length, offsets, dtypes, shapes, truncation, trailing bytes)
//! must give `Ok` or an `Err` with a message, never a panic. Random text (control
//! characters, combining marks, CJK, lossy-decoded random bytes, runs longer than a word may
//! be, pieces of special tokens) must tokenize without panicking, into ids of the vocab,
//! framed and truncated as `encode` promises.

use std::panic::{catch_unwind, AssertUnwindSafe};

use shapecheck::io::{bf16_bits_to_f32, f16_bits_to_f32, Dtype, SafeTensors, TensorInfo};
use shapecheck::prelude::*;
use shapecheck::text::WordPiece;

/// SplitMix64: small, fast, and the same stream on every platform.
struct Rng(u64);

impl Rng {
    fn new(case: u64) -> Self {
        Rng(0x5eed_0000_0000_0000 ^ case.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a, X>(&mut self, xs: &'a [X]) -> &'a X {
        &xs[self.below(xs.len())]
    }
}

/// Runs `f` for cases `0..n`, reporting the case number of the first panic.
fn cases(n: u64, f: impl Fn(u64, &mut Rng)) {
    for case in 0..n {
        let mut rng = Rng::new(case);
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(case, &mut rng))) {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("fuzz case {case} panicked: {msg}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// safetensors

const LOADABLE: [&str; 4] = ["F32", "F64", "F16", "BF16"];
const OTHER: [&str; 4] = ["I64", "U8", "I32", "BOOL"];

/// One tensor of a generated file: name, dtype, shape and its stored bytes.
struct Stored {
    name: String,
    dtype: &'static str,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

fn elem_bytes(dtype: &str) -> usize {
    match dtype {
        "F64" | "I64" => 8,
        "F32" | "I32" => 4,
        "F16" | "BF16" => 2,
        _ => 1,
    }
}

fn random_tensors(rng: &mut Rng) -> Vec<Stored> {
    let count = rng.below(4);
    (0..count)
        .map(|i| {
            let dtype = if rng.chance(5) {
                *rng.pick(&OTHER)
            } else {
                *rng.pick(&LOADABLE)
            };
            let rank = rng.below(4);
            let shape: Vec<usize> = (0..rank).map(|_| rng.below(4)).collect();
            let n: usize = shape.iter().product::<usize>() * elem_bytes(dtype);
            let bytes = (0..n).map(|_| rng.next() as u8).collect();
            Stored {
                name: format!("t{i}.{}", ["w", "bias", "é", "[x]"][rng.below(4)]),
                dtype,
                shape,
                bytes,
            }
        })
        .collect()
}

fn file_of(tensors: &[Stored], metadata: bool) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut data = Vec::new();
    for t in tensors {
        let begin = data.len();
        data.extend_from_slice(&t.bytes);
        entries.push(format!(
            r#""{}":{{"dtype":"{}","shape":{:?},"data_offsets":[{begin},{}]}}"#,
            t.name,
            t.dtype,
            t.shape,
            data.len()
        ));
    }
    if metadata {
        entries.push(r#""__metadata__":{"format":"pt"}"#.to_string());
    }
    let header = format!("{{{}}}", entries.join(","));
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&data);
    bytes
}

/// What a loadable tensor's bytes decode to, by the format's definition.
fn decoded(t: &Stored) -> Vec<f64> {
    let b = &t.bytes;
    match t.dtype {
        "F32" => b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect(),
        "F64" => b
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        "F16" => b
            .chunks_exact(2)
            .map(|c| f16_bits_to_f32(u16::from_le_bytes([c[0], c[1]])) as f64)
            .collect(),
        "BF16" => b
            .chunks_exact(2)
            .map(|c| bf16_bits_to_f32(u16::from_le_bytes([c[0], c[1]])) as f64)
            .collect(),
        _ => unreachable!(),
    }
}

/// Loads `name` as f64 with runtime dims of the file's rank (0 to 3), or `None` for a rank
/// the fuzz does not generate.
fn load_dyn(file: &SafeTensors, name: &str, shape: &[usize]) -> Option<Result<Vec<f64>, String>> {
    let d = |k: usize| Dyn::new(shape[k]);
    let r = match shape.len() {
        0 => file.load_with::<_, f64>(name, ()).map(Tensor::into_vec),
        1 => file
            .load_with::<_, f64>(name, (d(0),))
            .map(Tensor::into_vec),
        2 => file
            .load_with::<_, f64>(name, (d(0), d(1)))
            .map(Tensor::into_vec),
        3 => file
            .load_with::<_, f64>(name, (d(0), d(1), d(2)))
            .map(Tensor::into_vec),
        _ => return None,
    };
    Some(r.map_err(|e| e.to_string()))
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Everything a caller can ask of an opened file, none of which may panic; every error
/// message must be non-empty.
fn exercise(file: &SafeTensors) {
    for name in file.names() {
        let info: TensorInfo = file.info(name).unwrap();
        let bytes = file.data(name).unwrap().len();
        assert_eq!(bytes * 8, info.num_elements() * info.dtype.size_in_bits());
        if let Some(r) = load_dyn(file, name, &info.shape) {
            match r {
                Ok(v) => {
                    assert!(info.dtype.is_loadable());
                    assert_eq!(v.len(), info.num_elements());
                }
                Err(e) => assert!(!e.is_empty() && !info.dtype.is_loadable(), "{e}"),
            }
        }
        // Another shape is an error naming the tensor.
        let wrong = file.load_with::<_, f32>(name, (Dyn::new(info.num_elements() + 1),));
        assert!(wrong.unwrap_err().to_string().contains(name));
    }
    let missing = file.load_with::<_, f32>("no such tensor", ());
    assert!(!missing.unwrap_err().to_string().is_empty());
}

#[test]
fn valid_files_load_back_their_values() {
    cases(600, |_, rng| {
        let tensors = random_tensors(rng);
        let bytes = file_of(&tensors, rng.chance(3));
        let file = SafeTensors::from_bytes(bytes).expect("a valid file opens");
        let mut names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(file.names(), names);
        for t in &tensors {
            let info = file.info(&t.name).unwrap();
            assert_eq!((info.dtype.name(), &info.shape), (t.dtype, &t.shape));
            assert_eq!(file.data(&t.name).unwrap(), t.bytes.as_slice());
            let loaded = load_dyn(&file, &t.name, &t.shape).unwrap();
            if LOADABLE.contains(&t.dtype) {
                let got = loaded.unwrap();
                let want = decoded(t);
                assert!(got.iter().zip(&want).all(|(a, b)| same(*a, *b)));
                assert_eq!(got.len(), want.len());
            } else {
                assert!(loaded.unwrap_err().contains("does not convert"));
            }
        }
        exercise(&file);
    });
}

/// Replaces the `which`-th run of ASCII digits in `header` with `with`.
fn replace_number(header: &str, which: usize, with: &str) -> String {
    let mut out = String::new();
    let mut seen = 0;
    let mut chars = header.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c.is_ascii_digit() {
            let mut run = c.to_string();
            while let Some(&(_, d)) = chars.peek() {
                if !d.is_ascii_digit() {
                    break;
                }
                run.push(d);
                chars.next();
            }
            out.push_str(if seen == which { with } else { &run });
            seen += 1;
        } else {
            out.push(c);
        }
    }
    out
}

const NUMBERS: [&str; 9] = [
    "0",
    "1",
    "7",
    "4294967296",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "-1",
    "1e3",
];

const SNIPPETS: [&str; 12] = [
    r#""F8_E4M3""#,
    r#""f32""#,
    r#""""#,
    "null",
    "[]",
    "{}",
    "[4294967296,4294967296]",
    "[1,2,3,4,5,6,7]",
    r#""__metadata__""#,
    "1.5",
    "true",
    r#"{"dtype":"F32"}"#,
];

fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header_end = header_len.saturating_add(8).min(bytes.len());
    match rng.below(9) {
        // A byte of the header, anywhere (JSON syntax, names, numbers, UTF-8).
        0 => {
            if header_end > 8 {
                let at = 8 + rng.below(header_end - 8);
                bytes[at] = rng.next() as u8;
            }
        }
        // The header length.
        1 => {
            let n = match rng.below(4) {
                0 => rng.next(),
                1 => (header_len as u64).saturating_add(1),
                2 => (header_len as u64).saturating_sub(1),
                _ => u64::MAX,
            };
            bytes[..8].copy_from_slice(&n.to_le_bytes());
        }
        // Truncation, anywhere.
        2 => {
            let at = rng.below(bytes.len() + 1);
            bytes.truncate(at);
        }
        // Trailing bytes.
        3 => bytes.extend((0..1 + rng.below(9)).map(|_| rng.next() as u8)),
        // A number of the header (a dim, an offset) replaced; the length kept consistent.
        4..=6 => {
            let (head, data) = (bytes[8..header_end].to_vec(), bytes[header_end..].to_vec());
            let Ok(text) = String::from_utf8(head) else {
                return;
            };
            let digits = text
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty());
            let count = digits.count();
            if count == 0 {
                return;
            }
            let with = if rng.chance(2) {
                rng.pick(&NUMBERS).to_string()
            } else {
                rng.below(64).to_string()
            };
            let text = replace_number(&text, rng.below(count), &with);
            *bytes = (text.len() as u64).to_le_bytes().to_vec();
            bytes.extend_from_slice(text.as_bytes());
            bytes.extend_from_slice(&data);
        }
        // A dtype or a value replaced by another JSON value; the length kept consistent.
        _ => {
            let (head, data) = (bytes[8..header_end].to_vec(), bytes[header_end..].to_vec());
            let Ok(text) = String::from_utf8(head) else {
                return;
            };
            let targets = [
                r#""F32""#,
                r#""F16""#,
                r#""BF16""#,
                r#""F64""#,
                r#""I64""#,
                "[",
                "{",
            ];
            let target = rng.pick(&targets);
            let Some(pos) = text.find(target) else {
                return;
            };
            let snippet = rng.pick(&SNIPPETS);
            let text = format!("{}{}{}", &text[..pos], snippet, &text[pos + target.len()..]);
            *bytes = (text.len() as u64).to_le_bytes().to_vec();
            bytes.extend_from_slice(text.as_bytes());
            bytes.extend_from_slice(&data);
        }
    }
}

#[test]
fn mutated_files_are_errors_or_load() {
    let errors_seen = std::cell::Cell::new(0usize);
    cases(2500, |_, rng| {
        let tensors = random_tensors(rng);
        let mut bytes = file_of(&tensors, rng.chance(4));
        for _ in 0..1 + rng.below(3) {
            if bytes.len() < 8 {
                break;
            }
            mutate(rng, &mut bytes);
        }
        match SafeTensors::from_bytes(bytes) {
            Ok(file) => exercise(&file),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.starts_with("not a valid safetensors file: "), "{msg}");
                assert!(msg.len() > "not a valid safetensors file: ".len(), "{msg}");
                errors_seen.set(errors_seen.get() + 1);
            }
        }
    });
    let errors = errors_seen.get();
    // The mutations reach the error paths (most of them), not only the happy one.
    assert!(
        errors > 1500,
        "only {errors} of 2500 mutated files were rejected"
    );
}

#[test]
fn random_bytes_are_errors() {
    cases(500, |_, rng| {
        let n = rng.below(64);
        let mut bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        if rng.chance(2) && bytes.len() >= 8 {
            // A plausible header length, so the parser reaches the JSON.
            let len = rng.below(bytes.len() - 7) as u64;
            bytes[..8].copy_from_slice(&len.to_le_bytes());
        }
        if let Err(e) = SafeTensors::from_bytes(bytes) {
            assert!(!e.to_string().is_empty());
        }
    });
}

#[test]
fn tensor_info_counts_are_checked() {
    let info = TensorInfo {
        dtype: Dtype::F32,
        shape: vec![1 << 33, 1 << 33],
    };
    let r = catch_unwind(|| info.num_elements());
    let msg = r.unwrap_err();
    let msg = msg.downcast_ref::<String>().unwrap();
    assert!(msg.contains("too many elements"), "{msg}");
}

// ---------------------------------------------------------------------------------------
// WordPiece

const VOCAB: &str = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nun\n##aff\n##able\ncafe\n,\n.\n\
                     a\n##b\n##c\nab\n中\n文\n##s\nhello\nworld\n!\n##é\ne\n";

/// Characters that stress normalisation and splitting.
const ALPHABET: [&str; 40] = [
    "a", "b", "c", "e", "s", "the", "un", "aff", "able", "hello", "A", "É", "é", "e\u{301}",
    "\u{301}", "ﬁ", "İ", "ß", "中", "文", "😀", " ", "\t", "\n", "\r\n", "\u{3000}", "\u{a0}",
    "\u{0}", "\u{7f}", "\u{200b}", "\u{200f}", "\u{feff}", ",", ".", "!", "[", "]", "[MASK]",
    "[SEP", "##",
];

fn random_text(rng: &mut Rng) -> String {
    let mut s = String::new();
    match rng.below(4) {
        // Random bytes, decoded lossily: U+FFFD and whatever UTF-8 they happen to spell.
        0 => {
            let bytes: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
            s = String::from_utf8_lossy(&bytes).into_owned();
        }
        // A word longer than a word may be, among others.
        1 => {
            s.push_str("the ");
            let c = *rng.pick(&["a", "é", "中", "ab"]);
            s.push_str(&c.repeat(90 + rng.below(30)));
            s.push_str(" cafe");
        }
        // Random code points (no surrogates: a `char` cannot hold one).
        2 => {
            for _ in 0..rng.below(30) {
                let c = loop {
                    if let Some(c) = char::from_u32(rng.below(0x3_0000) as u32) {
                        break c;
                    }
                };
                s.push(c);
            }
        }
        _ => {
            for _ in 0..rng.below(25) {
                let piece = *rng.pick(&ALPHABET[..]);
                s.push_str(piece);
            }
        }
    }
    s
}

#[test]
fn tokenizer_takes_any_text() {
    let wp = WordPiece::from_vocab(VOCAB).unwrap();
    let vocab = wp.vocab_size() as u32;
    cases(3000, |_, rng| {
        let text = random_text(rng);
        let pieces = wp.tokenize(&text);
        let ids: Vec<u32> = pieces
            .iter()
            .map(|p| wp.token_id(p).expect("every piece is a vocab token"))
            .collect();
        let full = wp.encode(&text, usize::MAX);
        assert_eq!(full.first(), Some(&wp.cls_id()));
        assert_eq!(full.last(), Some(&wp.sep_id()));
        assert_eq!(&full[1..full.len() - 1], ids.as_slice(), "{text:?}");
        let max_len = rng.below(8);
        let short = wp.encode(&text, max_len);
        assert!(short.len() <= max_len);
        assert!(short.iter().all(|&id| id < vocab));
        if max_len >= 2 {
            assert_eq!(short[0], wp.cls_id());
            assert_eq!(*short.last().unwrap(), wp.sep_id());
            assert_eq!(&short[1..short.len() - 1], &ids[..short.len() - 2]);
        }
    });
}

#[test]
fn vocab_words_round_trip() {
    let wp = WordPiece::from_vocab(VOCAB).unwrap();
    let words = [
        "the", "un", "cafe", "a", "ab", "hello", "world", "e", ",", ".", "!",
    ];
    cases(500, |_, rng| {
        let chosen: Vec<&str> = (0..rng.below(12)).map(|_| *rng.pick(&words)).collect();
        let sep = *rng.pick(&[" ", "  ", "\t", "\n", " \u{3000} "]);
        let text = chosen.join(sep);
        assert_eq!(wp.tokenize(&text), chosen, "{text:?}");
        // Upper case and composed accents normalise to the same pieces.
        assert_eq!(wp.tokenize(&text.to_uppercase()), chosen, "{text:?}");
    });
}

#[test]
fn any_vocab_text_builds_or_is_an_error() {
    let lines: Vec<&str> = VOCAB.lines().collect();
    cases(800, |_, rng| {
        let mut chosen: Vec<String> = (0..rng.below(30))
            .map(|_| {
                if rng.chance(6) {
                    random_text(rng)
                } else {
                    rng.pick(&lines).to_string()
                }
            })
            .collect();
        if rng.chance(2) {
            chosen.splice(0..0, ["[PAD]", "[UNK]", "[CLS]", "[SEP]"].map(String::from));
        }
        let text = chosen.join(if rng.chance(3) { "\r\n" } else { "\n" });
        match WordPiece::from_vocab(&text) {
            Ok(wp) => {
                let ids = wp.encode(&random_text(rng), 16);
                assert!(ids.iter().all(|&id| (id as usize) < wp.vocab_size()));
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    });
}

// ---------------------------------------------------------------------------------------
// Regressions found by tests/fuzz_formats.rs, each with the input that found it (cut down)

/// A GGUF vocabulary with a merge of two tokens whose result is longer than every token:
/// tokenizers 0.23 panicked building it (huggingface/tokenizers#2094); now an error naming
/// the merge.
#[cfg(feature = "llm")]
#[test]
fn a_gguf_merge_longer_than_every_token_is_an_error() {
    use shapecheck::text::{GgufVocab, Tokenizer};
    let vocab = GgufVocab {
        model: "gpt2".into(),
        pre: Some("gpt-2".into()),
        tokens: vec!["ab".into(), "bc".into(), "a".into()],
        merges: vec!["ab bc".into()],
        ..GgufVocab::default()
    };
    let err = Tokenizer::from_gguf_vocab(&vocab).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the GGUF tokenizer cannot be built from tokenizer.ggml.merges: merge 0 (\"ab\" + \
         \"bc\") makes \"abbc\", which is not a token"
    );
    // The same in a SentencePiece ("llama") vocabulary with merges.
    let vocab = GgufVocab {
        model: "llama".into(),
        ..vocab
    };
    assert!(Tokenizer::from_gguf_vocab(&vocab)
        .unwrap_err()
        .to_string()
        .contains("makes \"abbc\", which is not a token"));
}

/// The same merge in a `tokenizer.json`: the panic inside tokenizers is now an error.
#[cfg(feature = "llm")]
#[test]
fn a_tokenizer_json_that_panics_tokenizers_is_an_error() {
    use shapecheck::text::Tokenizer;
    let json = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
        "normalizer":null,"pre_tokenizer":null,"post_processor":null,"decoder":null,
        "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,
        "end_of_word_suffix":null,"fuse_unk":false,"byte_fallback":false,
        "vocab":{"a":0,"b":1,"c":2,"ab":3,"bc":4},"merges":["a b","b c","ab bc"]}}"#;
    let err = Tokenizer::from_json_bytes(json.as_bytes(), "tokenizer.json").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("tokenizer.json"), "{msg}");
    assert!(msg.contains("the tokenizers crate failed on it"), "{msg}");
    // A valid file of the same shape still builds.
    let ok = json.replace(r#""bc":4}"#, r#""bc":4,"abbc":5}"#);
    let tok = Tokenizer::from_json_bytes(ok.as_bytes(), "tokenizer.json").unwrap();
    assert_eq!(tok.encode("abbc", false).unwrap(), [5]);
}

/// A `config.json` of a few hundred bytes whose `num_hidden_layers` sized a per-layer table
/// of 10^17 bytes (the process aborted); now an error naming the field.
#[test]
fn a_config_with_absurdly_many_layers_is_an_error() {
    use shapecheck::models::llama::LlamaConfig;
    let text = r#"{"model_type": "mistral", "hidden_size": 64, "intermediate_size": 128,
        "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers":
        138364423502663720, "max_position_embeddings": 512, "rms_norm_eps": 1e-05,
        "rope_theta": 10000.0, "sliding_window": 256, "vocab_size": 100}"#;
    let err = LlamaConfig::from_json(text, "config.json").unwrap_err();
    assert_eq!(
        err.to_string(),
        "config.json: `num_hidden_layers` is 138364423502663720, but it must be a whole number \
         from 1 to 65536"
    );
    let ok = text.replace("138364423502663720", "65536");
    assert_eq!(
        LlamaConfig::from_json(&ok, "config.json").unwrap().layers,
        65536
    );
}

/// A SentencePiece ("llama") GGUF vocabulary without merges, with one token of 300 kB: the
/// merges derived from the scores tried every split of every token, each a hash lookup of
/// up to the token's length, so this took about a minute in debug (a token of a few MB,
/// hours); now only splits at the lengths tokens have are tried. The merges found are the
/// same (tests/bpe.rs checks them against Python on Llama-2's vocabulary).
#[cfg(feature = "llm")]
#[test]
fn a_gguf_vocabulary_with_a_huge_token_builds_in_linear_time() {
    use shapecheck::text::{GgufVocab, Tokenizer};
    let long = "a".repeat(300_000);
    let vocab = GgufVocab {
        model: "llama".into(),
        tokens: vec![
            "<unk>".into(),
            "a".into(),
            "b".into(),
            "ab".into(),
            "ba".into(),
            "aba".into(),
            long.clone(),
            format!("{long}b"),
        ],
        token_types: vec![2, 1, 1, 1, 1, 1, 1, 1],
        scores: vec![0.0, -1.0, -1.0, -2.0, -2.5, -3.0, -4.0, -5.0],
        add_space_prefix: Some(false),
        add_bos: Some(false),
        ..GgufVocab::default()
    };
    let start = std::time::Instant::now();
    let tok = Tokenizer::from_gguf_vocab(&vocab).unwrap();
    let took = start.elapsed();
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
    // The merges of the short tokens are found: "ab" + "a" ranks above "a" + "ba".
    assert_eq!(tok.encode("aba", false).unwrap(), [5]);
    assert_eq!(tok.encode("ab", false).unwrap(), [3]);
}
