//! all-MiniLM-L6-v2 end to end against sentence-transformers: the reference in
//! tests/fixtures/minilm/reference.json (a copy of ../shared/fixtures/minilm/) was computed
//! with sentence-transformers (PyTorch).
//! Checks the input ids, every embedding's cosine similarity with the reference (≥ 0.9999)
//! and the 8×8 corner of the first sentence's last hidden state (within 1e-3).
//!
//! The model is git-ignored (scripts/fetch-minilm.sh fetches it; `.ci/run` does so first).
//! Without it the test fails under `CI=true` and otherwise prints a note and passes.

#[path = "common/missing.rs"]
mod common_missing;

#[allow(dead_code)]
#[path = "../examples/minilm/model.rs"]
mod model;

use std::path::Path;

use common_missing::missing;
use serde_json::Value;
use shapecheck::prelude::*;

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_f64().expect("a number") as f32)
        .collect()
}

#[test]
fn embeddings_match_sentence_transformers() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm/reference.json");
    let text = std::fs::read_to_string(&fixture).expect("the fixture is in the repository");
    let dir = model::default_dir();
    if !dir.join("model.safetensors").is_file() {
        return missing("the all-MiniLM-L6-v2 model", &dir);
    }
    let reference: Value = serde_json::from_str(&text).expect("the fixture is JSON");
    let sentences: Vec<&str> = reference["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let m = model::MiniLm::load(&dir).expect("the model loads");
    let out = m.encode(&sentences).expect("the sentences encode");

    // The same input ids.
    let want_ids: Vec<Vec<u32>> = reference["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        })
        .collect();
    assert_eq!(out.input_ids, want_ids);

    // Every embedding within cosine 0.9999 of the reference (which is unit length too).
    for (i, (got, want)) in out
        .embeddings
        .iter()
        .zip(reference["embeddings"].as_array().unwrap())
        .enumerate()
    {
        let want = Tensor::<(model::Hidden,)>::from_vec(floats(want))
            .unwrap()
            .normalize();
        let cos = cosine_similarity(got, &want);
        assert!(cos >= 0.9999, "sentence {i}: cosine {cos}");
        // Not a tautology: another sentence's reference is far from this embedding.
        let other = &reference["embeddings"][(i + 1) % sentences.len()];
        let other = Tensor::<(model::Hidden,)>::from_vec(floats(other))
            .unwrap()
            .normalize();
        assert!(
            cosine_similarity(got, &other) < 0.9,
            "sentence {i} vs its neighbour"
        );
    }

    // The first sentence's last hidden state, 8×8 corner, within 1e-3 (the batch is padded to
    // its longest sentence; the first sentence's rows 0..8 are its own tokens).
    let corner = reference["first_hidden_8x8"].as_array().unwrap();
    let mut worst = 0.0f32;
    for (t, row) in corner.iter().enumerate() {
        for (j, want) in floats(row).into_iter().enumerate() {
            worst = worst.max((out.last_hidden[[0, t, j]] - want).abs());
        }
    }
    assert!(worst <= 1e-3, "last hidden state off by {worst}");
    eprintln!("minilm: 8x8 corner max |diff| = {worst:e}");
}

#[test]
fn a_sentence_alone_equals_the_same_sentence_in_a_padded_batch() {
    let dir = model::default_dir();
    if !dir.join("model.safetensors").is_file() {
        return missing("the all-MiniLM-L6-v2 model", &dir);
    }
    let m = model::MiniLm::load(&dir).expect("the model loads");
    let short = "The cat sat.";
    let long = "A feed-forward layer is a matrix multiplication followed by a nonlinearity.";
    let alone = m.encode(&[short]).unwrap();
    let batch = m.encode(&[long, short]).unwrap();
    assert!(batch.input_ids[1].len() < batch.input_ids[0].len()); // the short one is padded
    let cos = cosine_similarity(&alone.embeddings[0], &batch.embeddings[1]);
    assert!(cos > 0.99999, "padding changed the embedding: cosine {cos}");
}
