//! LoRA adapters as PEFT writes and reads them (issue 23 item 5), through the public API:
//! adapters saved by PEFT's `save_pretrained` on a tiny random LLaMA
//! (`scripts/gen_peft_fixture.py`, fixtures in `tests/fixtures/peft/`) load with
//! `Decoder::load_peft` and give PEFT's logits within 1e-4; ours save under PEFT's names
//! and config and load back; mismatches are errors naming the key; and the merged model
//! saves as a Hugging Face directory that `Decoder::from_hf_dir` loads back.

mod common;

use std::path::{Path, PathBuf};

use shapecheck::io::{LoadError, SafeTensors};
use shapecheck::models::decoder::{Decoder, LoraTargets, RuntimeDims, PEFT_CONFIG, PEFT_WEIGHTS};
use shapecheck::nn::lora::{AdapterConfig, LoraConfig};
use shapecheck::prelude::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/peft")
        .join(name)
}

/// A fresh scratch directory for `name`.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shapecheck-peft-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A scratch directory `name` holding the weights of fixture `adapter` (its configuration
/// for the test to write, edited), and the text of that configuration.
fn weights_of(adapter: &str, name: &str) -> (PathBuf, String) {
    let dir = scratch(name);
    let text = std::fs::read_to_string(fixture(adapter).join(PEFT_CONFIG)).unwrap();
    std::fs::copy(fixture(adapter).join(PEFT_WEIGHTS), dir.join(PEFT_WEIGHTS)).unwrap();
    (dir, text)
}

fn base() -> Decoder<RuntimeDims> {
    Decoder::<RuntimeDims>::from_hf_dir(fixture("base")).unwrap()
}

/// The ids `(B, S)` and the logits PEFT computed under `key`.
fn expected(key: &str) -> ((Dyn, Dyn), Vec<u32>, Vec<f32>) {
    let file = SafeTensors::open(fixture("expected.safetensors")).unwrap();
    let s = file.info(key).unwrap().shape;
    let shape = (Dyn::new(s[0]), Dyn::new(s[1]));
    let ids: Tensor<(Dyn, Dyn)> = file.load_with("ids", shape).unwrap();
    let logits: Tensor<(Dyn, Dyn, Dyn)> = file
        .load_with(key, (shape.0, shape.1, Dyn::new(s[2])))
        .unwrap();
    let ids = ids.as_slice().iter().map(|&x| x as u32).collect();
    (shape, ids, logits.into_vec())
}

fn logits(model: &Decoder<RuntimeDims>, key: &str) -> (Vec<f32>, Vec<f32>) {
    let (shape, ids, want) = expected(key);
    (model.logits(shape, &ids).unwrap().into_vec(), want)
}

#[test]
fn adapters_written_by_peft_give_its_logits() {
    let mut model = base();
    let (got, want) = logits(&model, "base");
    assert!(common::max_abs_diff(&got, &want) < 1e-4);
    for name in ["adapter", "adapter_rslora"] {
        let mut model = base();
        let config = model.load_peft(fixture(name)).unwrap();
        let (got, want) = logits(&model, name);
        let d = common::max_abs_diff(&got, &want);
        assert!(d < 1e-4, "{name}: logits differ from PEFT's by {d}");
        // The adapter moved the logits far more than the tolerance.
        let (plain, _) = logits(&base(), "base");
        assert!(common::max_abs_diff(&got, &plain) > 0.5, "{name}");
        assert_eq!(config.r, 4);
        // Only the adapters are trainable, as after PEFT's `get_peft_model`.
        let trainable = model.adapter_params_mut().len();
        assert_eq!(trainable, if name == "adapter" { 16 } else { 8 });
        assert_eq!(model.params_mut().len(), 21);
    }
    // rsLoRA with the patterns: v_proj of rank 2, q_proj of α 16, both scaled by α/√r.
    model.load_peft(fixture("adapter_rslora")).unwrap();
    let named = model.named_adapter_params();
    let shape = |n: &str| {
        named
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, p)| p.values().len())
            .unwrap()
    };
    assert_eq!(shape("layers.1.self_attn.v_proj.lora_A.weight"), 2 * 32);
    assert_eq!(shape("layers.1.self_attn.q_proj.lora_A.weight"), 4 * 32);
}

#[test]
fn saved_adapters_use_peft_names_and_config_and_load_back() {
    let mut model = base();
    model.load_peft(fixture("adapter_rslora")).unwrap();
    let dir = scratch("save");
    model
        .save_peft(&dir, "HuggingFaceTB/SmolLM2-135M-Instruct")
        .unwrap();

    // The same keys and shapes as PEFT's own file.
    let ours = SafeTensors::open(dir.join(PEFT_WEIGHTS)).unwrap();
    let peft = SafeTensors::open(fixture("adapter_rslora").join(PEFT_WEIGHTS)).unwrap();
    let mut a = ours.names();
    let mut b = peft.names();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    for n in &a {
        assert_eq!(
            ours.info(n).unwrap().shape,
            peft.info(n).unwrap().shape,
            "{n}"
        );
    }
    let text = std::fs::read_to_string(dir.join(PEFT_CONFIG)).unwrap();
    for field in [
        r#""use_rslora": true"#,
        r#""task_type": "CAUSAL_LM""#,
        r#""bias": "none""#,
        r#""peft_type": "LORA""#,
        r#""base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct""#,
    ] {
        assert!(text.contains(field), "{field} not in {text}");
    }
    // Every module's rank and α as PEFT's config gives them.
    let ours = AdapterConfig::from_json(&text).unwrap();
    let theirs = AdapterConfig::from_json(
        &std::fs::read_to_string(fixture("adapter_rslora").join(PEFT_CONFIG)).unwrap(),
    )
    .unwrap();
    for i in 0..2 {
        for p in ["q_proj", "v_proj"] {
            let m = format!("model.layers.{i}.self_attn.{p}");
            assert_eq!(ours.rank_of(&m), theirs.rank_of(&m), "{m}");
            assert_eq!(ours.alpha_of(&m), theirs.alpha_of(&m), "{m}");
        }
    }
    assert_eq!(ours.rank_of("model.layers.1.self_attn.v_proj"), 2);
    assert_eq!(ours.alpha_of("model.layers.1.self_attn.q_proj"), 16.0);
    assert!(text.contains("\"target_modules\": [\n    \"q_proj\",\n    \"v_proj\"\n  ]"));

    // Back into a fresh base: the same logits, bit for bit.
    let mut back = base();
    back.load_peft(&dir).unwrap();
    let (want, _) = logits(&model, "base");
    let (got, _) = logits(&back, "base");
    assert_eq!(got, want);
    // And into the decoder that already has them.
    back.load_peft(&dir).unwrap();
}

#[test]
fn a_config_that_disagrees_with_the_tensors_or_the_model_is_an_error() {
    // The config says rank 2, the tensors are of rank 4.
    let (dir, text) = weights_of("adapter", "rank");
    std::fs::write(dir.join(PEFT_CONFIG), text.replace("\"r\": 4", "\"r\": 2")).unwrap();
    let mut model = base();
    let err = model.load_peft(&dir).unwrap_err();
    assert!(matches!(err, LoadError::Shape { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "tensor `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`: \
         expected shape (Dyn=2, Dyn=32), file has [4, 32]"
    );
    assert!(!model.has_adapters(), "a refused file leaves no adapter");

    // A target this decoder does not adapt (the MLP's are adapted now: the head is not).
    std::fs::write(
        dir.join(PEFT_CONFIG),
        text.replace("\"o_proj\"", "\"lm_head\""),
    )
    .unwrap();
    let err = model.load_peft(&dir).unwrap_err().to_string();
    assert!(
        err.contains("target module `lm_head` is not one this decoder adapts"),
        "{err}"
    );

    // A bias PEFT would train.
    std::fs::write(
        dir.join(PEFT_CONFIG),
        text.replace("\"lora_bias\": false", "\"lora_bias\": true"),
    )
    .unwrap();
    let err = model.load_peft(&dir).unwrap_err().to_string();
    assert!(err.contains("`lora_bias` is true"), "{err}");

    // Adapters already there of another rank.
    let mut model = base();
    model
        .add_adapters(LoraTargets::ALL, 8, LoraConfig::default(), 0)
        .unwrap();
    let err = model.load_peft(fixture("adapter")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tensor `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`: \
         expected shape (Dyn=8, Dyn=32), file has [4, 32]"
    );
    // Of another α.
    let mut model = base();
    model
        .add_adapters(LoraTargets::ALL, 4, LoraConfig::alpha(16.0), 0)
        .unwrap();
    let err = model.load_peft(fixture("adapter")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "adapter `base_model.model.model.layers.0.self_attn.q_proj`: `lora_alpha` is 8 in \
         the file, but 16 here; nothing was loaded"
    );
    // On other projections.
    let mut model = base();
    model
        .add_adapters(LoraTargets::ALL, 4, LoraConfig::default(), 0)
        .unwrap();
    let err = model.load_peft(fixture("adapter_rslora")).unwrap_err();
    assert!(matches!(err, LoadError::Mismatch { .. }), "{err:?}");
}

#[test]
fn merged_model_saves_as_a_hugging_face_directory_that_loads_back() {
    let mut model = base();
    model.load_peft(fixture("adapter")).unwrap();
    let dir = scratch("merged");
    let err = model.save_hf_dir(&dir, 64).unwrap_err().to_string();
    assert!(err.contains("merge them first"), "{err}");
    model.merge_adapters();
    model.save_hf_dir(&dir, 64).unwrap();
    let back = Decoder::<RuntimeDims>::from_hf_dir(&dir).unwrap();
    let (got, want) = logits(&back, "adapter");
    let d = common::max_abs_diff(&got, &want);
    assert!(
        d < 1e-4,
        "merged and reloaded: logits differ from PEFT's by {d}"
    );
    let (merged, _) = logits(&model, "adapter");
    assert_eq!(got, merged, "the reloaded model is the merged one");
}

/// Adapters on the MLP's gate/up/down (and q), written by PEFT with `down_proj` of rank 2:
/// PEFT's logits within 1e-4, saved under PEFT's names and read back bit for bit, merged
/// into a Hugging Face directory that gives PEFT's logits again.
#[test]
fn mlp_adapters_written_by_peft_give_peft_logits_and_save_and_merge() {
    let mut model = base();
    let config = model.load_peft(fixture("adapter_mlp")).unwrap();
    assert_eq!(
        (config.r, config.rank_of("model.layers.1.mlp.down_proj")),
        (4, 2)
    );
    let (got, want) = logits(&model, "adapter_mlp");
    let d = common::max_abs_diff(&got, &want);
    assert!(d < 1e-4, "logits differ from PEFT's by {d}");
    let (plain, _) = logits(&base(), "base");
    assert!(common::max_abs_diff(&got, &plain) > 0.5);
    // Per layer q 4·(32 + 32), gate and up 4·(32 + 48), down 2·(48 + 32); two layers.
    assert_eq!(model.num_adapter_params(), 2 * (256 + 2 * 320 + 160));
    assert_eq!(model.adapter_params_mut().len(), 2 * 4 * 2);

    let dir = scratch("mlp");
    model.save_peft(&dir, "base").unwrap();
    let ours = SafeTensors::open(dir.join(PEFT_WEIGHTS)).unwrap();
    let peft = SafeTensors::open(fixture("adapter_mlp").join(PEFT_WEIGHTS)).unwrap();
    let (mut a, mut b) = (ours.names(), peft.names());
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert!(a.contains(&"base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));
    let text = std::fs::read_to_string(dir.join(PEFT_CONFIG)).unwrap();
    let saved = AdapterConfig::from_json(&text).unwrap();
    assert_eq!(
        saved.target_modules,
        ["q_proj", "gate_proj", "up_proj", "down_proj"]
    );
    assert_eq!(saved.rank_of("model.layers.0.mlp.down_proj"), 2);
    let mut back = base();
    back.load_peft(&dir).unwrap();
    assert_eq!(logits(&back, "base").0, got);

    model.merge_adapters();
    assert!(!model.has_adapters());
    let merged = scratch("mlp-merged");
    model.save_hf_dir(&merged, 64).unwrap();
    let again = Decoder::<RuntimeDims>::from_hf_dir(&merged).unwrap();
    let (got, want) = logits(&again, "adapter_mlp");
    let d = common::max_abs_diff(&got, &want);
    assert!(d < 1e-4, "merged: logits differ from PEFT's by {d}");
}

/// An MLP adapter whose tensor disagrees with the configuration is an `Err` naming the key
/// and both shapes, and leaves no adapter.
#[test]
fn an_mlp_adapter_of_another_shape_is_an_error_naming_the_key() {
    let (dir, text) = weights_of("adapter_mlp", "mlp-rank");
    let text = text.replace("\"down_proj\": 2", "\"down_proj\": 3");
    std::fs::write(dir.join(PEFT_CONFIG), text).unwrap();
    let mut model = base();
    let err = model.load_peft(&dir).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tensor `base_model.model.model.layers.0.mlp.down_proj.lora_A.weight`: \
         expected shape (Dyn=3, Dyn=48), file has [2, 48]"
    );
    assert!(!model.has_adapters(), "a refused file leaves no adapter");
}
