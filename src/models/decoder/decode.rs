//! Incremental decoding with a KV cache: the decoder's one forward on an inference tape,
//! each block's attention appending the keys and values of the new tokens to its cache
//! (the key/value heads only: grouped-query attention caches `KvHeads`, not `Heads`) and
//! attending from the new queries over everything cached, within the block's window, so
//! token-by-token logits equal the full causal forward (LoRA adapters included: they are
//! the same layers). No weight is copied per call: every projection reads its parameter
//! in place, through the inference tape.

use super::{Caches, Decoder, DecoderDims};
use crate::autodiff::Tape;
use crate::dim::{Dim, Dyn};
use crate::element::Float;
use crate::error::ShapeError;
use crate::inspect::NoHooks;
use crate::nn::self_attention::AttentionCache;
use crate::shape::A1;
use crate::tensor::Tensor;

/// The keys and values cached by every block of a [`Decoder`] for one sequence; made by
/// [`Decoder::cache`], grown by [`Decoder::decode`].
#[derive(Clone, Debug)]
pub struct DecoderCache<T: Float = f32> {
    pub(super) layers: Vec<AttentionCache<T>>,
}

impl<T: Float> DecoderCache<T> {
    /// The number of positions cached (the position of the next token).
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, |c| c.len())
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every position (keeps the storage), to decode a new sequence.
    pub fn clear(&mut self) {
        self.layers.iter_mut().for_each(AttentionCache::clear);
    }
}

impl<D: DecoderDims, T: Float> Decoder<D, T> {
    /// An empty cache for [`decode`](Self::decode).
    pub fn cache(&self) -> DecoderCache<T> {
        let (kh, hd) = (self.dims.kv_heads().size(), self.dims.head_dim().size());
        DecoderCache {
            layers: self
                .blocks
                .iter()
                .map(|_| AttentionCache::new(kh, hd))
                .collect(),
        }
    }

    pub(super) fn check_cache(&self, cache: &DecoderCache<T>) -> Result<(), ShapeError> {
        if cache.layers.len() != self.blocks.len() {
            return Err(ShapeError::incompatible_described(
                "Decoder::decode",
                format!("a decoder of {} blocks", self.blocks.len()),
                format!("a cache of {} blocks", cache.layers.len()),
                "the cache must come from this decoder's `cache()`",
            ));
        }
        Ok(())
    }

    /// The logits `(N, Vocab)` of `N` new tokens of one sequence, at positions
    /// `cache.len()..cache.len() + N`, attending over every cached position; the cache
    /// grows by `N`. `ids` may be the whole prompt (prefill) or one token.
    ///
    /// `Err` when an id is not below `Vocab`, or `cache` was made for another number of
    /// blocks; the cache is then unchanged.
    pub fn decode(
        &self,
        cache: &mut DecoderCache<T>,
        ids: &[u32],
    ) -> Result<Tensor<(Dyn, D::Vocab), T>, ShapeError> {
        self.check_cache(cache)?;
        let n = Dyn::new(ids.len());
        let tape = Tape::inference();
        let logits = self.run(
            &tape,
            (Dyn::new(1), n),
            ids,
            Caches::One(&mut cache.layers),
            &mut NoHooks::new(),
        )?;
        logits
            .into_tensor()
            .try_reshape_with((n, self.dims.vocab()))
    }

    /// The logits `(Vocab,)` of the last of `ids` (at least one), fed after what `cache`
    /// holds, as [`decode`](Self::decode) gives them, without computing the output head
    /// for the other positions (a prompt's prefill computes one row of logits, not one
    /// per token). The cache grows by `ids.len()`.
    ///
    /// `Err` when `ids` is empty or an id is not below `Vocab`, or `cache` was made for
    /// another number of blocks; the cache is then unchanged.
    pub fn decode_last(
        &self,
        cache: &mut DecoderCache<T>,
        ids: &[u32],
    ) -> Result<Tensor<(D::Vocab,), T>, ShapeError> {
        self.check_cache(cache)?;
        if ids.is_empty() {
            return Err(ShapeError::incompatible_described(
                "Decoder::decode_last",
                "no ids".to_string(),
                format!("a cache of {} positions", cache.len()),
                "there is no last token to give the logits of",
            ));
        }
        let n = Dyn::new(ids.len());
        let tape = Tape::inference();
        let x = self
            .embedding
            .try_forward_batch(&tape, (Dyn::new(1), n), ids)?;
        let x = self.blocks_and_norm(x, Caches::One(&mut cache.layers), &mut NoHooks::new())?;
        let last = x.try_slice_with(A1, ids.len() - 1..)?;
        let logits = self.project_out(&last)?;
        logits.into_tensor().try_reshape_with((self.dims.vocab(),))
    }
}

/// The logits `(B, N, Vocab)` of a batch.
pub type BatchLogits<V, T> = Tensor<(Dyn, Dyn, V), T>;

/// The keys and values cached by every block of a [`Decoder`] for each row of a batch of
/// sequences decoded together; made by [`Decoder::batch_cache`], grown by
/// [`Decoder::decode_batch`]. Each row holds its own positions (never its padding).
#[derive(Clone, Debug)]
pub struct BatchCache<T: Float = f32> {
    /// Per block, per row.
    layers: Vec<Vec<AttentionCache<T>>>,
}

impl<T: Float> BatchCache<T> {
    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.layers.first().map_or(0, Vec::len)
    }

    /// The number of positions cached for row `r` (the position of its next token).
    pub fn len_of(&self, r: usize) -> usize {
        self.layers
            .first()
            .and_then(|l| l.get(r))
            .map_or(0, AttentionCache::len)
    }
}

impl<D: DecoderDims, T: Float> Decoder<D, T> {
    /// An empty cache of `rows` sequences for [`decode_batch`](Self::decode_batch).
    pub fn batch_cache(&self, rows: usize) -> BatchCache<T> {
        let (kh, hd) = (self.dims.kv_heads().size(), self.dims.head_dim().size());
        BatchCache {
            layers: self
                .blocks
                .iter()
                .map(|_| (0..rows).map(|_| AttentionCache::new(kh, hd)).collect())
                .collect(),
        }
    }

    /// Decoding several sequences at once: `ids` holds `B = pads.len()` rows of `N` tokens
    /// (row-major), row `b` left-padded by `pads[b]` tokens (any ids below `Vocab`; they are
    /// never attended to nor cached). Row `b`'s other tokens sit at its positions
    /// `cache.len_of(b)..`, so a batch of prompts of different lengths prefills in one call
    /// (each padded on the left to the longest), then each step feeds one token per row
    /// (`pads` all 0). The projections and FFNs run once over the whole batch; attention
    /// runs per row over that row's cache. The logits `(B, N, Vocab)` of each row's
    /// positions equal those of [`decode`](Self::decode) of that row alone (to the
    /// rounding of the batched products); those of padding positions mean nothing.
    ///
    /// `Err` when `ids` is not `B × N` ids, a pad count exceeds `N`, `cache` was made for
    /// another number of rows or blocks, or an id is not below `Vocab`.
    ///
    /// ```
    /// use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
    /// use shapecheck::prelude::*;
    /// dim!(pub V = 11; pub M = 16; pub H = 4; pub K = 2; pub Hd = 6; pub F = 20);
    /// let model = Decoder::<Dims<V, M, H, K, Hd, F>, f64>::init(DecoderConfig::default(), 0);
    /// // Two prompts, [1, 2, 3] and [4], the second left-padded to 3.
    /// let mut batch = model.batch_cache(2);
    /// let first = model.decode_batch(&mut batch, &[1, 2, 3, 0, 0, 4], &[0, 2])?;
    /// let mut alone = model.cache();
    /// let one = model.decode(&mut alone, &[4])?;
    /// for v in 0..11 {
    ///     assert!((first[[1, 2, v]] - one[[0, v]]).abs() < 1e-12);
    /// }
    /// // Then one token per row.
    /// let next = model.decode_batch(&mut batch, &[5, 6], &[0, 0])?;
    /// let one = model.decode(&mut alone, &[6])?;
    /// assert!((next[[1, 0, 3]] - one[[0, 3]]).abs() < 1e-12);
    /// assert_eq!((batch.len_of(0), batch.len_of(1)), (4, 2));
    /// # Ok::<(), shapecheck::ShapeError>(())
    /// ```
    pub fn decode_batch(
        &self,
        cache: &mut BatchCache<T>,
        ids: &[u32],
        pads: &[usize],
    ) -> Result<BatchLogits<D::Vocab, T>, ShapeError> {
        let rows = pads.len();
        let n = ids.len().checked_div(rows).unwrap_or(0);
        if cache.layers.len() != self.blocks.len()
            || cache.rows() != rows
            || n * rows != ids.len()
            || pads.iter().any(|&p| p > n)
        {
            return Err(ShapeError::incompatible_described(
                "Decoder::decode_batch",
                format!("{} ids, pads {pads:?}", ids.len()),
                format!(
                    "a cache of {} rows and {} blocks, for {} blocks",
                    cache.rows(),
                    cache.layers.len(),
                    self.blocks.len()
                ),
                "the ids must be one row of N per pad count (each at most N), and the cache \
                 this decoder's `batch_cache` of as many rows",
            ));
        }
        let tape = Tape::inference();
        let shape = (Dyn::new(rows), Dyn::new(n));
        let x = self.embedding.try_forward_batch(&tape, shape, ids)?;
        let x = self.blocks_and_norm(
            x,
            Caches::Rows(&mut cache.layers, pads),
            &mut NoHooks::new(),
        )?;
        Ok(self.project_out(&x)?.into_tensor())
    }
}
