//! Inside a real LLM (issue 23) on the tiny LLaMA-family fixtures (`tests/fixtures/llama`,
//! fast): the invariants of the logit lens, of activation patching (the residual stream and
//! single heads), of steering while generating, a contrast of residual streams, and the
//! committed sentiment sentences.

mod common;

use std::path::Path;

use shapecheck::inspect::{
    restored, Contrast, HeadAblation, HeadSite, Intervention, ResidSite, Selection, Site,
};
use shapecheck::models::decoder::{Decoder, DecoderDims, RuntimeDims};
use shapecheck::prelude::*;

/// The stream leaving the last block, through the lens, is the model's logits (an untied
/// head: llama_gqa; a tied one: qwen2), at every position of a batch of two.
#[test]
fn logit_lens_at_the_last_layer_is_the_models_logits() {
    for case in ["llama_gqa", "qwen2"] {
        let model = Decoder::<RuntimeDims>::from_hf_dir(common::llama_fixture(case)).unwrap();
        let layers = model.blocks.len();
        let shape = (Dyn::new(2), Dyn::new(5));
        let ids = [1, 5, 9, 2, 7, 3, 3, 8, 4, 6];
        let sel = Selection::new().with(Site::ResidPost, 0..layers);
        let (logits, cache) = model.run_with_cache(shape, &ids, &sel, &[]).unwrap();
        let last = model
            .logit_lens(cache.resid_post(layers - 1).unwrap())
            .unwrap();
        assert_eq!(last.dims()[..], [10, logits.dims()[2]]);
        let d = last
            .as_slice()
            .iter()
            .zip(logits.as_slice())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(d <= 1e-6, "{case}: the lens differs from the logits by {d}");
        // An earlier layer's lens is another prediction (the layers above do something).
        let first = model.logit_lens(cache.resid_post(0).unwrap()).unwrap();
        assert_ne!(first.as_slice(), logits.as_slice(), "{case}");
    }
}

/// A stream of another width is an error, not a panic.
#[test]
fn logit_lens_of_the_wrong_width_is_an_error() {
    let model = Decoder::<RuntimeDims>::from_hf_dir(common::llama_fixture("llama_gqa")).unwrap();
    let width = model.embedding.table().dims()[1];
    let wrong = Tensor::<(Dyn, Dyn)>::zeros_with((Dyn::new(2), Dyn::new(width + 1)));
    assert!(model.logit_lens(&wrong).is_err());
}

fn lines(name: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/sentiment")
        .join(name);
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().map(String::from).collect()
}

/// The committed sentences: 110 a set, distinct, mirrored line by line (one set's line is
/// the other's with a few sentiment words swapped, so the word count is the same and most
/// words are shared).
#[test]
fn the_sentiment_sentences_are_mirrored() {
    let (pos, neg) = (lines("positive.txt"), lines("negative.txt"));
    assert_eq!((pos.len(), neg.len()), (110, 110));
    for set in [&pos, &neg] {
        let distinct: std::collections::HashSet<_> = set.iter().collect();
        assert_eq!(distinct.len(), 110);
    }
    for (p, n) in pos.iter().zip(&neg) {
        let (pw, nw): (Vec<_>, Vec<_>) = (p.split(' ').collect(), n.split(' ').collect());
        assert_eq!(pw.len(), nw.len(), "{p} / {n}");
        let differ = pw.iter().zip(&nw).filter(|(a, b)| a != b).count();
        assert!((1..=2).contains(&differ), "{p} / {n}");
    }
}

/// A contrast fitted on a model's residual streams of two prompt sets: the direction
/// classifies the sets it was fitted on, and is the model's width.
#[test]
fn a_contrast_of_residual_streams() {
    let model = Decoder::<RuntimeDims>::from_hf_dir(common::llama_fixture("llama_gqa")).unwrap();
    let layers = model.blocks.len();
    let sel = Selection::new().with(Site::ResidPost, [layers - 1]);
    let last_rows = |first: u32| {
        let mut v = Vec::new();
        for i in 0..6u32 {
            let ids = [first, 2 + i, 3 + i];
            let (_, cache) = model
                .run_with_cache((Dyn::new(1), Dyn::new(3)), &ids, &sel, &[])
                .unwrap();
            let r = cache.resid_post(layers - 1).unwrap();
            let w = r.dims()[1];
            v.extend_from_slice(&r.as_slice()[2 * w..]);
        }
        let w = v.len() / 6;
        Tensor::<(Dyn, Dyn)>::from_vec_with((Dyn::new(6), Dyn::new(w)), v).unwrap()
    };
    let (a, b) = (last_rows(1), last_rows(20));
    let c = Contrast::fit(&a, &b).unwrap();
    assert_eq!(c.direction.unit().dims()[0], a.dims()[1]);
    assert!((0.0..=1.0).contains(&c.pc1_ratio) && (0.0..=1.0 + 1e-9).contains(&c.cosine));
    assert!(c.direction.accuracy(&a, &b).unwrap() > 0.5);
}

/// Patching: a patch of nothing changes nothing, the clean run patched into itself at any
/// site is the clean run (bit for bit), the changed token's embedding patched into the
/// corrupted run restores 100%, and a position before the change restores nothing.
#[test]
fn patching_invariants() {
    let model = Decoder::<RuntimeDims>::from_hf_dir(common::llama_fixture("llama_gqa")).unwrap();
    let layers = model.blocks.len();
    let shape = (Dyn::new(1), Dyn::new(4));
    let (clean, corrupt) = ([3, 9, 4, 6], [3, 11, 4, 6]);
    let sel = Selection::new().with(Site::ResidPre, 0..layers);
    let (clean_logits, cache) = model.run_with_cache(shape, &clean, &sel, &[]).unwrap();
    let plain = model.logits(shape, &clean).unwrap();
    assert_eq!(clean_logits.as_slice(), plain.as_slice());
    let none: [Intervention<_>; 0] = [];
    let (nothing, _) = model
        .run_with_cache(shape, &clean, &Selection::new(), &none)
        .unwrap();
    assert_eq!(nothing.as_slice(), plain.as_slice());
    for layer in 0..layers {
        for position in 0..4 {
            let patch = ResidSite { layer, position }.patch(&cache, 0).unwrap();
            let (same, _) = model
                .run_with_cache(shape, &clean, &Selection::new(), &[patch])
                .unwrap();
            assert_eq!(same.as_slice(), plain.as_slice(), "({layer}, {position})");
        }
    }
    let (corrupt_logits, _) = model
        .run_with_cache(shape, &corrupt, &Selection::new(), &[])
        .unwrap();
    let v = clean_logits.dims()[2];
    let diff = |l: &[f32]| l[3 * v + 5] - l[3 * v + 2];
    let (c, k) = (
        diff(clean_logits.as_slice()),
        diff(corrupt_logits.as_slice()),
    );
    assert!(
        (c - k).abs() > 1e-4,
        "the prompts must differ in the answer"
    );
    let patched = |position| {
        let patch = ResidSite { layer: 0, position }.patch(&cache, 0).unwrap();
        let (l, _) = model
            .run_with_cache(shape, &corrupt, &Selection::new(), &[patch])
            .unwrap();
        restored(c, k, diff(l.as_slice()))
    };
    assert_eq!(patched(1), 1.0);
    assert_eq!(patched(0), 0.0);
    // A site the cache does not hold is an error naming it.
    let e = ResidSite {
        layer: 0,
        position: 4,
    }
    .patch(&cache, 0)
    .unwrap_err();
    assert_eq!(e.to_string(), "position 4 is out of range: there are 4");
    assert!(ResidSite {
        layer: 0,
        position: 0
    }
    .patch(&cache, 1)
    .is_err());
}

/// The stream leaving the last block (the block count as the layer) patches too: the clean
/// run into itself is the clean run, and at the last position it restores all of the last
/// position's logit difference (nothing else reaches those logits).
#[test]
fn patching_the_stream_leaving_the_last_block() {
    let model = Decoder::<RuntimeDims>::from_hf_dir(common::llama_fixture("llama_gqa")).unwrap();
    let layers = model.blocks.len();
    let shape = (Dyn::new(1), Dyn::new(4));
    let (clean, corrupt) = ([3, 9, 4, 6], [3, 11, 4, 6]);
    let sel = Selection::new().with(Site::ResidPost, [layers - 1]);
    let (clean_logits, cache) = model.run_with_cache(shape, &clean, &sel, &[]).unwrap();
    let site = |position| ResidSite {
        layer: layers,
        position,
    };
    let patch = site(2).patch(&cache, 0).unwrap();
    let (same, _) = model
        .run_with_cache(shape, &clean, &Selection::new(), &[patch])
        .unwrap();
    assert_eq!(same.as_slice(), clean_logits.as_slice());
    let (corrupt_logits, _) = model
        .run_with_cache(shape, &corrupt, &Selection::new(), &[])
        .unwrap();
    let v = clean_logits.dims()[2];
    let diff = |l: &[f32]| l[3 * v + 5] - l[3 * v + 2];
    let patch = site(3).patch(&cache, 0).unwrap();
    let (patched, _) = model
        .run_with_cache(shape, &corrupt, &Selection::new(), &[patch])
        .unwrap();
    let (c, k) = (
        diff(clean_logits.as_slice()),
        diff(corrupt_logits.as_slice()),
    );
    assert_eq!(restored(c, k, diff(patched.as_slice())), 1.0);
    let e = ResidSite {
        layer: layers + 1,
        position: 0,
    }
    .patch(&cache, 0)
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "layer (cached resid_pre) 3 is out of range: there are 3"
    );
}

/// Head patching (`hook_z`): each head of each layer, the clean run into itself, is the
/// clean run bit for bit; every head of every layer patched into the corrupted run makes
/// its heads' outputs the clean ones at every layer; a head of layer 1 leaves the stream
/// entering layer 1 as it was and changes the logits; a run of another length or a head
/// the model lacks is an error.
#[test]
fn head_patching_invariants() {
    for case in ["llama_gqa", "qwen2"] {
        let model = Decoder::<RuntimeDims>::from_hf_dir(common::llama_fixture(case)).unwrap();
        let (layers, heads) = (model.blocks.len(), model.dims().heads().size());
        let shape = (Dyn::new(1), Dyn::new(4));
        let (clean, corrupt) = ([3, 9, 4, 6], [3, 11, 4, 6]);
        let sel = Selection::new()
            .with(Site::Z, 0..layers)
            .with(Site::ResidPre, [0]);
        let (clean_logits, cache) = model.run_with_cache(shape, &clean, &sel, &[]).unwrap();
        assert_eq!(cache.heads(), heads);
        let site = |l, h| HeadSite::<Dyn>::new(l, h);
        let mut all = Vec::new();
        for l in 0..layers {
            for h in 0..heads {
                let patch = site(l, h).patch(&cache, 0).unwrap();
                let (same, _) = model
                    .run_with_patches(
                        shape,
                        &clean,
                        &Selection::new(),
                        &[],
                        std::slice::from_ref(&patch),
                    )
                    .unwrap();
                assert_eq!(
                    same.as_slice(),
                    clean_logits.as_slice(),
                    "{case} ({l}, {h})"
                );
                all.push(patch);
            }
        }
        // Every head of every layer from the clean run: the heads' outputs of the
        // corrupted run are the clean ones at every layer (the stream still differs: it
        // carries the corrupted token's embedding and the FFNs' outputs).
        let zs = Selection::new().with(Site::Z, 0..layers);
        let (whole, patched) = model
            .run_with_patches(shape, &corrupt, &zs, &[], &all)
            .unwrap();
        for l in 0..layers {
            let (a, b) = (patched.z(l).unwrap(), cache.z(l).unwrap());
            assert_eq!(a.as_slice(), b.as_slice(), "{case}, layer {l}");
        }
        assert_ne!(whole.as_slice(), clean_logits.as_slice(), "{case}");
        let (corrupt_logits, plain) = model
            .run_with_cache(
                shape,
                &corrupt,
                &Selection::new().with(Site::ResidPre, [1]),
                &[],
            )
            .unwrap();
        let one = site(1, heads - 1).patch(&cache, 0).unwrap();
        let (one_logits, patched) = model
            .run_with_patches(
                shape,
                &corrupt,
                &Selection::new().with(Site::ResidPre, [1]),
                &[],
                &[one],
            )
            .unwrap();
        assert_eq!(
            patched.resid_pre(1).unwrap().as_slice(),
            plain.resid_pre(1).unwrap().as_slice()
        );
        assert_ne!(one_logits.as_slice(), corrupt_logits.as_slice(), "{case}");
        let two = site(0, 0).patch(&cache, 0).unwrap();
        let e = model
            .run_with_patches(
                (Dyn::new(1), Dyn::new(3)),
                &[3, 11, 4],
                &Selection::new(),
                &[],
                &[two],
            )
            .map(|_| ())
            .unwrap_err();
        assert!(e.to_string().contains("the runs must be as long"), "{e}");
        let e = site(0, heads).patch(&cache, 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("head {heads} is out of range: there are {heads}")
        );
        assert!(site(0, 0).patch(&cache, 1).is_err());
    }
}

/// Steering while decoding with a KV cache is steering the whole sequence: at every step
/// the steered logits of the last position are the full forward's with the same
/// intervention (positions counted from the sequence's start, cached ones included), and a
/// coefficient of zero is the plain decoder's, bit for bit.
#[test]
fn steering_while_decoding() {
    let model = Decoder::<RuntimeDims>::from_hf_dir(common::llama_fixture("llama_gqa")).unwrap();
    let (layers, width) = (model.blocks.len(), model.embedding.table().dims()[1]);
    let v = Tensor::<(Dyn,)>::randn_with((Dyn::new(width),), 5);
    let steer = |layer, c| [Intervention::add(layer, v.clone(), c).from_position(2)];
    for layer in [0, 1, layers] {
        let (mut cache, mut zero, mut plain) = (model.cache(), model.cache(), model.cache());
        let mut ids = vec![3, 9, 4];
        let mut fed = ids.clone();
        for step in 0..4 {
            let logits = model
                .decode_last_steered(&mut cache, &fed, &steer(layer, 2.0))
                .unwrap();
            let shape = (Dyn::new(1), Dyn::new(ids.len()));
            let (full, _) = model
                .run_with_cache(shape, &ids, &Selection::new(), &steer(layer, 2.0))
                .unwrap();
            let v = logits.dims()[0];
            let last = &full.as_slice()[full.as_slice().len() - v..];
            let d = logits
                .as_slice()
                .iter()
                .zip(last)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(d <= 1e-5, "layer {layer}, step {step}: {d}");
            let unsteered = model.decode_last(&mut plain, &fed).unwrap();
            let nothing = model
                .decode_last_steered(&mut zero, &fed, &steer(layer, 0.0))
                .unwrap();
            assert_eq!(
                nothing.as_slice(),
                unsteered.as_slice(),
                "layer {layer}, step {step}"
            );
            assert_ne!(
                logits.as_slice(),
                unsteered.as_slice(),
                "layer {layer}, step {step}"
            );
            let next = (step as u32 * 7 + 1) % v as u32;
            ids.push(next);
            fed = vec![next];
        }
    }
    let e = model
        .decode_last_steered(&mut model.cache(), &[1], &steer(layers + 1, 1.0))
        .unwrap_err();
    assert_eq!(e.to_string(), "layer 3 is out of range: there are 3");
}

/// Generation through `Steered`: greedy with a coefficient of zero is plain greedy
/// generation, id for id; a large coefficient changes what is generated.
#[cfg(feature = "llm")]
#[test]
fn steered_generation_at_zero_is_plain_generation() {
    use shapecheck::models::decoder::Steered;
    use shapecheck::models::generate::{generate, GenerateConfig};
    let model = Decoder::<RuntimeDims>::from_hf_dir(common::llama_fixture("llama_gqa")).unwrap();
    let v = Tensor::<(Dyn,)>::randn_with((model.dims().model(),), 9);
    let config = GenerateConfig {
        max_new_tokens: 8,
        ..GenerateConfig::default()
    };
    let prompt = [1, 4, 7, 2];
    let plain = generate(&model, &prompt, config.clone()).unwrap();
    let steered = |c| {
        let s = Steered::new(
            &model,
            vec![Intervention::add(1, v.clone(), c).from_position(1)],
        );
        generate(&s, &prompt, config.clone()).unwrap()
    };
    assert_eq!(steered(0.0).ids, plain.ids);
    assert_ne!(steered(50.0).ids, plain.ids);
}

/// The largest difference of two equally long slices.
/// A batch of prompts of different lengths (`Decoder::run_ragged`): every prompt's logits,
/// cached states (residual stream, FFN activations, head outputs, queries, keys, attention
/// pattern), steering, head ablation and logit lens are what the prompt gives alone, at
/// its own rows of the packed cache, and no padding position is among them. Bit for bit
/// while the batch's products have at most 48 rows (the few-rows kernel's sums do not
/// depend on the row count); past that the packed GEMM sums in another order.
#[test]
fn a_batch_of_prompts_of_different_lengths_is_each_prompt_alone() {
    let prompts: [&[u32]; 4] = [&[3, 9, 4, 6, 2], &[7, 1], &[5, 8, 2, 2, 10, 4, 1], &[6]];
    for case in ["llama_gqa", "qwen2"] {
        let model = Decoder::<RuntimeDims>::from_hf_dir(common::llama_fixture(case)).unwrap();
        let (layers, heads) = (model.blocks.len(), model.dims().heads().size());
        let width = model.embedding.table().dims()[1];
        let v = Tensor::<(Dyn,)>::randn_with((Dyn::new(width),), 5);
        let steer = [Intervention::add(1, v, 0.7).from_position(1)];
        let ablate = [HeadAblation::<Dyn>::zero(0, heads - 1)];
        let all = [
            Site::ResidPre,
            Site::ResidMid,
            Site::ResidPost,
            Site::Ffn,
            Site::Z,
        ];
        let sel = all
            .iter()
            .fold(Selection::new(), |s, &site| s.with(site, 0..layers))
            .with(Site::Queries, 0..layers)
            .with(Site::Keys, 0..layers)
            .with(Site::Attention, 0..layers);
        // 22 positions (28 with the padding): products of at most 48 rows.
        let (logits, cache) = model
            .run_ragged(&prompts, &sel, &steer, &ablate, &[])
            .unwrap();
        let vocab = logits.dims()[1];
        assert_eq!(logits.dims()[0], 15);
        for (i, p) in prompts.iter().enumerate() {
            let rows = cache.rows(i).unwrap();
            assert_eq!(rows.len(), p.len(), "{case} prompt {i}");
            let (one, alone) = model
                .run_with_hooks((Dyn::new(1), Dyn::new(p.len())), p, &sel, &steer, &ablate)
                .unwrap();
            let mine = &logits.as_slice()[rows.start * vocab..rows.end * vocab];
            assert_eq!(mine, one.as_slice(), "{case} prompt {i}: logits");
            for l in 0..layers {
                let packed = [
                    (cache.resid_pre(l), alone.resid_pre(l)),
                    (cache.resid_mid(l), alone.resid_mid(l)),
                    (cache.resid_post(l), alone.resid_post(l)),
                ];
                for (k, (a, b)) in packed.into_iter().enumerate() {
                    let (a, b) = (a.unwrap(), b.unwrap());
                    let w = a.dims()[1];
                    let a = &a.as_slice()[rows.start * w..rows.end * w];
                    assert_eq!(a, b.as_slice(), "{case} prompt {i} layer {l} resid {k}");
                }
                let (a, b) = (cache.ffn(l).unwrap(), alone.ffn(l).unwrap());
                let w = a.dims()[1];
                assert_eq!(&a.as_slice()[rows.start * w..rows.end * w], b.as_slice());
                let (a, b) = (cache.z(l).unwrap(), alone.z(l).unwrap());
                let w = a.dims()[1];
                assert_eq!(&a.as_slice()[rows.start * w..rows.end * w], b.as_slice());
                let heads_of = [
                    (cache.queries(l, i), alone.queries(l, 0)),
                    (cache.keys(l, i), alone.keys(l, 0)),
                ];
                let pattern = (cache.attention(l, i), alone.attention(l, 0));
                let pattern = pattern
                    .0
                    .zip(pattern.1)
                    .map(|(a, b)| (a.dims(), a.as_slice(), b));
                let heads_of = heads_of.map(|(a, b)| (a.map(|a| (a.dims(), a.as_slice())), b));
                for ((dims, a), b) in heads_of.into_iter().map(|(a, b)| (a.unwrap(), b.unwrap())) {
                    assert_eq!(dims, b.dims(), "{case} prompt {i} layer {l}");
                    assert_eq!(a, b.as_slice(), "{case} prompt {i} layer {l}");
                }
                let (dims, a, b) = pattern.unwrap();
                assert_eq!(dims, b.dims(), "{case} prompt {i} layer {l}: pattern");
                assert_eq!(a, b.as_slice(), "{case} prompt {i} layer {l}: pattern");
            }
            // The logit lens of the packed stream, row for row.
            let lens = model.logit_lens(cache.resid_post(0).unwrap()).unwrap();
            let lone = model.logit_lens(alone.resid_post(0).unwrap()).unwrap();
            let d = common::max_abs_diff(
                &lens.as_slice()[rows.start * vocab..rows.end * vocab],
                lone.as_slice(),
            );
            assert!(d <= 1e-6, "{case} prompt {i}: the lens differs by {d}");
        }
        assert!(cache.rows(prompts.len()).is_none());
        assert!(cache.queries(0, prompts.len()).is_none());
        // A plain ragged run of one prompt is the plain forward, bit for bit.
        let (plain, _) = model
            .run_ragged(&prompts[..1], &Selection::new(), &[], &[], &[])
            .unwrap();
        let shape = (Dyn::new(1), Dyn::new(prompts[0].len()));
        assert_eq!(
            plain.as_slice(),
            model.logits(shape, prompts[0]).unwrap().as_slice()
        );
    }
}

/// Past 48 rows a product goes to the packed GEMM, whose sums are in another order than
/// the few-rows kernel's: a batch of 12 prompts (up to 9 positions each, 108 rows with the
/// padding) gives each prompt's logits within rounding of the prompt alone; a mean
/// ablation averages over the prompts' own positions only. Empty input is an error.
#[test]
fn a_large_ragged_batch_and_its_errors() {
    let model = Decoder::<RuntimeDims>::from_hf_dir(common::llama_fixture("llama_gqa")).unwrap();
    let prompts: Vec<Vec<u32>> = (0..12)
        .map(|i| {
            (0..1 + (i * 5) % 9)
                .map(|j| ((i * 7 + j * 3) % 11 + 1) as u32)
                .collect()
        })
        .collect();
    let refs: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
    let (logits, cache) = model
        .run_ragged(&refs, &Selection::new(), &[], &[], &[])
        .unwrap();
    let vocab = logits.dims()[1];
    let mut worst = 0.0f64;
    for (i, p) in refs.iter().enumerate() {
        let rows = cache.rows(i).unwrap();
        let one = model.logits((Dyn::new(1), Dyn::new(p.len())), p).unwrap();
        let d = common::max_abs_diff(
            &logits.as_slice()[rows.start * vocab..rows.end * vocab],
            one.as_slice(),
        );
        worst = worst.max(d);
    }
    assert!(
        worst <= 1e-5,
        "a prompt's logits differ from its own by {worst}"
    );
    // A mean ablation averages over the prompts' 3 + 2 own positions, not the padding.
    let mean = [HeadAblation::<Dyn>::mean(0, 0)];
    let pair: [&[u32]; 2] = [&[3, 9, 4], &[7, 1]];
    let z = Selection::new().with(Site::Z, [0]);
    let (_, ragged) = model.run_ragged(&pair, &z, &[], &mean, &[]).unwrap();
    let (_, plain) = model.run_ragged(&pair, &z, &[], &[], &[]).unwrap();
    let (za, zp) = (ragged.z(0).unwrap(), plain.z(0).unwrap());
    let w = za.dims()[1];
    let hd = w / model.dims().heads().size();
    let avg: Vec<f32> = (0..hd)
        .map(|c| (0..5).map(|r| zp.as_slice()[r * w + c]).sum::<f32>() / 5.0)
        .collect();
    for r in 0..5 {
        let d = common::max_abs_diff(&za.as_slice()[r * w..r * w + hd], &avg);
        assert!(d <= 1e-6, "row {r}: the mean ablation is off by {d}");
    }
    let e = model
        .run_ragged(&[&[1, 2], &[]], &Selection::new(), &[], &[], &[])
        .map(|_| ())
        .unwrap_err();
    assert!(e.to_string().contains("each of at least one id"), "{e}");
    assert!(model
        .run_ragged(&[], &Selection::new(), &[], &[], &[])
        .is_err());
}
