//! sentence-transformers/all-MiniLM-L6-v2 on shapecheck: a BERT encoder (6 layers, hidden
//! 384, 12 heads of 32, FFN 1536, GELU, post-LayerNorm), mean pooling over each sentence's
//! own tokens and L2 normalisation. Every tensor is typed with named dims; the weights'
//! shapes are checked once, when the safetensors file is loaded, and `config.json` (when the
//! directory has one) is checked against the dims first.
//!
//! ```no_run
//! use shapecheck::models::minilm::MiniLm;
//! use shapecheck::prelude::*;
//!
//! // model.safetensors, vocab.txt and config.json (scripts/fetch-minilm.sh fetches them).
//! let model = MiniLm::load("models/all-MiniLM-L6-v2")?;
//! let out = model.encode(&["A cat sat on the mat.", "A dog lay on the rug."])?;
//! // Unit vectors: cosine similarity takes them and nothing else.
//! let cos = cosine_similarity(&out.embeddings[0], &out.embeddings[1]);
//! println!("{cos:.3}; the first sentence has {} tokens", out.input_ids[0].len());
//! # Ok::<(), shapecheck::models::ModelError>(())
//! ```
//!
//! The pieces: [`MiniLm::load`] (the weights, the [`WordPiece`] vocab, the config check),
//! [`MiniLm::encode`] (tokenise, pad to the longest sentence, run, pool), [`MiniLm::forward`]
//! (token ids to the last hidden state) and [`mean_pool`].

mod config;
mod inspect;
mod layer;

use std::path::Path;

use crate::dim::{Dim, StaticDim};
use crate::io::SafeTensors;
use crate::models::ModelError;
use crate::nn::attention::AttentionMask;
use crate::nn::linear::Embedding;
use crate::ops::{Norms, Unit};
use crate::tensor::Tensor;
use crate::text::WordPiece;

use layer::{Layer, Norm};

crate::dim!(
    /// The word-piece vocabulary: 30522 ids.
    pub Vocab = 30522;
    /// The learned positions: 512.
    pub MaxPos = 512;
    /// The token types (segments A and B): 2.
    pub TypeVocab = 2;
    /// The hidden width, which is also the width of an embedding: 384.
    pub Hidden = 384;
    /// The attention heads: 12.
    pub Heads = 12;
    /// The width of a head: 32 (`Heads × HeadDim = Hidden`).
    pub HeadDim = 32;
    /// The inner width of the feed-forward layers: 1536.
    pub Ffn = 1536;
    /// The encoder layers: 6.
    pub Layers = 6
);
crate::dim!(
    /// The sentences of a batch (runtime).
    pub Batch;
    /// The tokens of each sentence of a padded batch: the longest sentence's (runtime).
    pub Seq;
    /// Every token of a batch, flattened (runtime).
    pub Tokens
);

/// sentence-transformers truncates this model's inputs at 256 tokens.
pub const MAX_SEQ_LEN: usize = 256;
/// The `layer_norm_eps` of the checkpoint.
const LN_EPS: f32 = 1e-12;

/// Hidden states of a padded batch.
pub type States = Tensor<(Batch, Seq, Hidden)>;

/// The model and its tokenizer.
pub struct MiniLm {
    tokenizer: WordPiece,
    words: Embedding<Vocab, Hidden>,
    positions: Tensor<(MaxPos, Hidden)>,
    token_types: Tensor<(TypeVocab, Hidden)>,
    embedding_norm: Norm,
    layers: Vec<Layer>,
}

/// The output of [`MiniLm::encode`] for a batch of sentences.
#[non_exhaustive]
pub struct Encoded {
    /// The token ids of each sentence, `[CLS] … [SEP]`.
    pub input_ids: Vec<Vec<u32>>,
    /// The last hidden state, padded to the longest sentence: `(Batch, Seq, Hidden)`.
    pub last_hidden: States,
    /// The sentence embeddings (mean-pooled, L2-normalised), one per sentence.
    pub embeddings: Vec<Unit<(Hidden,)>>,
}

impl MiniLm {
    /// Loads `config.json` (if present), `vocab.txt` and `model.safetensors` from `dir`.
    ///
    /// A config field that disagrees with the dims of this type is an error naming the
    /// field, the type's value and the file's ([`ModelError::Config`]); every weight's dtype
    /// and shape is checked against the types here, and a mismatch is an error naming the
    /// tensor ([`ModelError::Weights`]).
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, ModelError> {
        let dir = dir.as_ref();
        config::check_file(&dir.join("config.json"))?;
        let tokenizer = WordPiece::from_vocab_file(dir.join("vocab.txt"))?;
        let st = SafeTensors::open(dir.join("model.safetensors"))?;
        let layers = (0..Layers::SIZE)
            .map(|i| Layer::load(&st, i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MiniLm {
            tokenizer,
            words: Embedding::new(st.load("embeddings.word_embeddings.weight")?),
            positions: st.load("embeddings.position_embeddings.weight")?,
            token_types: st.load("embeddings.token_type_embeddings.weight")?,
            embedding_norm: Norm::load(&st, "embeddings.LayerNorm")?,
            layers,
        })
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &WordPiece {
        &self.tokenizer
    }

    /// Tokenises (truncating at [`MAX_SEQ_LEN`]), pads to the longest sentence, runs the
    /// encoder and pools.
    pub fn encode(&self, sentences: &[&str]) -> Result<Encoded, ModelError> {
        let input_ids: Vec<Vec<u32>> = sentences
            .iter()
            .map(|s| self.tokenizer.encode(s, MAX_SEQ_LEN))
            .collect();
        let last_hidden = self.forward(&input_ids)?;
        let embeddings = mean_pool(&last_hidden, &input_ids);
        Ok(Encoded {
            input_ids,
            last_hidden,
            embeddings,
        })
    }

    /// The last hidden state of a batch of token-id sequences, padded to the longest (the
    /// padding masked out of attention). A sequence longer than [`MaxPos`] is
    /// [`ModelError::TooLong`]; an id outside the vocab is [`ModelError::Shape`].
    pub fn forward(&self, input_ids: &[Vec<u32>]) -> Result<States, ModelError> {
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
        Ok(self
            .layers
            .iter()
            .fold(x, |x, layer| layer.forward(&x, &mask)))
    }

    /// Word + position + token-type (0) embeddings, then LayerNorm.
    fn embed(&self, batch: Batch, seq: Seq, ids: &[u32]) -> Result<States, ModelError> {
        let words = self.words.try_forward_with(Tokens::new(ids.len()), ids)?;
        let mut x = words.try_reshape_with((batch, seq, Hidden))?;
        // Position rows 0..seq (seq ≤ MaxPos was checked by `forward`) and token type 0.
        let h = Hidden::SIZE;
        let positions = &self.positions.as_slice()[..seq.size() * h];
        let token_type = &self.token_types.as_slice()[..h];
        for (t, row) in x.as_mut_slice().chunks_exact_mut(h).enumerate() {
            let position = &positions[(t % seq.size()) * h..][..h];
            for ((v, &pe), &te) in row.iter_mut().zip(position).zip(token_type) {
                *v += pe + te;
            }
        }
        Ok(self.embedding_norm.apply(&x))
    }
}

/// The mean of each sentence's hidden states over its own tokens (not the padding), L2
/// normalised: `input_ids[b].len()` says how many rows of sentence `b` are its own.
pub fn mean_pool(hidden: &States, input_ids: &[Vec<u32>]) -> Vec<Unit<(Hidden,)>> {
    input_ids
        .iter()
        .enumerate()
        .map(|(b, ids)| {
            let n = ids.len().max(1) as f32;
            let mean = Tensor::<(Hidden,)>::from_fn(|[j]| {
                (0..ids.len()).map(|t| hidden[[b, t, j]]).sum::<f32>() / n
            });
            mean.normalize()
        })
        .collect()
}
