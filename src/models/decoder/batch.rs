//! Packed batched decoding: one new token for each of `B` sequences, each with a KV cache of
//! its own (the sequences may have any lengths), through the decoder as one `(B, 1, Model)`
//! batch. Unlike [`Decoder::decode_batch`] (a [`BatchCache`](super::BatchCache) of fixed
//! rows, left-padded prefill), the caches are the one-sequence [`DecoderCache`]s, so a
//! sequence that has finished simply leaves the slice (what `generate_batch` does).
//!
//! It is the decoder's one forward ([`Decoder::decode_batch`]'s, with one new token a row
//! and no padding), the sequences' caches lent to it as the rows of one batch cache and
//! given back. Every projection and FFN sees the `B` rows at once (a `B`-row product reads each weight
//! once for all of them: the gain over `B` separate steps, whose products are each one row
//! and bound by memory); only what is per sequence is done per row: RoPE at the row's own
//! position (its cache's length) and attention over the row's own cache. Nothing is padded
//! and no position is wrong, so the logits are those of [`Decoder::decode_last`] on each
//! sequence alone, up to the rounding of a `B`-row product against a 1-row one (the kernel
//! may pick another micro-kernel for another row count; the sums are over the same terms).
//!
//! Prefill stays per sequence ([`Decoder::decode_last`]): prompts of different lengths
//! have nothing to share but the weights, and a prompt's own rows already make a
//! many-row product.

use std::mem;

use super::{Caches, Decoder, DecoderCache, DecoderDims};
use crate::autodiff::Tape;
use crate::dim::{Dim, Dyn};
use crate::element::Float;
use crate::error::ShapeError;
use crate::inspect::NoHooks;
use crate::nn::self_attention::AttentionCache;
use crate::tensor::Tensor;

impl<D: DecoderDims, T: Float> Decoder<D, T> {
    /// The logits `(B, Vocab)` of one new token for each of `B` sequences: `ids[b]` is fed
    /// after what `caches[b]` holds (at position `caches[b].len()`), and each cache grows
    /// by one. Row `b` equals what [`decode_last`](Self::decode_last)`(&mut caches[b],
    /// &[ids[b]])` gives, up to rounding (see the [module docs](self)).
    ///
    /// `Err` when `ids` and `caches` differ in length or are empty, an id is not below
    /// `Vocab`, or a cache was made for another decoder (all checked before anything is
    /// fed: the caches are then unchanged).
    pub fn decode_packed(
        &self,
        caches: &mut [DecoderCache<T>],
        ids: &[u32],
    ) -> Result<Tensor<(Dyn, D::Vocab), T>, ShapeError> {
        if ids.is_empty() || ids.len() != caches.len() {
            return Err(ShapeError::incompatible_described(
                "Decoder::decode_packed",
                format!("{} ids", ids.len()),
                format!("{} caches", caches.len()),
                "one new id per sequence, and at least one sequence",
            ));
        }
        for cache in caches.iter() {
            self.check_cache(cache)?;
        }
        let vocab = self.dims.vocab().size();
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(ShapeError::incompatible_described(
                "Decoder::decode_packed",
                format!("id {id}"),
                format!("a vocabulary of {vocab}"),
                "every id must be below the vocabulary size",
            ));
        }
        let b = Dyn::new(ids.len());
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
        let pads = vec![0; ids.len()];
        let tape = Tape::inference();
        let out = self
            .embedding
            .try_forward_batch(&tape, (b, Dyn::new(1)), ids)
            .and_then(|x| {
                self.blocks_and_norm(x, Caches::Rows(&mut rows, &pads), &mut NoHooks::new())
            });
        for (l, layer) in rows.into_iter().enumerate() {
            for (cache, row) in caches.iter_mut().zip(layer) {
                cache.layers[l] = row;
            }
        }
        self.project_out(&out?)?
            .into_tensor()
            .try_reshape_with((b, self.dims.vocab()))
    }
}
