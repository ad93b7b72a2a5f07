//! The WordPiece model: a vocab file, greedy longest-match-first segmentation of each word,
//! and BERT's `[CLS] … [SEP]` framing with truncation.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::normalize::{normalize_into, pre_tokenize};

/// The prefix of a piece that continues a word.
const CONTINUATION: &str = "##";

/// Words of more characters than this become a single `[UNK]` (Hugging Face's
/// `max_input_chars_per_word`).
pub const MAX_INPUT_CHARS_PER_WORD: usize = 100;

/// The special tokens a BERT vocab must hold.
const REQUIRED: [&str; 4] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"];

/// Special tokens recognised verbatim in the input text, before normalisation, as Hugging
/// Face does for the tokens it registers as added special tokens.
const SPECIALS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// A vocab that cannot make a BERT WordPiece tokenizer.
#[derive(Debug)]
#[non_exhaustive]
pub enum VocabError {
    /// The vocab file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The vocab file is not UTF-8.
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// The 1-based line holding the first invalid byte.
        line: usize,
    },
    /// A special token the tokenizer needs is not in the vocab.
    MissingToken {
        /// `"[PAD]"`, `"[UNK]"`, `"[CLS]"` or `"[SEP]"`.
        token: &'static str,
    },
    /// Two lines hold the same token, so it would have two ids.
    DuplicateToken {
        /// The token.
        token: String,
        /// The 1-based line where it first appears (its id is `first_line - 1`).
        first_line: usize,
        /// The 1-based line that repeats it.
        line: usize,
    },
    /// More lines than `u32` ids can number.
    TooLarge {
        /// Number of lines.
        lines: usize,
    },
}

impl fmt::Display for VocabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VocabError::Io { path, source } => {
                write!(f, "cannot read the vocab file {}: {source}", path.display())
            }
            VocabError::NotUtf8 { path, line } => write!(
                f,
                "the vocab file {} is not UTF-8 text (invalid bytes on line {line})",
                path.display()
            ),
            VocabError::MissingToken { token } => write!(
                f,
                "the vocab has no {token} token; a BERT WordPiece vocab needs [PAD], [UNK], \
                 [CLS] and [SEP], one token per line"
            ),
            VocabError::DuplicateToken {
                token,
                first_line,
                line,
            } => write!(
                f,
                "vocab line {line} repeats the token {token:?} of line {first_line}; each line \
                 must hold a distinct token (its id is the line number − 1)"
            ),
            VocabError::TooLarge { lines } => write!(
                f,
                "the vocab has {lines} lines, more than u32 token ids can number"
            ),
        }
    }
}

impl std::error::Error for VocabError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            VocabError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A BERT (uncased) WordPiece tokenizer: Hugging Face's `BertNormalizer` (lowercase, strip
/// accents), `BertPreTokenizer` and `WordPiece` model, with `[CLS] … [SEP]` framing.
///
/// The vocab is the usual `vocab.txt`: one token per line, the id of a token is its line
/// number counted from 0, and a token that continues a word starts with `##`.
///
/// ```
/// use shapecheck::text::WordPiece;
/// let vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\nun\n##aff\n##able\ncafe\n,\n";
/// let wp = WordPiece::from_vocab(vocab).unwrap();
/// assert_eq!(wp.tokenize("The unaffable, Café"), ["the", "un", "##aff", "##able", ",", "cafe"]);
/// assert_eq!(wp.encode("The unaffable!", 16), [2, 4, 5, 6, 7, 1, 3]); // `!` is not in the vocab
/// assert_eq!(wp.encode("The unaffable!", 4), [2, 4, 5, 3]);           // truncated to 4 ids
/// ```
///
/// A vocab without the special tokens is an error:
///
/// ```
/// use shapecheck::text::WordPiece;
/// let err = WordPiece::from_vocab("[PAD]\n[UNK]\nthe\n").unwrap_err();
/// assert!(err.to_string().starts_with("the vocab has no [CLS] token"));
/// ```
///
/// The special tokens `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]` and `[MASK]` (when the vocab has
/// it) are recognised when they appear verbatim in the input, as Hugging Face's tokenizer
/// does: `"a [MASK] b"` gives `a`, `[MASK]`, `b`.
#[derive(Clone)]
pub struct WordPiece {
    vocab: HashMap<String, u32>,
    tokens: Vec<String>,
    /// Specials present in the vocab, longest first, matched in the raw text.
    specials: Vec<(&'static str, u32)>,
    pad: u32,
    unk: u32,
    cls: u32,
    sep: u32,
}

impl fmt::Debug for WordPiece {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WordPiece")
            .field("vocab_size", &self.vocab_size())
            .field("pad", &self.pad)
            .field("unk", &self.unk)
            .field("cls", &self.cls)
            .field("sep", &self.sep)
            .finish()
    }
}

/// A stretch of the input: text to normalise and split, or a special token found verbatim.
enum Segment<'t> {
    Text(&'t str),
    Special(u32),
}

impl WordPiece {
    /// Reads a `vocab.txt`: one token per line, id = line number (from 0).
    ///
    /// Errors name the file: it cannot be read, it is not UTF-8, or its tokens break a rule
    /// of [`from_vocab`](Self::from_vocab).
    pub fn from_vocab_file(path: impl AsRef<Path>) -> Result<Self, VocabError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| VocabError::Io {
            path: path.to_owned(),
            source,
        })?;
        let text = std::str::from_utf8(&bytes).map_err(|e| VocabError::NotUtf8 {
            path: path.to_owned(),
            line: 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
        })?;
        Self::from_vocab(text)
    }

    /// Builds the tokenizer from the text of a vocab: one token per line (`\n` or `\r\n`;
    /// trailing whitespace is trimmed, as Hugging Face does), id = line number (from 0).
    ///
    /// `Err` when `[PAD]`, `[UNK]`, `[CLS]` or `[SEP]` is missing, or when a token appears on
    /// two lines.
    pub fn from_vocab(text: &str) -> Result<Self, VocabError> {
        let mut vocab = HashMap::new();
        let mut tokens = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let token = line.trim_end();
            let id = u32::try_from(index).map_err(|_| VocabError::TooLarge {
                lines: text.lines().count(),
            })?;
            if let Some(&first) = vocab.get(token) {
                return Err(VocabError::DuplicateToken {
                    token: token.to_owned(),
                    first_line: first as usize + 1,
                    line: index + 1,
                });
            }
            vocab.insert(token.to_owned(), id);
            tokens.push(token.to_owned());
        }
        let required = |token: &'static str| {
            vocab
                .get(token)
                .copied()
                .ok_or(VocabError::MissingToken { token })
        };
        let (pad, unk, cls, sep) = (
            required(REQUIRED[0])?,
            required(REQUIRED[1])?,
            required(REQUIRED[2])?,
            required(REQUIRED[3])?,
        );
        let mut specials: Vec<(&'static str, u32)> = SPECIALS
            .iter()
            .filter_map(|&s| Some((s, *vocab.get(s)?)))
            .collect();
        specials.sort_by_key(|(s, _)| core::cmp::Reverse(s.len()));
        Ok(WordPiece {
            vocab,
            tokens,
            specials,
            pad,
            unk,
            cls,
            sep,
        })
    }

    /// The word pieces of `text`, without `[CLS]` and `[SEP]`.
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        let mut ids = Vec::new();
        self.pieces(text, usize::MAX, &mut ids);
        ids.iter()
            .map(|&id| self.tokens[id as usize].clone())
            .collect()
    }

    /// `[CLS]`, the ids of the pieces of `text`, `[SEP]`: at most `max_len` ids, the pieces
    /// past `max_len − 2` dropped (sentence-transformers' all-MiniLM-L6-v2 uses 256; the
    /// BERT position table holds 512). A `max_len` below 2 keeps the first `max_len` ids of
    /// `[CLS] [SEP]`.
    pub fn encode(&self, text: &str, max_len: usize) -> Vec<u32> {
        let budget = max_len.saturating_sub(2);
        let mut ids = vec![self.cls];
        self.pieces(text, budget, &mut ids);
        ids.truncate(1 + budget);
        ids.push(self.sep);
        ids.truncate(max_len);
        ids
    }

    /// Number of ids: the number of lines of the vocab.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The id of a token, as written in the vocab (`"##able"`, `"[CLS]"`).
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.vocab.get(token).copied()
    }

    /// The token of an id.
    pub fn id_token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// The id of `[PAD]`, which padding fills a batch with (and the attention mask hides).
    pub fn pad_id(&self) -> u32 {
        self.pad
    }

    /// The id of `[UNK]`.
    pub fn unk_id(&self) -> u32 {
        self.unk
    }

    /// The id of `[CLS]`, which opens every encoded sequence.
    pub fn cls_id(&self) -> u32 {
        self.cls
    }

    /// The id of `[SEP]`, which closes every encoded sequence.
    pub fn sep_id(&self) -> u32 {
        self.sep
    }

    /// Appends the piece ids of `text` to `out`, and stops at the first word boundary after
    /// `out` has grown by `limit` ids (the caller truncates).
    fn pieces(&self, text: &str, limit: usize, out: &mut Vec<u32>) {
        let stop = out.len().saturating_add(limit);
        let mut normalized = String::new();
        let mut buf = String::new();
        self.segments(text, |segment| {
            if out.len() >= stop {
                return;
            }
            match segment {
                Segment::Special(id) => out.push(id),
                Segment::Text(t) => {
                    normalized.clear();
                    normalize_into(t, &mut normalized);
                    pre_tokenize(&normalized, |word| {
                        if out.len() < stop {
                            self.word(word, &mut buf, out);
                        }
                    });
                }
            }
        });
    }

    /// Splits `text` at the special tokens found verbatim in it (leftmost, then longest).
    fn segments<'t>(&self, text: &'t str, mut f: impl FnMut(Segment<'t>)) {
        let mut last = 0;
        let mut from = 0;
        // Every special token starts with '['.
        while let Some(pos) = text[from..].find('[') {
            let at = from + pos;
            let rest = &text[at..];
            match self.specials.iter().find(|(s, _)| rest.starts_with(s)) {
                Some(&(s, id)) => {
                    if at > last {
                        f(Segment::Text(&text[last..at]));
                    }
                    f(Segment::Special(id));
                    last = at + s.len();
                    from = last;
                }
                None => from = at + 1,
            }
        }
        if last < text.len() {
            f(Segment::Text(&text[last..]));
        }
    }

    /// Greedy longest-match-first segmentation of one word; `[UNK]` for the whole word if
    /// it is longer than [`MAX_INPUT_CHARS_PER_WORD`] or some part of it matches no piece.
    fn word(&self, word: &str, buf: &mut String, out: &mut Vec<u32>) {
        if word.chars().count() > MAX_INPUT_CHARS_PER_WORD {
            out.push(self.unk);
            return;
        }
        let first = out.len();
        let mut start = 0;
        while start < word.len() {
            let mut end = word.len();
            let found = loop {
                let piece = &word[start..end];
                let id = if start == 0 {
                    self.vocab.get(piece)
                } else {
                    buf.clear();
                    buf.push_str(CONTINUATION);
                    buf.push_str(piece);
                    self.vocab.get(buf.as_str())
                };
                if let Some(&id) = id {
                    break Some(id);
                }
                // Drop the last character and try the shorter prefix.
                end -= piece.chars().next_back().map_or(1, char::len_utf8);
                if end == start {
                    break None;
                }
            };
            match found {
                Some(id) => {
                    out.push(id);
                    start = end;
                }
                None => {
                    out.truncate(first);
                    out.push(self.unk);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VOCAB: &str = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nab\nabc\n##c\n##d\n##cd\nb\n";

    #[test]
    fn specials_split_the_raw_text() {
        let wp = WordPiece::from_vocab(VOCAB).unwrap();
        let mut seen = Vec::new();
        wp.segments("ab[MASK][SEP[UNK]", |s| {
            seen.push(match s {
                Segment::Text(t) => t.to_owned(),
                Segment::Special(id) => format!("<{id}>"),
            })
        });
        assert_eq!(seen, ["ab", "<4>", "[SEP", "<1>"]);
        // Lowercase or spaced-out specials are ordinary text.
        assert_eq!(wp.tokenize("[mask]"), ["[UNK]", "[UNK]", "[UNK]"]);
    }

    #[test]
    fn encode_stops_early_on_long_text() {
        let wp = WordPiece::from_vocab(VOCAB).unwrap();
        let text = "ab ".repeat(10_000);
        let ids = wp.encode(&text, 5);
        assert_eq!(ids, [2, 6, 6, 6, 3]);
    }
}
