//! Activation patching: a clean run's residual stream put into a corrupted run at one
//! typed site ([`ResidSite`]: a layer and a position), and how much of the clean run's
//! answer that restores ([`restored`]: the fraction of the clean − corrupted logit
//! difference). The patch is an [`Intervention`] (a replacement at one position of the
//! stream entering the layer), so any model that takes interventions patches.
//!
//! ```
//! use shapecheck::inspect::{restored, ResidSite, Selection, Site};
//! use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
//! use shapecheck::prelude::*;
//! dim!(pub Vocab = 11; pub DModel = 16; pub Heads = 2; pub HeadDim = 8; pub Ffn = 32);
//! dim!(pub Batch; pub Len);
//! let model = Decoder::<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>, f64>::init(DecoderConfig::default(), 0);
//! let shape = (Batch::new(1), Len::new(3));
//! let (clean, corrupt) = ([1, 2, 3], [1, 5, 3]);
//! let sel = Selection::new().with(Site::ResidPre, [0]);
//! let (clean_logits, cache) = model.run_with_cache(shape, &clean, &sel, &[]).unwrap();
//! let (corrupt_logits, _) = model.run_with_cache(shape, &corrupt, &Selection::new(), &[]).unwrap();
//! // The clean stream entering layer 0 at position 1 (the changed token's embedding).
//! let patch = ResidSite { layer: 0, position: 1 }.patch(&cache, 0).unwrap();
//! let (patched, _) = model.run_with_cache(shape, &corrupt, &Selection::new(), &[patch]).unwrap();
//! let diff = |l: &Tensor<_, f64>| l[[0, 2, 4]] - l[[0, 2, 7]]; // answer 4 against 7
//! let r = restored(diff(&clean_logits), diff(&corrupt_logits), diff(&patched));
//! assert!((r - 1.0).abs() < 1e-9); // the patched run is the clean run
//! ```

use super::cache::CacheDims;
use super::{ActivationCache, InspectError, Intervention};
use crate::element::Float;
use crate::tensor::Tensor;

/// A site of the residual stream: the stream entering block `layer` (`resid_pre`; the
/// block count means the stream leaving the last block) at `position` of a sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ResidSite {
    /// The block whose incoming stream is patched.
    pub layer: usize,
    /// The position within the sequence.
    pub position: usize,
}

impl ResidSite {
    /// The patch that puts sequence `sequence`'s stream at this site, from a run cached
    /// with `resid_pre` at `layer`, into another run (the same position of every sequence
    /// of that run).
    ///
    /// [`InspectError::OutOfRange`] when the cache holds no `resid_pre` at the layer, or
    /// the sequence or the position is not in it.
    pub fn patch<M: CacheDims>(
        self,
        clean: &ActivationCache<M>,
        sequence: usize,
    ) -> Result<Intervention<M::Hidden, M::Elem>, InspectError> {
        let out = |what, index, len| InspectError::OutOfRange { what, index, len };
        let Some(stream) = clean.resid_pre(self.layer) else {
            return Err(out("layer (cached resid_pre)", self.layer, clean.layers()));
        };
        let Some(rows) = clean.rows(sequence) else {
            let len = (0..).take_while(|&i| clean.rows(i).is_some()).count();
            return Err(out("sequence", sequence, len));
        };
        if self.position >= rows.len() {
            return Err(out("position", self.position, rows.len()));
        }
        let width = stream.dims()[1];
        let row = (rows.start + self.position) * width;
        let value = stream.as_slice()[row..row + width].to_vec();
        let vector = Tensor::from_vec_with((stream.shape().1,), value)?;
        Ok(Intervention::replace(self.layer, vector)
            .from_position(self.position)
            .to_position(self.position + 1))
    }
}

/// The fraction of the clean run's logit difference a patch restores:
/// `(patched − corrupted) / (clean − corrupted)`, each a logit difference (the right
/// answer's logit minus the wrong one's). 1 when the patched run's difference is the clean
/// run's, 0 when it is the corrupted run's; NaN when clean and corrupted agree (nothing to
/// restore).
pub fn restored<T: Float>(clean: T, corrupted: T, patched: T) -> f64 {
    let (c, k, p) = (clean.to_f64(), corrupted.to_f64(), patched.to_f64());
    (p - k) / (c - k)
}
