//! The machinery the optimizers share: per-parameter state keyed by [`ParamId`], the
//! checks a step makes before it writes anything, and saving / restoring state with
//! safetensors.
//!
//! A saved state holds, for each parameter given by name, `{name}.step` (an `F64` scalar:
//! the number of steps that parameter took) and `{name}.{slot}` for each state buffer,
//! named as PyTorch names them (`exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`,
//! `momentum_buffer`) and stored with the parameter's own shape; the metadata records the
//! optimizer (`optimizer`), the number of steps taken (`steps`) and the learning rate
//! (`lr`, printed so that it parses back to the same `f64`). The buffers keep their element
//! type, so a run restored from a file continues bit for bit.

use std::collections::HashMap;

use super::{DynParam, OptimError};
use crate::autodiff::{Gradients, Param, ParamId};
use crate::element::Float;
use crate::io::{SafeTensors, SafetensorsWriter};
use crate::shape::Shape;
use crate::tensor::{Tensor, TensorView};

/// The state of one parameter: the steps it took, and its buffers (one per slot name of
/// the optimizer, each laid out like the parameter; empty until first used).
#[derive(Clone, Debug)]
pub(crate) struct Slot<T> {
    pub(crate) step: u64,
    pub(crate) bufs: Vec<Vec<T>>,
}

/// Every parameter's state, and the number of steps the optimizer took.
#[derive(Clone, Debug)]
pub(crate) struct State<T> {
    pub(crate) slots: HashMap<ParamId, Slot<T>>,
    pub(crate) steps: u64,
}

impl<T: Float> State<T> {
    pub(crate) fn new() -> Self {
        State {
            slots: HashMap::new(),
            steps: 0,
        }
    }

    /// Buffer `k` of `p`'s state, with `p`'s shape; `None` before its first step (or when
    /// the slot is unused).
    pub(crate) fn view<S: Shape>(&self, p: &Param<S, T>, k: usize) -> Option<TensorView<'_, S, T>> {
        let buf = self.slots.get(&p.id())?.bufs.get(k)?;
        let shape = p.value().shape();
        // An unused buffer is empty, so it fits only a parameter with no element.
        (buf.len() == shape.num_elements()).then(|| TensorView::contiguous(buf, shape))
    }

    /// The steps `id` took; 0 when it has no state.
    pub(crate) fn step_of(&self, id: ParamId) -> u64 {
        self.slots.get(&id).map_or(0, |s| s.step)
    }

    /// `id`'s state, created with `n` empty buffers on first use.
    pub(crate) fn slot(&mut self, id: ParamId, n: usize) -> &mut Slot<T> {
        self.slots.entry(id).or_insert_with(|| Slot {
            step: 0,
            bufs: vec![Vec::new(); n],
        })
    }
}

/// The gradient of each parameter a step updates (`None`: frozen or no gradient, skipped),
/// after checking every one of them: right size, every element finite. Nothing is written
/// until all of them passed, which is what leaves a refused step without effect.
pub(crate) fn gather<'g, T: Float>(
    step: u64,
    params: &[&mut dyn DynParam<T>],
    grads: &'g Gradients<T>,
) -> Result<Vec<Option<&'g [T]>>, OptimError> {
    params
        .iter()
        .enumerate()
        .map(|(index, p)| {
            if p.is_frozen() {
                return Ok(None);
            }
            let Some(g) = grads.get(p.id()) else {
                return Ok(None);
            };
            if g.len() != p.values().len() {
                return Err(OptimError::GradientSize {
                    index,
                    shape: p.describe(),
                    found: g.len(),
                });
            }
            if let Some((element, v)) = g.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(OptimError::NonFiniteGradient {
                    step,
                    index,
                    id: p.id(),
                    shape: p.describe(),
                    element,
                    value: v.to_f64(),
                });
            }
            Ok(Some(g))
        })
        .collect()
}

/// `Err` naming `step` when `loss` is not finite.
pub(crate) fn check_loss<T: Float>(step: u64, loss: T) -> Result<(), OptimError> {
    if loss.is_finite() {
        Ok(())
    } else {
        Err(OptimError::NonFiniteLoss {
            step,
            loss: loss.to_f64(),
        })
    }
}

/// Checks a learning rate as PyTorch's constructors do.
pub(crate) fn check_lr(lr: f64) -> Result<(), OptimError> {
    if lr >= 0.0 && lr.is_finite() {
        Ok(())
    } else {
        Err(OptimError::Config {
            detail: format!("the learning rate must be finite and ≥ 0, got {lr}"),
        })
    }
}

/// The state as a safetensors file (see the module docs for the layout). Every parameter
/// that has state must be among `params`, or its state would be lost: an `Err`.
pub(crate) fn save<T: Float>(
    state: &State<T>,
    kind: &str,
    slot_names: &[&str],
    lr: f64,
    config: String,
    params: &[(&str, &dyn DynParam<T>)],
) -> Result<SafetensorsWriter, OptimError> {
    for id in state.slots.keys() {
        if !params.iter().any(|(_, p)| p.id() == *id) {
            return Err(OptimError::State {
                detail: format!(
                    "parameter {id:?} has optimizer state, but no name was given for it"
                ),
            });
        }
    }
    let mut w = SafetensorsWriter::new();
    w.metadata("optimizer", kind)
        .metadata("steps", &state.steps.to_string())
        .metadata("lr", &lr.to_string())
        .metadata("config", &config);
    for (name, p) in params {
        let Some(slot) = state.slots.get(&p.id()) else {
            continue;
        };
        w.add(
            &format!("{name}.step"),
            &Tensor::<(), f64>::full(slot.step as f64),
        )?;
        for (buf, slot_name) in slot.bufs.iter().zip(slot_names) {
            if !buf.is_empty() {
                p.save_like(&mut w, &format!("{name}.{slot_name}"), buf)?;
            }
        }
    }
    Ok(w)
}

/// Reads a state written by [`save`] for the parameters `params` (by name): the state, and
/// the learning rate it was saved with. `Err` when the file is of another optimizer, or a
/// tensor is missing (the first `required` slots of a parameter that took a step must be
/// there), of another shape, or belongs to no parameter given.
pub(crate) fn load<T: Float>(
    file: &SafeTensors,
    kind: &str,
    slot_names: &[&str],
    required: usize,
    params: &[(&str, &dyn DynParam<T>)],
) -> Result<(State<T>, f64), OptimError> {
    let meta = |key: &str| {
        file.metadata().get(key).ok_or_else(|| OptimError::State {
            detail: format!("the file has no `{key}` metadata: not a saved optimizer state"),
        })
    };
    let found = meta("optimizer")?;
    if found != kind {
        return Err(OptimError::State {
            detail: format!("the file holds the state of {found}, not of {kind}"),
        });
    }
    let parse_err = |key: &str, v: &str| OptimError::State {
        detail: format!("metadata `{key}` = `{v}` does not parse"),
    };
    let steps_text = meta("steps")?;
    let steps: u64 = steps_text
        .parse()
        .map_err(|_| parse_err("steps", steps_text))?;
    let lr_text = meta("lr")?;
    let lr: f64 = lr_text.parse().map_err(|_| parse_err("lr", lr_text))?;
    check_lr(lr)?;

    let mut state = State::new();
    state.steps = steps;
    let mut used = 0;
    for (name, p) in params {
        let step_name = format!("{name}.step");
        if file.info(&step_name).is_none() {
            continue;
        }
        let step = file.load::<(), f64>(&step_name)?.as_slice()[0];
        if !(step >= 0.0 && step <= steps as f64 && step.fract() == 0.0) {
            return Err(OptimError::State {
                detail: format!("`{step_name}` = {step} is not a step count between 0 and {steps}"),
            });
        }
        used += 1;
        let mut bufs = Vec::with_capacity(slot_names.len());
        for slot_name in slot_names {
            let key = format!("{name}.{slot_name}");
            if file.info(&key).is_some() {
                bufs.push(p.load_like(file, &key)?);
                used += 1;
            } else {
                bufs.push(Vec::new());
            }
        }
        let n = p.values().len();
        if let Some(k) = (0..required).find(|&k| step > 0.0 && bufs[k].len() != n) {
            return Err(OptimError::State {
                detail: format!(
                    "parameter `{name}` took {step} steps, but the file has no `{name}.{}`",
                    slot_names[k]
                ),
            });
        }
        let slot = Slot {
            step: step as u64,
            bufs,
        };
        if state.slots.insert(p.id(), slot).is_some() {
            return Err(OptimError::State {
                detail: format!("parameter `{name}` is given twice"),
            });
        }
    }
    if used != file.names().len() {
        let known: Vec<String> = params
            .iter()
            .flat_map(|(n, _)| {
                std::iter::once(format!("{n}.step"))
                    .chain(slot_names.iter().map(move |s| format!("{n}.{s}")))
            })
            .collect();
        let stray = file
            .names()
            .into_iter()
            .find(|n| !known.iter().any(|k| k == n))
            .unwrap_or("?");
        return Err(OptimError::State {
            detail: format!("tensor `{stray}` of the file belongs to no parameter given"),
        });
    }
    Ok((state, lr))
}
