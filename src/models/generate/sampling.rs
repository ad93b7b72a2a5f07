//! [`Sampling`] (the knobs of picking the next token) and [`Sampler`] (them with a seeded
//! random stream).

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::processors::{self, softmax_f64};
use super::GenerateError;

/// How the next token is picked from a row of logits, with Hugging Face's knobs and
/// meanings (`GenerationConfig`), each off by default.
///
/// - `temperature = 0` is greedy decoding (transformers' `do_sample=False`): the first
///   largest logit, after the repetition penalty; top-k, top-p and min-p then do nothing,
///   as transformers applies its warpers only when sampling.
/// - `temperature > 0` samples from the softmax of the processed logits.
///
/// The processors run in transformers' order: repetition penalty, temperature, top-k,
/// top-p, min-p ([`process`](Self::process)). Unlike transformers' `GenerationConfig`
/// (`top_k = 50` unless told otherwise), nothing filters by default. A draw follows the
/// same distribution as transformers' `torch.multinomial`, from another random stream: the
/// same seed does not give torch's ids.
///
/// ```
/// use shapecheck::models::generate::Sampling;
/// let s = Sampling { temperature: 0.7, top_p: 0.9, seed: 42, ..Sampling::default() };
/// assert!(s.validate().is_ok());
/// let bad = Sampling { top_p: 1.5, ..Sampling::default() };
/// assert_eq!(
///     bad.validate().unwrap_err().to_string(),
///     "generation setting `top_p` = 1.5: must be in [0, 1] (1 keeps every token)"
/// );
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Sampling {
    /// Softmax temperature; 0 (the default) is greedy.
    pub temperature: f32,
    /// Keep the `top_k` most likely tokens; 0 (the default) keeps all.
    pub top_k: usize,
    /// Keep the smallest set of likeliest tokens whose probability reaches `top_p`; 1 (the
    /// default) keeps all.
    pub top_p: f32,
    /// Keep the tokens at least `min_p` times as likely as the likeliest; 0 (the default)
    /// keeps all.
    pub min_p: f32,
    /// Hugging Face's repetition penalty over the ids of the prompt and the generation;
    /// 1 (the default) is none.
    pub repetition_penalty: f32,
    /// The seed of the random stream (ChaCha8): the same seed, settings and model give
    /// the same ids.
    pub seed: u64,
}

impl Default for Sampling {
    /// Greedy, no filter, no penalty, seed 0.
    fn default() -> Self {
        Sampling {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            seed: 0,
        }
    }
}

fn setting(name: &'static str, value: f32, rule: &'static str) -> GenerateError {
    GenerateError::Setting {
        name,
        value: value.to_string(),
        rule,
    }
}

impl Sampling {
    /// Greedy decoding (the default), named.
    pub fn greedy() -> Self {
        Sampling::default()
    }

    /// Whether the next token is drawn at random (`temperature > 0`) rather than the
    /// largest logit.
    pub fn is_sampling(&self) -> bool {
        self.temperature > 0.0
    }

    /// Checks every knob against its domain.
    ///
    /// # Errors
    /// [`GenerateError::Setting`] naming the first knob outside its domain: a negative or
    /// non-finite temperature, `top_p` or `min_p` outside [0, 1], a repetition penalty
    /// that is not a finite positive number.
    pub fn validate(&self) -> Result<(), GenerateError> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(setting(
                "temperature",
                self.temperature,
                "must be finite and at least 0 (0 is greedy)",
            ));
        }
        if !(0.0..=1.0).contains(&self.top_p) {
            return Err(setting(
                "top_p",
                self.top_p,
                "must be in [0, 1] (1 keeps every token)",
            ));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return Err(setting(
                "min_p",
                self.min_p,
                "must be in [0, 1] (0 keeps every token)",
            ));
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite()) {
            return Err(setting(
                "repetition_penalty",
                self.repetition_penalty,
                "must be finite and above 0 (1 is no penalty)",
            ));
        }
        Ok(())
    }

    /// Runs the processors on `logits` in transformers' order, with `seen` the ids of the
    /// prompt and of the generation so far: the repetition penalty (unless 1), then, when
    /// sampling, temperature (unless 1), top-k (unless 0), top-p (unless 1), min-p (unless
    /// 0). Filtered logits become `-inf`.
    pub fn process(&self, logits: &mut [f32], seen: &[u32]) {
        if self.repetition_penalty != 1.0 {
            processors::repetition_penalty(logits, seen, self.repetition_penalty);
        }
        if !self.is_sampling() {
            return;
        }
        if self.temperature != 1.0 {
            processors::temperature(logits, self.temperature);
        }
        if self.top_k != 0 {
            processors::top_k(logits, self.top_k);
        }
        if self.top_p < 1.0 {
            processors::top_p(logits, self.top_p);
        }
        if self.min_p > 0.0 {
            processors::min_p(logits, self.min_p);
        }
    }
}

/// [`Sampling`] with its random stream: picks token after token.
///
/// ```
/// use shapecheck::models::generate::{Sampler, Sampling};
/// let logits = [0.5f32, 1.0, 0.2, 0.9];
/// let settings = Sampling { temperature: 1.0, seed: 7, ..Sampling::default() };
/// let draw = |mut s: Sampler| (0..20).map(|_| s.pick(&mut logits.clone(), &[])).collect::<Vec<_>>();
/// let a = draw(Sampler::new(settings.clone()).unwrap());
/// let b = draw(Sampler::new(settings).unwrap());
/// assert_eq!(a, b); // the same seed, the same draws
///
/// let mut greedy = Sampler::new(Sampling::greedy()).unwrap();
/// assert_eq!(greedy.pick(&mut logits.clone(), &[]), 1);
/// ```
#[derive(Clone, Debug)]
pub struct Sampler {
    settings: Sampling,
    rng: ChaCha8Rng,
}

impl Sampler {
    /// A sampler whose stream starts at `settings.seed`.
    ///
    /// # Errors
    /// As [`Sampling::validate`].
    pub fn new(settings: Sampling) -> Result<Self, GenerateError> {
        settings.validate()?;
        let rng = ChaCha8Rng::seed_from_u64(settings.seed);
        Ok(Sampler { settings, rng })
    }

    /// The settings.
    pub fn settings(&self) -> &Sampling {
        &self.settings
    }

    /// Processes `logits` in place ([`Sampling::process`]) with `seen` the ids so far, and
    /// picks a token: the first largest logit when greedy, else a draw from their softmax.
    ///
    /// The caller checks the row first (no NaN, not empty, not all `-inf`: the generation
    /// loop does); on such a row the pick is index 0.
    pub fn pick(&mut self, logits: &mut [f32], seen: &[u32]) -> u32 {
        self.settings.process(logits, seen);
        let index = if self.settings.is_sampling() {
            let probs = softmax_f64(logits);
            // A uniform draw in [0, 1) from the top 53 bits of the stream.
            let u = (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
            let mut cumulative = 0.0;
            let mut chosen = None;
            for (i, &p) in probs.iter().enumerate() {
                if p > 0.0 {
                    cumulative += p;
                    chosen = Some(i);
                    if u < cumulative {
                        break;
                    }
                }
            }
            // Rounding can leave the total just under u: the last possible token then.
            chosen.unwrap_or(0)
        } else {
            processors::argmax(logits).unwrap_or(0)
        };
        index as u32
    }
}
