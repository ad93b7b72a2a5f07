//! [`CausalLm`] for the toy LLaMA-style [`Decoder`]: its KV-cache decoding, the last row of
//! logits as f32. (One block, so that a change of the decoder's type parameters touches
//! only it.)

use super::CausalLm;
use crate::dim::{Many, StaticDim};
use crate::element::Float;
use crate::models::decoder::{Decoder, DecoderCache};
use crate::shape::SplitsInto;

impl<Vocab, DModel, Heads, HeadDim, Ffn, T> CausalLm
    for Decoder<Vocab, DModel, Heads, HeadDim, Ffn, T>
where
    Vocab: StaticDim<Kind = Many>,
    DModel: StaticDim<Kind = Many> + SplitsInto<Heads, HeadDim>,
    Heads: StaticDim,
    HeadDim: StaticDim,
    Ffn: StaticDim<Kind = Many>,
    T: Float,
{
    type Cache = DecoderCache<Heads, HeadDim, T>;

    fn vocab_size(&self) -> usize {
        Vocab::SIZE
    }

    fn new_cache(&self) -> Self::Cache {
        self.cache()
    }

    fn step(&self, cache: &mut Self::Cache, ids: &[u32]) -> Result<Vec<f32>, crate::Error> {
        let logits = self.decode(cache, ids)?;
        let all = logits.as_slice();
        let last = &all[all.len().saturating_sub(Vocab::SIZE)..];
        Ok(last.iter().map(|x| x.to_f64() as f32).collect())
    }
}
