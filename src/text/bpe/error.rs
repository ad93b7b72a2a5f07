//! What can go wrong loading or running a BPE tokenizer.

use std::fmt;
use std::path::PathBuf;

/// A tokenizer that cannot be loaded, or ids or text it cannot handle.
#[derive(Debug)]
#[non_exhaustive]
pub enum TokenizerError {
    /// A file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A tokenizer file (or bytes from one) that does not describe a tokenizer.
    Malformed {
        /// The file (or where the bytes came from).
        source_name: String,
        /// What is wrong, as the `tokenizers` crate or this wrapper says.
        message: String,
    },
    /// A GGUF vocabulary field that is missing, inconsistent or unsupported.
    GgufVocab {
        /// The GGUF key, e.g. `tokenizer.ggml.merges`.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// An id that is not in the vocabulary.
    UnknownId {
        /// The id.
        id: u32,
        /// Ids run from 0 to this (exclusive).
        vocab_size: u32,
    },
    /// The text could not be encoded.
    Encode {
        /// What the `tokenizers` crate said.
        message: String,
    },
    /// The ids could not be decoded.
    Decode {
        /// What the `tokenizers` crate said.
        message: String,
    },
}

impl fmt::Display for TokenizerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenizerError::Io { path, source } => {
                write!(
                    f,
                    "cannot read the tokenizer file {}: {source}",
                    path.display()
                )
            }
            TokenizerError::Malformed {
                source_name,
                message,
            } => write!(f, "{source_name} is not a usable tokenizer: {message}"),
            TokenizerError::GgufVocab { field, message } => {
                write!(
                    f,
                    "the GGUF tokenizer cannot be built from {field}: {message}"
                )
            }
            TokenizerError::UnknownId { id, vocab_size } => write!(
                f,
                "token id {id} is not in the vocabulary (ids run from 0 to {})",
                vocab_size.saturating_sub(1)
            ),
            TokenizerError::Encode { message } => write!(f, "cannot encode the text: {message}"),
            TokenizerError::Decode { message } => write!(f, "cannot decode the ids: {message}"),
        }
    }
}

impl std::error::Error for TokenizerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TokenizerError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
