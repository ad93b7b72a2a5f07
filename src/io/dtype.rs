//! The element types a safetensors file can declare, and the conversions of the floating
//! ones to [`Float`] written from their bit layouts.

use core::fmt;

use crate::element::Float;

/// The element type of a stored tensor, as the safetensors format names it.
///
/// Every type of the format is recognised, so that a file holding, say, an `I64` position
/// table next to `F32` weights opens; [`SafeTensors::load`](super::SafeTensors::load)
/// converts only the floating types [`F32`](Dtype::F32), [`F16`](Dtype::F16),
/// [`BF16`](Dtype::BF16) and [`F64`](Dtype::F64) and returns
/// [`LoadError::Dtype`](super::LoadError::Dtype) for the others.
///
/// ```
/// use shapecheck::io::Dtype;
/// assert_eq!(Dtype::from_name("BF16"), Some(Dtype::BF16));
/// assert_eq!(Dtype::BF16.to_string(), "BF16");
/// assert_eq!(Dtype::F8E4M3.size_in_bits(), 8);
/// assert!(Dtype::F16.is_loadable() && !Dtype::I64.is_loadable());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Dtype {
    /// `BOOL`: one byte per element.
    Bool,
    /// `F4`: 4-bit float (E2M1), two per byte.
    F4,
    /// `F6_E2M3`: 6-bit float, packed.
    F6E2M3,
    /// `F6_E3M2`: 6-bit float, packed.
    F6E3M2,
    /// `U8`.
    U8,
    /// `I8`.
    I8,
    /// `F8_E5M2`: 8-bit float.
    F8E5M2,
    /// `F8_E4M3`: 8-bit float.
    F8E4M3,
    /// `F8_E8M0`: 8-bit exponent-only scale.
    F8E8M0,
    /// `I16`.
    I16,
    /// `U16`.
    U16,
    /// `F16`: IEEE 754 half precision; loads exactly as `f32` or `f64`.
    F16,
    /// `BF16`: bfloat16 (the top half of an `f32`); loads exactly as `f32` or `f64`.
    BF16,
    /// `I32`.
    I32,
    /// `U32`.
    U32,
    /// `F32`: loads exactly as `f32` or `f64`.
    F32,
    /// `C64`: a complex number of two `f32`.
    C64,
    /// `F64`: loads exactly as `f64`, rounded to nearest as `f32`.
    F64,
    /// `I64`.
    I64,
    /// `U64`.
    U64,
}

/// Every dtype with its name in the format, in one table so that parsing and printing agree.
const NAMES: [(Dtype, &str); 20] = [
    (Dtype::Bool, "BOOL"),
    (Dtype::F4, "F4"),
    (Dtype::F6E2M3, "F6_E2M3"),
    (Dtype::F6E3M2, "F6_E3M2"),
    (Dtype::U8, "U8"),
    (Dtype::I8, "I8"),
    (Dtype::F8E5M2, "F8_E5M2"),
    (Dtype::F8E4M3, "F8_E4M3"),
    (Dtype::F8E8M0, "F8_E8M0"),
    (Dtype::I16, "I16"),
    (Dtype::U16, "U16"),
    (Dtype::F16, "F16"),
    (Dtype::BF16, "BF16"),
    (Dtype::I32, "I32"),
    (Dtype::U32, "U32"),
    (Dtype::F32, "F32"),
    (Dtype::C64, "C64"),
    (Dtype::F64, "F64"),
    (Dtype::I64, "I64"),
    (Dtype::U64, "U64"),
];

impl Dtype {
    /// The dtype the format calls `name` (`"F32"`, `"BF16"`, `"F8_E4M3"`, …).
    pub fn from_name(name: &str) -> Option<Dtype> {
        NAMES.iter().find(|(_, n)| *n == name).map(|(d, _)| *d)
    }

    /// The name the format uses for this dtype.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(d, _)| *d == self)
            .map(|(_, n)| *n)
            .unwrap_or("?")
    }

    /// Bits per element (4 and 6 for the packed sub-byte floats).
    pub fn size_in_bits(self) -> usize {
        match self {
            Dtype::F4 => 4,
            Dtype::F6E2M3 | Dtype::F6E3M2 => 6,
            Dtype::Bool | Dtype::U8 | Dtype::I8 | Dtype::F8E5M2 | Dtype::F8E4M3 | Dtype::F8E8M0 => {
                8
            }
            Dtype::I16 | Dtype::U16 | Dtype::F16 | Dtype::BF16 => 16,
            Dtype::I32 | Dtype::U32 | Dtype::F32 => 32,
            Dtype::C64 | Dtype::F64 | Dtype::I64 | Dtype::U64 => 64,
        }
    }

    /// Whether [`SafeTensors::load`](super::SafeTensors::load) converts this dtype to a
    /// [`Float`]: `F32`, `F16`, `BF16` and `F64`.
    pub fn is_loadable(self) -> bool {
        matches!(self, Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F64)
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// 2^-24, the value of the lowest bit of a subnormal `f16`.
const F16_SUBNORMAL_UNIT: f32 = 1.0 / 16_777_216.0;

/// The `f32` an IEEE 754 half-precision number holds, from its bits. Exact: every `f16`
/// (subnormals, ±0, ±∞ included) is an `f32`; a NaN stays a NaN with its sign and payload.
///
/// ```
/// use shapecheck::io::f16_bits_to_f32;
/// assert_eq!(f16_bits_to_f32(0x3C00), 1.0);
/// assert_eq!(f16_bits_to_f32(0xC000), -2.0);
/// assert_eq!(f16_bits_to_f32(0x0001), 2f32.powi(-24)); // the smallest subnormal
/// assert_eq!(f16_bits_to_f32(0x7C00), f32::INFINITY);
/// assert!(f16_bits_to_f32(0x7E00).is_nan());
/// ```
pub fn f16_bits_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits >> 15) << 31;
    let exponent = u32::from((bits >> 10) & 0x1f);
    let mantissa = u32::from(bits & 0x3ff);
    match exponent {
        // ±0 and subnormals: mantissa · 2^-24, exact in f32 (10 bits times a power of two).
        0 => {
            let magnitude = mantissa as f32 * F16_SUBNORMAL_UNIT;
            if sign != 0 {
                -magnitude
            } else {
                magnitude
            }
        }
        // ±∞ and NaN: all-ones exponent; the payload moves to the top of the f32 mantissa,
        // so a quiet NaN stays quiet and a NaN never becomes an infinity.
        0x1f => f32::from_bits(sign | 0x7f80_0000 | (mantissa << 13)),
        // Normal numbers: rebias the exponent from 15 to 127.
        _ => f32::from_bits(sign | ((exponent + (127 - 15)) << 23) | (mantissa << 13)),
    }
}

/// The `f32` a bfloat16 holds, from its bits: bfloat16 is the top half of an `f32`, so this
/// is exact for every value, subnormals, infinities and NaNs included.
///
/// ```
/// use shapecheck::io::bf16_bits_to_f32;
/// assert_eq!(bf16_bits_to_f32(0x3F80), 1.0);
/// assert_eq!(bf16_bits_to_f32(0x4049), 3.140625);
/// assert_eq!(bf16_bits_to_f32(0xFF80), f32::NEG_INFINITY);
/// ```
pub fn bf16_bits_to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// Decodes little-endian elements of a loadable `dtype` into `T`. `bytes` may sit at any
/// alignment; its length is a multiple of the element size (checked by the caller).
pub(crate) fn decode<T: Float>(dtype: Dtype, bytes: &[u8]) -> Option<Vec<T>> {
    // f32 → f64 → T is exact for both targets (f32 → f64 is exact, f64 → f32 of an f32 value
    // is the identity), so going through f64 costs nothing in precision.
    let out = match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| T::from_f64(f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))))
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| T::from_f64(f64::from(f16_bits_to_f32(u16::from_le_bytes([c[0], c[1]])))))
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| {
                T::from_f64(f64::from(bf16_bits_to_f32(u16::from_le_bytes([
                    c[0], c[1],
                ]))))
            })
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                T::from_f64(f64::from_le_bytes(b))
            })
            .collect(),
        _ => return None,
    };
    Some(out)
}
