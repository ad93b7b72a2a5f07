//! BPE tokenizers for LLMs, on Hugging Face's `tokenizers` crate (feature `llm`).
//!
//! [`Tokenizer`] wraps the crate's tokenizer with typed errors, the special-token ids a
//! generation loop needs, and a streaming decoder. It loads:
//!
//! - a Hugging Face `tokenizer.json` ([`Tokenizer::from_file`]): byte-level BPE with the
//!   GPT-2, Llama-3 or Qwen2 pre-tokenizer regexes, SentencePiece-style BPE with `▁` and
//!   byte fallback (Llama-2, TinyLlama), added and special tokens (split out of the text
//!   before anything else), merges written `"a b"` or `["a", "b"]`. The special-token ids
//!   come from the `tokenizer_config.json` beside it, when there is one;
//! - GPT-2's own `encoder.json` + `vocab.bpe` ([`Tokenizer::from_gpt2_files`]);
//! - the vocabulary a GGUF file carries under `tokenizer.ggml.*`, given as plain values in a
//!   [`GgufVocab`] ([`Tokenizer::from_gguf_vocab`], in `gguf.rs`): the `pre` name picks the
//!   pre-tokenizer that the model's own `tokenizer.json` has, as llama.cpp maps it.
//!
//! [`TextStream`] (`stream.rs`) turns ids into text one at a time, holding back a token
//! that ends in the middle of a UTF-8 character until the next one completes it.
//!
//! ```no_run
//! use shapecheck::text::Tokenizer;
//! let tok = Tokenizer::from_file("models/tokenizers/qwen3/tokenizer.json")?;
//! let ids = tok.encode("Hello, world!", false)?;
//! assert_eq!(tok.decode(&ids)?, "Hello, world!");
//! let mut stream = tok.stream();
//! let mut text = String::new();
//! for &id in &ids {
//!     if let Some(piece) = stream.next(id)? {
//!         text.push_str(&piece);
//!     }
//! }
//! text.push_str(&stream.finish()?);
//! assert_eq!(text, "Hello, world!");
//! # Ok::<(), shapecheck::text::TokenizerError>(())
//! ```

mod error;
mod gguf;
mod stream;

use std::path::Path;

use serde_json::Value;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::AddedToken;

pub use error::TokenizerError;
pub use gguf::{GgufVocab, TokenType};
pub use stream::TextStream;

/// The ids of the special tokens a model's generation loop uses, where the tokenizer's
/// files name them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpecialIds {
    /// Beginning of sequence.
    pub bos: Option<u32>,
    /// End of sequence (generation stops there).
    pub eos: Option<u32>,
    /// Padding.
    pub pad: Option<u32>,
    /// Unknown token.
    pub unk: Option<u32>,
}

/// A BPE tokenizer for an LLM: text ↔ ids as Hugging Face's `tokenizers` computes them.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    special: SpecialIds,
    /// Ids below this are the model's vocabulary and added tokens; `decode` refuses others.
    vocab_size: u32,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.vocab_size)
            .field("special", &self.special)
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// Loads a Hugging Face `tokenizer.json`, and the special tokens (`bos_token`,
    /// `eos_token`, `pad_token`, `unk_token`) from the `tokenizer_config.json` in the same
    /// directory if there is one (without it, [`special_ids`](Self::special_ids) knows only
    /// the model's unknown token).
    ///
    /// # Errors
    /// [`TokenizerError::Io`] if a file cannot be read, [`TokenizerError::Malformed`] (naming
    /// the file) if it is not a tokenizer the crate can build, or if the config names a
    /// special token the vocabulary lacks.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, TokenizerError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| TokenizerError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut tok = Self::from_json_bytes(&bytes, &path.display().to_string())?;
        let config = path.with_file_name("tokenizer_config.json");
        if config.is_file() {
            tok.special = tok.special_from_config(&config)?;
        }
        Ok(tok)
    }

    /// Builds a tokenizer from the bytes of a `tokenizer.json`; `name` says where they came
    /// from in error messages. Only the unknown token is known as a special id; set the others
    /// with [`with_special_ids`](Self::with_special_ids).
    ///
    /// # Errors
    /// [`TokenizerError::Malformed`] naming `name` if the JSON is not a tokenizer.
    pub fn from_json_bytes(bytes: &[u8], name: &str) -> Result<Self, TokenizerError> {
        let malformed = |message: String| TokenizerError::Malformed {
            source_name: name.to_string(),
            message,
        };
        // tokenizers 0.23 panics on some malformed files instead of returning its error (a
        // merge whose result is longer than every token: huggingface/tokenizers#2094). A
        // file must not be able to panic the caller, so such a panic becomes this error.
        let inner = std::panic::catch_unwind(|| tokenizers::Tokenizer::from_bytes(bytes))
            .map_err(|panic| {
                let what = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("a panic");
                malformed(format!("the tokenizers crate failed on it ({what})"))
            })?
            .map_err(|e| malformed(e.to_string()))?;
        Self::wrap(inner, name)
    }

    /// GPT-2's BPE from the files OpenAI published: `encoder.json` (token → id) and
    /// `vocab.bpe` (the merges, one `a b` per line after a `#version` line). The
    /// pre-tokenizer is GPT-2's byte-level regex, and `<|endoftext|>` (which must be in the
    /// vocabulary) is the special token and the bos, eos and pad id, as GPT-2 uses it.
    ///
    /// # Errors
    /// [`TokenizerError::Malformed`] naming the files if they do not make a BPE.
    pub fn from_gpt2_files(
        encoder_json: impl AsRef<Path>,
        vocab_bpe: impl AsRef<Path>,
    ) -> Result<Self, TokenizerError> {
        let (enc, merges) = (encoder_json.as_ref(), vocab_bpe.as_ref());
        let name = format!("{} + {}", enc.display(), merges.display());
        for p in [enc, merges] {
            if let Err(source) = std::fs::metadata(p) {
                return Err(TokenizerError::Io {
                    path: p.to_path_buf(),
                    source,
                });
            }
        }
        let malformed = |message: String| TokenizerError::Malformed {
            source_name: name.clone(),
            message,
        };
        let (Some(enc_s), Some(merges_s)) = (enc.to_str(), merges.to_str()) else {
            return Err(malformed("the paths are not UTF-8".into()));
        };
        let bpe = BPE::from_file(enc_s, merges_s)
            .build()
            .map_err(|e| malformed(e.to_string()))?;
        let mut inner = tokenizers::Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
        inner.with_decoder(Some(ByteLevelDecoder::default()));
        const EOT: &str = "<|endoftext|>";
        inner
            .add_special_tokens([AddedToken::from(EOT, true)])
            .map_err(|e| malformed(e.to_string()))?;
        let mut tok = Self::wrap(inner, &name)?;
        let eot = tok
            .token_to_id(EOT)
            .ok_or_else(|| malformed(format!("the vocabulary has no {EOT} token")))?;
        tok.special = SpecialIds {
            bos: Some(eot),
            eos: Some(eot),
            pad: Some(eot),
            unk: None,
        };
        Ok(tok)
    }

    fn wrap(inner: tokenizers::Tokenizer, name: &str) -> Result<Self, TokenizerError> {
        let size = inner.get_vocab_size(true);
        // Added tokens may sit at ids beyond the model's vocabulary, so the bound is the
        // largest id + 1, not the count.
        let max_added = inner.get_added_tokens_decoder().keys().copied().max();
        let bound = max_added.map_or(size, |m| size.max(m as usize + 1));
        let vocab_size = u32::try_from(bound).map_err(|_| TokenizerError::Malformed {
            source_name: name.to_string(),
            message: format!("{bound} tokens do not fit u32 ids"),
        })?;
        let unk = unk_token(&inner).and_then(|t| inner.token_to_id(&t));
        Ok(Self {
            inner,
            special: SpecialIds {
                unk,
                ..SpecialIds::default()
            },
            vocab_size,
        })
    }

    fn special_from_config(&self, config: &Path) -> Result<SpecialIds, TokenizerError> {
        let name = config.display().to_string();
        let text = std::fs::read_to_string(config).map_err(|source| TokenizerError::Io {
            path: config.to_path_buf(),
            source,
        })?;
        let json: Value = serde_json::from_str(&text).map_err(|e| TokenizerError::Malformed {
            source_name: name.clone(),
            message: e.to_string(),
        })?;
        let lookup = |key: &str| -> Result<Option<u32>, TokenizerError> {
            // A token is written as a string or as {"content": "...", ...}; null means none.
            let token = match json.get(key) {
                None | Some(Value::Null) => return Ok(None),
                Some(Value::String(s)) => s.as_str(),
                Some(Value::Object(o)) => match o.get("content") {
                    Some(Value::String(s)) => s.as_str(),
                    _ => {
                        return Err(TokenizerError::Malformed {
                            source_name: name.clone(),
                            message: format!("`{key}` has no string `content`"),
                        })
                    }
                },
                Some(other) => {
                    return Err(TokenizerError::Malformed {
                        source_name: name.clone(),
                        message: format!("`{key}` is {other}, not a token"),
                    })
                }
            };
            match self.token_to_id(token) {
                Some(id) => Ok(Some(id)),
                None => Err(TokenizerError::Malformed {
                    source_name: name.clone(),
                    message: format!("`{key}` is {token:?}, which is not in the vocabulary"),
                }),
            }
        };
        Ok(SpecialIds {
            bos: lookup("bos_token")?,
            eos: lookup("eos_token")?,
            pad: lookup("pad_token")?,
            unk: lookup("unk_token")?.or(self.special.unk),
        })
    }

    /// The same tokenizer with these special ids.
    ///
    /// # Errors
    /// [`TokenizerError::UnknownId`] if an id is not in the vocabulary.
    pub fn with_special_ids(mut self, special: SpecialIds) -> Result<Self, TokenizerError> {
        for id in [special.bos, special.eos, special.pad, special.unk]
            .into_iter()
            .flatten()
        {
            self.check_id(id)?;
        }
        self.special = special;
        Ok(self)
    }

    /// The ids of the text. Added and special tokens written in the text (`<|im_start|>`) are
    /// their own ids; `add_special` frames the ids as the tokenizer's post-processor says (a
    /// bos for Llama-2, nothing for Qwen).
    ///
    /// # Errors
    /// [`TokenizerError::Encode`] if the tokenizer cannot encode the text (a BPE without
    /// byte fallback or unknown token meeting a character its vocabulary lacks).
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>, TokenizerError> {
        let enc =
            self.inner
                .encode_fast(text, add_special)
                .map_err(|e| TokenizerError::Encode {
                    message: e.to_string(),
                })?;
        Ok(enc.get_ids().to_vec())
    }

    /// The text of the ids, special tokens included (so `decode(encode(x))` is `x` for a
    /// lossless tokenizer).
    ///
    /// # Errors
    /// [`TokenizerError::UnknownId`] if an id is not in the vocabulary (the crate would skip
    /// it silently).
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        self.decode_with(ids, false)
    }

    /// The text of the ids with special tokens left out.
    ///
    /// # Errors
    /// As [`decode`](Self::decode).
    pub fn decode_skip_special(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        self.decode_with(ids, true)
    }

    fn decode_with(&self, ids: &[u32], skip_special: bool) -> Result<String, TokenizerError> {
        for &id in ids {
            self.check_id(id)?;
        }
        self.inner
            .decode(ids, skip_special)
            .map_err(|e| TokenizerError::Decode {
                message: e.to_string(),
            })
    }

    fn check_id(&self, id: u32) -> Result<(), TokenizerError> {
        if id < self.vocab_size && self.inner.id_to_token(id).is_some() {
            Ok(())
        } else {
            Err(TokenizerError::UnknownId {
                id,
                vocab_size: self.vocab_size,
            })
        }
    }

    /// A streaming decoder: feed it ids one at a time, get text as soon as it is whole UTF-8.
    pub fn stream(&self) -> TextStream<'_> {
        TextStream::new(self, false)
    }

    /// A streaming decoder that leaves special tokens out of the text.
    pub fn stream_skip_special(&self) -> TextStream<'_> {
        TextStream::new(self, true)
    }

    /// The id of a token (its vocabulary string, e.g. `"Ġthe"` or `"▁the"`), if it has one.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The vocabulary string of an id, if it is one.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Ids run from 0 to this bound (exclusive): the model's vocabulary and added tokens.
    pub fn vocab_size(&self) -> u32 {
        self.vocab_size
    }

    /// Whether the id is a special (added, control) token such as `<|im_end|>`.
    pub fn is_special(&self, id: u32) -> bool {
        self.inner
            .get_added_tokens_decoder()
            .get(&id)
            .is_some_and(|t| t.special)
    }

    /// The special-token ids the tokenizer's files name.
    pub fn special_ids(&self) -> SpecialIds {
        self.special
    }

    /// Beginning-of-sequence id, if known.
    pub fn bos_id(&self) -> Option<u32> {
        self.special.bos
    }

    /// End-of-sequence id, if known.
    pub fn eos_id(&self) -> Option<u32> {
        self.special.eos
    }

    /// Padding id, if known.
    pub fn pad_id(&self) -> Option<u32> {
        self.special.pad
    }

    /// The wrapped `tokenizers` tokenizer, for what this wrapper does not cover.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

fn unk_token(inner: &tokenizers::Tokenizer) -> Option<String> {
    match inner.get_model() {
        tokenizers::ModelWrapper::BPE(bpe) => bpe.unk_token.clone(),
        tokenizers::ModelWrapper::WordPiece(wp) => Some(wp.unk_token.clone()),
        tokenizers::ModelWrapper::WordLevel(wl) => Some(wl.unk_token.clone()),
        tokenizers::ModelWrapper::Unigram(_) => None,
    }
}
