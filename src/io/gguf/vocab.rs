//! [`Gguf::vocab`]: the tokenizer a GGUF file carries (`tokenizer.ggml.*`), read from its
//! metadata into the [`GgufVocab`] that [`Tokenizer::from_gguf_vocab`] builds from.
//!
//! [`Tokenizer::from_gguf_vocab`]: crate::text::Tokenizer::from_gguf_vocab

use super::Gguf;
use crate::io::LoadError;
use crate::text::GgufVocab;

impl Gguf {
    /// The tokenizer vocabulary of the file's `tokenizer.ggml.*` metadata: `model` (a
    /// `STRING`) and `tokens` (an `ARRAY of STRING`) are required; `pre`, `token_type`
    /// (`ARRAY of INT32`), `merges` (`ARRAY of STRING`), `scores` (`ARRAY of FLOAT32`), the
    /// special ids (`bos_token_id`, `eos_token_id`, `padding_token_id`,
    /// `unknown_token_id`: non-negative integers of any GGUF type that fit `u32`) and the
    /// `add_bos_token` / `add_eos_token` / `add_space_prefix` flags (`BOOL`) are read when
    /// present.
    ///
    /// `Err` ([`LoadError::MissingKey`] or [`LoadError::KeyType`]) naming the key that is
    /// missing or of another type. What the values mean (unknown `model` or `pre`, ids
    /// beyond the vocabulary, lengths that disagree) is checked by
    /// [`Tokenizer::from_gguf_vocab`](crate::text::Tokenizer::from_gguf_vocab).
    ///
    /// ```
    /// use shapecheck::io::Gguf;
    /// use shapecheck::text::Tokenizer;
    ///
    /// // A GGUF v3 file with a byte-level vocabulary of 4 tokens and 1 merge, no tensors.
    /// fn string(out: &mut Vec<u8>, s: &str) {
    ///     out.extend((s.len() as u64).to_le_bytes());
    ///     out.extend(s.as_bytes());
    /// }
    /// let mut bytes = b"GGUF".to_vec();
    /// bytes.extend(3u32.to_le_bytes());
    /// bytes.extend(0u64.to_le_bytes()); // tensors
    /// bytes.extend(4u64.to_le_bytes()); // metadata entries
    /// string(&mut bytes, "tokenizer.ggml.model");
    /// bytes.extend(8u32.to_le_bytes()); // STRING
    /// string(&mut bytes, "gpt2");
    /// string(&mut bytes, "tokenizer.ggml.pre");
    /// bytes.extend(8u32.to_le_bytes());
    /// string(&mut bytes, "gpt-2");
    /// string(&mut bytes, "tokenizer.ggml.tokens");
    /// bytes.extend(9u32.to_le_bytes()); // ARRAY
    /// bytes.extend(8u32.to_le_bytes()); // of STRING
    /// bytes.extend(4u64.to_le_bytes());
    /// for t in ["h", "i", "hi", "Ġ"] {
    ///     string(&mut bytes, t);
    /// }
    /// string(&mut bytes, "tokenizer.ggml.merges");
    /// bytes.extend(9u32.to_le_bytes());
    /// bytes.extend(8u32.to_le_bytes());
    /// bytes.extend(1u64.to_le_bytes());
    /// string(&mut bytes, "h i");
    ///
    /// let file = Gguf::from_bytes(bytes)?;
    /// let vocab = file.vocab()?;
    /// assert_eq!(vocab.tokens, ["h", "i", "hi", "Ġ"]);
    /// let tok = Tokenizer::from_gguf_vocab(&vocab)?;
    /// assert_eq!(tok.encode("hi", false)?, [2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn vocab(&self) -> Result<GgufVocab, LoadError> {
        let meta = self.metadata();
        let key = |name: &str| format!("tokenizer.ggml.{name}");
        let id = |name: &str| -> Result<Option<u32>, LoadError> {
            let k = key(name);
            if !meta.contains(&k) {
                return Ok(None);
            }
            let value = meta.get_usize(&k)?;
            u32::try_from(value)
                .map(Some)
                .map_err(|_| LoadError::KeyType {
                    key: k,
                    expected: "a non-negative integer that fits u32".to_owned(),
                    found: value.to_string(),
                })
        };
        Ok(GgufVocab {
            model: meta.get_str(&key("model"))?.to_owned(),
            pre: meta.get_opt::<&str>(&key("pre"))?.map(str::to_owned),
            tokens: meta.get_str_array(&key("tokens"))?.to_vec(),
            token_types: meta
                .get_opt::<&[i32]>(&key("token_type"))?
                .map(<[i32]>::to_vec)
                .unwrap_or_default(),
            merges: meta
                .get_opt::<&[String]>(&key("merges"))?
                .map(<[String]>::to_vec)
                .unwrap_or_default(),
            scores: meta
                .get_opt::<&[f32]>(&key("scores"))?
                .map(<[f32]>::to_vec)
                .unwrap_or_default(),
            bos_id: id("bos_token_id")?,
            eos_id: id("eos_token_id")?,
            pad_id: id("padding_token_id")?,
            unk_id: id("unknown_token_id")?,
            add_bos: meta.get_opt::<bool>(&key("add_bos_token"))?,
            add_eos: meta.get_opt::<bool>(&key("add_eos_token"))?,
            add_space_prefix: meta.get_opt::<bool>(&key("add_space_prefix"))?,
        })
    }
}
