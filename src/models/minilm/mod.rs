//! sentence-transformers/all-MiniLM-L6-v2 on shapecheck: a BERT encoder (6 layers, hidden
//! 384, 12 heads of 32, FFN 1536, GELU, post-LayerNorm), mean pooling over each sentence's
//! own tokens and L2 normalisation. Every tensor is typed with named dims; the weights'
//! shapes are checked once, when the safetensors file is loaded, and `config.json` (when the
//! directory has one) is checked against the dims first. The same code serves any checkpoint
//! of this architecture whose dims match the type.
//!
//! ```no_run
//! use shapecheck::models::minilm::{Batch, Hidden, MiniLm};
//! use shapecheck::prelude::*;
//!
//! // model.safetensors, vocab.txt and config.json (scripts/fetch-minilm.sh fetches them).
//! let model = MiniLm::load("models/all-MiniLM-L6-v2")?;
//! let emb: Unit<(Batch, Hidden)> = model.embed(&["A cat sat on the mat.", "A dog lay on the rug."])?;
//! // Unit rows: cosine similarity takes them and nothing else.
//! let sims: Tensor<(Batch, Batch)> = emb.similarity(&emb);
//! println!("{:.3}", sims[[0, 1]]);
//! // Token-level states, packed: sentence 0's rows are a (Seq, Hidden) view.
//! let out = model.encode(&["A cat sat on the mat."])?;
//! println!("{} tokens, first state {:?}", out.input_ids[0].len(), out.hidden.sentence(0).shape());
//! # Ok::<(), shapecheck::models::ModelError>(())
//! ```
//!
//! # Packed batches
//!
//! A batch is never padded: the tokens of all its sentences are stacked into one
//! `(Tokens, Hidden)` matrix ([`Packed`], with the [`Spans`] of its sentences), every
//! Linear and feed-forward GEMM runs on all of them at once, and attention runs per sentence
//! on its own rows. A batch therefore costs the FLOPs of its real tokens, and is never
//! slower than its sentences one at a time.
//!
//! The pieces: [`MiniLm::load`] (the weights, the [`WordPiece`] vocab, the config check),
//! [`MiniLm::embed`] (sentences to unit embeddings), [`MiniLm::encode`] (the same with the
//! ids and the token states), [`MiniLm::forward`] (token ids to the packed last hidden
//! state: the embeddings, then each layer in turn on the residual stream) and
//! [`mean_pool`]. One layer is `layer.rs`; packing and per-sentence attention are
//! `packed.rs`.

mod config;
mod inspect;
mod layer;
mod packed;

use std::path::Path;

use crate::dim::{Dim, StaticDim};
use crate::io::SafeTensors;
use crate::models::ModelError;
use crate::nn::embedding::Embedding;
use crate::nn::norm::LayerNorm;
use crate::ops::Unit;
use crate::parallel::{for_each_chunk, threads, with_threads, Work};
use crate::tensor::Tensor;
use crate::text::WordPiece;

use crate::inspect::NoHooks;
use layer::{layer_norm, Layer};
pub use packed::{mean_pool, Packed, Spans};

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
    /// The tokens of one sentence (runtime).
    pub Seq;
    /// Every token of a packed batch, the sentences one after another (runtime).
    pub Tokens
);

/// Packed rows: one per token of a batch.
type Rows = Tensor<(Tokens, Hidden)>;

/// sentence-transformers truncates this model's inputs at 256 tokens.
pub const MAX_SEQ_LEN: usize = 256;
/// The `layer_norm_eps` of the checkpoint.
const LN_EPS: f64 = 1e-12;

/// The model and its tokenizer.
pub struct MiniLm {
    tokenizer: WordPiece,
    words: Embedding<Vocab, Hidden>,
    positions: Tensor<(MaxPos, Hidden)>,
    token_types: Tensor<(TypeVocab, Hidden)>,
    embedding_norm: LayerNorm<Hidden>,
    layers: Vec<Layer>,
}

/// The output of [`MiniLm::encode`] for a batch of sentences.
#[non_exhaustive]
pub struct Encoded {
    /// The token ids of each sentence, `[CLS] … [SEP]`.
    pub input_ids: Vec<Vec<u32>>,
    /// The last hidden state of every token, packed: [`Packed::sentence`] gives one
    /// sentence's `(Seq, Hidden)` rows.
    pub hidden: Packed,
    /// The sentence embeddings (mean-pooled, L2-normalised), one unit row per sentence.
    pub embeddings: Unit<(Batch, Hidden)>,
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
            embedding_norm: layer_norm(&st, "embeddings.LayerNorm")?,
            layers,
        })
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &WordPiece {
        &self.tokenizer
    }

    /// The ids of `sentence`, `[CLS] … [SEP]`, truncated at [`MAX_SEQ_LEN`] as
    /// sentence-transformers truncates, and whether anything was cut off.
    pub fn tokenize(&self, sentence: &str) -> (Vec<u32>, bool) {
        let mut ids = self.tokenizer.encode(sentence, MAX_SEQ_LEN + 1);
        let truncated = ids.len() > MAX_SEQ_LEN;
        if truncated {
            ids.truncate(MAX_SEQ_LEN - 1);
            ids.push(self.tokenizer.sep_id());
        }
        (ids, truncated)
    }

    /// The unit embedding of each sentence, one row per sentence: tokenised (truncated at
    /// [`MAX_SEQ_LEN`]), run as one packed batch, mean-pooled and L2-normalised.
    pub fn embed<S: AsRef<str>>(
        &self,
        sentences: &[S],
    ) -> Result<Unit<(Batch, Hidden)>, ModelError> {
        let ids: Vec<Vec<u32>> = sentences
            .iter()
            .map(|s| self.tokenize(s.as_ref()).0)
            .collect();
        Ok(mean_pool(&self.forward(&ids)?))
    }

    /// [`embed`](Self::embed), keeping the token ids and the packed last hidden state.
    pub fn encode<S: AsRef<str>>(&self, sentences: &[S]) -> Result<Encoded, ModelError> {
        let input_ids: Vec<Vec<u32>> = sentences
            .iter()
            .map(|s| self.tokenize(s.as_ref()).0)
            .collect();
        let hidden = self.forward(&input_ids)?;
        let embeddings = mean_pool(&hidden);
        Ok(Encoded {
            input_ids,
            hidden,
            embeddings,
        })
    }

    /// The last hidden state of a batch of token-id sequences, packed (no padding). A
    /// sequence longer than [`MaxPos`] is [`ModelError::TooLong`]; an id outside the vocab is
    /// [`ModelError::Shape`].
    ///
    /// The residual stream is the `(Tokens, Hidden)` matrix `x`: the embeddings make it,
    /// each layer's forward takes it and returns the next.
    pub fn forward(&self, input_ids: &[Vec<u32>]) -> Result<Packed, ModelError> {
        if let Some(longest) = input_ids.iter().map(Vec::len).find(|&n| n > MaxPos::SIZE) {
            return Err(ModelError::TooLong {
                tokens: longest,
                positions: MaxPos::SIZE,
            });
        }
        let spans = Spans::from_lengths(input_ids.iter().map(Vec::len));
        // Multiply-adds per token of the layers' products (Q, K, V, output, FFN).
        let per_token = Layers::SIZE * Hidden::SIZE * (4 * Hidden::SIZE + 2 * Ffn::SIZE);
        let threads = threads(Work::Items {
            items: input_ids.len(),
            macs: spans.tokens().size() * per_token,
        });
        let x = if threads > 1 {
            self.forward_split(input_ids, &spans, threads)?
        } else {
            self.forward_packed(input_ids, &spans)?
        };
        Ok(Packed::try_new(x, spans)?)
    }

    /// The encoder over one packed batch (each product spread over the threads by itself).
    /// The residual stream `x` passes from the embeddings through each layer in turn.
    fn forward_packed(
        &self,
        input_ids: &[Vec<u32>],
        spans: &Spans,
    ) -> Result<Tensor<(Tokens, Hidden)>, ModelError> {
        let mut x = self.embeddings(input_ids, spans)?;
        for layer in &self.layers {
            x = layer.forward(x, spans, &mut NoHooks::new());
        }
        Ok(x)
    }

    /// The encoder over a batch cut into `threads` runs of consecutive sentences with about
    /// as many tokens each, one run per thread, each run one packed batch on one thread:
    /// everything between the products (LayerNorms, GELU, attention, residual adds) then
    /// runs in parallel too, which one packed batch with threaded products would not do.
    /// Every sentence's rows are computed as in one packed batch (each row of a product by
    /// the same kernel), so the result does not depend on the thread count.
    fn forward_split(
        &self,
        input_ids: &[Vec<u32>],
        spans: &Spans,
        threads: usize,
    ) -> Result<Tensor<(Tokens, Hidden)>, ModelError> {
        let total = spans.tokens().size();
        let mut cuts = vec![0];
        for (i, r) in spans.iter().enumerate() {
            let part = cuts.len();
            if part < threads && r.end * threads >= total * part && i + 1 < input_ids.len() {
                cuts.push(i + 1);
            }
        }
        cuts.push(input_ids.len());
        if cuts.len() == 2 {
            // One sentence holds most of the tokens: its products are split instead.
            return self.forward_packed(input_ids, spans);
        }
        let mut results: Vec<Option<Result<Rows, ModelError>>> =
            (1..cuts.len()).map(|_| None).collect();
        let runs: Vec<_> = cuts
            .windows(2)
            .map(|w| &input_ids[w[0]..w[1]])
            .zip(results.iter_mut())
            .collect();
        for_each_chunk(
            runs,
            threads,
            || (),
            |_, _, (ids, slot)| {
                let spans = Spans::from_lengths(ids.iter().map(Vec::len));
                *slot = Some(with_threads(1, || self.forward_packed(ids, &spans)));
            },
        );
        let mut rows = Vec::with_capacity(total * Hidden::SIZE);
        for r in results {
            rows.extend_from_slice(r.expect("every run ran")?.as_slice());
        }
        Ok(Tensor::from_vec_with((spans.tokens(), Hidden), rows)?)
    }

    /// Word + position + token-type (0) embeddings of the packed tokens, then LayerNorm:
    /// the residual stream before the first layer.
    fn embeddings(
        &self,
        input_ids: &[Vec<u32>],
        spans: &Spans,
    ) -> Result<Tensor<(Tokens, Hidden)>, ModelError> {
        let ids: Vec<u32> = input_ids.iter().flatten().copied().collect();
        let mut x = self.words.try_forward_with(spans.tokens(), &ids)?;
        // Each sentence's positions count from 0 (every length ≤ MaxPos was checked by
        // `forward`); the token type is 0.
        let h = Hidden::SIZE;
        let (positions, token_type) =
            (self.positions.as_slice(), &self.token_types.as_slice()[..h]);
        let rows = x.as_mut_slice();
        for r in spans.iter() {
            let sentence = rows[r.start * h..r.end * h].chunks_exact_mut(h);
            for (row, position) in sentence.zip(positions.chunks_exact(h)) {
                for ((v, &pe), &te) in row.iter_mut().zip(position).zip(token_type) {
                    *v += pe + te;
                }
            }
        }
        Ok(self.embedding_norm.forward(&x))
    }
}
