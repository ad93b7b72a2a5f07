//! Operations on tensors. Each op that owns a kernel has a folder (`matmul/`: the typed
//! API in `mod.rs`, the only `unsafe` of the crate in `kernel.rs`).

pub mod matmul;
pub mod reshape;

pub use matmul::MatMul;
pub use reshape::{MergeLast, SplitLast};
