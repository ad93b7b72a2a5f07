//! `rearrange!`, `reduce!` and `repeat!`: parse the tensor, the pattern (einops' grammar:
//! names, groups, `()` and `1`, numbers, `...`), the reduction and the `name = Dim`
//! arguments; validate the pattern for the macro it belongs to; expand to a generic helper
//! whose `where` clause states the group products (`SplitsInto`, `ProductOf`) and the
//! ellipsis (`SplitEllipsis`, `Splice`), and whose body calls `shapecheck::ops::rearrange`.

pub(crate) mod expand;
pub(crate) mod parse;
pub(crate) mod validate;
