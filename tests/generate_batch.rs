//! Batched generation (issue 22 item 4): the packed batched step of the decoder against
//! one sequence at a time, on prompts of different lengths, and `generate_batch` against
//! `generate` prompt by prompt (greedy and seeded sampling, stop ids leaving the batch).

#![cfg(feature = "llm")]

use shapecheck::models::decoder::{Decoder, DecoderCache, DecoderConfig, Dims};
use shapecheck::models::generate::{
    generate, generate_batch, GenerateConfig, GenerateError, Sampling, StopReason,
};
use shapecheck::prelude::*;

// Grouped-query attention (4 query heads on 2 key/value heads), so a row's queries must
// read its own cache's heads.
dim!(pub Vocab = 17; pub DModel = 16; pub Heads = 4; pub KvHeads = 2; pub HeadDim = 4; pub Ffn = 24);
type Toy<T> = Decoder<Dims<Vocab, DModel, Heads, KvHeads, HeadDim, Ffn>, T>;

fn toy<T: Float>(window: Option<usize>) -> Toy<T> {
    // A wide initialisation: logits far apart, no near-ties for rounding to flip.
    let mut model = Toy::<T>::init(
        DecoderConfig {
            init_std: 0.5,
            ..DecoderConfig::default()
        },
        7,
    );
    for block in &mut model.blocks {
        block.attn.window = window;
    }
    model
}

const PROMPTS: [&[u32]; 4] = [
    &[3, 1, 4, 1, 5, 9, 2],
    &[6],
    &[5, 3, 5],
    &[8, 9, 7, 9, 3, 2, 3, 8, 4, 6],
];

/// Prefills each prompt on a cache of its own, then feeds `steps` rounds of one new id per
/// sequence, batched and one by one, and returns the largest difference of their logits.
fn batched_against_single<T: Float>(model: &Toy<T>, steps: usize) -> f64 {
    let mut batch: Vec<DecoderCache<T>> = Vec::new();
    let mut single: Vec<DecoderCache<T>> = Vec::new();
    for p in PROMPTS {
        let mut c = model.cache();
        model.decode_last(&mut c, p).unwrap();
        batch.push(c.clone());
        single.push(c);
    }
    let mut worst = 0.0f64;
    for step in 0..steps {
        let ids: Vec<u32> = (0..PROMPTS.len())
            .map(|b| ((b * 5 + step * 3) % 17) as u32)
            .collect();
        let rows = model.decode_packed(&mut batch, &ids).unwrap();
        assert_eq!(rows.dims()[..], [PROMPTS.len(), 17]);
        for (b, cache) in single.iter_mut().enumerate() {
            let want = model.decode_last(cache, &[ids[b]]).unwrap();
            let got = &rows.as_slice()[b * 17..(b + 1) * 17];
            for (g, w) in got.iter().zip(want.as_slice()) {
                worst = worst.max((g.to_f64() - w.to_f64()).abs());
            }
            assert_eq!(batch[b].len(), cache.len());
        }
    }
    worst
}

#[test]
fn a_batched_step_gives_each_sequence_its_own_logits() {
    // f64: the batched and single products sum the same terms; only their order may
    // differ, so the bound is a few ulps of the logits' size (~10).
    let worst = batched_against_single(&toy::<f64>(None), 4);
    assert!(worst < 1e-12, "f64: {worst}");
    let worst = batched_against_single(&toy::<f32>(None), 4);
    assert!(worst < 1e-4, "f32: {worst}");
    // A window shorter than the prompts: each row's mask is at its own position.
    let worst = batched_against_single(&toy::<f64>(Some(3)), 4);
    assert!(worst < 1e-12, "f64 window: {worst}");
}

#[test]
fn a_batch_that_does_not_fit_is_refused_and_leaves_the_caches_alone() {
    let model = toy::<f32>(None);
    let mut caches = vec![model.cache(), model.cache()];
    model.decode_last(&mut caches[0], &[1, 2]).unwrap();
    model.decode_last(&mut caches[1], &[3]).unwrap();
    let err = model
        .decode_packed(&mut caches, &[1])
        .unwrap_err()
        .to_string();
    assert!(err.contains("one new id per sequence"), "{err}");
    let err = model
        .decode_packed(&mut caches, &[1, 17])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("id 17") && err.contains("vocabulary of 17"),
        "{err}"
    );
    let err = model.decode_packed(&mut [], &[]).unwrap_err().to_string();
    assert!(err.contains("at least one sequence"), "{err}");
    assert_eq!((caches[0].len(), caches[1].len()), (2, 1));
}

fn config(sampling: Sampling) -> GenerateConfig {
    GenerateConfig {
        max_new_tokens: 9,
        // Frequent enough in this toy that some sequences stop early and leave the batch.
        stop_ids: vec![0, 11],
        sampling,
    }
}

fn one_by_one(model: &Toy<f32>, config: &GenerateConfig) -> Vec<(Vec<u32>, StopReason)> {
    PROMPTS
        .iter()
        .map(|p| {
            let g = generate(model, p, config.clone()).unwrap();
            (g.ids, g.stop)
        })
        .collect()
}

#[test]
fn generate_batch_equals_generate_prompt_by_prompt() {
    let model = toy::<f32>(None);
    for sampling in [
        Sampling::greedy(),
        Sampling {
            temperature: 1.3,
            top_p: 0.95,
            repetition_penalty: 1.2,
            seed: 42,
            ..Sampling::default()
        },
    ] {
        let config = config(sampling);
        let want = one_by_one(&model, &config);
        let got = generate_batch(&model, &PROMPTS, config.clone()).unwrap();
        let got: Vec<(Vec<u32>, StopReason)> = got.into_iter().map(|g| (g.ids, g.stop)).collect();
        assert_eq!(got, want, "{:?}", config.sampling);
        // The batch shrank on the way: not every sequence ran to the budget.
        assert!(got.iter().any(|(_, s)| *s != StopReason::Budget), "{got:?}");
        assert!(got.iter().any(|(ids, _)| ids.len() > 1), "{got:?}");
    }
}

#[test]
fn generate_batch_counts_its_steps_and_refuses_an_empty_prompt() {
    let model = toy::<f32>(None);
    let config = GenerateConfig {
        max_new_tokens: 4,
        ..GenerateConfig::default()
    };
    let got = generate_batch(&model, &PROMPTS, config.clone()).unwrap();
    for (p, g) in PROMPTS.iter().zip(&got) {
        assert_eq!(g.stats.prompt_tokens, p.len());
        assert_eq!((g.ids.len(), g.stats.decode_steps), (4, 3));
    }
    let none = generate_batch(
        &model,
        &PROMPTS,
        GenerateConfig {
            max_new_tokens: 0,
            ..config.clone()
        },
    )
    .unwrap();
    assert!(none
        .iter()
        .all(|g| g.ids.is_empty() && g.stop == StopReason::Budget));
    let prompts: [&[u32]; 2] = [&[1], &[]];
    assert!(matches!(
        generate_batch(&model, &prompts, config),
        Err(GenerateError::EmptyPrompt)
    ));
}
