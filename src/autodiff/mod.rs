//! Reverse-mode automatic differentiation, typed like the tensors it differentiates.
//!
//! (Module documentation with the worked example: see below.)

mod elementwise;
mod grads;
mod matmul;
mod param;
mod strided;
mod tape;
mod var;

pub use grads::Gradients;
pub use param::{Param, ParamId};
pub use tape::{ScalarLoss, Tape};
pub use var::Var;
