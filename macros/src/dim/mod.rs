//! `dim!`: parse the declarations, validate their sizes, expand each to a type.

pub(crate) mod expand;
pub(crate) mod parse;
pub(crate) mod table;
pub(crate) mod validate;
