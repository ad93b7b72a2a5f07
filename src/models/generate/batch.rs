//! Batched generation: several prompts of any lengths at once, each with a cache of its
//! own, their decode steps packed into one batched step of the model
//! ([`BatchedCausalLm::step_batch`]). Each sequence is generated exactly as [`generate`]
//! generates it alone (the same prefill, the same sampler and seed, the same stop rules);
//! a sequence that stops leaves the batch, the others go on.
//!
//! [`generate`]: super::generate

use std::time::Instant;

use super::generator::check_logits;
use super::StopReason;
use super::{CausalLm, GenerateConfig, GenerateError, GenerateStats, Generation, Sampler};
use crate::dim::Dim;
use crate::element::Float;
use crate::models::decoder::{Decoder, DecoderCache, DecoderDims};
use crate::nn::stored::Storage;

/// A [`CausalLm`] that can also feed one new id to each of several sequences in one call.
///
/// ```
/// use shapecheck::models::generate::{BatchedCausalLm, CausalLm};
///
/// /// Predicts (last id + 1) mod 3, one sequence or several.
/// struct Next;
/// impl CausalLm for Next {
///     type Cache = ();
///     fn vocab_size(&self) -> usize { 3 }
///     fn new_cache(&self) {}
///     fn step(&self, _: &mut (), ids: &[u32]) -> Result<Vec<f32>, shapecheck::Error> {
///         let next = (ids[ids.len() - 1] as usize + 1) % 3;
///         Ok((0..3).map(|i| if i == next { 1.0 } else { 0.0 }).collect())
///     }
/// }
/// impl BatchedCausalLm for Next {
///     fn step_batch(&self, caches: &mut [()], ids: &[u32]) -> Result<Vec<f32>, shapecheck::Error> {
///         let mut rows = Vec::new();
///         for (cache, id) in caches.iter_mut().zip(ids) {
///             rows.extend(self.step(cache, &[*id])?);
///         }
///         Ok(rows)
///     }
/// }
/// let rows = Next.step_batch(&mut [(), ()], &[0, 2]).unwrap();
/// assert_eq!(rows, [0.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
/// ```
pub trait BatchedCausalLm: CausalLm {
    /// Feeds `ids[b]` after what `caches[b]` holds, for every `b` (as many ids as caches),
    /// and gives the logits of each, `vocab_size()` each, row after row: what
    /// [`step`](CausalLm::step)`(&mut caches[b], &[ids[b]])` gives, for all `b` at once.
    fn step_batch(&self, caches: &mut [Self::Cache], ids: &[u32])
        -> Result<Vec<f32>, crate::Error>;
}

impl<D: DecoderDims, T: Float, W: Storage<T>> BatchedCausalLm for Decoder<D, T, W> {
    fn step_batch(
        &self,
        caches: &mut [DecoderCache<T>],
        ids: &[u32],
    ) -> Result<Vec<f32>, crate::Error> {
        debug_assert_eq!(self.dims().vocab().size(), self.vocab_size());
        let logits = self.decode_packed(caches, ids)?;
        Ok(logits
            .as_slice()
            .iter()
            .map(|x| x.to_f64() as f32)
            .collect())
    }
}

/// One sequence of a batch.
struct Sequence {
    sampler: Sampler,
    seen: Vec<u32>,
    generated: Vec<u32>,
    stop: Option<StopReason>,
    stats: GenerateStats,
}

impl Sequence {
    /// Records the picked `id`; whether the sequence goes on.
    fn push(&mut self, id: u32, config: &GenerateConfig) -> bool {
        self.generated.push(id);
        self.seen.push(id);
        self.stats.generated_tokens += 1;
        if config.stop_ids.contains(&id) {
            self.stop = Some(StopReason::StopId(id));
        } else if self.generated.len() >= config.max_new_tokens {
            self.stop = Some(StopReason::Budget);
        }
        self.stop.is_none()
    }
}

/// Generates from each of `prompts` (any lengths) with `config`, the decode steps of the
/// sequences still going packed into one [`BatchedCausalLm::step_batch`] each. The result
/// `i` is what [`generate`](super::generate)`(model, prompts[i], config)` gives (the same
/// ids for a greedy or seeded generation, as far as the batched step's logits equal the
/// single step's: see the model's `step_batch`). Each prompt is prefilled on its own.
///
/// A generation's `stats.decode` is the time of the batched steps it took part in.
///
/// ```
/// use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
/// use shapecheck::models::generate::{generate, generate_batch, GenerateConfig};
/// use shapecheck::prelude::*;
///
/// dim!(pub Vocab = 11; pub DModel = 16; pub Heads = 2; pub HeadDim = 8; pub Ffn = 32);
/// let model = Decoder::<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>>::init(
///     DecoderConfig::default(),
///     0,
/// );
/// let config = GenerateConfig { max_new_tokens: 5, ..GenerateConfig::default() };
/// let prompts: [&[u32]; 3] = [&[1, 2, 3], &[4], &[5, 6, 7, 8, 9]];
/// let batch = generate_batch(&model, &prompts, config.clone())?;
/// for (prompt, g) in prompts.iter().zip(&batch) {
///     assert_eq!(g.ids, generate(&model, prompt, config.clone())?.ids);
/// }
/// # Ok::<(), shapecheck::models::generate::GenerateError>(())
/// ```
///
/// # Errors
/// [`GenerateError::EmptyPrompt`] for an empty prompt, [`GenerateError::Setting`] for a
/// setting outside its domain (before anything runs); [`GenerateError::Model`],
/// [`GenerateError::LogitsLength`] or [`GenerateError::NonFiniteLogits`] from a step
/// (`step` is the step of the batch: 0 the prefills).
pub fn generate_batch<M: BatchedCausalLm, P: AsRef<[u32]>>(
    model: &M,
    prompts: &[P],
    config: GenerateConfig,
) -> Result<Vec<Generation>, GenerateError> {
    config.validate()?;
    if prompts.iter().any(|p| p.as_ref().is_empty()) {
        return Err(GenerateError::EmptyPrompt);
    }
    let vocab = model.vocab_size();
    let mut seqs = Vec::with_capacity(prompts.len());
    // The sequences still going, and their caches, side by side.
    let mut active: Vec<usize> = Vec::new();
    let mut caches: Vec<M::Cache> = Vec::new();
    for (i, prompt) in prompts.iter().enumerate() {
        let prompt = prompt.as_ref();
        let mut seq = Sequence {
            sampler: Sampler::new(config.sampling.clone())?,
            seen: prompt.to_vec(),
            generated: Vec::new(),
            stop: (config.max_new_tokens == 0).then_some(StopReason::Budget),
            stats: GenerateStats {
                prompt_tokens: prompt.len(),
                ..GenerateStats::default()
            },
        };
        if seq.stop.is_none() {
            let start = Instant::now();
            let mut cache = model.new_cache();
            let mut logits = model
                .step(&mut cache, prompt)
                .map_err(|e| GenerateError::Model {
                    step: 0,
                    source: Box::new(e),
                })?;
            check_logits(&logits, vocab, 0)?;
            let id = seq.sampler.pick(&mut logits, &seq.seen);
            seq.stats.prefill = start.elapsed();
            if seq.push(id, &config) {
                active.push(i);
                caches.push(cache);
            }
        }
        seqs.push(seq);
    }
    let mut step = 1;
    while !active.is_empty() {
        let ids: Vec<u32> = active
            .iter()
            .map(|&i| *seqs[i].generated.last().expect("a prefilled sequence"))
            .collect();
        let start = Instant::now();
        let mut logits = model
            .step_batch(&mut caches, &ids)
            .map_err(|e| GenerateError::Model {
                step,
                source: Box::new(e),
            })?;
        if logits.len() != vocab * ids.len() {
            return Err(GenerateError::LogitsLength {
                step,
                expected: vocab * ids.len(),
                got: logits.len(),
            });
        }
        let mut keep = vec![true; active.len()];
        for ((row, &i), keep) in logits.chunks_exact_mut(vocab).zip(&active).zip(&mut keep) {
            check_logits(row, vocab, step)?;
            let seq = &mut seqs[i];
            let id = seq.sampler.pick(row, &seq.seen);
            *keep = seq.push(id, &config);
        }
        let elapsed = start.elapsed();
        for &i in &active {
            seqs[i].stats.decode += elapsed;
            seqs[i].stats.decode_steps += 1;
        }
        let mut k = keep.iter();
        active.retain(|_| *k.next().expect("one flag per sequence"));
        let mut k = keep.iter();
        caches.retain(|_| *k.next().expect("one flag per cache"));
        step += 1;
    }
    Ok(seqs
        .into_iter()
        .map(|s| Generation {
            ids: s.generated,
            stop: s.stop.unwrap_or(StopReason::Budget),
            stats: s.stats,
        })
        .collect())
}
