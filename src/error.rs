//! Errors of operations whose shapes are only known at run time ([`ShapeError`]), of
//! numerical routines ([`NumericError`]), and [`Error`], which every error of the crate
//! converts into.
//!
//! See [`Error`] for which operation returns which type. All are `#[non_exhaustive]`;
//! every message names the operation and the shapes. This is the one module that names the
//! error types of every floor: [`Error`] lists them, it adds no logic of its own.

use core::fmt;

use crate::inspect::InspectError;
use crate::io::{LoadError, SaveError};
use crate::models::ModelError;
use crate::optim::OptimError;
#[cfg(feature = "plots")]
use crate::plot::PlotError;
use crate::text::VocabError;

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

/// Any error of this crate: one type for `?` in code that loads, trains, saves and runs
/// (`shapecheck::Result<T>` is `Result<T, Error>`). Its message is the inner error's.
///
/// Each fallible function returns the narrowest type that covers what can go wrong with it,
/// and every one of them converts into `Error` with `From`, so `?` lifts it:
///
/// - [`ShapeError`]: a shape rule broken at run time (a runtime dim of the wrong size, a
///   buffer of the wrong length, a shape too large to count). `matmul`, `concat`, `reshape`,
///   the constructors and views return it.
/// - [`NumericError`]: the shapes are fine, but the values admit no right answer (a NaN in
///   the input of a factorisation, a result beyond the element type's range, an argument
///   outside its domain). `try_svd` and `try_svd_full`, whose shapes are any `(M, N)`,
///   return it.
/// - `Error` itself, holding [`Error::Shape`] or [`Error::Numeric`] only, from operations
///   that check both a runtime dim and the values (a truncated SVD to a runtime rank, PCA,
///   `LoRA::from_delta`).
/// - the errors of the floors above: [`LoadError`](crate::io::LoadError) and
///   [`SaveError`](crate::io::SaveError) (safetensors files), [`VocabError`](crate::text::VocabError)
///   (a tokenizer's vocab), [`OptimError`](crate::optim::OptimError) (a step refused, an
///   optimizer state that does not fit), [`ModelError`](crate::models::ModelError) (a model
///   that does not load or cannot take an input), [`InspectError`](crate::inspect::InspectError)
///   and, with the `plots` feature, `PlotError`; with the `llm` feature,
///   `GenerateError` (a generation, a sampling setting or a chat template refused); and [`std::io::Error`] (what
///   [`NpyWriter`](crate::io::NpyWriter) returns, and a convenience for the files that code
///   around the library reads and writes).
///
/// The wrapper is transparent: `Display` is the inner error's message and
/// [`source`](std::error::Error::source) is the inner error's source (the operating system's
/// error under a failed read, say), so a report that walks the chain prints each message
/// once.
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
///
/// One type for a function that reads weights and writes them back:
///
/// ```
/// use shapecheck::io::{SafeTensors, SafetensorsWriter};
/// use shapecheck::prelude::*;
///
/// fn copy_weight(from: &std::path::Path, to: &std::path::Path) -> shapecheck::Result<()> {
///     let file = SafeTensors::open(from)?; // a LoadError
///     let w: Tensor<(D<2>, D<3>)> = file.load("w")?; // a LoadError
///     let mut out = SafetensorsWriter::new();
///     out.add("w", &w)?; // a SaveError
///     out.write(to)?; // a SaveError
///     Ok(())
/// }
/// let err = copy_weight("no/such/file.safetensors".as_ref(), "out.safetensors".as_ref());
/// assert!(matches!(err, Err(shapecheck::Error::Load(_))));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A shape rule broken at run time.
    Shape(ShapeError),
    /// Values that admit no right answer.
    Numeric(NumericError),
    /// A safetensors file or one of its tensors could not be loaded.
    Load(LoadError),
    /// A safetensors file could not be written.
    Save(SaveError),
    /// A tokenizer's vocab could not be read or is not a valid vocab.
    Vocab(VocabError),
    /// An optimizer step, a clipping, or an optimizer state's save or load was refused.
    Optim(OptimError),
    /// A model could not be loaded, or could not run on an input.
    Model(ModelError),
    /// An inspection could not be computed.
    Inspect(InspectError),
    /// A picture could not be drawn or written.
    #[cfg(feature = "plots")]
    Plot(PlotError),
    /// A generation, a sampling setting or a chat template was refused (feature `llm`).
    #[cfg(feature = "llm")]
    Generate(crate::models::generate::GenerateError),
    /// A read or a write failed (an `.npy` file being written, say).
    Io(std::io::Error),
}

/// `Result<T, shapecheck::Error>`: the result of code that calls into several floors of the
/// crate and lifts their errors with `?`.
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape(e) => e.fmt(f),
            Error::Numeric(e) => e.fmt(f),
            Error::Load(e) => e.fmt(f),
            Error::Save(e) => e.fmt(f),
            Error::Vocab(e) => e.fmt(f),
            Error::Optim(e) => e.fmt(f),
            Error::Model(e) => e.fmt(f),
            Error::Inspect(e) => e.fmt(f),
            #[cfg(feature = "plots")]
            Error::Plot(e) => e.fmt(f),
            #[cfg(feature = "llm")]
            Error::Generate(e) => e.fmt(f),
            Error::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    /// The inner error's source: the wrapper adds no message of its own, so the chain goes
    /// on from below the inner error (as `#[error(transparent)]` does in thiserror).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner().source()
    }
}

impl Error {
    /// The error this one wraps.
    fn inner(&self) -> &(dyn std::error::Error + 'static) {
        match self {
            Error::Shape(e) => e,
            Error::Numeric(e) => e,
            Error::Load(e) => e,
            Error::Save(e) => e,
            Error::Vocab(e) => e,
            Error::Optim(e) => e,
            Error::Model(e) => e,
            Error::Inspect(e) => e,
            #[cfg(feature = "plots")]
            Error::Plot(e) => e,
            #[cfg(feature = "llm")]
            Error::Generate(e) => e,
            Error::Io(e) => e,
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

/// `From<$narrow> for Error`, wrapping it in the variant of its name.
macro_rules! lift {
    ($($(#[$attr:meta])* $variant:ident($narrow:ty),)*) => {$(
        $(#[$attr])*
        impl From<$narrow> for Error {
            fn from(e: $narrow) -> Self {
                Error::$variant(e)
            }
        }
    )*};
}

lift! {
    Shape(ShapeError),
    Numeric(NumericError),
    Load(LoadError),
    Save(SaveError),
    Vocab(VocabError),
    Optim(OptimError),
    Model(ModelError),
    Inspect(InspectError),
    #[cfg(feature = "plots")]
    Plot(PlotError),
    #[cfg(feature = "llm")]
    Generate(crate::models::generate::GenerateError),
    Io(std::io::Error),
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
