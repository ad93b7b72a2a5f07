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
use crate::nn::stored::{Lookup, Storage};
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

impl<D: DecoderDims, T: Float, W: Storage<T>> Decoder<D, T, W> {
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
        let x = self.embedding.try_lookup(&tape, (Dyn::new(1), n), ids)?;
        let x = self.blocks_and_norm(x, Caches::One(&mut cache.layers), &mut NoHooks::new())?;
        let last = x.try_slice_with(A1, ids.len() - 1..)?;
        let logits = self.head_logits(&last)?;
        logits.into_tensor().try_reshape_with((self.dims.vocab(),))
    }
}

/// The logits `(B, N, Vocab)` of a batch of `B` sequences fed `N` positions each (the
/// shorter ones left-padded: see [`Decoder::decode_ragged`]).
pub type BatchLogits<V, T> = Tensor<(Dyn, Dyn, V), T>;
