//! LoRA fine-tuning of SmolLM2-135M-Instruct (issue 23 item 5): rank-`R` adapters on the
//! attention projections q/k/v/o (`--targets` adds the MLP's gate/up/down, or picks any of
//! the seven) with PEFT's initialisation and scale, the base frozen,
//! AdamW on the adapters only, on a small instruction set (`data/lora/`) whose answers
//! follow a fixed format (`ANSWER: Paris.`), which the model does not use on its own.
//!
//! ```text
//! scripts/fetch-smollm2.sh   # once
//! cargo run --release --example lora_llm -- [--steps N] [--rank R] [--targets LIST] [--out DIR] [--merged DIR] [--dump FILE]
//! python3 scripts/check_peft.py --adapter DIR --merged DIR --dump FILE   # PEFT's view of ours
//! ```
//!
//! The held-out metrics, defined before training and printed before and after it, on the
//! 20 held-out questions: (1) the mean log-probability per token of the target answers
//! (`ANSWER: Paris.<|im_end|>`, teacher-forced), and (2) the fraction of greedy answers (at
//! most 16 tokens) in the format: one line, `ANSWER: ` first, a full stop last, then the
//! end of the turn; and, as a side figure, the fraction whose text holds the right answer.
//! Also printed: the trainable fraction of the parameters, tokens/s of training, the peak
//! resident memory.
//!
//! `--out DIR` saves the adapters as PEFT does (`adapter_model.safetensors`,
//! `adapter_config.json`); `--merged DIR` folds them into the model and saves it as a
//! Hugging Face directory (config.json + model.safetensors, 540 MB); `--dump FILE` (with
//! `--out`) writes the ids and our logits of the first held-out prompt for
//! `scripts/check_peft.py`: in f32 from the model trained here, and in f64 with the base
//! loaded again as f64 and the adapters read back from `--out` (and the merged model from
//! `--merged`), so that the check compares the adapters and the files rather than f32
//! rounding.

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use shapecheck::autodiff::{Tape, Var};
use shapecheck::io::{Gguf, SafetensorsWriter};
use shapecheck::models::decoder::{Decoder, DecoderDims, LoraTargets, RuntimeDims};
use shapecheck::models::generate::{generate, ChatMessage, ChatTemplate, GenerateConfig, Sampling};
use shapecheck::nn::lora::LoraConfig;
use shapecheck::optim::{clip_grad_norm, AdamW, AdamWConfig, DynParam, Optimizer, Schedule};
use shapecheck::prelude::*;
use shapecheck::text::Tokenizer;

mod common;

type Model = Decoder<RuntimeDims>;

const DEFAULT_MODEL: &str = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";

const USAGE: &str = "usage: lora_llm [--model FILE.gguf] [--data DIR] [--steps N] [--rank R] \
                     [--targets LIST] [--batch B] [--lr LR] [--out DIR] [--merged DIR] \
                     [--dump FILE]";

const HELP: &str = "\
lora_llm: LoRA fine-tuning of SmolLM2-135M-Instruct on data/lora (answers as `ANSWER: X.`),
the held-out metrics before and after, the adapters saved as PEFT does

usage: lora_llm [--model FILE.gguf] [--data DIR] [--steps N] [--rank R] [--targets LIST]
                [--batch B] [--lr LR] [--out DIR] [--merged DIR] [--dump FILE]

  --model FILE   the GGUF (models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf)
  --data DIR     train.jsonl and heldout.jsonl (data/lora)
  --steps N      optimizer steps (30)
  --rank R       the adapters' rank (8); alpha is 2R (PEFT's scale alpha/R = 2)
  --targets LIST the adapted projections, comma-separated among q, k, v, o, gate, up,
                 down (q,k,v,o)
  --batch B      questions per step (4)
  --lr LR        AdamW's peak rate, warmup 3 steps then cosine (2e-3)
  --out DIR      save the adapters there as PEFT does
  --merged DIR   save the merged model there as a Hugging Face directory
  --dump FILE    write the ids and logits (f32, and f64 read back from --out and --merged)
                 of the first held-out prompt (safetensors), for scripts/check_peft.py
  -h, --help     this help
";

struct Args {
    model: PathBuf,
    data: PathBuf,
    steps: usize,
    rank: usize,
    targets: LoraTargets,
    batch: usize,
    lr: f64,
    out: Option<PathBuf>,
    merged: Option<PathBuf>,
    dump: Option<PathBuf>,
}

fn parse() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut a = Args {
        model: PathBuf::from(DEFAULT_MODEL),
        data: PathBuf::from("data/lora"),
        steps: 30,
        rank: 8,
        targets: LoraTargets::ALL,
        batch: 4,
        lr: 2e-3,
        out: None,
        merged: None,
        dump: None,
    };
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("model") => a.model = p.value()?.into(),
            Long("data") => a.data = p.value()?.into(),
            Long("steps") => a.steps = common::positive(&mut p, "--steps")?,
            Long("rank") => a.rank = common::positive(&mut p, "--rank")?,
            Long("targets") => a.targets = targets(&p.value()?.string()?)?,
            Long("batch") => a.batch = common::positive(&mut p, "--batch")?,
            Long("lr") => a.lr = p.value()?.parse()?,
            Long("out") => a.out = Some(p.value()?.into()),
            Long("merged") => a.merged = Some(p.value()?.into()),
            Long("dump") => a.dump = Some(p.value()?.into()),
            Short('h') | Long("help") => common::print_help(HELP),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(a)
}

/// `--targets`: `q,k,v,o,gate,up,down` or any of them.
fn targets(list: &str) -> Result<LoraTargets, lexopt::Error> {
    let mut t = LoraTargets::NONE;
    for name in list.split(',').map(str::trim) {
        let flag = match name {
            "q" => &mut t.q,
            "k" => &mut t.k,
            "v" => &mut t.v,
            "o" => &mut t.o,
            "gate" => &mut t.gate,
            "up" => &mut t.up,
            "down" => &mut t.down,
            _ => {
                return Err(format!(
                    "--targets: `{name}` is not a projection (q, k, v, o, gate, up, down)"
                )
                .into())
            }
        };
        *flag = true;
    }
    Ok(t)
}

/// One question: its prompt (the chat template's, up to the assistant's turn) and the
/// target answer with the end of the turn, as ids.
struct Example {
    prompt: Vec<u32>,
    answer: Vec<u32>,
    /// The answer's content (`Paris`), to check a generation.
    content: String,
}

fn load_set(
    path: &std::path::Path,
    tok: &Tokenizer,
    template: &ChatTemplate,
) -> Result<Vec<Example>, Box<dyn Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
        let field = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .map(str::to_owned)
                .ok_or_else(|| format!("{}:{}: no string `{k}`", path.display(), n + 1))
        };
        let (q, a) = (field("question")?, field("answer")?);
        let prompt = tok.encode(&template.render(&[ChatMessage::user(q)], true)?, false)?;
        let answer = tok.encode(&format!("{a}<|im_end|>"), false)?;
        let content = a
            .trim_start_matches("ANSWER: ")
            .trim_end_matches('.')
            .to_owned();
        out.push(Example {
            prompt,
            answer,
            content,
        });
    }
    Ok(out)
}

/// A batch, right-padded with `pad` to its longest row: the ids, the row length, and for
/// every position that predicts an answer token, `(row·len + position, token)`.
fn batch(examples: &[&Example], pad: u32) -> (Vec<u32>, usize, Vec<(usize, u32)>) {
    let len = examples
        .iter()
        .map(|e| e.prompt.len() + e.answer.len())
        .max()
        .unwrap_or(0);
    let mut ids = Vec::with_capacity(examples.len() * len);
    let mut targets = Vec::new();
    for (r, e) in examples.iter().enumerate() {
        ids.extend(&e.prompt);
        ids.extend(&e.answer);
        ids.resize((r + 1) * len, pad);
        for (j, &t) in e.answer.iter().enumerate() {
            targets.push((r * len + e.prompt.len() - 1 + j, t));
        }
    }
    (ids, len, targets)
}

/// The mean cross-entropy of the answer tokens only, traced: `−Σ log p(target)/n` as the
/// sum of the log-softmax times a constant that holds `−1/n` at each target.
fn answer_loss<'t>(
    model: &Model,
    tape: &'t Tape<f32>,
    (ids, len, targets): &(Vec<u32>, usize, Vec<(usize, u32)>),
) -> Result<Var<'t, (), f32>, Box<dyn Error>> {
    let rows = ids.len() / len;
    let vocab = model.dims().vocab();
    let logits = model.forward(tape, (Dyn::new(rows), Dyn::new(*len)), ids)?;
    let flat = logits.try_reshape_with((Dyn::new(rows * len), vocab))?;
    let mut w = vec![0f32; rows * len * vocab.size()];
    for &(p, t) in targets {
        w[p * vocab.size() + t as usize] = -1.0 / targets.len() as f32;
    }
    let w = tape.constant(Tensor::from_vec_with((Dyn::new(rows * len), vocab), w)?);
    Ok((&flat.log_softmax::<1>() * &w).sum_all())
}

/// The mean over examples of the mean log-probability per answer token, teacher-forced.
fn mean_logprob(model: &Model, set: &[Example], pad: u32) -> Result<f64, Box<dyn Error>> {
    let v = model.dims().vocab().size();
    let mut total = 0.0;
    for chunk in set.chunks(10) {
        let refs: Vec<&Example> = chunk.iter().collect();
        let (ids, len, _) = batch(&refs, pad);
        let logits = model.logits((Dyn::new(refs.len()), Dyn::new(len)), &ids)?;
        for (r, e) in chunk.iter().enumerate() {
            let mut lp = 0.0;
            for (j, &t) in e.answer.iter().enumerate() {
                let row = &logits.as_slice()[(r * len + e.prompt.len() - 1 + j) * v..][..v];
                let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) as f64;
                let lse = max
                    + row
                        .iter()
                        .map(|&x| (x as f64 - max).exp())
                        .sum::<f64>()
                        .ln();
                lp += row[t as usize] as f64 - lse;
            }
            total += lp / e.answer.len() as f64;
        }
    }
    Ok(total / set.len() as f64)
}

/// Greedy answers (at most 16 tokens): the texts, the fraction in the format and the
/// fraction that hold the right answer.
fn greedy(
    model: &Model,
    tok: &Tokenizer,
    set: &[Example],
    stop: u32,
) -> Result<(Vec<String>, f64, f64), Box<dyn Error>> {
    let (mut texts, mut format, mut right) = (Vec::new(), 0, 0);
    for e in set {
        let config = GenerateConfig {
            max_new_tokens: 16,
            stop_ids: vec![stop],
            sampling: Sampling::greedy(),
        };
        let g = generate(model, &e.prompt, config)?;
        let stopped = g.ids.last() == Some(&stop);
        let body = if stopped {
            &g.ids[..g.ids.len() - 1]
        } else {
            &g.ids[..]
        };
        let text = tok.decode(body)?;
        let in_format =
            stopped && text.starts_with("ANSWER: ") && text.ends_with('.') && !text.contains('\n');
        format += usize::from(in_format);
        right += usize::from(text.to_lowercase().contains(&e.content.to_lowercase()));
        texts.push(text);
    }
    let n = set.len() as f64;
    Ok((texts, format as f64 / n, right as f64 / n))
}

/// The peak resident memory of this process so far (`VmHWM`), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// A small deterministic generator for the order of the training questions.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// `--dump`: the ids of `prompt` and its logits, for `scripts/check_peft.py`: in f32 from
/// the model trained here (`base_f32` before the adapters, `adapted_f32` with them), and in
/// f64 from the GGUF loaded again as f64 (`base`), with the adapters read back from
/// `--out` by `load_peft` (`adapted`), and from the `--merged` directory read back by
/// `from_hf_dir` (`merged`). In f64 the comparison with PEFT measures the adapters and the
/// files, not f32 rounding over 30 layers.
fn dump(
    a: &Args,
    file: &std::path::Path,
    prompt: &[u32],
    base_f32: Tensor<(Dyn, Dyn, Dyn)>,
    adapted_f32: Tensor<(Dyn, Dyn, Dyn)>,
) -> Result<(), Box<dyn Error>> {
    let out = a
        .out
        .as_ref()
        .ok_or("--dump needs --out (the adapters it reads back)")?;
    let shape = (Dyn::new(1), Dyn::new(prompt.len()));
    let ids: Vec<f32> = prompt.iter().map(|&i| i as f32).collect();
    let mut w = SafetensorsWriter::new();
    w.add("ids", &Tensor::from_vec_with(shape, ids)?)?
        .add("base_f32", &base_f32)?
        .add("adapted_f32", &adapted_f32)?;
    let mut m64 = Decoder::<RuntimeDims, f64>::from_gguf(&a.model)?;
    w.add("base", &m64.logits(shape, prompt)?)?;
    m64.load_peft(out)?;
    w.add("adapted", &m64.logits(shape, prompt)?)?;
    drop(m64);
    if let Some(dir) = &a.merged {
        let merged = Decoder::<RuntimeDims, f64>::from_hf_dir(dir)?;
        w.add("merged", &merged.logits(shape, prompt)?)?;
    }
    w.write(file)?;
    println!(
        "ids and logits of the first held-out prompt in {}",
        file.display()
    );
    Ok(())
}

fn run(a: &Args) -> Result<(), Box<dyn Error>> {
    if !a.model.exists() {
        return Err(format!(
            "{} does not exist (run scripts/fetch-smollm2.sh, or pass --model)",
            a.model.display()
        )
        .into());
    }
    let t0 = Instant::now();
    let mut model = Model::from_gguf(&a.model)?;
    let gguf = Gguf::open(&a.model)?;
    let tok = Tokenizer::from_gguf(&gguf)?;
    let template = ChatTemplate::from_gguf(&gguf)?;
    let context = gguf.metadata().get_usize("llama.context_length")?;
    drop(gguf);
    let stop = tok
        .token_to_id("<|im_end|>")
        .ok_or("the tokenizer has no <|im_end|>")?;
    let pad = tok.eos_id().unwrap_or(stop);
    let train = load_set(&a.data.join("train.jsonl"), &tok, &template)?;
    let held = load_set(&a.data.join("heldout.jsonl"), &tok, &template)?;
    println!(
        "SmolLM2-135M-Instruct from {} in {:.1} s; {} training and {} held-out questions",
        a.model.display(),
        t0.elapsed().as_secs_f64(),
        train.len(),
        held.len()
    );

    let dump_prompt = (
        Dyn::new(1),
        Dyn::new(held.first().map_or(0, |e| e.prompt.len())),
    );
    let dump_ids = held.first().map(|e| e.prompt.clone()).unwrap_or_default();
    let base_f32 = model.logits(dump_prompt, &dump_ids)?;
    let before_lp = mean_logprob(&model, &held, pad)?;
    let (before_texts, before_fmt, before_right) = greedy(&model, &tok, &held, stop)?;

    let config = LoraConfig {
        alpha: 2.0 * a.rank as f64,
        ..LoraConfig::default()
    };
    model.add_adapters(a.targets, a.rank, config, 0)?;
    let (trainable, frozen) = (model.num_adapter_params(), model.num_parameters());
    let adapted = model.blocks.first().map_or(Vec::new(), |b| {
        [b.attn.lora.names(), b.mlp_lora.names()].concat()
    });
    println!(
        "rank-{} adapters on {} of {} layers (alpha {}, PEFT's init): {trainable} trainable \
         parameters, {:.3}% of {}; the base is frozen",
        a.rank,
        adapted.join("/"),
        model.blocks.len(),
        config.alpha,
        100.0 * trainable as f64 / (trainable + frozen) as f64,
        trainable + frozen
    );

    let mut opt = AdamW::new(AdamWConfig {
        lr: a.lr,
        weight_decay: 0.0,
        ..AdamWConfig::default()
    })?;
    let warmup = 3.min(a.steps);
    let schedule = Schedule::warmup_cosine(a.lr, warmup as u64, a.steps as u64, 0.1)?;
    let mut rng = Rng(7);
    let mut order: Vec<usize> = Vec::new();
    let (mut tokens, mut answer_tokens) = (0usize, 0usize);
    let t_train = Instant::now();
    for step in 0..a.steps {
        let mut picked = Vec::new();
        while picked.len() < a.batch.min(train.len()) {
            if order.is_empty() {
                order = (0..train.len()).collect();
                for i in (1..order.len()).rev() {
                    order.swap(i, rng.below(i + 1));
                }
            }
            picked.push(&train[order.pop().unwrap_or(0)]);
        }
        let b = batch(&picked, pad);
        tokens += b.0.len();
        answer_tokens += b.2.len();
        let tape = Tape::new();
        let loss = answer_loss(&model, &tape, &b)?;
        let mut grads = loss.backward();
        let loss = loss.item();
        drop(tape);
        {
            let named = model.named_adapter_params();
            let params: Vec<&dyn DynParam<f32>> = named.iter().map(|(_, p)| *p).collect();
            clip_grad_norm(&mut grads, &params, 1.0)?;
        }
        opt.set_lr(schedule.lr(opt.steps()))?;
        opt.step_with_loss(loss, &mut model.adapter_params_mut(), &grads)?;
        if step == 0 || (step + 1) % 5 == 0 || step + 1 == a.steps {
            println!(
                "step {:>3}  answer loss {loss:.4}  ({:.1} s)",
                step + 1,
                t_train.elapsed().as_secs_f64()
            );
        }
    }
    let secs = t_train.elapsed().as_secs_f64();
    println!(
        "trained {} steps of {} questions in {secs:.1} s: {:.0} tokens/s ({tokens} tokens \
         padded, {answer_tokens} of them answer tokens); peak resident memory {:.0} MiB",
        a.steps,
        a.batch,
        tokens as f64 / secs,
        peak_rss_mib().unwrap_or(f64::NAN)
    );

    let after_lp = mean_logprob(&model, &held, pad)?;
    let (after_texts, after_fmt, after_right) = greedy(&model, &tok, &held, stop)?;
    println!(
        "\nheld-out ({} questions)              before    after",
        held.len()
    );
    println!("mean log-prob per answer token    {before_lp:>8.3} {after_lp:>8.3}");
    println!(
        "greedy answers in the format      {:>7.0}% {:>7.0}%",
        100.0 * before_fmt,
        100.0 * after_fmt
    );
    println!(
        "greedy answers holding the answer {:>7.0}% {:>7.0}%",
        100.0 * before_right,
        100.0 * after_right
    );
    for i in 0..3.min(held.len()) {
        println!(
            "\n{:?}\n  before: {:?}\n  after:  {:?}",
            tok.decode(&held[i].prompt)?
                .rsplit("<|im_start|>user\n")
                .next()
                .unwrap_or("")
                .split("<|im_end|>")
                .next()
                .unwrap_or(""),
            before_texts[i],
            after_texts[i]
        );
    }

    let mut model_f32_logits = Some(model.logits(dump_prompt, &dump_ids)?);
    if let Some(dir) = &a.out {
        model.save_peft(dir, "HuggingFaceTB/SmolLM2-135M-Instruct")?;
        println!("\nadapters saved as PEFT does in {}", dir.display());
    }
    if let Some(dir) = &a.merged {
        model.merge_adapters();
        model.save_hf_dir(dir, context)?;
        println!(
            "merged model saved as a Hugging Face directory in {}",
            dir.display()
        );
    }
    if let (Some(file), Some(e)) = (&a.dump, held.first()) {
        let adapted_f32 = model_f32_logits.take().ok_or("no logits were kept")?;
        dump(a, file, &e.prompt, base_f32, adapted_f32)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    common::run_main(USAGE, "error", parse, run)
}
