//! Generation (`models::generate`): Hugging Face's logits processors against transformers'
//! own classes, chat templates against `apply_chat_template` (fixtures written by
//! `scripts/golden_generate.py`), the generation loop on small models (stop ids, budget,
//! seeds, errors), greedy decoding of the toy decoder against its full forward, and text
//! streaming with SmolLM2's tokenizer.
//!
//! The tests that read fetched files (the SmolLM2 GGUF, `models/tokenizers/`) print a note
//! and pass without them, and fail under `CI=true`.

use std::path::{Path, PathBuf};

use serde_json::Value;
use shapecheck::io::Gguf;
use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
use shapecheck::models::generate::{
    generate, generate_text, processors, CausalLm, ChatMessage, ChatTemplate, GenerateConfig,
    GenerateError, Generator, Sampler, Sampling, StopReason,
};
use shapecheck::prelude::*;
use shapecheck::text::Tokenizer;

fn fixture(name: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/generate")
        .join(name);
    let text = std::fs::read_to_string(&p).expect("the fixture is in the repository");
    serde_json::from_str(&text).expect("the fixture is JSON")
}

/// A fetched file, or `None` after a note (a failure under `CI=true`).
fn fetched(path: PathBuf, how: &str) -> Option<PathBuf> {
    if path.is_file() {
        return Some(path);
    }
    let msg = format!("{} not found: run {how}", path.display());
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("note: skipping: {msg}");
    None
}

fn smollm2_gguf() -> Option<PathBuf> {
    let p = std::env::var_os("SHAPECHECK_SMOLLM2_GGUF")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
        });
    fetched(
        p,
        "scripts/fetch-smollm2.sh (or set SHAPECHECK_SMOLLM2_GGUF)",
    )
}

fn tokenizer_file(rel: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("SHAPECHECK_TOKENIZERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tokenizers"));
    fetched(
        dir.join(rel),
        "scripts/fetch-tokenizers.sh (or set SHAPECHECK_TOKENIZERS_DIR)",
    )
}

/// A fixture row: numbers, `null` for -inf.
fn logits(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().map_or(f32::NEG_INFINITY, |x| x as f32))
        .collect()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// Equal within 1e-6 (relative above 1), -inf where the reference has -inf.
fn assert_rows(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = if w == f32::NEG_INFINITY {
            g == f32::NEG_INFINITY
        } else {
            (g - w).abs() <= 1e-6 * w.abs().max(1.0)
        };
        assert!(ok, "{what}: index {i}: got {g}, transformers {w}");
    }
}

// ---------------------------------------------------------------------------------------
// Processors against transformers
// ---------------------------------------------------------------------------------------

#[test]
fn each_processor_matches_transformers() {
    let f = fixture("processors.json");
    let cases = f["cases"].as_array().unwrap();
    let mut seen_kinds = std::collections::BTreeSet::new();
    for (n, c) in cases.iter().enumerate() {
        let name = c["processor"].as_str().unwrap();
        let param = c["param"].as_f64().unwrap();
        let mut row = logits(&c["logits"]);
        match name {
            "repetition_penalty" => {
                processors::repetition_penalty(&mut row, &ids(&c["input_ids"]), param as f32)
            }
            "temperature" => processors::temperature(&mut row, param as f32),
            "top_k" => processors::top_k(&mut row, param as usize),
            "top_p" => processors::top_p(&mut row, param as f32),
            "min_p" => processors::min_p(&mut row, param as f32),
            other => panic!("unknown processor {other}"),
        }
        seen_kinds.insert(name);
        assert_rows(
            &format!("case {n}: {name}({param})"),
            &row,
            &logits(&c["expected"]),
        );
    }
    assert_eq!(seen_kinds.len(), 5);
    assert!(cases.len() >= 60, "{} cases", cases.len());
}

#[test]
fn top_p_filters_a_token_whose_cumulative_probability_equals_one_minus_top_p() {
    // Four equal logits: probabilities 0.25 exactly, and 1 − 0.75 = 0.25. transformers
    // filters where the running sum is ≤ 1 − top_p: one token goes
    // (`TopPLogitsWarper(0.75)(None, torch.zeros(1, 4))` is `[-inf, 0, 0, 0]`); of equal
    // logits, the highest id goes first here.
    let mut row = [0.0f32; 4];
    processors::top_p(&mut row, 0.75);
    assert_eq!(row, [0.0, 0.0, 0.0, f32::NEG_INFINITY]);
}

#[test]
fn the_processors_run_in_transformers_order() {
    let f = fixture("processors.json");
    for (n, p) in f["pipelines"].as_array().unwrap().iter().enumerate() {
        let s = &p["settings"];
        let settings = Sampling {
            temperature: s["temperature"].as_f64().unwrap() as f32,
            top_k: s["top_k"].as_u64().unwrap() as usize,
            top_p: s["top_p"].as_f64().unwrap() as f32,
            min_p: s["min_p"].as_f64().unwrap() as f32,
            repetition_penalty: s["repetition_penalty"].as_f64().unwrap() as f32,
            seed: 0,
        };
        // What transformers ran, in its order, is a subsequence of the documented order.
        let documented = [
            "RepetitionPenaltyLogitsProcessor",
            "TemperatureLogitsWarper",
            "TopKLogitsWarper",
            "TopPLogitsWarper",
            "MinPLogitsWarper",
        ];
        let order: Vec<&str> = p["order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        let mut at = documented.iter();
        for o in &order {
            assert!(at.any(|d| d == o), "pipeline {n}: order {order:?}");
        }
        let seen = ids(&p["input_ids"]);
        let mut row = logits(&p["logits"]);
        settings.process(&mut row, &seen);
        assert_rows(
            &format!("pipeline {n} {settings:?}"),
            &row,
            &logits(&p["expected"]),
        );
        if !settings.is_sampling() {
            let mut sampler = Sampler::new(settings).unwrap();
            let id = sampler.pick(&mut logits(&p["logits"]), &seen);
            assert_eq!(u64::from(id), p["argmax"].as_u64().unwrap(), "pipeline {n}");
        }
    }
}

#[test]
fn settings_outside_their_domain_are_refused_by_name() {
    let cases = [
        (
            Sampling {
                temperature: -0.5,
                ..Sampling::default()
            },
            "generation setting `temperature` = -0.5: must be finite and at least 0 (0 is greedy)",
        ),
        (
            Sampling {
                temperature: f32::NAN,
                ..Sampling::default()
            },
            "generation setting `temperature` = NaN: must be finite and at least 0 (0 is greedy)",
        ),
        (
            Sampling {
                min_p: -0.1,
                ..Sampling::default()
            },
            "generation setting `min_p` = -0.1: must be in [0, 1] (0 keeps every token)",
        ),
        (
            Sampling {
                repetition_penalty: 0.0,
                ..Sampling::default()
            },
            "generation setting `repetition_penalty` = 0: must be finite and above 0 (1 is no penalty)",
        ),
    ];
    for (s, msg) in cases {
        assert_eq!(Sampler::new(s).unwrap_err().to_string(), msg);
    }
}

// ---------------------------------------------------------------------------------------
// The loop, on small models
// ---------------------------------------------------------------------------------------

/// Fixed logits per last id: row `last` of the table.
struct Table(Vec<Vec<f32>>);

impl CausalLm for Table {
    type Cache = Vec<u32>;
    fn vocab_size(&self) -> usize {
        self.0[0].len()
    }
    fn new_cache(&self) -> Vec<u32> {
        Vec::new()
    }
    fn step(&self, cache: &mut Vec<u32>, ids: &[u32]) -> Result<Vec<f32>, shapecheck::Error> {
        cache.extend_from_slice(ids);
        Ok(self.0[*ids.last().unwrap() as usize].clone())
    }
}

/// After id i comes i + 1 (mod n), greedily.
fn counter(n: usize) -> Table {
    Table(
        (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| if j == (i + 1) % n { 2.0 } else { 0.0 })
                    .collect()
            })
            .collect(),
    )
}

#[test]
fn the_first_of_several_stop_ids_ends_generation_and_is_kept() {
    let model = counter(10);
    let config = GenerateConfig {
        max_new_tokens: 50,
        stop_ids: vec![9, 6],
        ..GenerateConfig::default()
    };
    let g = generate(&model, &[1, 2], config).unwrap();
    assert_eq!(g.ids, [3, 4, 5, 6]);
    assert_eq!(g.stop, StopReason::StopId(6));
    assert_eq!(g.stats.prompt_tokens, 2);
    assert_eq!((g.stats.generated_tokens, g.stats.decode_steps), (4, 3));

    let mut gen = Generator::new(
        &model,
        &[7],
        GenerateConfig {
            stop_ids: vec![9, 6],
            ..GenerateConfig::default()
        },
    )
    .unwrap();
    assert_eq!(gen.next().unwrap().unwrap(), 8);
    assert_eq!(gen.stop_reason(), None);
    assert_eq!(gen.next().unwrap().unwrap(), 9);
    assert_eq!(gen.stop_reason(), Some(StopReason::StopId(9)));
    assert!(gen.next().is_none());
    // The prompt and 8 were fed; 9 ended it and was not.
    assert_eq!(gen.into_cache(), [7, 8]);
}

#[test]
fn the_budget_bounds_the_ids_and_zero_runs_no_step() {
    let model = counter(10);
    let g = generate(
        &model,
        &[0],
        GenerateConfig {
            max_new_tokens: 12,
            ..GenerateConfig::default()
        },
    )
    .unwrap();
    assert_eq!(g.ids, [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]);
    assert_eq!(g.stop, StopReason::Budget);

    let mut gen = Generator::new(
        &model,
        &[0],
        GenerateConfig {
            max_new_tokens: 0,
            ..GenerateConfig::default()
        },
    )
    .unwrap();
    assert!(gen.next().is_none());
    assert!(gen.cache().is_empty(), "no step ran");
    assert_eq!(gen.stop_reason(), Some(StopReason::Budget));
}

#[test]
fn the_repetition_penalty_steers_greedy_decoding_away_from_seen_ids() {
    // After any id, 0 is likeliest (logit 2), then 1 (1.5), then 2 (1).
    let row = vec![2.0, 1.5, 1.0, 0.0];
    let model = Table(vec![row; 4]);
    let plain = generate(
        &model,
        &[3],
        GenerateConfig {
            max_new_tokens: 3,
            ..GenerateConfig::default()
        },
    )
    .unwrap();
    assert_eq!(plain.ids, [0, 0, 0]);
    let penalised = generate(
        &model,
        &[3],
        GenerateConfig {
            max_new_tokens: 3,
            sampling: Sampling {
                repetition_penalty: 1.5,
                ..Sampling::default()
            },
            ..GenerateConfig::default()
        },
    )
    .unwrap();
    // Once 0 is seen its logit is 2 / 1.5 = 1.33 < 1.5: then 1. Once 1 is seen too, 0 has
    // 1.33, 1 has 1.0: 0 again.
    assert_eq!(penalised.ids, [0, 1, 0]);
}

#[test]
fn sampling_is_reproducible_and_follows_the_softmax() {
    let row = vec![1.0f32, 0.0, 2.0, -1.0, 0.5];
    let model = Table(vec![row.clone(); 5]);
    let config = |seed| GenerateConfig {
        max_new_tokens: 40,
        sampling: Sampling {
            temperature: 1.0,
            seed,
            ..Sampling::default()
        },
        ..GenerateConfig::default()
    };
    let a = generate(&model, &[0], config(11)).unwrap().ids;
    let b = generate(&model, &[0], config(11)).unwrap().ids;
    let c = generate(&model, &[0], config(12)).unwrap().ids;
    assert_eq!(a, b, "same seed, same ids");
    assert_ne!(a, c, "another seed, other ids");

    // Frequencies of 20 000 draws within 0.015 of the softmax.
    let mut sampler = Sampler::new(config(5).sampling).unwrap();
    let mut counts = [0usize; 5];
    let n = 20_000;
    for _ in 0..n {
        counts[sampler.pick(&mut row.clone(), &[]) as usize] += 1;
    }
    let z: f64 = row.iter().map(|&s| f64::from(s).exp()).sum();
    for (i, &k) in counts.iter().enumerate() {
        let p = f64::from(row[i]).exp() / z;
        let freq = k as f64 / n as f64;
        assert!((freq - p).abs() < 0.015, "id {i}: {freq} vs {p}");
    }

    // Top-k 2 draws only the two likeliest; min-p 0.5 keeps what is at least half as
    // likely as the top (only id 2: e^-1 = 0.37 < 0.5).
    let mut top2 = Sampler::new(Sampling {
        temperature: 1.0,
        top_k: 2,
        ..Sampling::default()
    })
    .unwrap();
    let mut minp = Sampler::new(Sampling {
        temperature: 1.0,
        min_p: 0.5,
        ..Sampling::default()
    })
    .unwrap();
    for _ in 0..200 {
        assert!(matches!(top2.pick(&mut row.clone(), &[]), 0 | 2));
        assert_eq!(minp.pick(&mut row.clone(), &[]), 2);
    }
}

/// A model whose step fails or returns a bad row at `bad_step`.
struct Faulty {
    bad_step: usize,
    row: Vec<f32>,
    fail: bool,
}

impl CausalLm for Faulty {
    type Cache = usize;
    fn vocab_size(&self) -> usize {
        3
    }
    fn new_cache(&self) -> usize {
        0
    }
    fn step(&self, steps: &mut usize, _: &[u32]) -> Result<Vec<f32>, shapecheck::Error> {
        let step = *steps;
        *steps += 1;
        if step != self.bad_step {
            return Ok(vec![1.0, 0.0, 0.0]);
        }
        if self.fail {
            Err(ShapeError::Conversion {
                from: "(Dyn=3,)".into(),
                to: "(Dyn=4,)".into(),
            }
            .into())
        } else {
            Ok(self.row.clone())
        }
    }
}

#[test]
fn bad_logits_and_model_errors_stop_generation_with_the_step_named() {
    let config = GenerateConfig {
        max_new_tokens: 5,
        ..GenerateConfig::default()
    };
    let err = |bad_step, row: Vec<f32>, fail| {
        generate(
            &Faulty {
                bad_step,
                row,
                fail,
            },
            &[0],
            config.clone(),
        )
        .unwrap_err()
        .to_string()
    };
    assert_eq!(
        err(2, vec![0.0, f32::NAN, 1.0], false),
        "generation step 2: the model gave logit NaN at index 1 (NaN or +inf cannot be sampled)"
    );
    assert_eq!(
        err(0, vec![0.0, 1.0, f32::INFINITY], false),
        "generation step 0: the model gave logit inf at index 2 (NaN or +inf cannot be sampled)"
    );
    assert_eq!(
        err(1, vec![f32::NEG_INFINITY; 3], false),
        "generation step 1: every logit is -inf, there is no token to pick"
    );
    assert_eq!(
        err(3, vec![0.0; 4], false),
        "generation step 3: the model gave 4 logits, its vocabulary has 3"
    );
    let e = err(1, vec![], true);
    assert!(
        e.starts_with("generation step 1: the model failed: "),
        "{e}"
    );

    // The iterator yields the error once, then ends.
    let model = Faulty {
        bad_step: 1,
        row: vec![f32::NAN; 3],
        fail: false,
    };
    let mut gen = Generator::new(&model, &[0], config.clone()).unwrap();
    assert!(gen.next().unwrap().is_ok());
    assert!(gen.next().unwrap().is_err());
    assert!(gen.next().is_none());
    assert_eq!(gen.stop_reason(), Some(StopReason::Error));

    assert!(matches!(
        Generator::new(&model, &[], config),
        Err(GenerateError::EmptyPrompt)
    ));
    let as_crate: shapecheck::Error = GenerateError::EmptyPrompt.into();
    assert!(matches!(as_crate, shapecheck::Error::Generate(_)));
}

// ---------------------------------------------------------------------------------------
// The toy decoder, end to end
// ---------------------------------------------------------------------------------------

dim!(pub Vocab = 13; pub DModel = 16; pub Heads = 2; pub HeadDim = 8; pub Ffn = 24);
dim!(pub Batch; pub Seq);
type Toy = Decoder<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>, f32>;

fn toy() -> Toy {
    // A wide initialisation, so the logits of a step are far apart (no near-ties whose
    // order rounding could flip).
    Toy::init(
        DecoderConfig {
            init_std: 0.5,
            ..DecoderConfig::default()
        },
        4,
    )
}

#[test]
fn greedy_generation_of_the_decoder_is_the_argmax_of_its_full_forward() {
    let model = toy();
    let prompt = [3u32, 1, 4, 1, 5];
    let g = generate(
        &model,
        &prompt,
        GenerateConfig {
            max_new_tokens: 10,
            ..GenerateConfig::default()
        },
    )
    .unwrap();
    assert_eq!(g.ids.len(), 10);
    let mut seq = prompt.to_vec();
    for (t, &id) in g.ids.iter().enumerate() {
        let logits = model
            .logits((Batch::new(1), Seq::new(seq.len())), &seq)
            .unwrap();
        let all = logits.as_slice();
        let last = &all[all.len() - 13..];
        let best = processors::argmax(last).unwrap() as u32;
        assert_eq!(id, best, "token {t}: {last:?}");
        seq.push(id);
    }
    // Not a constant sequence: the test would pass for a model that ignores its input.
    assert!(g.ids.iter().any(|&i| i != g.ids[0]), "{:?}", g.ids);

    // The step's logits are those of the last position of the full forward.
    let mut cache = model.new_cache();
    let step = model.step(&mut cache, &prompt).unwrap();
    let full = model.logits((Batch::new(1), Seq::new(5)), &prompt).unwrap();
    let want = &full.as_slice()[4 * 13..];
    for (a, b) in step.iter().zip(want) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    assert_eq!(model.vocab_size(), 13);
}

#[test]
fn a_generation_goes_on_from_a_cache_as_from_the_whole_prompt() {
    let model = toy();
    let (first, second) = ([5u32, 9, 2], [7u32, 7, 1, 12]);
    let config = |n| GenerateConfig {
        max_new_tokens: n,
        ..GenerateConfig::default()
    };
    let whole: Vec<u32> = first.iter().chain(&second).copied().collect();
    let reference = generate(&model, &whole, config(6)).unwrap();

    // One step feeds `first` (its pick is not fed); the next turn feeds `second` after it.
    let mut turn1 = Generator::new(&model, &first, config(1)).unwrap();
    turn1.next().unwrap().unwrap();
    assert!(turn1.next().is_none());
    let stats = turn1.stats();
    assert_eq!((stats.prompt_tokens, stats.generated_tokens), (3, 1));
    assert!(stats.prefill_tokens_per_s() > 0.0 && stats.decode_steps == 0);
    let cache = turn1.into_cache();
    assert_eq!(cache.len(), 3);
    let turn2 = Generator::with_cache(&model, cache, &second, config(6)).unwrap();
    let ids: Vec<u32> = turn2.map(Result::unwrap).collect();
    assert_eq!(ids, reference.ids);
}

#[test]
fn sampled_generation_of_the_decoder_is_seeded() {
    let model = toy();
    let config = |seed| GenerateConfig {
        max_new_tokens: 12,
        stop_ids: vec![0, 12],
        sampling: Sampling {
            temperature: 1.2,
            top_p: 0.95,
            repetition_penalty: 1.1,
            seed,
            ..Sampling::default()
        },
    };
    let a = generate(&model, &[2, 7], config(99)).unwrap();
    let b = generate(&model, &[2, 7], config(99)).unwrap();
    assert_eq!(a.ids, b.ids, "same seed, same ids");
    assert!(!a.ids.is_empty() && a.ids.iter().all(|&i| i < 13));
}

// ---------------------------------------------------------------------------------------
// Chat templates against transformers
// ---------------------------------------------------------------------------------------

fn templates() -> (Value, Vec<(String, ChatTemplate)>) {
    let f = fixture("chat_templates.json");
    let mut out = Vec::new();
    for (name, t) in f["templates"].as_object().unwrap() {
        let template = ChatTemplate::new(t["template"].as_str().unwrap(), name)
            .unwrap()
            .with_special_tokens(t["bos_token"].as_str(), t["eos_token"].as_str());
        out.push((name.clone(), template));
    }
    (f, out)
}

fn messages(v: &Value) -> Vec<ChatMessage> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| ChatMessage::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect()
}

#[test]
fn chat_templates_render_as_transformers_does() {
    let (f, templates) = templates();
    let mut checked = std::collections::BTreeMap::<&str, usize>::new();
    let mut raised = 0;
    for (n, c) in f["cases"].as_array().unwrap().iter().enumerate() {
        let name = c["template"].as_str().unwrap();
        let t = &templates.iter().find(|(k, _)| k == name).unwrap().1;
        let vars: Vec<(&str, Value)> = c["vars"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let got = t.render_with(
            &messages(&c["messages"]),
            c["add_generation_prompt"].as_bool().unwrap(),
            &vars,
        );
        match (&c["expected"], &c["error"]) {
            (Value::String(want), _) => {
                let got = got.unwrap_or_else(|e| panic!("case {n} ({name}): {e}"));
                assert_eq!(&got, want, "case {n} ({name})");
            }
            (_, Value::String(message)) => {
                let e = got
                    .expect_err(&format!("case {n} ({name}) should raise"))
                    .to_string();
                assert!(e.contains(message.as_str()), "case {n}: {e}");
                raised += 1;
            }
            _ => panic!("case {n}: neither expected nor error"),
        }
        *checked.entry(name).or_default() += 1;
    }
    assert_eq!(checked.len(), 7, "{checked:?}");
    assert!(raised >= 2, "{raised} cases raised");
}

#[test]
fn a_template_that_does_not_compile_is_an_error_naming_its_source() {
    let e = ChatTemplate::new("{% for m in messages %}{{ m.content }}", "my-template")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "chat template (my-template): syntax error: unexpected end of input, \
         expected end of block (in chat_template:1)"
    );
}

#[test]
fn tokenizer_configs_in_their_other_forms_and_without_a_template() {
    let dir = std::env::temp_dir().join(format!("shapecheck-generate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, json: Value| {
        let p = dir.join(name);
        std::fs::write(&p, json.to_string()).unwrap();
        p
    };
    // A list of named templates (the one named `default` is taken) and special tokens as
    // objects, as older configs write them.
    let listed = write(
        "listed.json",
        serde_json::json!({
            "chat_template": [
                {"name": "tool_use", "template": "TOOLS"},
                {"name": "default", "template": "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}"}
            ],
            "bos_token": {"content": "<s>", "lstrip": false},
            "eos_token": "</s>"
        }),
    );
    let t = ChatTemplate::from_tokenizer_config(&listed).unwrap();
    assert_eq!(
        t.render(&[ChatMessage::user("x")], false).unwrap(),
        "<s>x</s>"
    );

    let none = write("none.json", serde_json::json!({"bos_token": "<s>"}));
    let e = ChatTemplate::from_tokenizer_config(&none)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "chat template ({}): no `chat_template` string",
            none.display()
        )
    );
    let unnamed = write(
        "unnamed.json",
        serde_json::json!({"chat_template": [{"name": "rag", "template": "R"}]}),
    );
    let e = ChatTemplate::from_tokenizer_config(&unnamed)
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("`chat_template` lists no template named `default`"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn templates_load_from_tokenizer_configs_and_the_gguf() {
    let (f, _) = templates();
    for name in ["llama3", "qwen3"] {
        let Some(p) = tokenizer_file(&format!("{name}/tokenizer_config.json")) else {
            continue;
        };
        let t = ChatTemplate::from_tokenizer_config(&p).unwrap();
        let want = &f["templates"][name];
        assert_eq!(t.bos_token(), want["bos_token"].as_str(), "{name}");
        assert_eq!(t.eos_token(), want["eos_token"].as_str(), "{name}");
        let got = t.render(&[ChatMessage::user("Hello!")], true).unwrap();
        let reference = ChatTemplate::new(want["template"].as_str().unwrap(), name)
            .unwrap()
            .with_special_tokens(want["bos_token"].as_str(), want["eos_token"].as_str())
            .render(&[ChatMessage::user("Hello!")], true)
            .unwrap();
        assert_eq!(got, reference, "{name}");
    }
    let Some(p) = smollm2_gguf() else {
        return;
    };
    let gguf = Gguf::open(&p).unwrap();
    let t = ChatTemplate::from_gguf(&gguf).unwrap();
    let want = &f["templates"]["smollm2"];
    assert_eq!(t.bos_token(), want["bos_token"].as_str());
    assert_eq!(t.eos_token(), want["eos_token"].as_str());
    let smol = f["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["template"] == "smollm2")
        .unwrap();
    let got = t
        .render(
            &messages(&smol["messages"]),
            smol["add_generation_prompt"].as_bool().unwrap(),
        )
        .unwrap();
    assert_eq!(got, smol["expected"].as_str().unwrap());
}

// ---------------------------------------------------------------------------------------
// Streaming text with SmolLM2's tokenizer
// ---------------------------------------------------------------------------------------

fn smollm2_tokenizer(gguf: &Gguf) -> Tokenizer {
    Tokenizer::from_gguf(gguf).unwrap()
}

/// Plays back a script: after the prompt, the next id of `script` each step.
struct Script(Vec<u32>, usize);

impl CausalLm for Script {
    type Cache = usize;
    fn vocab_size(&self) -> usize {
        self.1
    }
    fn new_cache(&self) -> usize {
        0
    }
    fn step(&self, at: &mut usize, _: &[u32]) -> Result<Vec<f32>, shapecheck::Error> {
        let next = self.0[*at];
        *at += 1;
        let mut row = vec![0.0; self.1];
        row[next as usize] = 1.0;
        Ok(row)
    }
}

#[test]
fn streamed_text_is_whole_characters_and_adds_up_to_the_decoded_ids() {
    let Some(p) = smollm2_gguf() else {
        return;
    };
    let gguf = Gguf::open(&p).unwrap();
    let tok = smollm2_tokenizer(&gguf);
    let text = "Voilà: 🎉 日本語 — ok";
    let mut script = tok.encode(text, false).unwrap();
    let eos = tok.eos_id().unwrap();
    script.push(eos);
    // Some character is split over tokens (the emoji's four bytes, at least).
    assert!(
        script
            .iter()
            .any(|&id| tok.decode(&[id]).unwrap().contains('\u{FFFD}')),
        "no token ends inside a character: the test would not test the hold-back"
    );
    let model = Script(script.clone(), tok.vocab_size() as usize);
    let mut pieces = Vec::new();
    let (g, all) = generate_text(
        &model,
        &tok,
        &[1],
        GenerateConfig {
            max_new_tokens: 100,
            stop_ids: vec![eos],
            ..GenerateConfig::default()
        },
        |piece| pieces.push(piece.to_string()),
    )
    .unwrap();
    assert_eq!(g.ids, script);
    assert_eq!(g.stop, StopReason::StopId(eos));
    assert_eq!(all, text, "the stop token (special) prints nothing");
    assert_eq!(pieces.concat(), text);
    assert!(pieces.len() > 3, "{pieces:?}");
    assert!(pieces.iter().all(|p| !p.contains('\u{FFFD}')), "{pieces:?}");
}
