//! The MiniLM forward with an activation cache and interventions
//! ([`inspect`](crate::inspect)): the plain layers run unchanged, interventions act on the
//! residual stream between them, and a site of a layer's inside (queries, keys, attention
//! pattern, the stream after attention, the FFN activations) is recomputed from that layer's
//! input only when it is selected, so the states that flow on are those of
//! [`MiniLm::forward`].

use super::{mean_pool, Batch, Encoded, Ffn, HeadDim, Heads, Hidden, MiniLm, Seq, States};
use super::{MaxPos, MAX_SEQ_LEN};
use crate::dim::StaticDim;
use crate::inspect::cache::CacheDims;
use crate::inspect::{ActivationCache, InspectError, Intervention, Selection, Site};
use crate::models::ModelError;
use crate::nn::attention::{attention_masked, attention_weights, AttentionMask, PaddingMask};
use crate::ops::Activations;

impl CacheDims for MiniLm {
    type Batch = Batch;
    type Seq = Seq;
    type Hidden = Hidden;
    type Heads = Heads;
    type HeadDim = HeadDim;
    type Ffn = Ffn;
}

/// The sites inside a layer (recomputed from its input when selected).
const INNER: [Site; 5] = [
    Site::ResidMid,
    Site::Queries,
    Site::Keys,
    Site::Attention,
    Site::Ffn,
];

impl MiniLm {
    /// [`forward`](Self::forward) that records the `selection`'s sites and applies the
    /// `interventions` (each to the residual stream entering its layer; layer 6 is the
    /// output). Returns the last hidden state and the cache.
    ///
    /// An intervention at a layer beyond 6 is [`InspectError::OutOfRange`]; the errors of
    /// [`forward`](Self::forward) are [`InspectError::Model`].
    ///
    /// ```no_run
    /// use shapecheck::inspect::{Intervention, Selection, Site};
    /// use shapecheck::models::minilm::{Hidden, MiniLm};
    /// use shapecheck::prelude::*;
    /// let model = MiniLm::load("models/all-MiniLM-L6-v2")?;
    /// let ids = vec![model.tokenizer().encode("A cat sat on the mat.", 256)];
    /// let sel = Selection::new().with(Site::Attention, [0]).with(Site::ResidPost, 0..6);
    /// let steer = Intervention::add(3, Tensor::<(Hidden,)>::ones(), 0.5).from_position(1);
    /// let (last, cache) = model.run_with_cache(&ids, &sel, &[steer])?;
    /// let pattern = cache.attention(0).unwrap(); // (Batch, Heads, Seq, Seq)
    /// assert_eq!(pattern.dims()[1], 12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A steering vector must have the model's hidden width, by type:
    ///
    /// ```compile_fail
    /// use shapecheck::inspect::{Intervention, Selection};
    /// use shapecheck::models::minilm::MiniLm;
    /// use shapecheck::prelude::*;
    /// let model = MiniLm::load("models/all-MiniLM-L6-v2").unwrap();
    /// let ids = vec![vec![101u32, 102]];
    /// let wrong = Intervention::add(3, Tensor::<(D<128>,)>::ones(), 0.5); // not (Hidden,)
    /// let (last, cache) = model.run_with_cache(&ids, &Selection::new(), &[wrong]).unwrap();
    /// ```
    pub fn run_with_cache(
        &self,
        input_ids: &[Vec<u32>],
        selection: &Selection,
        interventions: &[Intervention<Hidden>],
    ) -> Result<(States, ActivationCache<MiniLm>), InspectError> {
        let layers = self.layers.len();
        if let Some(bad) = interventions.iter().find(|i| i.layer() > layers) {
            return Err(InspectError::OutOfRange {
                what: "layer",
                index: bad.layer(),
                len: layers + 1,
            });
        }
        let (mut x, mask) = self.prepare(input_ids).map_err(InspectError::Model)?;
        let mut cache = ActivationCache::new(layers);
        let intervene = |x: &mut States, l: usize| {
            interventions
                .iter()
                .filter(|i| i.layer() == l)
                .try_for_each(|i| i.apply(x))
        };
        for (l, layer) in self.layers.iter().enumerate() {
            intervene(&mut x, l)?;
            if selection.contains(Site::ResidPre, l) {
                cache.put_resid(Site::ResidPre, l, x.clone());
            }
            if selection.any(&INNER, l) {
                let (q, k) = (layer.query.forward(&x), layer.key.forward(&x));
                let (qh, kh) = (
                    q.split_heads::<Heads, HeadDim>(),
                    k.split_heads::<Heads, HeadDim>(),
                );
                if selection.contains(Site::Attention, l) {
                    cache.put_attention(l, attention_weights(&qh, &kh, &mask));
                }
                let keep = |site| selection.contains(site, l);
                cache.put_qk(
                    l,
                    keep(Site::Queries).then(|| qh.to_tensor()),
                    keep(Site::Keys).then(|| kh.to_tensor()),
                );
                if keep(Site::ResidMid) || keep(Site::Ffn) {
                    // The attention sublayer as `Layer::forward` computes it.
                    let v = layer.value.forward(&x);
                    let vh = v.split_heads::<Heads, HeadDim>();
                    let context = attention_masked(&qh, &kh, &vh, &mask);
                    let attended = layer.output.forward(&context.merge_heads::<Hidden>());
                    let mid = layer.attention_norm.apply(&(&x + &attended));
                    if keep(Site::Ffn) {
                        cache.put_ffn(l, layer.ffn.up().forward(&mid).gelu());
                    }
                    if keep(Site::ResidMid) {
                        cache.put_resid(Site::ResidMid, l, mid);
                    }
                }
            }
            x = layer.forward(&x, &mask);
            if selection.contains(Site::ResidPost, l) {
                cache.put_resid(Site::ResidPost, l, x.clone());
            }
        }
        intervene(&mut x, layers)?;
        Ok((x, cache))
    }

    /// [`encode`](Self::encode) under `interventions` (see
    /// [`run_with_cache`](Self::run_with_cache)): the embeddings of steered (or ablated)
    /// forwards. With no interventions, the same bits as `encode`.
    pub fn encode_with(
        &self,
        sentences: &[&str],
        interventions: &[Intervention<Hidden>],
    ) -> Result<Encoded, InspectError> {
        let input_ids: Vec<Vec<u32>> = sentences
            .iter()
            .map(|s| self.tokenizer.encode(s, MAX_SEQ_LEN))
            .collect();
        let (last_hidden, _) = self.run_with_cache(&input_ids, &Selection::new(), interventions)?;
        let embeddings = mean_pool(&last_hidden, &input_ids);
        Ok(Encoded {
            input_ids,
            last_hidden,
            embeddings,
        })
    }

    /// The embedded, padded batch and its padding mask, as [`forward`](Self::forward)
    /// builds them.
    fn prepare(
        &self,
        input_ids: &[Vec<u32>],
    ) -> Result<(States, PaddingMask<Batch, Seq>), ModelError> {
        let lengths: Vec<usize> = input_ids.iter().map(Vec::len).collect();
        let longest = lengths.iter().copied().max().unwrap_or(0);
        if longest > MaxPos::SIZE {
            return Err(ModelError::TooLong {
                tokens: longest,
                positions: MaxPos::SIZE,
            });
        }
        let (batch, seq) = (Batch::new(input_ids.len()), Seq::new(longest));
        let pad = self.tokenizer.pad_id();
        let padded: Vec<u32> = input_ids
            .iter()
            .flat_map(|ids| {
                ids.iter()
                    .copied()
                    .chain(std::iter::repeat(pad))
                    .take(longest)
            })
            .collect();
        let x = self.embed(batch, seq, &padded)?;
        let mask = AttentionMask::try_padding(batch, seq, &lengths)?;
        Ok((x, mask))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Option<MiniLm> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2");
        if !dir.join("model.safetensors").is_file() {
            assert!(
                std::env::var_os("CI").is_none(),
                "the model is missing under CI: {}",
                dir.display()
            );
            eprintln!("note: skipped, no model at {}", dir.display());
            return None;
        }
        Some(MiniLm::load(&dir).expect("the model loads"))
    }

    #[test]
    fn resid_mid_and_ffn_rebuild_the_layer_output() {
        let Some(m) = model() else { return };
        let ids = vec![
            m.tokenizer.encode("The reactor core was cooled.", 256),
            m.tokenizer.encode("Bake it.", 256),
        ];
        let sel = Selection::new()
            .with(Site::ResidMid, [1])
            .with(Site::Ffn, [1])
            .with(Site::ResidPost, [1]);
        let (_, cache) = m.run_with_cache(&ids, &sel, &[]).unwrap();
        let layer = &m.layers[1];
        let (mid, ffn) = (cache.resid_mid(1).unwrap(), cache.ffn(1).unwrap());
        let rebuilt = layer
            .output_norm
            .apply(&(mid + &layer.ffn.down().forward(ffn)));
        let post = cache.resid_post(1).unwrap();
        let worst = rebuilt
            .as_slice()
            .iter()
            .zip(post.as_slice())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "{worst}");
        assert!(cache.resid_mid(0).is_none() && cache.ffn(2).is_none());
        // The FFN activations are GELU outputs: never below GELU's minimum, about −0.17.
        assert!(ffn.as_slice().iter().all(|&v| v > -0.1701));
    }
}
