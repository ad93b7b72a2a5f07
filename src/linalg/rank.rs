//! The type-level vocabulary the factorisations share, defined with the other dims and
//! shape rules: [`MinOf`] (the dim of size `min(M, N)` that the thin SVD's factors carry) in
//! [`dim`](crate::dim), [`RankAtMost`] (a rank `R` fits an `M × N` matrix) in
//! [`shape`](crate::shape).

pub use crate::dim::MinOf;
pub use crate::shape::RankAtMost;
#[doc(hidden)]
pub use crate::shape::{Chosen, Class, Fixed, RankAtMostBy, SizeClass};
