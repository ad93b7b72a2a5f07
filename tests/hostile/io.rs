//! Malformed and extreme weight files, and hostile tokenizer input: each gives the right
//! tensor or an error that says what is wrong (the seeded fuzz of both is `tests/fuzz.rs`).

use shapecheck::io::{LoadError, SafeTensors};
use shapecheck::prelude::*;
use shapecheck::text::{WordPiece, MAX_INPUT_CHARS_PER_WORD};

fn file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

fn malformed(bytes: Vec<u8>) -> String {
    match SafeTensors::from_bytes(bytes) {
        Err(e @ LoadError::Malformed { .. }) => e.to_string(),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn a_huge_header_length_is_an_error_not_an_allocation() {
    let mut bytes = u64::MAX.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    assert_eq!(
        malformed(bytes),
        "not a valid safetensors file: the header length is 18446744073709551615 bytes, but \
         only 2 bytes follow it"
    );
}

#[test]
fn shapes_whose_count_overflows_are_errors() {
    for shape in ["[4294967296,4294967296]", "[0,1099511627776,1099511627776]"] {
        let header = format!(r#"{{"t":{{"dtype":"F32","shape":{shape},"data_offsets":[0,0]}}}}"#);
        let msg = malformed(file(&header, &[]));
        assert!(msg.ends_with("has too many elements"), "{msg}");
    }
    // A count that fits but whose bytes do not.
    let header = r#"{"t":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}}"#;
    assert!(malformed(file(header, &[])).ends_with("has too many elements"));
}

#[test]
fn an_empty_tensor_with_a_huge_dim_loads() {
    let header = r#"{"t":{"dtype":"F32","shape":[4611686018427387904,0],"data_offsets":[0,0]}}"#;
    let f = SafeTensors::from_bytes(file(header, &[])).unwrap();
    let t = f
        .load_with::<_, f32>("t", (Dyn::new(1 << 62), Dyn::new(0)))
        .unwrap();
    assert!(t.is_empty());
    assert_eq!(t.dims().as_slice(), &[1 << 62, 0]);
}

#[test]
fn non_finite_and_subnormal_values_load_bit_for_bit() {
    let values = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
        f32::from_bits(1),
        f32::MAX,
    ];
    let data: Vec<u8> = values.iter().flat_map(|x| x.to_le_bytes()).collect();
    let header = r#"{"t":{"dtype":"F32","shape":[6],"data_offsets":[0,24]}}"#;
    let f = SafeTensors::from_bytes(file(header, &data)).unwrap();
    let t: Tensor<(D<6>,)> = f.load("t").unwrap();
    let bits: Vec<u32> = t.as_slice().iter().map(|x| x.to_bits()).collect();
    assert_eq!(bits, values.map(f32::to_bits));
    // F64 to f32 rounds to nearest: beyond f32 is ∞, below its subnormals is 0.
    let wide = [1e300f64, -1e300, 1e-310, 1.0 + 1e-12];
    let data: Vec<u8> = wide.iter().flat_map(|x| x.to_le_bytes()).collect();
    let header = r#"{"w":{"dtype":"F64","shape":[4],"data_offsets":[0,32]}}"#;
    let f = SafeTensors::from_bytes(file(header, &data)).unwrap();
    let w: Tensor<(D<4>,)> = f.load("w").unwrap();
    assert_eq!(w.as_slice(), &[f32::INFINITY, f32::NEG_INFINITY, 0.0, 1.0]);
    let w: Tensor<(D<4>,), f64> = f.load("w").unwrap();
    assert_eq!(w.as_slice(), &wide);
}

#[test]
fn offsets_past_the_data_or_reversed_are_errors() {
    let header = r#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551615]}}"#;
    assert!(malformed(file(header, &[0; 4])).contains("end past the data"));
    let header = r#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#;
    assert!(malformed(file(header, &[0; 4])).contains("are reversed"));
    let header = r#"{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#;
    assert!(malformed(file(header, &[0; 4])).contains("non-negative integers"));
}

fn wordpiece() -> WordPiece {
    WordPiece::from_vocab("[PAD]\n[UNK]\n[CLS]\n[SEP]\na\n##a\n").unwrap()
}

#[test]
fn words_at_the_length_limit() {
    let wp = wordpiece();
    let at = "a".repeat(MAX_INPUT_CHARS_PER_WORD);
    assert_eq!(wp.tokenize(&at).len(), MAX_INPUT_CHARS_PER_WORD);
    let over = "a".repeat(MAX_INPUT_CHARS_PER_WORD + 1);
    assert_eq!(wp.tokenize(&over), ["[UNK]"]);
    // The limit counts characters, not bytes.
    let accented = "á".repeat(MAX_INPUT_CHARS_PER_WORD); // 200 bytes, accent stripped
    assert_eq!(wp.tokenize(&accented).len(), MAX_INPUT_CHARS_PER_WORD);
}

#[test]
fn empty_and_invisible_text() {
    let wp = wordpiece();
    for text in [
        "",
        " ",
        "\t\n\r",
        "\u{0}\u{7f}\u{feff}",
        "\u{3000}\u{a0}",
        "\u{301}",
    ] {
        assert!(wp.tokenize(text).is_empty(), "{text:?}");
        assert_eq!(wp.encode(text, 8), [wp.cls_id(), wp.sep_id()], "{text:?}");
    }
    assert_eq!(wp.encode("a a", 0), Vec::<u32>::new());
    assert_eq!(wp.encode("a a", 1), [wp.cls_id()]);
    assert_eq!(wp.encode("a a", 2), [wp.cls_id(), wp.sep_id()]);
}

#[test]
fn vocab_edge_cases_are_errors() {
    assert!(WordPiece::from_vocab("").is_err());
    let dup = WordPiece::from_vocab("[PAD]\n[UNK]\n[CLS]\n[SEP]\na\na \n").unwrap_err();
    assert_eq!(
        dup.to_string(),
        "vocab line 6 repeats the token \"a\" of line 5; each line must hold a distinct token \
         (its id is the line number − 1)"
    );
}
