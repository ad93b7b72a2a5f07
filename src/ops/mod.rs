//! Operations on tensors. Each op that owns a kernel has a folder (`matmul/`: the typed
//! API in `mod.rs`, the only `unsafe` of the crate in `kernel.rs`).

pub mod activations;
pub mod concat;
pub mod einsum;
pub mod elementwise;
pub mod matmul;
pub mod norms;
pub mod rearrange;
pub mod reduce;
pub mod reshape;
pub mod slice;
pub mod unit;

pub use matmul::MatMul;
// The shape rules these ops check live in `shape`; re-exported here where they used to be.
pub use crate::shape::{
    CanConcat, CountsParts, InsertAxis, MergeLast, ReplaceAxis, SliceFits, SplitLast, Squeezable,
};
pub use unit::{cosine_similarity, Unit, UnitVector};
