//! Batched decoding: `B` sequences, each with a KV cache of its own (the one-sequence
//! [`DecoderCache`]; the sequences may have any lengths), fed through the decoder as one
//! batch: several new tokens a sequence ([`Decoder::decode_ragged`]: prompts of different
//! lengths prefilled in one call) or one ([`Decoder::decode_packed`]: a decode step of
//! every sequence still going, what `generate_batch` does; a sequence that has finished
//! simply leaves the slice).
//!
//! It is the decoder's one forward, the sequences' caches lent to it as the rows of one
//! batch cache and given back. Every projection and FFN sees the `B` rows at once (a
//! `B`-row product reads each weight once for all of them: the gain over `B` separate
//! calls, whose products are bound by memory when they have few rows); only what is per
//! sequence is done per row: RoPE at the row's own positions (after its cache's length)
//! and attention over the row's own cache. A sequence fed fewer tokens than the longest
//! is padded on the left; a padding position is never cached nor attended to, so the
//! logits of each sequence's own positions are those of [`Decoder::decode`] on that
//! sequence alone, up to the rounding of a `B`-row product against a smaller one (the
//! kernel may pick another micro-kernel for another row count; the sums are over the same
//! terms).

use std::mem;

use super::{BatchLogits, Caches, Decoder, DecoderCache, DecoderDims};
use crate::autodiff::Tape;
use crate::dim::{Dim, Dyn};
use crate::element::Float;
use crate::error::ShapeError;
use crate::inspect::NoHooks;
use crate::nn::self_attention::AttentionCache;
use crate::nn::stored::{Lookup, Storage};
use crate::tensor::Tensor;

impl<D: DecoderDims, T: Float, W: Storage<T>> Decoder<D, T, W> {
    /// The logits `(B, N, Vocab)` of `B = ids.len()` sequences fed together: `ids[b]` (at
    /// least one id) after what `caches[b]` holds, at its positions `caches[b].len()..`;
    /// `N` is the longest `ids[b]`, and sequence `b`'s logits are the last `ids[b].len()`
    /// of its row (the row is padded on the left; the logits of its padding positions mean
    /// nothing). Each cache grows by its sequence's ids. Sequence `b`'s logits equal what
    /// [`decode`](Self::decode)`(&mut caches[b], ids[b])` gives, up to rounding (the
    /// kernel may pick another micro-kernel for a `B`-row product than for a smaller one;
    /// the sums are over the same terms).
    ///
    /// `Err` when `ids` and `caches` differ in length or are empty, a sequence has no id,
    /// an id is not below `Vocab`, or a cache was made for another decoder (all checked
    /// before anything is fed: the caches are then unchanged).
    ///
    /// ```
    /// use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
    /// use shapecheck::prelude::*;
    /// dim!(pub V = 11; pub M = 16; pub H = 4; pub K = 2; pub Hd = 6; pub F = 20);
    /// let model = Decoder::<Dims<V, M, H, K, Hd, F>, f64>::init(DecoderConfig::default(), 0);
    /// // Two prompts, [1, 2, 3] and [4], prefilled together (the second padded to 3).
    /// let mut caches = vec![model.cache(), model.cache()];
    /// let first = model.decode_ragged(&mut caches, &[&[1, 2, 3], &[4]])?;
    /// let mut alone = model.cache();
    /// let one = model.decode(&mut alone, &[4])?;
    /// for v in 0..11 {
    ///     assert!((first[[1, 2, v]] - one[[0, v]]).abs() < 1e-12);
    /// }
    /// // Then one token each.
    /// let next = model.decode_ragged(&mut caches, &[&[5], &[6]])?;
    /// let one = model.decode(&mut alone, &[6])?;
    /// assert!((next[[1, 0, 3]] - one[[0, 3]]).abs() < 1e-12);
    /// assert_eq!((caches[0].len(), caches[1].len()), (4, 2));
    /// # Ok::<(), shapecheck::ShapeError>(())
    /// ```
    pub fn decode_ragged(
        &self,
        caches: &mut [DecoderCache<T>],
        ids: &[&[u32]],
    ) -> Result<BatchLogits<D::Vocab, T>, ShapeError> {
        self.feed_rows("Decoder::decode_ragged", caches, ids)
    }

    /// The logits `(B, Vocab)` of one new token for each of `B` sequences: `ids[b]` is fed
    /// after what `caches[b]` holds (at position `caches[b].len()`), and each cache grows
    /// by one: [`decode_ragged`](Self::decode_ragged) with one id a sequence. Row `b`
    /// equals what [`decode_last`](Self::decode_last)`(&mut caches[b], &[ids[b]])` gives,
    /// up to rounding (see [`decode_ragged`](Self::decode_ragged)).
    ///
    /// `Err` when `ids` and `caches` differ in length or are empty, an id is not below
    /// `Vocab`, or a cache was made for another decoder (all checked before anything is
    /// fed: the caches are then unchanged).
    pub fn decode_packed(
        &self,
        caches: &mut [DecoderCache<T>],
        ids: &[u32],
    ) -> Result<Tensor<(Dyn, D::Vocab), T>, ShapeError> {
        let rows: Vec<&[u32]> = ids.iter().map(std::slice::from_ref).collect();
        self.feed_rows("Decoder::decode_packed", caches, &rows)?
            .try_reshape_with((Dyn::new(ids.len()), self.dims.vocab()))
    }

    /// The one batched path of [`decode_ragged`](Self::decode_ragged) and
    /// [`decode_packed`](Self::decode_packed); `op` names the caller in errors.
    fn feed_rows(
        &self,
        op: &'static str,
        caches: &mut [DecoderCache<T>],
        ids: &[&[u32]],
    ) -> Result<BatchLogits<D::Vocab, T>, ShapeError> {
        if ids.is_empty() || ids.len() != caches.len() || ids.iter().any(|r| r.is_empty()) {
            let lens: Vec<usize> = ids.iter().map(|r| r.len()).collect();
            return Err(ShapeError::incompatible_described(
                op,
                format!("{} sequences of {lens:?} new ids", ids.len()),
                format!("{} caches", caches.len()),
                "one new id per sequence (or more, each sequence at least one), and at least \
                 one sequence",
            ));
        }
        for cache in caches.iter() {
            self.check_cache(cache)?;
        }
        let vocab = self.dims.vocab().size();
        if let Some(&id) = ids
            .iter()
            .flat_map(|r| r.iter())
            .find(|&&id| id as usize >= vocab)
        {
            return Err(ShapeError::incompatible_described(
                op,
                format!("id {id}"),
                format!("a vocabulary of {vocab}"),
                "every id must be below the vocabulary size",
            ));
        }
        let n = ids.iter().map(|r| r.len()).max().unwrap_or(0);
        let pads: Vec<usize> = ids.iter().map(|r| n - r.len()).collect();
        let mut flat = Vec::with_capacity(ids.len() * n);
        for row in ids {
            // Padding: any id below the vocabulary; it is never cached nor attended to.
            flat.extend(std::iter::repeat_n(0, n - row.len()));
            flat.extend_from_slice(row);
        }
        let (kh, hd) = (self.dims.kv_heads().size(), self.dims.head_dim().size());
        // The sequences' caches lent as the rows of one batch cache (layer-major), and given
        // back whatever the forward says.
        let mut rows: Vec<Vec<AttentionCache<T>>> = (0..self.blocks.len())
            .map(|l| {
                caches
                    .iter_mut()
                    .map(|c| mem::replace(&mut c.layers[l], AttentionCache::new(kh, hd)))
                    .collect()
            })
            .collect();
        let tape = Tape::inference();
        let out = self
            .embedding
            .try_lookup(&tape, (Dyn::new(ids.len()), Dyn::new(n)), &flat)
            .and_then(|x| {
                self.blocks_and_norm(x, Caches::Rows(&mut rows, &pads), &mut NoHooks::new())
            });
        for (l, layer) in rows.into_iter().enumerate() {
            for (cache, row) in caches.iter_mut().zip(layer) {
                cache.layers[l] = row;
            }
        }
        Ok(self.head_logits(&out?)?.into_tensor())
    }
}
