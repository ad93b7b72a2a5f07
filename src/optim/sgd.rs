//! [`Sgd`], as `torch.optim.SGD` computes it (its single-tensor path), operation for
//! operation.
//!
//! For each parameter `p` with gradient `g` (μ = momentum, τ = dampening, λ = weight
//! decay):
//!
//! ```text
//! g ← g + λ·p                                  (if λ ≠ 0)
//! b ← g  on p's first step, else  b ← μ·b + (1 − τ)·g      (if μ ≠ 0)
//! g ← g + μ·b  (Nesterov)   or   g ← b                     (if μ ≠ 0)
//! p ← p − lr·g
//! ```
//!
//! Each `x + α·y` is one fused multiply-add, as PyTorch's CPU kernel for `add(y, alpha=α)`
//! computes it, so the trajectories agree with PyTorch's to the last bit.

use super::state::{self, check_lr, gather, next_step, Spec, State};
use super::{DynParam, OptimError, Optimizer};
use crate::autodiff::{Gradients, Param};
use crate::element::Float;
use crate::io::{SafeTensors, SafetensorsWriter};
use crate::kernel::{run_avx2_fma, Avx2FmaKernel};
use crate::shape::Shape;
use crate::tensor::TensorView;

/// The state buffer, as PyTorch names it.
const SLOTS: [&str; 1] = ["momentum_buffer"];

/// What saving and loading the state of an SGD of settings `c` need: its buffer (needed
/// with momentum), and the settings that shape it.
fn spec(c: &SgdConfig) -> Spec<'static> {
    Spec {
        kind: "SGD",
        slots: &SLOTS,
        nonnegative: &[],
        required: usize::from(c.momentum != 0.0),
        shaping: vec![
            ("momentum", c.momentum.to_string()),
            ("dampening", c.dampening.to_string()),
        ],
    }
}

/// The settings of [`Sgd`]; `Default` is PyTorch's: lr 1e-3, no momentum, no dampening,
/// no weight decay, no Nesterov.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// The learning rate.
    pub lr: f64,
    /// The momentum factor μ (0: plain gradient descent).
    pub momentum: f64,
    /// The dampening τ of the momentum.
    pub dampening: f64,
    /// Coupled (L2) weight decay: `λ·p` is added to the gradient.
    pub weight_decay: f64,
    /// Nesterov momentum (needs μ > 0 and τ = 0).
    pub nesterov: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }
}

/// Stochastic gradient descent (`torch.optim.SGD`), with optional momentum, dampening,
/// Nesterov momentum and weight decay.
///
/// Its state, per parameter and shaped like it: `momentum_buffer` (when μ ≠ 0), and the
/// parameter's step count.
///
/// ```
/// use shapecheck::autodiff::{Param, Tape};
/// use shapecheck::optim::{Optimizer, Sgd, SgdConfig};
/// use shapecheck::prelude::*;
/// let mut w = Param::new(Tensor::<(D<2>,), f64>::from_vec(vec![1.0, -2.0]).unwrap());
/// let mut opt = Sgd::new(SgdConfig { lr: 0.1, momentum: 0.9, ..Default::default() })?;
/// for _ in 0..2 {
///     let tape = Tape::new();
///     let grads = tape.param(&w).sum_all().backward(); // g = 1
///     drop(tape);
///     opt.step(&mut [&mut w], &grads)?;
/// }
/// // b = 1, then 0.9 + 1 = 1.9: w moved by 0.1 · (1 + 1.9).
/// assert!((w.value()[[0]] - (1.0 - 0.29)).abs() < 1e-12);
/// assert_eq!(opt.momentum_buffer(&w).unwrap().to_vec(), vec![1.9, 1.9]);
/// # Ok::<(), shapecheck::optim::OptimError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Sgd<T: Float = f32> {
    config: SgdConfig,
    state: State<T>,
}

impl<T: Float> Sgd<T> {
    /// An optimizer with these settings and no state; `Err` when a setting is out of the
    /// range PyTorch accepts (lr, momentum, weight decay ≥ 0; Nesterov with μ > 0 and
    /// τ = 0).
    pub fn new(config: SgdConfig) -> Result<Self, OptimError> {
        check_lr(config.lr)?;
        let bad = |detail: String| Err(OptimError::Config { detail });
        if !(config.momentum >= 0.0 && config.momentum.is_finite()) {
            return bad(format!(
                "momentum must be finite and ≥ 0, got {}",
                config.momentum
            ));
        }
        if !config.dampening.is_finite() {
            return bad(format!(
                "dampening must be finite, got {}",
                config.dampening
            ));
        }
        if !(config.weight_decay >= 0.0 && config.weight_decay.is_finite()) {
            return bad(format!(
                "weight_decay must be finite and ≥ 0, got {}",
                config.weight_decay
            ));
        }
        if config.nesterov && (config.momentum <= 0.0 || config.dampening != 0.0) {
            return bad("Nesterov momentum requires a momentum and zero dampening".into());
        }
        Ok(Sgd {
            config,
            state: State::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }

    /// The momentum buffer of `p`, shaped like `p`; `None` before `p`'s first step or
    /// without momentum.
    pub fn momentum_buffer<S: Shape>(&self, p: &Param<S, T>) -> Option<TensorView<'_, S, T>> {
        self.state.view(p, 0)
    }

    /// The number of steps `p` took.
    pub fn param_steps<S: Shape>(&self, p: &Param<S, T>) -> u64 {
        self.state.step_of(p.id())
    }
}

/// One parameter's update; `buf` is its momentum buffer, empty before its first step.
fn update<T: Float>(c: &SgdConfig, p: &mut [T], g: &[T], buf: &mut Vec<T>) {
    let k = SgdCoeffs {
        wd: T::from_f64(c.weight_decay),
        mu: T::from_f64(c.momentum),
        keep: T::from_f64(1.0 - c.dampening),
        neg_lr: T::from_f64(-c.lr),
        weight_decay: c.weight_decay != 0.0,
        nesterov: c.nesterov,
        first: buf.len() != p.len(),
    };
    if c.momentum != 0.0 && k.first {
        *buf = vec![T::ZERO; p.len()];
    }
    // Without momentum there is no buffer: `buf` is then empty and ignored.
    let buf: &mut [T] = if c.momentum != 0.0 { buf } else { &mut [] };
    // Every element is updated on its own, so splitting the buffers into chunks over
    // threads changes nothing in the results.
    let threads = crate::parallel::threads(crate::parallel::Work::Elementwise(p.len()));
    if threads == 1 {
        run_avx2_fma(SgdPass { k, p, g, buf });
        return;
    }
    let chunk = p.len().div_ceil(threads * 4).max(1);
    let mut bufs = buf.chunks_mut(chunk);
    let pieces: Vec<SgdPass<'_, T>> = p
        .chunks_mut(chunk)
        .zip(g.chunks(chunk))
        .map(|(p, g)| SgdPass {
            k,
            p,
            g,
            buf: bufs.next().unwrap_or_default(),
        })
        .collect();
    crate::parallel::for_each_chunk(pieces, threads, || (), |_, _, piece| run_avx2_fma(piece));
}

/// The scalars of one parameter's update, rounded to the element type once.
#[derive(Clone, Copy)]
struct SgdCoeffs<T> {
    wd: T,
    mu: T,
    keep: T,
    neg_lr: T,
    weight_decay: bool,
    nesterov: bool,
    /// The parameter's first step: the momentum buffer starts as the gradient.
    first: bool,
}

impl<T: Float> SgdCoeffs<T> {
    /// One element's update; `buf` is its momentum buffer, if momentum is on.
    #[inline(always)]
    fn apply(&self, p: &mut T, g: T, buf: Option<&mut T>) {
        let k = self;
        let mut gi = g;
        if k.weight_decay {
            gi = k.wd.mul_add(*p, gi);
        }
        if let Some(b) = buf {
            *b = if k.first {
                gi
            } else {
                k.keep.mul_add(gi, *b * k.mu)
            };
            gi = if k.nesterov { k.mu.mul_add(*b, gi) } else { *b };
        }
        *p = k.neg_lr.mul_add(gi, *p);
    }
}

/// The update over (a chunk of) one parameter, for [`run_avx2_fma`]: compiled for
/// AVX2/FMA, each `mul_add` is one `vfmadd` (the same bits as the scalar fused
/// multiply-add, without a call to libm's `fma`); `buf` is empty without momentum.
struct SgdPass<'a, T> {
    k: SgdCoeffs<T>,
    p: &'a mut [T],
    g: &'a [T],
    buf: &'a mut [T],
}

impl<T: Float> Avx2FmaKernel for SgdPass<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let SgdPass { k, p, g, buf } = self;
        let each = p.iter_mut().zip(g);
        if buf.is_empty() {
            for (p, &g) in each {
                k.apply(p, g, None);
            }
        } else {
            for ((p, &g), b) in each.zip(buf) {
                k.apply(p, g, Some(b));
            }
        }
    }
}

impl<T: Float> Optimizer<T> for Sgd<T> {
    fn step(
        &mut self,
        params: &mut [&mut dyn DynParam<T>],
        grads: &Gradients<T>,
    ) -> Result<(), OptimError> {
        let next = next_step(self.state.steps)?;
        let gs = gather(next, params, grads)?;
        for (p, g) in params.iter_mut().zip(gs) {
            let Some(g) = g else { continue };
            let slot = self.state.slot(p.id(), SLOTS.len());
            // A parameter's steps are at most the optimizer's, which `next_step` just
            // found below 2^53: no overflow.
            slot.step += 1;
            update(&self.config, p.values_mut(), g, &mut slot.bufs[0]);
        }
        self.state.steps = next;
        Ok(())
    }

    fn steps(&self) -> u64 {
        self.state.steps
    }

    fn lr(&self) -> f64 {
        self.config.lr
    }

    fn set_lr(&mut self, lr: f64) -> Result<(), OptimError> {
        check_lr(lr)?;
        self.config.lr = lr;
        Ok(())
    }

    fn save_state(
        &self,
        params: &[(&str, &dyn DynParam<T>)],
    ) -> Result<SafetensorsWriter, OptimError> {
        let config = format!("{:?}", self.config);
        state::save(
            &self.state,
            &spec(&self.config),
            self.config.lr,
            config,
            params,
        )
    }

    fn load_state(
        &mut self,
        file: &SafeTensors,
        params: &[(&str, &dyn DynParam<T>)],
    ) -> Result<(), OptimError> {
        let (state, lr) = state::load(file, &spec(&self.config), params)?;
        self.state = state;
        self.config.lr = lr;
        Ok(())
    }
}
