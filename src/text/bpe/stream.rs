//! Streaming decoding: ids in one at a time, text out only when it is whole UTF-8.
//!
//! A byte-level BPE token is a run of bytes, and a character of several bytes (an emoji, a
//! CJK ideograph) can be split over two or three tokens; so can a SentencePiece byte-fallback
//! sequence (`<0xF0><0x9F>…`). Decoding each token alone would print replacement characters.
//! The stream decodes a short window of ids twice — the tokens already printed (`prefix`)
//! and the same tokens plus the new ones — and prints the difference once the longer text
//! no longer ends in U+FFFD (the mark of an incomplete sequence). Decoding the printed tokens
//! again as context keeps spacing right where a decoder treats the first token of a text
//! specially (SentencePiece's leading space).

use super::{Tokenizer, TokenizerError};

/// A streaming decoder over a [`Tokenizer`]; see [`Tokenizer::stream`].
#[derive(Debug, Clone)]
pub struct TextStream<'t> {
    tok: &'t Tokenizer,
    skip_special: bool,
    /// The ids from the start of the context window on.
    ids: Vec<u32>,
    /// `ids[..read]` has been printed; `ids[read..]` waits for a complete character.
    read: usize,
}

impl<'t> TextStream<'t> {
    pub(super) fn new(tok: &'t Tokenizer, skip_special: bool) -> Self {
        Self {
            tok,
            skip_special,
            ids: Vec::new(),
            read: 0,
        }
    }

    fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        if self.skip_special {
            self.tok.decode_skip_special(ids)
        } else {
            self.tok.decode(ids)
        }
    }

    /// Takes the next id; returns the text it completes, or `None` while the pending tokens
    /// end in the middle of a character (or add no text, like a skipped special token).
    ///
    /// # Errors
    /// [`TokenizerError::UnknownId`] for an id not in the vocabulary (the stream is unchanged).
    pub fn next(&mut self, id: u32) -> Result<Option<String>, TokenizerError> {
        self.tok.check_id(id)?;
        self.ids.push(id);
        let printed = self.decode(&self.ids[..self.read])?;
        let all = self.decode(&self.ids)?;
        if all.len() > printed.len() && !all.ends_with('\u{FFFD}') {
            // The printed text is a prefix of the longer one for the decoders of BPE
            // tokenizers; were it not, print the whole window rather than cut a character.
            let text = all.get(printed.len()..).unwrap_or(&all).to_string();
            // Keep the tokens just printed as the next window's context.
            self.ids.drain(..self.read);
            self.read = self.ids.len();
            Ok(Some(text))
        } else {
            Ok(None)
        }
    }

    /// The text still held back (a character left incomplete shows as U+FFFD), and the end
    /// of the stream.
    ///
    /// # Errors
    /// As [`Tokenizer::decode`].
    pub fn finish(self) -> Result<String, TokenizerError> {
        let printed = self.decode(&self.ids[..self.read])?;
        let all = self.decode(&self.ids)?;
        Ok(match all.strip_prefix(printed.as_str()) {
            Some(rest) => rest.to_string(),
            None => all,
        })
    }
}
