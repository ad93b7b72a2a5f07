//! Dequantization of the block formats [`Gguf::load`](super::Gguf::load) converts, as
//! ggml's `ggml-quants.c` defines them (all little-endian, f16 scales):
//!
//! | type   | bytes | layout                                   | element `j` of 32                 |
//! |--------|-------|------------------------------------------|-----------------------------------|
//! | `Q8_0` | 34    | `d: f16`, `qs: [i8; 32]`                 | `d · qs[j]`                       |
//! | `Q4_0` | 18    | `d: f16`, `qs: [u8; 16]`                 | `d · (nibble(j) − 8)`             |
//! | `Q4_1` | 20    | `d: f16`, `m: f16`, `qs: [u8; 16]`       | `d · nibble(j) + m`               |
//!
//! where `nibble(j)` is the low half of `qs[j]` for `j < 16` and the high half of
//! `qs[j − 16]` for `j ≥ 16`: the first 16 elements sit in the low nibbles, the last 16
//! in the high ones (not interleaved). The arithmetic is done in `f32`, multiply then add,
//! as ggml's reference dequantizer and gguf-py's do, so the results agree bit for bit.

use super::GgmlType;
use crate::element::Float;

/// The `f32` an IEEE half holds (exact). `half` is the crate the Rust ecosystem uses for
/// these bit layouts; see Cargo.toml for why it is a dependency.
fn f16(lo: u8, hi: u8) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([lo, hi])).to_f32()
}

fn bf16(lo: u8, hi: u8) -> f32 {
    half::bf16::from_bits(u16::from_le_bytes([lo, hi])).to_f32()
}

/// The elements of `bytes`, stored as `ty`, converted to `T`; `None` for a type that does
/// not load. `bytes` holds whole blocks (the header's validation guarantees it).
pub(crate) fn dequantize<T: Float>(ty: GgmlType, bytes: &[u8]) -> Option<Vec<T>> {
    // f32 → f64 → T is exact for T = f32 and f64.
    let t = |x: f32| T::from_f64(f64::from(x));
    let out = match ty {
        GgmlType::F32 => bytes
            .chunks_exact(4)
            .map(|c| t(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        GgmlType::F16 => bytes.chunks_exact(2).map(|c| t(f16(c[0], c[1]))).collect(),
        GgmlType::BF16 => bytes.chunks_exact(2).map(|c| t(bf16(c[0], c[1]))).collect(),
        GgmlType::Q8_0 => {
            let mut out = Vec::with_capacity(bytes.len() / 34 * 32);
            for block in bytes.chunks_exact(34) {
                let d = f16(block[0], block[1]);
                out.extend(block[2..].iter().map(|&q| t(d * f32::from(q as i8))));
            }
            out
        }
        GgmlType::Q4_0 => {
            let mut out = Vec::with_capacity(bytes.len() / 18 * 32);
            for block in bytes.chunks_exact(18) {
                let d = f16(block[0], block[1]);
                let qs = &block[2..];
                let value = |nibble: u8| t(d * f32::from(nibble as i8 - 8));
                out.extend(qs.iter().map(|&q| value(q & 0x0F)));
                out.extend(qs.iter().map(|&q| value(q >> 4)));
            }
            out
        }
        GgmlType::Q4_1 => {
            let mut out = Vec::with_capacity(bytes.len() / 20 * 32);
            for block in bytes.chunks_exact(20) {
                let d = f16(block[0], block[1]);
                let m = f16(block[2], block[3]);
                let qs = &block[4..];
                let value = |nibble: u8| t(d * f32::from(nibble) + m);
                out.extend(qs.iter().map(|&q| value(q & 0x0F)));
                out.extend(qs.iter().map(|&q| value(q >> 4)));
            }
            out
        }
        _ => return None,
    };
    Some(out)
}
