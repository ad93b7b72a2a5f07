//! Errors of operations whose shapes are only known at run time, and of numerical routines.
//!
//! See [`Error`] for which operation returns which of the three types.
//!
//! All three are `#[non_exhaustive]`, and every message names the operation and the shapes.

use core::fmt;

/// A shape rule broken at run time: a runtime dim of the wrong size, a buffer of the wrong
/// length, a shape too large to count. Static shapes never produce one (their rules are
/// compile errors); values never do (those are [`NumericError`]s).
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
    /// A shape whose element count does not fit in `usize`: the product of its nonzero dims
    /// overflows. As in NumPy, a shape such as `(0, 2^40, 2^40)` counts as too large even
    /// though it holds no element, so that every row-major stride of a valid shape fits too.
    TooLarge {
        /// The shape asked for.
        shape: String,
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
            ShapeError::TooLarge { shape } => write!(
                f,
                "a tensor of shape {shape} has too many elements: their count overflows usize"
            ),
        }
    }
}

impl std::error::Error for ShapeError {}

/// A numerical routine that cannot give a right answer for the values it was given; the
/// shapes were fine. The message names the operation and the shape of its input.
///
/// ```
/// use shapecheck::prelude::*;
/// let mut a = Tensor::<(D<2>, D<2>), f64>::zeros();
/// a[[0, 1]] = f64::INFINITY;
/// let err: NumericError = a.try_svd().unwrap_err();
/// assert_eq!(err.to_string(), "svd: the input of shape (2, 2) holds a NaN or an infinity");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NumericError {
    /// An input holds a NaN or an infinity where the routine needs finite numbers.
    NonFinite {
        /// The operation, e.g. `"svd"`.
        op: &'static str,
        /// Shape of the input.
        shape: String,
    },
    /// An iterative routine did not converge within its iteration budget.
    NoConvergence {
        /// The operation, e.g. `"svd"`.
        op: &'static str,
        /// Shape of the input.
        shape: String,
        /// The budget that was exhausted.
        iterations: usize,
    },
    /// A result of a finite input is too large for the element type (the largest singular
    /// value of a matrix of `f32::MAX`s, say): no finite value of the type is right.
    Overflow {
        /// The operation, e.g. `"svd"`.
        op: &'static str,
        /// Shape of the input.
        shape: String,
        /// What overflows, e.g. `"the largest singular value"`.
        what: &'static str,
        /// The element type, `"f32"` or `"f64"`.
        elem: &'static str,
    },
    /// A scalar argument outside the routine's domain (a LoRA `alpha` of 0, say).
    InvalidArgument {
        /// The operation, e.g. `"LoRA::from_delta"`.
        op: &'static str,
        /// Shape of the input the argument goes with.
        shape: String,
        /// The argument's name, e.g. `"alpha"`.
        name: &'static str,
        /// The value given, as it prints.
        value: String,
        /// The rule it breaks, e.g. `"it must be finite and greater than 0"`.
        rule: &'static str,
    },
}

impl fmt::Display for NumericError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumericError::NonFinite { op, shape } => write!(
                f,
                "{op}: the input of shape {shape} holds a NaN or an infinity"
            ),
            NumericError::NoConvergence {
                op,
                shape,
                iterations,
            } => write!(
                f,
                "{op}: did not converge on the input of shape {shape} within {iterations} iterations"
            ),
            NumericError::Overflow {
                op,
                shape,
                what,
                elem,
            } => write!(
                f,
                "{op}: {what} of the input of shape {shape} is larger than the largest finite {elem}"
            ),
            NumericError::InvalidArgument {
                op,
                shape,
                name,
                value,
                rule,
            } => write!(
                f,
                "{op}: {name} = {value} is invalid for the input of shape {shape}: {rule}"
            ),
        }
    }
}

impl std::error::Error for NumericError {}

/// A [`ShapeError`] or a [`NumericError`]: the error of operations that check a runtime dim
/// and the values both. Its message is the inner error's.
///
/// Each fallible operation returns the narrowest of three types that covers what can go
/// wrong with it:
///
/// - [`ShapeError`]: a shape rule broken at run time (a runtime dim of the wrong size, a
///   buffer of the wrong length, a shape too large to count). `matmul`, `concat`, `reshape`,
///   the constructors and views return it.
/// - [`NumericError`]: the shapes are fine, but the values admit no right answer (a NaN in
///   the input of a factorisation, a result beyond the element type's range, an argument
///   outside its domain). `try_svd` and `try_svd_full`, whose shapes are any `(M, N)`,
///   return it.
/// - [`Error`]: either of the two, for operations that check both a runtime dim and the
///   values (a truncated SVD to a runtime rank, PCA, `LoRA::from_delta`). It converts from
///   both, so `?` lifts either into it.
///
/// ```
/// use shapecheck::prelude::*;
/// use shapecheck::Error;
/// dim!(pub Rank);
/// let a = Tensor::<(D<3>, D<2>), f64>::randn(0);
/// assert!(matches!(a.try_truncated_svd_with(Rank::new(3)), Err(Error::Shape(_))));
/// let b = a.map(|_| f64::NAN);
/// assert!(matches!(b.try_truncated_svd_with(Rank::new(1)), Err(Error::Numeric(_))));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A shape rule broken at run time.
    Shape(ShapeError),
    /// Values that admit no right answer.
    Numeric(NumericError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape(e) => e.fmt(f),
            Error::Numeric(e) => e.fmt(f),
        }
    }
}

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

impl std::error::Error for Error {}

impl From<ShapeError> for Error {
    fn from(e: ShapeError) -> Self {
        Error::Shape(e)
    }
}

impl From<NumericError> for Error {
    fn from(e: NumericError) -> Self {
        Error::Numeric(e)
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
