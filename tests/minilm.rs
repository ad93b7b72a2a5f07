//! all-MiniLM-L6-v2 (the library's `shapecheck::models::minilm`) end to end against
//! sentence-transformers: the reference in
//! tests/fixtures/minilm/reference.json (a copy of ../shared/fixtures/minilm/) was computed
//! with sentence-transformers (PyTorch).
//! Checks the input ids, every embedding's cosine similarity with the reference (≥ 0.9999)
//! and the 8×8 corner of the first sentence's last hidden state (within 1e-3).
//!
//! The model is git-ignored (scripts/fetch-minilm.sh fetches it; `.ci/run` does so first).
//! Without it the test fails under `CI=true` and otherwise prints a note and passes. The
//! config check needs no model.

mod common;

use std::path::Path;

use common::{minilm_dir, missing};
use serde_json::Value;
use shapecheck::models::minilm::{Hidden, MiniLm};
use shapecheck::models::ModelError;
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
    let dir = minilm_dir();
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
    let m = MiniLm::load(&dir).expect("the model loads");
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
    for (i, want) in reference["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let got = &out.embeddings.row(i);
        let want = Tensor::<(Hidden,)>::from_vec(floats(want))
            .unwrap()
            .normalize();
        let cos = cosine_similarity(got, &want);
        assert!(cos >= 0.9999, "sentence {i}: cosine {cos}");
        // Not a tautology: another sentence's reference is far from this embedding.
        let other = &reference["embeddings"][(i + 1) % sentences.len()];
        let other = Tensor::<(Hidden,)>::from_vec(floats(other))
            .unwrap()
            .normalize();
        assert!(
            cosine_similarity(got, &other) < 0.9,
            "sentence {i} vs its neighbour"
        );
    }

    // The first sentence's last hidden state, 8×8 corner, within 1e-3 (its rows 0..8 of the
    // packed batch are its own tokens).
    let corner = reference["first_hidden_8x8"].as_array().unwrap();
    let first = out.hidden.sentence(0);
    let mut worst = 0.0f32;
    for (t, row) in corner.iter().enumerate() {
        for (j, want) in floats(row).into_iter().enumerate() {
            worst = worst.max((first[[t, j]] - want).abs());
        }
    }
    assert!(worst <= 1e-3, "last hidden state off by {worst}");
    eprintln!("minilm: 8x8 corner max |diff| = {worst:e}");
}

#[test]
fn a_sentence_alone_equals_the_same_sentence_in_a_batch() {
    let dir = minilm_dir();
    if !dir.join("model.safetensors").is_file() {
        return missing("the all-MiniLM-L6-v2 model", &dir);
    }
    let m = MiniLm::load(&dir).expect("the model loads");
    let short = "The cat sat.";
    let long = "A feed-forward layer is a matrix multiplication followed by a nonlinearity.";
    let alone = m.encode(&[short]).unwrap();
    let batch = m.encode(&[long, short]).unwrap();
    assert!(batch.input_ids[1].len() < batch.input_ids[0].len()); // of different lengths
    let cos = cosine_similarity(&alone.embeddings.row(0), &batch.embeddings.row(1));
    assert!(
        cos > 0.99999,
        "batching changed the embedding: cosine {cos}"
    );
}

/// A `config.json` whose dims disagree with the type is refused before any weight is read,
/// naming the field, the type's value and the file's (no model needed: only the config is
/// read).
#[test]
fn a_config_of_other_dims_is_an_error() {
    let dir = std::env::temp_dir().join(format!("shapecheck-minilm-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = r#"{"hidden_size": 768, "intermediate_size": 1536, "max_position_embeddings": 512,
        "num_attention_heads": 12, "num_hidden_layers": 6, "type_vocab_size": 2,
        "vocab_size": 30522}"#;
    std::fs::write(dir.join("config.json"), config).unwrap();
    let err = MiniLm::load(&dir)
        .err()
        .expect("a 768-wide config is refused");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        matches!(
            &err,
            ModelError::Config { field: "hidden_size", expected, found, .. }
                if expected == "384" && found == "768"
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().ends_with(
            "config.json: `hidden_size` is 768 in the file, but the model's type has 384"
        ),
        "{err}"
    );
}

/// Input the model cannot run is an error, never a panic: a sequence longer than the 512
/// positions, an id outside the vocab.
#[test]
fn bad_token_ids_are_errors() {
    let dir = minilm_dir();
    if !dir.join("model.safetensors").is_file() {
        return missing("the all-MiniLM-L6-v2 model", &dir);
    }
    let m = MiniLm::load(&dir).expect("the model loads");
    let err = m.forward(&[vec![101; 513]]).unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::TooLong {
                tokens: 513,
                positions: 512
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "a sequence of 513 tokens exceeds the model's 512 positions"
    );
    let err = m.forward(&[vec![101, 30522, 102]]).unwrap_err();
    assert!(matches!(err, ModelError::Shape(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("id 30522 at position 1 is out of range for a table of 30522 rows"),
        "{err}"
    );
    // 512 tokens are fine.
    let out = m.forward(&[vec![101; 512]]).expect("512 positions");
    assert_eq!(out.states().dims().as_slice(), &[512, 384]);
    assert_eq!(out.spans().len(), 1);
}
