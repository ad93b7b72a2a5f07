//! Weights kept in GGUF's block formats (Q8_0, Q4_0, Q4_1) or in half precision (bf16,
//! f16) in memory: [`Quantized<DOut, DIn, F>`](Quantized), a `(DOut, DIn)` weight stored as
//! PyTorch and GGUF store it, whose product `x·Wᵀ` reads the blocks in place.
//!
//! ```
//! use shapecheck::prelude::*;
//! use shapecheck::quant::{Quantized, Q4_1};
//! dim!(pub DIn = 64; pub DOut = 3);
//! let w = Tensor::<(DOut, DIn)>::randn(0);
//! let q = Quantized::<DOut, DIn, Q4_1>::quantize(&w);
//! assert_eq!(q.nbytes(), 3 * 2 * 20); // 3 rows of 2 blocks of 20 bytes
//! let x = Tensor::<(D<2>, DIn)>::randn(1);
//! let y: Tensor<(D<2>, DOut)> = q.forward(&x); // the shape rule of Linear::forward
//! let exact = shapecheck::ops::linear::try_linear(&x.view(), &q.dequantize().view(), None).unwrap();
//! for (a, b) in y.as_slice().iter().zip(exact.as_slice()) {
//!     assert!((a - b).abs() < 0.1); // x is quantized to 8 bits per block of 32
//! }
//! ```
//!
//! - Formats ([`WeightFormat`]): [`Q8_0`], [`Q4_0`], [`Q4_1`] (blocks of 32 along `DIn`,
//!   ggml's layouts), [`Bf16`], [`F16`]. [`quantize`](Quantized::quantize) rounds as ggml's
//!   reference quantizers do (tested byte for byte against gguf-py's);
//!   [`try_from_blocks`](Quantized::try_from_blocks) takes a GGUF tensor's bytes as they are
//!   ([`Gguf::tensor_data`](crate::io::Gguf::tensor_data)).
//! - Shape rules: `DIn` must hold whole blocks ([`HoldsBlocks`]: a compile error for a static
//!   width, an `Err` naming both for a runtime one); [`forward`](Quantized::forward) takes
//!   `(…, DIn)` and gives `(…, DOut)`, as [`Linear::forward`](crate::nn::linear::Linear::forward)
//!   does, and only plain tensors ([`PlainInput`]): a traced `Var` does not compile, since no
//!   gradient flows through a quantized weight.
//! - Kernels ([`QuantKernel`], in `kernel/quant/`): for the block formats, `x` quantized to
//!   8 bits per block and integer dot products (AVX-512 VNNI, AVX2, portable), or `x` kept in
//!   f32 with `W` dequantized in registers; for the half formats, `x` in f32.
//!
//! This module sits behind the `llm` cargo feature (on by default), like the GGUF reader.

mod format;
mod rule;
mod stored;

use core::marker::PhantomData;
use std::borrow::Cow;

pub use crate::kernel::quant::QuantKernel;
pub use format::{Bf16, WeightFormat, F16, Q4_0, Q4_1, Q8_0};
pub use rule::{HoldsBlocks, KindHoldsBlocks, PlainInput};
pub use stored::{LoadDtype, StoredType, StoredWeight, UnknownDtype};

use crate::dim::Dim;
use crate::error::{OrPanic, ShapeError};
use crate::ops::linear::{LinearInput, LinearOut};
use crate::tensor::Tensor;

/// A weight `(DOut, DIn)` stored in the format `F`: `DOut` rows of `DIn / block` blocks,
/// row-major, byte for byte as a GGUF file stores the tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantized<DOut: Dim, DIn: Dim, F: WeightFormat> {
    shape: (DOut, DIn),
    bytes: Vec<u8>,
    format: PhantomData<F>,
}

impl<DOut: Dim, DIn: Dim, F: WeightFormat> Quantized<DOut, DIn, F> {
    /// `w` quantized (or rounded to half precision) as ggml does.
    ///
    /// # Panics
    ///
    /// When a runtime `DIn` is not a multiple of the block; see
    /// [`try_quantize`](Self::try_quantize).
    #[track_caller]
    pub fn quantize(w: &Tensor<(DOut, DIn)>) -> Self
    where
        DIn: HoldsBlocks<F>,
    {
        Self::try_quantize(w).or_panic()
    }

    /// [`quantize`](Self::quantize), returning `Err` when a runtime `DIn` is not a multiple
    /// of the block.
    pub fn try_quantize(w: &Tensor<(DOut, DIn)>) -> Result<Self, ShapeError>
    where
        DIn: HoldsBlocks<F>,
    {
        let shape = w.shape();
        check_width::<F>("Quantized::quantize", shape.1.size())?;
        let (dout, din) = (shape.0.size(), shape.1.size());
        let mut bytes = Vec::with_capacity(dout * row_bytes::<F>(din));
        format::quantize_into(F::GGML, w.as_slice(), &mut bytes);
        Ok(Quantized {
            shape,
            bytes,
            format: PhantomData,
        })
    }

    /// A weight from its bytes in `F`, as a GGUF file stores them (for a GGUF tensor with
    /// dims `[in, out]`: `(out, in)`). `Err` when `DIn` is not a multiple of the block or the
    /// byte count is not that of the shape.
    pub fn try_from_blocks(shape: (DOut, DIn), bytes: Vec<u8>) -> Result<Self, ShapeError>
    where
        DIn: HoldsBlocks<F>,
    {
        check_width::<F>("Quantized::from_blocks", shape.1.size())?;
        let expected = shape.0.size() * row_bytes::<F>(shape.1.size());
        if bytes.len() != expected {
            return Err(ShapeError::incompatible_described(
                "Quantized::from_blocks",
                format!("shape {shape:?}"),
                format!("{} bytes", bytes.len()),
                format!("a {shape:?} weight in {} takes {expected} bytes", F::GGML),
            ));
        }
        Ok(Quantized {
            shape,
            bytes,
            format: PhantomData,
        })
    }

    /// The shape `(DOut, DIn)`.
    pub fn shape(&self) -> (DOut, DIn) {
        self.shape
    }

    /// The stored bytes, row-major blocks.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The number of stored bytes.
    pub fn nbytes(&self) -> usize {
        self.bytes.len()
    }

    /// The weight in f32: the values the blocks stand for (`d·q`, `d·(q − 8)`, `d·q + m`),
    /// as the GGUF reader's dequantizer gives them.
    pub fn dequantize(&self) -> Tensor<(DOut, DIn)> {
        let data = crate::io::dequantize::<f32>(F::GGML, &self.bytes).unwrap_or_default(); // every WeightFormat is a loadable GGUF type
        Tensor::from_parts(self.shape, data)
    }

    /// `x·Wᵀ` for `x: (…, DIn)`, on the fastest kernel of this CPU ([`QuantKernel::best`]).
    ///
    /// # Panics
    ///
    /// When a runtime `DIn` of `x` differs from the weight's; see
    /// [`try_forward`](Self::try_forward).
    #[track_caller]
    pub fn forward<X>(&self, x: &X) -> Tensor<LinearOut<X::Shape, DIn, DOut>>
    where
        X: PlainInput + ?Sized,
        X::Shape: LinearInput<DIn, DOut>,
    {
        self.try_forward_on(x, QuantKernel::best()).or_panic()
    }

    /// [`forward`](Self::forward), returning `Err` when the input's width differs from the
    /// weight's (runtime dims).
    pub fn try_forward<X>(
        &self,
        x: &X,
    ) -> Result<Tensor<LinearOut<X::Shape, DIn, DOut>>, ShapeError>
    where
        X: PlainInput + ?Sized,
        X::Shape: LinearInput<DIn, DOut>,
    {
        self.try_forward_on(x, QuantKernel::best())
    }

    /// [`forward`](Self::forward) on the kernel `kernel` (the portable one when this CPU
    /// does not run it: see [`QuantKernel::is_available`]).
    #[track_caller]
    pub fn forward_on<X>(
        &self,
        x: &X,
        kernel: QuantKernel,
    ) -> Tensor<LinearOut<X::Shape, DIn, DOut>>
    where
        X: PlainInput + ?Sized,
        X::Shape: LinearInput<DIn, DOut>,
    {
        self.try_forward_on(x, kernel).or_panic()
    }

    /// [`forward_on`](Self::forward_on), returning `Err` when the input's width differs
    /// from the weight's (runtime dims).
    pub fn try_forward_on<X>(
        &self,
        x: &X,
        kernel: QuantKernel,
    ) -> Result<Tensor<LinearOut<X::Shape, DIn, DOut>>, ShapeError>
    where
        X: PlainInput + ?Sized,
        X::Shape: LinearInput<DIn, DOut>,
    {
        blocks_forward(
            "Quantized::forward",
            F::GGML,
            &self.bytes,
            self.shape,
            &x.plain_view(),
            kernel,
        )
    }
}

/// `x·Wᵀ` for `x: (…, DIn)` and `W`'s bytes `(DOut, DIn)` in `ty` (a block or half
/// format, whole rows: checked by the caller); `Err` from `op` when `x`'s width differs.
pub(crate) fn blocks_forward<S, DIn: Dim, DOut: Dim>(
    op: &'static str,
    ty: crate::io::GgmlType,
    bytes: &[u8],
    shape: (DOut, DIn),
    x: &crate::tensor::TensorView<'_, S, f32>,
    kernel: QuantKernel,
) -> Result<Tensor<LinearOut<S, DIn, DOut>>, ShapeError>
where
    S: LinearInput<DIn, DOut>,
{
    let d = x.dims();
    let r = d.len();
    let (dout, din) = (shape.0.size(), shape.1.size());
    if d[r - 1] != din {
        return Err(ShapeError::incompatible_described(
            op,
            format!("input {:?}", x.shape()),
            format!("weight {shape:?}"),
            format!("the input has width {} and the weight {din}", d[r - 1]),
        ));
    }
    let rows: usize = d[..r - 1].iter().product();
    let data = match x.as_contiguous_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(x.to_vec()),
    };
    let mut out = vec![0f32; rows * dout];
    product(ty, bytes, (dout, din), &data, &mut out, kernel);
    Ok(Tensor::from_parts(x.shape().output_shape(shape.0), out))
}

/// `out = x·Wᵀ` for `x` row-major `(rows, din)` and `W`'s bytes `(dout, din)` in `ty` (a
/// block or half format): the one call of the quantized kernels.
pub(crate) fn product(
    ty: crate::io::GgmlType,
    w: &[u8],
    dims: (usize, usize),
    x: &[f32],
    out: &mut [f32],
    kernel: QuantKernel,
) {
    crate::kernel::quant::matmul_t(format::layout(ty), w, dims, x, out, kernel);
}

fn row_bytes<F: WeightFormat>(din: usize) -> usize {
    din / F::GGML.block_size() * F::GGML.block_bytes()
}

fn check_width<F: WeightFormat>(op: &'static str, din: usize) -> Result<(), ShapeError> {
    let block = F::GGML.block_size();
    if !din.is_multiple_of(block) {
        return Err(ShapeError::incompatible_described(
            op,
            format!("input width {din}"),
            format!("{} blocks of {block}", F::GGML),
            format!(
                "a {} weight stores its rows in blocks of {block}, which do not divide {din}",
                F::GGML
            ),
        ));
    }
    Ok(())
}
