//! A weight whose format is chosen at run time, tensor by tensor: [`StoredWeight`], in f32,
//! bf16, f16, Q8_0, Q4_0 or Q4_1 ([`StoredType`]) — what a GGUF file mixes (SmolLM2's Q4_1
//! projections beside its Q8_0 embedding) and what [`LoadDtype`] asks a loader to keep or
//! convert to. The product is [`Quantized`](super::Quantized)'s for the block and half
//! formats and [`Linear`](crate::nn::linear::Linear)'s for f32, so an f32 stored weight
//! gives the trainable layer's results bit for bit.

use core::fmt;
use core::str::FromStr;

use super::format::quantize_into;
use core::ops::Range;
use std::sync::Arc;

use super::QuantKernel;
use crate::dim::Dim;
use crate::error::ShapeError;
use crate::io::GgmlType;
use crate::kernel::PackCache;
use crate::ops::linear::{try_linear_cached, LinearInput, LinearOut};
use crate::tensor::{Tensor, TensorView};

/// The format of a [`StoredWeight`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)] // ggml's names
pub enum StoredType {
    /// f32, as a trainable layer holds it.
    F32,
    /// bfloat16.
    Bf16,
    /// IEEE half.
    F16,
    /// ggml's Q8_0 (blocks of 32 along the input width).
    Q8_0,
    /// ggml's Q4_0.
    Q4_0,
    /// ggml's Q4_1.
    Q4_1,
}

impl StoredType {
    /// The GGUF type of the bytes.
    pub fn ggml(self) -> GgmlType {
        match self {
            StoredType::F32 => GgmlType::F32,
            StoredType::Bf16 => GgmlType::BF16,
            StoredType::F16 => GgmlType::F16,
            StoredType::Q8_0 => GgmlType::Q8_0,
            StoredType::Q4_0 => GgmlType::Q4_0,
            StoredType::Q4_1 => GgmlType::Q4_1,
        }
    }

    /// The format of a GGUF type, `None` for a type that is not stored (Q4_K, …).
    pub fn from_ggml(ty: GgmlType) -> Option<StoredType> {
        Some(match ty {
            GgmlType::F32 => StoredType::F32,
            GgmlType::BF16 => StoredType::Bf16,
            GgmlType::F16 => StoredType::F16,
            GgmlType::Q8_0 => StoredType::Q8_0,
            GgmlType::Q4_0 => StoredType::Q4_0,
            GgmlType::Q4_1 => StoredType::Q4_1,
            _ => return None,
        })
    }

    /// Elements per block along the input width (1 for f32 and the half formats).
    pub fn block_size(self) -> usize {
        self.ggml().block_size()
    }
}

impl fmt::Display for StoredType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.ggml().name())
    }
}

/// What a loader does with the weights' types: keep each tensor's own (`Stored`), or
/// convert every matrix to one format at load. Parsed from `stored`, `f32`, `bf16`, `f16`,
/// `q8_0`, `q4_0`, `q4_1`.
///
/// ```
/// use shapecheck::quant::{LoadDtype, StoredType};
/// assert_eq!("q8_0".parse::<LoadDtype>(), Ok(LoadDtype::To(StoredType::Q8_0)));
/// assert_eq!(
///     "q4_k".parse::<LoadDtype>().unwrap_err().to_string(),
///     "unknown weight type `q4_k`: expected one of stored, f32, bf16, f16, q8_0, q4_0, q4_1"
/// );
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LoadDtype {
    /// Each tensor in its file's own type (a GGUF's blocks, a safetensors file's f32, bf16
    /// or f16).
    #[default]
    Stored,
    /// Every matrix converted to this format at load.
    To(StoredType),
}

/// A weight type that [`LoadDtype`] does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownDtype(pub String);

impl fmt::Display for UnknownDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown weight type `{}`: expected one of stored, f32, bf16, f16, q8_0, q4_0, q4_1",
            self.0
        )
    }
}

impl std::error::Error for UnknownDtype {}

impl FromStr for LoadDtype {
    type Err = UnknownDtype;
    fn from_str(s: &str) -> Result<Self, UnknownDtype> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "stored" => LoadDtype::Stored,
            "f32" => LoadDtype::To(StoredType::F32),
            "bf16" => LoadDtype::To(StoredType::Bf16),
            "f16" => LoadDtype::To(StoredType::F16),
            "q8_0" => LoadDtype::To(StoredType::Q8_0),
            "q4_0" => LoadDtype::To(StoredType::Q4_0),
            "q4_1" => LoadDtype::To(StoredType::Q4_1),
            _ => return Err(UnknownDtype(s.to_owned())),
        })
    }
}

/// A `(DOut, DIn)` weight in the format chosen at run time ([`StoredType`]): an f32
/// tensor, or rows of blocks byte for byte as GGUF stores them.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredWeight<DOut: Dim, DIn: Dim> {
    shape: (DOut, DIn),
    data: Data<DOut, DIn>,
    /// The block kernel, `None`: the fastest of this CPU.
    kernel: Option<QuantKernel>,
    /// An f32 weight packed for the GEMM by the first product of many rows (a prefill), kept
    /// for the next ones (the weight never changes); off unless `set_prepack(true)`.
    packs: PackCache<f32>,
}

#[derive(Clone, Debug, PartialEq)]
enum Data<DOut: Dim, DIn: Dim> {
    F32(Tensor<(DOut, DIn)>),
    Blocks(StoredType, Bytes),
}

/// Blocks of its own, or a range of a buffer shared with others (a GGUF file's, read
/// once: the weights point into it instead of copying it).
#[derive(Clone, Debug, PartialEq)]
enum Bytes {
    Own(Vec<u8>),
    Shared(Arc<Vec<u8>>, Range<usize>),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Own(b) => b,
            Bytes::Shared(b, r) => &b[r.clone()],
        }
    }
}

impl<DOut: Dim, DIn: Dim> StoredWeight<DOut, DIn> {
    /// `w` in `ty`: kept for f32, rounded or quantized as ggml does for the others. `Err`
    /// when `ty`'s blocks do not divide the width, naming both.
    pub fn try_from_f32(w: Tensor<(DOut, DIn)>, ty: StoredType) -> Result<Self, ShapeError> {
        let shape = w.shape();
        if ty == StoredType::F32 {
            return Ok(StoredWeight {
                shape,
                data: Data::F32(w),
                kernel: None,
                packs: PackCache::new(false),
            });
        }
        check_width(ty, shape)?;
        let mut bytes = Vec::with_capacity(shape.0.size() * row_bytes(ty, shape.1.size()));
        quantize_into(ty.ggml(), w.as_slice(), &mut bytes);
        Ok(StoredWeight {
            shape,
            data: Data::Blocks(ty, Bytes::Own(bytes)),
            kernel: None,
            packs: PackCache::new(false),
        })
    }

    /// A weight from bytes in `ty`, as a GGUF file stores them. `Err` when the blocks do not
    /// divide the width or the byte count is not the shape's.
    pub fn try_from_bytes(
        shape: (DOut, DIn),
        ty: StoredType,
        bytes: Vec<u8>,
    ) -> Result<Self, ShapeError> {
        Self::from_stored(shape, ty, Bytes::Own(bytes))
    }

    /// A weight whose bytes in `ty` are `buffer[range]` (a GGUF file's tensor, in the file's
    /// buffer: [`Gguf::shared_bytes`](crate::io::Gguf::shared_bytes) and
    /// [`tensor_range`](crate::io::Gguf::tensor_range)): kept there, not copied (f32 is
    /// copied into a tensor). `Err` as [`try_from_bytes`](Self::try_from_bytes), or when
    /// the range is not in the buffer.
    pub fn try_from_shared(
        shape: (DOut, DIn),
        ty: StoredType,
        buffer: Arc<Vec<u8>>,
        range: Range<usize>,
    ) -> Result<Self, ShapeError> {
        if range.start > range.end || range.end > buffer.len() {
            return Err(ShapeError::incompatible_described(
                "StoredWeight::from_shared",
                format!("a buffer of {} bytes", buffer.len()),
                format!("the range {range:?}"),
                "the range must lie in the buffer",
            ));
        }
        Self::from_stored(shape, ty, Bytes::Shared(buffer, range))
    }

    fn from_stored(shape: (DOut, DIn), ty: StoredType, bytes: Bytes) -> Result<Self, ShapeError> {
        check_width(ty, shape)?;
        let expected = shape.0.size() * row_bytes(ty, shape.1.size());
        let n = bytes.as_slice().len();
        if n != expected {
            return Err(ShapeError::incompatible_described(
                "StoredWeight::from_bytes",
                format!("shape {shape:?}"),
                format!("{n} bytes"),
                format!("a {shape:?} weight in {ty} takes {expected} bytes"),
            ));
        }
        let data = match ty {
            StoredType::F32 => {
                let v = bytes
                    .as_slice()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                Data::F32(Tensor::from_parts(shape, v))
            }
            _ => Data::Blocks(ty, bytes),
        };
        Ok(StoredWeight {
            shape,
            data,
            kernel: None,
            packs: PackCache::new(false),
        })
    }

    /// Runs the block and half formats' products on `kernel` (the portable one when this
    /// CPU does not run it), e.g. [`QuantKernel::DequantF32`] to keep the activations in
    /// f32 instead of rounding them to 8 bits per block; f32 weights are unaffected.
    pub fn set_kernel(&mut self, kernel: QuantKernel) {
        self.kernel = Some(kernel);
    }

    /// The shape `(DOut, DIn)`.
    pub fn shape(&self) -> (DOut, DIn) {
        self.shape
    }

    /// Its format.
    pub fn stored_type(&self) -> StoredType {
        match &self.data {
            Data::F32(_) => StoredType::F32,
            Data::Blocks(ty, _) => *ty,
        }
    }

    /// The bytes it takes in memory.
    pub fn nbytes(&self) -> usize {
        match &self.data {
            Data::F32(t) => t.len() * 4,
            Data::Blocks(_, b) => b.as_slice().len(),
        }
    }

    /// The weight in f32 (the values the blocks stand for).
    pub fn dequantize(&self) -> Tensor<(DOut, DIn)> {
        match &self.data {
            Data::F32(t) => t.clone(),
            Data::Blocks(ty, b) => Tensor::from_parts(self.shape, dequantized(*ty, b.as_slice())),
        }
    }

    /// Rows `rows` (each below `DOut`, checked by the caller), dequantized and
    /// concatenated: an embedding's lookup.
    pub(crate) fn rows_into(&self, rows: &[usize], out: &mut Vec<f32>) {
        let din = self.shape.1.size();
        match &self.data {
            Data::F32(t) => {
                let t = t.as_slice();
                rows.iter()
                    .for_each(|&i| out.extend_from_slice(&t[i * din..(i + 1) * din]));
            }
            Data::Blocks(ty, b) => {
                let (rb, b) = (row_bytes(*ty, din), b.as_slice());
                rows.iter()
                    .for_each(|&i| out.extend(dequantized(*ty, &b[i * rb..(i + 1) * rb])));
            }
        }
    }

    /// Whether an f32 weight keeps its pack for the GEMM (off by default): on, the first
    /// product of more than 48 rows (a prefill) packs it and the next ones read the pack, as
    /// a [`Param`](crate::autodiff::Param)'s do. SmolLM2-135M in f32 on an AMD EPYC Zen 5
    /// (1 thread, 128-token prompt): prefill 5–7% faster for 319 MB more peak memory (973
    /// against 654 MB), hence off unless asked. Other formats have no pack.
    pub fn set_prepack(&mut self, on: bool) {
        self.packs.set_on(on);
    }

    /// The bytes of its pack (0 when off, before a product of many rows, or not f32).
    pub fn packed_bytes(&self) -> usize {
        self.packs.bytes()
    }

    /// `x·Wᵀ` for `x: (…, DIn)`: f32 by the one product of the linear layers
    /// ([`try_linear`](crate::ops::linear::try_linear)), the other formats by the quantized kernels. `Err` when a runtime
    /// width of `x` differs from the weight's.
    pub fn try_forward<S>(
        &self,
        x: &TensorView<'_, S, f32>,
    ) -> Result<Tensor<LinearOut<S, DIn, DOut>>, ShapeError>
    where
        S: LinearInput<DIn, DOut>,
    {
        let bytes = match &self.data {
            Data::F32(w) => return try_linear_cached(x, &w.view(), None, None, Some(&self.packs)),
            Data::Blocks(_, b) => b.as_slice(),
        };
        super::blocks_forward(
            "StoredWeight::forward",
            self.stored_type().ggml(),
            bytes,
            self.shape,
            x,
            self.kernel.unwrap_or_else(QuantKernel::best),
        )
    }
}

/// The f32 values of whole blocks `b` in `ty`.
fn dequantized(ty: StoredType, b: &[u8]) -> Vec<f32> {
    // Every StoredType is a type the GGUF reader dequantizes.
    crate::io::dequantize::<f32>(ty.ggml(), b).unwrap_or_default()
}

fn row_bytes(ty: StoredType, din: usize) -> usize {
    din / ty.block_size() * ty.ggml().block_bytes()
}

fn check_width<DOut: Dim, DIn: Dim>(ty: StoredType, shape: (DOut, DIn)) -> Result<(), ShapeError> {
    let (din, block) = (shape.1.size(), ty.block_size());
    if !din.is_multiple_of(block) {
        return Err(ShapeError::incompatible_described(
            "StoredWeight",
            format!("weight {shape:?}"),
            format!("{ty} blocks of {block}"),
            format!(
                "a {ty} weight stores its rows in blocks of {block}, which do not divide {din}"
            ),
        ));
    }
    Ok(())
}
