//! Incremental decoding with a KV cache: the decoder's one forward on an inference tape,
//! each block's attention appending the keys and values of the new tokens to its cache and
//! attending from the new queries over everything cached, so token-by-token logits equal
//! the full causal forward (LoRA adapters included: they are the same layers).

use super::Decoder;
use crate::autodiff::Tape;
use crate::dim::{Dyn, Many, StaticDim};
use crate::element::Float;
use crate::error::ShapeError;
use crate::inspect::NoHooks;
use crate::nn::kv_cache::KvCache;
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
    /// blocks; the cache is then unchanged.
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
        let n = Dyn::new(ids.len());
        let tape = Tape::inference();
        let logits = self.run(
            &tape,
            (Dyn::new(1), n),
            ids,
            Some(&mut cache.layers),
            &mut NoHooks::new(),
        )?;
        logits.into_tensor().try_reshape_with((n, Vocab::default()))
    }
}
