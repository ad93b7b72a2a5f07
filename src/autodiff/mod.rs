//! Reverse-mode automatic differentiation, typed like the tensors it differentiates.
//!
//! - A [`Tape`] is a value you create and hold (no hidden global tape). Traced values,
//!   [`Var`]s, borrow it; each op runs the tensor op's forward and, when an input is
//!   traced, records its vector–Jacobian product on the tape.
//! - A [`Param`] is a tensor with a unique [`ParamId`]; [`Tape::param`] makes the traced
//!   leaf bound to it, [`Tape::constant`] an untraced value (data, targets). A frozen
//!   parameter ([`Param::frozen`], [`Param::freeze`]) is read as a constant.
//! - `backward()` exists only on a scalar, `Var<'_, ()>` ([`ScalarLoss`]), and returns
//!   [`Gradients`], read back through the parameter with its shape type:
//!   `grads.of(&layer.weight)` is a `TensorView<(DOut, DIn)>`. Gradients accumulate across
//!   [`Var::backward_into`] calls until [`Gradients::zero`].
//! - With only constants nothing is recorded (the `no_grad` mode); the plain tensor ops
//!   are untouched by this module.
//!
//! One file per op family: `matmul.rs`, `elementwise.rs`, `reduce.rs`, `activations.rs`,
//! `norms.rs`, `losses.rs`, `shape_ops.rs` (reshape, split/merge, slice, squeeze),
//! `concat.rs` (concat, stack), `rearrange.rs` (`rearrange!` on a `Var`), `unit.rs` ([`UnitVar`], the traced cosine similarity),
//! `rope.rs` (RoPE), `heads.rs` (split/merge heads), [`attention`] (traced scaled
//! dot-product attention; its blocked backward in `attention_backward.rs`), `embedding.rs`
//! (the lookup of rows of a table) and `linear.rs` (the affine product `x·Wᵀ + b`,
//! [`Var::try_linear`]); `tape.rs`, `var.rs`, `param.rs` and `grads.rs` are the machinery,
//! and `params.rs` the one parameter walk ([`Params`], [`DynParam`]).
//!
//! This module sits below the layers (`nn`): it knows tensors, ops and parameters, and the
//! layers are written once over it. [`Tape::inference`] reads every parameter as a
//! constant, so a layer's or model's traced forward serves inference too.
//!
//! A two-layer MLP fitted to a toy regression with plain gradient descent:
//!
//! ```
//! use shapecheck::autodiff::Tape;
//! use shapecheck::nn::linear::Linear;
//! use shapecheck::prelude::*;
//!
//! dim!(pub Batch = 16; pub In = 2; pub Hidden = 8; pub Out = 1);
//!
//! let mut l1 = Linear::<In, Hidden, f64>::init(true, 1);
//! let mut l2 = Linear::<Hidden, Out, f64>::init(true, 2);
//! // y = x₀ − 2·x₁ + ½, on random inputs.
//! let x = Tensor::<(Batch, In), f64>::randn(3);
//! let y = Tensor::<(Batch, Out), f64>::from_fn(|[b, _]| x[[b, 0]] - 2.0 * x[[b, 1]] + 0.5);
//!
//! /// p ← p − lr·∂loss/∂p (the optimizers are another module's job).
//! fn descend<S: Shape>(p: &mut Param<S, f64>, grads: &Gradients<f64>, lr: f64) {
//!     let g = grads.of(p).expect("every parameter is used").to_tensor();
//!     for (w, g) in p.value_mut().as_mut_slice().iter_mut().zip(g.as_slice()) {
//!         *w -= lr * g;
//!     }
//! }
//!
//! let lr = 0.05;
//! let mut losses = Vec::new();
//! for step in 0..30 {
//!     let tape = Tape::new();
//!     let h = l1.forward(&tape.constant(x.clone())).tanh();
//!     let loss = l2.forward(&h).mse(&tape.constant(y.clone()));
//!     let grads = loss.backward();
//!     losses.push(loss.item());
//!     if step % 10 == 0 {
//!         println!("step {step}: loss {:.4}", loss.item());
//!     }
//!     drop(tape); // the parameters' values are no longer shared: updated in place
//!     descend(&mut l1.weight, &grads, lr);
//!     descend(&mut l2.weight, &grads, lr);
//!     descend(l1.bias.as_mut().unwrap(), &grads, lr);
//!     descend(l2.bias.as_mut().unwrap(), &grads, lr);
//! }
//! assert!(losses[29] < 0.5 * losses[0], "{losses:?}");
//! assert!(losses.windows(2).all(|w| w[1] <= w[0]), "{losses:?}");
//! ```

mod activations;
pub mod attention;
mod attention_backward;
mod concat;
mod elementwise;
mod embedding;
mod grads;
mod handle;
mod heads;
mod linear;
mod losses;
mod matmul;
mod norms;
mod param;
mod params;
mod rearrange;
mod reduce;
mod rope;
mod shape_ops;
mod strided;
mod tape;
mod unit;
mod var;

pub use grads::Gradients;
pub use param::{Param, ParamId};
pub use params::{DynParam, NamedParams, ParamVisitor, ParamVisitorMut, Params, ParamsMut};
pub use tape::{ScalarLoss, Tape};
pub use unit::{cosine_similarity, TracedUnitVector, UnitVar};
pub use var::Var;
