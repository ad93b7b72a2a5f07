//! Incremental decoding with a KV cache, on plain tensors (no tape): each call appends the
//! keys and values of the new tokens to every block's cache and attends from the new
//! queries over everything cached, so token-by-token logits equal the full causal forward
//! (LoRA adapters included, as the forward applies them).

use super::lora::adapt_rows;
use super::ops::{read, Read};
use super::Decoder;
use crate::dim::{Dim, Dyn, Many, StaticDim};
use crate::element::Float;
use crate::error::ShapeError;
use crate::nn::kv_cache::KvCache;
use crate::ops::{Activations, Norms};
use crate::shape::SplitsInto;
use crate::tensor::Tensor;

/// The keys and values cached by every block of a [`Decoder`] for one sequence; made by
/// [`Decoder::cache`], grown by [`Decoder::decode`].
#[derive(Clone, Debug)]
pub struct DecoderCache<Heads: StaticDim, HeadDim: StaticDim, T: Float = f32> {
    layers: Vec<KvCache<Heads, Dyn, HeadDim, HeadDim, T>>,
}

impl<Heads: StaticDim, HeadDim: StaticDim, T: Float> DecoderCache<Heads, HeadDim, T> {
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
        self.layers.iter_mut().for_each(KvCache::clear);
    }
}

/// `x·Wᵀ` for a weight in PyTorch's layout `(O, I)`, plus the bias if any.
fn project<I: Dim, O: Dim<Kind = Many>, T: Float>(
    x: &Tensor<(Dyn, I), T>,
    l: &crate::autodiff::linear::Linear<I, O, T>,
) -> Tensor<(Dyn, O), T> {
    let y = x.matmul(&l.weight.value().t::<(I, O)>());
    match &l.bias {
        Some(b) => &y + b.value(),
        None => y,
    }
}

impl<Vocab, DModel, Heads, HeadDim, Ffn, T> Decoder<Vocab, DModel, Heads, HeadDim, Ffn, T>
where
    Vocab: StaticDim<Kind = Many>,
    DModel: StaticDim<Kind = Many> + SplitsInto<Heads, HeadDim>,
    Heads: StaticDim,
    HeadDim: StaticDim,
    Ffn: StaticDim<Kind = Many>,
    T: Float,
{
    /// An empty cache for [`decode`](Self::decode).
    pub fn cache(&self) -> DecoderCache<Heads, HeadDim, T> {
        DecoderCache {
            layers: self.blocks.iter().map(|_| KvCache::new()).collect(),
        }
    }

    /// The logits `(N, Vocab)` of `N` new tokens of one sequence, at positions
    /// `cache.len()..cache.len() + N`, attending over every cached position; the cache
    /// grows by `N`. `ids` may be the whole prompt (prefill) or one token.
    ///
    /// `Err` when an id is not below `Vocab`, or `cache` was made for another number of
    /// blocks.
    pub fn decode(
        &self,
        cache: &mut DecoderCache<Heads, HeadDim, T>,
        ids: &[u32],
    ) -> Result<Tensor<(Dyn, Vocab), T>, ShapeError> {
        if cache.layers.len() != self.blocks.len() {
            return Err(ShapeError::incompatible_described(
                "Decoder::decode",
                format!("a decoder of {} blocks", self.blocks.len()),
                format!("a cache of {} blocks", cache.layers.len()),
                "the cache must come from this decoder's `cache()`",
            ));
        }
        let eps = T::from_f64(self.config.norm_eps);
        let offset = cache.len();
        let table = self.embedding.value();
        let n = Dyn::new(ids.len());
        let mut x = {
            // The traced lookup on constants: the same checks and messages, nothing recorded.
            let tape = crate::autodiff::Tape::new();
            read(&tape, &self.embedding, Read::Constant)
                .try_embed(n, ids)?
                .to_tensor()
        };
        for (block, kv) in self.blocks.iter().zip(&mut cache.layers) {
            let h = x.rms_norm(block.attn_norm.value(), eps);
            // The adapters, if any, as the full forward applies them.
            let ad = &block.lora;
            let (q, k, v) = (
                adapt_rows(&h, project(&h, &block.wq), ad.q.as_ref()),
                adapt_rows(&h, project(&h, &block.wk), ad.k.as_ref()),
                adapt_rows(&h, project(&h, &block.wv), ad.v.as_ref()),
            );
            let q = self.rope.rotate(&q.split_heads::<Heads, HeadDim>(), offset);
            let k = self.rope.rotate(&k.split_heads::<Heads, HeadDim>(), offset);
            let o = kv.attend(&q, &k, &v.split_heads::<Heads, HeadDim>())?;
            let o = o.merge_heads::<DModel>();
            x = &x + &adapt_rows(&o, project(&o, &block.wo), ad.o.as_ref());
            let h = x.rms_norm(block.ffn_norm.value(), eps);
            let gate = project(&h, &block.w1).silu();
            let up = project(&h, &block.w3);
            x = &x + &project(&(&gate * &up), &block.w2);
        }
        let x = x.rms_norm(self.norm.value(), eps);
        Ok(match &self.head {
            Some(head) => project(&x, head),
            None => x.matmul(&table.t::<(DModel, Vocab)>()),
        })
    }
}
