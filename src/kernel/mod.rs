//! The backend: every matrix product of the crate, its own kernels, the splitting of a
//! product over threads, the AVX2/FMA frame, and the lane loops of softmax. The only
//! `unsafe` code of the crate lives here (the crate root denies it everywhere else).
//!
//! # The raw strided format
//!
//! A matrix is `(pointer, rows, cols, row stride, column stride)`, the strides in elements
//! (not bytes), as matrixmultiply takes it: element `(i, j)` is at `pointer + i·rs + j·cs`.
//! A batch of matrices adds one stride per batch axis (0 for an operand shared by the
//! batch). [`MatRef`] is that format over a slice, with `.t()` (swap rows and columns, and
//! their strides); it checks once, when it is built and before any pointer is formed, that
//! every element it can reach lies in its slice, so a transposed or permuted operand is read
//! in place, never copied, and never out of bounds. Results are row-major: a row stride and
//! column stride 1.
//!
//! # What lives where
//!
//! - `operand.rs`: [`MatRef`] and its bounds check.
//! - `gemm.rs`: [`Gemm`], the one entry `C = α·A·B + β·C` (batched or single, into a fresh
//!   `Vec` with `to_vec` or an existing buffer with `to_slice`).
//! - `raw.rs`: the backend of the process (`SHAPECHECK_GEMM`, else this CPU's best), the
//!   route of one product (few-rows kernel, packed GEMM, or matrixmultiply), and the product
//!   on raw pointers, dispatched on the element type (`Float`'s sealed `KIND`).
//! - `blocked.rs`: the packed, cache-blocked GEMM (BLIS's loops), with thread-local packing
//!   buffers; `pack.rs` packs the blocks of `A` and `B` into the kernels' panels;
//!   `micro.rs` holds the micro-kernels (AVX-512F 12 × 32 and AVX2 + FMA 6 × 16 for f32,
//!   12 × 16 and 6 × 8 for f64) and their blocking. `tests_micro.rs` forces each of them on
//!   every shape class.
//! - `prepack.rs`: [`PackedB`], a weight packed once into the packed GEMM's panels and read
//!   by every product until it changes, and [`PackCache`], a parameter's packs (emptied on
//!   every change of its value).
//! - `epilogue.rs`: [`Epilogue`], the fused write-back of a product (a bias row, then an
//!   elementwise map such as an activation and a residual add), fused into the packed
//!   GEMM's tiles and run unfused on the other routes, with the same values.
//! - `nt/`: the few-rows `x·Wᵀ` kernel (AVX-512F on the AVX-512 backend, AVX2 + FMA on
//!   the others), reading both operands in place, its loops written once over a vector
//!   trait implemented per width; up to 8 rows (a decode step) in one pass over `W` at the
//!   machine's memory bandwidth. `tests_nt.rs` forces each width.
//! - `quant/`: few-rows `x·Wᵀ` with `W` in a GGUF block format (Q8_0, Q4_0, Q4_1) or in
//!   bf16/f16, read in place (integer dots on 8-bit activations, or f32 activations).
//! - `split/`: one product split into blocks of rows or columns over threads, on the
//!   kernels' tile edges so the result does not depend on the thread count; a few-rows
//!   product split in two hands its second block to a helper thread of its own that spins
//!   between products (`split/helper.rs`; `parallel::on_threads` gives it any work split
//!   in two), the rest goes to rayon's pool. A product of more than 96 rows on the packed
//!   GEMM is split inside `blocked.rs`, its threads sharing one pack of `B`.
//! - `simd.rs`: running safe code compiled for AVX2/FMA when the CPU has them.
//! - `tests.rs`: the entry against a naive product.
//! - `pairwise.rs`: safe, accurate sums (NumPy's pairwise summation) for every sum outside
//!   a GEMM: reductions, norms, einsum's summed-out letters, dot products.
//! - `lanes.rs`: safe lane numerics (row maximum, shifted exponentials and their sum, lane
//!   sums) and the one softmax / log-softmax row of the crate.
//!
//! `unsafe` is allowed in this module tree only; `operand.rs`, `lanes.rs` and `pairwise.rs`
//! deny it again
//! (the bounds check and the lane loops are safe code), and every `unsafe` block in the
//! other files carries a `// SAFETY:` comment naming the invariant it relies on.
#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
mod blocked;
mod epilogue;
mod gemm;
pub(crate) mod lanes;
#[cfg(target_arch = "x86_64")]
mod micro;
#[cfg(target_arch = "x86_64")]
mod nt;
mod operand;
#[cfg(target_arch = "x86_64")]
mod pack;
pub(crate) mod pairwise;
mod prepack;
#[cfg(feature = "llm")]
pub(crate) mod quant;
mod raw;
mod simd;
mod split;

// Tested in `tests_micro.rs`; for `nn::Linear` and the FFNs to pass to `to_slice_with`.
#[allow(unused_imports, reason = "not yet wired into nn")]
pub(crate) use epilogue::{Epilogue, RowMap};
pub(crate) use gemm::Gemm;
pub(crate) use operand::MatRef;
pub(crate) use prepack::{PackCache, PackForm, PackedB};
pub(crate) use simd::{run_avx2_fma, with_avx2_fma, Avx2FmaKernel};
pub(crate) use split::pair;

#[cfg(test)]
mod tests;
#[cfg(all(test, target_arch = "x86_64"))]
mod tests_micro;
#[cfg(all(test, target_arch = "x86_64"))]
mod tests_nt;
#[cfg(all(test, target_arch = "x86_64"))]
mod tests_prepack;
#[cfg(test)]
pub(crate) use raw::{packing_backends, with_backend};
