//! Loading safetensors files into typed tensors: conversions, the errors a caller can
//! cause (missing name, dtype, shape), malformed files, and many mutated files, none of
//! which may panic. Every file is built here, byte by byte.

use shapecheck::io::{
    bf16_bits_to_f32, f16_bits_to_f32, Checkpoint, Dtype, LoadError, SafeTensors, ShardIndex,
    INDEX_FILE, SINGLE_FILE,
};
use shapecheck::prelude::*;

/// A file from a header string and the data that follows it.
fn file_from(header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// A well-formed file: the tensors are laid out in the order given, and the header is
/// padded with spaces to `pad_to` bytes (a multiple of 8 as writers do, or odd, to put
/// the data at an unaligned address).
fn build(tensors: &[(&str, &str, &[usize], Vec<u8>)], metadata: &str, pad_to: usize) -> Vec<u8> {
    let mut entries = Vec::new();
    if !metadata.is_empty() {
        entries.push(format!("\"__metadata__\":{metadata}"));
    }
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        let begin = data.len();
        data.extend_from_slice(bytes);
        entries.push(format!(
            "\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape:?},\"data_offsets\":[{begin},{}]}}",
            data.len()
        ));
    }
    let mut header = format!("{{{}}}", entries.join(","));
    while header.len() < pad_to {
        header.push(' ');
    }
    file_from(&header, &data)
}

fn f32_bytes(xs: &[f32]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f64_bytes(xs: &[f64]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn u16_bytes(xs: &[u16]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn malformed(bytes: Vec<u8>) -> String {
    match SafeTensors::from_bytes(bytes) {
        Err(e @ LoadError::Malformed { .. }) => e.to_string(),
        Err(e) => panic!("expected a Malformed error, got {e:?}"),
        Ok(file) => panic!("expected a Malformed error, the file opened: {file:?}"),
    }
}

dim!(pub Out = 2);
dim!(pub In = 3);
dim!(pub DModel = 4);
dim!(pub Rows);

#[test]
fn loads_static_and_runtime_dims() {
    let w: Vec<f32> = (0..6).map(|x| x as f32 * 0.5 - 1.0).collect();
    let bytes = build(&[("w", "F32", &[2, 3], f32_bytes(&w))], "", 0);
    let file = SafeTensors::from_bytes(bytes).unwrap();

    let t: Tensor<(Out, In)> = file.load("w").unwrap();
    assert_eq!(t.as_slice(), w.as_slice());
    assert_eq!(t[[1, 0]], w[3]);

    let t = file.load::<(D<2>, D<3>), f64>("w").unwrap();
    let expected: Vec<f64> = w.iter().map(|&x| f64::from(x)).collect();
    assert_eq!(t.as_slice(), expected.as_slice());

    let t = file.load_with::<_, f32>("w", (Rows::new(2), In)).unwrap();
    assert_eq!(format!("{:?}", t.shape()), "(Rows=2, In=3)");
    assert_eq!(t.as_slice(), w.as_slice());

    let t = file
        .load_with::<_, f32>("w", (Dyn::new(2), Dyn::new(3)))
        .unwrap();
    assert_eq!(t.dims().as_slice(), &[2, 3]);
}

#[test]
fn names_are_sorted_and_info_is_as_stored() {
    let bytes = build(
        &[
            ("z.bias", "F32", &[1], f32_bytes(&[1.0])),
            ("a.weight", "BF16", &[2, 1], u16_bytes(&[0x3F80, 0x4000])),
            ("m", "I64", &[1], 7i64.to_le_bytes().to_vec()),
        ],
        "",
        0,
    );
    let file = SafeTensors::from_bytes(bytes).unwrap();
    assert_eq!(file.names(), ["a.weight", "m", "z.bias"]);
    let info = file.info("a.weight").unwrap();
    assert_eq!(info.dtype, Dtype::BF16);
    assert_eq!(info.shape, [2, 1]);
    assert_eq!(file.info("m").unwrap().dtype, Dtype::I64);
    assert_eq!(file.info("nope"), None);
    assert_eq!(file.data("m").unwrap(), 7i64.to_le_bytes());
    assert!(file.metadata().is_empty());
}

#[test]
fn f16_known_values_convert_exactly() {
    let smallest_subnormal = 2f32.powi(-24);
    let cases: [(u16, f32); 12] = [
        (0x3C00, 1.0),
        (0xC000, -2.0),
        (0x3555, 0.333_251_95),
        (0x7BFF, 65504.0),                     // the largest finite f16
        (0x0400, 2f32.powi(-14)),              // the smallest normal
        (0x0001, smallest_subnormal),          // the smallest subnormal
        (0x03FF, 1023.0 * smallest_subnormal), // the largest subnormal
        (0x8001, -smallest_subnormal),
        (0x7C00, f32::INFINITY),
        (0xFC00, f32::NEG_INFINITY),
        (0x0000, 0.0),
        (0x8000, -0.0),
    ];
    let bits: Vec<u16> = cases.iter().map(|c| c.0).chain([0x7E00, 0xFE01]).collect();
    let bytes = build(&[("h", "F16", &[bits.len()], u16_bytes(&bits))], "", 0);
    let file = SafeTensors::from_bytes(bytes).unwrap();
    let as_f32 = file.load::<(D<14>,), f32>("h").unwrap();
    let as_f64 = file.load::<(D<14>,), f64>("h").unwrap();
    for (i, &(h, expected)) in cases.iter().enumerate() {
        // Bitwise, so that -0 and 0 differ.
        assert_eq!(
            as_f32.as_slice()[i].to_bits(),
            expected.to_bits(),
            "f16 {h:#06x}"
        );
        assert_eq!(
            as_f64.as_slice()[i].to_bits(),
            f64::from(expected).to_bits(),
            "f16 {h:#06x} as f64"
        );
    }
    assert!(as_f32.as_slice()[12].is_nan() && as_f32.as_slice()[13].is_nan());
    assert!(as_f64.as_slice()[12].is_nan() && as_f64.as_slice()[13].is_nan());
    // The converter itself keeps the NaN quiet, with its sign and payload.
    assert_eq!(f16_bits_to_f32(0x7E00).to_bits(), 0x7FC0_0000);
    assert_eq!(f16_bits_to_f32(0xFC01).to_bits(), 0xFF80_2000);
}

/// The value of an f16, from the definition of the format, computed in f64.
fn f16_reference(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let mantissa = f64::from(bits & 0x3ff);
    match exponent {
        0 => sign * mantissa * 2f64.powi(-24),
        31 if mantissa == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + mantissa / 1024.0) * 2f64.powi(exponent - 15),
    }
}

/// The value of a bfloat16 (8 exponent bits, bias 127, 7 mantissa bits), computed in f64.
fn bf16_reference(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((bits >> 7) & 0xff);
    let mantissa = f64::from(bits & 0x7f);
    match exponent {
        0 => sign * mantissa * 2f64.powi(-133),
        255 if mantissa == 0.0 => sign * f64::INFINITY,
        255 => f64::NAN,
        _ => sign * (1.0 + mantissa / 128.0) * 2f64.powi(exponent - 127),
    }
}

fn check_every_pattern(dtype: &str, reference: fn(u16) -> f64, direct: fn(u16) -> f32) {
    let bits: Vec<u16> = (0..=u16::MAX).collect();
    // An odd header length puts the data at an odd address.
    let bytes = build(&[("all", dtype, &[bits.len()], u16_bytes(&bits))], "", 81);
    let file = SafeTensors::from_bytes(bytes).unwrap();
    let shape = (Dyn::new(bits.len()),);
    let as_f32 = file.load_with::<_, f32>("all", shape).unwrap();
    let as_f64 = file.load_with::<_, f64>("all", shape).unwrap();
    for &b in &bits {
        let (expected, got32, got64) = (
            reference(b),
            as_f32.as_slice()[b as usize],
            as_f64.as_slice()[b as usize],
        );
        if expected.is_nan() {
            assert!(got32.is_nan() && got64.is_nan(), "{dtype} {b:#06x}");
            assert!(direct(b).is_nan());
        } else {
            assert_eq!(got64.to_bits(), expected.to_bits(), "{dtype} {b:#06x}");
            assert_eq!(
                f64::from(got32).to_bits(),
                expected.to_bits(),
                "{dtype} {b:#06x}"
            );
            assert_eq!(f64::from(direct(b)).to_bits(), expected.to_bits());
        }
    }
}

#[test]
fn every_f16_bit_pattern_matches_the_format_definition() {
    check_every_pattern("F16", f16_reference, f16_bits_to_f32);
}

#[test]
fn every_bf16_bit_pattern_matches_the_format_definition() {
    check_every_pattern("BF16", bf16_reference, bf16_bits_to_f32);
}

#[test]
fn bf16_known_values_convert_exactly() {
    let cases: [(u16, f32); 8] = [
        (0x3F80, 1.0),
        (0x4049, 3.140625),
        (0xC2F7, -123.5),
        (0x7F7F, 3.389_531_4e38),         // the largest finite bfloat16
        (0x0001, 2f64.powi(-133) as f32), // the smallest subnormal
        (0x7F80, f32::INFINITY),
        (0xFF80, f32::NEG_INFINITY),
        (0x8000, -0.0),
    ];
    let bits: Vec<u16> = cases.iter().map(|c| c.0).chain([0x7FC0]).collect();
    let bytes = build(&[("b", "BF16", &[3, 3], u16_bytes(&bits))], "", 0);
    let file = SafeTensors::from_bytes(bytes).unwrap();
    let t = file.load::<(In, In), f32>("b").unwrap();
    for (i, &(b, expected)) in cases.iter().enumerate() {
        assert_eq!(
            t.as_slice()[i].to_bits(),
            expected.to_bits(),
            "bf16 {b:#06x}"
        );
    }
    assert!(t.as_slice()[8].is_nan());
}

#[test]
fn f64_weights_load_exactly_as_f64_and_rounded_as_f32() {
    let xs = [0.1f64, -1e300, 1e-320, 2.5];
    let bytes = build(&[("d", "F64", &[2, 2], f64_bytes(&xs))], "", 0);
    let file = SafeTensors::from_bytes(bytes).unwrap();
    let t = file.load::<(Out, Out), f64>("d").unwrap();
    assert_eq!(t.as_slice(), &xs);
    let t = file.load::<(Out, Out), f32>("d").unwrap();
    assert_eq!(t.as_slice(), &[0.1f32, f32::NEG_INFINITY, 0.0, 2.5]);
}

#[test]
fn unaligned_data_decodes() {
    for pad in [0, 65, 66, 67, 69, 71] {
        let xs = [1.5f32, -2.25, 1e-40];
        let ys = [0.125f64, -7.0];
        let bytes = build(
            &[
                ("x", "F32", &[3], f32_bytes(&xs)),
                ("h", "F16", &[1], u16_bytes(&[0x3C00])),
                ("y", "F64", &[2], f64_bytes(&ys)),
            ],
            "",
            pad,
        );
        let file = SafeTensors::from_bytes(bytes).unwrap();
        assert_eq!(file.load::<(In,), f32>("x").unwrap().as_slice(), &xs);
        assert_eq!(file.load::<(D<1>,), f32>("h").unwrap().as_slice(), &[1.0]);
        assert_eq!(file.load::<(Out,), f64>("y").unwrap().as_slice(), &ys);
    }
}

#[test]
fn scalars_and_empty_tensors_load() {
    let bytes = build(
        &[
            ("scale", "F32", &[], f32_bytes(&[0.125])),
            ("empty", "F16", &[0, 3], vec![]),
        ],
        "",
        0,
    );
    let file = SafeTensors::from_bytes(bytes).unwrap();
    let s = file.load::<(), f32>("scale").unwrap();
    assert_eq!(s.as_slice(), &[0.125]);
    let e = file
        .load_with::<_, f32>("empty", (Rows::new(0), In))
        .unwrap();
    assert!(e.is_empty());
    assert_eq!(e.dims().as_slice(), &[0, 3]);

    // Rank mismatches either way are shape errors.
    let err = file.load::<(D<1>,), f32>("scale").unwrap_err();
    assert_eq!(
        err.to_string(),
        "tensor `scale`: expected shape (1,), file has []"
    );
    let err = file.load::<(), f32>("empty").unwrap_err();
    assert_eq!(
        err.to_string(),
        "tensor `empty`: expected shape (), file has [0, 3]"
    );
}

#[test]
fn a_missing_name_is_an_error() {
    let bytes = build(&[("w", "F32", &[1], f32_bytes(&[1.0]))], "", 0);
    let file = SafeTensors::from_bytes(bytes).unwrap();
    let err = file.load::<(D<1>,), f32>("encoder.w").unwrap_err();
    assert!(matches!(&err, LoadError::Missing { name } if name == "encoder.w"));
    assert_eq!(err.to_string(), "no tensor named `encoder.w` in the file");
}

#[test]
fn a_dtype_that_does_not_convert_is_an_error() {
    let ids: Vec<u8> = [0i64, 1, 2].iter().flat_map(|x| x.to_le_bytes()).collect();
    let bytes = build(
        &[
            ("position_ids", "I64", &[1, 3], ids.clone()),
            ("q", "F8_E4M3", &[2], vec![0x38, 0x40]),
        ],
        "",
        0,
    );
    let file = SafeTensors::from_bytes(bytes).unwrap();
    let err = file.load::<(D<1>, In), f32>("position_ids").unwrap_err();
    assert!(matches!(
        err,
        LoadError::Dtype {
            found: Dtype::I64,
            requested: "f32",
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "tensor `position_ids`: stored as I64, which does not convert to f32 \
         (F32, F16, BF16 and F64 do)"
    );
    let err = file.load::<(Out,), f64>("q").unwrap_err();
    assert!(err
        .to_string()
        .starts_with("tensor `q`: stored as F8_E4M3, which does not convert to f64"));
    // The raw bytes stay reachable.
    assert_eq!(file.data("position_ids").unwrap(), ids.as_slice());
}

#[test]
fn a_weight_of_another_size_is_an_error() {
    let name = "encoder.layer.0.attention.self.query.weight";
    let bytes = build(&[(name, "F32", &[4, 2], f32_bytes(&[0.0; 8]))], "", 0);
    let file = SafeTensors::from_bytes(bytes).unwrap();

    let err = file.load::<(DModel, DModel), f32>(name).unwrap_err();
    match &err {
        LoadError::Shape {
            name: n,
            expected,
            found,
        } => {
            assert_eq!(n, name);
            assert_eq!(expected, "(DModel=4, DModel=4)");
            assert_eq!(found, &[4, 2]);
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "tensor `encoder.layer.0.attention.self.query.weight`: \
         expected shape (DModel=4, DModel=4), file has [4, 2]"
    );

    // Transposed: same element count, other shape.
    let err = file.load::<(Out, DModel), f32>(name).unwrap_err();
    assert!(err
        .to_string()
        .ends_with("expected shape (Out=2, DModel=4), file has [4, 2]"));
    // A runtime dim of the wrong size.
    let err = file
        .load_with::<_, f32>(name, (Rows::new(3), Out))
        .unwrap_err();
    assert!(err
        .to_string()
        .ends_with("expected shape (Rows=3, Out=2), file has [4, 2]"));
    // Another rank.
    let err = file.load::<(DModel, Out, D<1>), f32>(name).unwrap_err();
    assert!(err
        .to_string()
        .ends_with("expected shape (DModel=4, Out=2, 1), file has [4, 2]"));
    // The right one.
    assert!(file.load::<(DModel, Out), f32>(name).is_ok());
}

#[test]
fn metadata_is_read_and_checked() {
    let bytes = build(
        &[("w", "F32", &[1], f32_bytes(&[1.0]))],
        r#"{"format":"pt","note":"x"}"#,
        0,
    );
    let file = SafeTensors::from_bytes(bytes).unwrap();
    assert_eq!(file.names(), ["w"]);
    assert_eq!(file.metadata()["format"], "pt");
    assert_eq!(file.metadata().len(), 2);

    let bytes = build(&[("w", "F32", &[1], f32_bytes(&[1.0]))], r#"{"n":3}"#, 0);
    assert!(malformed(bytes).contains("`__metadata__` entry `n` must be a string, found 3"));
    let bytes = build(&[("w", "F32", &[1], f32_bytes(&[1.0]))], "[]", 0);
    assert!(malformed(bytes).contains("`__metadata__` must be an object"));
}

#[test]
fn malformed_files_are_errors_that_say_what_is_wrong() {
    let one = f32_bytes(&[1.0]);
    let entry = |body: &str| file_from(&format!("{{\"w\":{body}}}"), &one);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty file", vec![], "the file is 0 bytes long"),
        ("short file", vec![1, 0, 0], "the file is 3 bytes long"),
        (
            "huge header length",
            u64::MAX.to_le_bytes().to_vec(),
            "the header length is 18446744073709551615 bytes, but only 0 bytes follow it",
        ),
        (
            "header length past the end",
            {
                let mut b = entry(r#"{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#);
                b[..8].copy_from_slice(&1000u64.to_le_bytes());
                b
            },
            "the header length is 1000 bytes",
        ),
        (
            "not UTF-8",
            file_from("{\"w\u{e9}\":1}", &[])
                .into_iter()
                .map(|b| if b == 0xC3 { 0xFF } else { b })
                .collect(),
            "the header is not UTF-8",
        ),
        (
            "not JSON",
            file_from("{\"w\":", &[]),
            "the header is not valid JSON",
        ),
        (
            "trailing junk",
            file_from("{}\0\0", &[]),
            "the header is not valid JSON",
        ),
        (
            "empty header",
            file_from("", &[]),
            "the header is not valid JSON",
        ),
        (
            "a JSON array",
            file_from("[1,2]", &[]),
            "the header must be a JSON object, found [1,2]",
        ),
        (
            "an entry that is a number",
            entry("4"),
            "tensor `w`: expected an object",
        ),
        (
            "no dtype",
            entry(r#"{"shape":[1],"data_offsets":[0,4]}"#),
            "tensor `w`: no `dtype` field",
        ),
        (
            "unknown dtype",
            entry(r#"{"dtype":"F33","shape":[1],"data_offsets":[0,4]}"#),
            "tensor `w`: unknown dtype `F33`",
        ),
        (
            "lowercase dtype",
            entry(r#"{"dtype":"f32","shape":[1],"data_offsets":[0,4]}"#),
            "unknown dtype `f32`",
        ),
        (
            "dtype not a string",
            entry(r#"{"dtype":4,"shape":[1],"data_offsets":[0,4]}"#),
            "tensor `w`: dtype must be a string, found 4",
        ),
        (
            "negative dim",
            entry(r#"{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}"#),
            "tensor `w`: shape must be an array of non-negative integers, found [-1]",
        ),
        (
            "fractional dim",
            entry(r#"{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}"#),
            "shape must be an array of non-negative integers",
        ),
        (
            "dim beyond u64",
            entry(r#"{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,4]}"#),
            "shape must be an array of non-negative integers",
        ),
        (
            "shape not an array",
            entry(r#"{"dtype":"F32","shape":"1","data_offsets":[0,4]}"#),
            "shape must be an array",
        ),
        (
            "element count overflows",
            entry(r#"{"dtype":"F32","shape":[4294967296,4294967296,2],"data_offsets":[0,4]}"#),
            "tensor `w`: shape [4294967296, 4294967296, 2] has too many elements",
        ),
        (
            "element count overflows behind a zero dim",
            entry(r#"{"dtype":"F32","shape":[4294967296,0,4294967296],"data_offsets":[0,4]}"#),
            "has too many elements",
        ),
        (
            "byte count overflows",
            entry(r#"{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,4]}"#),
            "has too many elements",
        ),
        (
            "three offsets",
            entry(r#"{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}"#),
            "tensor `w`: data_offsets must be two non-negative integers, found [0,4,8]",
        ),
        (
            "no offsets",
            entry(r#"{"dtype":"F32","shape":[1]}"#),
            "tensor `w`: no `data_offsets` field",
        ),
        (
            "reversed offsets",
            entry(r#"{"dtype":"F32","shape":[1],"data_offsets":[4,0]}"#),
            "tensor `w`: data_offsets [4, 0] are reversed",
        ),
        (
            "offsets past the data",
            entry(r#"{"dtype":"F32","shape":[1],"data_offsets":[4,8]}"#),
            "tensor `w`: data_offsets [4, 8] end past the data, which is 4 bytes",
        ),
        (
            "huge offsets",
            entry(
                r#"{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551615]}"#,
            ),
            "end past the data",
        ),
        (
            "shape and span disagree",
            entry(r#"{"dtype":"F32","shape":[2],"data_offsets":[0,4]}"#),
            "tensor `w`: shape [2] of F32 needs 8 bytes, but data_offsets [0, 4] span 4",
        ),
        (
            "dtype and span disagree",
            entry(r#"{"dtype":"F64","shape":[1],"data_offsets":[0,4]}"#),
            "tensor `w`: shape [1] of F64 needs 8 bytes",
        ),
        (
            "half a byte of F4",
            entry(r#"{"dtype":"F4","shape":[3],"data_offsets":[0,4]}"#),
            "tensor `w`: 3 elements of F4 do not fill a whole number of bytes",
        ),
        (
            "overlapping tensors",
            file_from(
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F16","shape":[2],"data_offsets":[2,6]}}"#,
                &[0; 6],
            ),
            "tensor `b` (bytes 2..6 of the data) overlaps tensor `a`, which ends at 4",
        ),
        (
            "the same bytes twice",
            file_from(
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                &[0; 4],
            ),
            "overlaps tensor `a`",
        ),
        (
            "a gap",
            file_from(
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#,
                &[0; 12],
            ),
            "bytes 4..8 of the data belong to no tensor (the next, `b`, begins at 8)",
        ),
        (
            "data not starting at 0",
            entry(r#"{"dtype":"F16","shape":[1],"data_offsets":[2,4]}"#),
            "bytes 0..2 of the data belong to no tensor",
        ),
        (
            "bytes after the last tensor",
            file_from(
                r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                &[0; 5],
            ),
            "the tensors end at byte 4 of the data, but the data is 5 bytes",
        ),
        (
            "data but no tensors",
            file_from("{}", &[0; 3]),
            "the tensors end at byte 0 of the data, but the data is 3 bytes",
        ),
        (
            "deeply nested JSON",
            file_from(
                &format!("{{\"w\":{}{}}}", "[".repeat(5000), "]".repeat(5000)),
                &[],
            ),
            "the header is not valid JSON",
        ),
    ];
    for (what, bytes, expected) in cases {
        let message = malformed(bytes);
        assert!(
            message.contains(expected),
            "{what}: the message\n  {message}\ndoes not contain\n  {expected}"
        );
    }
}

#[test]
fn long_values_are_cut_short_in_messages() {
    let long = format!("\"{}\"", "x".repeat(10_000));
    let message = malformed(file_from(&format!("{{\"w\":{{\"dtype\":{long}}}}}"), &[]));
    // An unknown dtype is quoted in full only up to the cut made for found values.
    let message_shape = malformed(file_from(
        &format!("{{\"w\":{{\"dtype\":\"F32\",\"shape\":{long},\"data_offsets\":[0,0]}}}}"),
        &[],
    ));
    assert!(message.contains("unknown dtype"));
    assert!(message_shape.contains("shape must be an array"));
    assert!(message_shape.len() < 200, "{message_shape}");
}

#[test]
fn open_reads_files_and_names_them_in_errors() {
    let dir = std::env::temp_dir().join(format!("shapecheck-safetensors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.safetensors");
    let bad = dir.join("bad.safetensors");
    std::fs::write(
        &good,
        build(&[("w", "F32", &[2], f32_bytes(&[1.0, 2.0]))], "", 8),
    )
    .unwrap();
    std::fs::write(&bad, [3u8, 0, 0]).unwrap();

    let file = SafeTensors::open(&good).unwrap();
    assert_eq!(
        file.load::<(Out,), f32>("w").unwrap().as_slice(),
        &[1.0, 2.0]
    );

    let err = SafeTensors::open(&bad).unwrap_err();
    assert!(matches!(&err, LoadError::Malformed { path: Some(p), .. } if p == &bad));
    assert!(err
        .to_string()
        .contains("bad.safetensors` is not a valid safetensors file"));

    let missing = dir.join("missing.safetensors");
    let err = SafeTensors::open(&missing).unwrap_err();
    assert!(matches!(&err, LoadError::Io { .. }));
    assert!(err.to_string().starts_with("cannot read `"));
    assert!(std::error::Error::source(&err).is_some());

    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------
// Mutations

/// A valid file with tensors of several dtypes and ranks, and metadata.
fn mutation_seed() -> Vec<u8> {
    let w: Vec<f32> = (0..6).map(|x| x as f32 - 2.5).collect();
    build(
        &[
            ("enc.w", "F32", &[2, 3], f32_bytes(&w)),
            ("enc.b", "F16", &[3], u16_bytes(&[0x3C00, 0x0001, 0xFC00])),
            (
                "ln",
                "BF16",
                &[2, 1, 2],
                u16_bytes(&[0x3F80, 0x7FC0, 0x8000, 0x4049]),
            ),
            ("d", "F64", &[2], f64_bytes(&[0.5, -1e-310])),
            (
                "ids",
                "I64",
                &[2],
                [3i64, 4].iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            ("s", "F32", &[], f32_bytes(&[7.0])),
            ("z", "F16", &[0, 4], vec![]),
            ("q", "F4", &[4], vec![0x12, 0x34]),
        ],
        r#"{"format":"pt"}"#,
        0,
    )
}

/// The shapes the seed file's tensors have, to load them with static dims too.
fn load_seed_shape(file: &SafeTensors, name: &str) -> Option<Result<usize, LoadError>> {
    Some(match name {
        "enc.w" => file.load::<(Out, In), f32>(name).map(|t| t.len()),
        "enc.b" => file.load::<(In,), f64>(name).map(|t| t.len()),
        "ln" => file.load::<(Out, D<1>, Out), f32>(name).map(|t| t.len()),
        "d" => file.load::<(Out,), f32>(name).map(|t| t.len()),
        "s" => file.load::<(), f64>(name).map(|t| t.len()),
        _ => return None,
    })
}

/// Loads with runtime dims equal to the file's shape, as f32 and f64.
fn load_as_stored<S: Shape>(
    file: &SafeTensors,
    name: &str,
    dims: &[usize],
) -> Result<usize, LoadError> {
    let shape = S::from_dims(dims).expect("Dyn takes any size");
    let a = file.load_with::<S, f32>(name, shape).map(|t| t.len());
    let b = file.load_with::<S, f64>(name, shape).map(|t| t.len());
    assert_eq!(a.is_ok(), b.is_ok());
    a
}

/// Opens `bytes` and loads every tensor in it. Returns whether the file opened; panics
/// (failing the test) only when an invariant breaks.
fn exercise(bytes: Vec<u8>) -> bool {
    let len = bytes.len();
    let Ok(file) = SafeTensors::from_bytes(bytes) else {
        return false;
    };
    let names = file.names();
    assert!(
        names.windows(2).all(|w| w[0] < w[1]),
        "names sorted: {names:?}"
    );
    for name in names {
        let info = file.info(name).expect("a listed name has info");
        let n = info.num_elements();
        let bytes = file.data(name).expect("a listed name has data");
        assert_eq!(bytes.len() * 8, n * info.dtype.size_in_bits());
        assert!(bytes.len() <= len);
        let dims = info.shape.as_slice();
        let loaded = match dims.len() {
            0 => load_as_stored::<()>(&file, name, dims),
            1 => load_as_stored::<(Dyn,)>(&file, name, dims),
            2 => load_as_stored::<(Dyn, Dyn)>(&file, name, dims),
            3 => load_as_stored::<(Dyn, Dyn, Dyn)>(&file, name, dims),
            4 => load_as_stored::<(Dyn, Dyn, Dyn, Dyn)>(&file, name, dims),
            5 => load_as_stored::<(Dyn, Dyn, Dyn, Dyn, Dyn)>(&file, name, dims),
            6 => load_as_stored::<(Dyn, Dyn, Dyn, Dyn, Dyn, Dyn)>(&file, name, dims),
            _ => {
                // No shape type has this rank: any load is a shape error.
                let err = file.load_with::<_, f32>(name, (Dyn::new(n),)).unwrap_err();
                assert!(matches!(
                    err,
                    LoadError::Shape { .. } | LoadError::Dtype { .. }
                ));
                continue;
            }
        };
        // With the file's own shape, a load fails exactly when the dtype does not convert.
        match loaded {
            Ok(count) => {
                assert_eq!(count, n, "{name}");
                assert!(info.dtype.is_loadable());
            }
            Err(LoadError::Dtype { found, .. }) => {
                assert_eq!(found, info.dtype);
                assert!(!info.dtype.is_loadable());
            }
            Err(e) => panic!("{name} {info:?}: unexpected {e}"),
        }
        if let Some(result) = load_seed_shape(&file, name) {
            match result {
                Ok(count) => assert_eq!(count, n),
                Err(LoadError::Shape { found, .. }) => assert_eq!(found, info.shape),
                Err(LoadError::Dtype { found, .. }) => assert!(!found.is_loadable()),
                Err(e) => panic!("{name}: unexpected {e}"),
            }
        }
    }
    assert!(file.info("not a tensor name").is_none());
    true
}

/// splitmix64: a small seeded generator, so that a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn mutated_files_are_errors_or_load_consistently() {
    let seed = mutation_seed();
    assert!(exercise(seed.clone()), "the seed file is valid");
    let header_end = 8 + u64::from_le_bytes(seed[..8].try_into().unwrap()) as usize;
    let (mut opened, mut rejected) = (0usize, 0usize);
    let mut count = |ok: bool| if ok { opened += 1 } else { rejected += 1 };

    // Every truncation.
    for cut in 0..seed.len() {
        let ok = exercise(seed[..cut].to_vec());
        assert!(!ok, "a file cut to {cut} bytes opened");
        count(ok);
    }

    // Every header byte (the length included) set to each of several values; digits are
    // set to every digit, which changes shapes and offsets to other plausible numbers.
    for i in 0..header_end {
        let original = seed[i];
        let mut values = vec![
            0x00,
            0xFF,
            0x80,
            b'"',
            b'{',
            b'}',
            b'[',
            b']',
            b',',
            b':',
            b' ',
            b'-',
            b'.',
            b'e',
            b'\\',
            b'0',
            b'9',
            original ^ 1,
            original ^ 0x20,
            original.wrapping_add(1),
        ];
        if original.is_ascii_digit() {
            values.extend(b'0'..=b'9');
        }
        for v in values {
            let mut bytes = seed.clone();
            bytes[i] = v;
            count(exercise(bytes));
        }
    }

    // Random multi-byte mutations: set, insert, delete, duplicate and swap bytes, mostly in
    // the header, and append junk.
    let mut rng = Rng(0x5AFE_7E45);
    let alphabet = b"{}[]\",:0123456789-. eE\\";
    for _ in 0..6000 {
        let mut bytes = seed.clone();
        for _ in 0..1 + rng.below(4) {
            let limit = if rng.below(4) == 0 {
                bytes.len()
            } else {
                header_end.min(bytes.len())
            };
            let at = rng.below(limit.max(1));
            let byte = if rng.below(2) == 0 {
                alphabet[rng.below(alphabet.len())]
            } else {
                rng.next() as u8
            };
            match rng.below(6) {
                0 if at < bytes.len() => bytes[at] = byte,
                1 => bytes.insert(at.min(bytes.len()), byte),
                2 if at < bytes.len() => {
                    bytes.remove(at);
                }
                3 if at < bytes.len() => {
                    let end = (at + 1 + rng.below(16)).min(bytes.len());
                    let chunk = bytes[at..end].to_vec();
                    let to = rng.below(bytes.len());
                    bytes.splice(to..to, chunk);
                }
                4 if at + 1 < bytes.len() => {
                    let other = rng.below(bytes.len());
                    bytes.swap(at, other);
                }
                _ => bytes.push(byte),
            }
        }
        count(exercise(bytes));
    }

    // Header lengths around the true one, and far beyond.
    for n in (0..header_end as u64 + 16).chain([u64::MAX, u64::MAX / 2, 1 << 32, 1 << 40]) {
        let mut bytes = seed.clone();
        bytes[..8].copy_from_slice(&n.to_le_bytes());
        count(exercise(bytes));
    }

    // Both outcomes occur: some mutations (whitespace, data bytes, digits that keep the
    // layout) leave a valid file.
    assert!(opened > 100, "opened {opened}");
    assert!(rejected > 5000, "rejected {rejected}");
    eprintln!("mutated files: {opened} opened, {rejected} rejected");
}

// ---------------------------------------------------------------------------------------
// Hugging Face checkpoints: one file or shards and their index

fn checkpoint_fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checkpoint")
}

/// Loads every tensor of `ckpt` as f32 and f64 with runtime dims of its rank, and compares
/// it bit for bit with what torch says it holds (scripts/gen_checkpoint_fixture.py).
fn check_against_torch(ckpt: &Checkpoint) {
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(checkpoint_fixtures().join("expected.json")).unwrap(),
    )
    .unwrap();
    let expected = expected.as_object().unwrap();
    let mut names: Vec<&str> = expected.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(ckpt.names(), names);
    for (name, want) in expected {
        let info = ckpt.info(name).unwrap();
        assert_eq!(info.dtype.name(), want["dtype"].as_str().unwrap(), "{name}");
        let shape: Vec<usize> = want["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(info.shape, shape, "{name}");
        let bits: Vec<u32> = want["bits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap() as u32)
            .collect();
        let (f32s, f64s): (Vec<f32>, Vec<f64>) = match shape.as_slice() {
            &[n] => (
                ckpt.load_with::<_, f32>(name, (Dyn::new(n),))
                    .unwrap()
                    .into_vec(),
                ckpt.load_with::<_, f64>(name, (Dyn::new(n),))
                    .unwrap()
                    .into_vec(),
            ),
            &[m, n] => (
                ckpt.load_with::<_, f32>(name, (Dyn::new(m), Dyn::new(n)))
                    .unwrap()
                    .into_vec(),
                ckpt.load_with::<_, f64>(name, (Dyn::new(m), Dyn::new(n)))
                    .unwrap()
                    .into_vec(),
            ),
            other => panic!("{name}: rank {} in the fixture", other.len()),
        };
        let got: Vec<u32> = f32s.iter().map(|x| x.to_bits()).collect();
        assert_eq!(got, bits, "{name}");
        let widened: Vec<u64> = f64s.iter().map(|x| x.to_bits()).collect();
        let want64: Vec<u64> = bits
            .iter()
            .map(|&b| f64::from(f32::from_bits(b)).to_bits())
            .collect();
        assert_eq!(widened, want64, "{name} as f64");
    }
}

#[test]
fn sharded_and_single_checkpoints_load_what_torch_saved() {
    let root = checkpoint_fixtures();
    let sharded = Checkpoint::open(root.join("sharded")).unwrap();
    assert_eq!(sharded.num_shards(), 4);
    check_against_torch(&sharded);
    assert_eq!(
        sharded
            .path_of("lm_head.weight")
            .unwrap()
            .file_name()
            .unwrap(),
        "model-00004-of-00004.safetensors"
    );
    // The dtypes of the fixture: every half format is there.
    let dtypes: std::collections::BTreeSet<Dtype> = sharded
        .names()
        .iter()
        .map(|n| sharded.info(n).unwrap().dtype)
        .collect();
    assert_eq!(
        dtypes.into_iter().collect::<Vec<_>>(),
        [Dtype::F16, Dtype::BF16, Dtype::F32]
    );

    let single = Checkpoint::open(root.join("single")).unwrap();
    assert_eq!(single.num_shards(), 1);
    check_against_torch(&single);

    // The files themselves open too.
    let by_index = Checkpoint::open(root.join("sharded").join(INDEX_FILE)).unwrap();
    check_against_torch(&by_index);
    let by_file = Checkpoint::open(root.join("single").join(SINGLE_FILE)).unwrap();
    check_against_torch(&by_file);
    // And a SafeTensors is a one-file checkpoint.
    let one = Checkpoint::from(SafeTensors::open(root.join("single").join(SINGLE_FILE)).unwrap());
    check_against_torch(&one);

    // Loading errors are those of one file.
    let err = sharded
        .load::<(Out, In), f32>("lm_head.weight")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "tensor `lm_head.weight`: expected shape (Out=2, In=3), file has [8, 6]"
    );
    assert!(matches!(
        sharded.load::<(Out,), f32>("model.layers.1.mlp.up_proj.weight"),
        Err(LoadError::Missing { .. })
    ));
}

/// A copy of the sharded fixture in a directory of its own, to break.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "shapecheck-checkpoint-{}-{tag}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(checkpoint_fixtures().join("sharded")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
        Scratch(dir)
    }
    fn shard(&self, i: usize) -> std::path::PathBuf {
        self.0.join(format!("model-0000{i}-of-00004.safetensors"))
    }
    fn index(&self) -> std::path::PathBuf {
        self.0.join(INDEX_FILE)
    }
    /// The index with its weight map edited by `edit`.
    fn edit_index(&self, edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) {
        let mut index: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(self.index()).unwrap()).unwrap();
        edit(index["weight_map"].as_object_mut().unwrap());
        std::fs::write(self.index(), index.to_string()).unwrap();
    }
    /// The error of opening the directory, with the directory's path cut out of it.
    fn error(&self) -> String {
        let err = Checkpoint::open(&self.0).unwrap_err();
        err.to_string()
            .replace(&format!("{}/", self.0.display()), "DIR/")
            .replace(&self.0.display().to_string(), "DIR")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const SHARD_4: &str = "model-00004-of-00004.safetensors";

#[test]
fn a_missing_shard_is_an_error_naming_the_index_and_the_shard() {
    let s = Scratch::new("missing");
    std::fs::remove_file(s.shard(3)).unwrap();
    assert_eq!(
        s.error(),
        "checkpoint `DIR/model.safetensors.index.json`: the index puts tensor \
         `model.layers.0.input_layernorm.weight` and 2 others in shard \
         `model-00003-of-00004.safetensors`, but `DIR/model-00003-of-00004.safetensors` is \
         not a file"
    );
}

#[test]
fn a_tensor_the_index_names_but_its_shard_lacks_is_an_error() {
    let s = Scratch::new("lacks");
    s.edit_index(|map| {
        map.insert("model.layers.1.mlp.up_proj.weight".into(), SHARD_4.into());
    });
    assert_eq!(
        s.error(),
        "checkpoint `DIR/model-00004-of-00004.safetensors`: shard \
         `model-00004-of-00004.safetensors` has no tensor `model.layers.1.mlp.up_proj.weight`, \
         which the index puts in it"
    );
}

#[test]
fn a_tensor_in_two_shards_or_in_none_the_index_names_is_an_error() {
    let s = Scratch::new("two");
    // Shard 4 rewritten to hold lm_head.weight (as the index says) and model.norm.weight,
    // which the index puts in shard 3.
    let lm_head = SafeTensors::open(s.shard(4)).unwrap();
    let lm_head = lm_head.data("lm_head.weight").unwrap().to_vec();
    let norm = f32_bytes(&[1.0; 6]);
    std::fs::write(
        s.shard(4),
        build(
            &[
                ("lm_head.weight", "BF16", &[8, 6], lm_head.clone()),
                ("model.norm.weight", "F32", &[6], norm.clone()),
            ],
            r#"{"format":"pt"}"#,
            8,
        ),
    )
    .unwrap();
    assert_eq!(
        s.error(),
        "checkpoint `DIR/model-00004-of-00004.safetensors`: shard \
         `model-00004-of-00004.safetensors` holds tensor `model.norm.weight`, which the index \
         puts in `model-00003-of-00004.safetensors` (a tensor must be in one shard)"
    );
    // A tensor the index does not name at all.
    std::fs::write(
        s.shard(4),
        build(
            &[
                ("lm_head.weight", "BF16", &[8, 6], lm_head),
                ("lm_head.bias", "F32", &[6], norm),
            ],
            "",
            8,
        ),
    )
    .unwrap();
    assert_eq!(
        s.error(),
        "checkpoint `DIR/model-00004-of-00004.safetensors`: shard \
         `model-00004-of-00004.safetensors` holds tensor `lm_head.bias`, which the index does \
         not name"
    );
}

#[test]
fn an_index_cannot_name_a_file_outside_its_directory() {
    let s = Scratch::new("escape");
    // A real shard beside the directory, which a `../` path would reach.
    for shard in [
        "../model-00004-of-00004.safetensors",
        "/etc/passwd",
        "sub/model.safetensors",
        "sub\\model.safetensors",
        "C:model.safetensors",
        "..",
        ".",
        "",
    ] {
        s.edit_index(|map| {
            map.insert("lm_head.weight".into(), shard.into());
        });
        assert_eq!(
            s.error(),
            format!(
                "checkpoint `DIR/model.safetensors.index.json`: weight_map puts tensor \
                 `lm_head.weight` in {shard:?}, which is not a plain file name (a shard must \
                 sit in the index's directory)"
            )
        );
    }
}

#[test]
fn malformed_indexes_and_shards_are_errors_naming_the_file() {
    let s = Scratch::new("malformed");
    let cases = [
        (
            "[1, 2]",
            "the index must be a JSON object with a `weight_map`",
        ),
        (
            r#"{"metadata": {}}"#,
            "the index has no `weight_map` object",
        ),
        (
            r#"{"weight_map": []}"#,
            "the index has no `weight_map` object",
        ),
        (
            r#"{"weight_map": {}}"#,
            "the index's `weight_map` names no tensor",
        ),
        (
            r#"{"weight_map": {"w": 3}}"#,
            "weight_map puts tensor `w` in 3, which is not a file name (a string)",
        ),
        (
            r#"{"weight_map": {"w": "a.safetensors", "w": "b.safetensors"}}"#,
            "the index is ambiguous: key `w` appears twice in one object",
        ),
        (r#"{"weight_map": {"#, "the index is not valid JSON: EOF"),
    ];
    for (text, want) in cases {
        std::fs::write(s.index(), text).unwrap();
        let err = s.error();
        assert!(
            err.starts_with("checkpoint `DIR/model.safetensors.index.json`: "),
            "{err}"
        );
        assert!(err.contains(want), "{text}: {err}");
    }
    std::fs::write(s.index(), [b'{', 0xFF, b'}']).unwrap();
    assert_eq!(
        s.error(),
        "checkpoint `DIR/model.safetensors.index.json`: the index is not UTF-8 (invalid byte \
         at offset 1)"
    );

    // A shard that is not a safetensors file: the shard's own error, naming it.
    let s = Scratch::new("bad-shard");
    std::fs::write(s.shard(2), [7u8; 5]).unwrap();
    assert_eq!(
        s.error(),
        "`DIR/model-00002-of-00004.safetensors` is not a valid safetensors file: the file is 5 \
         bytes long, shorter than the 8-byte header length"
    );

    // A directory with neither file.
    std::fs::remove_file(s.index()).unwrap();
    assert_eq!(
        s.error(),
        "checkpoint `DIR`: the directory holds neither `model.safetensors` nor \
         `model.safetensors.index.json`"
    );
    // With both, the single file is read, as transformers does.
    std::fs::copy(
        checkpoint_fixtures().join("single").join(SINGLE_FILE),
        s.0.join(SINGLE_FILE),
    )
    .unwrap();
    check_against_torch(&Checkpoint::open(&s.0).unwrap());
}

#[test]
fn shards_given_in_memory_are_checked_as_files_are() {
    let index = ShardIndex::from_json(
        r#"{"weight_map": {"a": "one.safetensors", "b": "two.safetensors"}}"#,
    )
    .unwrap();
    let file = |name: &str| {
        SafeTensors::from_bytes(build(&[(name, "F32", &[1], f32_bytes(&[1.0]))], "", 8)).unwrap()
    };
    let err = |shards: Vec<(&str, SafeTensors)>| {
        Checkpoint::from_shards(&index, shards.into_iter().map(|(n, f)| (n.to_string(), f)))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(vec![("one.safetensors", file("a"))]),
        "checkpoint: shard `two.safetensors`, where the index puts tensor `b`, is not given"
    );
    assert_eq!(
        err(vec![
            ("one.safetensors", file("a")),
            ("two.safetensors", file("b")),
            ("three.safetensors", file("c")),
        ]),
        "checkpoint: shard `three.safetensors` is not named by the index"
    );
    assert_eq!(
        err(vec![
            ("one.safetensors", file("a")),
            ("one.safetensors", file("a")),
        ]),
        "checkpoint: shard `one.safetensors` is given twice"
    );
    let ok = Checkpoint::from_shards(
        &index,
        [
            ("two.safetensors".to_string(), file("b")),
            ("one.safetensors".to_string(), file("a")),
        ],
    )
    .unwrap();
    assert_eq!(ok.names(), ["a", "b"]);
    assert_eq!(ok.path_of("a"), None);
    assert_eq!(index.shards(), ["one.safetensors", "two.safetensors"]);
}
