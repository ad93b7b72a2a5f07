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

impl ShapeError {
    /// Two operands of `op` whose dims disagree, both shapes printed as their dims print
    /// (`(Batch=3, DModel=384)`); `detail` says which dims.
    pub(crate) fn incompatible(
        op: &'static str,
        lhs: &impl fmt::Debug,
        rhs: &impl fmt::Debug,
        detail: impl Into<String>,
    ) -> Self {
        ShapeError::Incompatible {
            op,
            lhs: format!("{lhs:?}"),
            rhs: format!("{rhs:?}"),
            detail: detail.into(),
        }
    }

    /// [`incompatible`](Self::incompatible) where an operand is described in words ("no
    /// tensor", "4 tensors of shape (Dyn=2,)") rather than by one shape.
    pub(crate) fn incompatible_described(
        op: &'static str,
        lhs: impl Into<String>,
        rhs: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        ShapeError::Incompatible {
            op,
            lhs: lhs.into(),
            rhs: rhs.into(),
            detail: detail.into(),
        }
    }

    /// A tensor of shape `from` that cannot be viewed as `to` (a shape, a slice, …).
    pub(crate) fn conversion(from: &impl fmt::Debug, to: impl Into<String>) -> Self {
        ShapeError::Conversion {
            from: format!("{from:?}"),
            to: to.into(),
        }
    }
}

/// The plain form of a fallible op: the value of its `try_` form, or a panic with the very
/// message of the `Err`, reported at the caller's line.
pub(crate) trait OrPanic<T> {
    /// The `Ok` value; panics with the error's `Display` message.
    fn or_panic(self) -> T;
}

impl<T, E: fmt::Display> OrPanic<T> for Result<T, E> {
    #[inline]
    #[track_caller]
    fn or_panic(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }
}
