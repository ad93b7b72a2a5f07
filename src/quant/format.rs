//! The storage formats of a [`Quantized`](super::Quantized) weight, and quantization from
//! `f32` as ggml's reference quantizers (`quantize_row_*_ref` in `ggml-quants.c`, which
//! gguf-py's `quants.py` reproduces bit for bit) round.

use crate::io::GgmlType;
use crate::kernel::quant::Layout;
use typenum::{U1, U32};

mod sealed {
    pub trait Sealed {}
}

/// A storage format of a [`Quantized`](super::Quantized) weight: its GGUF type and its
/// block size along the input width (a typenum number, so that a static width is checked by
/// the type checker). Sealed: implemented by [`Q8_0`], [`Q4_0`], [`Q4_1`], [`Bf16`], [`F16`].
pub trait WeightFormat:
    sealed::Sealed + Copy + Default + core::fmt::Debug + Send + Sync + 'static
{
    /// The GGUF type of the bytes.
    const GGML: GgmlType;
    /// Elements per block along the input width.
    type BlockSize: typenum::Unsigned;
}

macro_rules! format {
    ($(#[$doc:meta])* $name:ident, $ggml:ident, $block:ty) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types)] // ggml's names
        pub struct $name;
        impl sealed::Sealed for $name {}
        impl WeightFormat for $name {
            const GGML: GgmlType = GgmlType::$ggml;
            type BlockSize = $block;
        }
    };
}

format!(
    /// ggml's Q8_0: blocks of 32, an f16 scale `d` and 32 signed bytes; `w = d·q`
    /// (34 bytes per 32 weights, 8.5 bits each).
    Q8_0, Q8_0, U32
);
format!(
    /// ggml's Q4_0: blocks of 32, an f16 scale `d` and 16 bytes of 4-bit quants;
    /// `w = d·(q − 8)` (18 bytes per 32 weights, 4.5 bits each).
    Q4_0, Q4_0, U32
);
format!(
    /// ggml's Q4_1: blocks of 32, an f16 scale `d`, an f16 minimum `m` and 16 bytes of 4-bit
    /// quants; `w = d·q + m` (20 bytes per 32 weights, 5 bits each).
    Q4_1, Q4_1, U32
);
format!(
    /// bfloat16: the top 16 bits of an f32, rounded to nearest even.
    Bf16, BF16, U1
);
format!(
    /// IEEE half precision, rounded to nearest even.
    F16, F16, U1
);

/// The kernels' name for the layout of `ty` (one of the five formats above).
pub(crate) fn layout(ty: GgmlType) -> Layout {
    match ty {
        GgmlType::Q8_0 => Layout::Q8_0,
        GgmlType::Q4_0 => Layout::Q4_0,
        GgmlType::Q4_1 => Layout::Q4_1,
        GgmlType::BF16 => Layout::Bf16,
        _ => Layout::F16,
    }
}

fn f16_bytes(x: f32) -> [u8; 2] {
    half::f16::from_f32(x).to_le_bytes()
}

/// Appends the blocks of `x` (a whole number of them) in `ty` to `out`.
pub(crate) fn quantize_into(ty: GgmlType, x: &[f32], out: &mut Vec<u8>) {
    match layout(ty) {
        Layout::Bf16 => x
            .iter()
            .for_each(|&v| out.extend(half::bf16::from_f32(v).to_le_bytes())),
        Layout::F16 => x.iter().for_each(|&v| out.extend(f16_bytes(v))),
        Layout::Q8_0 => {
            for b in x.chunks_exact(32) {
                let amax = b.iter().fold(0f32, |a, v| a.max(v.abs()));
                let d = amax / 127.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                out.extend(f16_bytes(d));
                // `round` is C's roundf: halves away from zero.
                out.extend(b.iter().map(|v| (v * id).round() as i8 as u8));
            }
        }
        Layout::Q4_0 => {
            for b in x.chunks_exact(32) {
                // The element of largest magnitude, with its sign; the first one on ties.
                let (mut amax, mut max) = (0f32, 0f32);
                for &v in b {
                    if amax < v.abs() {
                        amax = v.abs();
                        max = v;
                    }
                }
                let d = max / -8.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                out.extend(f16_bytes(d));
                // C's `(int8_t)` truncates; the argument is ≥ 0.5 here, so this floors.
                let q = |v: f32| ((v * id + 8.5) as i8).min(15) as u8;
                out.extend((0..16).map(|j| q(b[j]) | q(b[j + 16]) << 4));
            }
        }
        Layout::Q4_1 => {
            for b in x.chunks_exact(32) {
                let min = b.iter().copied().fold(b[0], f32::min);
                let max = b.iter().copied().fold(b[0], f32::max);
                let d = (max - min) / 15.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                out.extend(f16_bytes(d));
                out.extend(f16_bytes(min));
                let q = |v: f32| (((v - min) * id + 0.5) as i8).min(15) as u8;
                out.extend((0..16).map(|j| q(b[j]) | q(b[j + 16]) << 4));
            }
        }
    }
}
