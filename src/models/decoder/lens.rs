//! The logit lens: a residual stream read through the decoder's final norm and output
//! head ([`Decoder::logit_lens`]), so every layer's stream says what the model would
//! predict if the layers above it were skipped (nostalgebraist, 2020). The stream leaving
//! the last block goes through exactly what the model's logits go through, so its lens is
//! the model's logits.
//!
//! ```
//! use shapecheck::inspect::{Selection, Site};
//! use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
//! use shapecheck::prelude::*;
//! dim!(pub Vocab = 11; pub DModel = 16; pub Heads = 2; pub HeadDim = 8; pub Ffn = 32);
//! dim!(pub Batch; pub Len);
//! let model = Decoder::<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>, f64>::init(DecoderConfig::default(), 0);
//! let shape = (Batch::new(1), Len::new(3));
//! let sel = Selection::new().with(Site::ResidPost, 0..2);
//! let (logits, cache) = model.run_with_cache(shape, &[1, 2, 3], &sel, &[]).unwrap();
//! let lens = model.logit_lens(cache.resid_post(1).unwrap()).unwrap(); // (Tokens, Vocab)
//! for (a, b) in lens.as_slice().iter().zip(logits.as_slice()) {
//!     assert!((a - b).abs() < 1e-12);
//! }
//! ```

use super::{Decoder, DecoderDims};
use crate::dim::Dim;
use crate::element::Float;
use crate::error::ShapeError;
use crate::tensor::Tensor;

impl<D: DecoderDims, T: Float> Decoder<D, T> {
    /// The logits `(R, Vocab)` that the rows of a residual stream `(R, Model)` give through
    /// the final norm and the output head (or the tied embedding): the logit lens of a
    /// cached `resid_pre`/`resid_mid`/`resid_post`.
    ///
    /// `Err` when a runtime width disagrees with the model's.
    pub fn logit_lens<R: Dim>(
        &self,
        stream: &Tensor<(R, D::Model), T>,
    ) -> Result<Tensor<(R, D::Vocab), T>, ShapeError> {
        let normed = self.norm.try_forward(stream)?;
        match &self.head {
            Some(head) => head.try_forward(&normed),
            None => self.embedding.try_unembed(&normed),
        }
    }
}
