//! sentence-transformers/all-MiniLM-L6-v2 on shapecheck: a BERT encoder (6 layers, hidden 384,
//! 12 heads of 32, FFN 1536, GELU, post-LayerNorm), mean pooling over the attention mask and
//! L2 normalisation. Every tensor is typed with named dims; the weights' shapes are checked
//! once, when the safetensors file is loaded.
//!
//! Shared by `examples/minilm/main.rs`, `tests/minilm.rs` and the perf example.

use std::error::Error;
use std::path::{Path, PathBuf};

use shapecheck::io::SafeTensors;
use shapecheck::nn::attention::{attention_masked, AttentionMask, PaddingMask};
use shapecheck::nn::linear::{Activation, Embedding, FeedForward, Linear};
use shapecheck::prelude::*;
use shapecheck::text::WordPiece;

dim!(pub Vocab = 30522);
dim!(pub MaxPos = 512);
dim!(pub TypeVocab = 2);
dim!(pub Hidden = 384);
dim!(pub Heads = 12);
dim!(pub HeadDim = 32);
dim!(pub Ffn = 1536);
dim!(pub Layers = 6);
// Runtime dims: sentences in a batch, tokens per sentence (padded to the longest of the
// batch), and every token of a batch flattened.
dim!(pub Batch);
dim!(pub Seq);
dim!(pub Tokens);

/// sentence-transformers truncates this model's inputs at 256 tokens.
pub const MAX_SEQ_LEN: usize = 256;
const LN_EPS: f32 = 1e-12;

type Vector = Tensor<(Hidden,)>;
/// Hidden states of a padded batch.
pub type States = Tensor<(Batch, Seq, Hidden)>;

/// `LayerNorm` weight and bias.
struct Norm {
    weight: Vector,
    bias: Vector,
}

struct Layer {
    query: Linear<Hidden, Hidden>,
    key: Linear<Hidden, Hidden>,
    value: Linear<Hidden, Hidden>,
    output: Linear<Hidden, Hidden>,
    attention_norm: Norm,
    ffn: FeedForward<Hidden, Ffn>,
    output_norm: Norm,
}

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
pub struct Encoded {
    /// The token ids of each sentence, `[CLS] … [SEP]`.
    pub input_ids: Vec<Vec<u32>>,
    /// The last hidden state, padded: `(Batch, Seq, Hidden)`.
    pub last_hidden: Tensor<(Batch, Seq, Hidden)>,
    /// The sentence embeddings (mean-pooled, L2-normalised), one per sentence.
    pub embeddings: Vec<Unit<(Hidden,)>>,
}

/// Where the model is: `$SHAPECHECK_MINILM_DIR`, else `models/all-MiniLM-L6-v2` in the
/// repository (fetched by `scripts/fetch-minilm.sh`).
pub fn default_dir() -> PathBuf {
    std::env::var_os("SHAPECHECK_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2"))
}

fn linear<DIn: StaticDim, DOut: StaticDim>(
    st: &SafeTensors,
    prefix: &str,
) -> Result<Linear<DIn, DOut>, Box<dyn Error>> {
    let weight = st.load::<(DOut, DIn), f32>(&format!("{prefix}.weight"))?;
    let bias = st.load::<(DOut,), f32>(&format!("{prefix}.bias"))?;
    Ok(Linear::new(weight, Some(bias)))
}

fn norm(st: &SafeTensors, prefix: &str) -> Result<Norm, Box<dyn Error>> {
    Ok(Norm {
        weight: st.load(&format!("{prefix}.weight"))?,
        bias: st.load(&format!("{prefix}.bias"))?,
    })
}

impl MiniLm {
    /// Loads `model.safetensors` and `vocab.txt` from `dir`. Every weight's dtype and shape is
    /// checked against the types here; a mismatch is an error naming the tensor.
    pub fn load(dir: &Path) -> Result<Self, Box<dyn Error>> {
        let tokenizer = WordPiece::from_vocab_file(dir.join("vocab.txt"))?;
        let st = SafeTensors::open(dir.join("model.safetensors"))?;
        let layers = (0..Layers::SIZE)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                Ok(Layer {
                    query: linear(&st, &format!("{p}.attention.self.query"))?,
                    key: linear(&st, &format!("{p}.attention.self.key"))?,
                    value: linear(&st, &format!("{p}.attention.self.value"))?,
                    output: linear(&st, &format!("{p}.attention.output.dense"))?,
                    attention_norm: norm(&st, &format!("{p}.attention.output.LayerNorm"))?,
                    ffn: FeedForward::new(
                        linear(&st, &format!("{p}.intermediate.dense"))?,
                        linear(&st, &format!("{p}.output.dense"))?,
                        Activation::Gelu,
                    ),
                    output_norm: norm(&st, &format!("{p}.output.LayerNorm"))?,
                })
            })
            .collect::<Result<Vec<_>, Box<dyn Error>>>()?;
        Ok(MiniLm {
            tokenizer,
            words: Embedding::new(st.load("embeddings.word_embeddings.weight")?),
            positions: st.load("embeddings.position_embeddings.weight")?,
            token_types: st.load("embeddings.token_type_embeddings.weight")?,
            embedding_norm: norm(&st, "embeddings.LayerNorm")?,
            layers,
        })
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &WordPiece {
        &self.tokenizer
    }

    /// Tokenises, pads to the longest sentence, runs the encoder and pools.
    pub fn encode(&self, sentences: &[&str]) -> Result<Encoded, Box<dyn Error>> {
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

    /// The last hidden state of a batch of token-id sequences, padded to the longest.
    pub fn forward(&self, input_ids: &[Vec<u32>]) -> Result<States, Box<dyn Error>> {
        let lengths: Vec<usize> = input_ids.iter().map(Vec::len).collect();
        let longest = lengths.iter().copied().max().unwrap_or(0);
        if longest > MaxPos::SIZE {
            return Err(format!(
                "a sequence of {longest} tokens exceeds the {} positions",
                MaxPos::SIZE
            )
            .into());
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
        let mask = AttentionMask::padding(batch, seq, &lengths)?;
        Ok(self
            .layers
            .iter()
            .fold(x, |x, layer| layer.forward(&x, &mask)))
    }

    /// Word + position + token-type (0) embeddings, then LayerNorm.
    fn embed(&self, batch: Batch, seq: Seq, ids: &[u32]) -> Result<States, Box<dyn Error>> {
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
        let n = &self.embedding_norm;
        Ok(x.layer_norm(&n.weight, &n.bias, LN_EPS))
    }
}

impl Layer {
    /// One post-LayerNorm BERT layer over a padded batch.
    fn forward(
        &self,
        x: &Tensor<(Batch, Seq, Hidden)>,
        mask: &PaddingMask<Batch, Seq>,
    ) -> Tensor<(Batch, Seq, Hidden)> {
        let (q, k, v) = (
            self.query.forward(x),
            self.key.forward(x),
            self.value.forward(x),
        );
        // (Batch, Seq, Hidden) → (Batch, Heads, Seq, HeadDim): strided views, no copy.
        let context = attention_masked(
            &q.split_heads::<Heads, HeadDim>(),
            &k.split_heads::<Heads, HeadDim>(),
            &v.split_heads::<Heads, HeadDim>(),
            mask,
        );
        let attended = self.output.forward(&context.merge_heads::<Hidden>());
        let n = &self.attention_norm;
        let x = (x + &attended).layer_norm(&n.weight, &n.bias, LN_EPS);
        let h = self.ffn.forward(&x);
        let n = &self.output_norm;
        (&x + &h).layer_norm(&n.weight, &n.bias, LN_EPS)
    }
}

/// The mean of each sentence's hidden states over its own tokens (not the padding), L2
/// normalised.
pub fn mean_pool(
    hidden: &Tensor<(Batch, Seq, Hidden)>,
    input_ids: &[Vec<u32>],
) -> Vec<Unit<(Hidden,)>> {
    input_ids
        .iter()
        .enumerate()
        .map(|(b, ids)| {
            let n = ids.len().max(1) as f32;
            let mean =
                Vector::from_fn(|[j]| (0..ids.len()).map(|t| hidden[[b, t, j]]).sum::<f32>() / n);
            mean.normalize()
        })
        .collect()
}
