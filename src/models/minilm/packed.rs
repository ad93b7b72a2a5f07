//! Packed batches: the tokens of every sentence of a batch stacked into one
//! `(Tokens, Hidden)` matrix, with [`Spans`] saying which rows are whose.
//!
//! Every per-token step of the encoder (the Q/K/V, output and feed-forward GEMMs, the
//! LayerNorms, the residual adds) runs on the packed rows at once, so a batch costs the FLOPs
//! of its real tokens and nothing for padding; only attention needs the sentence boundaries,
//! and it runs per sentence on that sentence's own rows (a block-diagonal attention, the
//! blocks spread over the threads).
//!
//! A packed batch is its own type, [`Packed`]: rows are [`Tokens`], not `(Batch, Seq)`, and
//! the functions that read sentence boundaries take the [`Spans`] that came with the rows. A
//! padded `(Batch, Seq, Hidden)` tensor cannot be passed where packed states are expected:
//!
//! ```compile_fail
//! use shapecheck::models::minilm::{mean_pool, Batch, Hidden, Seq};
//! use shapecheck::prelude::*;
//! let padded = Tensor::<(Batch, Seq, Hidden)>::zeros_with((Batch::new(2), Seq::new(5), Hidden));
//! let emb = mean_pool(&padded); // expected `&Packed`, found `&Tensor<(Batch, Seq, Hidden)>`
//! ```

use core::ops::Range;

use super::{Batch, HeadDim, Heads, Hidden, Seq, Tokens};
use crate::dim::{Dim, StaticDim};
use crate::error::ShapeError;
use crate::ops::attention::try_attention;
use crate::ops::{Norms, Unit};
use crate::parallel::{for_each_chunk, threads, Work};
use crate::tensor::{Tensor, TensorView};

/// Where each sentence of a packed batch sits: sentence `i` is rows
/// `starts[i]..starts[i + 1]` of the `(Tokens, Hidden)` matrix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spans {
    /// `sentences + 1` offsets, from 0 to the number of tokens, non-decreasing.
    starts: Vec<usize>,
}

impl Spans {
    /// The spans of sentences of these lengths, packed in order.
    ///
    /// ```
    /// use shapecheck::models::minilm::Spans;
    /// use shapecheck::prelude::*;
    /// let s = Spans::from_lengths([3, 5, 2]);
    /// assert_eq!((s.len(), s.tokens().size()), (3, 10));
    /// assert_eq!(s.range(1), 3..8);
    /// ```
    pub fn from_lengths(lengths: impl IntoIterator<Item = usize>) -> Self {
        let mut starts = vec![0];
        let mut end = 0usize;
        for n in lengths {
            end = end.checked_add(n).expect("the token count fits in usize");
            starts.push(end);
        }
        Spans { starts }
    }

    /// The number of sentences.
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// Whether the batch has no sentence.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of tokens of all sentences together: the rows of the packed matrix.
    pub fn tokens(&self) -> Tokens {
        Tokens::new(self.starts[self.len()])
    }

    /// The sentences, as a batch dim.
    pub fn batch(&self) -> Batch {
        Batch::new(self.len())
    }

    /// The rows of sentence `i`.
    ///
    /// # Panics
    ///
    /// When `i ≥ len()`.
    pub fn range(&self, i: usize) -> Range<usize> {
        self.starts[i]..self.starts[i + 1]
    }

    /// The rows of every sentence, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Range<usize>> + '_ {
        self.starts.windows(2).map(|w| w[0]..w[1])
    }
}

/// The hidden states of a packed batch: `(Tokens, Hidden)`, with the [`Spans`] of its
/// sentences.
#[derive(Clone, Debug)]
pub struct Packed {
    states: Tensor<(Tokens, Hidden)>,
    spans: Spans,
}

impl Packed {
    /// Packed states from their rows and spans; `Err` when the rows are not the spans'
    /// tokens.
    pub fn try_new(states: Tensor<(Tokens, Hidden)>, spans: Spans) -> Result<Self, ShapeError> {
        let rows = states.dims()[0];
        if rows != spans.tokens().size() {
            return Err(ShapeError::incompatible_described(
                "Packed::try_new",
                format!("the states {:?}", states.shape()),
                format!("{} sentences of {:?}", spans.len(), spans.tokens()),
                "the rows must be the tokens of the sentences",
            ));
        }
        Ok(Packed { states, spans })
    }

    /// Every token's state, the sentences one after another.
    pub fn states(&self) -> &Tensor<(Tokens, Hidden)> {
        &self.states
    }

    /// Where each sentence's rows are.
    pub fn spans(&self) -> &Spans {
        &self.spans
    }

    /// The rows and the spans.
    pub fn into_parts(self) -> (Tensor<(Tokens, Hidden)>, Spans) {
        (self.states, self.spans)
    }

    /// The states of sentence `i`'s tokens, `(Seq, Hidden)`, a view.
    ///
    /// # Panics
    ///
    /// When `i` is not a sentence of the batch.
    pub fn sentence(&self, i: usize) -> TensorView<'_, (Seq, Hidden)> {
        rows(&self.states, self.spans.range(i)).expect("the spans lie inside the states")
    }
}

/// Rows `r` of a packed matrix as a `(Seq, Hidden)` view.
fn rows(
    x: &Tensor<(Tokens, Hidden)>,
    r: Range<usize>,
) -> Result<TensorView<'_, (Seq, Hidden)>, ShapeError> {
    let h = Hidden::SIZE;
    TensorView::from_parts(
        x.as_slice(),
        r.start * h,
        (Seq::new(r.len()), Hidden),
        &[h, 1],
    )
}

/// The mean of each sentence's token states, L2-normalised: one unit row per sentence
/// (a sentence of no tokens gives a zero row).
pub fn mean_pool(hidden: &Packed) -> Unit<(Batch, Hidden)> {
    let h = Hidden::SIZE;
    let spans = hidden.spans();
    let states = hidden.states().as_slice();
    let mut sums = vec![0.0f32; spans.len() * h];
    for (sum, r) in sums.chunks_exact_mut(h).zip(spans.iter()) {
        let n = r.len().max(1) as f32;
        for row in states[r.start * h..r.end * h].chunks_exact(h) {
            sum.iter_mut().zip(row).for_each(|(s, &x)| *s += x);
        }
        sum.iter_mut().for_each(|s| *s /= n);
    }
    Tensor::from_vec_with((spans.batch(), Hidden), sums)
        .expect("one row per sentence")
        .normalize()
}

/// Multi-head self-attention of each sentence over its own rows of the packed `q`, `k`, `v`
/// (`(Tokens, Hidden)`, heads side by side), the heads merged back into packed rows. The
/// sentences are spread over the threads when there is enough work to pay for waking them.
pub(super) fn attend(
    q: &Tensor<(Tokens, Hidden)>,
    k: &Tensor<(Tokens, Hidden)>,
    v: &Tensor<(Tokens, Hidden)>,
    spans: &Spans,
) -> Tensor<(Tokens, Hidden)> {
    let h = Hidden::SIZE;
    let mut out = vec![0.0f32; spans.tokens().size() * h];
    // Each sentence's rows of the output, split off so that threads own disjoint rows.
    let mut chunks = Vec::with_capacity(spans.len());
    let mut rest = out.as_mut_slice();
    for r in spans.iter() {
        let (mine, tail) = rest.split_at_mut(r.len() * h);
        chunks.push((r, mine));
        rest = tail;
    }
    let macs: usize = spans.iter().map(|r| 2 * r.len() * r.len() * h).sum();
    let threads = threads(Work::Items {
        items: spans.len(),
        macs,
    });
    for_each_chunk(
        chunks,
        threads,
        || (),
        |_, _, (r, out): (Range<usize>, &mut [f32])| {
            if r.is_empty() {
                return;
            }
            let view = |x| rows(x, r.clone()).expect("the spans lie inside the states");
            let (qs, ks, vs) = (view(q), view(k), view(v));
            // (Seq, Hidden) → (Heads, Seq, HeadDim): strided views of the packed rows.
            let o = try_attention(
                &qs.split_heads::<Heads, HeadDim>(),
                &ks.split_heads::<Heads, HeadDim>(),
                &vs.split_heads::<Heads, HeadDim>(),
            )
            .expect("q, k and v of one sentence have the same rows");
            // (Heads, Seq, HeadDim) → the sentence's packed rows, heads side by side.
            let (o, d, n) = (o.as_slice(), HeadDim::SIZE, r.len());
            for (t, row) in out.chunks_exact_mut(h).enumerate() {
                for (head, cols) in row.chunks_exact_mut(d).enumerate() {
                    cols.copy_from_slice(&o[(head * n + t) * d..][..d]);
                }
            }
        },
    );
    Tensor::from_vec_with((spans.tokens(), Hidden), out).expect("one row per token")
}
