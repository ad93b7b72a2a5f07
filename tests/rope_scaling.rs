//! RoPE's scalings against `transformers` (`tests/fixtures/rope_scaling.json`, written by
//! `scripts/golden_rope.py` from transformers' own `LlamaRotaryEmbedding`): the frequencies
//! a forward over a sequence of each length uses, the attention factor, and the cosines and
//! sines applied at a few positions, for `default`, `linear`, `dynamic`, `llama3` and `yarn`.

use serde_json::Value;
use shapecheck::nn::rope::{Rope, RopeLayout, RopeScaling, Yarn};
use shapecheck::prelude::*;

dim!(HeadDim = 16);
dim!(Seq);

fn fixture() -> Value {
    let text = include_str!("fixtures/rope_scaling.json");
    serde_json::from_str(text).expect("the fixture is JSON")
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("`{key}` is a number in {v}"))
}

fn count(v: &Value, key: &str) -> usize {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("`{key}` is a count in {v}")) as usize
}

/// The rope a Hugging Face config with these `rope_parameters` describes.
fn rope_of(case: &Value, max_positions: usize) -> Rope<HeadDim> {
    let p = &case["parameters"];
    let scaling = match p["rope_type"].as_str().unwrap() {
        "default" => RopeScaling::None,
        "linear" => RopeScaling::Linear {
            factor: num(p, "factor"),
        },
        "dynamic" => RopeScaling::Dynamic {
            factor: num(p, "factor"),
            max_positions,
        },
        "llama3" => RopeScaling::Llama3 {
            factor: num(p, "factor"),
            low_freq_factor: num(p, "low_freq_factor"),
            high_freq_factor: num(p, "high_freq_factor"),
            original_max_positions: count(p, "original_max_position_embeddings"),
        },
        "yarn" => {
            let mut y = Yarn::new(
                num(p, "factor"),
                count(p, "original_max_position_embeddings"),
            );
            if let Some(b) = p["beta_fast"].as_f64() {
                y.beta_fast = b;
            }
            if let Some(b) = p["beta_slow"].as_f64() {
                y.beta_slow = b;
            }
            y.attention_factor = p["attention_factor"].as_f64();
            RopeScaling::Yarn(y)
        }
        other => panic!("no scaling `{other}` here"),
    };
    Rope::new(RopeLayout::HalfSplit)
        .base(num(case, "rope_theta"))
        .scaling(scaling)
}

#[test]
fn frequencies_and_rotations_equal_transformers() {
    let f = fixture();
    let max_positions = count(&f, "max_position_embeddings");
    let cases = f["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 24);
    for case in cases {
        let (name, len) = (case["name"].as_str().unwrap(), count(case, "length"));
        let rope = rope_of(case, max_positions);
        // transformers computes inv_freq in f32: relative agreement to its rounding.
        let want: Vec<f64> = case["inv_freq"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let got = rope.frequencies_for_len(len);
        for (j, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 2e-6 * w.abs(),
                "{name} len {len}: pair {j} turns by {g}, transformers {w}"
            );
        }
        assert!(
            (rope.attention_factor() - num(case, "attention_factor")).abs() < 1e-12,
            "{name}: attention factor {}",
            rope.attention_factor()
        );
        // Rotating (1, 0) in every pair gives (cos, sin) times the attention factor.
        let mut x =
            Tensor::<(Seq, HeadDim), f64>::from_fn_with((Seq::new(len), HeadDim), |[_, j]| {
                if j < 8 {
                    1.0
                } else {
                    0.0
                }
            });
        rope.apply(&mut x, 0);
        let positions = case["positions"].as_array().unwrap();
        for (k, p) in positions.iter().enumerate() {
            let p = p.as_u64().unwrap() as usize;
            for j in 0..8 {
                let (c, s) = (
                    case["cos"][k][j].as_f64().unwrap(),
                    case["sin"][k][j].as_f64().unwrap(),
                );
                // f32 angles in transformers: |error| ≤ position × f32 ulp.
                let tol = 5e-5;
                assert!(
                    (x[[p, j]] - c).abs() < tol && (x[[p, j + 8]] - s).abs() < tol,
                    "{name} len {len} position {p} pair {j}: ({}, {}) against ({c}, {s})",
                    x[[p, j]],
                    x[[p, j + 8]]
                );
            }
        }
    }
}

#[test]
fn dynamic_ntk_changes_only_past_the_trained_context() {
    let plain = Rope::<HeadDim>::new(RopeLayout::HalfSplit);
    let dynamic = plain.clone().scaling(RopeScaling::Dynamic {
        factor: 2.0,
        max_positions: 64,
    });
    assert_eq!(
        dynamic.frequencies_for_len(64),
        plain.frequencies_for_len(64)
    );
    let long = dynamic.frequencies_for_len(65);
    assert_eq!(long[0], 1.0, "the highest frequency is base-independent");
    assert!(
        long[7] < plain.frequencies()[7],
        "the base grew past the context"
    );
}

#[test]
fn bad_scalings_are_errors_naming_the_parameter() {
    let rope = || Rope::<HeadDim>::new(RopeLayout::HalfSplit);
    let err = rope()
        .try_scaling(RopeScaling::Linear { factor: 0.0 })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Rope::scaling: factor = 0 is invalid for the input of shape head dim HeadDim=16: \
         it must be a finite number greater than 0"
    );
    let err = rope()
        .try_scaling(RopeScaling::Llama3 {
            factor: 8.0,
            low_freq_factor: 4.0,
            high_freq_factor: 1.0,
            original_max_positions: 8192,
        })
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("it must be below high_freq_factor"),
        "{err}"
    );
    let err = rope()
        .try_scaling(RopeScaling::Yarn(Yarn::new(f64::NAN, 4096)))
        .unwrap_err();
    assert!(err.to_string().contains("factor = NaN"), "{err}");
    let err = Rope::new_with(Dyn::new(2), RopeLayout::HalfSplit)
        .unwrap()
        .try_scaling(RopeScaling::Dynamic {
            factor: 2.0,
            max_positions: 8,
        })
        .unwrap_err();
    assert!(err.to_string().contains("head dim above 2"), "{err}");
}

#[test]
fn interpolation_is_linear_scaling() {
    let a = Rope::<HeadDim>::new(RopeLayout::Interleaved).interpolation(4.0);
    let b =
        Rope::<HeadDim>::new(RopeLayout::Interleaved).scaling(RopeScaling::Linear { factor: 4.0 });
    assert_eq!(a, b);
    assert_eq!(a.interpolation_scale(), 4.0);
}
