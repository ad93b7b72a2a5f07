//! The machinery the optimizers share: per-parameter state keyed by [`ParamId`], the
//! checks a step makes before it writes anything, and saving / restoring state with
//! safetensors.
//!
//! A saved state holds, for each parameter given by name, `{name}.step` (an `F64` scalar:
//! the number of steps that parameter took) and `{name}.{slot}` for each state buffer,
//! named as PyTorch names them (`exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`,
//! `momentum_buffer`) and stored with the parameter's own shape; the metadata records the
//! optimizer (`optimizer`), the number of steps taken (`steps`) and the learning rate
//! (`lr`, printed so that it parses back to the same `f64`), and the hyperparameters that
//! shape the state (Adam's `beta1`, `beta2`, `eps`, `amsgrad`; SGD's `momentum`,
//! `dampening`). The buffers keep their element type, so a run restored from a file
//! continues bit for bit.
//!
//! A loaded state is checked as a step checks gradients (see [`load`]): a NaN, an
//! infinity, a negative second moment, a step count past [`MAX_STEPS`], a name given
//! twice, other state-shaping hyperparameters or another element type are refused, and the
//! optimizer is left as it was.

use std::collections::{HashMap, HashSet};

use super::{DynParam, OptimError};
use crate::autodiff::{Gradients, Param, ParamId};
use crate::element::Float;
use crate::io::{Dtype, SafeTensors, SafetensorsWriter};
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

/// The most steps an optimizer counts: 2⁵³, the largest count an `F64` (how a saved state
/// stores a parameter's steps) holds exactly. A step beyond it is refused
/// ([`OptimError::StepLimit`]), and so is a saved state that claims more, so `steps + 1`
/// can neither wrap nor round.
pub(crate) const MAX_STEPS: u64 = 1 << 53;

/// The number of the step about to be taken after `steps`; `Err` (nothing changed) when
/// `steps` is already [`MAX_STEPS`].
pub(crate) fn next_step(steps: u64) -> Result<u64, OptimError> {
    match steps.checked_add(1) {
        Some(next) if next <= MAX_STEPS => Ok(next),
        _ => Err(OptimError::StepLimit { steps }),
    }
}

/// What saving and loading need to know of an optimizer.
pub(crate) struct Spec<'a> {
    /// The `optimizer` metadata: `Adam`, `AdamW`, `SGD`.
    pub(crate) kind: &'a str,
    /// The state buffers, by PyTorch's names, in the order of a [`Slot`]'s `bufs`.
    pub(crate) slots: &'a [&'a str],
    /// The slots whose elements are never negative (second-moment averages).
    pub(crate) nonnegative: &'a [&'a str],
    /// The first `required` slots must be in the file for a parameter that took a step.
    pub(crate) required: usize,
    /// The hyperparameters that shape the state, as metadata key and value printed with
    /// `{}` (which parses back to the same `f64`): written by [`save`], and a file saved
    /// with another value is refused by [`load`].
    pub(crate) shaping: Vec<(&'static str, String)>,
}

/// The state as a safetensors file (see the module docs for the layout). Every parameter
/// that has state must be among `params`, or its state would be lost, and no name may be
/// given twice: an `Err` otherwise.
pub(crate) fn save<T: Float>(
    state: &State<T>,
    spec: &Spec<'_>,
    lr: f64,
    config: String,
    params: &[(&str, &dyn DynParam<T>)],
) -> Result<SafetensorsWriter, OptimError> {
    check_names(params)?;
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
    w.metadata("optimizer", spec.kind)
        .metadata("steps", &state.steps.to_string())
        .metadata("lr", &lr.to_string())
        .metadata("config", &config);
    for (key, value) in &spec.shaping {
        w.metadata(key, value);
    }
    for (name, p) in params {
        let Some(slot) = state.slots.get(&p.id()) else {
            continue;
        };
        // Exact: a step count is at most MAX_STEPS = 2^53.
        w.add(
            &format!("{name}.step"),
            &Tensor::<(), f64>::full(slot.step as f64),
        )?;
        for (buf, slot_name) in slot.bufs.iter().zip(spec.slots) {
            if !buf.is_empty() {
                p.save_like(&mut w, &format!("{name}.{slot_name}"), buf)?;
            }
        }
    }
    Ok(w)
}

/// `Err` naming the first name given to two parameters.
fn check_names<T: Float>(params: &[(&str, &dyn DynParam<T>)]) -> Result<(), OptimError> {
    for (i, (name, _)) in params.iter().enumerate() {
        if let Some(j) = params[..i].iter().position(|(n, _)| n == name) {
            return Err(OptimError::State {
                detail: format!(
                    "the name `{name}` is given to two parameters (positions {j} and {i}): \
                     each parameter's state needs a name of its own"
                ),
            });
        }
    }
    Ok(())
}

/// Reads a state written by [`save`] for the parameters `params` (by name): the state, and
/// the learning rate it was saved with. Everything is checked before anything is returned:
///
/// - the file holds the state of this optimizer (`spec.kind`), saved with the same
///   state-shaping hyperparameters (`spec.shaping`);
/// - the step count is at most [`MAX_STEPS`], each parameter's between 0 and it;
/// - no name is given twice;
/// - every tensor has its parameter's shape and the optimizer's own element type (an `F16`
///   or `BF16` state, or an `f64` one for an `f32` optimizer, would not resume bit for bit:
///   refused), every element is finite, and the `spec.nonnegative` slots hold no negative
///   element — as a step checks gradients;
/// - the first `spec.required` slots of a parameter that took a step are there, and every
///   tensor of the file belongs to a parameter given.
pub(crate) fn load<T: Float>(
    file: &SafeTensors,
    spec: &Spec<'_>,
    params: &[(&str, &dyn DynParam<T>)],
) -> Result<(State<T>, f64), OptimError> {
    let bad = |detail: String| Err(OptimError::State { detail });
    let meta = |key: &str| {
        file.metadata().get(key).ok_or_else(|| OptimError::State {
            detail: format!("the file has no `{key}` metadata: not a saved optimizer state"),
        })
    };
    let found = meta("optimizer")?;
    if found != spec.kind {
        return bad(format!(
            "the file holds the state of {found}, not of {}",
            spec.kind
        ));
    }
    for (key, mine) in &spec.shaping {
        let theirs = meta(key)?;
        if theirs != mine {
            let why = if *key == "amsgrad" {
                "AMSGrad keeps `max_exp_avg_sq`, and the update depends on it"
            } else {
                "the saved averages were computed with it"
            };
            return bad(format!(
                "the file was saved with {key} = {theirs}, but this optimizer has {key} = \
                 {mine} ({why}); make the optimizer with the file's settings"
            ));
        }
    }
    let parse_err = |key: &str, v: &str| OptimError::State {
        detail: format!("metadata `{key}` = `{v}` does not parse"),
    };
    let steps_text = meta("steps")?;
    let steps: u64 = steps_text
        .parse()
        .map_err(|_| parse_err("steps", steps_text))?;
    if steps > MAX_STEPS {
        return bad(format!(
            "metadata `steps` = {steps} exceeds the most steps an optimizer counts, \
             2^53 = {MAX_STEPS}"
        ));
    }
    let lr_text = meta("lr")?;
    let lr: f64 = lr_text.parse().map_err(|_| parse_err("lr", lr_text))?;
    check_lr(lr)?;
    check_names(params)?;

    // `f32` → `F32`, `f64` → `F64`: the dtype the writer stores `T` as.
    let own = Dtype::from_name(&T::NAME.to_ascii_uppercase()).ok_or_else(|| OptimError::State {
        detail: format!("no safetensors dtype stores {} state", T::NAME),
    })?;
    let mut state = State::new();
    state.steps = steps;
    let mut used: HashSet<String> = HashSet::new();
    for (name, p) in params {
        let step_name = format!("{name}.step");
        if file.info(&step_name).is_none() {
            continue;
        }
        let step = file.load::<(), f64>(&step_name)?.as_slice()[0];
        // `steps` ≤ 2^53, so `steps as f64` is exact.
        if !(step >= 0.0 && step <= steps as f64 && step.fract() == 0.0) {
            return bad(format!(
                "`{step_name}` = {step} is not a step count between 0 and {steps}"
            ));
        }
        used.insert(step_name);
        let mut bufs = Vec::with_capacity(spec.slots.len());
        for slot_name in spec.slots {
            let key = format!("{name}.{slot_name}");
            let Some(info) = file.info(&key) else {
                bufs.push(Vec::new());
                continue;
            };
            if info.dtype != own {
                return bad(format!(
                    "tensor `{key}` is stored as {}, but this optimizer keeps its state in {} \
                     ({own}): a state is loaded only in its own element type, so that a \
                     resumed run continues bit for bit",
                    info.dtype,
                    T::NAME
                ));
            }
            let buf = p.load_like(file, &key)?;
            let negative_ok = !spec.nonnegative.contains(slot_name);
            if let Some((i, v)) = buf
                .iter()
                .enumerate()
                .find(|(_, v)| !v.is_finite() || (!negative_ok && **v < T::ZERO))
            {
                let rule = if v.is_finite() {
                    "a second-moment average is never negative"
                } else {
                    "a non-finite state would make the parameters non-finite at the next step"
                };
                return bad(format!(
                    "tensor `{key}` holds {v} at element {i}: {rule}",
                    v = v.to_f64()
                ));
            }
            bufs.push(buf);
            used.insert(key);
        }
        let n = p.values().len();
        if let Some(k) = (0..spec.required).find(|&k| step > 0.0 && bufs[k].len() != n) {
            return bad(format!(
                "parameter `{name}` took {step} steps, but the file has no `{name}.{}`",
                spec.slots[k]
            ));
        }
        let slot = Slot {
            step: step as u64,
            bufs,
        };
        if state.slots.insert(p.id(), slot).is_some() {
            return bad(format!("parameter `{name}` is given twice"));
        }
    }
    if let Some(stray) = file.names().into_iter().find(|n| !used.contains(*n)) {
        let owner = params.iter().find(|(name, _)| {
            stray
                .strip_prefix(*name)
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(|slot| spec.slots.contains(&slot))
        });
        return bad(match owner {
            Some((name, _)) => format!(
                "tensor `{stray}` of the file belongs to parameter `{name}`, but the file has \
                 no `{name}.step`"
            ),
            None => format!("tensor `{stray}` of the file belongs to no parameter given"),
        });
    }
    Ok((state, lr))
}
