//! Operations on tensors. Each op that owns a kernel has a folder (`matmul/`, `einsum/`);
//! the arithmetic that needs raw pointers lives in the crate's backend, `crate::kernel`.
//!
//! # Views take what tensors take
//!
//! The methods that read a tensor and return a new one are written once, as provided
//! methods of extension traits over [`AsView`](crate::AsView), each blanket-implemented for
//! everything `AsView` — [`Tensor`](crate::Tensor), [`TensorView`](crate::TensorView),
//! [`TensorViewMut`](crate::TensorViewMut) — and each in the prelude:
//!
//! - [`Elementwise`] (`math.rs`): `map`, `zip_map`, `try_add` …, `exp`, `ln`, `sqrt`,
//!   `powi`, `abs`, `clamp`, `cast`, `approx_eq`/`check_close`, `broadcast_to`;
//! - [`Reductions`] (`reduce.rs`): `sum`, `mean`, `max`, `min`, `var`, `norm`, `argmax` along
//!   an axis, their `_keepdim` and `_last` forms, and the `_all` forms;
//! - [`Activations`] (`activations.rs`): `relu`, `gelu`, `silu`, `sigmoid`, `tanh`,
//!   `softmax`, `log_softmax` (and `_last`);
//! - [`Norms`] (`norms.rs`): `layer_norm`, `rms_norm` (and `try_`), `normalize`.
//!
//! So `x.t().exp()`, `x.t().sum::<0>()` and `view.softmax_last()` need no `.to_tensor()`.
//! A contiguous view runs exactly the code a tensor runs (each method takes the slice
//! fast path when [`as_contiguous_slice`](crate::TensorView::as_contiguous_slice) gives
//! one); a strided view is read through its strides. The operators (`+ - * /`, with
//! tensors, views or scalars on either side) are trait impls, so they are generated per
//! operand type in `elementwise.rs`. Ops whose operands or results are views of the same
//! buffer (`slice`, `t`, `permute`) or that own a kernel (`matmul`, `dot`, `concat`) stay
//! inherent methods for now.
//!
//! ```
//! use shapecheck::prelude::*;
//! let x = Tensor::<(D<2>, D<3>)>::from_fn(|[i, j]| (3 * i + j) as f32);
//! let v = x.t(); // (3, 2), strided
//! let y = v.exp() * 2.0 + &v.softmax_last();
//! assert!(y.approx_eq(&(x.exp() * 2.0 + &x.softmax::<0>()).t(), 1e-6, 0.0));
//! assert_eq!(v.sum::<1>().as_slice(), x.sum::<0>().as_slice());
//! ```

pub mod activations;
pub mod approx;
pub mod attention;
pub mod concat;
pub mod einsum;
pub mod elementwise;
pub mod gather;
pub mod heads;
pub mod linear;
pub mod math;
pub mod matmul;
pub mod norms;
pub mod rearrange;
pub mod reduce;
pub mod reshape;
pub mod rope;
mod scaled;
pub mod slice;
pub mod unit;

pub use activations::Activations;
pub use approx::NotClose;
pub use math::Elementwise;
pub use matmul::MatMul;
pub use norms::Norms;
pub use reduce::{HasLastAxis, Reductions};
// The shape rules these ops check live in `shape`; re-exported here where they used to be.
pub use crate::shape::{
    CanConcat, CountsParts, InsertAxis, MergeLast, ReplaceAxis, SliceFits, SplitLast, Squeezable,
};
pub use unit::{cosine_similarity, Unit, UnitVector};
