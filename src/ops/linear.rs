//! The affine product `x·Wᵀ + b` of a linear layer, with `W: (DOut, DIn)` stored as PyTorch
//! stores it, for inputs `(…, DIn)` of rank 1 to 6: the rule ([`LinearInput`]) and the one
//! implementation ([`try_linear`]) that the layer
//! ([`nn::linear::Linear`](crate::nn::linear::Linear)) and the traced op
//! ([`Var::try_linear`](crate::autodiff::Var::try_linear)) both run.
//!
//! ```
//! use shapecheck::ops::linear::try_linear;
//! use shapecheck::prelude::*;
//! let w = tensor!([[1., 0., 0.], [0., 1., 1.]]);
//! let b = tensor!([10., 20.]);
//! let x = tensor!([[1., 2., 3.]]);
//! let y = try_linear(&x.view(), &w.view(), Some(&b.view())).unwrap();
//! assert_eq!(y.as_slice(), &[11., 25.]);
//! ```

use crate::dim::Dim;
use crate::element::Float;
use crate::error::ShapeError;
use crate::kernel::{Epilogue, Gemm, MatRef, PackCache, PackForm, RowMap};
use crate::shape::Shape;
use crate::tensor::{Tensor, TensorView};

/// Inputs of a linear layer `Linear<DIn, DOut>`: shapes `(…, DIn)` of rank 1 to 6;
/// `Output` is `(…, DOut)`.
#[diagnostic::on_unimplemented(
    message = "`Linear<{DIn}, {DOut}>` cannot be applied to `{Self}`",
    label = "a Linear<{DIn}, {DOut}> takes inputs whose last dim is `{DIn}`",
    note = "the weight is stored (DOut, DIn) as in PyTorch; the input's last dim must be the very same dim as DIn"
)]
pub trait LinearInput<DIn: Dim, DOut: Dim>: Shape {
    /// The input shape with its last dim replaced by `DOut`.
    type Output: Shape;
    #[doc(hidden)]
    fn output_shape(&self, dout: DOut) -> Self::Output;
}

macro_rules! linear_input {
    ($($P:ident $pi:tt),*) => {
        #[diagnostic::do_not_recommend]
        impl<$($P: Dim,)* DIn: Dim, DOut: Dim> LinearInput<DIn, DOut> for ($($P,)* DIn,) {
            type Output = ($($P,)* DOut,);
            #[inline]
            fn output_shape(&self, dout: DOut) -> Self::Output {
                ($(self.$pi,)* dout,)
            }
        }
    };
}

linear_input!();
linear_input!(P0 0);
linear_input!(P0 0, P1 1);
linear_input!(P0 0, P1 1, P2 2);
linear_input!(P0 0, P1 1, P2 2, P3 3);
linear_input!(P0 0, P1 1, P2 2, P3 3, P4 4);

/// The output shape of a linear layer `DIn → DOut` applied to `S`.
pub type LinearOut<S, DIn, DOut> = <S as LinearInput<DIn, DOut>>::Output;

/// `x·Wᵀ + b` for `x: (…, DIn)`, `W: (DOut, DIn)` and an optional `b: (DOut,)`: one GEMM
/// whose right operand is `W` read through swapped strides (never transposed by a copy),
/// with the bias added in the product's write-back (bit for bit the bias as the product's
/// initial value). The leading axes of `x` are one matrix of
/// rows when they are laid out row-major over each other (a fresh tensor always is);
/// otherwise `x` is copied once to make them so.
///
/// `Err` when the width of `x` or the length of `b` differs from `W`'s (runtime dims).
pub fn try_linear<S, DIn, DOut, T>(
    x: &TensorView<'_, S, T>,
    weight: &TensorView<'_, (DOut, DIn), T>,
    bias: Option<&TensorView<'_, (DOut,), T>>,
) -> Result<Tensor<LinearOut<S, DIn, DOut>, T>, ShapeError>
where
    S: LinearInput<DIn, DOut>,
    DIn: Dim,
    DOut: Dim,
    T: Float,
{
    try_linear_cached(x, weight, bias, None, None)
}

/// [`try_linear`] followed by `map`, an elementwise function of the result's rows (see
/// [`RowMap`]) fused into the product's write-back: `map(x·Wᵀ + b)`, bit for bit the same
/// as running `map` over the result afterwards; reading the weight's pack from `packs` (the
/// weight's own cache, see [`Param::packed_bytes`](crate::autodiff::Param::packed_bytes))
/// when the product has enough rows for the packed GEMM: made on first use, then reused;
/// the same bits.
pub(crate) fn try_linear_cached<S, DIn, DOut, T>(
    x: &TensorView<'_, S, T>,
    weight: &TensorView<'_, (DOut, DIn), T>,
    bias: Option<&TensorView<'_, (DOut,), T>>,
    map: Option<RowMap<'_, T>>,
    packs: Option<&PackCache<T>>,
) -> Result<Tensor<LinearOut<S, DIn, DOut>, T>, ShapeError>
where
    S: LinearInput<DIn, DOut>,
    DIn: Dim,
    DOut: Dim,
    T: Float,
{
    let (d, r) = (x.dims(), x.dims().len());
    let (dout, din) = (weight.dims()[0], weight.dims()[1]);
    if d[r - 1] != din {
        return Err(ShapeError::incompatible_described(
            "Linear::forward",
            format!("input {:?}", x.shape()),
            format!("weight {:?}", weight.shape()),
            format!("the input has width {} and the weight {din}", d[r - 1]),
        ));
    }
    if let Some(b) = bias {
        if b.dims()[0] != dout {
            return Err(ShapeError::incompatible_described(
                "Linear::forward",
                format!("weight {:?}", weight.shape()),
                format!("bias {:?}", b.shape()),
                "the bias must have one element per output",
            ));
        }
    }
    let shape = x.shape().output_shape(weight.shape().0);
    let rows: usize = d[..r - 1].iter().product();
    let s = x.strides();
    let copied;
    let (data, offset, rs, cs) = if crate::ops::matmul::rows_collapse(&d, &s) {
        let rs = if r >= 2 { s[r - 2] } else { 0 };
        (x.as_base_slice(), x.offset(), rs, s[r - 1])
    } else {
        copied = x.to_vec();
        (&copied[..], 0, din, 1)
    };
    let xm = MatRef::new(data, offset, (rows, din), (rs, cs));
    // Wᵀ: element (i, j) is W[j, i].
    let ws = weight.strides();
    let wt = MatRef::new(
        weight.as_base_slice(),
        weight.offset(),
        (dout, din),
        (ws[0], ws[1]),
    )
    .t();
    let bias = bias.map(|b| b.to_vec());
    let epi = Epilogue {
        bias: bias.as_deref(),
        map,
        ..Epilogue::default()
    };
    let packed = packs.and_then(|p| p.get(PackForm::Transposed, wt, rows));
    let out = Gemm::new().to_vec_packed(xm, wt, epi, packed.as_deref());
    Ok(Tensor::from_parts(shape, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dim::{Dyn, D};

    /// The bias in the write-back against the former form, the bias as the product's initial
    /// value (β = 1), bit for bit, for the few-rows kernel's and the packed GEMM's row counts.
    #[test]
    fn the_bias_in_the_write_back_is_the_prefilled_bias_bit_for_bit() {
        for rows in [1usize, 3, 37, 130] {
            let x = Tensor::<(Dyn, D<40>)>::randn_with((Dyn::new(rows), D), 1);
            let w = Tensor::<(D<72>, D<40>)>::randn(2);
            let b = Tensor::<(D<72>,)>::randn(3);
            let got = try_linear(&x.view(), &w.view(), Some(&b.view())).unwrap();
            let mut want: Vec<f32> = (0..rows).flat_map(|_| b.as_slice().to_vec()).collect();
            let xm = MatRef::new(x.as_slice(), 0, (rows, 40), (40, 1));
            let wt = MatRef::new(w.as_slice(), 0, (72, 40), (40, 1)).t();
            Gemm::new().beta(1.0).to_slice(xm, wt, &mut want, 72);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(got.as_slice()), bits(&want), "{rows} rows");
        }
    }
}
