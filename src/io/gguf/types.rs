//! [`GgmlType`]: the element types a GGUF tensor can be stored in, with the block layout
//! (elements per block, bytes per block) that fixes each tensor's byte size.

use core::fmt;

/// How a GGUF tensor's elements are stored: plain (`F32`, `F16`, `BF16`, integers) or in
/// quantized blocks (`Q8_0`, `Q4_K`, …), as ggml numbers them.
///
/// Every type of ggml's table is recognised, so that the byte size of every tensor, and so
/// the layout of the whole file, can be checked when it opens; only the types of
/// [`is_loadable`](Self::is_loadable) dequantize to floats.
///
/// ```
/// use shapecheck::io::GgmlType;
/// let q = GgmlType::from_id(3).unwrap();
/// assert_eq!(q, GgmlType::Q4_1);
/// assert_eq!((q.block_size(), q.block_bytes()), (32, 20)); // f16 scale, f16 min, 16 bytes
/// assert_eq!(q.to_string(), "Q4_1");
/// assert!(q.is_loadable() && GgmlType::Q4_K.is_loadable() && !GgmlType::Q2_K.is_loadable());
/// assert_eq!(GgmlType::from_id(4), None); // Q4_2, removed from ggml
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[allow(non_camel_case_types)] // the names ggml, llama.cpp and every model card use
pub enum GgmlType {
    /// 32-bit float.
    F32,
    /// IEEE half precision.
    F16,
    /// Blocks of 32: an f16 scale `d`, 16 bytes of 4-bit quants; `x = d·(q − 8)`.
    Q4_0,
    /// Blocks of 32: f16 scale `d` and minimum `m`, 16 bytes of 4-bit quants; `x = d·q + m`.
    Q4_1,
    /// Blocks of 32, 5-bit.
    Q5_0,
    /// Blocks of 32, 5-bit with a minimum.
    Q5_1,
    /// Blocks of 32: an f16 scale `d`, 32 signed bytes; `x = d·q`.
    Q8_0,
    /// Blocks of 32, 8-bit with a sum (an intermediate format of ggml's dot products).
    Q8_1,
    /// k-quants: super-blocks of 256.
    Q2_K,
    /// k-quants.
    Q3_K,
    /// k-quants.
    Q4_K,
    /// k-quants.
    Q5_K,
    /// k-quants.
    Q6_K,
    /// k-quants.
    Q8_K,
    /// i-quants.
    IQ2_XXS,
    /// i-quants.
    IQ2_XS,
    /// i-quants.
    IQ3_XXS,
    /// i-quants.
    IQ1_S,
    /// i-quants, blocks of 32.
    IQ4_NL,
    /// i-quants.
    IQ3_S,
    /// i-quants.
    IQ2_S,
    /// i-quants.
    IQ4_XS,
    /// 8-bit integer.
    I8,
    /// 16-bit integer.
    I16,
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// 64-bit float.
    F64,
    /// i-quants.
    IQ1_M,
    /// bfloat16.
    BF16,
    /// Ternary quants.
    TQ1_0,
    /// Ternary quants.
    TQ2_0,
    /// Microscaling FP4, blocks of 32.
    MXFP4,
    /// NVIDIA FP4, blocks of 64.
    NVFP4,
    /// 1-bit quants, blocks of 128.
    Q1_0,
}

/// ggml's table: (type, id in the file, name, elements per block, bytes per block). Read
/// from ggml's `type_traits` and gguf-py's `GGML_QUANT_SIZES`; ids 4, 5 and 31..=33,
/// 36..=38 were removed from ggml and are refused as unknown.
const TABLE: [(GgmlType, u32, &str, usize, usize); 34] = [
    (GgmlType::F32, 0, "F32", 1, 4),
    (GgmlType::F16, 1, "F16", 1, 2),
    (GgmlType::Q4_0, 2, "Q4_0", 32, 18),
    (GgmlType::Q4_1, 3, "Q4_1", 32, 20),
    (GgmlType::Q5_0, 6, "Q5_0", 32, 22),
    (GgmlType::Q5_1, 7, "Q5_1", 32, 24),
    (GgmlType::Q8_0, 8, "Q8_0", 32, 34),
    (GgmlType::Q8_1, 9, "Q8_1", 32, 40),
    (GgmlType::Q2_K, 10, "Q2_K", 256, 84),
    (GgmlType::Q3_K, 11, "Q3_K", 256, 110),
    (GgmlType::Q4_K, 12, "Q4_K", 256, 144),
    (GgmlType::Q5_K, 13, "Q5_K", 256, 176),
    (GgmlType::Q6_K, 14, "Q6_K", 256, 210),
    (GgmlType::Q8_K, 15, "Q8_K", 256, 292),
    (GgmlType::IQ2_XXS, 16, "IQ2_XXS", 256, 66),
    (GgmlType::IQ2_XS, 17, "IQ2_XS", 256, 74),
    (GgmlType::IQ3_XXS, 18, "IQ3_XXS", 256, 98),
    (GgmlType::IQ1_S, 19, "IQ1_S", 256, 50),
    (GgmlType::IQ4_NL, 20, "IQ4_NL", 32, 18),
    (GgmlType::IQ3_S, 21, "IQ3_S", 256, 110),
    (GgmlType::IQ2_S, 22, "IQ2_S", 256, 82),
    (GgmlType::IQ4_XS, 23, "IQ4_XS", 256, 136),
    (GgmlType::I8, 24, "I8", 1, 1),
    (GgmlType::I16, 25, "I16", 1, 2),
    (GgmlType::I32, 26, "I32", 1, 4),
    (GgmlType::I64, 27, "I64", 1, 8),
    (GgmlType::F64, 28, "F64", 1, 8),
    (GgmlType::IQ1_M, 29, "IQ1_M", 256, 56),
    (GgmlType::BF16, 30, "BF16", 1, 2),
    (GgmlType::TQ1_0, 34, "TQ1_0", 256, 54),
    (GgmlType::TQ2_0, 35, "TQ2_0", 256, 66),
    (GgmlType::MXFP4, 39, "MXFP4", 32, 17),
    (GgmlType::NVFP4, 40, "NVFP4", 64, 36),
    (GgmlType::Q1_0, 41, "Q1_0", 128, 18),
];

/// The types [`Gguf::load`](super::Gguf::load) converts, as its errors list them.
pub(crate) const LOADABLE: &str =
    "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K";

impl GgmlType {
    fn row(self) -> &'static (GgmlType, u32, &'static str, usize, usize) {
        // Every variant has its row (the table test below checks it), so the fallback,
        // F32's row, is never taken.
        TABLE.iter().find(|r| r.0 == self).unwrap_or(&TABLE[0])
    }

    /// The type ggml numbers `id`, or `None` for an id it does not (or no longer) use.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        TABLE.iter().find(|r| r.1 == id).map(|r| r.0)
    }

    /// The number ggml (and the file) gives this type.
    pub fn id(self) -> u32 {
        self.row().1
    }

    /// The name ggml gives this type: `"Q4_1"`.
    pub fn name(self) -> &'static str {
        self.row().2
    }

    /// Elements per block (1 for the plain types).
    pub fn block_size(self) -> usize {
        self.row().3
    }

    /// Bytes per block (the element size for the plain types).
    pub fn block_bytes(self) -> usize {
        self.row().4
    }

    /// Whether [`Gguf::load`](super::Gguf::load) converts this type to floats:
    /// `F32`, `F16`, `BF16`, `Q8_0`, `Q4_0`, `Q4_1`, `Q5_0`, `Q5_1` and the k-quants
    /// `Q4_K`, `Q5_K` and `Q6_K` (a `Q4_K_M` file's types, with `Q5_0` and `Q8_0` for the
    /// matrices whose width is not whole super-blocks).
    pub fn is_loadable(self) -> bool {
        matches!(
            self,
            GgmlType::F32
                | GgmlType::F16
                | GgmlType::BF16
                | GgmlType::Q8_0
                | GgmlType::Q4_0
                | GgmlType::Q4_1
                | GgmlType::Q5_0
                | GgmlType::Q5_1
                | GgmlType::Q4_K
                | GgmlType::Q5_K
                | GgmlType::Q6_K
        )
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_consistent() {
        for (i, row) in TABLE.iter().enumerate() {
            assert_eq!(GgmlType::from_id(row.1), Some(row.0));
            assert_eq!(row.0.row(), row, "row {i}");
            assert!(TABLE[..i].iter().all(|r| r.0 != row.0 && r.1 != row.1));
        }
        for removed in [4, 5, 31, 32, 33, 36, 37, 38, 42, u32::MAX] {
            assert_eq!(GgmlType::from_id(removed), None);
        }
    }
}
