//! `LlamaConfig`: Hugging Face `config.json` files of the LLaMA family in both forms —
//! the older one (top-level `rope_theta`, `rope_scaling` with `type` or `rope_type`),
//! modelled on the files published with SmolLM2-135M, TinyLlama-1.1B, Mistral-7B and
//! Llama-3.2-1B, and transformers 5's `rope_parameters`, written by transformers 5.25 itself
//! (`LlamaConfig(...).to_json_string()`, bookkeeping keys dropped) — and the errors for bad
//! fields.

use shapecheck::models::llama::{Family, LlamaConfig};
use shapecheck::models::ModelError;
use shapecheck::nn::rope::{RopeScaling, Yarn};
use shapecheck::prelude::*;

const SMOLLM2: &str = r#"{"architectures": ["LlamaForCausalLM"], "attention_bias": false,
  "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
  "hidden_size": 576, "initializer_range": 0.041666666666666664, "intermediate_size": 1536,
  "is_llama_config": true, "max_position_embeddings": 8192, "mlp_bias": false,
  "model_type": "llama", "num_attention_heads": 9, "num_hidden_layers": 30,
  "num_key_value_heads": 3, "pad_token_id": 2, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_interleaved": false, "rope_scaling": null, "rope_theta": 100000,
  "tie_word_embeddings": true, "torch_dtype": "bfloat16", "transformers_version": "4.42.3",
  "use_cache": true, "vocab_size": 49152}"#;

const TINYLLAMA: &str = r#"{"architectures": ["LlamaForCausalLM"], "bos_token_id": 1,
  "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02,
  "intermediate_size": 5632, "max_position_embeddings": 2048, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 22, "num_key_value_heads": 4,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null, "tie_word_embeddings": false,
  "torch_dtype": "bfloat16", "transformers_version": "4.35.0", "use_cache": true,
  "vocab_size": 32000}"#;

const MISTRAL: &str = r#"{"architectures": ["MistralForCausalLM"], "bos_token_id": 1,
  "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
  "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 32000}"#;

const LLAMA32_OLD: &str = r#"{"architectures": ["LlamaForCausalLM"], "attention_bias": false,
  "bos_token_id": 128000, "eos_token_id": 128001, "head_dim": 64, "hidden_size": 2048,
  "intermediate_size": 8192, "max_position_embeddings": 131072, "mlp_bias": false,
  "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 16,
  "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
    "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": true, "vocab_size": 128256}"#;

/// transformers 5.25's own output for Llama-3.2-1B's sizes.
const LLAMA32_V5: &str = r#"{"attention_bias": false, "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "head_dim": 64, "hidden_size": 2048, "intermediate_size": 8192, "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_parameters": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 8192, "rope_theta": 500000.0, "rope_type": "llama3"}, "tie_word_embeddings": true, "vocab_size": 128256}"#;

/// transformers 5.25's own output for a 4-layer Qwen2 with a sliding window on the last two.
const QWEN2_V5: &str = r#"{"bos_token_id": null, "eos_token_id": null, "hidden_size": 896, "intermediate_size": 4864, "layer_types": ["full_attention", "full_attention", "sliding_attention", "sliding_attention"], "max_position_embeddings": 32768, "max_window_layers": 2, "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}, "sliding_window": 4096, "tie_word_embeddings": true, "use_sliding_window": true, "vocab_size": 151936}"#;

fn parse(text: &str) -> LlamaConfig {
    LlamaConfig::from_json(text, "config.json").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn published_llama_family_configs_read_as_published() {
    let c = parse(SMOLLM2);
    assert_eq!(c.family, Family::Llama);
    assert_eq!(
        (c.vocab_size, c.hidden_size, c.intermediate_size, c.layers),
        (49152, 576, 1536, 30)
    );
    assert_eq!((c.heads, c.kv_heads, c.head_dim), (9, 3, 64));
    assert_eq!(
        (c.rope_theta, c.rope_scaling),
        (100_000.0, RopeScaling::None)
    );
    assert!(c.tied && !c.qkv_bias && !c.o_bias && !c.mlp_bias);
    assert_eq!(
        (c.bos_token_id, c.eos_token_ids.clone()),
        (Some(1), vec![2])
    );
    assert_eq!(c.sliding_window, None);

    let t = parse(TINYLLAMA);
    assert_eq!(
        (t.heads, t.kv_heads, t.head_dim, t.rope_theta),
        (32, 4, 64, 10_000.0)
    );
    assert!(!t.tied);

    let m = parse(MISTRAL);
    assert_eq!(m.family, Family::Mistral);
    assert_eq!(m.sliding_window, Some(4096));
    assert!(m.sliding_layers.iter().all(|&s| s) && m.sliding_layers.len() == 32);
}

#[test]
fn both_rope_forms_give_the_same_llama3_scaling() {
    let old = parse(LLAMA32_OLD);
    let new = parse(LLAMA32_V5);
    let llama3 = RopeScaling::Llama3 {
        factor: 32.0,
        low_freq_factor: 1.0,
        high_freq_factor: 4.0,
        original_max_positions: 8192,
    };
    assert_eq!((old.rope_theta, old.rope_scaling), (500_000.0, llama3));
    assert_eq!((new.rope_theta, new.rope_scaling), (500_000.0, llama3));
    assert_eq!(new.eos_token_ids, vec![128001, 128008, 128009]);
    assert_eq!((new.head_dim, new.kv_heads), (64, 8));
    // The rope it builds has Llama 3.1's frequencies.
    dim!(HeadDim = 64);
    let rope = new.rope(HeadDim).unwrap();
    assert_eq!(rope.rope_scaling(), llama3);
    assert!(
        new.rope(Dyn::new(32)).is_err(),
        "another head dim is refused"
    );
}

#[test]
fn qwen2_biases_and_sliding_layers() {
    let q = parse(QWEN2_V5);
    assert_eq!(q.family, Family::Qwen2);
    assert!(q.qkv_bias && !q.o_bias);
    assert_eq!(q.sliding_window, Some(4096));
    assert_eq!(q.sliding_layers, vec![false, false, true, true]);
    assert_eq!((q.heads, q.kv_heads, q.head_dim), (14, 2, 64));
}

#[test]
fn the_old_scaling_forms_read() {
    let with = |scaling: &str| SMOLLM2.replace(r#""rope_scaling": null"#, scaling);
    let c = parse(&with(
        r#""rope_scaling": {"type": "linear", "factor": 4.0}"#,
    ));
    assert_eq!(c.rope_scaling, RopeScaling::Linear { factor: 4.0 });
    let c = parse(&with(
        r#""rope_scaling": {"type": "dynamic", "factor": 2.0}"#,
    ));
    assert_eq!(
        c.rope_scaling,
        RopeScaling::Dynamic {
            factor: 2.0,
            max_positions: 8192
        }
    );
    let c = parse(&with(
        r#""rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 2048, "beta_fast": 16}"#,
    ));
    let mut y = Yarn::new(4.0, 2048);
    y.beta_fast = 16.0;
    assert_eq!(c.rope_scaling, RopeScaling::Yarn(y));
}

#[test]
fn bad_fields_are_errors_naming_them() {
    let err = |text: &str| {
        LlamaConfig::from_json(text, "config.json")
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(&SMOLLM2.replace(r#""num_key_value_heads": 3"#, r#""num_key_value_heads": 4"#)),
        "config.json: `num_key_value_heads` is 4, but it must be a divisor of num_attention_heads (9)"
    );
    assert_eq!(
        err(&SMOLLM2.replace(r#""hidden_size": 576,"#, "")),
        "config.json: `hidden_size` is missing, but it must be a whole number ≥ 1"
    );
    assert_eq!(
        err(&SMOLLM2.replace(r#""model_type": "llama""#, r#""model_type": "gemma""#)),
        "config.json: `model_type` is \"gemma\", but it must be \"llama\", \"qwen2\" or \"mistral\""
    );
    assert_eq!(
        err(&SMOLLM2.replace(r#""rope_scaling": null"#, r#""rope_scaling": {"rope_type": "longrope"}"#)),
        "config.json: `rope_type` is \"longrope\", but it must be one of default, linear, dynamic, llama3, yarn"
    );
    assert!(
        err(&SMOLLM2.replace(r#""rope_theta": 100000"#, r#""rope_theta": -1"#))
            .contains("`rope_theta` is -1, but it must be a finite number > 0")
    );
    assert!(err(&SMOLLM2.replace(
        r#""tie_word_embeddings": true"#,
        r#""tie_word_embeddings": "yes""#
    ))
    .contains("must be true or false"));
    assert!(err("[1, 2]").contains("not a JSON object"));
    assert!(err("{").contains("not JSON"));
    let e = LlamaConfig::from_json("{", "config.json").unwrap_err();
    assert!(matches!(e, ModelError::ConfigFile { .. }));
    // A head dim that RoPE cannot rotate in pairs.
    assert!(
        err(&SMOLLM2.replace(r#""hidden_size": 576"#, r#""hidden_size": 567"#))
            .contains("`head_dim` is 63, but it must be an even size")
    );
}
