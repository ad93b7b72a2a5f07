//! How a model holds its matrices ([`Storage`]): as trainable layers ([`Dense`]: today's
//! [`Linear`] and [`Embedding`], whose weights are [`Param`](crate::autodiff::Param)s), or
//! inference-only in the formats of a file ([`Stored`]: [`StoredLinear`] and
//! [`StoredEmbedding`], each weight a [`StoredWeight`] in f32, bf16, f16, Q8_0, Q4_0 or
//! Q4_1, chosen tensor by tensor at load).
//!
//! A layer that holds projections (the attention layer, SwiGLU, the decoder) takes the
//! storage as a type parameter defaulting to [`Dense`] and calls them through [`Project`]
//! and [`Lookup`], so one forward serves both. A stored layer has no parameter walk
//! ([`Params`](crate::autodiff::Params)): an optimizer, LoRA or a checkpoint writer does
//! not accept it, and a decoder's training methods ask for [`Trainable`] storage:
//!
//! ```compile_fail,E0277
//! use shapecheck::autodiff::Tape;
//! use shapecheck::models::decoder::{Decoder, Dims};
//! use shapecheck::nn::stored::Stored;
//! use shapecheck::prelude::*;
//! dim!(pub V = 64; pub M = 32; pub H = 2; pub Hd = 16; pub F = 64);
//! fn train(model: &Decoder<Dims<V, M, H, H, Hd, F>, f32, Stored>) {
//!     let tape = Tape::new();
//!     let _ = model.loss(&tape, (Dyn::new(1), Dyn::new(2)), &[1, 2], &[2, 3]);
//! }
//! ```
//!
//! A stored projection reads the value of its input: on a tape that records (training), a
//! traced input is refused with an `Err`, never silently cut from the graph.

use core::fmt::Debug;

use crate::autodiff::{Tape, Var};
use crate::dim::{Dim, Dyn};
use crate::element::Float;
use crate::error::ShapeError;
use crate::nn::embedding::Embedding;
use crate::nn::linear::Linear;
use crate::nn::lora::{adapted, LoRA};
use crate::shape::SameDim;
#[cfg(feature = "llm")]
use crate::tensor::Tensor;

/// How a layer holds its matrices: [`Dense`] (trainable) or [`Stored`] (inference-only,
/// in a file's formats). Sealed.
pub trait Storage<T: Float>: sealed::Sealed + Debug + Clone + Send + Sync + 'static {
    /// A projection `I → O` (`x·Wᵀ + b`).
    type Linear<I: Dim, O: Dim>: Project<I, O, T>;
    /// A token embedding `(Vocab, Model)`, which is the output head too when tied.
    type Embedding<V: Dim, M: Dim>: Lookup<V, M, T>;
}

/// A decoder's storage that training accepts: [`Dense`] only.
#[diagnostic::on_unimplemented(
    message = "a model with `{Self}` weights runs inference only: it cannot be trained",
    label = "needs trainable (`Dense`) weights",
    note = "stored weights (`Stored`: f32/bf16/f16/Q8_0/Q4_0/Q4_1 tensors) have no gradient; load the model dense to train it (`Decoder::from_gguf`, `Decoder::from_hf_dir`)"
)]
pub trait Trainable: sealed::Sealed {}

mod sealed {
    pub trait Sealed {}
}

/// Trainable matrices: [`Linear`] and [`Embedding`], whose weights are parameters.
#[derive(Clone, Copy, Debug)]
pub enum Dense {}

impl sealed::Sealed for Dense {}
impl Trainable for Dense {}

impl<T: Float> Storage<T> for Dense {
    type Linear<I: Dim, O: Dim> = Linear<I, O, T>;
    type Embedding<V: Dim, M: Dim> = Embedding<V, M, T>;
}

/// A projection `DIn → DOut` as a model's forward calls it, on `(B, S, DIn)` values.
pub trait Project<DIn: Dim, DOut: Dim, T: Float>: Debug + Send + Sync {
    /// `x·Wᵀ + b`, plus the adapter's `s·(x·Aᵀ)·Bᵀ` when there is one. `Err` when a
    /// runtime width disagrees, or (stored weights) when `x` is traced on a recording tape
    /// or an adapter is given.
    fn try_project<'t, B: SameDim, S: SameDim>(
        &self,
        adapter: Option<&LoRA<DIn, DOut, Dyn, T>>,
        x: &Var<'t, (B, S, DIn), T>,
    ) -> Result<Var<'t, (B, S, DOut), T>, ShapeError>
    where
        DIn: SameDim,
        DOut: SameDim;

    /// `residual + project(x)`, the residual add after an output projection. Dense
    /// weights without an adapter add it in the product's write-back when nothing takes a
    /// gradient (inference); stored weights add it in the pass that adds their bias; the
    /// values are those of the unfused add, bit for bit. `Err` as
    /// [`try_project`](Self::try_project) errs.
    fn try_project_residual<'t, B: SameDim, S: SameDim>(
        &self,
        adapter: Option<&LoRA<DIn, DOut, Dyn, T>>,
        x: &Var<'t, (B, S, DIn), T>,
        residual: &Var<'t, (B, S, DOut), T>,
    ) -> Result<Var<'t, (B, S, DOut), T>, ShapeError>
    where
        DIn: SameDim,
        DOut: SameDim,
    {
        Ok(residual + &self.try_project(adapter, x)?)
    }

    /// The weight's rows and columns, `[DOut, DIn]`.
    fn sizes(&self) -> [usize; 2];

    /// The bytes its weight and bias take in memory.
    fn nbytes(&self) -> usize;
}

impl<DIn: Dim, DOut: Dim, T: Float> Project<DIn, DOut, T> for Linear<DIn, DOut, T> {
    fn try_project<'t, B: SameDim, S: SameDim>(
        &self,
        adapter: Option<&LoRA<DIn, DOut, Dyn, T>>,
        x: &Var<'t, (B, S, DIn), T>,
    ) -> Result<Var<'t, (B, S, DOut), T>, ShapeError>
    where
        DIn: SameDim,
        DOut: SameDim,
    {
        adapted(self, adapter, x)
    }

    fn try_project_residual<'t, B: SameDim, S: SameDim>(
        &self,
        adapter: Option<&LoRA<DIn, DOut, Dyn, T>>,
        x: &Var<'t, (B, S, DIn), T>,
        residual: &Var<'t, (B, S, DOut), T>,
    ) -> Result<Var<'t, (B, S, DOut), T>, ShapeError>
    where
        DIn: SameDim,
        DOut: SameDim,
    {
        match adapter {
            None => self.try_forward_residual(x, residual),
            Some(_) => Ok(residual + &adapted(self, adapter, x)?),
        }
    }

    fn sizes(&self) -> [usize; 2] {
        let d = self.weight().dims();
        [d[0], d[1]]
    }

    fn nbytes(&self) -> usize {
        let n = self.weight().len() + self.bias().map_or(0, |b| b.len());
        n * core::mem::size_of::<T>()
    }
}

/// A token embedding as a model's forward calls it: rows for ids, and scores against every
/// row (the tied output head).
pub trait Lookup<V: Dim, M: Dim, T: Float>: Debug + Send + Sync {
    /// The rows of `ids` (row-major `B × S`) as `(B, S, M)` on `tape`; `Err` when `ids`
    /// does not hold `B × S` ids or one is not below `V`.
    fn try_lookup<'t, B: Dim, S: Dim>(
        &self,
        tape: &'t Tape<T>,
        shape: (B, S),
        ids: &[u32],
    ) -> Result<Var<'t, (B, S, M), T>, ShapeError>;

    /// `x·Eᵀ`, `(B, S, V)`.
    fn try_scores<'t, B: SameDim, S: SameDim>(
        &self,
        x: &Var<'t, (B, S, M), T>,
    ) -> Result<Var<'t, (B, S, V), T>, ShapeError>
    where
        V: SameDim,
        M: SameDim;

    /// The bytes its table takes in memory.
    fn nbytes(&self) -> usize;
}

impl<V: Dim, M: Dim, T: Float> Lookup<V, M, T> for Embedding<V, M, T> {
    fn try_lookup<'t, B: Dim, S: Dim>(
        &self,
        tape: &'t Tape<T>,
        shape: (B, S),
        ids: &[u32],
    ) -> Result<Var<'t, (B, S, M), T>, ShapeError> {
        self.try_forward_batch(tape, shape, ids)
    }

    fn try_scores<'t, B: SameDim, S: SameDim>(
        &self,
        x: &Var<'t, (B, S, M), T>,
    ) -> Result<Var<'t, (B, S, V), T>, ShapeError>
    where
        V: SameDim,
        M: SameDim,
    {
        self.try_unembed(x)
    }

    fn nbytes(&self) -> usize {
        self.table().len() * core::mem::size_of::<T>()
    }
}

#[cfg(feature = "llm")]
pub use inference::{Stored, StoredEmbedding, StoredLinear};

/// The stored layers (they hold [`quant`](crate::quant) weights, behind the `llm` feature).
#[cfg(feature = "llm")]
mod inference {
    use super::*;
    use crate::ops::gather::gather_rows;
    use crate::quant::{StoredType, StoredWeight};

    /// Inference-only matrices in a file's formats: [`StoredLinear`] and
    /// [`StoredEmbedding`].
    #[derive(Clone, Copy, Debug)]
    pub enum Stored {}

    impl sealed::Sealed for Stored {}

    impl Storage<f32> for Stored {
        type Linear<I: Dim, O: Dim> = StoredLinear<I, O>;
        type Embedding<V: Dim, M: Dim> = StoredEmbedding<V, M>;
    }

    /// An inference-only `y = x·Wᵀ + b`, `W: (DOut, DIn)` a [`StoredWeight`] (its format
    /// chosen at load), `b` f32.
    #[derive(Clone, Debug)]
    pub struct StoredLinear<DIn: Dim, DOut: Dim> {
        /// The weight.
        pub weight: StoredWeight<DOut, DIn>,
        /// The bias, if any.
        pub bias: Option<Tensor<(DOut,)>>,
    }

    /// `Err` unless `x` may be read as a value: not traced on a tape that records.
    fn plain<'t, S: crate::shape::Shape>(
        op: &'static str,
        x: &Var<'t, S, f32>,
    ) -> Result<(), ShapeError> {
        if x.is_traced() && !x.tape().is_inference() {
            return Err(ShapeError::incompatible_described(
                op,
                format!("a traced input {:?}", x.shape()),
                "a stored weight".to_string(),
                "no gradient flows through a stored weight: run it on an inference tape, or load \
             the model dense to train it",
            ));
        }
        Ok(())
    }

    impl<DIn: Dim, DOut: Dim> Project<DIn, DOut, f32> for StoredLinear<DIn, DOut> {
        fn try_project<'t, B: SameDim, S: SameDim>(
            &self,
            adapter: Option<&LoRA<DIn, DOut, Dyn, f32>>,
            x: &Var<'t, (B, S, DIn), f32>,
        ) -> Result<Var<'t, (B, S, DOut), f32>, ShapeError>
        where
            DIn: SameDim,
            DOut: SameDim,
        {
            self.try_project_plus(adapter, x, None)
        }

        fn try_project_residual<'t, B: SameDim, S: SameDim>(
            &self,
            adapter: Option<&LoRA<DIn, DOut, Dyn, f32>>,
            x: &Var<'t, (B, S, DIn), f32>,
            residual: &Var<'t, (B, S, DOut), f32>,
        ) -> Result<Var<'t, (B, S, DOut), f32>, ShapeError>
        where
            DIn: SameDim,
            DOut: SameDim,
        {
            if residual.is_traced() && !residual.tape().is_inference() {
                return Ok(residual + &self.try_project(adapter, x)?);
            }
            self.try_project_plus(adapter, x, Some(residual))
        }

        fn sizes(&self) -> [usize; 2] {
            let (o, i) = self.weight.shape();
            [o.size(), i.size()]
        }

        fn nbytes(&self) -> usize {
            self.weight.nbytes() + self.bias.as_ref().map_or(0, |b| b.len() * 4)
        }
    }

    impl<DIn: Dim, DOut: Dim> StoredLinear<DIn, DOut> {
        /// `x·Wᵀ + b`, plus `residual` in the same pass as the bias: `(y + b) + r`, the
        /// unfused ops' floats.
        fn try_project_plus<'t, B: SameDim, S: SameDim>(
            &self,
            adapter: Option<&LoRA<DIn, DOut, Dyn, f32>>,
            x: &Var<'t, (B, S, DIn), f32>,
            residual: Option<&Var<'t, (B, S, DOut), f32>>,
        ) -> Result<Var<'t, (B, S, DOut), f32>, ShapeError>
        where
            DIn: SameDim,
            DOut: SameDim,
        {
            plain("StoredLinear::forward", x)?;
            if adapter.is_some() {
                return Err(ShapeError::incompatible_described(
                    "StoredLinear::forward",
                    format!(
                        "weight {:?} in {}",
                        self.weight.shape(),
                        self.weight.stored_type()
                    ),
                    "a LoRA adapter".to_string(),
                    "a stored projection takes no adapter: load the model dense to adapt it",
                ));
            }
            let mut y = self.weight.try_forward(&x.value())?;
            let width = y.dims()[2].max(1);
            let rv = residual.map(Var::value);
            let copied;
            let rs = match &rv {
                Some(r) if r.dims() != y.dims() => {
                    return Err(ShapeError::incompatible_described(
                        "StoredLinear::forward + residual",
                        format!("residual {:?}", r.shape()),
                        format!("product {:?}", y.shape()),
                        "the residual must have the product's dims",
                    ))
                }
                Some(r) => Some(match r.as_contiguous_slice() {
                    Some(rs) => rs,
                    None => {
                        copied = r.to_vec();
                        &copied[..]
                    }
                }),
                None => None,
            };
            // The weight's rows and the bias's length agree: both are `DOut`, checked at
            // load.
            let bias = self.bias.as_ref().map(|b| b.as_slice());
            for (i, row) in y.as_mut_slice().chunks_exact_mut(width).enumerate() {
                if let Some(b) = bias {
                    row.iter_mut().zip(b).for_each(|(y, b)| *y += b);
                }
                if let Some(rs) = rs {
                    let r = &rs[i * width..(i + 1) * width];
                    row.iter_mut().zip(r).for_each(|(y, r)| *y += r);
                }
            }
            Ok(x.tape().constant(y))
        }
    }

    /// An inference-only token embedding `(V, M)` whose table is a [`StoredWeight`]: a lookup
    /// dequantizes the rows it needs; as the tied output head, the scores are the stored
    /// product.
    #[derive(Clone, Debug)]
    pub struct StoredEmbedding<V: Dim, M: Dim> {
        /// The table, `(V, M)`.
        pub table: StoredWeight<V, M>,
    }

    impl<V: Dim, M: Dim> Lookup<V, M, f32> for StoredEmbedding<V, M> {
        fn try_lookup<'t, B: Dim, S: Dim>(
            &self,
            tape: &'t Tape<f32>,
            shape: (B, S),
            ids: &[u32],
        ) -> Result<Var<'t, (B, S, M), f32>, ShapeError> {
            let (v, m) = self.table.shape();
            let n = shape.0.size() * shape.1.size();
            // The ids checked (and their rows found) by the dense lookup's own code, on a
            // table of no columns.
            let empty = Tensor::<(V, Dyn)>::from_parts((v, Dyn::new(0)), Vec::new());
            let (_, rows) = gather_rows(&empty.view(), (shape.0, shape.1, Dyn::new(0)), n, ids)?;
            let mut out = Vec::with_capacity(n * m.size());
            self.table.rows_into(&rows, &mut out);
            Ok(tape.constant(Tensor::from_parts((shape.0, shape.1, m), out)))
        }

        fn try_scores<'t, B: SameDim, S: SameDim>(
            &self,
            x: &Var<'t, (B, S, M), f32>,
        ) -> Result<Var<'t, (B, S, V), f32>, ShapeError>
        where
            V: SameDim,
            M: SameDim,
        {
            plain("StoredEmbedding::unembed", x)?;
            Ok(x.tape().constant(self.table.try_forward(&x.value())?))
        }

        fn nbytes(&self) -> usize {
            self.table.nbytes()
        }
    }

    impl<V: Dim, M: Dim> StoredEmbedding<V, M> {
        /// The table's format.
        pub fn stored_type(&self) -> StoredType {
            self.table.stored_type()
        }
    }
}
