//! Parity of the LLaMA-family decoder with `transformers` (issue 22 item 5), through the
//! public API a user calls: tiny random checkpoints saved by `save_pretrained`
//! (`scripts/golden_llama.py`, fixtures in `tests/fixtures/llama/<case>/`) load with
//! `Decoder::from_hf_dir` and give `transformers`' logits within 1e-4; SmolLM2-135M-Instruct
//! from its GGUF gives its last-token logits within 1e-3 and the same greedy continuation.

mod common;

use std::path::{Path, PathBuf};

use shapecheck::io::SafeTensors;
use shapecheck::models::decoder::presets::SmolLm2_135m;
use shapecheck::models::decoder::{Decoder, DecoderDims, Dims, RuntimeDims};
use shapecheck::models::ModelError;
use shapecheck::prelude::*;

/// The ids and logits `transformers` computed for `case`.
fn expected(case: &str) -> (usize, usize, Vec<u32>, Vec<f32>) {
    let file = SafeTensors::open(common::llama_fixture(case).join("expected.safetensors")).unwrap();
    let shape = file.info("ids").unwrap().shape;
    let (b, s) = (shape[0], shape[1]);
    let ids: Tensor<(Dyn, Dyn)> = file.load_with("ids", (Dyn::new(b), Dyn::new(s))).unwrap();
    let v = file.info("logits").unwrap().shape[2];
    let logits: Tensor<(Dyn, Dyn, Dyn)> = file
        .load_with("logits", (Dyn::new(b), Dyn::new(s), Dyn::new(v)))
        .unwrap();
    let ids = ids.as_slice().iter().map(|&x| x as u32).collect();
    (b, s, ids, logits.into_vec())
}

/// The case's logits, through runtime dims, within 1e-4 of `transformers`'; and, unless
/// the RoPE depends on the length of each call (dynamic NTK), the logits of KV-cache
/// decoding one token at a time equal the full forward's.
fn parity(case: &str, decode: bool) {
    let model = Decoder::<RuntimeDims>::from_hf_dir(common::llama_fixture(case)).unwrap();
    let (b, s, ids, want) = expected(case);
    let got = model.logits((Dyn::new(b), Dyn::new(s)), &ids).unwrap();
    let d = common::max_abs_diff(got.as_slice(), &want);
    assert!(d < 1e-4, "{case}: logits differ from transformers' by {d}");
    if decode {
        let v = model.dims().vocab().size();
        for row in 0..b {
            let mut cache = model.cache();
            for t in 0..s {
                let step = model.decode(&mut cache, &ids[row * s + t..][..1]).unwrap();
                let want = &got.as_slice()[(row * s + t) * v..][..v];
                let d = common::max_abs_diff(step.as_slice(), want);
                assert!(
                    d < 1e-5,
                    "{case}: decoding position {t} of row {row} differs by {d}"
                );
            }
        }
    }
}

#[test]
fn llama_with_grouped_queries_an_explicit_head_dim_and_llama3_rope() {
    parity("llama_gqa", true);
}

#[test]
fn qwen2_with_biases_and_a_tied_head() {
    parity("qwen2", true);
}

#[test]
fn mistral_with_a_window_shorter_than_the_sequence() {
    parity("mistral_sw", true);
}

#[test]
fn linear_rope_from_the_older_config_form() {
    parity("rope_linear", true);
}

#[test]
fn dynamic_ntk_rope() {
    parity("rope_dynamic", false);
}

#[test]
fn yarn_rope() {
    parity("rope_yarn", true);
}

dim!(pub Vocab = 64; pub Model = 32; pub Heads = 4; pub KvHeads = 2; pub HeadDim = 12; pub Ffn = 48);

/// Static dims load the same checkpoint; dims that disagree with it are an `Err` naming
/// the field and both values.
#[test]
fn static_dims_are_checked_against_the_config() {
    type Gqa = Dims<Vocab, Model, Heads, KvHeads, HeadDim, Ffn>;
    let model = Decoder::<Gqa>::from_hf_dir(common::llama_fixture("llama_gqa")).unwrap();
    let (b, s, ids, want) = expected("llama_gqa");
    let got = model.logits((Dyn::new(b), Dyn::new(s)), &ids).unwrap();
    assert!(common::max_abs_diff(got.as_slice(), &want) < 1e-4);
    // qwen2 has a head dim of 8, not 12.
    let err = Decoder::<Gqa>::from_hf_dir(common::llama_fixture("qwen2")).unwrap_err();
    assert!(matches!(err, ModelError::Config { .. }), "{err:?}");
    assert!(
        err.to_string()
            .ends_with("`head_dim` is 8 in the file, but the model's type has 12"),
        "{err}"
    );
}

/// A checkpoint missing a tensor is an `Err` naming it; one whose activation is not SiLU
/// is an `Err` naming the field.
#[test]
fn a_missing_tensor_or_another_activation_is_refused() {
    let dir = std::env::temp_dir().join(format!("shapecheck-llama-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        common::llama_fixture("qwen2").join("config.json"),
        dir.join("config.json"),
    )
    .unwrap();
    let file = SafeTensors::open(common::llama_fixture("qwen2").join("model.safetensors")).unwrap();
    let mut w = shapecheck::io::SafetensorsWriter::new();
    for name in file.names() {
        let shape = file.info(name).unwrap().shape;
        let dims: Vec<Dyn> = shape.iter().map(|&n| Dyn::new(n)).collect();
        match (name, dims.as_slice()) {
            ("model.layers.1.self_attn.k_proj.bias", _) => {} // dropped
            (_, [a]) => {
                let t: Tensor<(Dyn,)> = file.load_with(name, (*a,)).unwrap();
                w.add(name, &t).unwrap();
            }
            (_, [a, b]) => {
                let t: Tensor<(Dyn, Dyn)> = file.load_with(name, (*a, *b)).unwrap();
                w.add(name, &t).unwrap();
            }
            _ => unreachable!("{name}"),
        }
    }
    w.write(dir.join("model.safetensors")).unwrap();
    let err = Decoder::<RuntimeDims>::from_hf_dir(&dir)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.layers.1.self_attn.k_proj.bias"),
        "{err}"
    );
    // An activation the decoder does not compute is refused, not run as SiLU.
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    assert!(config.contains("\"hidden_act\": \"silu\""));
    let gelu = config.replace("\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"");
    std::fs::write(dir.join("config.json"), gelu).unwrap();
    let err = Decoder::<RuntimeDims>::from_hf_dir(&dir)
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with(
            "`hidden_act` is \"gelu\", but it must be \"silu\": the decoder's FFN is SwiGLU"
        ),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The SmolLM2 GGUF (git-ignored; `scripts/fetch-smollm2.sh`), or `None` with a note
/// (a failure under `CI=true`, where the fetch runs).
fn smollm2() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is missing: run scripts/fetch-smollm2.sh",
        path.display()
    );
    eprintln!(
        "note: {} is missing (scripts/fetch-smollm2.sh); skipped",
        path.display()
    );
    None
}

/// SmolLM2-135M-Instruct from its GGUF: the last-token logits of each prompt within 1e-3
/// of `transformers`' (which dequantizes the same file), and the greedy continuation of
/// 24 tokens the same, decoding with the KV cache.
#[test]
fn smollm2_from_gguf_matches_transformers() {
    let Some(path) = smollm2() else { return };
    let model = Decoder::<SmolLm2_135m>::from_gguf(&path).unwrap();
    let text =
        std::fs::read_to_string(common::llama_fixture("smollm2").join("expected.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let last = SafeTensors::open(common::llama_fixture("smollm2").join("last_logits.safetensors"))
        .unwrap();
    let prompts = json["prompts"].as_array().unwrap();
    let n = json["new_tokens"].as_u64().unwrap() as usize;
    for (i, p) in prompts.iter().enumerate() {
        let ids: Vec<u32> = p["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let want: Tensor<(Dyn,)> = last
            .load_with(&format!("p{i}"), (Dyn::new(49152),))
            .unwrap();
        let mut cache = model.cache();
        let logits = model.decode_last(&mut cache, &ids).unwrap();
        let d = common::max_abs_diff(logits.as_slice(), want.as_slice());
        assert!(d < 1e-3, "prompt {i}: last-token logits differ by {d}");
        // `generate` stops early at the end-of-sequence token (2, `<|im_end|>`).
        let want: Vec<u32> = p["greedy"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert!(want.len() == n || want.last() == Some(&2), "{want:?}");
        let mut out = vec![argmax(logits.as_slice())];
        while out.len() < want.len() {
            let l = model
                .decode_last(&mut cache, &out[out.len() - 1..])
                .unwrap();
            out.push(argmax(l.as_slice()));
        }
        assert_eq!(out, want, "prompt {i}: greedy continuation");
    }
}

fn argmax(xs: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x > xs[best] {
            best = i;
        }
    }
    best as u32
}

/// Training through grouped-query attention with a window: the gradient of the loss with
/// respect to a key projection entry (which reaches its group of query heads through
/// `repeat_kv`) and a query bias entry equals the central difference.
#[test]
fn gradients_through_grouped_heads_and_a_window_match_finite_differences() {
    use shapecheck::autodiff::Tape;
    use shapecheck::models::decoder::DecoderConfig;
    dim!(pub V = 11; pub M = 16; pub H = 4; pub K = 2; pub Hd = 6; pub F = 20);
    type Gqa = Decoder<Dims<V, M, H, K, Hd, F>, f64>;
    let config = DecoderConfig {
        qkv_bias: true,
        sliding_window: Some(3),
        init_std: 0.3,
        ..DecoderConfig::default()
    };
    let mut model = Gqa::init(config, 4);
    let shape = (Dyn::new(2), Dyn::new(7));
    let ids: Vec<u32> = (0..14).map(|i| (i * 5 + 1) % 11).collect();
    let targets: Vec<u32> = (0..14).map(|i| (i * 3 + 2) % 11).collect();
    let tape = Tape::new();
    let grads = model.loss(&tape, shape, &ids, &targets).unwrap().backward();
    let gk = grads
        .of(&model.blocks[1].attn.wk.weight)
        .unwrap()
        .get([7, 3])
        .copied()
        .unwrap();
    let bq = model.blocks[0].attn.wq.bias.as_ref().unwrap();
    let gb = grads.of(bq).unwrap().get([13]).copied().unwrap();
    drop(tape);
    let loss = |m: &Gqa| m.loss(&Tape::new(), shape, &ids, &targets).unwrap().item();
    let eps = 1e-5;
    let mut central = |set: &mut dyn FnMut(&mut Gqa, f64)| {
        set(&mut model, eps);
        let up = loss(&model);
        set(&mut model, -2.0 * eps);
        let down = loss(&model);
        set(&mut model, eps);
        (up - down) / (2.0 * eps)
    };
    let nk = central(&mut |m, d| m.blocks[1].attn.wk.weight.value_mut()[[7, 3]] += d);
    let nb = central(&mut |m, d| m.blocks[0].attn.wq.bias.as_mut().unwrap().value_mut()[[13]] += d);
    assert!(gk.abs() > 1e-6 && gb.abs() > 1e-6, "{gk} {gb}");
    assert!(
        (gk - nk).abs() < 1e-7 * (1.0 + nk.abs()),
        "wk: {gk} vs {nk}"
    );
    assert!(
        (gb - nb).abs() < 1e-7 * (1.0 + nb.abs()),
        "bq: {gb} vs {nb}"
    );
}

/// Runtime dims whose key/value heads do not divide the heads are refused when the
/// decoder is built, with the rule in the message.
#[test]
fn runtime_heads_that_do_not_group_are_an_error() {
    use shapecheck::models::decoder::DecoderConfig;
    let dims = RuntimeDims::of(11, 16, 9, 4, 8, 20);
    let err = Decoder::<RuntimeDims>::try_init_with(dims, DecoderConfig::default(), 0)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the key/value heads must divide the heads"),
        "{err}"
    );
}

/// Inspection of a grouped-query checkpoint: the run with a cache gives the logits of the
/// plain forward, and the keys it shows are the key/value heads repeated to the query
/// heads (head `h` is key/value head `h / 2` here), so the attention patterns are whole.
#[test]
fn inspecting_grouped_heads_shows_the_keys_repeated() {
    use shapecheck::inspect::{Selection, Site};
    let model = Decoder::<RuntimeDims>::from_hf_dir(common::llama_fixture("llama_gqa")).unwrap();
    let (b, s, ids, _) = expected("llama_gqa");
    let shape = (Dyn::new(b), Dyn::new(s));
    let sel = Selection::new()
        .with(Site::Keys, [1])
        .with(Site::Attention, [1]);
    let (logits, cache) = model.run_with_cache(shape, &ids, &sel, &[]).unwrap();
    assert_eq!(logits, model.logits(shape, &ids).unwrap());
    let keys = cache.keys(1, 1).unwrap(); // (Heads, Seq, HeadDim) of sequence 1
    assert_eq!(keys.dims().as_slice(), &[4, s, 12]);
    for t in 0..s {
        for d in 0..12 {
            assert_eq!(keys[[2, t, d]], keys[[3, t, d]]);
        }
    }
    assert_ne!(keys[[1, 3, 0]], keys[[2, 3, 0]]);
    let p = cache.attention(1, 0).unwrap();
    for h in 0..4 {
        let row: f32 = (0..s).map(|j| p[[h, s - 1, j]]).sum();
        assert!((row - 1.0).abs() < 1e-5, "{row}");
    }
}

/// Prompts of different lengths decoded together (`decode_ragged`: left-padded, a cache
/// per row) give each row the logits it has decoded alone, prefill and greedy steps, with grouped heads and
/// with a sliding window.
#[test]
fn a_left_padded_batch_decodes_as_each_row_alone() {
    for case in ["llama_gqa", "mistral_sw"] {
        let model = Decoder::<RuntimeDims>::from_hf_dir(common::llama_fixture(case)).unwrap();
        let v = model.dims().vocab().size();
        let prompts: [&[u32]; 3] = [&[5, 9, 2, 40, 7, 7, 63], &[11, 3, 30, 8], &[17]];
        let n = 7;
        let pads: Vec<usize> = prompts.iter().map(|p| n - p.len()).collect();
        let mut batch = vec![model.cache(); 3];
        let mut logits = model.decode_ragged(&mut batch, &prompts).unwrap();
        let mut alone: Vec<_> = prompts.iter().map(|_| model.cache()).collect();
        let mut last: Vec<Vec<f32>> = Vec::new();
        for (r, p) in prompts.iter().enumerate() {
            let one = model.decode(&mut alone[r], p).unwrap();
            for (t, pos) in (pads[r]..n).enumerate() {
                let got = &logits.as_slice()[(r * n + pos) * v..][..v];
                let d = common::max_abs_diff(got, &one.as_slice()[t * v..][..v]);
                assert!(d < 1e-5, "{case}: row {r} position {t} differs by {d}");
            }
            last.push(one.as_slice()[(p.len() - 1) * v..].to_vec());
        }
        for step in 0..5 {
            let next: Vec<u32> = last.iter().map(|l| argmax(l)).collect();
            let rows: Vec<&[u32]> = next.chunks(1).collect();
            logits = model.decode_ragged(&mut batch, &rows).unwrap();
            for r in 0..3 {
                let one = model.decode(&mut alone[r], &next[r..r + 1]).unwrap();
                let d = common::max_abs_diff(&logits.as_slice()[r * v..][..v], one.as_slice());
                assert!(d < 1e-5, "{case}: step {step} row {r} differs by {d}");
                last[r] = one.as_slice().to_vec();
            }
        }
        assert_eq!(batch[0].len(), 12);
        assert_eq!(batch[2].len(), 6);
    }
}

/// The `llama_gqa` checkpoint as the Hub ships larger models: cast to bf16 and saved by
/// `save_pretrained` in 3 shards with an index. It loads through the same call and gives
/// `transformers`' logits of the same bf16 weights (widened to f32, as the loader widens
/// them) within 1e-4, the f32 bound: widening bf16 is exact, so only f32 rounding is left.
/// Against the f32 checkpoint's logits the bound is the script's `gap` (how far rounding
/// the weights to bf16 moves transformers' own logits, 3.3e-2 for logits of std 0.88;
/// bf16 keeps 8 significant bits, a relative error up to 2^-9 per weight) plus 1e-4: a
/// loader that misread a bf16 tensor would be off by far more.
#[test]
fn a_sharded_bf16_checkpoint_gives_transformers_logits() {
    let dir = common::llama_fixture("llama_gqa_bf16_sharded");
    assert!(!dir.join("model.safetensors").exists());
    let model = Decoder::<RuntimeDims>::from_hf_dir(&dir).unwrap();
    let file = SafeTensors::open(dir.join("expected.safetensors")).unwrap();
    let ids = file.info("ids").unwrap().shape;
    let (b, s) = (ids[0], ids[1]);
    let v = model.dims().vocab().size();
    let (ids, want) = (values(&file, "ids"), values(&file, "logits"));
    let gap = values(&file, "gap")[0];
    assert_eq!(want.len(), b * s * v);
    let ids: Vec<u32> = ids.iter().map(|&x| x as u32).collect();
    let got = model.logits((Dyn::new(b), Dyn::new(s)), &ids).unwrap();
    let d = common::max_abs_diff(got.as_slice(), &want);
    assert!(
        d < 1e-4,
        "bf16 weights: logits differ from transformers' by {d}"
    );
    let (_, _, f32_ids, f32_logits) = expected("llama_gqa");
    assert_eq!(f32_ids, ids);
    let d = common::max_abs_diff(got.as_slice(), &f32_logits);
    assert!(
        d > 1e-3 && d <= f64::from(gap) + 1e-4,
        "bf16 weights move the logits by {d}, transformers' by {gap}"
    );
}

/// Tensor `name` of `file` (any rank, any loadable dtype) as f32 values.
fn values(file: &SafeTensors, name: &str) -> Vec<f32> {
    let shape = file.info(name).unwrap().shape;
    let d = |i: usize| Dyn::new(shape[i]);
    match shape.len() {
        1 => file.load_with::<_, f32>(name, (d(0),)).unwrap().into_vec(),
        2 => file
            .load_with::<_, f32>(name, (d(0), d(1)))
            .unwrap()
            .into_vec(),
        3 => file
            .load_with::<_, f32>(name, (d(0), d(1), d(2)))
            .unwrap()
            .into_vec(),
        _ => unreachable!("{name}"),
    }
}

/// A copy of the sharded fixture in a fresh directory, for a test to break.
fn sharded_copy(tag: &str) -> PathBuf {
    let src = common::llama_fixture("llama_gqa_bf16_sharded");
    let dir = std::env::temp_dir().join(format!("shapecheck-sharded-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    dir
}

/// Rewrites shard `shard` of `dir` through `edit` (each tensor as f32, by name), and drops
/// from the index the tensors `edit` drops.
fn rewrite_shard(dir: &Path, shard: &str, edit: impl Fn(&str, Vec<usize>) -> Option<Vec<usize>>) {
    let file = SafeTensors::open(dir.join(shard)).unwrap();
    let mut w = shapecheck::io::SafetensorsWriter::new();
    let mut dropped = Vec::new();
    for name in file.names() {
        let shape = file.info(name).unwrap().shape;
        let Some(new_shape) = edit(name, shape) else {
            dropped.push(name.to_owned());
            continue;
        };
        let mut values = values(&file, name);
        values.resize(new_shape.iter().product(), 0.5);
        match new_shape.as_slice() {
            [a] => w.add(
                name,
                &Tensor::from_vec_with((Dyn::new(*a),), values).unwrap(),
            ),
            [a, b] => w.add(
                name,
                &Tensor::from_vec_with((Dyn::new(*a), Dyn::new(*b)), values).unwrap(),
            ),
            _ => unreachable!("{name}"),
        }
        .unwrap();
    }
    w.write(dir.join(shard)).unwrap();
    let index_path = dir.join("model.safetensors.index.json");
    let mut index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&index_path).unwrap()).unwrap();
    for name in dropped {
        index["weight_map"].as_object_mut().unwrap().remove(&name);
    }
    std::fs::write(&index_path, index.to_string()).unwrap();
}

/// A missing shard, a parameter no shard holds, and a tensor of another shape are each an
/// `Err` naming the file and the tensor; a directory with no weights file names both the
/// files it looked for.
#[test]
fn a_broken_sharded_checkpoint_is_refused_naming_file_and_tensor() {
    let load = |dir: &Path| {
        Decoder::<RuntimeDims>::from_hf_dir(dir)
            .map(|_| ())
            .unwrap_err()
    };
    let dir = sharded_copy("missing");
    std::fs::remove_file(dir.join("model-00002-of-00003.safetensors")).unwrap();
    let err = load(&dir).to_string();
    assert!(
        err.contains("model.safetensors.index.json`: the index puts tensor `model.layers.0.self_attn.o_proj.weight` and 8 others in shard `model-00002-of-00003.safetensors`, but")
            && err.ends_with("model-00002-of-00003.safetensors` is not a file"),
        "{err}"
    );
    // Neither the index nor one file (a directory of `pytorch_model.bin`, say).
    std::fs::remove_file(dir.join("model.safetensors.index.json")).unwrap();
    let err = load(&dir).to_string();
    assert!(
        err.ends_with(
            "the directory holds neither `model.safetensors` nor \
             `model.safetensors.index.json`"
        ),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    let dir = sharded_copy("absent");
    rewrite_shard(&dir, "model-00003-of-00003.safetensors", |name, shape| {
        (name != "model.norm.weight").then_some(shape)
    });
    let err = load(&dir);
    assert!(matches!(err, ModelError::Weights(_)), "{err:?}");
    let err = err.to_string();
    assert!(
        err.starts_with("checkpoint `")
            && err.ends_with(
                "model.safetensors.index.json`: none of the 3 shards holds tensor \
                 `model.norm.weight`, a parameter of the decoder"
            ),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    let dir = sharded_copy("shape");
    rewrite_shard(&dir, "model-00002-of-00003.safetensors", |name, shape| {
        Some(if name == "model.layers.1.mlp.up_proj.weight" {
            vec![shape[0], shape[1] + 1]
        } else {
            shape
        })
    });
    let err = load(&dir).to_string();
    assert!(
        err.contains("model-00002-of-00003.safetensors`: tensor `model.layers.1.mlp.up_proj.weight`: expected shape")
            && err.ends_with("file has [48, 33]"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
