//! `tensor!`: parse the nested array literal, validate that it is rectangular, expand to a
//! call of the rank-`r` constructor of `shapecheck::tensor::literal`.

pub(crate) mod expand;
pub(crate) mod parse;
pub(crate) mod validate;
