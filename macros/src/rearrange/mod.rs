//! `rearrange!`: parse the tensor, the pattern and the `name = Dim` arguments, validate the
//! pattern (each name once per side, the same names on both sides, groups of two), expand
//! to a generic helper whose `where` clause states the group products with
//! `shapecheck::shape::SplitsInto`, and whose body calls `shapecheck::ops::rearrange::run`.

pub(crate) mod expand;
pub(crate) mod parse;
pub(crate) mod validate;
