//! The generation loop: [`Generator`] (an iterator of ids), [`generate`] (all of them) and
//! [`generate_text`] (the text streamed as it completes).

use std::time::{Duration, Instant};

use super::{CausalLm, GenerateError, Sampler, Sampling};
use crate::text::Tokenizer;

/// What a generation is asked for: how to pick tokens, how many at most, where to stop.
///
/// ```
/// use shapecheck::models::generate::{GenerateConfig, Sampling};
/// let config = GenerateConfig {
///     max_new_tokens: 64,
///     stop_ids: vec![2, 0], // SmolLM2's <|im_end|> and <|endoftext|>
///     sampling: Sampling { temperature: 0.7, top_k: 40, seed: 1, ..Sampling::default() },
/// };
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateConfig {
    /// The token budget: at most this many new ids (a stop id included).
    pub max_new_tokens: usize,
    /// Ids that end the generation; the stop id is the last id generated (as transformers
    /// keeps its `eos_token_id`s in the output).
    pub stop_ids: Vec<u32>,
    /// How each token is picked.
    pub sampling: Sampling,
}

impl Default for GenerateConfig {
    /// 256 tokens, no stop id, greedy.
    fn default() -> Self {
        GenerateConfig {
            max_new_tokens: 256,
            stop_ids: Vec::new(),
            sampling: Sampling::default(),
        }
    }
}

impl GenerateConfig {
    /// Checks the sampling settings ([`Sampling::validate`]).
    ///
    /// # Errors
    /// [`GenerateError::Setting`] naming the field.
    pub fn validate(&self) -> Result<(), GenerateError> {
        self.sampling.validate()
    }
}

/// Why a generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// A stop id was generated (it is the last id).
    StopId(u32),
    /// `max_new_tokens` ids were generated.
    Budget,
    /// The model or its logits failed (the error was returned).
    Error,
}

/// Counts and times of a generation, for tokens per second.
///
/// `prefill` is the first step (the whole prompt through the model, and the first pick);
/// `decode` the steps after it, one token each.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GenerateStats {
    /// Ids fed in the first step.
    pub prompt_tokens: usize,
    /// Time of the first step.
    pub prefill: Duration,
    /// Ids generated.
    pub generated_tokens: usize,
    /// Steps after the first (each fed one generated id).
    pub decode_steps: usize,
    /// Time of those steps.
    pub decode: Duration,
}

impl GenerateStats {
    /// Prompt tokens per second of the first step (0 before it).
    pub fn prefill_tokens_per_s(&self) -> f64 {
        per_second(self.prompt_tokens, self.prefill)
    }

    /// Generated tokens per second after the first (0 before any).
    pub fn decode_tokens_per_s(&self) -> f64 {
        per_second(self.decode_steps, self.decode)
    }
}

fn per_second(n: usize, t: Duration) -> f64 {
    if t.is_zero() {
        0.0
    } else {
        n as f64 / t.as_secs_f64()
    }
}

/// A finished generation.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    /// The generated ids (not the prompt), a stop id last if one ended it.
    pub ids: Vec<u32>,
    /// Why it ended.
    pub stop: StopReason,
    /// Counts and times.
    pub stats: GenerateStats,
}

/// Generation as an iterator: each `next()` runs one step of the model and yields the id
/// it picked, so a caller streams, inspects or stops early as it likes.
///
/// The first step feeds the whole prompt; each later step feeds the id picked before it,
/// with the model's cache holding the rest. The iterator ends after a stop id, after
/// `max_new_tokens` ids, or after yielding an error. The id that ends the generation is
/// never fed to the model (no step is run whose logits nobody uses).
///
/// ```
/// use shapecheck::models::generate::{CausalLm, GenerateConfig, Generator, StopReason};
///
/// /// A model that predicts (last id + 1) mod 5.
/// struct Counter;
/// impl CausalLm for Counter {
///     type Cache = usize;
///     fn vocab_size(&self) -> usize { 5 }
///     fn new_cache(&self) -> usize { 0 }
///     fn step(&self, seen: &mut usize, ids: &[u32]) -> Result<Vec<f32>, shapecheck::Error> {
///         *seen += ids.len();
///         let next = (ids[ids.len() - 1] as usize + 1) % 5;
///         Ok((0..5).map(|i| if i == next { 1.0 } else { 0.0 }).collect())
///     }
/// }
///
/// let config = GenerateConfig { max_new_tokens: 10, stop_ids: vec![0], ..Default::default() };
/// let mut gen = Generator::new(&Counter, &[2], config).unwrap();
/// let ids: Vec<u32> = gen.by_ref().collect::<Result<_, _>>().unwrap();
/// assert_eq!(ids, [3, 4, 0]);
/// assert_eq!(gen.stop_reason(), Some(StopReason::StopId(0)));
/// assert_eq!(*gen.cache(), 3); // the prompt, then 3 and 4: the stop id was not fed
/// ```
pub struct Generator<'m, M: CausalLm> {
    model: &'m M,
    cache: M::Cache,
    sampler: Sampler,
    config: GenerateConfig,
    /// The ids fed and generated, for the repetition penalty.
    seen: Vec<u32>,
    /// What the next step feeds (the prompt, then the last id).
    feed: Vec<u32>,
    generated: Vec<u32>,
    stop: Option<StopReason>,
    stats: GenerateStats,
}

impl<M: CausalLm> std::fmt::Debug for Generator<'_, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("config", &self.config)
            .field("generated", &self.generated)
            .field("stop", &self.stop)
            .finish_non_exhaustive()
    }
}

impl<'m, M: CausalLm> Generator<'m, M> {
    /// A generation from `prompt` with an empty cache.
    ///
    /// # Errors
    /// [`GenerateError::EmptyPrompt`] for no ids, [`GenerateError::Setting`] for a setting
    /// outside its domain.
    pub fn new(
        model: &'m M,
        prompt: &[u32],
        config: GenerateConfig,
    ) -> Result<Self, GenerateError> {
        Self::with_cache(model, model.new_cache(), prompt, config)
    }

    /// A generation that feeds `ids` after what `cache` holds (the next turn of a chat
    /// whose earlier turns are cached). The repetition penalty sees `ids` and what is
    /// generated.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_cache(
        model: &'m M,
        cache: M::Cache,
        ids: &[u32],
        config: GenerateConfig,
    ) -> Result<Self, GenerateError> {
        if ids.is_empty() {
            return Err(GenerateError::EmptyPrompt);
        }
        let sampler = Sampler::new(config.sampling.clone())?;
        let stop = (config.max_new_tokens == 0).then_some(StopReason::Budget);
        Ok(Generator {
            model,
            cache,
            sampler,
            config,
            seen: ids.to_vec(),
            feed: ids.to_vec(),
            generated: Vec::new(),
            stop,
            stats: GenerateStats {
                prompt_tokens: ids.len(),
                ..GenerateStats::default()
            },
        })
    }

    /// The ids generated so far.
    pub fn generated(&self) -> &[u32] {
        &self.generated
    }

    /// Why the generation ended, `None` while it goes on.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.stop
    }

    /// Counts and times so far.
    pub fn stats(&self) -> GenerateStats {
        self.stats
    }

    /// The model's cache: the prompt and every generated id but the last.
    pub fn cache(&self) -> &M::Cache {
        &self.cache
    }

    /// The cache, to go on from it ([`with_cache`](Self::with_cache)); the last generated
    /// id is not in it.
    pub fn into_cache(self) -> M::Cache {
        self.cache
    }

    /// The finished generation (whatever was generated if it has not finished).
    pub fn into_generation(self) -> Generation {
        Generation {
            ids: self.generated,
            stop: self.stop.unwrap_or(StopReason::Budget),
            stats: self.stats,
        }
    }

    fn step(&mut self) -> Result<u32, GenerateError> {
        let step = self.generated.len();
        let start = Instant::now();
        let mut logits =
            self.model
                .step(&mut self.cache, &self.feed)
                .map_err(|e| GenerateError::Model {
                    step,
                    source: Box::new(e),
                })?;
        check_logits(&logits, self.model.vocab_size(), step)?;
        let id = self.sampler.pick(&mut logits, &self.seen);
        let elapsed = start.elapsed();
        if step == 0 {
            self.stats.prefill = elapsed;
        } else {
            self.stats.decode += elapsed;
            self.stats.decode_steps += 1;
        }
        Ok(id)
    }
}

/// A row the sampler can pick from: `vocab` long, no NaN or +∞, not all −∞.
pub(super) fn check_logits(logits: &[f32], vocab: usize, step: usize) -> Result<(), GenerateError> {
    if logits.len() != vocab || vocab == 0 {
        return Err(GenerateError::LogitsLength {
            step,
            expected: vocab,
            got: logits.len(),
        });
    }
    if let Some((index, &value)) = logits
        .iter()
        .enumerate()
        .find(|(_, s)| s.is_nan() || **s == f32::INFINITY)
    {
        return Err(GenerateError::NonFiniteLogits { step, index, value });
    }
    if logits.iter().all(|&s| s == f32::NEG_INFINITY) {
        return Err(GenerateError::NonFiniteLogits {
            step,
            index: 0,
            value: f32::NEG_INFINITY,
        });
    }
    Ok(())
}

impl<M: CausalLm> Iterator for Generator<'_, M> {
    type Item = Result<u32, GenerateError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.stop.is_some() {
            return None;
        }
        match self.step() {
            Err(e) => {
                self.stop = Some(StopReason::Error);
                Some(Err(e))
            }
            Ok(id) => {
                self.generated.push(id);
                self.seen.push(id);
                self.stats.generated_tokens += 1;
                self.feed.clear();
                self.feed.push(id);
                if self.config.stop_ids.contains(&id) {
                    self.stop = Some(StopReason::StopId(id));
                } else if self.generated.len() >= self.config.max_new_tokens {
                    self.stop = Some(StopReason::Budget);
                }
                Some(Ok(id))
            }
        }
    }
}

/// Generates from `prompt` until a stop id or the budget ([`Generator`], collected).
///
/// # Errors
/// As [`Generator::new`], and the first error of a step.
pub fn generate<M: CausalLm>(
    model: &M,
    prompt: &[u32],
    config: GenerateConfig,
) -> Result<Generation, GenerateError> {
    let mut gen = Generator::new(model, prompt, config)?;
    for id in gen.by_ref() {
        id?;
    }
    Ok(gen.into_generation())
}

/// Generates from `prompt` and streams the text: `on_text` receives each piece as soon as
/// it is whole UTF-8 (a token that ends inside a character waits for the next,
/// [`Tokenizer::stream_skip_special`]); special tokens (a stop id such as `<|im_end|>`)
/// print nothing. Returns the generation and its whole text.
///
/// # Errors
/// As [`generate`], and [`GenerateError::Tokenizer`] for an id the tokenizer does not know.
pub fn generate_text<M: CausalLm>(
    model: &M,
    tokenizer: &Tokenizer,
    prompt: &[u32],
    config: GenerateConfig,
    mut on_text: impl FnMut(&str),
) -> Result<(Generation, String), GenerateError> {
    let mut gen = Generator::new(model, prompt, config)?;
    let mut stream = tokenizer.stream_skip_special();
    let mut text = String::new();
    for id in gen.by_ref() {
        if let Some(piece) = stream.next(id?)? {
            on_text(&piece);
            text.push_str(&piece);
        }
    }
    let rest = stream.finish()?;
    if !rest.is_empty() {
        on_text(&rest);
        text.push_str(&rest);
    }
    Ok((gen.into_generation(), text))
}
