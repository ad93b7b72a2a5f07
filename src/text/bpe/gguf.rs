//! The tokenizer a GGUF file carries (`tokenizer.ggml.*`), built as the same Hugging Face
//! tokenizer the model's own `tokenizer.json` describes.
//!
//! A GGUF stores the vocabulary (`tokens`, `token_type`, `merges` or `scores`), the kind of
//! model (`model`: `"gpt2"` for byte-level BPE, `"llama"` for SentencePiece BPE) and, for
//! byte-level BPE, the name of the pre-tokenizer (`pre`), which llama.cpp maps to the split
//! regexes of the original `tokenizer.json` (`llama-vocab.cpp`). Here each name becomes the
//! Hugging Face pre-tokenizer it stands for, so the ids are Hugging Face's. The `pre` names
//! understood are listed on [`GgufVocab`]; those checked against Python `tokenizers` (in
//! tests/bpe.rs) are `llama-bpe`, `qwen2`, `gpt-2` and `smollm`, the others follow
//! llama.cpp's grouping of them with these.

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence, NFC};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, SplitDelimiterBehavior};

use super::{SpecialIds, Tokenizer, TokenizerError};

/// The split regex of Llama-3's `tokenizer.json`.
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// The split regex of Qwen2's `tokenizer.json` (Llama-3's with single digits).
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// SentencePiece's word-boundary mark.
const SPACE_MARK: &str = "\u{2581}";

/// The kind of a token (`tokenizer.ggml.token_type`, llama.cpp's numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenType {
    /// 1: an ordinary piece of text.
    Normal,
    /// 2: the unknown token.
    Unknown,
    /// 3: a control token (`<s>`, `<|im_start|>`): special, split out of the text first.
    Control,
    /// 4: a user-defined token: split out of the text first, but not special.
    UserDefined,
    /// 5: unused.
    Unused,
    /// 6: a byte token (`<0x0A>`) for SentencePiece's byte fallback.
    Byte,
}

impl TokenType {
    /// The type of a `token_type` value, `None` for a value llama.cpp does not define.
    pub fn from_gguf(value: i32) -> Option<Self> {
        Some(match value {
            1 => TokenType::Normal,
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => return None,
        })
    }
}

/// The tokenizer metadata of a GGUF file, as plain values (the GGUF reader fills it).
///
/// Empty vectors and `None` mean the key is absent. Build one with a struct literal and
/// `..GgufVocab::default()`.
///
/// For a byte-level (`"gpt2"`) vocabulary, `pre` picks the pre-tokenizer of the model's
/// `tokenizer.json`:
///
/// | `pre` | pre-tokenizer |
/// |---|---|
/// | `llama3`, `llama-v3`, `llama-bpe`, `falcon3` | Llama-3's split regex (digits in runs of ≤ 3), merges ignored for whole-word tokens |
/// | `dbrx`, `smaug-bpe`, `chatglm-bpe` | Llama-3's split regex |
/// | `qwen2`, `deepseek-r1-qwen` | NFC, then Qwen2's split regex (single digits) |
/// | `stablelm2`, `megrez` | Qwen2's split regex |
/// | `gpt-2`, `phi-2`, `mpt`, `olmo`, `jais`, `roberta-bpe`, `gigachat`, `jina-*` | GPT-2's regex |
/// | `smollm`, `starcoder`, `refact`, `command-r`, `codeshell`, `exaone`, `minerva-7b` | single digits, then GPT-2's regex |
///
/// Other names (DeepSeek's, Falcon's, BLOOM's, Tekken's, Chameleon's) and a missing `pre`
/// are refused with [`TokenizerError::GgufVocab`] rather than tokenized with a wrong regex.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GgufVocab {
    /// `tokenizer.ggml.model`: `"gpt2"` (byte-level BPE) or `"llama"` (SentencePiece BPE).
    pub model: String,
    /// `tokenizer.ggml.pre`: the pre-tokenizer's name (byte-level BPE only), e.g. `"smollm"`.
    pub pre: Option<String>,
    /// `tokenizer.ggml.tokens`: the token strings, by id.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.token_type`: one [`TokenType`] value per token (empty: all normal).
    pub token_types: Vec<i32>,
    /// `tokenizer.ggml.merges`: `"left right"`, highest priority first.
    pub merges: Vec<String>,
    /// `tokenizer.ggml.scores`: one per token; a `"llama"` vocabulary without merges has its
    /// merges derived from them as Hugging Face converts a SentencePiece model.
    pub scores: Vec<f32>,
    /// `tokenizer.ggml.bos_token_id`.
    pub bos_id: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos_id: Option<u32>,
    /// `tokenizer.ggml.padding_token_id`.
    pub pad_id: Option<u32>,
    /// `tokenizer.ggml.unknown_token_id`.
    pub unk_id: Option<u32>,
    /// `tokenizer.ggml.add_bos_token` (default: true for `"llama"` and Llama-3's `pre`).
    pub add_bos: Option<bool>,
    /// `tokenizer.ggml.add_eos_token` (default: false).
    pub add_eos: Option<bool>,
    /// `tokenizer.ggml.add_space_prefix` (`"llama"` only; default: true).
    pub add_space_prefix: Option<bool>,
}

/// How a byte-level vocabulary splits text before BPE.
enum Pre {
    Llama3 { ignore_merges: bool },
    Qwen2 { nfc: bool },
    Gpt2,
    DigitsGpt2,
}

fn pre_of(name: Option<&str>) -> Result<Pre, TokenizerError> {
    let Some(name) = name else {
        return Err(TokenizerError::GgufVocab {
            field: "tokenizer.ggml.pre",
            message: "it is missing, so the pre-tokenizer is unknown (llama.cpp guesses and \
                      warns of degraded output; this library refuses)"
                .into(),
        });
    };
    Ok(match name {
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" => Pre::Llama3 {
            ignore_merges: true,
        },
        "dbrx" | "smaug-bpe" | "chatglm-bpe" => Pre::Llama3 {
            ignore_merges: false,
        },
        "qwen2" | "deepseek-r1-qwen" => Pre::Qwen2 { nfc: true },
        "stablelm2" | "megrez" => Pre::Qwen2 { nfc: false },
        "gpt-2" | "phi-2" | "mpt" | "olmo" | "jais" | "roberta-bpe" | "gigachat" | "jina-es"
        | "jina-de" | "jina-v1-en" | "jina-v2-es" | "jina-v2-de" | "jina-v2-code" => Pre::Gpt2,
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva-7b" => {
            Pre::DigitsGpt2
        }
        other => {
            return Err(TokenizerError::GgufVocab {
                field: "tokenizer.ggml.pre",
                message: format!(
                    "the pre-tokenizer {other:?} is not supported yet (supported: the \
                     Llama-3, Qwen2, GPT-2 and StarCoder/SmolLM families, see \
                     shapecheck::text::GgufVocab)"
                ),
            })
        }
    })
}

/// The merges, if each joins two tokens into a token. tokenizers 0.23 checks this itself,
/// but a merge whose result is longer than every token panics there before its check
/// (huggingface/tokenizers#2094): a file must not be able to do that.
fn checked_merges(
    merges: Vec<(String, String)>,
    vocab: &Vocab,
) -> Result<Vec<(String, String)>, TokenizerError> {
    for (i, (l, r)) in merges.iter().enumerate() {
        for part in [l, r] {
            if !vocab.contains_key(part) {
                return Err(gguf_err(
                    "tokenizer.ggml.merges",
                    format!("merge {i} ({l:?} + {r:?}): {part:?} is not a token"),
                ));
            }
        }
        let joined = format!("{l}{r}");
        if !vocab.contains_key(&joined) {
            return Err(gguf_err(
                "tokenizer.ggml.merges",
                format!("merge {i} ({l:?} + {r:?}) makes {joined:?}, which is not a token"),
            ));
        }
    }
    Ok(merges)
}

fn gguf_err(field: &'static str, message: impl Into<String>) -> TokenizerError {
    TokenizerError::GgufVocab {
        field,
        message: message.into(),
    }
}

impl GgufVocab {
    fn token_type(&self, id: usize) -> Result<TokenType, TokenizerError> {
        match self.token_types.get(id) {
            None => Ok(TokenType::Normal),
            Some(&v) => TokenType::from_gguf(v).ok_or_else(|| {
                gguf_err(
                    "tokenizer.ggml.token_type",
                    format!("token {id} has type {v}, which llama.cpp does not define"),
                )
            }),
        }
    }

    fn vocab(&self) -> Result<Vocab, TokenizerError> {
        if self.tokens.is_empty() {
            return Err(gguf_err("tokenizer.ggml.tokens", "the vocabulary is empty"));
        }
        let n = u32::try_from(self.tokens.len()).map_err(|_| {
            gguf_err(
                "tokenizer.ggml.tokens",
                format!("{} tokens do not fit u32 ids", self.tokens.len()),
            )
        })?;
        if !self.token_types.is_empty() && self.token_types.len() != self.tokens.len() {
            return Err(gguf_err(
                "tokenizer.ggml.token_type",
                format!(
                    "{} types for {} tokens",
                    self.token_types.len(),
                    self.tokens.len()
                ),
            ));
        }
        let mut vocab = Vocab::with_capacity(self.tokens.len());
        for (id, token) in (0..n).zip(&self.tokens) {
            if let Some(first) = vocab.insert(token.clone(), id) {
                return Err(gguf_err(
                    "tokenizer.ggml.tokens",
                    format!("{token:?} is both token {first} and token {id}"),
                ));
            }
        }
        for (field, id) in [
            ("tokenizer.ggml.bos_token_id", self.bos_id),
            ("tokenizer.ggml.eos_token_id", self.eos_id),
            ("tokenizer.ggml.padding_token_id", self.pad_id),
            ("tokenizer.ggml.unknown_token_id", self.unk_id),
        ] {
            if let Some(id) = id.filter(|&id| id >= n) {
                return Err(gguf_err(
                    field,
                    format!("id {id} is beyond the vocabulary of {n} tokens"),
                ));
            }
        }
        Ok(vocab)
    }

    /// The merges, split as llama.cpp splits them: at the first space after the first byte
    /// (so a left part that is itself a space survives).
    fn parsed_merges(&self) -> Result<Vec<(String, String)>, TokenizerError> {
        self.merges
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let cut = m
                    .char_indices()
                    .skip(1)
                    .find(|&(_, c)| c == ' ')
                    .map(|(at, _)| at);
                match cut {
                    Some(at) => Ok((m[..at].to_string(), m[at + 1..].to_string())),
                    None => Err(gguf_err(
                        "tokenizer.ggml.merges",
                        format!("merge {i} ({m:?}) is not two tokens separated by a space"),
                    )),
                }
            })
            .collect()
    }

    /// Merges from SentencePiece scores, as Hugging Face's `SentencePieceExtractor` derives
    /// them: every split of a piece into two pieces of the vocabulary is a merge ranked by
    /// the whole piece's score (higher first; ties keep vocabulary order, then the ids of
    /// the two halves).
    fn merges_from_scores(&self, vocab: &Vocab) -> Result<Vec<(String, String)>, TokenizerError> {
        if self.scores.len() != self.tokens.len() {
            return Err(gguf_err(
                "tokenizer.ggml.scores",
                format!(
                    "a \"llama\" vocabulary without merges needs one score per token: {} \
                     scores for {} tokens",
                    self.scores.len(),
                    self.tokens.len()
                ),
            ));
        }
        if let Some(i) = self.scores.iter().position(|s| s.is_nan()) {
            return Err(gguf_err(
                "tokenizer.ggml.scores",
                format!("token {i}'s score is NaN"),
            ));
        }
        // A split can give two tokens only where both halves have the length of some
        // token: trying those lengths alone (in bytes, sorted) visits what trying every
        // character boundary would find, without making a piece of n bytes cost n hash
        // lookups of up to n bytes each (a file with one token of a few megabytes took
        // hours; found by fuzzing).
        let mut lengths: Vec<usize> = self.tokens.iter().map(String::len).collect();
        lengths.sort_unstable();
        lengths.dedup();
        let mut merges: Vec<(f32, u32, u32, &str, &str)> = Vec::new();
        for (piece, &score) in self.tokens.iter().zip(&self.scores) {
            let mut local = Vec::new();
            let n = piece.len();
            for &at in lengths.iter().take_while(|&&at| at < n) {
                if at == 0
                    || !piece.is_char_boundary(at)
                    || lengths.binary_search(&(n - at)).is_err()
                {
                    continue;
                }
                let (l, r) = piece.split_at(at);
                if let Some(&li) = vocab.get(l) {
                    if let Some(&ri) = vocab.get(r) {
                        local.push((score, li, ri, l, r));
                    }
                }
            }
            local.sort_by_key(|&(_, li, ri, _, _)| (li, ri));
            merges.extend(local);
        }
        // Stable: equal scores keep the order above.
        merges.sort_by(|a, b| b.0.total_cmp(&a.0));
        Ok(merges
            .into_iter()
            .map(|(_, _, _, l, r)| (l.to_string(), r.to_string()))
            .collect())
    }
}

impl Tokenizer {
    /// Builds the tokenizer a GGUF file carries from its `tokenizer.ggml.*` values: the same
    /// tokenizer (the same ids) as the model's `tokenizer.json`. See [`GgufVocab`] for the
    /// fields and the `pre` names understood.
    ///
    /// # Errors
    /// [`TokenizerError::GgufVocab`] naming the GGUF key: an unknown `model` or `pre`, an
    /// empty or duplicated vocabulary, a malformed merge, a merge of tokens the vocabulary
    /// lacks, a special id beyond the vocabulary, types or scores of the wrong length.
    pub fn from_gguf_vocab(v: &GgufVocab) -> Result<Self, TokenizerError> {
        let vocab = v.vocab()?;
        let mut added = Vec::new();
        for (id, token) in v.tokens.iter().enumerate() {
            match v.token_type(id)? {
                TokenType::Control | TokenType::Unknown => {
                    added.push(AddedToken::from(token.clone(), true).normalized(false))
                }
                TokenType::UserDefined => {
                    added.push(AddedToken::from(token.clone(), false).normalized(false))
                }
                TokenType::Normal | TokenType::Unused | TokenType::Byte => {}
            }
        }
        let merges_err = |e: tokenizers::Error| gguf_err("tokenizer.ggml.merges", e.to_string());
        let (mut inner, add_bos_default) = match v.model.as_str() {
            "gpt2" => {
                if v.merges.is_empty() {
                    return Err(gguf_err(
                        "tokenizer.ggml.merges",
                        "a byte-level (\"gpt2\") vocabulary needs its merges",
                    ));
                }
                let pre = pre_of(v.pre.as_deref())?;
                let merges = checked_merges(v.parsed_merges()?, &vocab)?;
                let bpe = BPE::builder()
                    .vocab_and_merges(vocab, merges)
                    .ignore_merges(matches!(
                        pre,
                        Pre::Llama3 {
                            ignore_merges: true
                        }
                    ))
                    .build()
                    .map_err(merges_err)?;
                let mut inner = tokenizers::Tokenizer::new(bpe);
                let byte_level = ByteLevel::new(false, true, false);
                let split = |regex: &str| {
                    Split::new(
                        SplitPattern::Regex(regex.to_string()),
                        SplitDelimiterBehavior::Isolated,
                        false,
                    )
                    .map_err(|e| gguf_err("tokenizer.ggml.pre", e.to_string()))
                };
                let add_bos_default = matches!(
                    pre,
                    Pre::Llama3 {
                        ignore_merges: true
                    }
                );
                match pre {
                    Pre::Llama3 { .. } => {
                        inner.with_pre_tokenizer(Some(PreSequence::new(vec![
                            split(LLAMA3_REGEX)?.into(),
                            byte_level.into(),
                        ])));
                    }
                    Pre::Qwen2 { nfc } => {
                        if nfc {
                            inner
                                .with_normalizer(Some(NFC))
                                .map_err(|e| gguf_err("tokenizer.ggml.pre", e.to_string()))?;
                        }
                        inner.with_pre_tokenizer(Some(PreSequence::new(vec![
                            split(QWEN2_REGEX)?.into(),
                            byte_level.into(),
                        ])));
                    }
                    Pre::Gpt2 => {
                        inner.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
                    }
                    Pre::DigitsGpt2 => {
                        inner.with_pre_tokenizer(Some(PreSequence::new(vec![
                            Digits::new(true).into(),
                            ByteLevel::new(false, true, true).into(),
                        ])));
                    }
                }
                inner.with_decoder(Some(ByteLevelDecoder::default()));
                (inner, add_bos_default)
            }
            "llama" => {
                let merges = if v.merges.is_empty() {
                    v.merges_from_scores(&vocab)?
                } else {
                    checked_merges(v.parsed_merges()?, &vocab)?
                };
                let unk = match v.unk_id {
                    Some(id) => Some(v.tokens[id as usize].clone()),
                    None => (0..v.tokens.len())
                        .find(|&i| matches!(v.token_type(i), Ok(TokenType::Unknown)))
                        .map(|i| v.tokens[i].clone()),
                };
                let mut builder = BPE::builder()
                    .vocab_and_merges(vocab, merges)
                    .byte_fallback(true)
                    .fuse_unk(true);
                if let Some(unk) = unk {
                    builder = builder.unk_token(unk);
                }
                let bpe = builder.build().map_err(merges_err)?;
                let mut inner = tokenizers::Tokenizer::new(bpe);
                let space = Replace::new(" ", SPACE_MARK)
                    .map_err(|e| gguf_err("tokenizer.ggml.model", e.to_string()))?;
                let unspace = tokenizers::decoders::DecoderWrapper::Replace(
                    Replace::new(SPACE_MARK, " ")
                        .map_err(|e| gguf_err("tokenizer.ggml.model", e.to_string()))?,
                );
                let prefix = v.add_space_prefix.unwrap_or(true);
                let mut decoders: Vec<DecoderWrapper> =
                    vec![unspace, ByteFallback::new().into(), Fuse::new().into()];
                if prefix {
                    inner
                        .with_normalizer(Some(NormalizerSequence::new(vec![
                            Prepend::new(SPACE_MARK.to_string()).into(),
                            space.into(),
                        ])))
                        .map_err(|e| gguf_err("tokenizer.ggml.model", e.to_string()))?;
                    decoders.push(Strip::new(' ', 1, 0).into());
                } else {
                    inner
                        .with_normalizer(Some(space))
                        .map_err(|e| gguf_err("tokenizer.ggml.model", e.to_string()))?;
                }
                inner.with_decoder(Some(DecoderSequence::new(decoders)));
                (inner, true)
            }
            other => {
                return Err(gguf_err(
                    "tokenizer.ggml.model",
                    format!(
                        "the tokenizer model {other:?} is not supported (supported: \"gpt2\", \
                         byte-level BPE, and \"llama\", SentencePiece BPE)"
                    ),
                ))
            }
        };
        inner
            .add_tokens(added)
            .map_err(|e| gguf_err("tokenizer.ggml.token_type", e.to_string()))?;

        let add_bos = v.add_bos.unwrap_or(add_bos_default);
        let add_eos = v.add_eos.unwrap_or(false);
        let mut template: Vec<String> = Vec::new();
        let mut specials: Vec<(String, u32)> = Vec::new();
        let mut frame = |on: bool,
                         id: Option<u32>,
                         field: &'static str,
                         template: &mut Vec<String>|
         -> Result<(), TokenizerError> {
            if !on {
                return Ok(());
            }
            let id = id.ok_or_else(|| {
                gguf_err(field, "the tokenizer adds this token but its id is missing")
            })?;
            let token = v.tokens[id as usize].clone();
            template.push(token.clone());
            specials.push((token, id));
            Ok(())
        };
        frame(
            add_bos,
            v.bos_id,
            "tokenizer.ggml.bos_token_id",
            &mut template,
        )?;
        template.push("$A".into());
        frame(
            add_eos,
            v.eos_id,
            "tokenizer.ggml.eos_token_id",
            &mut template,
        )?;
        if add_bos || add_eos {
            let processor = TemplateProcessing::builder()
                .try_single(template)
                .map_err(|e| gguf_err("tokenizer.ggml.add_bos_token", e))?
                .special_tokens(specials)
                .build()
                .map_err(|e| gguf_err("tokenizer.ggml.add_bos_token", e.to_string()))?;
            inner.with_post_processor(Some(processor));
        }

        let tok = Tokenizer::wrap(inner, "the GGUF vocabulary")?;
        let unk = v.unk_id.or(tok.special.unk);
        tok.with_special_ids(SpecialIds {
            bos: v.bos_id,
            eos: v.eos_id,
            pad: v.pad_id,
            unk,
        })
    }
}

impl Tokenizer {
    /// The tokenizer a GGUF file carries: [`Gguf::vocab`](crate::io::Gguf::vocab), then
    /// [`from_gguf_vocab`](Self::from_gguf_vocab).
    ///
    /// # Errors
    /// [`TokenizerError::Malformed`] when a `tokenizer.ggml.*` key is missing or of another
    /// type (the message names it), [`TokenizerError::GgufVocab`] naming the key whose
    /// values are inconsistent.
    pub fn from_gguf(gguf: &crate::io::Gguf) -> Result<Self, TokenizerError> {
        let vocab = gguf.vocab().map_err(|e| TokenizerError::Malformed {
            source_name: "GGUF metadata".to_owned(),
            message: e.to_string(),
        })?;
        Self::from_gguf_vocab(&vocab)
    }
}
