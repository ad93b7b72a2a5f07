//! Neural-network building blocks over typed tensors:
//!
//! - [`linear`]: linear, embedding and feed-forward layers;
//! - [`attention`]: scaled dot-product attention and its masks;
//! - [`heads`]: the multi-head layout, `(Seq, DModel)` ↔ `(Heads, Seq, HeadDim)`;
//! - [`kv_cache`]: keys and values cached for decoding;
//! - [`rope`]: rotary position embeddings;
//! - [`lora`]: low-rank adapters.

pub mod attention;
pub mod heads;
pub mod kv_cache;
pub mod linear;
pub mod lora;
pub mod rope;
