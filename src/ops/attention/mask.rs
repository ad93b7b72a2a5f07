//! [`AttentionMask`]: what an attention may see.

use crate::dim::Dim;
use crate::element::Float;
use crate::error::OrPanic;
use crate::error::ShapeError;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// What an attention may see: an optional additive bias of shape `M` that broadcasts to the
/// scores (`0` keeps a score, `−∞` masks it, other values shift it), and an optional causal
/// rule. `M = ()` (the default) is a mask without a bias tensor.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::nn::attention::{attention_weights, AttentionMask};
/// dim!(pub Batch; pub Heads = 2; pub Seq = 4; pub HeadDim = 8);
/// let b = Batch::new(2);
/// let q = Tensor::<(Batch, Heads, Seq, HeadDim)>::randn_with((b, Heads, Seq, HeadDim), 0);
/// // The second sequence holds 2 tokens and 2 pads.
/// let mask = AttentionMask::padding(b, Seq, &[4, 2]);
/// let p = attention_weights(&q, &q, &mask);
/// assert_eq!(p[[1, 0, 0, 2]], 0.0);
/// assert_eq!(p[[1, 0, 0, 3]], 0.0);
/// assert!(p[[0, 0, 0, 3]] > 0.0);
/// ```
#[derive(Clone, Debug)]
pub struct AttentionMask<M: Shape = (), T: Float = f32> {
    pub(super) bias: Option<Tensor<M, T>>,
    pub(super) causal: Option<usize>,
    pub(super) window: Option<usize>,
}

impl<T: Float> AttentionMask<(), T> {
    /// No mask: every query sees every key.
    pub fn none() -> Self {
        AttentionMask {
            bias: None,
            causal: None,
            window: None,
        }
    }

    /// The causal mask: query `i` sees key `j` when `j ≤ i + offset`. With a cache of `n`
    /// earlier positions before the queries, `offset = n`.
    ///
    /// Any offset is accepted: the sum `i + offset` saturates instead of wrapping, so an
    /// offset near `usize::MAX` lets every query see every key, in debug and release builds
    /// alike.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// use shapecheck::nn::attention::{attention, attention_masked, AttentionMask};
    /// let q = Tensor::<(D<3>, D<4>)>::randn(0);
    /// let all = attention_masked(&q, &q, &q, &AttentionMask::causal(usize::MAX));
    /// assert_eq!(all.as_slice(), attention(&q, &q, &q).as_slice());
    /// ```
    pub fn causal(offset: usize) -> Self {
        AttentionMask {
            bias: None,
            causal: Some(offset),
            window: None,
        }
    }

    /// The causal mask within a sliding window of `window` positions (Mistral's, Qwen2's
    /// sliding layers): query `i` sees key `j` when `j ≤ i + offset` and
    /// `i + offset − j < window`, as `transformers` masks it.
    ///
    /// ```
    /// use shapecheck::prelude::*;
    /// use shapecheck::nn::attention::{attention_weights, AttentionMask};
    /// let q = Tensor::<(D<5>, D<4>)>::randn(0);
    /// let p = attention_weights(&q, &q, &AttentionMask::sliding(0, 2));
    /// assert_eq!(p[[4, 2]], 0.0); // 4 − 2 = 2 is not below the window
    /// assert!(p[[4, 3]] > 0.0 && p[[4, 4]] > 0.0);
    /// ```
    pub fn sliding(offset: usize, window: usize) -> Self {
        AttentionMask {
            bias: None,
            causal: Some(offset),
            window: Some(window),
        }
    }
}

impl<M: Shape, T: Float> AttentionMask<M, T> {
    /// A mask from an additive bias: `0` keeps a score, `−∞` masks it.
    pub fn from_bias(bias: Tensor<M, T>) -> Self {
        AttentionMask {
            bias: Some(bias),
            causal: None,
            window: None,
        }
    }

    /// A mask of shape `shape` that keeps the scores where `keep` is true.
    pub fn from_fn_with(shape: M, mut keep: impl FnMut(M::Index) -> bool) -> Self {
        Self::from_bias(Tensor::from_fn_with(shape, |i| {
            if keep(i) {
                T::ZERO
            } else {
                T::NEG_INFINITY
            }
        }))
    }

    /// The same mask, also causal with `offset` (see [`causal`](AttentionMask::causal);
    /// any offset is accepted).
    pub fn and_causal(mut self, offset: usize) -> Self {
        self.causal = Some(offset);
        self
    }

    /// The bias tensor, if any.
    pub fn bias(&self) -> Option<&Tensor<M, T>> {
        self.bias.as_ref()
    }

    /// The causal offset, if causal.
    pub fn causal_offset(&self) -> Option<usize> {
        self.causal
    }

    /// The sliding window, if any (see [`sliding`](AttentionMask::sliding)).
    pub fn window(&self) -> Option<usize> {
        self.window.filter(|_| self.causal.is_some())
    }
}

/// The mask of a padded batch, `(Batch, 1, 1, Sk)`: it broadcasts to scores
/// `(Batch, Heads, Sq, Sk)`.
pub type PaddingMask<B, Sk, T = f32> = AttentionMask<(B, crate::D<1>, crate::D<1>, Sk), T>;

impl<B: Dim, Sk: Dim, T: Float> PaddingMask<B, Sk, T> {
    /// Batch row `b` sees its first `lengths[b]` keys; the rest are padding.
    ///
    /// # Panics
    ///
    /// When `lengths` does not hold one length per row or a length exceeds `Sk`; the
    /// message is that of [`try_padding`](Self::try_padding).
    #[track_caller]
    pub fn padding(batch: B, seq: Sk, lengths: &[usize]) -> Self {
        Self::try_padding(batch, seq, lengths).or_panic()
    }

    /// [`padding`](Self::padding), returning `Err` when `lengths` does not hold one length
    /// per row or a length exceeds `Sk`.
    pub fn try_padding(batch: B, seq: Sk, lengths: &[usize]) -> Result<Self, ShapeError> {
        let one = crate::D::<1>;
        let shape = (batch, one, one, seq);
        let err = |detail: String| {
            ShapeError::incompatible_described(
                "AttentionMask::padding",
                format!("{shape:?}"),
                format!("lengths {lengths:?}"),
                detail,
            )
        };
        if lengths.len() != batch.size() {
            return Err(err(format!(
                "{} lengths for a batch of {}",
                lengths.len(),
                batch.size()
            )));
        }
        if let Some(&l) = lengths.iter().find(|&&l| l > seq.size()) {
            return Err(err(format!(
                "a length of {l} exceeds the sequence dim ({})",
                seq.size()
            )));
        }
        Ok(Self::from_fn_with(shape, |[b, _, _, j]| j < lengths[b]))
    }
}
