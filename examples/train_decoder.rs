//! Trains the LLaMA-style decoder of `shapecheck::models::decoder` from scratch to reverse
//! a sequence of 8 digits (`3 1 4 1 5 9 2 6 | 6 2 9 5 1 4 1 3`), a task that needs
//! attention over positions: answer `j` is the prompt's digit `7 − j`, found by where it
//! sits, not by what it is. AdamW with linear warmup + cosine decay and clipping at norm 1.
//!
//! Then:
//! - the exact-match accuracy on held-out sequences (a fixed eighth of all sequences is
//!   never trained on), generating greedily with the KV cache (`Decoder::decode`);
//! - token-by-token decoding against the full causal forward (`Decoder::logits`): the
//!   largest difference of any logit;
//! - the model saved as safetensors, loaded back, and its logits and accuracy compared.
//!
//! Every check asserts: the example exits non-zero on a failure.
//!
//! `cargo run --release --example train_decoder` (about 30 s on 2 cores).
//!
//! `cargo run --release --example train_decoder -- --lora`: then LoRA on the trained
//! decoder. The decoder is frozen and rank-4 adapters are put on some attention
//! projections (`--lora-targets 0:v,1:v,1:o` by default: `wv` of both blocks and `wo` of
//! the last, 1.8% of the parameters); AdamW trains them alone on a second task, the prompt
//! reversed with each digit `d` mapped to `(d + 1) mod 10`. The attention already finds
//! the right digit; the new task changes only what is carried from it, which is what the
//! value and output projections do. It prints the accuracy on the second task before and
//! after and on the first task after (forgetting), the parameters trained, and checks:
//! gradients and optimizer state for the adapters only, the frozen weights bit-identical,
//! KV-cache decoding with the adapters equal to the full forward, the adapters saved alone
//! and loaded onto a freshly loaded base (bit-identical logits), and the adapters merged
//! into plain projections (max |Δ logit| ≤ 1e-4). `--base PATH` adapts a decoder saved by
//! an earlier run instead of training one.
//!
//! `cargo run --release --example train_decoder -- --lr-sweep`: the learning-rate lesson.
//! AdamW and plain SGD from the same initialisation on the same batches for the same
//! number of steps, at constant rates from 1e-5 to 10 (no clipping, so that nothing hides
//! a divergence); a table of the final losses, and each run's per-step losses as CSV.

use std::fs;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use lexopt::prelude::*;
use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims, LoraTargets};
use shapecheck::nn::lora::LoraConfig;
use shapecheck::optim::{
    clip_grad_norm, AdamW, AdamWConfig, DynParam, OptimError, Optimizer, Schedule, Sgd, SgdConfig,
};
use shapecheck::prelude::*;
use shapecheck::Error;

mod common;

dim!(pub Vocab = 11; pub DModel = 64; pub Heads = 4; pub HeadDim = 16; pub Ffn = 128);
dim!(pub Batch; pub Seq);

type Model = Decoder<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>>;

/// Digits per sequence.
const N: usize = 8;
/// The separator between the prompt and the answer (the digits are 0..=9).
const SEP: u32 = 10;
/// Model input: the prompt, the separator, the answer but its last digit.
const LEN: usize = 2 * N;
const BATCH: usize = 64;
const STEPS: u64 = 1200;
const WARMUP: u64 = 100;
const PEAK_LR: f64 = 3e-3;
const HELD_OUT: usize = 2000;

/// SplitMix64: a small seeded generator, so that runs repeat.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn digits(&mut self) -> [u32; N] {
        std::array::from_fn(|_| (self.next() % 10) as u32)
    }
}

/// Whether a prompt belongs to the held-out eighth (an FNV hash, fixed across runs).
fn held_out(prompt: &[u32; N]) -> bool {
    let h = prompt.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &d| {
        (h ^ u64::from(d)).wrapping_mul(0x0100_0000_01b3)
    });
    (h >> 32) % 8 == 0
}

/// A task: the answer to a prompt.
type Task = fn(&[u32; N]) -> [u32; N];

/// The first task: the prompt reversed.
fn reverse(p: &[u32; N]) -> [u32; N] {
    std::array::from_fn(|j| p[N - 1 - j])
}

/// The second task (LoRA): the prompt reversed, each digit `d` mapped to `(d + 1) mod 10`.
fn reverse_shift(p: &[u32; N]) -> [u32; N] {
    reverse(p).map(|d| (d + 1) % 10)
}

/// `prompt SEP answer`, 2N + 1 tokens.
fn sequence(task: Task, prompt: &[u32; N]) -> Vec<u32> {
    let mut s = prompt.to_vec();
    s.push(SEP);
    s.extend(task(prompt));
    s
}

/// A batch of model inputs (`BATCH × LEN`) and the answer digits (`BATCH × N`), from the
/// training sequences only.
fn train_batch(task: Task, rng: &mut Rng, batch: usize) -> (Vec<u32>, Vec<usize>) {
    let (mut ids, mut targets) = (Vec::new(), Vec::new());
    while targets.len() < batch * N {
        let p = rng.digits();
        if held_out(&p) {
            continue;
        }
        let s = sequence(task, &p);
        ids.extend_from_slice(&s[..LEN]);
        targets.extend(s[N + 1..].iter().map(|&t| t as usize));
    }
    (ids, targets)
}

fn held_out_prompts(count: usize, seed: u64) -> Vec<[u32; N]> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let p = rng.digits();
        if held_out(&p) {
            out.push(p);
        }
    }
    out
}

/// The traced cross-entropy of the answer positions only (positions N..2N predict the
/// answer digits); the prompt digits are random and not predicted.
fn answer_loss<'t>(
    model: &Model,
    tape: &'t Tape<f32>,
    batch: usize,
    ids: &[u32],
    targets: &[usize],
) -> Result<Var<'t, (), f32>, Error> {
    let logits = model.forward(tape, (Batch::new(batch), Seq::new(LEN)), ids)?;
    let answers = logits
        .try_slice_with(A1, N..LEN)?
        .try_reshape_with((Dyn::new(batch * N), Vocab))?;
    Ok(answers.try_cross_entropy(targets)?)
}

fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in row.iter().enumerate() {
        if x > row[best] {
            best = i;
        }
    }
    best as u32
}

/// Exact-match accuracy with teacher forcing, batched: every answer digit is the argmax
/// given the true digits before it. (All digits right under teacher forcing is the same
/// event as greedy generation getting the whole answer right.)
fn accuracy_batched(model: &Model, task: Task, prompts: &[[u32; N]]) -> Result<f64, Error> {
    let mut correct = 0;
    for chunk in prompts.chunks(256) {
        let ids: Vec<u32> = chunk
            .iter()
            .flat_map(|p| sequence(task, p)[..LEN].to_vec())
            .collect();
        let logits = model.logits((Batch::new(chunk.len()), Seq::new(LEN)), &ids)?;
        let v = Vocab::SIZE;
        for (b, p) in chunk.iter().enumerate() {
            let answer = task(p);
            let ok = (0..N).all(|j| {
                let row = &logits.as_slice()[(b * LEN + N + j) * v..][..v];
                argmax(row) == answer[j]
            });
            correct += usize::from(ok);
        }
    }
    Ok(correct as f64 / prompts.len() as f64)
}

/// Greedy generation with the KV cache: prefill the prompt and the separator, then feed
/// back each generated digit. Returns the answers.
fn generate(model: &Model, prompts: &[[u32; N]]) -> Result<Vec<Vec<u32>>, Error> {
    let mut cache = model.cache();
    let v = Vocab::SIZE;
    prompts
        .iter()
        .map(|p| {
            cache.clear();
            let mut prefix = p.to_vec();
            prefix.push(SEP);
            let logits = model.decode(&mut cache, &prefix)?;
            let mut next = argmax(&logits.as_slice()[N * v..]);
            let mut out = vec![next];
            while out.len() < N {
                let logits = model.decode(&mut cache, &[next])?;
                next = argmax(logits.as_slice());
                out.push(next);
            }
            Ok(out)
        })
        .collect()
}

fn exact_match(task: Task, prompts: &[[u32; N]], answers: &[Vec<u32>]) -> f64 {
    let ok = prompts
        .iter()
        .zip(answers)
        .filter(|(p, a)| task(p)[..] == a[..])
        .count();
    ok as f64 / prompts.len() as f64
}

/// The largest |logit difference| between decoding `seq` one token at a time through the
/// KV cache and the full causal forward over it.
fn kv_deviation(model: &Model, seq: &[u32]) -> Result<f32, Error> {
    let full = model.logits((Batch::new(1), Seq::new(seq.len())), seq)?;
    let mut cache = model.cache();
    let v = Vocab::SIZE;
    let mut max = 0.0f32;
    for (t, &id) in seq.iter().enumerate() {
        let step = model.decode(&mut cache, &[id])?;
        for (a, b) in step.as_slice().iter().zip(&full.as_slice()[t * v..][..v]) {
            max = max.max((a - b).abs());
        }
    }
    Ok(max)
}

fn config() -> DecoderConfig {
    DecoderConfig {
        layers: 2,
        ..DecoderConfig::default()
    }
}

/// One of the example's checks: `ok: …`, or `FAILED: …` on standard error and the run
/// ends with exit code 1.
fn check(ok: bool, what: String) {
    if ok {
        println!("ok: {what}");
    } else {
        eprintln!("FAILED: {what}");
        std::process::exit(1);
    }
}

/// Trains the decoder on the first task and checks it; returns it and where it was saved.
fn train() -> Result<(Model, PathBuf), Error> {
    let start = Instant::now();
    let mut model = Model::init(config(), 0);
    println!(
        "decoder: {} blocks, d_model {}, {} heads of {}, ffn {}, vocab {}: {} parameters",
        config().layers,
        DModel::SIZE,
        Heads::SIZE,
        HeadDim::SIZE,
        Ffn::SIZE,
        Vocab::SIZE,
        model.num_parameters()
    );
    println!(
        "task: reverse {N} digits; batch {BATCH} × {LEN} tokens; AdamW, warmup {WARMUP} + cosine \
         to step {STEPS}, peak lr {PEAK_LR:e}; {} threads",
        shapecheck::max_threads()
    );
    let mut opt = AdamW::new(AdamWConfig {
        lr: PEAK_LR,
        weight_decay: 0.01,
        ..AdamWConfig::default()
    })?;
    let schedule = Schedule::warmup_cosine(PEAK_LR, WARMUP, STEPS, 0.05)?;
    let probe = held_out_prompts(512, 7);
    let mut rng = Rng(1);
    let (mut interval_loss, mut interval_steps) = (0.0f64, 0u32);
    let mut tick = Instant::now();
    let mut solved_at = None;
    for step in 0..STEPS {
        let (ids, targets) = train_batch(reverse, &mut rng, BATCH);
        let tape = Tape::new();
        let loss = answer_loss(&model, &tape, BATCH, &ids, &targets)?;
        let mut grads = loss.backward();
        let loss = loss.item();
        drop(tape);
        {
            let params: Vec<&dyn DynParam<f32>> =
                model.named_params().into_iter().map(|(_, p)| p).collect();
            clip_grad_norm(&mut grads, &params, 1.0)?;
        }
        let lr = schedule.lr(opt.steps());
        opt.set_lr(lr)?;
        opt.step_with_loss(loss, &mut model.params_mut(), &grads)?;
        interval_loss += f64::from(loss);
        interval_steps += 1;
        if (step + 1) % 100 == 0 {
            let secs = tick.elapsed().as_secs_f64();
            let tokens = (interval_steps as usize * BATCH * LEN) as f64;
            let acc = accuracy_batched(&model, reverse, &probe)?;
            println!(
                "step {:>5}  loss {:.4}  lr {lr:.2e}  {:>7.0} tokens/s  held-out exact match {:>5.1}%  ({:.0} s)",
                step + 1,
                interval_loss / f64::from(interval_steps),
                tokens / secs,
                100.0 * acc,
                start.elapsed().as_secs_f64(),
            );
            (interval_loss, interval_steps) = (0.0, 0);
            tick = Instant::now();
            if acc == 1.0 && solved_at.is_none() {
                solved_at = Some(step + 1);
            }
            // Stop once the probe has been perfect for 300 steps: the rest is polishing.
            if let Some(s) = solved_at.filter(|&s| step + 1 >= s + 300) {
                println!("stopping early: the probe has been solved since step {s}");
                break;
            }
        }
    }
    let train_secs = start.elapsed().as_secs_f64();

    // Held-out accuracy, generating greedily through the KV cache.
    let test = held_out_prompts(HELD_OUT, 11);
    let t = Instant::now();
    let answers = generate(&model, &test)?;
    let acc = exact_match(reverse, &test, &answers);
    println!(
        "held-out: {:.2}% exact match on {HELD_OUT} sequences, generated with the KV cache in {:.1} s",
        100.0 * acc,
        t.elapsed().as_secs_f64()
    );
    let p = &test[0];
    println!(
        "  e.g. {} | {}",
        p.map(|d| d.to_string()).join(" "),
        answers[0]
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    check(
        acc >= 0.99,
        format!("held-out exact match {:.2}% ≥ 99%", 100.0 * acc),
    );
    check(
        (accuracy_batched(&model, reverse, &test)? - acc).abs() < 1e-12,
        "teacher-forced and generated exact match agree".into(),
    );

    // The KV cache against the full causal forward, over whole sequences.
    let mut dev = 0.0f32;
    for p in &test[..20] {
        dev = dev.max(kv_deviation(&model, &sequence(reverse, p))?);
    }
    println!(
        "KV-cache decoding vs the full causal forward: max |Δ logit| = {dev:.2e} (20 sequences)"
    );
    check(
        dev < 1e-4,
        format!("token-by-token logits match the full forward ({dev:.1e} < 1e-4)"),
    );

    // Save, load, compare.
    let dir = std::env::temp_dir().join("shapecheck-train-decoder");
    fs::create_dir_all(&dir)?;
    let path = dir.join("decoder.safetensors");
    model.save(&path)?;
    println!(
        "saved the model to {} ({} bytes)",
        path.display(),
        fs::metadata(&path)?.len()
    );
    let loaded = Model::load(&path)?;
    let ids: Vec<u32> = test[..64]
        .iter()
        .flat_map(|p| sequence(reverse, p)[..LEN].to_vec())
        .collect();
    let shape = (Batch::new(64), Seq::new(LEN));
    let same = model.logits(shape, &ids)?.as_slice() == loaded.logits(shape, &ids)?.as_slice();
    check(same, "the loaded model's logits are bit-identical".into());
    let loaded_acc = exact_match(reverse, &test, &generate(&loaded, &test)?);
    check(
        loaded_acc == acc,
        format!(
            "the loaded model's exact match is the same ({:.2}%)",
            100.0 * loaded_acc
        ),
    );
    println!(
        "training took {train_secs:.0} s; total {:.0} s",
        start.elapsed().as_secs_f64()
    );
    Ok((model, path))
}

/// One run of the sweep: `steps` steps at a constant rate; the losses, and the step at
/// which the optimizer refused a non-finite loss or gradient.
fn sweep_run(
    opt: &mut dyn Optimizer<f32>,
    steps: u64,
    batch: usize,
) -> Result<(Vec<f32>, Option<u64>), Error> {
    let mut model = Model::init(config(), 0);
    let mut rng = Rng(1);
    let mut losses = Vec::new();
    for _ in 0..steps {
        let (ids, targets) = train_batch(reverse, &mut rng, batch);
        let tape = Tape::new();
        let loss = answer_loss(&model, &tape, batch, &ids, &targets)?;
        let grads = loss.backward();
        let loss = loss.item();
        drop(tape);
        losses.push(loss);
        match opt.step_with_loss(loss, &mut model.params_mut(), &grads) {
            Ok(()) => {}
            Err(e @ (OptimError::NonFiniteLoss { .. } | OptimError::NonFiniteGradient { .. })) => {
                println!("    {e}");
                return Ok((losses, Some(opt.steps() + 1)));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok((losses, None))
}

fn lr_sweep() -> Result<(), Error> {
    const SWEEP_STEPS: u64 = 300;
    const SWEEP_BATCH: usize = 32;
    let rates = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0];
    let dir = PathBuf::from("target").join("lr-sweep");
    fs::create_dir_all(&dir)?;
    let mut csv = fs::File::create(dir.join("losses.csv"))?;
    writeln!(csv, "optimizer,lr,step,loss")?;
    println!(
        "lr sweep: {SWEEP_STEPS} steps of batch {SWEEP_BATCH}, constant rate, no clipping, the same \
         initialisation and batches for every run; chance is ln 10 = {:.3}",
        10f64.ln()
    );
    let mut rows = Vec::new();
    for &lr in &rates {
        for name in ["AdamW", "SGD"] {
            let t = Instant::now();
            let mut opt: Box<dyn Optimizer<f32>> = if name == "AdamW" {
                Box::new(AdamW::new(AdamWConfig {
                    lr,
                    ..AdamWConfig::default()
                })?)
            } else {
                Box::new(Sgd::new(SgdConfig {
                    lr,
                    ..SgdConfig::default()
                })?)
            };
            let (losses, diverged) = sweep_run(opt.as_mut(), SWEEP_STEPS, SWEEP_BATCH)?;
            for (s, l) in losses.iter().enumerate() {
                writeln!(csv, "{name},{lr:e},{s},{l}")?;
            }
            let tail = &losses[losses.len().saturating_sub(20)..];
            let last = tail.iter().map(|&l| f64::from(l)).sum::<f64>() / tail.len() as f64;
            println!(
                "  {name:<5} lr {lr:<7e} done in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            rows.push((name, lr, losses[0], last, diverged));
        }
    }
    println!();
    println!("| optimizer | lr     | first loss | final loss (mean of last 20) | outcome |");
    println!("|-----------|--------|------------|------------------------------|---------|");
    // The best rate of each optimizer, among the runs that stayed finite.
    let best = |opt: &str| {
        rows.iter()
            .filter(|r| r.0 == opt && r.4.is_none())
            .min_by(|a, b| a.3.total_cmp(&b.3))
            .map_or((f64::NAN, f64::INFINITY), |r| (r.1, r.3))
    };
    let mut outcomes = Vec::new();
    for &(name, lr, first, last, diverged) in &rows {
        let first = f64::from(first);
        let (best_lr, _) = best(name);
        let outcome = match diverged {
            Some(step) => format!("diverged: non-finite at step {step}, refused by the optimizer"),
            None if last.is_nan() || last >= 10.0 * first => {
                "diverged: the loss blew up".to_owned()
            }
            None if last < 0.5 => "learned".to_owned(),
            None if lr < best_lr && last > 0.9 * first => "too small: barely moved".to_owned(),
            None if lr < best_lr => "too small: slow".to_owned(),
            None if lr > best_lr && last > 0.9 * first => "too large: stuck near chance".to_owned(),
            None if lr > best_lr => "too large: worse than the best".to_owned(),
            None => "its best rate, still learning".to_owned(),
        };
        let shown = if diverged.is_some() {
            "—".to_owned()
        } else if last < 1e4 {
            format!("{last:.4}")
        } else {
            format!("{last:.3e}")
        };
        println!("| {name:<9} | {lr:<6e} | {first:>10.4} | {shown:>28} | {outcome} |");
        outcomes.push(outcome);
    }
    let summary = dir.join("summary.csv");
    let mut s = fs::File::create(&summary)?;
    writeln!(s, "optimizer,lr,first_loss,final_loss,diverged_at_step")?;
    for &(name, lr, first, last, diverged) in &rows {
        let d = diverged.map_or(String::new(), |d| d.to_string());
        writeln!(s, "{name},{lr:e},{first},{last},{d}")?;
    }
    println!(
        "\nper-step losses: {} (columns optimizer,lr,step,loss); summary: {}",
        fs::canonicalize(dir.join("losses.csv"))?.display(),
        fs::canonicalize(&summary)?.display()
    );
    // The lesson, asserted: AdamW learns at its best rate and beats SGD's best at the same
    // budget; at the smallest rate neither gets far; at the largest every run diverges.
    let (adam_lr, best_adam) = best("AdamW");
    let (sgd_lr, best_sgd) = best("SGD");
    println!(
        "best rates: AdamW {adam_lr:e} (loss {best_adam:.4}), SGD {sgd_lr:e} (loss {best_sgd:.4})"
    );
    check(
        best_adam < 1.0,
        format!("the best AdamW rate learns (loss {best_adam:.3} < 1)"),
    );
    check(
        best_adam < best_sgd,
        format!(
            "AdamW's best beats SGD's best at the same budget ({best_adam:.3} < {best_sgd:.3})"
        ),
    );
    check(
        rows.iter()
            .filter(|r| r.1 == rates[0])
            .all(|r| r.3 > 0.9 * f64::from(r.2)),
        "at 1e-5 neither optimizer gets far from its first loss".into(),
    );
    check(
        rows.iter()
            .zip(&outcomes)
            .filter(|(r, _)| r.1 == rates[rates.len() - 1])
            .all(|(_, o)| o.starts_with("diverged")),
        format!("at {:e} every run diverges", rates[rates.len() - 1]),
    );
    Ok(())
}

/// The LoRA stage's rank, step budget and peak rate.
const LORA_RANK: usize = 4;
const LORA_STEPS: u64 = 400;
const LORA_WARMUP: u64 = 50;
const LORA_LR: f64 = 1e-2;

/// The adapted projections, as `layer:projections` pairs (`0:v,1:vo`).
const LORA_TARGETS: &str = "0:v,1:v,1:o";

/// The `layer:projections` pairs of `spec` (`0:v,1:vo`), each layer below `layers`.
fn parse_targets(spec: &str, layers: usize) -> Result<Vec<(usize, LoraTargets)>, String> {
    spec.split(',')
        .map(|item| {
            let (layer, projs) = item
                .split_once(':')
                .ok_or_else(|| format!("bad LoRA target `{item}`: expected layer:projections"))?;
            let mut t = LoraTargets::NONE;
            for c in projs.chars() {
                match c {
                    'q' => t.q = true,
                    'k' => t.k = true,
                    'v' => t.v = true,
                    'o' => t.o = true,
                    _ => return Err(format!("bad projection `{c}` in `{item}`: one of q k v o")),
                }
            }
            let layer: usize = layer
                .parse()
                .map_err(|e| format!("bad layer `{layer}` in `{item}`: {e}"))?;
            if layer >= layers {
                return Err(format!("no block {layer}: the decoder has {layers}"));
            }
            Ok((layer, t))
        })
        .collect()
}

fn bits(model: &Model) -> Vec<u32> {
    model
        .named_params()
        .iter()
        .flat_map(|(_, p)| p.values().iter().map(|x| x.to_bits()))
        .collect()
}

/// The largest |difference| of two logit tensors.
fn max_delta(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// LoRA on the trained decoder: freeze it, put rank-4 adapters on some attention
/// projections, train them alone on the second task, then check the merge, the frozen
/// weights, the KV cache and the adapters saved on their own.
fn lora(
    mut model: Model,
    base_path: &std::path::Path,
    spec: &str,
    targets: &[(usize, LoraTargets)],
) -> Result<(), Error> {
    let start = Instant::now();
    let test = held_out_prompts(HELD_OUT, 11);
    let probe = held_out_prompts(512, 7);
    println!();
    println!(
        "LoRA: second task: reverse and map each digit d → (d + 1) mod 10 \
         (3 1 4 1 5 9 2 6 | 7 3 0 6 2 5 2 4)"
    );
    let before2 = accuracy_batched(&model, reverse_shift, &test)?;
    let before1 = accuracy_batched(&model, reverse, &test)?;
    println!(
        "  before: second task {:.2}%, first task {:.2}% held-out exact match",
        100.0 * before2,
        100.0 * before1
    );
    let frozen = bits(&model);
    let base_params = model.num_parameters();
    model.freeze();
    let config = LoraConfig::default();
    for (i, &(layer, t)) in targets.iter().enumerate() {
        // `main` has checked every layer against the model's blocks.
        model.blocks[layer].add_adapters(t, LORA_RANK, config, 100 + 4 * i as u64)?;
    }
    let trained = model.num_adapter_params();
    let fraction = trained as f64 / (base_params + trained) as f64;
    println!(
        "  adapters: rank {LORA_RANK}, α = {}, on {spec} (layer:projections); {trained} trained \
         parameters of {} ({:.2}%), the {base_params} of the decoder frozen",
        config.alpha,
        base_params + trained,
        100.0 * fraction
    );
    check(
        fraction <= 0.02,
        format!("{:.2}% of the parameters trained ≤ 2%", 100.0 * fraction),
    );
    let mut opt = AdamW::new(AdamWConfig {
        lr: LORA_LR,
        weight_decay: 0.0,
        ..AdamWConfig::default()
    })?;
    let schedule = Schedule::warmup_cosine(LORA_LR, LORA_WARMUP, LORA_STEPS, 0.05)?;
    let mut rng = Rng(2);
    let (mut interval_loss, mut interval_steps) = (0.0f64, 0u32);
    let mut tick = Instant::now();
    for step in 0..LORA_STEPS {
        let (ids, targets) = train_batch(reverse_shift, &mut rng, BATCH);
        let tape = Tape::new();
        let loss = answer_loss(&model, &tape, BATCH, &ids, &targets)?;
        let mut grads = loss.backward();
        let loss = loss.item();
        drop(tape);
        if step == 0 {
            check(
                grads.len() == model.named_adapter_params().len()
                    && grads.of(&model.blocks[0].attn.wv.weight).is_none(),
                format!(
                    "gradients for the {} adapter tensors only",
                    model.named_adapter_params().len()
                ),
            );
        }
        {
            let params: Vec<&dyn DynParam<f32>> = model
                .named_adapter_params()
                .into_iter()
                .map(|(_, p)| p)
                .collect();
            clip_grad_norm(&mut grads, &params, 1.0)?;
        }
        let lr = schedule.lr(opt.steps());
        opt.set_lr(lr)?;
        opt.step_with_loss(loss, &mut model.adapter_params_mut(), &grads)?;
        interval_loss += f64::from(loss);
        interval_steps += 1;
        if (step + 1) % 100 == 0 {
            let secs = tick.elapsed().as_secs_f64();
            let tokens = (interval_steps as usize * BATCH * LEN) as f64;
            println!(
                "  step {:>4}  loss {:.4}  lr {lr:.2e}  {:>7.0} tokens/s  held-out exact match {:>5.1}%  ({:.0} s)",
                step + 1,
                interval_loss / f64::from(interval_steps),
                tokens / secs,
                100.0 * accuracy_batched(&model, reverse_shift, &probe)?,
                start.elapsed().as_secs_f64(),
            );
            (interval_loss, interval_steps) = (0.0, 0);
            tick = Instant::now();
        }
    }
    let lora_secs = start.elapsed().as_secs_f64();

    // Accuracy after, on both tasks; the second one generated through the KV cache, which
    // applies the (unmerged) adapters.
    let answers = generate(&model, &test)?;
    let after2 = exact_match(reverse_shift, &test, &answers);
    let after1 = accuracy_batched(&model, reverse, &test)?;
    println!(
        "  after {LORA_STEPS} steps ({lora_secs:.0} s): second task {:.2}% held-out exact match \
         (generated with the KV cache), first task {:.2}% (forgetting: the adapters replace the \
         old answer)",
        100.0 * after2,
        100.0 * after1
    );
    check(
        after2 >= 0.95,
        format!(
            "second task held-out exact match {:.2}% ≥ 95%",
            100.0 * after2
        ),
    );
    check(
        (accuracy_batched(&model, reverse_shift, &test)? - after2).abs() < 1e-12,
        "teacher-forced and generated exact match agree with the adapters".into(),
    );
    check(
        bits(&model) == frozen,
        "the frozen decoder's weights are bit-identical to before".into(),
    );
    check(
        opt.exp_avg(&model.blocks[0].attn.wv.weight).is_none()
            && opt.exp_avg(&model.embedding.table).is_none()
            && {
                let l = &model.blocks[1].attn.lora;
                [&l.q, &l.k, &l.v]
                    .into_iter()
                    .flatten()
                    .all(|a| opt.exp_avg(&a.lora_a).is_some())
                    && l.o.iter().all(|a| opt.exp_avg(&a.lora_a).is_some())
            },
        "optimizer state for the adapters only".into(),
    );
    let mut dev = 0.0f32;
    for p in &test[..20] {
        dev = dev.max(kv_deviation(&model, &sequence(reverse_shift, p))?);
    }
    check(
        dev < 1e-4,
        format!("KV-cache decoding with adapters matches the full forward ({dev:.1e} < 1e-4)"),
    );

    // The adapters alone, saved, and loaded onto a freshly loaded base.
    let ids: Vec<u32> = test[..64]
        .iter()
        .flat_map(|p| sequence(reverse_shift, p)[..LEN].to_vec())
        .collect();
    let shape = (Batch::new(64), Seq::new(LEN));
    let adapted = model.logits(shape, &ids)?;
    let path = base_path.with_file_name("adapters.safetensors");
    model.save_adapters(&path)?;
    println!(
        "  saved the adapters alone to {} ({} bytes)",
        path.display(),
        fs::metadata(&path)?.len()
    );
    let mut fresh = Model::load(base_path)?;
    fresh.freeze();
    for &(layer, t) in targets {
        fresh.blocks[layer].add_adapters(t, LORA_RANK, config, 7)?;
    }
    fresh.load_adapters(&path)?;
    check(
        fresh.logits(shape, &ids)?.as_slice() == adapted.as_slice(),
        "the base loaded afresh with the adapters loaded gives bit-identical logits".into(),
    );

    // Merged into plain projections: the same logits, to rounding.
    model.merge_adapters();
    let merged = model.logits(shape, &ids)?;
    let d = max_delta(merged.as_slice(), adapted.as_slice());
    println!("  merged into wq/wk/wv/wo: max |Δ logit| against the adapted model = {d:.2e}");
    check(
        !model.has_adapters() && d <= 1e-4,
        format!("the merged model's logits equal the adapted model's ({d:.1e} ≤ 1e-4)"),
    );
    let merged_acc = accuracy_batched(&model, reverse_shift, &test)?;
    println!(
        "  the merged model: second task {:.2}%; LoRA stage {:.0} s",
        100.0 * merged_acc,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

const USAGE: &str =
    "usage: train_decoder [--lr-sweep | --lora [--lora-targets SPEC] [--base PATH]]";

const HELP: &str = "\
train_decoder: trains a small LLaMA-style decoder to reverse 8 digits, then checks it

usage: train_decoder [--lr-sweep | --lora [--lora-targets SPEC] [--base PATH]]

With no option: trains the decoder (about 30 s on 2 cores), prints its held-out exact
match, checks KV-cache decoding against the full forward, saves it and loads it back.

      --lr-sweep            instead, AdamW and SGD at constant rates from 1e-5 to 10: a
                            table of final losses, per-step losses as CSV (~1.5 min)
      --lora                then freeze the decoder and train LoRA adapters on a second
                            task (the answer's digits shifted by one), with checks
      --lora-targets SPEC   the adapted projections, as layer:projections pairs of q k v o
                            (default 0:v,1:v,1:o)
      --base PATH           adapt a decoder saved by an earlier run instead of training one
  -h, --help                this help

Every check asserts: a failed one prints FAILED and the exit code is 1.
";

/// What to run.
enum Mode {
    Train,
    LrSweep,
    Lora {
        spec: String,
        targets: Vec<(usize, LoraTargets)>,
        base: Option<PathBuf>,
    },
}

fn parse_args() -> Result<Mode, lexopt::Error> {
    let (mut sweep, mut with_lora, mut spec, mut base) = (false, false, None, None);
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("lr-sweep") => sweep = true,
            Long("lora") => with_lora = true,
            Long("lora-targets") => spec = Some(p.value()?.string()?),
            Long("base") => base = Some(PathBuf::from(p.value()?)),
            Short('h') | Long("help") => common::print_help(HELP),
            _ => return Err(arg.unexpected()),
        }
    }
    if sweep && (with_lora || spec.is_some() || base.is_some()) {
        return Err("--lr-sweep is a run of its own: it takes no LoRA option".into());
    }
    if !with_lora && (spec.is_some() || base.is_some()) {
        return Err("--lora-targets and --base go with --lora".into());
    }
    Ok(if sweep {
        Mode::LrSweep
    } else if with_lora {
        let spec = spec.unwrap_or_else(|| LORA_TARGETS.to_owned());
        // A decoder loaded with --base is checked once loaded; one trained here has
        // `config().layers` blocks.
        let layers = if base.is_some() {
            usize::MAX
        } else {
            config().layers
        };
        let targets = parse_targets(&spec, layers).map_err(|e| format!("--lora-targets: {e}"))?;
        Mode::Lora {
            spec,
            targets,
            base,
        }
    } else {
        Mode::Train
    })
}

fn main() -> ExitCode {
    let mode = match parse_args() {
        Ok(m) => m,
        Err(e) => return common::usage_error(USAGE, e),
    };
    let result = match mode {
        Mode::LrSweep => lr_sweep(),
        Mode::Train => train().map(drop),
        Mode::Lora {
            spec,
            targets,
            base,
        } => {
            let model = match base {
                Some(path) => Model::load(&path).map(|m| (m, path)).map_err(Error::from),
                None => train(),
            };
            match model {
                Ok((model, path)) => {
                    let blocks = model.blocks.len();
                    if let Some((layer, _)) = targets.iter().find(|(l, _)| *l >= blocks) {
                        return common::usage_error(
                            USAGE,
                            format!(
                                "--lora-targets: no block {layer}: the decoder of {} has {blocks}",
                                path.display()
                            ),
                        );
                    }
                    lora(model, &path, &spec, &targets)
                }
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
