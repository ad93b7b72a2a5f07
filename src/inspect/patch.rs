//! Activation patching: a clean run's residual stream put into a corrupted run at one
//! typed site ([`ResidSite`]: a layer and a position), or one head's output at every
//! position ([`HeadSite`]: a layer and a head, TransformerLens's `hook_z`), and how much of
//! the clean run's answer that restores ([`restored`]: the fraction of the clean −
//! corrupted logit difference). A residual patch is an [`Intervention`] (a replacement at
//! one position of the stream entering the layer), so any model that takes interventions
//! patches; a [`HeadPatch`] goes to `Decoder::run_with_patches` in `models`.
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

use core::fmt;
use core::marker::PhantomData;
use core::ops::Range;

use super::cache::CacheDims;
use super::{ActivationCache, InspectError, Intervention};
use crate::dim::Dim;
use crate::element::Float;
use crate::tensor::Tensor;

/// A site of the residual stream: the stream entering block `layer` (`resid_pre`; the
/// block count means the stream leaving the last block, taken from the cached
/// `resid_post` of the last block) at `position` of a sequence.
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
    /// [`InspectError::OutOfRange`] when the cache holds no `resid_pre` at the layer (for
    /// the block count, no `resid_post` of the last block), or the sequence or the
    /// position is not in it.
    pub fn patch<M: CacheDims>(
        self,
        clean: &ActivationCache<M>,
        sequence: usize,
    ) -> Result<Intervention<M::Hidden, M::Elem>, InspectError> {
        let out = |what, index, len| InspectError::OutOfRange { what, index, len };
        let layers = clean.layers();
        let cached = match self.layer.checked_sub(layers) {
            Some(0) => clean.resid_post(layers.wrapping_sub(1)),
            _ => clean.resid_pre(self.layer),
        };
        let Some(stream) = cached else {
            return Err(out("layer (cached resid_pre)", self.layer, layers + 1));
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

/// A head's output at a layer (`attn.hook_z`: before the output projection mixes the
/// heads), typed by the model's heads dim `H`: a site for patching one head.
pub struct HeadSite<H: Dim> {
    layer: usize,
    head: usize,
    _heads: PhantomData<fn() -> H>,
}

// By hand: a derive would ask `H: Clone` / `H: Debug` of the dim.
impl<H: Dim> Clone for HeadSite<H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H: Dim> Copy for HeadSite<H> {}

impl<H: Dim> fmt::Debug for HeadSite<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HeadSite(layer {}, head {})", self.layer, self.head)
    }
}

impl<H: Dim> HeadSite<H> {
    /// Head `head` of layer `layer`.
    pub fn new(layer: usize, head: usize) -> Self {
        HeadSite {
            layer,
            head,
            _heads: PhantomData,
        }
    }

    /// The layer.
    pub fn layer(&self) -> usize {
        self.layer
    }

    /// The head.
    pub fn head(&self) -> usize {
        self.head
    }

    /// The patch that puts sequence `sequence`'s output of this head, at every position,
    /// from a run cached with [`Site::Z`](super::Site::Z) at the layer, into another run
    /// (every sequence of it, which must be as long).
    ///
    /// [`InspectError::OutOfRange`] when the cache holds no `z` at the layer, or the
    /// sequence or the head is not in it.
    pub fn patch<M: CacheDims<Heads = H>>(
        self,
        clean: &ActivationCache<M>,
        sequence: usize,
    ) -> Result<HeadPatch<H, M::Elem>, InspectError> {
        let out = |what, index, len| InspectError::OutOfRange { what, index, len };
        let Some(z) = clean.z(self.layer) else {
            return Err(out("layer (cached z)", self.layer, clean.layers()));
        };
        let Some(rows) = clean.rows(sequence) else {
            let len = (0..).take_while(|&i| clean.rows(i).is_some()).count();
            return Err(out("sequence", sequence, len));
        };
        let (width, heads) = (z.dims()[1], clean.heads());
        if self.head >= heads {
            return Err(out("head", self.head, heads));
        }
        let head_dim = width / heads.max(1);
        let cols = self.head * head_dim..(self.head + 1) * head_dim;
        let values = z.as_slice()[rows.start * width..rows.end * width]
            .chunks_exact(width.max(1))
            .flat_map(|row| row[cols.clone()].iter().copied())
            .collect();
        Ok(HeadPatch {
            site: self,
            positions: rows.len(),
            values,
        })
    }
}

/// One head's output at every position of a clean sequence ([`HeadSite::patch`]), to be
/// put in its place in another run.
pub struct HeadPatch<H: Dim, T: Float = f32> {
    site: HeadSite<H>,
    positions: usize,
    /// `(positions, HeadDim)`, row-major.
    values: Vec<T>,
}

impl<H: Dim, T: Float> Clone for HeadPatch<H, T> {
    fn clone(&self) -> Self {
        HeadPatch {
            site: self.site,
            positions: self.positions,
            values: self.values.clone(),
        }
    }
}

impl<H: Dim, T: Float> fmt::Debug for HeadPatch<H, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeadPatch")
            .field("site", &self.site)
            .field("positions", &self.positions)
            .finish_non_exhaustive()
    }
}

impl<H: Dim, T: Float> HeadPatch<H, T> {
    /// Where it goes.
    pub fn site(&self) -> HeadSite<H> {
        self.site
    }

    /// Puts the head's clean output into `z`, rows of `width = heads × head_dim` merged
    /// head outputs, for each sequence at `sequences` (each as long as the clean one).
    pub(crate) fn apply(
        &self,
        z: &mut [T],
        width: usize,
        heads: usize,
        sequences: impl Iterator<Item = Range<usize>>,
    ) -> Result<(), InspectError> {
        let head_dim = width / heads.max(1);
        if self.site.head >= heads || self.values.len() != self.positions * head_dim {
            return Err(InspectError::OutOfRange {
                what: "head",
                index: self.site.head,
                len: heads,
            });
        }
        let cols = self.site.head * head_dim..(self.site.head + 1) * head_dim;
        for r in sequences {
            if r.len() != self.positions {
                return Err(crate::ShapeError::Incompatible {
                    op: "head patch",
                    lhs: format!("a clean sequence of {} positions", self.positions),
                    rhs: format!("a patched sequence of {}", r.len()),
                    detail: "a head is patched at every position: the runs must be as long".into(),
                }
                .into());
            }
            let rows = z[r.start * width..r.end * width].chunks_exact_mut(width.max(1));
            for (row, clean) in rows.zip(self.values.chunks_exact(head_dim.max(1))) {
                row[cols.clone()].copy_from_slice(clean);
            }
        }
        Ok(())
    }
}
