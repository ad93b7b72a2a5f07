//! The logits processors of Hugging Face's `generate`, one function each, on one row of
//! logits in place, with transformers' arithmetic (`logits_process.py`): the same rule at
//! the same boundaries, f32 logits in and out. A filtered logit becomes `-inf`, as
//! transformers' `filter_value`.
//!
//! [`Sampling::process`](super::Sampling::process) runs them in transformers' order:
//! repetition penalty, then (when sampling) temperature, top-k, top-p, min-p.
//! tests/generate.rs compares each against transformers' own classes on committed logits
//! (`scripts/golden_generate.py`).

/// `RepetitionPenaltyLogitsProcessor`: each id of `seen` (the prompt and what was generated;
/// an id counts once however often it occurs) has its logit divided by `penalty` if it is
/// positive and multiplied by it otherwise, so `penalty > 1` makes every seen token less
/// likely. Ids beyond the row are ignored (transformers drops them too).
///
/// ```
/// use shapecheck::models::generate::processors::repetition_penalty;
/// let mut logits = [2.0, -2.0, 1.0];
/// repetition_penalty(&mut logits, &[0, 1, 1, 7], 2.0);
/// assert_eq!(logits, [1.0, -4.0, 1.0]);
/// ```
pub fn repetition_penalty(logits: &mut [f32], seen: &[u32], penalty: f32) {
    let mut done = vec![false; logits.len()];
    for &id in seen {
        let i = id as usize;
        if i < logits.len() && !done[i] {
            done[i] = true;
            let s = logits[i];
            logits[i] = if s < 0.0 { s * penalty } else { s / penalty };
        }
    }
}

/// `TemperatureLogitsWarper`: every logit divided by `temperature` (> 0).
///
/// ```
/// use shapecheck::models::generate::processors::temperature;
/// let mut logits = [1.0, -0.5];
/// temperature(&mut logits, 0.5);
/// assert_eq!(logits, [2.0, -1.0]);
/// ```
pub fn temperature(logits: &mut [f32], temperature: f32) {
    logits.iter_mut().for_each(|s| *s /= temperature);
}

/// `TopKLogitsWarper`: keeps the logits not below the `k`-th largest (ties with it stay, as
/// in transformers), filters the rest; `k` ≥ the row's length keeps everything, `k = 0`
/// keeps one (transformers refuses 0; [`Sampling`](super::Sampling) reads it as "off").
///
/// ```
/// use shapecheck::models::generate::processors::top_k;
/// let mut logits = [1.0, 3.0, 2.0, 3.0];
/// top_k(&mut logits, 2);
/// assert_eq!(logits, [f32::NEG_INFINITY, 3.0, f32::NEG_INFINITY, 3.0]);
/// ```
pub fn top_k(logits: &mut [f32], k: usize) {
    if logits.is_empty() || k >= logits.len() {
        return;
    }
    let k = k.max(1);
    let mut sorted = logits.to_vec();
    // The k-th largest: descending order by total_cmp, position k - 1.
    let (_, kth, _) = sorted.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    let kth = *kth;
    logits
        .iter_mut()
        .filter(|s| **s < kth)
        .for_each(|s| *s = f32::NEG_INFINITY);
}

/// `TopPLogitsWarper` (nucleus): sorts ascending, and filters the tokens whose cumulative
/// probability (from the least likely up) is at most `1 − top_p`; the most likely token
/// always stays. `top_p = 1` keeps everything.
///
/// The probabilities and their running sum are computed in f64 and the sums rounded to
/// f32 before the comparison with `1 − top_p` rounded to f32, as torch compares an f32
/// tensor with a Python float. Where the boundary cuts through equal logits, the higher
/// ids among them are filtered first.
///
/// ```
/// use shapecheck::models::generate::processors::top_p;
/// let mut logits = [0.0, 2.0, 1.0];
/// // Probabilities 0.090, 0.665, 0.245: the two likeliest hold 0.91 ≥ 0.8.
/// top_p(&mut logits, 0.8);
/// assert_eq!(logits, [f32::NEG_INFINITY, 2.0, 1.0]);
/// ```
pub fn top_p(logits: &mut [f32], top_p: f32) {
    if logits.is_empty() {
        return;
    }
    let mut order: Vec<usize> = (0..logits.len()).collect();
    // Equal logits: the lower id counts as the likelier (as argmax picks it), so it is
    // filtered last. (transformers' order of equal logits is torch.sort's, not stable.)
    order.sort_by(|&a, &b| logits[a].total_cmp(&logits[b]).then(b.cmp(&a)));
    let probs = softmax_f64(logits);
    let limit = (1.0 - f64::from(top_p)) as f32;
    let mut cumulative = 0.0f64;
    let last = order.len() - 1;
    let mut remove = Vec::new();
    for (rank, &i) in order.iter().enumerate() {
        cumulative += probs[i];
        if rank < last && (cumulative as f32) <= limit {
            remove.push(i);
        }
    }
    remove
        .into_iter()
        .for_each(|i| logits[i] = f32::NEG_INFINITY);
}

/// `MinPLogitsWarper`: filters the tokens whose probability is below `min_p` times the
/// probability of the most likely token; the most likely token always stays. `min_p = 0`
/// keeps everything.
///
/// ```
/// use shapecheck::models::generate::processors::min_p;
/// let mut logits = [0.0, 3.0, 1.0];
/// // Relative to the top: e^-3 = 0.05 and e^-2 = 0.135.
/// min_p(&mut logits, 0.1);
/// assert_eq!(logits, [f32::NEG_INFINITY, 3.0, 1.0]);
/// ```
pub fn min_p(logits: &mut [f32], min_p: f32) {
    let probs = softmax_f64(logits);
    let Some((top, top_prob)) = probs.iter().copied().enumerate().fold(
        None,
        |best: Option<(usize, f64)>, (i, p)| match best {
            Some((_, q)) if q >= p => best,
            _ => Some((i, p)),
        },
    ) else {
        return;
    };
    // transformers compares f32 probabilities with min_p · top in f32.
    let threshold = (f64::from(min_p) as f32) * (top_prob as f32);
    for (i, (s, p)) in logits.iter_mut().zip(&probs).enumerate() {
        if i != top && (*p as f32) < threshold {
            *s = f32::NEG_INFINITY;
        }
    }
}

/// The softmax of a row in f64 (max-subtracted; `-inf` logits get probability 0). A row
/// of only `-inf` gives zeros.
pub(super) fn softmax_f64(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return vec![0.0; logits.len()];
    }
    let max = f64::from(max);
    let mut p: Vec<f64> = logits.iter().map(|&s| (f64::from(s) - max).exp()).collect();
    let sum: f64 = p.iter().sum();
    p.iter_mut().for_each(|x| *x /= sum);
    p
}

/// The index of the largest logit, the first of equal ones (as `torch.argmax`); `None` for
/// an empty row.
pub fn argmax(logits: &[f32]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &s) in logits.iter().enumerate() {
        match best {
            Some((_, b)) if b >= s => {}
            _ => best = Some((i, s)),
        }
    }
    best.map(|(i, _)| i)
}
