//! [`CausalLm`] for the LLaMA-family [`Decoder`] (every [`DecoderDims`]: the presets, dims
//! of the user's own and [`RuntimeDims`](crate::models::decoder::RuntimeDims)): its
//! KV-cache decoding through [`Decoder::decode_last`], which computes the output head for
//! the last position only, the logits as f32. (One block, so that a change of the
//! decoder's type parameters touches only it.)

use super::CausalLm;
use crate::dim::Dim;
use crate::element::Float;
use crate::models::decoder::{Decoder, DecoderCache, DecoderDims};
use crate::nn::stored::Storage;

impl<D: DecoderDims, T: Float, W: Storage<T>> CausalLm for Decoder<D, T, W> {
    type Cache = DecoderCache<T>;

    fn vocab_size(&self) -> usize {
        self.dims().vocab().size()
    }

    fn new_cache(&self) -> Self::Cache {
        self.cache()
    }

    fn step(&self, cache: &mut Self::Cache, ids: &[u32]) -> Result<Vec<f32>, crate::Error> {
        let logits = self.decode_last(cache, ids)?;
        Ok(logits
            .as_slice()
            .iter()
            .map(|x| x.to_f64() as f32)
            .collect())
    }
}
