//! Optimizers as PyTorch defines them — [`Sgd`], [`Adam`], [`AdamW`] — with gradient
//! clipping by global norm ([`clip_grad_norm`]), learning-rate [`Schedule`]s, and state
//! that is typed per parameter and saves to (and restores from) safetensors.
//!
//! - A step takes the parameters as `&mut [&mut dyn DynParam<T>]`, so parameters of
//!   different shape types (a `(DOut, DIn)` weight and a `(DOut,)` bias) are updated in one
//!   call, and the [`Gradients`] of the backward pass; each
//!   parameter's gradient is found through its id, frozen parameters and parameters
//!   without a gradient are skipped (as PyTorch skips `grad is None`).
//! - The state of a parameter is kept under its [`ParamId`](crate::autodiff::ParamId) and
//!   read back through the parameter with its shape type: `opt.exp_avg(&layer.weight)` is
//!   a `TensorView<(DOut, DIn)>`.
//! - A step first checks every gradient (and [`Optimizer::step_with_loss`] the loss): a NaN
//!   or an infinity is an [`OptimError`] naming the step and the parameter, and nothing —
//!   parameters, state, step count — has changed.
//! - [`Optimizer::save_state`] writes the state under the names you give the parameters
//!   (`{name}.exp_avg`, …, each with the parameter's shape) and
//!   [`Optimizer::load_state`] reads it back, checked against the parameters' shapes:
//!   save → load → continue is bit for bit the uninterrupted run.
//!
//! The equations, operation by operation, are in each optimizer's module (they follow
//! `torch/optim/{sgd,adam}.py`, single-tensor path); `tests/optim.rs` compares their
//! trajectories with PyTorch's.
//!
//! A few AdamW steps on a linear regression, with warmup + cosine and clipping:
//!
//! ```
//! use shapecheck::autodiff::Tape;
//! use shapecheck::nn::linear::Linear;
//! use shapecheck::optim::{clip_grad_norm, AdamW, AdamWConfig, Optimizer, Schedule};
//! use shapecheck::prelude::*;
//!
//! dim!(pub Batch = 32; pub In = 3; pub Out = 1);
//! let mut layer = Linear::<In, Out>::init(true, 0);
//! let x = Tensor::<(Batch, In)>::randn(1);
//! let y = Tensor::<(Batch, Out)>::from_fn(|[b, _]| 2.0 * x[[b, 0]] - x[[b, 2]] + 0.5);
//!
//! let mut opt = AdamW::new(AdamWConfig { lr: 0.05, ..Default::default() })?;
//! let schedule = Schedule::warmup_cosine(0.05, 5, 100, 0.1)?;
//! let mut losses = Vec::new();
//! for _ in 0..100 {
//!     let tape = Tape::new();
//!     let loss = layer.forward(&tape.constant(x.clone())).mse(&tape.constant(y.clone()));
//!     let mut grads = loss.backward();
//!     let loss = loss.item();
//!     drop(tape); // the parameters are no longer shared with the tape: updated in place
//!     losses.push(loss);
//!
//!     clip_grad_norm(&mut grads, &[&layer.weight, layer.bias.as_ref().unwrap()], 1.0)?;
//!     opt.set_lr(schedule.lr(opt.steps()))?;
//!     let bias = layer.bias.as_mut().unwrap();
//!     opt.step_with_loss(loss, &mut [&mut layer.weight, bias], &grads)?;
//! }
//! assert!(losses[99] < 1e-3 * losses[0], "{} → {}", losses[0], losses[99]);
//! // The state is typed like the parameter it belongs to.
//! let m: TensorView<(Out, In)> = opt.exp_avg(&layer.weight).unwrap();
//! assert_eq!(m.dims().as_slice(), &[1, 3]);
//! assert_eq!(opt.steps(), 100);
//! # Ok::<(), shapecheck::optim::OptimError>(())
//! ```

mod adam;
mod clip;
mod error;
mod schedule;
mod sgd;
mod state;

pub use crate::autodiff::DynParam;
pub use adam::{Adam, AdamConfig, AdamW, AdamWConfig};
pub use clip::clip_grad_norm;
pub use error::OptimError;
pub use schedule::Schedule;
pub use sgd::{Sgd, SgdConfig};

use crate::autodiff::Gradients;
use crate::element::Float;
use crate::io::{SafeTensors, SafetensorsWriter};

/// What every optimizer does: steps, a learning rate, and state that saves and loads.
pub trait Optimizer<T: Float> {
    /// Updates every parameter of `params` that has a gradient in `grads` and is not
    /// frozen. `Err` (nothing changed) when a gradient holds a NaN or an infinity, or has
    /// another size than its parameter, or the optimizer has already taken 2⁵³ steps
    /// ([`OptimError::StepLimit`]).
    fn step(
        &mut self,
        params: &mut [&mut dyn DynParam<T>],
        grads: &Gradients<T>,
    ) -> Result<(), OptimError>;

    /// [`step`](Self::step), refused (nothing changed) when the step's `loss` is a NaN or
    /// an infinity.
    fn step_with_loss(
        &mut self,
        loss: T,
        params: &mut [&mut dyn DynParam<T>],
        grads: &Gradients<T>,
    ) -> Result<(), OptimError> {
        state::check_loss(state::next_step(self.steps())?, loss)?;
        self.step(params, grads)
    }

    /// The number of steps taken (refused steps do not count).
    fn steps(&self) -> u64;

    /// The learning rate of the next step.
    fn lr(&self) -> f64;

    /// Sets the learning rate (a [`Schedule`] gives one per step); `Err` unless finite and
    /// ≥ 0.
    fn set_lr(&mut self, lr: f64) -> Result<(), OptimError>;

    /// The state as a safetensors file, each parameter's under the name given with it,
    /// with the optimizer's state-shaping hyperparameters in the metadata (see
    /// [`load_state`](Self::load_state)). `Err` when a parameter that has state is not
    /// among `params` (its state would be lost), or a name is given twice.
    fn save_state(
        &self,
        params: &[(&str, &dyn DynParam<T>)],
    ) -> Result<SafetensorsWriter, OptimError>;

    /// Replaces the state (and the step count and learning rate) with the one saved in
    /// `file` for these parameters, by name.
    ///
    /// The learning rate is taken from the file (a [`Schedule`] sets the next one anyway);
    /// the hyperparameters that shape the state must be this optimizer's own: Adam's and
    /// AdamW's `betas`, `eps` and `amsgrad`, SGD's `momentum` and `dampening` (weight
    /// decay and Nesterov are this optimizer's, whatever the file was saved with).
    ///
    /// The state is checked as a step checks gradients. `Err`, leaving the optimizer as it
    /// was, when the file holds another optimizer's state or was saved with other
    /// state-shaping hyperparameters; a tensor is missing, has another shape than its
    /// parameter or another element type than the optimizer (an `F16` or `BF16` state is
    /// refused, not widened: a resumed run continues bit for bit or not at all); an element
    /// is a NaN or an infinity, or a second moment (`exp_avg_sq`, `max_exp_avg_sq`) is
    /// negative; the step count exceeds 2⁵³ (the most an optimizer counts), or a
    /// parameter's exceeds the optimizer's; a name is given twice; or a tensor belongs to
    /// no parameter given.
    fn load_state(
        &mut self,
        file: &SafeTensors,
        params: &[(&str, &dyn DynParam<T>)],
    ) -> Result<(), OptimError>;
}

#[cfg(test)]
mod tests {
    //! An optimizer step changes a weight through `Param::value_mut`, which drops the
    //! weight's GEMM packs: the next product reads the new values, never an old pack.
    use super::*;
    use crate::autodiff::{Params, Tape};
    use crate::dim::{Dyn, D};
    use crate::error::OrPanic;
    use crate::kernel::{packing_backends, with_backend};
    use crate::nn::linear::Linear;
    use crate::ops::linear::try_linear;
    use crate::tensor::Tensor;

    #[test]
    fn a_step_drops_the_weights_packs() {
        let x = Tensor::<(Dyn, D<40>)>::randn_with((Dyn::new(130), D), 1);
        let bits = |v: &[f32]| -> Vec<u32> { v.iter().map(|x| x.to_bits()).collect() };
        for backend in packing_backends() {
            let optimizers: [Box<dyn Optimizer<f32>>; 2] = [
                Box::new(
                    Sgd::new(SgdConfig {
                        lr: 0.1,
                        ..Default::default()
                    })
                    .or_panic(),
                ),
                Box::new(AdamW::new(AdamWConfig::default()).or_panic()),
            ];
            for mut opt in optimizers {
                with_backend(backend, || {
                    let mut lin = Linear::<D<40>, D<72>>::init(true, 0);
                    let y0 = lin.forward(&x);
                    assert!(lin.packed_bytes() > 0, "{backend:?}: no pack made");
                    let tape = Tape::new();
                    let grads = lin.forward(&tape.constant(x.clone())).sum_all().backward();
                    drop(tape);
                    opt.step(&mut lin.params_mut(), &grads).or_panic();
                    let y1 = lin.forward(&x);
                    let b = lin.bias().map(|b| b.view());
                    let unpacked = try_linear(&x.view(), &lin.weight().view(), b.as_ref());
                    assert!(
                        bits(y1.as_slice()) != bits(y0.as_slice()),
                        "{backend:?}: the step changed nothing"
                    );
                    assert!(
                        bits(y1.as_slice()) == bits(unpacked.or_panic().as_slice()),
                        "{backend:?}: the product after the step is not the new weight's"
                    );
                });
            }
        }
    }
}
