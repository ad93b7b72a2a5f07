//! [`OptimError`]: why an optimizer step, a clipping or a state save/load did not happen.

use core::fmt;

use crate::autodiff::ParamId;
use crate::io::{LoadError, SaveError};

/// Why an optimizer step (or a gradient clipping, or a state save or load) did not happen.
///
/// Every error of a step is raised before anything is written: the parameters, their
/// gradients and the optimizer's state are left exactly as they were.
#[derive(Debug)]
#[non_exhaustive]
pub enum OptimError {
    /// A gradient holds a NaN or an infinity.
    NonFiniteGradient {
        /// The step that was refused (1 for the first step; the count of steps taken + 1).
        step: u64,
        /// The position of the parameter in the slice given to the step.
        index: usize,
        /// The parameter's id.
        id: ParamId,
        /// The parameter's shape, as its dims print: `(Ffn=16, DModel=8)`.
        shape: String,
        /// The first offending element (row-major).
        element: usize,
        /// Its value.
        value: f64,
    },
    /// The loss of the step is a NaN or an infinity.
    NonFiniteLoss {
        /// The step that was refused.
        step: u64,
        /// The loss.
        loss: f64,
    },
    /// The global norm of the gradients is a NaN or an infinity (clipping refused).
    NonFiniteNorm {
        /// The norm.
        norm: f64,
    },
    /// A gradient has another number of elements than its parameter (the parameter was
    /// replaced by one of other runtime dims after the backward pass).
    GradientSize {
        /// The position of the parameter in the slice given to the step.
        index: usize,
        /// The parameter's shape.
        shape: String,
        /// The gradient's number of elements.
        found: usize,
    },
    /// The optimizer has taken the most steps it counts (2⁵³, the largest step count a
    /// saved state stores exactly): a further step is refused, so that the count neither
    /// wraps nor rounds.
    StepLimit {
        /// The steps taken.
        steps: u64,
    },
    /// A hyperparameter is out of its range (as PyTorch's constructors check them).
    Config {
        /// What is wrong.
        detail: String,
    },
    /// A saved state does not fit this optimizer or these parameters.
    State {
        /// What is wrong.
        detail: String,
    },
    /// A saved state could not be read.
    Load(LoadError),
    /// A state could not be written.
    Save(SaveError),
}

impl fmt::Display for OptimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptimError::NonFiniteGradient {
                step,
                index,
                id,
                shape,
                element,
                value,
            } => write!(
                f,
                "step {step}: the gradient of parameter {index} ({id:?}, shape {shape}) holds \
                 {value} at element {element}; no parameter or optimizer state was changed"
            ),
            OptimError::NonFiniteLoss { step, loss } => write!(
                f,
                "step {step}: the loss is {loss}; no parameter or optimizer state was changed"
            ),
            OptimError::NonFiniteNorm { norm } => write!(
                f,
                "the global norm of the gradients is {norm}: nothing was clipped"
            ),
            OptimError::GradientSize {
                index,
                shape,
                found,
            } => write!(
                f,
                "parameter {index} has shape {shape}, but its gradient has {found} elements"
            ),
            OptimError::StepLimit { steps } => write!(
                f,
                "the optimizer has taken {steps} steps, the most it counts (2^53, the largest \
                 step count a saved state stores exactly); no parameter or optimizer state was \
                 changed"
            ),
            OptimError::Config { detail } => write!(f, "invalid optimizer setting: {detail}"),
            OptimError::State { detail } => write!(f, "optimizer state: {detail}"),
            OptimError::Load(e) => write!(f, "optimizer state: {e}"),
            OptimError::Save(e) => write!(f, "optimizer state: {e}"),
        }
    }
}

impl std::error::Error for OptimError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OptimError::Load(e) => Some(e),
            OptimError::Save(e) => Some(e),
            _ => None,
        }
    }
}

impl From<LoadError> for OptimError {
    fn from(e: LoadError) -> Self {
        OptimError::Load(e)
    }
}

impl From<SaveError> for OptimError {
    fn from(e: SaveError) -> Self {
        OptimError::Save(e)
    }
}
