//! Operations on tensors. Each op that owns a kernel has a folder (`matmul/`, `einsum/`);
//! the arithmetic that needs raw pointers lives in the crate's backend, `crate::kernel`.

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

pub use concat::{CanConcat, CountsParts};
pub use matmul::MatMul;
pub use reshape::{MergeLast, SplitLast};
pub use slice::{InsertAxis, ReplaceAxis, SliceFits, Squeezable};
pub use unit::{cosine_similarity, Unit, UnitVector};
