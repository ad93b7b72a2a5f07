//! Packed batched decoding: one new token for each of `B` sequences, each with a KV cache of
//! its own (the sequences may have any lengths), through the decoder as one `(B, 1, Model)`
//! batch. Unlike [`Decoder::decode_batch`] (a [`BatchCache`](super::BatchCache) of fixed
//! rows, left-padded prefill), the caches are the one-sequence [`DecoderCache`]s, so a
//! sequence that has finished simply leaves the slice (what `generate_batch` does).
//!
//! Every projection and FFN sees the `B` rows at once (a `B`-row product reads each weight
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

use super::{Decoder, DecoderCache, DecoderDims};
use crate::autodiff::Tape;
use crate::dim::{Dim, Dyn, Times};
use crate::element::Float;
use crate::error::ShapeError;
use crate::nn::lora::adapted;
use crate::ops::attention::AttentionMask;
use crate::tensor::{AsView, Tensor, TensorView};

/// A `(B, Heads, S, HeadDim)` view.
type HeadsView<'a, H, Hd, T> = TensorView<'a, (Dyn, H, Dyn, Hd), T>;

/// Row `b` of a `(B, Heads, 1, HeadDim)` view, as `(1, Heads, 1, HeadDim)`.
fn row<'a, H: Dim, Hd: Dim, T: Float>(
    x: &HeadsView<'a, H, Hd, T>,
    b: usize,
) -> Result<HeadsView<'a, H, Hd, T>, ShapeError> {
    let (st, (_, h, _, hd)) = (x.strides(), x.shape());
    TensorView::from_parts(
        x.as_base_slice(),
        x.offset() + b * st[0],
        (Dyn::new(1), h, Dyn::new(1), hd),
        &st[..],
    )
}

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
        let one = Dyn::new(1);
        let tape = Tape::inference();
        let mut x = self.embedding.try_forward_batch(&tape, (b, one), ids)?;
        let offsets: Vec<usize> = caches.iter().map(DecoderCache::len).collect();
        let (h, kh, hd) = (
            self.dims.heads(),
            self.dims.kv_heads(),
            self.dims.head_dim(),
        );
        for (l, block) in self.blocks.iter().enumerate() {
            let attn = &block.attn;
            let n = block.attn_norm.try_forward(&x)?;
            let lora = &attn.lora;
            let q = adapted(&attn.wq, lora.q.as_ref(), &n)?.try_split_heads_with(h, hd)?;
            let k = adapted(&attn.wk, lora.k.as_ref(), &n)?.try_split_heads_with(kh, hd)?;
            let v = adapted(&attn.wv, lora.v.as_ref(), &n)?.try_split_heads_with(kh, hd)?;
            let (qv, kv, vv) = (q.value(), k.value(), v.value());
            let mut z = Vec::with_capacity(ids.len() * h.size() * hd.size());
            for (r, cache) in caches.iter_mut().enumerate() {
                let offset = offsets[r];
                let qr = self.rope.try_rotate(&row(&qv, r)?, offset)?;
                let kr = self.rope.try_rotate(&row(&kv, r)?, offset)?;
                let mask = match attn.window {
                    Some(w) => AttentionMask::sliding(offset, w),
                    None => AttentionMask::causal(offset),
                };
                let o =
                    cache.layers[l].attend(&qr.as_view(), &kr.as_view(), &row(&vv, r)?, &mask)?;
                z.extend_from_slice(o.as_slice());
            }
            let z = Tensor::from_parts((b, h, one, hd), z);
            let z = tape.constant(z).try_merge_heads_with(Times::of(h, hd))?;
            x = &x + &attn.out(&z)?;
            let n = block.ffn_norm.try_forward(&x)?;
            let act = block.ffn.activations(&n);
            x = &x + &block.ffn.down.try_forward(&act)?;
        }
        let x = self.norm.try_forward(&x)?;
        let logits = self.project_out(&x)?;
        logits
            .into_tensor()
            .try_reshape_with((b, self.dims.vocab()))
    }
}
