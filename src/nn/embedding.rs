//! The embedding layer [`Embedding`]: token ids → rows of a table `(Vocab, DModel)`.

use super::flow::Input;
use super::linear::{Applied, LinearInput};
use crate::autodiff::{Param, ParamVisitor, ParamVisitorMut, Params, Tape, Var};
use crate::dim::{Dim, StaticDim};
use crate::element::Float;
use crate::error::{OrPanic, ShapeError};
use crate::ops::gather::{gather_rows, ids_for_message};
use crate::tensor::Tensor;

/// A table of `Vocab` rows of width `DModel`: ids → rows.
///
/// One layer for inference and training, as [`Linear`](super::linear::Linear): the table
/// is a [`Param`]; the `forward` forms gather rows into a tensor, and
/// [`forward_traced`](Self::forward_traced) and [`try_forward_batch`](Self::try_forward_batch)
/// gather them on a tape, with a scatter-add backward into the rows used. Both run the one
/// lookup of [`ops::gather`](crate::ops::gather).
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
    /// use shapecheck::nn::embedding::Embedding;
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
    /// use shapecheck::nn::embedding::Embedding;
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
    /// use shapecheck::nn::embedding::Embedding;
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
        if ids.len() != seq.size() {
            return Err(ShapeError::incompatible_described(
                "Embedding::forward",
                format!("table {:?}", self.table().shape()),
                format!("ids {}", ids_for_message(ids)),
                format!("{} ids for a sequence dim of {}", ids.len(), seq.size()),
            ));
        }
        let shape = (seq, self.table().shape().1);
        gather_rows(&self.table().view(), shape, ids.len(), ids).map(|(t, _)| t)
    }

    /// The rows of `ids` as `(S, DModel)`, traced on `tape` (a frozen table, or any table on
    /// an inference tape, records nothing).
    ///
    /// ```
    /// use shapecheck::autodiff::Tape;
    /// use shapecheck::nn::embedding::Embedding;
    /// use shapecheck::prelude::*;
    /// dim!(pub Vocab = 4; pub DModel = 2; pub Seq = 3);
    /// let emb = Embedding::new(Tensor::<(Vocab, DModel), f64>::from_fn(|[i, j]| (10 * i + j) as f64));
    /// let tape = Tape::new();
    /// let x = emb.forward_traced(&tape, Seq, &[3u32, 0, 3]); // (Seq, DModel)
    /// assert_eq!(x.to_tensor(), emb.forward::<Seq, _>(&[3u32, 0, 3]));
    /// let grads = x.sum_all().backward();
    /// // Row 3 was used twice, row 0 once, rows 1 and 2 not at all.
    /// assert_eq!(grads.of(&emb.table).unwrap().to_vec(), vec![1., 1., 0., 0., 0., 0., 2., 2.]);
    /// ```
    ///
    /// # Panics
    ///
    /// When `ids` does not hold `seq.size()` ids or an id is out of range; see
    /// [`Var::try_embed`].
    #[track_caller]
    pub fn forward_traced<'t, S: Dim, I: Copy + TryInto<usize>>(
        &self,
        tape: &'t Tape<T>,
        seq: S,
        ids: &[I],
    ) -> Var<'t, (S, DModel), T> {
        tape.param(&self.table).embed(seq, ids)
    }

    /// The rows picked by a batch of sequences of ids (row-major: sequence `b`'s ids are
    /// `ids[b·S..(b + 1)·S]`), as `(B, S, DModel)`, traced on `tape`; `Err` when `ids` does
    /// not hold `B × S` ids or an id is not below `Vocab` ([`Var::try_embed_batch`]).
    pub fn try_forward_batch<'t, B: Dim, S: Dim, I: Copy + TryInto<usize>>(
        &self,
        tape: &'t Tape<T>,
        shape: (B, S),
        ids: &[I],
    ) -> Result<Var<'t, (B, S, DModel), T>, ShapeError> {
        tape.param(&self.table).try_embed_batch(shape, ids)
    }
}

impl<Vocab: Dim, DModel: Dim, T: Float> Embedding<Vocab, DModel, T> {
    /// `x·Eᵀ` for `x: (…, DModel)`, a tensor or a traced value: scores against every row of
    /// the table, `(…, Vocab)` — the output head of a model whose head is tied to its
    /// embedding.
    ///
    /// # Panics
    ///
    /// When a runtime width disagrees; see [`try_unembed`](Self::try_unembed).
    #[track_caller]
    pub fn unembed<X>(&self, x: &X) -> Applied<X, DModel, Vocab, T>
    where
        X: Input<T> + ?Sized,
        X::Shape: LinearInput<DModel, Vocab>,
    {
        self.try_unembed(x).or_panic()
    }

    /// [`unembed`](Self::unembed), returning `Err` when a runtime width disagrees.
    pub fn try_unembed<X>(&self, x: &X) -> Result<Applied<X, DModel, Vocab, T>, ShapeError>
    where
        X: Input<T> + ?Sized,
        X::Shape: LinearInput<DModel, Vocab>,
    {
        x.try_linear_with(&self.table, None)
    }
}

impl<Vocab: Dim, DModel: Dim, T: Float> Params<T> for Embedding<Vocab, DModel, T> {
    /// The table, as PyTorch names it: `weight`.
    fn visit_params<'a>(&'a self, prefix: &str, v: &mut impl ParamVisitor<'a, T>) {
        v.visit(&format!("{prefix}weight"), &self.table);
    }

    fn visit_params_mut<'a>(&'a mut self, prefix: &str, v: &mut impl ParamVisitorMut<'a, T>) {
        v.visit(&format!("{prefix}weight"), &mut self.table);
    }
}
