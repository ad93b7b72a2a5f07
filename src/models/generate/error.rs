//! [`GenerateError`]: what can stop a generation or a chat template.

use core::fmt;

use crate::text::TokenizerError;

/// Why a generation, a sampling setting or a chat template was refused.
///
/// Every message names what was wrong and the value found: a setting names its field and
/// the rule it breaks, a model's bad logits name the step and the index.
#[derive(Debug)]
#[non_exhaustive]
pub enum GenerateError {
    /// A sampling or generation setting outside its domain (`temperature` of −1, `top_p`
    /// of 1.5, …).
    Setting {
        /// The field, as it is named in [`Sampling`](super::Sampling) or
        /// [`GenerateConfig`](super::GenerateConfig).
        name: &'static str,
        /// The value given.
        value: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// A generation was asked to start from no ids: there are no logits to pick from.
    EmptyPrompt,
    /// The model's [`step`](super::CausalLm::step) failed.
    Model {
        /// The step (0: the prompt, then one per generated token).
        step: usize,
        /// The model's error.
        source: Box<crate::Error>,
    },
    /// The model returned a logits row of the wrong length.
    LogitsLength {
        /// The step (0: the prompt).
        step: usize,
        /// [`CausalLm::vocab_size`](super::CausalLm::vocab_size).
        expected: usize,
        /// The length returned.
        got: usize,
    },
    /// The model returned a NaN or +∞ logit, or only −∞: no distribution to sample from.
    NonFiniteLogits {
        /// The step (0: the prompt).
        step: usize,
        /// The first offending index (0 when every logit is −∞).
        index: usize,
        /// Its value.
        value: f32,
    },
    /// Decoding the generated ids to text failed.
    Tokenizer(TokenizerError),
    /// A chat template could not be read, compiled or rendered, or raised an exception
    /// (`raise_exception("Conversation roles must alternate …")`); `message` is the
    /// template engine's, with the line of the template.
    Template {
        /// Where the template came from (a file, `GGUF`, `string`).
        source_name: String,
        /// What went wrong.
        message: String,
    },
}

impl fmt::Display for GenerateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenerateError::Setting { name, value, rule } => {
                write!(f, "generation setting `{name}` = {value}: {rule}")
            }
            GenerateError::EmptyPrompt => write!(
                f,
                "generation needs at least one prompt id (a model gives logits only after an id)"
            ),
            GenerateError::Model { step, source } => {
                write!(f, "generation step {step}: the model failed: {source}")
            }
            GenerateError::LogitsLength {
                step,
                expected,
                got,
            } => write!(
                f,
                "generation step {step}: the model gave {got} logits, its vocabulary has {expected}"
            ),
            GenerateError::NonFiniteLogits { step, index, value } => {
                if value.is_infinite() && value.is_sign_negative() {
                    write!(
                        f,
                        "generation step {step}: every logit is -inf, there is no token to pick"
                    )
                } else {
                    write!(
                        f,
                        "generation step {step}: the model gave logit {value} at index {index} (NaN or +inf cannot be sampled)"
                    )
                }
            }
            GenerateError::Tokenizer(e) => write!(f, "decoding the generated ids: {e}"),
            GenerateError::Template {
                source_name,
                message,
            } => write!(f, "chat template ({source_name}): {message}"),
        }
    }
}

impl std::error::Error for GenerateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GenerateError::Model { source, .. } => Some(source.as_ref()),
            GenerateError::Tokenizer(e) => Some(e),
            _ => None,
        }
    }
}

impl From<TokenizerError> for GenerateError {
    fn from(e: TokenizerError) -> Self {
        GenerateError::Tokenizer(e)
    }
}
