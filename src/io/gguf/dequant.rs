//! Dequantization of the block formats [`Gguf::load`](super::Gguf::load) converts, as
//! ggml's `ggml-quants.c` defines them (all little-endian, f16 scales):
//!
//! | type   | bytes | layout                                   | element `j` of 32                 |
//! |--------|-------|------------------------------------------|-----------------------------------|
//! | `Q8_0` | 34    | `d: f16`, `qs: [i8; 32]`                 | `d · qs[j]`                       |
//! | `Q4_0` | 18    | `d: f16`, `qs: [u8; 16]`                 | `d · (nibble(j) − 8)`             |
//! | `Q4_1` | 20    | `d: f16`, `m: f16`, `qs: [u8; 16]`       | `d · nibble(j) + m`               |
//! | `Q5_0` | 22    | `d: f16`, `qh: u32`, `qs: [u8; 16]`      | `d · (nibble(j) + 16·bit_j(qh) − 16)` |
//! | `Q5_1` | 24    | `d, m: f16`, `qh: u32`, `qs: [u8; 16]`   | `d · (nibble(j) + 16·bit_j(qh)) + m` |
//!
//! where `nibble(j)` is the low half of `qs[j]` for `j < 16` and the high half of
//! `qs[j − 16]` for `j ≥ 16`: the first 16 elements sit in the low nibbles, the last 16
//! in the high ones (not interleaved).
//!
//! The k-quants keep super-blocks of 256 elements in sub-blocks, each with a scale of its
//! own:
//!
//! | type   | bytes | layout                                                      | element of sub-block `s` |
//! |--------|-------|-------------------------------------------------------------|--------------------------|
//! | `Q4_K` | 144   | `d, dmin: f16`, `scales: [u8; 12]`, `qs: [u8; 128]`         | `(d·sc_s)·q − dmin·m_s`, `q` 4-bit |
//! | `Q5_K` | 176   | `d, dmin: f16`, `scales: [u8; 12]`, `qh: [u8; 32]`, `qs: [u8; 128]` | as `Q4_K`, `q` 5-bit |
//! | `Q6_K` | 210   | `ql: [u8; 128]`, `qh: [u8; 64]`, `scales: [i8; 16]`, `d: f16` | `(d·sc_s)·(q − 32)`, `q` 6-bit |
//!
//! `Q4_K`/`Q5_K` have 8 sub-blocks of 32 with 6-bit scales and minimums packed in 12 bytes
//! (ggml's `get_scale_min_k4`); each 64 elements take 32 bytes of `qs`, low nibbles first,
//! and `Q5_K`'s fifth bit of sub-block `s` is bit `s` of `qh[l]`. `Q6_K` has 16 sub-blocks
//! of 16 with signed 8-bit scales; each 128 elements take 64 bytes of `ql` and 32 of `qh`,
//! in four runs of 32 (low nibbles of `ql[l]`, of `ql[l + 32]`, then high nibbles), whose
//! top two bits are bits 0–1, 2–3, 4–5 and 6–7 of `qh[l]`.
//!
//! The arithmetic is done in `f32`, multiply then add, in the order ggml's reference
//! dequantizer and gguf-py's use, so the results agree bit for bit.

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
        GgmlType::Q5_0 => {
            five_bit::<22, _>(bytes, |b, q| t(f16(b[0], b[1]) * f32::from(q as i8 - 16)))
        }
        GgmlType::Q5_1 => five_bit::<24, _>(bytes, |b, q| {
            t(f16(b[0], b[1]) * f32::from(q) + f16(b[2], b[3]))
        }),
        GgmlType::Q4_K => k_quant::<144>(bytes, |b, out| {
            let (d, dmin) = (f16(b[0], b[1]), f16(b[2], b[3]));
            sub_blocks_of_32(d, dmin, &b[4..16], &b[16..], &[0; 32], out);
        })
        .into_iter()
        .map(t)
        .collect(),
        GgmlType::Q5_K => k_quant::<176>(bytes, |b, out| {
            let (d, dmin) = (f16(b[0], b[1]), f16(b[2], b[3]));
            sub_blocks_of_32(d, dmin, &b[4..16], &b[48..], &b[16..48], out);
        })
        .into_iter()
        .map(t)
        .collect(),
        GgmlType::Q6_K => k_quant::<210>(bytes, |b, out| {
            let (ql, qh, scales) = (&b[..128], &b[128..192], &b[192..208]);
            let d = f16(b[208], b[209]);
            for half in 0..2 {
                let (ql, qh) = (&ql[64 * half..][..64], &qh[32 * half..][..32]);
                let sc = &scales[8 * half..][..8];
                // Four runs of 32: low nibbles of `ql[l]`, of `ql[l + 32]`, then the high
                // ones; their top bits are successive bit pairs of `qh[l]`.
                for run in 0..4 {
                    let (lo, shift) = (&ql[32 * (run & 1)..][..32], 4 * (run >> 1));
                    for l in 0..32 {
                        let q = ((lo[l] >> shift) & 0x0F) | (((qh[l] >> (2 * run)) & 3) << 4);
                        let scale = d * f32::from(sc[run * 2 + l / 16] as i8);
                        out.push(scale * f32::from(q as i8 - 32));
                    }
                }
            }
        })
        .into_iter()
        .map(t)
        .collect(),
        _ => return None,
    };
    Some(out)
}

/// The values of `Q5_0`/`Q5_1` blocks of `BYTES` bytes, `value(block, q)` of each 5-bit `q`:
/// the nibbles as `Q4_0`'s, the fifth bit of element `j` bit `j` of the little-endian
/// `u32` before the last 16 bytes.
fn five_bit<const BYTES: usize, T>(bytes: &[u8], value: impl Fn(&[u8], u8) -> T) -> Vec<T> {
    let mut out = Vec::with_capacity(bytes.len() / BYTES * 32);
    for b in bytes.chunks_exact(BYTES) {
        let (qh, qs) = (&b[BYTES - 20..BYTES - 16], &b[BYTES - 16..]);
        let qh = u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]);
        for j in 0..32 {
            let nibble = if j < 16 {
                qs[j] & 0x0F
            } else {
                qs[j - 16] >> 4
            };
            out.push(value(b, nibble | (((qh >> j) & 1) as u8) << 4));
        }
    }
    out
}

/// The `f32` values of the super-blocks of `BYTES` bytes in `bytes`, each written by
/// `block` (256 values).
fn k_quant<const BYTES: usize>(bytes: &[u8], block: impl Fn(&[u8], &mut Vec<f32>)) -> Vec<f32> {
    let mut out = Vec::with_capacity(bytes.len() / BYTES * 256);
    bytes.chunks_exact(BYTES).for_each(|b| block(b, &mut out));
    out
}

/// `Q4_K`'s and `Q5_K`'s 8 sub-blocks of 32: `(d·sc)·q − dmin·m`, `q` the 4-bit nibble of
/// `qs` plus 16 for bit `s` of `qh[l]` (all zero for `Q4_K`).
fn sub_blocks_of_32(d: f32, dmin: f32, scales: &[u8], qs: &[u8], qh: &[u8], out: &mut Vec<f32>) {
    for s in 0..8 {
        let (sc, m) = scale_min_k4(s, scales);
        let (scale, min) = (d * f32::from(sc), dmin * f32::from(m));
        let (q, shift) = (&qs[32 * (s / 2)..][..32], 4 * (s % 2));
        for l in 0..32 {
            let high = ((qh[l] >> s) & 1) << 4;
            out.push(scale * f32::from(((q[l] >> shift) & 0x0F) | high) - min);
        }
    }
}

/// Sub-block `j`'s 6-bit scale and minimum from the 12 packed bytes (ggml's
/// `get_scale_min_k4`): bytes 0–3 hold scales 0–3 and 4–7 minimums 0–3 in their low 6 bits;
/// 8–11 hold the low 4 bits of scales and minimums 4–7, whose top 2 bits are the top bits
/// of bytes 0–3 and 4–7.
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}
