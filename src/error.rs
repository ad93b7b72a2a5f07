//! Errors of operations whose shapes are only known at run time.

use core::fmt;

/// A shape rule broken at run time: a runtime dim of the wrong size, a buffer of the wrong
/// length. Static shapes never produce one; their rules are compile errors.
///
/// The message names the operation and both shapes as their dims print
/// (`(Batch=3, DModel=384)`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShapeError {
    /// A buffer does not hold as many elements as the shape needs.
    LengthMismatch {
        /// The shape asked for.
        shape: String,
        /// Elements the shape needs.
        expected: usize,
        /// Elements the buffer holds.
        actual: usize,
    },
    /// Two operands whose dims must agree do not.
    Incompatible {
        /// The operation, e.g. `"matmul"`.
        op: &'static str,
        /// Shape of the left operand.
        lhs: String,
        /// Shape of the right operand.
        rhs: String,
        /// Which dims disagree.
        detail: String,
    },
    /// A shape cannot be converted to another, e.g. by `to_static`.
    Conversion {
        /// The shape that exists.
        from: String,
        /// The shape asked for.
        to: String,
    },
    /// An input holds a NaN or an infinity where a factorisation needs finite numbers.
    NonFinite {
        /// The operation, e.g. `"svd"`.
        op: &'static str,
        /// Shape of the input.
        shape: String,
    },
    /// An iterative factorisation did not converge within its iteration budget.
    NoConvergence {
        /// The operation, e.g. `"svd"`.
        op: &'static str,
        /// Shape of the input.
        shape: String,
        /// The budget that was exhausted.
        iterations: usize,
    },
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShapeError::LengthMismatch {
                shape,
                expected,
                actual,
            } => write!(
                f,
                "a tensor of shape {shape} needs {expected} elements, but the buffer has {actual}"
            ),
            ShapeError::Incompatible {
                op,
                lhs,
                rhs,
                detail,
            } => write!(f, "{op}: cannot combine {lhs} with {rhs}: {detail}"),
            ShapeError::Conversion { from, to } => {
                write!(f, "a tensor of shape {from} cannot be viewed as {to}")
            }
            ShapeError::NonFinite { op, shape } => write!(
                f,
                "{op}: the input of shape {shape} holds a NaN or an infinity"
            ),
            ShapeError::NoConvergence {
                op,
                shape,
                iterations,
            } => write!(
                f,
                "{op}: did not converge on the input of shape {shape} within {iterations} iterations"
            ),
        }
    }
}

impl std::error::Error for ShapeError {}
