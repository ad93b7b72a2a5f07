//! The two kinds of value a layer's one forward runs on: plain tensors ([`Plain`]) and
//! values traced on a tape ([`Traced`]).
//!
//! A layer writes its forward once, generic over an [`Input`]: a tensor or a view (the layer
//! gives a [`Tensor`]) or a [`Var`] (the layer gives a `Var` on the same tape). The input's
//! [`Flow`] names the kind, and `Of<F, T, S>` is the value of shape `S` of that kind, so
//! the output of one layer is the input of the next, in either kind. The primitives a
//! layer composes are here, each with one implementation per kind: the affine product and
//! the norms read a parameter ([`Input`]); activations, scaling and same-shape sums and
//! products work on values the layer owns ([`Flow`]), in place for tensors. The traced
//! kind reads parameters through the tape ([`Tape::param`](crate::autodiff::Tape::param)),
//! so an inference tape ([`Tape::inference`](crate::autodiff::Tape::inference)) runs the
//! same code recording nothing.
//!
//! ```
//! use shapecheck::autodiff::Tape;
//! use shapecheck::nn::ffn::SwiGlu;
//! use shapecheck::prelude::*;
//! dim!(pub Seq = 3; pub DModel = 8; pub Ffn = 16);
//! let ffn = SwiGlu::<DModel, Ffn>::init(0);
//! let x = Tensor::<(Seq, DModel)>::randn(1);
//! let y: Tensor<(Seq, DModel)> = ffn.forward(&x); // plain
//! let tape = Tape::new();
//! let traced = ffn.forward(&tape.constant(x.clone())); // a Var, with the same values
//! assert_eq!(traced.to_tensor(), y);
//! ```

use core::marker::PhantomData;

use super::ffn::Activation;
use crate::autodiff::{Param, Var};
use crate::dim::Dim;
use crate::element::Float;
use crate::error::{OrPanic, ShapeError};
use crate::kernel::{run_avx2_fma, Avx2FmaKernel, RowMap};
use crate::ops::activations::{gate, gelu, gelu_tanh, relu, silu};
use crate::ops::linear::{try_linear_cached, LinearInput, LinearOut};
use crate::ops::{Elementwise, Norms};
use crate::shape::{BroadcastShapes, LastAxis, Shape};
use crate::tensor::{AsView, Tensor, TensorView};

/// A kind of value layers compute with: [`Plain`] tensors or [`Traced`] values. The
/// operations on values a layer owns are here, one implementation per kind.
pub trait Flow<T: Float>: Sized {
    /// The value of shape `S` of this kind: `Tensor<S, T>` or `Var<'t, S, T>`.
    type Of<S: Shape>: Input<T, Shape = S, Flow = Self>;

    /// `act(x)`, elementwise (in place for a tensor).
    fn activate<S: Shape>(x: Self::Of<S>, act: Activation) -> Self::Of<S>;

    /// `s·x` (in place for a tensor).
    fn scale<S: Shape>(x: Self::Of<S>, s: T) -> Self::Of<S>;

    /// `x + y`, of one shape (in place for a tensor).
    ///
    /// # Panics
    ///
    /// When runtime dims differ, with the message of the elementwise op.
    fn add<S>(x: Self::Of<S>, y: &Self::Of<S>) -> Self::Of<S>
    where
        S: BroadcastShapes<S, Output = S>;

    /// `x ⊙ y`, of one shape (in place for a tensor).
    ///
    /// # Panics
    ///
    /// When runtime dims differ, with the message of the elementwise op.
    fn mul<S>(x: Self::Of<S>, y: &Self::Of<S>) -> Self::Of<S>
    where
        S: BroadcastShapes<S, Output = S>;
}

/// Plain tensors: a layer given a tensor or a view gives a [`Tensor`], and records nothing.
#[derive(Debug)]
pub enum Plain {}

/// Values traced on the tape `'t`: a layer given a [`Var`] gives a `Var` on the same tape,
/// recording each op's backward when an input or a parameter is traced.
#[derive(Debug)]
pub struct Traced<'t>(PhantomData<&'t ()>);

/// The value of shape `S` of the kind `F`.
pub type Of<F, T, S> = <F as Flow<T>>::Of<S>;

/// The value of shape `S` of the same kind as the input `X`.
pub type Out<X, T, S> = Of<<X as Input<T>>::Flow, T, S>;

/// What a linear layer `DIn → DOut` (the affine product) gives for the input `X`: a tensor
/// or a `Var` `(…, DOut)`, of `X`'s kind.
pub type Applied<X, DIn, DOut, T> = Out<X, T, LinearOut<<X as Input<T>>::Shape, DIn, DOut>>;

/// What a layer's forward takes: a tensor or a view, or a traced [`Var`]; the primitives
/// that read parameters.
pub trait Input<T: Float> {
    /// The input's shape.
    type Shape: Shape;
    /// Its kind: [`Plain`] or [`Traced`].
    type Flow: Flow<T>;

    /// `x·Wᵀ + b` ([`ops::linear::try_linear`](crate::ops::linear::try_linear)); `Err`
    /// when runtime widths disagree.
    fn try_linear_with<DIn: Dim, DOut: Dim>(
        &self,
        weight: &Param<(DOut, DIn), T>,
        bias: Option<&Param<(DOut,), T>>,
    ) -> Result<Applied<Self, DIn, DOut, T>, ShapeError>
    where
        Self::Shape: LinearInput<DIn, DOut>;

    /// `act(x·Wᵀ + b)`; on tensors the activation runs in the product's write-back, bit for
    /// bit [`try_linear_with`](Self::try_linear_with) then the activation. `Err` when
    /// runtime widths disagree.
    fn try_linear_act_with<DIn: Dim, DOut: Dim>(
        &self,
        weight: &Param<(DOut, DIn), T>,
        bias: Option<&Param<(DOut,), T>>,
        act: Activation,
    ) -> Result<Applied<Self, DIn, DOut, T>, ShapeError>
    where
        Self::Shape: LinearInput<DIn, DOut>;

    /// `silu(gate) ⊙ (x·Wᵀ + b)` (SwiGLU's gating); on tensors the gating runs in the
    /// product's write-back, reading `gate`'s row, bit for bit the unfused ops. `Err` when
    /// runtime widths disagree or `gate`'s dims are not the product's.
    fn try_linear_gated_with<DIn: Dim, DOut: Dim, O>(
        &self,
        weight: &Param<(DOut, DIn), T>,
        bias: Option<&Param<(DOut,), T>>,
        gate: &Out<Self, T, O>,
    ) -> Result<Out<Self, T, O>, ShapeError>
    where
        Self::Shape: LinearInput<DIn, DOut, Output = O>,
        O: Shape + BroadcastShapes<O, Output = O>;

    /// `residual + (x·Wᵀ + b)` (a residual add after an output projection); on tensors the
    /// add runs in the product's write-back, reading `residual`'s row, bit for bit the
    /// unfused ops. `Err` when runtime widths disagree or `residual`'s dims are not the
    /// product's.
    fn try_linear_residual_with<DIn: Dim, DOut: Dim, O>(
        &self,
        weight: &Param<(DOut, DIn), T>,
        bias: Option<&Param<(DOut,), T>>,
        residual: &Out<Self, T, O>,
    ) -> Result<Out<Self, T, O>, ShapeError>
    where
        Self::Shape: LinearInput<DIn, DOut, Output = O>,
        O: Shape + BroadcastShapes<O, Output = O>;

    /// RMS normalisation over the last axis with `weight`; `Err` when a runtime width
    /// disagrees.
    fn try_rms_norm_with<D: Dim>(
        &self,
        weight: &Param<(D,), T>,
        eps: T,
    ) -> Result<Out<Self, T, Self::Shape>, ShapeError>
    where
        Self::Shape: LastAxis<Last = D>;

    /// Layer normalisation over the last axis with `weight` and `bias`; `Err` when a
    /// runtime width disagrees.
    fn try_layer_norm_with<D: Dim>(
        &self,
        weight: &Param<(D,), T>,
        bias: &Param<(D,), T>,
        eps: T,
    ) -> Result<Out<Self, T, Self::Shape>, ShapeError>
    where
        Self::Shape: LastAxis<Last = D>;
}

impl<X: AsView + ?Sized> Input<X::Elem> for X {
    type Shape = X::Shape;
    type Flow = Plain;

    #[inline]
    fn try_linear_with<DIn: Dim, DOut: Dim>(
        &self,
        weight: &Param<(DOut, DIn), X::Elem>,
        bias: Option<&Param<(DOut,), X::Elem>>,
    ) -> Result<Tensor<LinearOut<X::Shape, DIn, DOut>, X::Elem>, ShapeError>
    where
        X::Shape: LinearInput<DIn, DOut>,
    {
        let bias = bias.map(|b| b.value().view());
        let packs = Some(weight.packs());
        try_linear_cached(
            &self.as_view(),
            &weight.value().view(),
            bias.as_ref(),
            None,
            packs,
        )
    }

    fn try_linear_act_with<DIn: Dim, DOut: Dim>(
        &self,
        weight: &Param<(DOut, DIn), X::Elem>,
        bias: Option<&Param<(DOut,), X::Elem>>,
        act: Activation,
    ) -> Result<Tensor<LinearOut<X::Shape, DIn, DOut>, X::Elem>, ShapeError>
    where
        X::Shape: LinearInput<DIn, DOut>,
    {
        let map = |_: usize, _: usize, xs: &mut [X::Elem]| run_avx2_fma(ActivationPass { act, xs });
        linear_params_map(&self.as_view(), weight, bias, &map)
    }

    fn try_linear_gated_with<DIn: Dim, DOut: Dim, O>(
        &self,
        weight: &Param<(DOut, DIn), X::Elem>,
        bias: Option<&Param<(DOut,), X::Elem>>,
        gate: &Tensor<O, X::Elem>,
    ) -> Result<Tensor<O, X::Elem>, ShapeError>
    where
        X::Shape: LinearInput<DIn, DOut, Output = O>,
        O: Shape + BroadcastShapes<O, Output = O>,
    {
        let gating = |ys: &mut [X::Elem], gs: &[X::Elem]| run_avx2_fma(GatePass { gate: gs, ys });
        linear_zip_map(
            &self.as_view(),
            weight,
            bias,
            &gate.view(),
            ZipSite::Gate,
            &gating,
        )
    }

    fn try_linear_residual_with<DIn: Dim, DOut: Dim, O>(
        &self,
        weight: &Param<(DOut, DIn), X::Elem>,
        bias: Option<&Param<(DOut,), X::Elem>>,
        residual: &Tensor<O, X::Elem>,
    ) -> Result<Tensor<O, X::Elem>, ShapeError>
    where
        X::Shape: LinearInput<DIn, DOut, Output = O>,
        O: Shape + BroadcastShapes<O, Output = O>,
    {
        linear_zip_map(
            &self.as_view(),
            weight,
            bias,
            &residual.view(),
            ZipSite::Residual,
            &add_residual,
        )
    }

    fn try_rms_norm_with<D: Dim>(
        &self,
        weight: &Param<(D,), X::Elem>,
        eps: X::Elem,
    ) -> Result<Tensor<X::Shape, X::Elem>, ShapeError>
    where
        X::Shape: LastAxis<Last = D>,
    {
        self.try_rms_norm(weight.value(), eps)
    }

    fn try_layer_norm_with<D: Dim>(
        &self,
        weight: &Param<(D,), X::Elem>,
        bias: &Param<(D,), X::Elem>,
        eps: X::Elem,
    ) -> Result<Tensor<X::Shape, X::Elem>, ShapeError>
    where
        X::Shape: LastAxis<Last = D>,
    {
        self.try_layer_norm(weight.value(), bias.value(), eps)
    }
}

impl<'t, S: Shape, T: Float> Input<T> for Var<'t, S, T> {
    type Shape = S;
    type Flow = Traced<'t>;

    fn try_linear_with<DIn: Dim, DOut: Dim>(
        &self,
        weight: &Param<(DOut, DIn), T>,
        bias: Option<&Param<(DOut,), T>>,
    ) -> Result<Var<'t, LinearOut<S, DIn, DOut>, T>, ShapeError>
    where
        S: LinearInput<DIn, DOut>,
    {
        let tape = self.tape();
        let bias = bias.map(|b| tape.param(b));
        self.try_linear_packs(&tape.param(weight), bias.as_ref(), Some(weight.packs()))
    }

    fn try_linear_act_with<DIn: Dim, DOut: Dim>(
        &self,
        weight: &Param<(DOut, DIn), T>,
        bias: Option<&Param<(DOut,), T>>,
        act: Activation,
    ) -> Result<Var<'t, LinearOut<S, DIn, DOut>, T>, ShapeError>
    where
        S: LinearInput<DIn, DOut>,
    {
        Ok(Traced::activate(self.try_linear_with(weight, bias)?, act))
    }

    fn try_linear_gated_with<DIn: Dim, DOut: Dim, O>(
        &self,
        weight: &Param<(DOut, DIn), T>,
        bias: Option<&Param<(DOut,), T>>,
        gate: &Var<'t, O, T>,
    ) -> Result<Var<'t, O, T>, ShapeError>
    where
        S: LinearInput<DIn, DOut, Output = O>,
        O: Shape + BroadcastShapes<O, Output = O>,
    {
        // One op: `silu(gate) ⊙ up` and its backward in one pass each.
        gate.try_swiglu(&self.try_linear_with(weight, bias)?)
    }

    fn try_linear_residual_with<DIn: Dim, DOut: Dim, O>(
        &self,
        weight: &Param<(DOut, DIn), T>,
        bias: Option<&Param<(DOut,), T>>,
        residual: &Var<'t, O, T>,
    ) -> Result<Var<'t, O, T>, ShapeError>
    where
        S: LinearInput<DIn, DOut, Output = O>,
        O: Shape + BroadcastShapes<O, Output = O>,
    {
        let tape = self.tape();
        let (w, b) = (tape.param(weight), bias.map(|b| tape.param(b)));
        let traced = self.is_traced()
            || w.is_traced()
            || b.as_ref().is_some_and(Var::is_traced)
            || residual.is_traced();
        if !traced && core::ptr::eq(tape, residual.tape()) {
            // Nothing here takes a gradient (an inference tape, or frozen weights on
            // constants): the add runs in the product's write-back, as on tensors.
            let value = linear_zip_map(
                &self.value(),
                weight,
                bias,
                &residual.value(),
                ZipSite::Residual,
                &add_residual,
            )?;
            return Ok(tape.constant(value));
        }
        let y = self.try_linear_packs(&w, b.as_ref(), Some(weight.packs()))?;
        if y.shape().dims() != residual.shape().dims() {
            return Err(ZipSite::Residual.error(residual.shape(), y.shape()));
        }
        Ok(Traced::add(y, residual))
    }

    fn try_rms_norm_with<D: Dim>(
        &self,
        weight: &Param<(D,), T>,
        eps: T,
    ) -> Result<Var<'t, S, T>, ShapeError>
    where
        S: LastAxis<Last = D>,
    {
        check_width("rms_norm", self.shape(), weight)?;
        Ok(self.rms_norm(&self.tape().param(weight), eps))
    }

    fn try_layer_norm_with<D: Dim>(
        &self,
        weight: &Param<(D,), T>,
        bias: &Param<(D,), T>,
        eps: T,
    ) -> Result<Var<'t, S, T>, ShapeError>
    where
        S: LastAxis<Last = D>,
    {
        check_width("layer_norm", self.shape(), weight)?;
        check_width("layer_norm", self.shape(), bias)?;
        let tape = self.tape();
        Ok(self.layer_norm(&tape.param(weight), &tape.param(bias), eps))
    }
}

/// `map(x·Wᵀ + b)` with the map in the product's write-back, from the parameters.
fn linear_params_map<S: LinearInput<DIn, DOut>, DIn: Dim, DOut: Dim, T: Float>(
    x: &TensorView<'_, S, T>,
    weight: &Param<(DOut, DIn), T>,
    bias: Option<&Param<(DOut,), T>>,
    map: RowMap<'_, T>,
) -> Result<Tensor<LinearOut<S, DIn, DOut>, T>, ShapeError> {
    let bias = bias.map(|b| b.value().view());
    let packs = Some(weight.packs());
    try_linear_cached(x, &weight.value().view(), bias.as_ref(), Some(map), packs)
}

/// What a tensor read in a product's write-back is, for [`linear_zip_map`]'s error.
#[derive(Clone, Copy)]
enum ZipSite {
    /// SwiGLU's gate.
    Gate,
    /// A residual stream added to an output projection.
    Residual,
}

impl ZipSite {
    /// The error for `other`, whose dims are not those of the product of `input`.
    fn error(self, other: impl core::fmt::Debug, input: impl core::fmt::Debug) -> ShapeError {
        let (op, name) = match self {
            ZipSite::Gate => ("SwiGlu::forward", "gate"),
            ZipSite::Residual => ("linear + residual", "residual"),
        };
        ShapeError::incompatible_described(
            op,
            format!("{name} {other:?}"),
            format!("input {input:?}"),
            format!("the {name} must have the product's dims (its rows, its outputs)"),
        )
    }
}

/// A residual added in a product's write-back: `y + r` where the unfused op computes
/// `r + y`, the same float.
fn add_residual<T: Float>(ys: &mut [T], rs: &[T]) {
    ys.iter_mut().zip(rs).for_each(|(y, &r)| *y += r);
}

/// `x·Wᵀ + b` with `f(row, other's row)` in the product's write-back, for a tensor `other`
/// of the product's dims (`Err` naming `site` otherwise, or when runtime widths disagree).
fn linear_zip_map<S, DIn: Dim, DOut: Dim, O, T: Float>(
    x: &TensorView<'_, S, T>,
    weight: &Param<(DOut, DIn), T>,
    bias: Option<&Param<(DOut,), T>>,
    other: &TensorView<'_, O, T>,
    site: ZipSite,
    f: &(dyn Fn(&mut [T], &[T]) + Sync),
) -> Result<Tensor<O, T>, ShapeError>
where
    S: LinearInput<DIn, DOut, Output = O>,
    O: Shape,
{
    let (d, w) = (x.dims(), weight.value().dims());
    let (r, dout) = (d.len(), w[0]);
    let g = other.dims();
    if g.len() != r || g[..r - 1] != d[..r - 1] || g[r - 1] != dout {
        return Err(site.error(other.shape(), x.shape()));
    }
    let copied;
    let os = match other.as_contiguous_slice() {
        Some(os) => os,
        None => {
            copied = other.to_vec();
            &copied[..]
        }
    };
    let map = |i: usize, j0: usize, ys: &mut [T]| {
        let at = i * dout + j0;
        f(ys, &os[at..at + ys.len()])
    };
    linear_params_map(x, weight, bias, &map)
}

/// `Err` unless a runtime last dim of `shape` is the length of `p` (the traced norms
/// check it by panicking; a layer's `try_` form returns it).
fn check_width<S: LastAxis, T: Float>(
    op: &'static str,
    shape: S,
    p: &Param<(S::Last,), T>,
) -> Result<(), ShapeError> {
    let (width, len) = (shape.last_dim().size(), p.value().len());
    if width == len {
        return Ok(());
    }
    Err(ShapeError::incompatible_described(
        op,
        format!("input {shape:?}"),
        format!("weight {:?}", p.value().shape()),
        format!("the input has width {width} and the weight {len} elements"),
    ))
}

impl<T: Float> Flow<T> for Plain {
    type Of<S: Shape> = Tensor<S, T>;

    fn activate<S: Shape>(mut x: Tensor<S, T>, act: Activation) -> Tensor<S, T> {
        // The activation's loop compiled for AVX2/FMA where the CPU has them (8 lanes; a
        // closure's body would not be inlined into the feature-enabled frame).
        run_avx2_fma(ActivationPass {
            act,
            xs: x.as_mut_slice(),
        });
        x
    }

    fn scale<S: Shape>(mut x: Tensor<S, T>, s: T) -> Tensor<S, T> {
        x.as_mut_slice().iter_mut().for_each(|v| *v *= s);
        x
    }

    #[track_caller]
    fn add<S>(x: Tensor<S, T>, y: &Tensor<S, T>) -> Tensor<S, T>
    where
        S: BroadcastShapes<S, Output = S>,
    {
        zip_in_place(x, y, "add", |a, b| *a += b)
    }

    #[track_caller]
    fn mul<S>(x: Tensor<S, T>, y: &Tensor<S, T>) -> Tensor<S, T>
    where
        S: BroadcastShapes<S, Output = S>,
    {
        zip_in_place(x, y, "mul", |a, b| *a *= b)
    }
}

/// `f(x, y)` into `x`, for two tensors of one shape type; the broadcasting op's message
/// when runtime dims differ.
#[track_caller]
fn zip_in_place<S, T>(
    mut x: Tensor<S, T>,
    y: &Tensor<S, T>,
    op: &'static str,
    f: impl Fn(&mut T, T),
) -> Tensor<S, T>
where
    S: BroadcastShapes<S, Output = S>,
    T: Float,
{
    if x.dims() != y.dims() {
        // Not equal, and the broadcasting op says why (or broadcasts a runtime dim of 1).
        return match op {
            "add" => x.try_add(y),
            _ => x.try_mul(y),
        }
        .or_panic();
    }
    x.as_mut_slice()
        .iter_mut()
        .zip(y.as_slice())
        .for_each(|(a, &b)| f(a, b));
    x
}

impl<'t, T: Float> Flow<T> for Traced<'t> {
    type Of<S: Shape> = Var<'t, S, T>;

    fn activate<S: Shape>(x: Var<'t, S, T>, act: Activation) -> Var<'t, S, T> {
        match act {
            Activation::Gelu => x.gelu(),
            Activation::GeluTanh => x.gelu_tanh(),
            Activation::Relu => x.relu(),
            Activation::Silu => x.silu(),
        }
    }

    fn scale<S: Shape>(x: Var<'t, S, T>, s: T) -> Var<'t, S, T> {
        x.scale(s)
    }

    #[track_caller]
    fn add<S>(x: Var<'t, S, T>, y: &Var<'t, S, T>) -> Var<'t, S, T>
    where
        S: BroadcastShapes<S, Output = S>,
    {
        &x + y
    }

    #[track_caller]
    fn mul<S>(x: Var<'t, S, T>, y: &Var<'t, S, T>) -> Var<'t, S, T>
    where
        S: BroadcastShapes<S, Output = S>,
    {
        &x * y
    }
}

impl Activation {
    #[inline(always)]
    fn apply<T: Float>(self, xs: &mut [T]) {
        // One loop per activation, so each inlines (and vectorises) its function.
        match self {
            Activation::Gelu => xs.iter_mut().for_each(|x| *x = gelu(*x)),
            Activation::GeluTanh => xs.iter_mut().for_each(|x| *x = gelu_tanh(*x)),
            Activation::Relu => xs.iter_mut().for_each(|x| *x = relu(*x)),
            Activation::Silu => xs.iter_mut().for_each(|x| *x = silu(*x)),
        }
    }
}

/// One activation over a buffer, for [`run_avx2_fma`].
struct ActivationPass<'a, T> {
    act: Activation,
    xs: &'a mut [T],
}

impl<T: Float> Avx2FmaKernel for ActivationPass<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        self.act.apply(self.xs)
    }
}

/// SwiGLU's gating of a row of the up product, `y ← silu(g)·y`, for [`run_avx2_fma`]: the
/// expression the traced op ([`Var::try_swiglu`]) computes, so the two forwards agree bit for
/// bit.
struct GatePass<'a, T> {
    gate: &'a [T],
    ys: &'a mut [T],
}

impl<T: Float> Avx2FmaKernel for GatePass<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        self.ys
            .iter_mut()
            .zip(self.gate)
            .for_each(|(y, &g)| *y = gate(g, *y));
    }
}
