//! The activation cache and interventions on all-MiniLM-L6-v2 (`shapecheck::inspect`,
//! `MiniLm::run_with_cache`): the cache agrees with the plain forward, attention patterns
//! are those of `attention_weights` on the cached queries and keys (and of a naive
//! softmax), a zero steering coefficient changes no bit, and steering held-out sentences
//! with the direction of a topic moves their embeddings toward it, monotonically.
//!
//! The sentences (three topics) are tests/fixtures/inside/topics.tsv, which the `inside`
//! example shares. Without the model the tests fail under `CI=true` and otherwise pass with
//! a note (tests/common's policy).

mod common;

use common::{minilm_dir, missing};
use shapecheck::inspect::{
    mean_difference, top_difference_component, InspectError, Intervention, Selection, Site,
};
use shapecheck::models::minilm::{Batch, Hidden, MiniLm, Packed};
use shapecheck::nn::attention::{attention_weights, AttentionMask};
use shapecheck::prelude::*;

fn model() -> Option<MiniLm> {
    let dir = minilm_dir();
    if !dir.join("model.safetensors").is_file() {
        missing("the all-MiniLM-L6-v2 model", &dir);
        return None;
    }
    Some(MiniLm::load(&dir).expect("the model loads"))
}

fn topics() -> Vec<(String, String)> {
    include_str!("fixtures/inside/topics.tsv")
        .lines()
        .map(|l| {
            let (t, s) = l.split_once('\t').expect("topic<TAB>sentence");
            (t.to_string(), s.to_string())
        })
        .collect()
}

fn of_topic(topic: &str) -> Vec<String> {
    topics()
        .into_iter()
        .filter(|(t, _)| t == topic)
        .map(|(_, s)| s)
        .collect()
}

fn ids(m: &MiniLm, sentences: &[String]) -> Vec<Vec<u32>> {
    sentences.iter().map(|s| m.tokenize(s).0).collect()
}

fn bits(x: &Packed) -> Vec<u32> {
    x.states().as_slice().iter().map(|v| v.to_bits()).collect()
}

/// The mean residual state of each sentence, `(Batch, Hidden)`.
fn sentence_means(
    x: &Tensor<(shapecheck::models::minilm::Tokens, Hidden)>,
    rows: &[std::ops::Range<usize>],
) -> Tensor<(Batch, Hidden)> {
    let h = Hidden::SIZE;
    let data: Vec<f32> = rows
        .iter()
        .flat_map(|r| {
            (0..h).map(move |j| {
                r.clone().map(|t| x.as_slice()[t * h + j]).sum::<f32>() / r.len() as f32
            })
        })
        .collect();
    Tensor::from_vec_with((Batch::new(rows.len()), Hidden), data).unwrap()
}

#[test]
fn the_cached_forward_is_the_plain_forward() {
    let Some(m) = model() else { return };
    let sentences = [
        of_topic("space")[..3].to_vec(),
        of_topic("cooking")[..2].to_vec(),
    ]
    .concat();
    let ids = ids(&m, &sentences);
    let plain = m.forward(&ids).unwrap();
    let everything = Site::ALL
        .iter()
        .fold(Selection::new(), |s, &site| s.with(site, 0..6));
    let (last, cache) = m.run_with_cache(&ids, &everything, &[]).unwrap();
    assert_eq!(bits(&last), bits(&plain));
    assert_eq!(
        cache.resid_post(5).unwrap().as_slice(),
        plain.states().as_slice()
    );
    for l in 1..6 {
        assert_eq!(
            cache.resid_pre(l).unwrap().as_slice(),
            cache.resid_post(l - 1).unwrap().as_slice()
        );
    }
    // Nothing selected: nothing recorded, and still the same bits.
    let (last, empty) = m.run_with_cache(&ids, &Selection::new(), &[]).unwrap();
    assert_eq!(bits(&last), bits(&plain));
    assert!(empty.resid_post(5).is_none() && empty.attention(0, 0).is_none());
    assert!(cache.resid_post(6).is_none() && cache.attention(0, 5).is_none());
}

#[test]
fn attention_patterns_are_softmax_rows_of_the_cached_queries_and_keys() {
    let Some(m) = model() else { return };
    let sentences = of_topic("football")[..3].to_vec();
    let ids = ids(&m, &sentences);
    let sel = Selection::new()
        .with(Site::Attention, [0, 4])
        .with(Site::Queries, [4])
        .with(Site::Keys, [4]);
    let (_, cache) = m.run_with_cache(&ids, &sel, &[]).unwrap();
    for (i, sentence) in ids.iter().enumerate() {
        let n = sentence.len();
        for l in [0, 4] {
            let p = cache.attention(l, i).unwrap();
            assert_eq!(p.dims().as_slice(), &[12, n, n]);
            for row in p.as_slice().chunks_exact(n) {
                let sum: f32 = row.iter().sum();
                assert!((sum - 1.0).abs() < 1e-5, "{sum}");
                assert!(row.iter().all(|&w| w >= 0.0));
            }
        }
        let (q, k) = (cache.queries(4, i).unwrap(), cache.keys(4, i).unwrap());
        let p = cache.attention(4, i).unwrap();
        let want = attention_weights(q, k, &AttentionMask::none());
        assert_eq!(want.as_slice(), p.as_slice());
        // A naive softmax(q·kᵀ/√32) for head 7.
        let d = 32;
        for a in 0..n {
            let scores: Vec<f64> = (0..n)
                .map(|b| {
                    (0..d)
                        .map(|c| f64::from(q[[7, a, c]]) * f64::from(k[[7, b, c]]))
                        .sum::<f64>()
                        / (d as f64).sqrt()
                })
                .collect();
            let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = scores.iter().map(|s| (s - top).exp()).sum();
            for b in 0..n {
                let w = (scores[b] - top).exp() / z;
                assert!((w - f64::from(p[[7, a, b]])).abs() < 1e-5);
            }
        }
    }
    assert!(cache.queries(0, 0).is_none());
}

#[test]
fn a_zero_coefficient_changes_no_bit() {
    let Some(m) = model() else { return };
    let sentences = of_topic("cooking")[..4].to_vec();
    let plain = m.encode(&sentences).unwrap();
    let v = Tensor::<(Hidden,)>::randn(3);
    for layer in [0, 3, 6] {
        let steer = Intervention::add(layer, v.clone(), 0.0).from_position(1);
        let out = m.encode_with(&sentences, &[steer]).unwrap();
        assert_eq!(bits(&out.hidden), bits(&plain.hidden), "layer {layer}");
        assert_eq!(
            out.embeddings.as_tensor().as_slice(),
            plain.embeddings.as_tensor().as_slice()
        );
    }
    let out = m.encode_with(&sentences, &[]).unwrap();
    assert_eq!(bits(&out.hidden), bits(&plain.hidden));
    let bad = Intervention::add(7, v, 1.0);
    assert!(matches!(
        m.encode_with(&sentences, &[bad]),
        Err(InspectError::OutOfRange {
            index: 7,
            len: 7,
            ..
        })
    ));
}

/// Steering the held-out `from` sentences at `layer` with `direction` times each of
/// `coefs`: the mean cosine of their embeddings with the `to` group's mean embedding.
fn steered_similarity(
    m: &MiniLm,
    layer: usize,
    direction: &Tensor<(Hidden,)>,
    coefs: &[f32],
    from: &[String],
    to_centroid: &Unit<(Hidden,)>,
) -> Vec<f32> {
    coefs
        .iter()
        .map(|&c| {
            let steer = Intervention::add(layer, direction.clone(), c);
            let e = m.encode_with(from, &[steer]).unwrap().embeddings;
            (0..from.len())
                .map(|i| cosine_similarity(&e.row(i), to_centroid))
                .sum::<f32>()
                / from.len() as f32
        })
        .collect()
}

#[test]
fn steering_toward_a_topic_raises_similarity_to_it_monotonically() {
    let Some(m) = model() else { return };
    let (space, football) = (of_topic("space"), of_topic("football"));
    // Directions from 8 sentences of each topic; 4 held-out football sentences are steered.
    let (space_fit, football_fit, held_out) = (&space[..8], &football[..8], &football[8..]);
    let layer = 3;
    let sel = Selection::new().with(Site::ResidPre, [layer]);
    let means = |s: &[String]| {
        let (_, cache) = m.run_with_cache(&ids(&m, s), &sel, &[]).unwrap();
        let rows: Vec<_> = (0..s.len()).map(|i| cache.rows(i).unwrap()).collect();
        sentence_means(cache.resid_pre(layer).unwrap(), &rows)
    };
    let (a, b) = (means(space_fit), means(football_fit));
    let centroid = {
        let e = m.embed(space_fit).unwrap();
        let h = Hidden::SIZE;
        Tensor::<(Hidden,)>::from_fn(|[j]| {
            (0..8).map(|i| e.as_tensor().as_slice()[i * h + j]).sum()
        })
        .normalize()
    };
    // Steps of 0.5 (the example prints a finer sweep): each point is a debug-build forward
    // of the held-out sentences, the bulk of this file's run time.
    let coefs = [0.0, 0.5, 1.0, 1.5];
    for (name, direction) in [
        ("mean difference", mean_difference(&a, &b).unwrap()),
        ("top component", top_difference_component(&a, &b).unwrap()),
    ] {
        let sims = steered_similarity(&m, layer, &direction, &coefs, held_out, &centroid);
        eprintln!("{name}: cosine to the space centroid at {coefs:?}: {sims:?}");
        assert!(sims.windows(2).all(|w| w[1] > w[0]), "{name}: {sims:?}");
        assert!(sims[3] - sims[0] > 0.2, "{name}: {sims:?}");
    }
}

#[test]
fn ablating_one_head_changes_its_layer_onward_and_a_bad_head_is_an_error() {
    let Some(m) = model() else { return };
    use shapecheck::inspect::HeadAblation;
    use shapecheck::models::minilm::Heads;
    let ids = vec![m.tokenize("A cat sat.").0];
    let sel = Selection::new().with(Site::ResidPre, [5]);
    let (plain, before) = m.run_with_cache(&ids, &sel, &[]).unwrap();
    let run = |a: HeadAblation<Heads>| m.run_with_hooks(&ids, &sel, &[], &[a]).unwrap();
    let (zeroed, cache) = run(HeadAblation::zero(5, 3));
    // The layers before are untouched, bit for bit; the output is not.
    let same = |a: &Tensor<_>, b: &Tensor<_>| a.as_slice() == b.as_slice();
    assert!(same(
        before.resid_pre(5).unwrap(),
        cache.resid_pre(5).unwrap()
    ));
    let moved = |x: &Packed| {
        x.states()
            .as_slice()
            .iter()
            .zip(plain.states().as_slice())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max)
    };
    assert!(moved(&zeroed) > 1e-4, "{}", moved(&zeroed));
    let (meaned, _) = run(HeadAblation::mean(5, 3));
    assert!(moved(&meaned) > 1e-4 && bits(&meaned) != bits(&zeroed));
    for (bad, what) in [
        (HeadAblation::zero(0, 12), "head 12"),
        (HeadAblation::zero(6, 0), "layer 6"),
    ] {
        let e = m
            .run_with_hooks(&ids, &sel, &[], &[bad])
            .map(|_| ())
            .unwrap_err();
        assert!(
            matches!(e, InspectError::OutOfRange { .. }) && e.to_string().contains(what),
            "{e}"
        );
    }
}
