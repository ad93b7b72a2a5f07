//! `einsum!`: parse the spec string and the operands, validate the spec against itself and
//! the operand count, expand to a generic helper whose signature binds one type parameter
//! per letter (so the type checker enforces ranks and "same letter, same dim") and whose
//! body calls the runtime lowering in `shapecheck::ops::einsum`.

pub(crate) mod expand;
pub(crate) mod parse;
pub(crate) mod validate;
