//! [`ModelError`]: why a model could not be loaded or could not run on an input.

use core::fmt;
use std::path::PathBuf;

use crate::error::ShapeError;
use crate::io::LoadError;
use crate::text::VocabError;

/// Why a model could not be loaded from its directory, or could not encode an input.
#[derive(Debug)]
#[non_exhaustive]
pub enum ModelError {
    /// The vocab file could not be read or parsed.
    Vocab(VocabError),
    /// The weights file could not be read, or one of its tensors has another dtype or shape
    /// than the model's type says.
    Weights(LoadError),
    /// `config.json` could not be read or is not a JSON object.
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// A field of `config.json` disagrees with the model's type.
    Config {
        /// The file.
        path: PathBuf,
        /// The field, as `config.json` spells it (`hidden_size`).
        field: &'static str,
        /// The value the type was built for.
        expected: String,
        /// The value in the file (`missing` when the field is absent).
        found: String,
    },
    /// A field of `config.json` is missing, of the wrong type, or breaks a rule of the
    /// architecture (for a checkpoint whose sizes are read from the file).
    InvalidConfig {
        /// The file.
        path: PathBuf,
        /// The field, as `config.json` spells it (`num_key_value_heads`).
        field: &'static str,
        /// The value in the file (`missing` when the field is absent).
        found: String,
        /// What it must be (`a divisor of num_attention_heads (9)`).
        rule: String,
    },
    /// A sequence has more tokens than the model has positions.
    TooLong {
        /// The tokens of the sequence.
        tokens: usize,
        /// The positions of the model.
        positions: usize,
    },
    /// A shape disagreed at run time inside the model (a token id out of the vocab).
    Shape(ShapeError),
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::Vocab(e) => e.fmt(f),
            ModelError::Weights(e) => e.fmt(f),
            ModelError::ConfigFile { path, detail } => {
                write!(f, "cannot read the config {}: {detail}", path.display())
            }
            ModelError::Config {
                path,
                field,
                expected,
                found,
            } => write!(
                f,
                "{}: `{field}` is {found} in the file, but the model's type has {expected}",
                path.display()
            ),
            ModelError::InvalidConfig {
                path,
                field,
                found,
                rule,
            } => write!(
                f,
                "{}: `{field}` is {found}, but it must be {rule}",
                path.display()
            ),
            ModelError::TooLong { tokens, positions } => write!(
                f,
                "a sequence of {tokens} tokens exceeds the model's {positions} positions"
            ),
            ModelError::Shape(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ModelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ModelError::Vocab(e) => Some(e),
            ModelError::Weights(e) => Some(e),
            ModelError::Shape(e) => Some(e),
            _ => None,
        }
    }
}

impl From<VocabError> for ModelError {
    fn from(e: VocabError) -> Self {
        ModelError::Vocab(e)
    }
}

impl From<LoadError> for ModelError {
    fn from(e: LoadError) -> Self {
        ModelError::Weights(e)
    }
}

impl From<ShapeError> for ModelError {
    fn from(e: ShapeError) -> Self {
        ModelError::Shape(e)
    }
}

/// A model's error met during an inspected run, kept whole as the inspection's source.
impl From<ModelError> for crate::inspect::InspectError {
    fn from(e: ModelError) -> Self {
        crate::inspect::InspectError::Model(Box::new(e))
    }
}
