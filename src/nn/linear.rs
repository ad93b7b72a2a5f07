//! The linear layer [`Linear`]: `y = x·Wᵀ + b`, with `W: (DOut, DIn)` stored as PyTorch
//! stores it, for inputs `(…, DIn)` of any rank up to 6, plain or traced.
//!
//! ```
//! use shapecheck::autodiff::Tape;
//! use shapecheck::nn::linear::Linear;
//! use shapecheck::prelude::*;
//! dim!(pub Batch; pub Seq = 4; pub DModel = 8; pub DOut = 3);
//! let lin = Linear::<DModel, DOut>::init(true, 0);
//! let x = Tensor::<(Batch, Seq, DModel)>::randn_with((Batch::new(2), Seq, DModel), 1);
//! let y: Tensor<(Batch, Seq, DOut)> = lin.forward(&x);
//! let tape = Tape::new();
//! let traced = lin.forward(&tape.constant(x.clone()));
//! assert_eq!(traced.to_tensor(), y);
//! let grads = traced.sum_all().backward();
//! assert_eq!(grads.of(&lin.weight).unwrap().dims().as_slice(), &[3, 8]);
//! ```
//!
//! A `Linear<DIn, DOut>` applied to an input whose last dim is not `DIn` does not compile:
//!
//! ```compile_fail
//! use shapecheck::prelude::*;
//! use shapecheck::nn::linear::Linear;
//! dim!(pub DIn = 8; pub DOut = 4; pub Other = 8);
//! let lin = Linear::<DIn, DOut>::init(true, 0);
//! let x = Tensor::<(D<3>, Other)>::zeros();
//! let y = lin.forward(&x);
//! ```

pub use super::flow::Applied;
use super::flow::{Input, Out};
use crate::autodiff::{Param, ParamVisitor, ParamVisitorMut, Params};
use crate::dim::{Dim, StaticDim};
use crate::element::Float;
use crate::error::{OrPanic, ShapeError};
pub use crate::ops::linear::{LinearInput, LinearOut};
use crate::shape::{BroadcastShapes, Shape};
use crate::tensor::Tensor;

/// `y = x·Wᵀ + b` with `W: (DOut, DIn)` (PyTorch's layout) and an optional bias `b: (DOut,)`.
/// The product reads `W` through its strides as `Wᵀ`; it is never transposed by a copy.
///
/// One layer for inference and training: the weight and bias are [`Param`]s, and
/// [`forward`](Self::forward) takes a tensor or a view (and returns a tensor) or a traced
/// [`Var`](crate::autodiff::Var) (and returns one, recording the product's backward when
/// the input or a parameter is traced). Both run the same product,
/// [`ops::linear::try_linear`](crate::ops::linear::try_linear); the tensor path records
/// nothing and allocates only its output. Gradients are found through the fields: `grads.of(&layer.weight)` is a
/// `TensorView<(DOut, DIn)>`.
#[derive(Debug)]
pub struct Linear<DIn: Dim, DOut: Dim, T: Float = f32> {
    /// The weight, `(DOut, DIn)`; freeze it with [`Param::freeze`].
    pub weight: Param<(DOut, DIn), T>,
    /// The bias, `(DOut,)`, if any.
    pub bias: Option<Param<(DOut,), T>>,
}

/// A copy with the same values and frozen flags, and fresh parameter ids: the copy is
/// another layer, whose gradients are its own.
impl<DIn: Dim, DOut: Dim, T: Float> Clone for Linear<DIn, DOut, T> {
    fn clone(&self) -> Self {
        fn copy<S: Shape, T: Float>(p: &Param<S, T>) -> Param<S, T> {
            let mut c = Param::new(p.value().clone());
            if p.is_frozen() {
                c.freeze();
            }
            c
        }
        Linear {
            weight: copy(&self.weight),
            bias: self.bias.as_ref().map(copy),
        }
    }
}

impl<DIn: Dim, DOut: Dim, T: Float> Linear<DIn, DOut, T> {
    /// A layer from its weight `(DOut, DIn)` and optional bias `(DOut,)`.
    ///
    /// # Panics
    ///
    /// When a runtime `DOut` of the bias differs from the weight's; see
    /// [`try_new`](Self::try_new).
    #[track_caller]
    pub fn new(weight: Tensor<(DOut, DIn), T>, bias: Option<Tensor<(DOut,), T>>) -> Self {
        Self::try_new(weight, bias).or_panic()
    }

    /// [`new`](Self::new), returning `Err` when the bias's length differs from the weight's
    /// number of rows.
    pub fn try_new(
        weight: Tensor<(DOut, DIn), T>,
        bias: Option<Tensor<(DOut,), T>>,
    ) -> Result<Self, ShapeError> {
        if let Some(b) = &bias {
            if b.dims()[0] != weight.dims()[0] {
                return Err(ShapeError::incompatible_described(
                    "Linear::new",
                    format!("weight {:?}", weight.shape()),
                    format!("bias {:?}", b.shape()),
                    "the bias must have one element per output",
                ));
            }
        }
        Ok(Linear {
            weight: Param::new(weight),
            bias: bias.map(Param::new),
        })
    }

    /// PyTorch's default initialisation for static dims: weight and bias uniform in
    /// `±1/√DIn` (seeded).
    pub fn init(bias: bool, seed: u64) -> Self
    where
        DIn: StaticDim,
        DOut: StaticDim,
    {
        Self::init_with((DIn::default(), DOut::default()), bias, seed)
    }

    /// [`init`](Self::init) with the dims given as values.
    pub fn init_with((din, dout): (DIn, DOut), bias: bool, seed: u64) -> Self {
        let bound = T::ONE / T::from_usize(din.size().max(1)).sqrt();
        let weight = Tensor::uniform_with((dout, din), -bound, bound, seed);
        let bias = bias.then(|| Tensor::uniform_with((dout,), -bound, bound, seed.wrapping_add(1)));
        Linear {
            weight: Param::new(weight),
            bias: bias.map(Param::new),
        }
    }

    /// The weight, `(DOut, DIn)`.
    pub fn weight(&self) -> &Tensor<(DOut, DIn), T> {
        self.weight.value()
    }

    /// The bias, if any.
    pub fn bias(&self) -> Option<&Tensor<(DOut,), T>> {
        self.bias.as_ref().map(Param::value)
    }

    /// `x·Wᵀ + b` for `x: (…, DIn)`.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// use shapecheck::nn::linear::Linear;
    /// let w = Tensor::<(D<2>, D<3>)>::from_vec(vec![1., 0., 0., 0., 1., 1.]).unwrap();
    /// let b = Tensor::<(D<2>,)>::from_vec(vec![10., 20.]).unwrap();
    /// let lin = Linear::new(w, Some(b));
    /// let x = Tensor::<(D<1>, D<3>)>::from_vec(vec![1., 2., 3.]).unwrap();
    /// assert_eq!(lin.forward(&x).as_slice(), &[11., 25.]);
    /// ```
    ///
    /// # Panics
    ///
    /// When a runtime `DIn` of `x` differs from the weight's; see
    /// [`try_forward`](Self::try_forward).
    #[track_caller]
    pub fn forward<X>(&self, x: &X) -> Applied<X, DIn, DOut, T>
    where
        X: Input<T> + ?Sized,
        X::Shape: LinearInput<DIn, DOut>,
    {
        self.try_forward(x).or_panic()
    }

    /// [`forward`](Self::forward), returning `Err` when the input's width differs from the
    /// weight's (runtime dims).
    pub fn try_forward<X>(&self, x: &X) -> Result<Applied<X, DIn, DOut, T>, ShapeError>
    where
        X: Input<T> + ?Sized,
        X::Shape: LinearInput<DIn, DOut>,
    {
        x.try_linear_with(&self.weight, self.bias.as_ref())
    }

    /// `residual + (x·Wᵀ + b)`, the residual add after an output projection. On tensors,
    /// and on traced values when nothing takes a gradient (an inference tape), the add
    /// runs in the product's write-back, reading `residual`'s row: the unfused ops' floats,
    /// without a pass or a buffer of its own.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// use shapecheck::nn::linear::Linear;
    /// let lin = Linear::<D<3>, D<2>>::init(true, 0);
    /// let x = Tensor::<(D<4>, D<3>)>::randn(1);
    /// let r = Tensor::<(D<4>, D<2>)>::randn(2);
    /// let y = lin.try_forward_residual(&x, &r).unwrap();
    /// assert_eq!(y.as_slice(), (&r + &lin.forward(&x)).as_slice());
    /// ```
    ///
    /// `Err` when the input's width differs from the weight's, or `residual`'s dims are not
    /// the product's (runtime dims).
    pub fn try_forward_residual<X, O>(
        &self,
        x: &X,
        residual: &Out<X, T, O>,
    ) -> Result<Out<X, T, O>, ShapeError>
    where
        X: Input<T> + ?Sized,
        X::Shape: LinearInput<DIn, DOut, Output = O>,
        O: Shape + BroadcastShapes<O, Output = O>,
    {
        x.try_linear_residual_with(&self.weight, self.bias.as_ref(), residual)
    }
}

impl<DIn: Dim, DOut: Dim, T: Float> Params<T> for Linear<DIn, DOut, T> {
    /// `weight` and, if there is one, `bias` (PyTorch's names).
    fn visit_params<'a>(&'a self, prefix: &str, v: &mut impl ParamVisitor<'a, T>) {
        v.visit(&format!("{prefix}weight"), &self.weight);
        if let Some(b) = &self.bias {
            v.visit(&format!("{prefix}bias"), b);
        }
    }

    fn visit_params_mut<'a>(&'a mut self, prefix: &str, v: &mut impl ParamVisitorMut<'a, T>) {
        v.visit(&format!("{prefix}weight"), &mut self.weight);
        if let Some(b) = &mut self.bias {
            v.visit(&format!("{prefix}bias"), b);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The weight's packs (`Param::packed_bytes`) on every backend that makes them: the
    //! same bits as the unpacked products, never read once the weight changed.
    use super::*;
    use crate::autodiff::{Param, Tape};
    use crate::dim::{Dyn, D};
    use crate::kernel::{packing_backends, with_backend};
    use crate::ops::linear::try_linear;

    type Layer = Linear<D<40>, D<72>>;

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// `x·Wᵀ + b` from the layer's current values, through no pack.
    fn unpacked(lin: &Layer, x: &Tensor<(Dyn, D<40>)>) -> Vec<f32> {
        let b = lin.bias().map(|b| b.view());
        let y = try_linear(&x.view(), &lin.weight().view(), b.as_ref()).or_panic();
        y.as_slice().to_vec()
    }

    #[test]
    fn a_changed_weight_is_never_read_from_an_old_pack() {
        let x = Tensor::<(Dyn, D<40>)>::randn_with((Dyn::new(130), D), 1);
        for backend in packing_backends() {
            with_backend(backend, || {
                let mut lin = Layer::init(true, 0);
                let y0 = lin.forward(&x);
                assert!(
                    lin.packed_bytes() >= 72 * 40 * 4,
                    "{backend:?}: no pack made"
                );
                assert_eq!(bits(y0.as_slice()), bits(&unpacked(&lin, &x)));
                // A write through `value_mut`, in place (no tape holds the value).
                lin.weight
                    .value_mut()
                    .as_mut_slice()
                    .iter_mut()
                    .for_each(|w| *w *= 2.0);
                let y1 = lin.forward(&x);
                assert_ne!(bits(y1.as_slice()), bits(y0.as_slice()));
                assert_eq!(
                    bits(y1.as_slice()),
                    bits(&unpacked(&lin, &x)),
                    "{backend:?}"
                );
                lin.release_packs();
                assert_eq!(lin.packed_bytes(), 0);
                // Off: no pack is made, the same bits.
                lin.set_prepack(false);
                let y3 = lin.forward(&x);
                assert_eq!(lin.packed_bytes(), 0, "{backend:?}: a pack made while off");
                assert_eq!(bits(y3.as_slice()), bits(y1.as_slice()));
            });
        }
    }

    /// The traced forward (bias in the write-back) and its gradients, with the layer's packs
    /// and without (`Var::try_linear` on the same parameters), on 1 and 2 threads: a frozen
    /// weight (as under LoRA) is read from its packs, forward and input gradient; a trainable
    /// one makes none.
    #[test]
    fn the_traced_linear_with_packs_is_the_unpacked_bits() {
        let x0 = Tensor::<(Dyn, D<40>)>::randn_with((Dyn::new(130), D), 1);
        for backend in packing_backends() {
            for threads in [1, 2] {
                let (mut lin, x) = (Layer::init(true, 0), Param::new(x0.clone()));
                crate::with_threads(threads, || {
                    with_backend(backend, || {
                        let tape = Tape::new();
                        drop(lin.forward(&tape.param(&x)).sum_all().backward());
                    })
                });
                assert_eq!(
                    lin.packed_bytes(),
                    0,
                    "a trainable weight was packed on a tape"
                );
                lin.weight.freeze();
                let lin = lin;
                let run = |packed: bool| {
                    let tape = Tape::new();
                    let xv = tape.param(&x);
                    let y = if packed {
                        lin.forward(&xv)
                    } else {
                        let (w, b) = (
                            tape.param(&lin.weight),
                            lin.bias.as_ref().map(|b| tape.param(b)),
                        );
                        xv.try_linear(&w, b.as_ref()).or_panic()
                    };
                    let value = y.value().to_vec();
                    let g = (&y * &y).sum_all().backward();
                    let grads = [
                        g.of(&x).map(|t| t.to_vec()),
                        g.of(&lin.weight).map(|t| t.to_vec()),
                        lin.bias.as_ref().and_then(|b| g.of(b)).map(|t| t.to_vec()),
                    ];
                    (value, grads)
                };
                let ((v1, g1), (v0, g0)) = crate::with_threads(threads, || {
                    with_backend(backend, || (run(true), run(false)))
                });
                let case = format!("{backend:?}, {threads} threads");
                // Both forms: `Wᵀ` for the forward, `W` for the input gradient.
                assert!(
                    lin.packed_bytes() >= 2 * 72 * 40 * 4,
                    "{case}: {} bytes of packs",
                    lin.packed_bytes()
                );
                assert_eq!(bits(&v1), bits(&v0), "{case}: value");
                assert_eq!(
                    bits(&v1),
                    bits(lin.forward(&x0).as_slice()),
                    "{case}: the tensor forward"
                );
                for (a, b) in g1.iter().zip(&g0) {
                    assert_eq!(
                        a.as_deref().map(bits),
                        b.as_deref().map(bits),
                        "{case}: gradients"
                    );
                }
            }
        }
    }

    /// A stored f32 weight packs only when asked, and its packed products are the
    /// unpacked bits.
    #[cfg(feature = "llm")]
    #[test]
    fn a_stored_f32_weight_packs_when_asked() {
        use crate::quant::{StoredType, StoredWeight};
        let x = Tensor::<(Dyn, D<40>)>::randn_with((Dyn::new(130), D), 1);
        let w = Tensor::<(D<72>, D<40>)>::randn(2);
        for backend in packing_backends() {
            with_backend(backend, || {
                let mut s = StoredWeight::try_from_f32(w.clone(), StoredType::F32).or_panic();
                let want = s.try_forward(&x.view()).or_panic();
                assert_eq!(s.packed_bytes(), 0, "{backend:?}: packed while off");
                s.set_prepack(true);
                for _ in 0..2 {
                    let got = s.try_forward(&x.view()).or_panic();
                    assert_eq!(bits(got.as_slice()), bits(want.as_slice()), "{backend:?}");
                }
                assert!(s.packed_bytes() >= 72 * 40 * 4, "{backend:?}: no pack");
            });
        }
    }
}
