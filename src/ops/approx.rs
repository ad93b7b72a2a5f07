//! Approximate equality of two tensors: what [`Elementwise::approx_eq`] and
//! [`Elementwise::check_close`] compute.
//!
//! [`Elementwise::approx_eq`]: crate::ops::Elementwise::approx_eq
//! [`Elementwise::check_close`]: crate::ops::Elementwise::check_close

use core::fmt;
use std::borrow::Cow;

use crate::element::Float;
use crate::shape::Shape;
use crate::tensor::{layout, TensorView};

/// Why two tensors are not close; its `Display` is a message for a failed assertion.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum NotClose<T> {
    /// The runtime dims differ.
    Shapes {
        /// Shape of the tensor checked.
        lhs: String,
        /// Shape of the reference.
        rhs: String,
    },
    /// The worst element: the largest `|a − b| / (atol + rtol·|b|)` (a NaN counts as the
    /// worst; the first of equals).
    Element {
        /// Its multi-index.
        index: Vec<usize>,
        /// The value checked.
        actual: T,
        /// The reference value.
        expected: T,
        /// `atol + rtol·|expected|`.
        allowed: T,
    },
}

impl<T: Float> fmt::Display for NotClose<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotClose::Shapes { lhs, rhs } => {
                write!(f, "not close: the shapes differ, {lhs} and {rhs}")
            }
            NotClose::Element {
                index,
                actual,
                expected,
                allowed,
            } => write!(
                f,
                "not close: element {index:?} is {actual} where {expected} was expected \
                 (|difference| {} > atol + rtol·|expected| = {allowed})",
                (*actual - *expected).abs()
            ),
        }
    }
}

impl<T: Float> std::error::Error for NotClose<T> {}

/// How far `a` is from `b` in units of the tolerance: ≤ 1 is close, +∞ for a NaN or for a
/// difference where none is allowed.
#[inline]
fn badness<T: Float>(a: T, b: T, rtol: T, atol: T) -> T {
    if a == b {
        return T::ZERO; // equal infinities too, whose difference is NaN
    }
    let (diff, allowed) = ((a - b).abs(), atol + rtol * b.abs());
    if diff.is_nan() {
        T::INFINITY
    } else if diff <= allowed {
        T::ZERO
    } else if allowed > T::ZERO {
        diff / allowed
    } else {
        T::INFINITY
    }
}

/// The elements in row-major order: borrowed when the view is contiguous.
fn elements<'a, S: Shape, T: Float>(v: &TensorView<'a, S, T>) -> Cow<'a, [T]> {
    v.as_contiguous_slice()
        .map_or_else(|| Cow::Owned(v.to_vec()), Cow::Borrowed)
}

/// `Ok` when every element of `a` is close to `b`'s, else the worst element.
pub(crate) fn check_close<S: Shape, T: Float>(
    a: &TensorView<'_, S, T>,
    b: &TensorView<'_, S, T>,
    rtol: T,
    atol: T,
) -> Result<(), NotClose<T>> {
    if a.dims() != b.dims() {
        return Err(NotClose::Shapes {
            lhs: format!("{:?}", a.shape()),
            rhs: format!("{:?}", b.shape()),
        });
    }
    let (xa, xb) = (elements(a), elements(b));
    // (flat index, badness) of the worst element so far; only a strictly worse one
    // replaces it, so the first of equals is kept.
    let mut worst: Option<(usize, T)> = None;
    for (i, (&x, &y)) in xa.iter().zip(xb.iter()).enumerate() {
        let bad = badness(x, y, rtol, atol);
        if bad > T::ZERO && worst.is_none_or(|(_, w)| bad > w) {
            worst = Some((i, bad));
        }
    }
    match worst {
        None => Ok(()),
        Some((flat, _)) => {
            let mut index = vec![0; S::RANK];
            layout::unravel(flat, &a.dims(), &mut index);
            Err(NotClose::Element {
                index,
                actual: xa[flat],
                expected: xb[flat],
                allowed: atol + rtol * xb[flat].abs(),
            })
        }
    }
}
