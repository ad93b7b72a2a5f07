//! Traced embedding lookup: the rows of a table `(Vocab, DModel)` picked by token ids
//! ([`Var::embed`], [`Var::embed_batch`]); the embedding layer (`nn::embedding`) runs it on
//! its table.
//!
//! The backward is a scatter-add: the gradient of output row `p` is added into table row
//! `ids[p]`, so an id used twice gets both contributions, and rows no id used get nothing
//! (when the table is its node's whole buffer, which a parameter's leaf is, the rows are
//! added in place; no dense `Vocab × DModel` temporary). An id out of range is an `Err` in
//! the `try_` forms and a panic in the plain ones; the lookup itself (checks, messages,
//! the copy of the rows) is the tensor op's, [`ops::gather`](crate::ops::gather).
//!
//! ```
//! use shapecheck::autodiff::{Param, Tape};
//! use shapecheck::prelude::*;
//! dim!(pub Vocab = 4; pub DModel = 2; pub Seq = 3);
//! let table = Param::new(Tensor::<(Vocab, DModel), f64>::from_fn(|[i, j]| (10 * i + j) as f64));
//! let tape = Tape::new();
//! let x = tape.param(&table).embed(Seq, &[3u32, 0, 3]); // (Seq, DModel)
//! assert_eq!(x.value().to_vec(), vec![30., 31., 0., 1., 30., 31.]);
//! let grads = x.sum_all().backward();
//! // Row 3 was used twice, row 0 once, rows 1 and 2 not at all.
//! assert_eq!(grads.of(&table).unwrap().to_vec(), vec![1., 1., 0., 0., 0., 0., 2., 2.]);
//! ```

use super::var::{record, Var};
use crate::dim::Dim;
use crate::element::Float;
use crate::error::{OrPanic, ShapeError};
use crate::ops::gather::gather_rows;
use crate::shape::Shape;

impl<'t, V: Dim, C: Dim, T: Float> Var<'t, (V, C), T> {
    /// The rows of this table `(V, C)` picked by `ids`, as `(S, C)`, traced; `seq` gives
    /// the sequence dim (`seq.size()` ids).
    ///
    /// # Panics
    ///
    /// When `ids` does not hold `seq.size()` ids or an id is out of range; see
    /// [`try_embed`](Self::try_embed).
    #[track_caller]
    pub fn embed<S: Dim, I: Copy + TryInto<usize>>(&self, seq: S, ids: &[I]) -> Var<'t, (S, C), T> {
        self.try_embed(seq, ids).or_panic()
    }

    /// [`embed`](Self::embed), returning `Err` when `ids` does not hold `seq.size()` ids or
    /// an id is not below `V`.
    ///
    /// ```
    /// use shapecheck::autodiff::{Param, Tape};
    /// use shapecheck::prelude::*;
    /// dim!(pub Vocab = 4; pub DModel = 2; pub Seq);
    /// let table = Param::new(Tensor::<(Vocab, DModel)>::zeros());
    /// let tape = Tape::new();
    /// let err = tape.param(&table).try_embed(Seq::new(2), &[3u32, 4]).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "Embedding::forward: cannot combine table (Vocab=4, DModel=2) with ids [3, 4]: \
    ///      id 4 at position 1 is out of range for a table of 4 rows"
    /// );
    /// ```
    pub fn try_embed<S: Dim, I: Copy + TryInto<usize>>(
        &self,
        seq: S,
        ids: &[I],
    ) -> Result<Var<'t, (S, C), T>, ShapeError> {
        self.gather((seq, self.h.shape.1), seq.size(), ids)
    }

    /// The rows picked by a batch of sequences of ids (row-major: sequence `b`'s ids are
    /// `ids[b·S..(b + 1)·S]`), as `(B, S, C)`, traced.
    ///
    /// # Panics
    ///
    /// When `ids` does not hold `batch.size() × seq.size()` ids or an id is out of range;
    /// see [`try_embed_batch`](Self::try_embed_batch).
    #[track_caller]
    pub fn embed_batch<B: Dim, S: Dim, I: Copy + TryInto<usize>>(
        &self,
        (batch, seq): (B, S),
        ids: &[I],
    ) -> Var<'t, (B, S, C), T> {
        self.try_embed_batch((batch, seq), ids).or_panic()
    }

    /// [`embed_batch`](Self::embed_batch), returning `Err` when `ids` does not hold
    /// `batch.size() × seq.size()` ids or an id is not below `V`.
    pub fn try_embed_batch<B: Dim, S: Dim, I: Copy + TryInto<usize>>(
        &self,
        (batch, seq): (B, S),
        ids: &[I],
    ) -> Result<Var<'t, (B, S, C), T>, ShapeError> {
        let n = batch.size().checked_mul(seq.size());
        let shape = (batch, seq, self.h.shape.1);
        match n {
            Some(n) => self.gather(shape, n, ids),
            None => Err(ShapeError::incompatible(
                "Embedding::forward",
                &shape,
                &format_args!("{} ids", ids.len()),
                "the batch holds more ids than fit in memory",
            )),
        }
    }

    /// The rows `ids` (exactly `n` of them) as a value of `shape`, whose element count is
    /// `n · C`.
    fn gather<O: Shape, I: Copy + TryInto<usize>>(
        &self,
        shape: O,
        n: usize,
        ids: &[I],
    ) -> Result<Var<'t, O, T>, ShapeError> {
        let (value, rows) = gather_rows(&self.value(), shape, n, ids)?;
        let [vocab, width] = [self.h.shape.0.size(), self.h.shape.1.size()];
        let x = self.h.clone();
        Ok(record(self.tape, value, x.is_traced(), move |_| {
            Box::new(move |g, sink| {
                if width == 0 {
                    return;
                }
                let id = x.id.expect("only a traced table records a lookup");
                if x.is_whole_buffer() {
                    let buf = sink.buf(id);
                    for (&i, gr) in rows.iter().zip(g.chunks_exact(width)) {
                        let row = &mut buf[i * width..(i + 1) * width];
                        row.iter_mut().zip(gr).for_each(|(b, &v)| *b += v);
                    }
                } else {
                    // A view of a table (a slice, say): scatter into a dense gradient
                    // laid out like the view, then add it through the view's strides.
                    let mut d = crate::pool::zeroed(vocab * width);
                    for (&i, gr) in rows.iter().zip(g.chunks_exact(width)) {
                        let row = &mut d[i * width..(i + 1) * width];
                        row.iter_mut().zip(gr).for_each(|(b, &v)| *b += v);
                    }
                    sink.add(&x, &d);
                }
            })
        }))
    }
}
