//! Steering while generating (ActAdd, Turner et al. 2023): the decoder's KV-cache decoding
//! with [`Intervention`]s on the residual stream ([`Decoder::decode_last_steered`]), and a
//! [`Steered`] decoder, a [`CausalLm`](crate::models::generate::CausalLm) (feature `llm`)
//! that every generator of `models::generate` runs as it runs the plain one.
//!
//! Positions count from the start of the sequence, cached ones included, so
//! `Intervention::add(layer, v, c).from_position(p)` adds `c · v` to the stream entering
//! `layer` at the prompt's positions `p..` and at every generated token. A coefficient of
//! zero generates what the plain decoder does, bit for bit.
//!
//! ```
//! use shapecheck::inspect::Intervention;
//! use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims, Steered};
//! use shapecheck::prelude::*;
//! dim!(pub Vocab = 11; pub DModel = 16; pub Heads = 2; pub HeadDim = 8; pub Ffn = 32);
//! let model = Decoder::<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>, f64>::init(DecoderConfig::default(), 0);
//! let v = Tensor::<(DModel,), f64>::randn(1);
//! let steer = |c: f64| [Intervention::add(1, v.clone(), c).from_position(2)];
//! let (mut plain, mut zero, mut far) = (model.cache(), model.cache(), model.cache());
//! let a = model.decode_last(&mut plain, &[1, 2, 3]).unwrap();
//! let b = model.decode_last_steered(&mut zero, &[1, 2, 3], &steer(0.0)).unwrap();
//! let c = model.decode_last_steered(&mut far, &[1, 2, 3], &steer(8.0)).unwrap();
//! assert_eq!(a.as_slice(), b.as_slice());
//! assert_ne!(a.as_slice(), c.as_slice());
//! let _ = Steered::new(&model, steer(4.0).to_vec()); // a CausalLm, with feature `llm`
//! ```

use super::inspect::Inspector;
use super::{Caches, Decoder, DecoderCache, DecoderDims};
use crate::autodiff::Tape;
use crate::dim::{Dim, Dyn};
use crate::element::Float;
use crate::inspect::{InspectError, Intervention, Selection};
use crate::shape::A1;
use crate::tensor::Tensor;

impl<D: DecoderDims, T: Float> Decoder<D, T> {
    /// [`decode_last`](Self::decode_last) with `interventions` on the residual stream
    /// (each entering its block, at the positions of the sequence it covers: `ids` stand at
    /// positions `cache.len()..`).
    ///
    /// `Err` as [`decode_last`](Self::decode_last), or when an intervention's block is past
    /// the block count ([`InspectError::OutOfRange`]); the cache is then unchanged.
    pub fn decode_last_steered(
        &self,
        cache: &mut DecoderCache<T>,
        ids: &[u32],
        interventions: &[Intervention<D::Model, T>],
    ) -> Result<Tensor<(D::Vocab,), T>, InspectError> {
        self.check_cache(cache)?;
        self.check_changes((interventions, &[], &[]))?;
        let Some(last) = ids.len().checked_sub(1) else {
            return Err(InspectError::OutOfRange {
                what: "position (no ids to decode)",
                index: 0,
                len: 0,
            });
        };
        let (n, offset) = (Dyn::new(ids.len()), cache.len());
        let selection = Selection::new();
        let mut inspector = Inspector::<Self, Dyn, Dyn>::new(
            &selection,
            (interventions, &[], &[]),
            (self.blocks.len(), self.dims.heads().size()),
            (&[ids.len()], ids.len()),
            offset,
        );
        // On an error below the cache has grown: put it back as it was.
        let before = cache.clone();
        let tape = Tape::inference();
        let out = (|| {
            let x = self
                .embedding
                .try_forward_batch(&tape, (Dyn::new(1), n), ids)?;
            let x = self.blocks_and_norm(x, Caches::One(&mut cache.layers), &mut inspector)?;
            let x = x.try_slice_with(A1, last..)?;
            let logits = self.head_logits(&x)?;
            Ok::<_, InspectError>(
                logits
                    .into_tensor()
                    .try_reshape_with((self.dims.vocab(),))?,
            )
        })();
        match out.and_then(|l| inspector.finish().map(|_| l)) {
            Ok(l) => Ok(l),
            Err(e) => {
                *cache = before;
                Err(e)
            }
        }
    }
}

/// A decoder that generates with steering interventions ([`Decoder::decode_last_steered`]
/// at every step): a [`CausalLm`](crate::models::generate::CausalLm) with feature `llm`.
#[derive(Debug)]
pub struct Steered<'m, D: DecoderDims, T: Float = f32> {
    model: &'m Decoder<D, T>,
    interventions: Vec<Intervention<D::Model, T>>,
}

impl<'m, D: DecoderDims, T: Float> Steered<'m, D, T> {
    /// `model`, steered by `interventions`.
    pub fn new(model: &'m Decoder<D, T>, interventions: Vec<Intervention<D::Model, T>>) -> Self {
        Steered {
            model,
            interventions,
        }
    }

    /// The decoder it steers.
    pub fn model(&self) -> &'m Decoder<D, T> {
        self.model
    }

    /// The interventions.
    pub fn interventions(&self) -> &[Intervention<D::Model, T>] {
        &self.interventions
    }
}

#[cfg(feature = "llm")]
impl<D: DecoderDims, T: Float> crate::models::generate::CausalLm for Steered<'_, D, T> {
    type Cache = DecoderCache<T>;

    fn vocab_size(&self) -> usize {
        self.model.dims().vocab().size()
    }

    fn new_cache(&self) -> Self::Cache {
        self.model.cache()
    }

    fn step(&self, cache: &mut Self::Cache, ids: &[u32]) -> Result<Vec<f32>, crate::Error> {
        let logits = self
            .model
            .decode_last_steered(cache, ids, &self.interventions)?;
        Ok(logits
            .as_slice()
            .iter()
            .map(|x| x.to_f64() as f32)
            .collect())
    }
}
