//! [`Schedule`]: the learning rate as a function of the number of steps taken.
//!
//! A schedule is a plain function of the step count, with no state of its own: before each
//! step, `opt.set_lr(schedule.lr(opt.steps()))`. A resumed run (whose optimizer state holds
//! its step count) therefore continues the schedule where it stopped.

use super::OptimError;

/// A learning-rate schedule.
///
/// `WarmupCosine` is the linear warmup + cosine decay of Hugging Face's
/// `get_cosine_schedule_with_warmup` (PyTorch's `LambdaLR` with that factor), with an
/// optional floor: for the step `s` about to be taken (0 for the first),
///
/// ```text
/// lr(s) = peak · s / warmup                                  for s < warmup
/// lr(s) = peak · (f + (1 − f) · ½(1 + cos(π·q)))             for s ≥ warmup,
///         q = min(1, (s − warmup) / max(1, total − warmup)),  f = floor
/// ```
///
/// so the rate rises from 0 to `peak` over `warmup` steps, then falls along a half cosine
/// to `floor · peak` at step `total`, and stays there.
///
/// ```
/// use shapecheck::optim::Schedule;
/// let s = Schedule::warmup_cosine(1e-3, 10, 110, 0.0)?;
/// assert_eq!(s.lr(0), 0.0);
/// assert_eq!(s.lr(5), 5e-4);
/// assert_eq!(s.lr(10), 1e-3);
/// assert!((s.lr(60) - 5e-4).abs() < 1e-15); // half way down the cosine
/// assert!(s.lr(110).abs() < 1e-18);
/// assert_eq!(Schedule::Constant(0.1).lr(1_000), 0.1);
/// # Ok::<(), shapecheck::optim::OptimError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// The same rate at every step.
    Constant(f64),
    /// Linear warmup, then cosine decay; build it with [`Schedule::warmup_cosine`].
    WarmupCosine {
        /// The rate at the end of the warmup.
        peak: f64,
        /// The number of warmup steps.
        warmup: u64,
        /// The step at which the decay ends.
        total: u64,
        /// The final rate as a fraction of `peak`, in [0, 1].
        floor: f64,
    },
}

impl Schedule {
    /// A warmup + cosine schedule; `Err` unless `peak ≥ 0` is finite, `floor` is in
    /// [0, 1] and `warmup ≤ total`.
    pub fn warmup_cosine(
        peak: f64,
        warmup: u64,
        total: u64,
        floor: f64,
    ) -> Result<Self, OptimError> {
        super::state::check_lr(peak)?;
        if !(0.0..=1.0).contains(&floor) {
            return Err(OptimError::Config {
                detail: format!("the floor of a schedule is a fraction in [0, 1], got {floor}"),
            });
        }
        if warmup > total {
            return Err(OptimError::Config {
                detail: format!(
                    "the warmup ({warmup} steps) is longer than the schedule ({total})"
                ),
            });
        }
        Ok(Schedule::WarmupCosine {
            peak,
            warmup,
            total,
            floor,
        })
    }

    /// The rate for the step about to be taken when `steps` steps have been taken.
    pub fn lr(&self, steps: u64) -> f64 {
        match *self {
            Schedule::Constant(lr) => lr,
            Schedule::WarmupCosine {
                peak,
                warmup,
                total,
                floor,
            } => {
                let factor = if steps < warmup {
                    steps as f64 / warmup.max(1) as f64
                } else {
                    let q = (steps - warmup) as f64 / (total - warmup).max(1) as f64;
                    let cosine = 0.5 * (1.0 + (core::f64::consts::PI * q.min(1.0)).cos());
                    floor + (1.0 - floor) * cosine
                };
                peak * factor
            }
        }
    }
}
