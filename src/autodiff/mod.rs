//! Reverse-mode automatic differentiation, typed like the tensors it differentiates.
//!
//! (Module documentation with the worked example: see below.)

mod activations;
mod elementwise;
mod grads;
pub mod linear;
mod losses;
mod matmul;
mod norms;
mod param;
mod reduce;
mod strided;
mod tape;
mod var;

pub use grads::Gradients;
pub use param::{Param, ParamId};
pub use tape::{ScalarLoss, Tape};
pub use var::Var;
