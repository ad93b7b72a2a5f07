//! The MiniLM forward with an activation cache and interventions
//! ([`inspect`](crate::inspect)): the layers run their one forward, and an implementation
//! of the model-independent [`Hooks`] at their hook points applies the interventions to the
//! packed residual stream entering a layer, records the selected sites (the streams,
//! queries, keys, attention patterns, FFN activations) and ablates heads in the attention
//! context — as the decoder's inspected run does through the same trait. Nothing is
//! recomputed, and with nothing selected the states that flow on are those of
//! [`MiniLm::forward`], bit for bit.

use super::packed::{Packed, Spans};
use super::MaxPos;
use super::{mean_pool, Encoded, Ffn, HeadDim, Heads, Hidden, MiniLm, Seq, Tokens};
use crate::dim::StaticDim;
use crate::inspect::cache::CacheDims;
use crate::inspect::{
    ActivationCache, HeadAblation, Hooks, InspectError, Intervention, Selection, Site,
};
use crate::models::ModelError;
use crate::nn::flow::Plain;
use crate::ops::attention::{attention_weights, AttentionMask};
use crate::tensor::{Tensor, TensorView};

impl CacheDims for MiniLm {
    type Tokens = Tokens;
    type Seq = Seq;
    type Hidden = Hidden;
    type Heads = Heads;
    type HeadDim = HeadDim;
    type Ffn = Ffn;
    type Elem = f32;
}

/// Sites inside a layer that need its queries and keys, per sentence.
const HEADS: [Site; 3] = [Site::Queries, Site::Keys, Site::Attention];

impl MiniLm {
    /// [`forward`](Self::forward) that records the `selection`'s sites and applies the
    /// `interventions` (each to the residual stream entering its layer; layer 6 is the
    /// output). Returns the packed last hidden state and the cache.
    ///
    /// An intervention at a layer beyond 6 is [`InspectError::OutOfRange`]; the errors of
    /// [`forward`](Self::forward) are [`InspectError::Model`].
    ///
    /// ```no_run
    /// use shapecheck::inspect::{Intervention, Selection, Site};
    /// use shapecheck::models::minilm::{Hidden, MiniLm};
    /// use shapecheck::prelude::*;
    /// let model = MiniLm::load("models/all-MiniLM-L6-v2")?;
    /// let ids = vec![model.tokenize("A cat sat on the mat.").0];
    /// let sel = Selection::new().with(Site::Attention, [0]).with(Site::ResidPost, 0..6);
    /// let steer = Intervention::add(3, Tensor::<(Hidden,)>::ones(), 0.5).from_position(1);
    /// let (last, cache) = model.run_with_cache(&ids, &sel, &[steer])?;
    /// let pattern = cache.attention(0, 0).unwrap(); // sentence 0: (Heads, Seq, Seq)
    /// assert_eq!(pattern.dims()[0], 12);
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
    ) -> Result<(Packed, ActivationCache<MiniLm>), InspectError> {
        self.run_with_hooks(input_ids, selection, interventions, &[])
    }

    /// [`run_with_cache`](Self::run_with_cache) that also ablates heads: each
    /// [`HeadAblation`] zeroes (or mean-ablates over the batch's tokens) one head's slice
    /// of the attention context at its layer, before the output projection. A head not
    /// below 12 or a layer not below 6 is [`InspectError::OutOfRange`].
    ///
    /// ```no_run
    /// use shapecheck::inspect::{HeadAblation, Selection};
    /// use shapecheck::models::minilm::{Heads, MiniLm};
    /// let model = MiniLm::load("models/all-MiniLM-L6-v2")?;
    /// let ids = vec![model.tokenize("A cat sat on the mat.").0];
    /// let knock_out = HeadAblation::<Heads>::zero(0, 5);
    /// let (last, _) = model.run_with_hooks(&ids, &Selection::new(), &[], &[knock_out])?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_with_hooks(
        &self,
        input_ids: &[Vec<u32>],
        selection: &Selection,
        interventions: &[Intervention<Hidden>],
        ablations: &[HeadAblation<Heads>],
    ) -> Result<(Packed, ActivationCache<MiniLm>), InspectError> {
        let layers = self.layers.len();
        HeadAblation::check_all(layers, interventions, ablations)?;
        if let Some(longest) = input_ids.iter().map(Vec::len).find(|&n| n > MaxPos::SIZE) {
            return Err(ModelError::TooLong {
                tokens: longest,
                positions: MaxPos::SIZE,
            }
            .into());
        }
        let spans = Spans::from_lengths(input_ids.iter().map(Vec::len));
        let mut x = self.embeddings(input_ids, &spans)?;
        let mut hooks = Inspector {
            layer: 0,
            selection,
            interventions,
            ablations,
            spans: &spans,
            cache: ActivationCache::new(layers, spans.iter().collect()),
            error: None,
        };
        for (l, layer) in self.layers.iter().enumerate() {
            hooks.block(l);
            x = layer.forward(x, &spans, &mut hooks);
        }
        // The stream leaving the last layer, as layer `layers`' `ResidPre`: where an
        // intervention at the layer count acts.
        hooks.block(layers);
        let x = hooks.resid(Site::ResidPre, x);
        if let Some(e) = hooks.error {
            return Err(e);
        }
        let cache = hooks.cache;
        Ok((Packed::try_new(x, spans)?, cache))
    }

    /// [`encode`](Self::encode) under `interventions` (see
    /// [`run_with_cache`](Self::run_with_cache)): the embeddings of steered (or ablated)
    /// forwards. With no interventions, the same bits as `encode`.
    pub fn encode_with<S: AsRef<str>>(
        &self,
        sentences: &[S],
        interventions: &[Intervention<Hidden>],
    ) -> Result<Encoded, InspectError> {
        let input_ids: Vec<Vec<u32>> = sentences
            .iter()
            .map(|s| self.tokenize(s.as_ref()).0)
            .collect();
        let (hidden, _) = self.run_with_cache(&input_ids, &Selection::new(), interventions)?;
        let embeddings = mean_pool(&hidden);
        Ok(Encoded {
            input_ids,
            hidden,
            embeddings,
        })
    }
}

/// What sits at the hook points of an inspected run: records the selected sites, applies
/// the interventions to the residual stream entering their layer and ablates heads.
struct Inspector<'a> {
    layer: usize,
    selection: &'a Selection,
    interventions: &'a [Intervention<Hidden>],
    ablations: &'a [HeadAblation<Heads>],
    spans: &'a Spans,
    cache: ActivationCache<MiniLm>,
    /// The first error met (a hook cannot return one; the run does).
    error: Option<InspectError>,
}

impl Inspector<'_> {
    fn keep(&self, site: Site) -> bool {
        self.layer < self.cache.layers() && self.selection.contains(site, self.layer)
    }
}

impl Hooks<Plain, f32> for Inspector<'_> {
    type Stream = (Tokens, Hidden);
    type Merged = (Tokens, Hidden);
    type Heads = (Tokens, Hidden);
    type Ffn = (Tokens, Ffn);

    fn block(&mut self, layer: usize) {
        self.layer = layer;
    }

    fn resid(&mut self, site: Site, mut x: Tensor<(Tokens, Hidden)>) -> Tensor<(Tokens, Hidden)> {
        if site == Site::ResidPre {
            let layer = self.layer;
            for i in self.interventions.iter().filter(|i| i.layer() == layer) {
                if let Err(e) = i.apply(&mut x, self.spans.iter()) {
                    self.error.get_or_insert(e);
                }
            }
        }
        if self.keep(site) {
            self.cache.put_resid(site, self.layer, x.clone());
        }
        x
    }

    fn heads(&mut self, q: &Tensor<(Tokens, Hidden)>, k: &Tensor<(Tokens, Hidden)>) {
        if self.layer >= self.cache.layers() || !self.selection.any(&HEADS, self.layer) {
            return;
        }
        for r in self.spans.iter() {
            let pair = sentence(q, r.clone()).and_then(|qs| Ok((qs, sentence(k, r)?)));
            let (qs, ks) = match pair {
                Ok(p) => p,
                Err(e) => {
                    self.error.get_or_insert(e);
                    return;
                }
            };
            let (qh, kh) = (
                qs.split_heads::<Heads, HeadDim>(),
                ks.split_heads::<Heads, HeadDim>(),
            );
            let (kq, kk, ka) = (
                self.keep(Site::Queries),
                self.keep(Site::Keys),
                self.keep(Site::Attention),
            );
            self.cache.push_heads(
                self.layer,
                kq.then(|| qh.to_tensor()),
                kk.then(|| kh.to_tensor()),
                ka.then(|| attention_weights(&qh, &kh, &AttentionMask::none())),
            );
        }
    }

    fn z(&mut self, mut context: Tensor<(Tokens, Hidden)>) -> Tensor<(Tokens, Hidden)> {
        for a in self.ablations.iter().filter(|a| a.layer() == self.layer) {
            a.apply(context.as_mut_slice(), Hidden::SIZE, HeadDim::SIZE);
        }
        context
    }

    fn ffn(&mut self, act: &Tensor<(Tokens, Ffn)>) {
        if self.keep(Site::Ffn) {
            self.cache.put_ffn(self.layer, act.clone());
        }
    }
}

/// Rows `r` of packed states as one sentence's `(Seq, Hidden)` view.
fn sentence(
    x: &Tensor<(Tokens, Hidden)>,
    r: core::ops::Range<usize>,
) -> Result<TensorView<'_, (Seq, Hidden)>, InspectError> {
    let h = Hidden::SIZE;
    Ok(TensorView::from_parts(
        x.as_slice(),
        r.start * h,
        (Seq::new(r.len()), Hidden),
        &[h, 1],
    )?)
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
            m.tokenize("The reactor core was cooled.").0,
            m.tokenize("Bake it.").0,
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
            .forward(&(mid + &layer.ffn.down().forward(ffn)));
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
