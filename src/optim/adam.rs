//! [`Adam`] and [`AdamW`], as `torch.optim.Adam` / `torch.optim.AdamW` compute them
//! (their single-tensor path, `foreach=False`), operation for operation.
//!
//! For each parameter `p` with gradient `g`, at its step `t` (1 for its first):
//!
//! ```text
//! Adam:   g ← g + λ·p                          (coupled weight decay, λ = weight_decay)
//! AdamW:  p ← p · (1 − lr·λ)                   (decoupled weight decay)
//! m ← lerp(m, g, 1 − β₁)                       (= m + (1 − β₁)(g − m))
//! v ← v·β₂ + (1 − β₂)·g·g
//! v̂ ← max(v̂, v)                                (AMSGrad only; the max of the raw v)
//! denom ← √v / √(1 − β₂ᵗ) + ε                  (√v̂ with AMSGrad; ε outside the root,
//!                                               after the bias correction)
//! p ← p − (lr / (1 − β₁ᵗ)) · m / denom
//! ```
//!
//! The scalars (`1 − β₁ᵗ`, `lr / (1 − β₁ᵗ)`, `√(1 − β₂ᵗ)`, `1 − lr·λ`) are computed in
//! `f64`, as Python does, and rounded to the element type once; the element-wise
//! operations run in the element type, in PyTorch's order, with a fused multiply-add
//! where PyTorch's CPU kernels use one (`add(…, alpha)`, `lerp`, `addcmul`). The one
//! operation that cannot agree to the bit is the square root: PyTorch's vectorised `sqrt`
//! is within an ulp, this one is correctly rounded.

use super::state::{self, check_lr, gather, next_step, Spec, State};
use super::{DynParam, OptimError, Optimizer};
use crate::autodiff::{Gradients, Param};
use crate::element::Float;
use crate::io::{SafeTensors, SafetensorsWriter};
use crate::kernel::{run_avx2_fma, Avx2FmaKernel};
use crate::shape::Shape;
use crate::tensor::TensorView;

/// The state buffers, as PyTorch names them.
const SLOTS: [&str; 3] = ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

/// What saving and loading the state of an optimizer of settings `c` need: its buffers
/// (the second moments never negative), and the settings that shape them.
fn spec<'a>(kind: &'a str, c: &AdamConfig) -> Spec<'a> {
    Spec {
        kind,
        slots: &SLOTS,
        nonnegative: &SLOTS[1..],
        required: if c.amsgrad { 3 } else { 2 },
        shaping: vec![
            ("beta1", c.betas.0.to_string()),
            ("beta2", c.betas.1.to_string()),
            ("eps", c.eps.to_string()),
            ("amsgrad", c.amsgrad.to_string()),
        ],
    }
}

/// The settings of [`Adam`]; `Default` is PyTorch's: lr 1e-3, betas (0.9, 0.999), eps
/// 1e-8, no weight decay, no AMSGrad.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// The learning rate.
    pub lr: f64,
    /// The decay rates of the first and second moment averages.
    pub betas: (f64, f64),
    /// Added to the bias-corrected root of the second moment.
    pub eps: f64,
    /// Coupled (L2) weight decay: `λ·p` is added to the gradient.
    pub weight_decay: f64,
    /// Whether to normalise by the running maximum of the second moment.
    pub amsgrad: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
        }
    }
}

/// The settings of [`AdamW`]; `Default` is PyTorch's: lr 1e-3, betas (0.9, 0.999), eps
/// 1e-8, weight decay 1e-2 (decoupled), no AMSGrad.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWConfig {
    /// The learning rate.
    pub lr: f64,
    /// The decay rates of the first and second moment averages.
    pub betas: (f64, f64),
    /// Added to the bias-corrected root of the second moment.
    pub eps: f64,
    /// Decoupled weight decay: `p ← p·(1 − lr·λ)` before the update.
    pub weight_decay: f64,
    /// Whether to normalise by the running maximum of the second moment.
    pub amsgrad: bool,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            weight_decay: 1e-2,
            ..AdamWConfig::from(AdamConfig::default())
        }
    }
}

impl From<AdamConfig> for AdamWConfig {
    fn from(c: AdamConfig) -> Self {
        AdamWConfig {
            lr: c.lr,
            betas: c.betas,
            eps: c.eps,
            weight_decay: c.weight_decay,
            amsgrad: c.amsgrad,
        }
    }
}

impl AdamConfig {
    fn check(&self) -> Result<(), OptimError> {
        check_lr(self.lr)?;
        let bad = |detail: String| Err(OptimError::Config { detail });
        if self.eps.is_nan() || self.eps < 0.0 {
            return bad(format!("eps must be ≥ 0, got {}", self.eps));
        }
        for (i, b) in [self.betas.0, self.betas.1].into_iter().enumerate() {
            if !(0.0..1.0).contains(&b) {
                return bad(format!("betas.{i} must be in [0, 1), got {b}"));
            }
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad(format!(
                "weight_decay must be finite and ≥ 0, got {}",
                self.weight_decay
            ));
        }
        Ok(())
    }
}

/// One parameter's update; `bufs` are its `SLOTS`, allocated on first use.
fn update<T: Float>(
    c: &AdamConfig,
    decoupled: bool,
    step: u64,
    p: &mut [T],
    g: &[T],
    bufs: &mut [Vec<T>],
) {
    let n = p.len();
    let used = if c.amsgrad { 3 } else { 2 };
    for buf in &mut bufs[..used] {
        if buf.len() != n {
            *buf = vec![T::ZERO; n];
        }
    }
    let k = Coeffs::new(c, decoupled, step);
    let (m, rest) = bufs.split_at_mut(1);
    let (v, vmax) = rest.split_at_mut(1);
    let (m, v) = (&mut m[0][..], &mut v[0][..]);
    let vmax: &mut [T] = if c.amsgrad { &mut vmax[0] } else { &mut [] };
    // Every element is updated on its own, so splitting the buffers into chunks over
    // threads changes nothing in the results.
    let threads = crate::parallel::threads(crate::parallel::Work::Elementwise(n));
    if threads == 1 {
        run_avx2_fma(AdamPass {
            k,
            p,
            g,
            m,
            v,
            vmax,
        });
        return;
    }
    let chunk = n.div_ceil(threads * 4).max(1);
    let mut vmaxes = vmax.chunks_mut(chunk);
    let pieces: Vec<AdamPass<'_, T>> = p
        .chunks_mut(chunk)
        .zip(g.chunks(chunk))
        .zip(m.chunks_mut(chunk).zip(v.chunks_mut(chunk)))
        .map(|((p, g), (m, v))| AdamPass {
            k,
            p,
            g,
            m,
            v,
            vmax: vmaxes.next().unwrap_or_default(),
        })
        .collect();
    crate::parallel::for_each_chunk(pieces, threads, || (), |_, _, piece| run_avx2_fma(piece));
}

/// The scalars of one parameter's update at its step `t`, computed in `f64` and rounded to
/// the element type once.
#[derive(Clone, Copy)]
struct Coeffs<T> {
    neg_step: T,
    bc2_sqrt: T,
    eps: T,
    beta2: T,
    one_minus_b2: T,
    decay: T,
    wd: T,
    w: T,
    w_minus_one: T,
    small: bool,
    weight_decay: bool,
    decoupled: bool,
}

impl<T: Float> Coeffs<T> {
    fn new(c: &AdamConfig, decoupled: bool, step: u64) -> Self {
        let (b1, b2) = c.betas;
        let t = step as f64;
        let bias_correction1 = 1.0 - b1.powf(t);
        let bias_correction2 = 1.0 - b2.powf(t);
        let step_size = c.lr / bias_correction1;
        // torch.lerp: two formulas, chosen by the weight, for accuracy at both ends.
        let w = T::from_f64(1.0 - b1);
        Coeffs {
            neg_step: T::from_f64(-step_size),
            bc2_sqrt: T::from_f64(bias_correction2.sqrt()),
            eps: T::from_f64(c.eps),
            beta2: T::from_f64(b2),
            one_minus_b2: T::from_f64(1.0 - b2),
            decay: T::from_f64(1.0 - c.lr * c.weight_decay),
            wd: T::from_f64(c.weight_decay),
            w,
            w_minus_one: w - T::ONE,
            small: w.abs() < T::from_f64(0.5),
            weight_decay: c.weight_decay != 0.0,
            decoupled,
        }
    }

    /// One element's update; `vmax` is its AMSGrad maximum, if any.
    #[inline(always)]
    fn apply(&self, p: &mut T, g: T, m: &mut T, v: &mut T, vmax: Option<&mut T>) {
        let k = self;
        let mut gi = g;
        if k.weight_decay {
            if k.decoupled {
                *p *= k.decay;
            } else {
                gi = k.wd.mul_add(*p, gi);
            }
        }
        *m = if k.small {
            k.w.mul_add(gi - *m, *m)
        } else {
            k.w_minus_one.mul_add(gi - *m, gi)
        };
        *v *= k.beta2;
        *v = (k.one_minus_b2 * gi).mul_add(gi, *v);
        let second = match vmax {
            Some(vm) => {
                *vm = vm.max(*v);
                *vm
            }
            None => *v,
        };
        let denom = second.sqrt() / k.bc2_sqrt + k.eps;
        *p += k.neg_step * *m / denom;
    }
}

/// The update over (a chunk of) one parameter's buffers, for [`run_avx2_fma`]: compiled
/// for AVX2/FMA, each `mul_add` is one `vfmadd` (the same bits as the scalar fused
/// multiply-add, without a call to libm's `fma`), eight lanes at a time; `vmax` is empty
/// without AMSGrad.
struct AdamPass<'a, T> {
    k: Coeffs<T>,
    p: &'a mut [T],
    g: &'a [T],
    m: &'a mut [T],
    v: &'a mut [T],
    vmax: &'a mut [T],
}

impl<T: Float> Avx2FmaKernel for AdamPass<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let AdamPass {
            k,
            p,
            g,
            m,
            v,
            vmax,
        } = self;
        let each = p.iter_mut().zip(g).zip(m.iter_mut().zip(v.iter_mut()));
        if vmax.is_empty() {
            for ((p, &g), (m, v)) in each {
                k.apply(p, g, m, v, None);
            }
        } else {
            for (((p, &g), (m, v)), vm) in each.zip(vmax) {
                k.apply(p, g, m, v, Some(vm));
            }
        }
    }
}

/// A whole step: the checks, then every parameter's update.
fn step<T: Float>(
    c: &AdamConfig,
    decoupled: bool,
    state: &mut State<T>,
    params: &mut [&mut dyn DynParam<T>],
    grads: &Gradients<T>,
) -> Result<(), OptimError> {
    let next = next_step(state.steps)?;
    let gs = gather(next, params, grads)?;
    for (p, g) in params.iter_mut().zip(gs) {
        let Some(g) = g else { continue };
        let slot = state.slot(p.id(), SLOTS.len());
        // A parameter's steps are at most the optimizer's, which `next_step` just found
        // below 2^53: no overflow.
        slot.step += 1;
        update(c, decoupled, slot.step, p.values_mut(), g, &mut slot.bufs);
    }
    state.steps = next;
    Ok(())
}

macro_rules! adam_impl {
    ($Opt:ident, $Config:ident, $name:literal, $decoupled:literal) => {
        impl<T: Float> $Opt<T> {
            /// An optimizer with these settings and no state; `Err` when a setting is out
            /// of the range PyTorch accepts (lr, eps, weight decay ≥ 0; betas in [0, 1)).
            pub fn new(config: $Config) -> Result<Self, OptimError> {
                let opt = $Opt {
                    config,
                    state: State::new(),
                };
                opt.core().check()?;
                Ok(opt)
            }

            /// The settings.
            pub fn config(&self) -> &$Config {
                &self.config
            }

            fn core(&self) -> AdamConfig {
                let c = &self.config;
                AdamConfig {
                    lr: c.lr,
                    betas: c.betas,
                    eps: c.eps,
                    weight_decay: c.weight_decay,
                    amsgrad: c.amsgrad,
                }
            }

            /// The first moment average `m` of `p`, shaped like `p`; `None` before `p`'s
            /// first step.
            pub fn exp_avg<S: Shape>(&self, p: &Param<S, T>) -> Option<TensorView<'_, S, T>> {
                self.state.view(p, 0)
            }

            /// The second moment average `v` of `p`, shaped like `p`.
            pub fn exp_avg_sq<S: Shape>(&self, p: &Param<S, T>) -> Option<TensorView<'_, S, T>> {
                self.state.view(p, 1)
            }

            /// The running maximum of `v` (AMSGrad only), shaped like `p`.
            pub fn max_exp_avg_sq<S: Shape>(
                &self,
                p: &Param<S, T>,
            ) -> Option<TensorView<'_, S, T>> {
                self.state.view(p, 2)
            }

            /// The number of steps `p` took (its bias corrections use it).
            pub fn param_steps<S: Shape>(&self, p: &Param<S, T>) -> u64 {
                self.state.step_of(p.id())
            }
        }

        impl<T: Float> Optimizer<T> for $Opt<T> {
            fn step(
                &mut self,
                params: &mut [&mut dyn DynParam<T>],
                grads: &Gradients<T>,
            ) -> Result<(), OptimError> {
                let c = self.core();
                step(&c, $decoupled, &mut self.state, params, grads)
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
                let spec = spec($name, &self.core());
                state::save(&self.state, &spec, self.config.lr, config, params)
            }

            fn load_state(
                &mut self,
                file: &SafeTensors,
                params: &[(&str, &dyn DynParam<T>)],
            ) -> Result<(), OptimError> {
                let (state, lr) = state::load(file, &spec($name, &self.core()), params)?;
                self.state = state;
                self.config.lr = lr;
                Ok(())
            }
        }
    };
}

/// Adam (`torch.optim.Adam`): per-parameter steps from bias-corrected running averages of
/// the gradient and its square; weight decay, if any, is added to the gradient.
///
/// Its state, per parameter and shaped like it: `exp_avg`, `exp_avg_sq` (and
/// `max_exp_avg_sq` with AMSGrad), and the parameter's step count. See the
/// [module docs](super) for a training loop.
#[derive(Clone, Debug)]
pub struct Adam<T: Float = f32> {
    config: AdamConfig,
    state: State<T>,
}

/// AdamW (`torch.optim.AdamW`): Adam with decoupled weight decay, `p ← p·(1 − lr·λ)`
/// before each update (default λ = 1e-2).
///
/// ```
/// use shapecheck::autodiff::{Param, Tape};
/// use shapecheck::optim::{AdamW, AdamWConfig, Optimizer};
/// use shapecheck::prelude::*;
/// let mut w = Param::new(Tensor::<(D<2>,)>::from_vec(vec![1.0, -1.0]).unwrap());
/// let mut opt = AdamW::new(AdamWConfig { lr: 0.1, ..Default::default() })?;
/// let tape = Tape::new();
/// let grads = tape.param(&w).powi(2).sum_all().backward(); // 2w
/// drop(tape);
/// opt.step(&mut [&mut w], &grads)?;
/// // The first Adam step moves each weight by lr against its gradient's sign (m/√v = ±1),
/// // after the decay 1 − lr·λ = 0.999.
/// assert!((w.value()[[0]] - (0.999 - 0.1)).abs() < 1e-6);
/// assert_eq!(opt.exp_avg(&w).unwrap().to_vec(), vec![0.2, -0.2]);
/// # Ok::<(), shapecheck::optim::OptimError>(())
/// ```
#[derive(Clone, Debug)]
pub struct AdamW<T: Float = f32> {
    config: AdamWConfig,
    state: State<T>,
}

adam_impl!(Adam, AdamConfig, "Adam", false);
adam_impl!(AdamW, AdamWConfig, "AdamW", true);
