//! Text tokenisation for the models: a BERT WordPiece tokenizer, and (feature `llm`, on by
//! default) the BPE tokenizers of LLMs.
//!
//! [`Tokenizer`] (in `bpe/`) wraps Hugging Face's `tokenizers` crate: a `tokenizer.json`,
//! GPT-2's `encoder.json` + `vocab.bpe`, or the vocabulary of a GGUF file ([`GgufVocab`])
//! become the same tokenizer, with a streaming decoder ([`TextStream`]) for generation.
//!
//! [`WordPiece`] turns text into the ids a BERT-family encoder (such as
//! sentence-transformers' all-MiniLM-L6-v2) takes, with the same ids as Hugging Face's
//! `tokenizers` for an uncased BERT `tokenizer.json`. The pieces, in the order they run:
//!
//! 1. special tokens (`[CLS]`, `[SEP]`, `[MASK]`, …) written verbatim in the text are kept
//!    whole;
//! 2. the rest is normalised (`normalize.rs`): control characters dropped, whitespace made
//!    spaces, spaces put around CJK ideographs, accents stripped (NFD, then the nonspacing
//!    marks dropped), lowercased;
//! 3. split into words at whitespace and at each punctuation character (`normalize.rs`);
//! 4. each word split into the longest pieces the vocab holds, left to right, `##` marking a
//!    piece that continues a word; a word that cannot be split, or of more than
//!    [`MAX_INPUT_CHARS_PER_WORD`] characters, becomes `[UNK]` (`wordpiece.rs`);
//! 5. [`WordPiece::encode`] frames the ids with `[CLS]` and `[SEP]` and truncates.
//!
//! ```no_run
//! use shapecheck::text::WordPiece;
//! let wp = WordPiece::from_vocab_file("models/all-MiniLM-L6-v2/vocab.txt")?;
//! let ids = wp.encode("The cat sat quietly on the warm windowsill.", 256);
//! assert_eq!(ids, [101, 1996, 4937, 2938, 5168, 2006, 1996, 4010, 3645, 8591, 1012, 102]);
//! # Ok::<(), shapecheck::text::VocabError>(())
//! ```

#[cfg(feature = "llm")]
mod bpe;
mod normalize;
mod wordpiece;

#[cfg(feature = "llm")]
pub use bpe::{GgufVocab, SpecialIds, TextStream, TokenType, Tokenizer, TokenizerError};
pub use wordpiece::{VocabError, WordPiece, MAX_INPUT_CHARS_PER_WORD};
