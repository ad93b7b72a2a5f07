//! The two rules of a quantized weight: its blocks divide its input width
//! ([`HoldsBlocks`]), and it multiplies plain tensors only ([`PlainInput`]).

use core::ops::Rem;

use typenum::{Mod, Same, U0};

use super::format::WeightFormat;
use crate::dim::{Dim, Many, One, Runtime, StaticDim};
use crate::shape::Shape;
use crate::tensor::{AsView, TensorView};

/// The input width `Self` holds a whole number of blocks of the format `F`: checked by the
/// type checker for a static width, at construction (an `Err` naming both) for a runtime one.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::quant::{HoldsBlocks, Q4_1, Bf16};
/// dim!(pub DModel = 576; pub Width);
/// fn check<W: HoldsBlocks<F>, F: shapecheck::quant::WeightFormat>() {}
/// check::<DModel, Q4_1>();
/// check::<D<3>, Bf16>();
/// check::<Width, Q4_1>(); // checked at run time
/// ```
///
/// ```compile_fail,E0277
/// use shapecheck::prelude::*;
/// use shapecheck::quant::{HoldsBlocks, Q8_0};
/// fn check<W: HoldsBlocks<F>, F: shapecheck::quant::WeightFormat>() {}
/// check::<D<48>, Q8_0>();
/// ```
#[diagnostic::on_unimplemented(
    message = "a `{F}` weight stores its rows in blocks, which must divide the input width `{Self}`",
    label = "`{Self}` is not a whole number of `{F}` blocks",
    note = "Q8_0, Q4_0 and Q4_1 store blocks of 32 weights along the input width; bf16 and f16 store single weights"
)]
pub trait HoldsBlocks<F: WeightFormat>: Dim {}

#[diagnostic::do_not_recommend]
impl<D: Dim, F: WeightFormat> HoldsBlocks<F> for D where D::Kind: KindHoldsBlocks<D, F> {}

/// [`HoldsBlocks`] by the dim's kind: always for a runtime dim (checked at construction),
/// by typenum's remainder for a static one.
#[doc(hidden)]
pub trait KindHoldsBlocks<D, F> {}

impl<D: Dim, F: WeightFormat> KindHoldsBlocks<D, F> for Runtime {}

impl<D: StaticDim, F: WeightFormat> KindHoldsBlocks<D, F> for Many
where
    D::Size: Rem<F::BlockSize>,
    Mod<D::Size, F::BlockSize>: Same<U0>,
{
}

impl<D: StaticDim, F: WeightFormat> KindHoldsBlocks<D, F> for One
where
    D::Size: Rem<F::BlockSize>,
    Mod<D::Size, F::BlockSize>: Same<U0>,
{
}

/// What a quantized or half weight multiplies: an f32 tensor or view. A traced
/// [`Var`](crate::autodiff::Var) is not one — no gradient flows through a weight stored in
/// blocks — and passing one is a compile error saying so.
///
/// ```compile_fail,E0277
/// use shapecheck::autodiff::Tape;
/// use shapecheck::prelude::*;
/// use shapecheck::quant::{Quantized, Q8_0};
/// let w = Quantized::<D<4>, D<32>, Q8_0>::quantize(&Tensor::zeros());
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::<(D<1>, D<32>)>::zeros());
/// let y = w.forward(&x);
/// ```
#[diagnostic::on_unimplemented(
    message = "a quantized weight multiplies plain f32 tensors, and `{Self}` is not one",
    label = "no gradient flows through a quantized weight",
    note = "to train through this product, dequantize the weight into a `Param` (`Quantized::dequantize`); to run it, pass a tensor (`var.to_tensor()`)"
)]
pub trait PlainInput {
    /// The input's shape.
    type Shape: Shape;
    /// The input as a view.
    fn plain_view(&self) -> TensorView<'_, Self::Shape, f32>;
}

#[diagnostic::do_not_recommend]
impl<X: AsView<Elem = f32> + ?Sized> PlainInput for X {
    type Shape = X::Shape;
    fn plain_view(&self) -> TensorView<'_, Self::Shape, f32> {
        self.as_view()
    }
}
