//! Single-head ablation: one attention head's output removed during a forward.
//!
//! A [`HeadAblation`] acts where TransformerLens's `attn.hook_z` sits: on the heads'
//! outputs, merged `(…, Heads × HeadDim)`, before the output projection mixes them. Head
//! `h` is the columns `h·HeadDim .. (h + 1)·HeadDim` there; zeroing them is the same as
//! zeroing those columns of the output projection `Wo`. Mean ablation replaces them with
//! their mean over every position of the batch being run instead (the head's average
//! output, so that only what it does *per position* is removed).
//!
//! It is typed by the model's `Heads` dim, so an ablation made for one model's heads is a
//! type error on another's; the head and layer indices are checked when the forward runs,
//! and one out of range is an [`InspectError::OutOfRange`] naming it.
//!
//! ```
//! use shapecheck::prelude::*;
//! use shapecheck::inspect::HeadAblation;
//! dim!(pub Heads = 4);
//! let a = HeadAblation::<Heads>::zero(1, 3);
//! assert_eq!((a.layer(), a.head(), a.is_mean()), (1, 3, false));
//! assert!(HeadAblation::<Heads>::mean(0, 2).is_mean());
//! ```

use core::fmt;
use core::marker::PhantomData;

use super::{InspectError, Intervention};
use crate::dim::Dim;
use crate::element::Float;

/// Removes head `head`'s output at layer `layer` during a forward: zeroed
/// ([`zero`](Self::zero)) or replaced by its mean over the batch's positions
/// ([`mean`](Self::mean)). `H` is the model's heads dim.
pub struct HeadAblation<H: Dim> {
    layer: usize,
    head: usize,
    mean: bool,
    _heads: PhantomData<fn() -> H>,
}

// By hand: a derive would ask `H: Clone` / `H: Debug` of the dim, which it need not be.
impl<H: Dim> Clone for HeadAblation<H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H: Dim> Copy for HeadAblation<H> {}

impl<H: Dim> fmt::Debug for HeadAblation<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeadAblation")
            .field("layer", &self.layer)
            .field("head", &self.head)
            .field("mean", &self.mean)
            .finish()
    }
}

impl<H: Dim> HeadAblation<H> {
    /// Zeroes head `head`'s output at layer `layer`.
    pub fn zero(layer: usize, head: usize) -> Self {
        HeadAblation {
            layer,
            head,
            mean: false,
            _heads: PhantomData,
        }
    }

    /// Replaces head `head`'s output at layer `layer`, at every position, with its mean
    /// over all the positions of the batch.
    pub fn mean(layer: usize, head: usize) -> Self {
        HeadAblation {
            mean: true,
            ..Self::zero(layer, head)
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

    /// Whether it is a mean ablation (else a zero ablation).
    pub fn is_mean(&self) -> bool {
        self.mean
    }

    /// `Err` when the layer is not below `layers` or the head not below `heads`.
    pub(crate) fn check(&self, layers: usize, heads: usize) -> Result<(), InspectError> {
        if self.layer >= layers {
            return Err(InspectError::OutOfRange {
                what: "head-ablation layer",
                index: self.layer,
                len: layers,
            });
        }
        if self.head >= heads {
            return Err(InspectError::OutOfRange {
                what: "head",
                index: self.head,
                len: heads,
            });
        }
        Ok(())
    }

    /// `Err` when an intervention's layer is above `layers` (the block count itself
    /// means the stream leaving the last block) or an ablation is out of range: the
    /// checks of a model's hooked run, before it computes anything.
    pub(crate) fn check_all<D: Dim, T: Float>(
        layers: usize,
        interventions: &[Intervention<D, T>],
        ablations: &[HeadAblation<H>],
    ) -> Result<(), InspectError>
    where
        H: crate::dim::StaticDim,
    {
        Self::check_all_with(layers, H::SIZE, interventions, ablations)
    }

    /// [`check_all`](Self::check_all) for a model of `heads` heads (a runtime count).
    pub(crate) fn check_all_with<D: Dim, T: Float>(
        layers: usize,
        heads: usize,
        interventions: &[Intervention<D, T>],
        ablations: &[HeadAblation<H>],
    ) -> Result<(), InspectError> {
        if let Some(bad) = interventions.iter().find(|i| i.layer() > layers) {
            return Err(InspectError::OutOfRange {
                what: "layer",
                index: bad.layer(),
                len: layers + 1,
            });
        }
        ablations.iter().try_for_each(|a| a.check(layers, heads))
    }

    /// Applies it to `z`, rows of `width = heads × head_dim` merged head outputs (checked
    /// in range by [`check`](Self::check) first).
    pub(crate) fn apply<T: Float>(&self, z: &mut [T], width: usize, head_dim: usize) {
        let cols = self.head * head_dim..(self.head + 1) * head_dim;
        let rows = z.len() / width.max(1);
        let mut fill = vec![T::ZERO; head_dim];
        if self.mean && rows > 0 {
            for row in z.chunks_exact(width) {
                fill.iter_mut()
                    .zip(&row[cols.clone()])
                    .for_each(|(m, &v)| *m += v);
            }
            let n = T::from_f64(rows as f64);
            fill.iter_mut().for_each(|m| *m /= n);
        }
        for row in z.chunks_exact_mut(width) {
            row[cols.clone()].copy_from_slice(&fill);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::dim!(pub H = 2);

    #[test]
    fn zero_and_mean_touch_only_the_heads_columns() {
        // Two rows of two heads of width 2.
        let z = || vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let mut a = z();
        HeadAblation::<H>::zero(0, 1).apply(&mut a, 4, 2);
        assert_eq!(a, [1.0, 2.0, 0.0, 0.0, 5.0, 6.0, 0.0, 0.0]);
        let mut m = z();
        HeadAblation::<H>::mean(0, 0).apply(&mut m, 4, 2);
        assert_eq!(m, [3.0, 4.0, 3.0, 4.0, 3.0, 4.0, 7.0, 8.0]);
        let e = HeadAblation::<H>::zero(0, 2).check(1, 2).unwrap_err();
        assert_eq!(e.to_string(), "head 2 is out of range: there are 2");
        assert!(HeadAblation::<H>::zero(3, 0).check(3, 2).is_err());
    }
}
