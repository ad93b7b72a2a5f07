//! Layers: [`Linear`] (`y = x·Wᵀ + b`, with `W: (DOut, DIn)` stored as PyTorch stores it),
//! [`Embedding`] (ids → rows of a table) and [`FeedForward`] (two linears and an activation).
//!
//! ```
//! use shapecheck::prelude::*;
//! use shapecheck::nn::linear::{Activation, FeedForward, Linear};
//! dim!(pub Seq; pub DModel = 8; pub DFf = 32);
//! let ffn = FeedForward::<DModel, DFf>::new(
//!     Linear::init(true, 0),
//!     Linear::init(true, 1),
//!     Activation::Gelu,
//! );
//! let x = Tensor::<(Seq, DModel)>::randn_with((Seq::new(5), DModel), 2);
//! let y: Tensor<(Seq, DModel)> = ffn.forward(&x);
//! assert_eq!(y.dims().as_slice(), &[5, 8]);
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

use crate::autodiff::Param;
use crate::dim::{Dim, StaticDim};
use crate::element::Float;
use crate::error::{OrPanic, ShapeError};
use crate::kernel::{run_avx2_fma, Avx2FmaKernel, Gemm, MatRef};
use crate::ops::activations::{gelu, gelu_tanh, relu, silu};
use crate::shape::Shape;
use crate::tensor::{AsView, Tensor, TensorView};

/// Inputs of a [`Linear<DIn, DOut>`](Linear): shapes `(…, DIn)` of rank 1 to 6; `Output` is
/// `(…, DOut)`.
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

/// `y = x·Wᵀ + b` with `W: (DOut, DIn)` (PyTorch's layout) and an optional bias `b: (DOut,)`.
/// The product reads `W` through its strides as `Wᵀ`; it is never transposed by a copy.
///
/// One layer for inference and training: the weight and bias are [`Param`]s, and
/// [`forward`](Self::forward) takes a tensor or a view (and returns a tensor) or a traced
/// [`Var`](crate::autodiff::Var) (and returns one, recording the product's backward when
/// the input or a parameter is traced). Both run the same product, [`LinearArg`]'s one
/// implementation of `x·Wᵀ + b`; the tensor path records nothing and allocates only its
/// output. Gradients are found through the fields: `grads.of(&layer.weight)` is a
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

/// What [`Linear::forward`] takes: a tensor or a view (giving a tensor), or a traced
/// [`Var`](crate::autodiff::Var) (giving a `Var`), whose shape is `(…, DIn)`; a shape whose
/// last dim is not `DIn` is rejected by [`LinearInput`], with its message.
pub trait LinearArg<T: Float> {
    /// The input's shape.
    type Shape: Shape;
    /// What a layer makes of it, for the output shape `S`: `Tensor<S, T>` or `Var<'t, S, T>`.
    type Output<S: Shape>;
    #[doc(hidden)]
    fn try_apply<DIn: Dim, DOut: Dim>(
        &self,
        layer: &Linear<DIn, DOut, T>,
    ) -> Result<Applied<Self, DIn, DOut, T>, ShapeError>
    where
        Self::Shape: LinearInput<DIn, DOut>;
}

impl<X: AsView + ?Sized> LinearArg<X::Elem> for X {
    type Shape = X::Shape;
    type Output<S: Shape> = Tensor<S, X::Elem>;
    #[inline]
    fn try_apply<DIn: Dim, DOut: Dim>(
        &self,
        layer: &Linear<DIn, DOut, X::Elem>,
    ) -> Result<Applied<Self, DIn, DOut, X::Elem>, ShapeError>
    where
        Self::Shape: LinearInput<DIn, DOut>,
    {
        layer.value(&self.as_view())
    }
}

/// What a `Linear<DIn, DOut, T>` gives for the input `X`: a tensor or a `Var` `(…, DOut)`.
pub type Applied<X, DIn, DOut, T> =
    <X as LinearArg<T>>::Output<LinearOut<<X as LinearArg<T>>::Shape, DIn, DOut>>;

/// The output shape of a linear layer applied to `S`.
pub type LinearOut<S, DIn, DOut> = <S as LinearInput<DIn, DOut>>::Output;

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
        X: LinearArg<T> + ?Sized,
        X::Shape: LinearInput<DIn, DOut>,
    {
        x.try_apply(self).or_panic()
    }

    /// [`forward`](Self::forward), returning `Err` when the input's width differs from the
    /// weight's (runtime dims).
    pub fn try_forward<X>(&self, x: &X) -> Result<Applied<X, DIn, DOut, T>, ShapeError>
    where
        X: LinearArg<T> + ?Sized,
        X::Shape: LinearInput<DIn, DOut>,
    {
        x.try_apply(self)
    }

    /// `x·Wᵀ + b`: the one implementation of the product, for tensors and traced values.
    pub(crate) fn value<S>(
        &self,
        view: &TensorView<'_, S, T>,
    ) -> Result<Tensor<LinearOut<S, DIn, DOut>, T>, ShapeError>
    where
        S: LinearInput<DIn, DOut>,
    {
        let weight = self.weight.value();
        let (d, r) = (view.dims(), view.dims().len());
        let (dout, din) = (weight.dims()[0], weight.dims()[1]);
        if d[r - 1] != din {
            return Err(ShapeError::incompatible_described(
                "Linear::forward",
                format!("input {:?}", view.shape()),
                format!("weight {:?}", weight.shape()),
                format!("the input has width {} and the weight {din}", d[r - 1]),
            ));
        }
        let shape = view.shape().output_shape(weight.shape().0);
        let rows: usize = d[..r - 1].iter().product();
        let mut out = Vec::with_capacity(rows * dout);
        match self.bias() {
            Some(b) => (0..rows).for_each(|_| out.extend_from_slice(b.as_slice())),
            None => out.resize(rows * dout, T::ZERO),
        }
        // The leading axes collapse into one of stride `rs` when they are laid out row-major
        // over each other; otherwise the input is copied once to make them so.
        let s = view.strides();
        let collapses = (0..r.saturating_sub(2)).all(|a| d[a] <= 1 || s[a] == s[a + 1] * d[a + 1]);
        let copied;
        let (data, offset, rs, cs) = if collapses {
            let rs = if r >= 2 { s[r - 2] } else { 0 };
            (view.as_base_slice(), view.offset(), rs, s[r - 1])
        } else {
            copied = view.to_vec();
            (&copied[..], 0, din, 1)
        };
        let beta = if self.bias.is_some() { T::ONE } else { T::ZERO };
        let x = MatRef::new(data, offset, (rows, din), (rs, cs));
        // Wᵀ: element (i, j) is W[j, i].
        let wt = MatRef::rows(weight.as_slice(), dout, din).t();
        Gemm::new()
            .beta(beta)
            .threads(crate::parallel::threads_for_product(rows * din * dout))
            .to_slice(x, wt, &mut out, dout);
        Ok(Tensor::from_parts(shape, out))
    }
}

/// A table of `Vocab` rows of width `DModel`: ids → rows.
///
/// One layer for inference and training, as [`Linear`]: the table is a [`Param`], the
/// `forward` forms below gather rows into a tensor, and
/// [`forward_traced`](Self::forward_traced) (in `autodiff::embedding`) gathers them on a
/// tape, with a scatter-add backward into the rows used.
#[derive(Debug)]
pub struct Embedding<Vocab: Dim, DModel: Dim, T: Float = f32> {
    /// The table, `(Vocab, DModel)`: row `i` is the vector of token `i`.
    pub table: Param<(Vocab, DModel), T>,
}

/// A copy with the same values and frozen flag, and a fresh parameter id.
impl<Vocab: Dim, DModel: Dim, T: Float> Clone for Embedding<Vocab, DModel, T> {
    fn clone(&self) -> Self {
        let mut table = Param::new(self.table.value().clone());
        if self.table.is_frozen() {
            table.freeze();
        }
        Embedding { table }
    }
}

impl<Vocab: Dim, DModel: Dim, T: Float> Embedding<Vocab, DModel, T> {
    /// An embedding from its table (trainable; freeze it with [`Param::freeze`]).
    pub fn new(table: Tensor<(Vocab, DModel), T>) -> Self {
        Embedding {
            table: Param::new(table),
        }
    }

    /// The table, `(Vocab, DModel)`.
    pub fn table(&self) -> &Tensor<(Vocab, DModel), T> {
        self.table.value()
    }

    /// The rows of `ids`, as `(S, DModel)` for a static `S`.
    ///
    /// # Panics
    ///
    /// When `ids` does not hold `S` ids or an id is out of range, with the message of
    /// [`try_forward`](Self::try_forward).
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// use shapecheck::nn::linear::Embedding;
    /// dim!(pub Vocab = 4; pub DModel = 2; pub Seq = 3);
    /// let e = Embedding::new(Tensor::<(Vocab, DModel)>::from_fn(|[i, j]| (10 * i + j) as f32));
    /// let x: Tensor<(Seq, DModel)> = e.forward(&[3u32, 0, 1]);
    /// assert_eq!(x.as_slice(), &[30., 31., 0., 1., 10., 11.]);
    /// ```
    #[track_caller]
    pub fn forward<S: StaticDim, I: Copy + TryInto<usize>>(
        &self,
        ids: &[I],
    ) -> Tensor<(S, DModel), T> {
        self.try_forward(ids).or_panic()
    }

    /// [`forward`](Self::forward), returning `Err` when `ids` does not hold `S` ids or an id
    /// is out of range.
    pub fn try_forward<S: StaticDim, I: Copy + TryInto<usize>>(
        &self,
        ids: &[I],
    ) -> Result<Tensor<(S, DModel), T>, ShapeError> {
        self.try_forward_with(S::default(), ids)
    }

    /// The rows of `ids`, as `(S, DModel)`; `seq` gives the (runtime) sequence dim.
    ///
    /// # Panics
    ///
    /// When `ids` does not hold `seq.size()` ids or an id is out of range, with the message
    /// of [`try_forward_with`](Self::try_forward_with).
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// use shapecheck::nn::linear::Embedding;
    /// dim!(pub Vocab = 4; pub DModel = 2; pub Seq);
    /// let e = Embedding::new(Tensor::<(Vocab, DModel)>::from_fn(|[i, j]| (10 * i + j) as f32));
    /// let x = e.forward_with(Seq::new(2), &[3u32, 1]);
    /// assert_eq!(x.as_slice(), &[30., 31., 10., 11.]);
    /// ```
    #[track_caller]
    pub fn forward_with<S: Dim, I: Copy + TryInto<usize>>(
        &self,
        seq: S,
        ids: &[I],
    ) -> Tensor<(S, DModel), T> {
        self.try_forward_with(seq, ids).or_panic()
    }

    /// [`forward_with`](Self::forward_with), returning `Err` when `ids` does not hold
    /// `seq.size()` ids or an id is out of range.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// use shapecheck::nn::linear::Embedding;
    /// dim!(pub Vocab = 4; pub DModel = 2; pub Seq);
    /// let e = Embedding::new(Tensor::<(Vocab, DModel)>::from_fn(|[i, j]| (10 * i + j) as f32));
    /// let x = e.try_forward_with(Seq::new(2), &[3u32, 1]).unwrap();
    /// assert_eq!(x.as_slice(), &[30., 31., 10., 11.]);
    /// let err = e.try_forward_with(Seq::new(2), &[3u32, 4]).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "Embedding::forward: cannot combine table (Vocab=4, DModel=2) with ids [3, 4]: \
    ///      id 4 at position 1 is out of range for a table of 4 rows"
    /// );
    /// ```
    pub fn try_forward_with<S: Dim, I: Copy + TryInto<usize>>(
        &self,
        seq: S,
        ids: &[I],
    ) -> Result<Tensor<(S, DModel), T>, ShapeError> {
        let (vocab, width) = (self.table().dims()[0], self.table().dims()[1]);
        let err = |detail: String| {
            ShapeError::incompatible_described(
                "Embedding::forward",
                format!("table {:?}", self.table().shape()),
                format!("ids {}", ids_for_message(ids)),
                detail,
            )
        };
        if ids.len() != seq.size() {
            return Err(err(format!(
                "{} ids for a sequence dim of {}",
                ids.len(),
                seq.size()
            )));
        }
        let mut out = Vec::with_capacity(ids.len() * width);
        for (pos, &id) in ids.iter().enumerate() {
            match id.try_into() {
                Ok(i) if i < vocab => {
                    out.extend_from_slice(&self.table().as_slice()[i * width..(i + 1) * width])
                }
                _ => {
                    return Err(err(format!(
                        "id {} at position {pos} is out of range for a table of {vocab} rows",
                        id_for_message(id)
                    )))
                }
            }
        }
        Ok(Tensor::from_parts((seq, self.table().shape().1), out))
    }
}

/// One id as a message prints it (ids that are no index, e.g. negative, print as such).
fn id_for_message<I: Copy + TryInto<usize>>(id: I) -> String {
    match id.try_into() {
        Ok(u) => u.to_string(),
        Err(_) => "(negative or too large)".to_string(),
    }
}

/// Ids as a message prints them: `[3, 4]`, the first 16 then `…`.
fn ids_for_message<I: Copy + TryInto<usize>>(ids: &[I]) -> String {
    let mut s: Vec<String> = ids.iter().take(16).map(|&i| id_for_message(i)).collect();
    if ids.len() > 16 {
        s.push("…".into());
    }
    format!("[{}]", s.join(", "))
}

/// The nonlinearity of a [`FeedForward`] block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `x·Φ(x)` with the exact error function (BERT, PyTorch's default `gelu`).
    Gelu,
    /// GELU's tanh approximation (GPT-2).
    GeluTanh,
    /// `max(x, 0)`.
    Relu,
    /// `x·sigmoid(x)` (SwiGLU's gate, LLaMA).
    Silu,
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
    activation: Activation,
    xs: &'a mut [T],
}

impl<T: Float> Avx2FmaKernel for ActivationPass<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        self.activation.apply(self.xs)
    }
}

/// The feed-forward block of a transformer layer: `down(act(up(x)))`, `(…, DModel)` →
/// `(…, DFf)` → `(…, DModel)`.
#[derive(Clone, Debug)]
pub struct FeedForward<DModel: Dim, DFf: Dim, T: Float = f32> {
    up: Linear<DModel, DFf, T>,
    down: Linear<DFf, DModel, T>,
    activation: Activation,
}

impl<DModel: Dim, DFf: Dim, T: Float> FeedForward<DModel, DFf, T> {
    /// A block from its two layers and activation.
    pub fn new(
        up: Linear<DModel, DFf, T>,
        down: Linear<DFf, DModel, T>,
        activation: Activation,
    ) -> Self {
        FeedForward {
            up,
            down,
            activation,
        }
    }

    /// The first layer, `DModel → DFf`.
    pub fn up(&self) -> &Linear<DModel, DFf, T> {
        &self.up
    }

    /// The second layer, `DFf → DModel`.
    pub fn down(&self) -> &Linear<DFf, DModel, T> {
        &self.down
    }

    /// `down(act(up(x)))` for `x: (…, DModel)`.
    ///
    /// # Panics
    ///
    /// When a runtime width disagrees (see [`Linear::try_forward`]).
    #[track_caller]
    pub fn forward<X>(&self, x: &X) -> Tensor<X::Shape, T>
    where
        X: AsView<Elem = T>,
        X::Shape: LinearInput<DModel, DFf>,
        LinearOut<X::Shape, DModel, DFf>: LinearInput<DFf, DModel, Output = X::Shape>,
    {
        let mut h = self.up.forward(x);
        // The activation's loop compiled for AVX2/FMA where the CPU has them (8 lanes; a
        // closure's body would not be inlined into the feature-enabled frame).
        run_avx2_fma(ActivationPass {
            activation: self.activation,
            xs: h.as_mut_slice(),
        });
        self.down.forward(&h)
    }
}
