//! Chat with a LLaMA-family model (SmolLM2-135M-Instruct by default, from its GGUF):
//!
//! ```text
//! cargo run --release --example chat -- "What is the capital of France?"
//! cargo run --release --example chat -- --temperature 0 -n 40 --raw "The capital of France is"
//! cargo run --release --example chat -- --model path/to/hf-dir --system "Be brief." "Hi"
//! ```
//!
//! The prompt goes through the model's chat template (from the GGUF's
//! `tokenizer.chat_template`, or a Hugging Face directory's `tokenizer_config.json`), the
//! answer streams as it is generated, and the prompt and generation speeds follow it.
//! `--raw` feeds the text as it is (no template), so that a greedy continuation can be
//! compared with transformers' `generate`. `--dtype` picks the weights' types in memory:
//! `stored` (a GGUF's own, the default for a GGUF: SmolLM2's Q4_1 and Q8_0 blocks), or
//! `f32`, `bf16`, `f16`, `q8_0`, `q4_0`, `q4_1`, converted at load (`f32`, the default for
//! a Hugging Face directory, runs today's f32 products). `--bench` is the contract of
//! `scripts/bench_llm.py` (see its docstring): no text, token ids in, one `BENCH {…}` line
//! out.

#[path = "common/mod.rs"]
mod common;

use std::error::Error;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use shapecheck::io::Gguf;
use shapecheck::models::decoder::{Decoder, RuntimeDims};
use shapecheck::models::generate::{
    generate, generate_batch, generate_text, CausalLm, ChatMessage, ChatTemplate, GenerateConfig,
    Sampling,
};
use shapecheck::nn::stored::Stored;
use shapecheck::quant::{LoadDtype, StoredType};
use shapecheck::text::Tokenizer;

#[path = "common/llm.rs"]
mod llm;

const DEFAULT_MODEL: &str = llm::DEFAULT_GGUF;

const USAGE: &str = "usage: chat [OPTIONS] PROMPT\n       chat --bench --model FILE.gguf \
                     --prompt-ids ID,ID,... -n N [--threads N]";

const HELP: &str = "chat: talk to a LLaMA-family model (SmolLM2-135M-Instruct by default)

usage: chat [OPTIONS] PROMPT
       chat --bench --model FILE.gguf --prompt-ids ID,ID,... -n N [--threads N]

The prompt goes through the model's chat template; the answer streams, then the prompt and
generation speeds (tokens/s) are printed on standard error.

options:
  --model PATH              a GGUF file or a Hugging Face directory (config.json,
                            model.safetensors, tokenizer.json, tokenizer_config.json);
                            default models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
                            (scripts/fetch-smollm2.sh fetches it)
  --system TEXT             a system message before the prompt
  --raw                     no chat template: the prompt text as it is
  -n N                      at most N new tokens (256)
  --temperature T           0 is greedy (0.7 by default; SmolLM2's suggested settings)
  --top-k K                 keep the K likeliest tokens (0: off, the default)
  --top-p P                 keep the smallest set of probability P (0.9)
  --min-p P                 drop tokens below P times the likeliest's probability (0: off)
  --repetition-penalty R    transformers' repetition penalty (1: off, the default)
  --seed S                  the sampler's seed (0)
  --threads N               at most N threads per operation (all cores)
  --dtype T                 the weights in memory: stored (the GGUF's own types, the
                            default for a GGUF), f32 (the default for a Hugging Face
                            directory), bf16, f16, q8_0, q4_0, q4_1 (converted at load;
                            a GGUF in Q5_0, Q5_1 or k-quants, a Q4_K_M, needs one of these)
  --bench                   scripts/bench_llm.py's contract: time the prefill of
                            --prompt-ids and the greedy decode of -n tokens in all (a warm-up,
                            then the best of 3 runs), print BENCH {...}
  --repeats R               (--bench) the best of R runs instead of 3 (to profile)
  --prompt-ids ID,ID,...    (--bench) the prompt as token ids
  --batch B                 (--bench) instead: B prompts (the ids, then shorter by 8 ids each),
                            generated greedily with generate_batch (the decode steps packed)
                            and one by one; prints BATCH {...} with both speeds and whether
                            the ids are the same
  -h, --help                this text
";

struct Args {
    model: PathBuf,
    prompt: Option<String>,
    system: Option<String>,
    raw: bool,
    new_tokens: usize,
    sampling: Sampling,
    threads: Option<usize>,
    dtype: Option<LoadDtype>,
    bench: bool,
    prompt_ids: Vec<u32>,
    batch: Option<usize>,
    repeats: usize,
}

fn parse() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        model: PathBuf::from(DEFAULT_MODEL),
        prompt: None,
        system: None,
        raw: false,
        new_tokens: 256,
        sampling: Sampling {
            temperature: 0.7,
            top_p: 0.9,
            ..Sampling::default()
        },
        threads: None,
        dtype: None,
        bench: false,
        prompt_ids: Vec::new(),
        repeats: 3,
        batch: None,
    };
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("model") => args.model = p.value()?.into(),
            Long("system") => args.system = Some(p.value()?.string()?),
            Long("raw") => args.raw = true,
            Short('n') => args.new_tokens = common::positive(&mut p, "-n")?,
            Long("temperature") => args.sampling.temperature = p.value()?.parse()?,
            Long("top-k") => args.sampling.top_k = p.value()?.parse()?,
            Long("top-p") => args.sampling.top_p = p.value()?.parse()?,
            Long("min-p") => args.sampling.min_p = p.value()?.parse()?,
            Long("repetition-penalty") => args.sampling.repetition_penalty = p.value()?.parse()?,
            Long("seed") => args.sampling.seed = p.value()?.parse()?,
            Long("threads") => args.threads = Some(common::positive(&mut p, "--threads")?),
            Long("dtype") => args.dtype = Some(p.value()?.parse()?),
            Long("bench") => args.bench = true,
            Long("batch") => args.batch = Some(common::positive(&mut p, "--batch")?),
            Long("repeats") => args.repeats = common::positive(&mut p, "--repeats")?,
            Long("prompt-ids") => {
                let v = p.value()?.string()?;
                args.prompt_ids = v
                    .split(',')
                    .map(|s| s.trim().parse::<u32>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("--prompt-ids needs ids separated by commas: {e}"))?;
            }
            Short('h') | Long("help") => common::print_help(HELP),
            Value(v) if args.prompt.is_none() => args.prompt = Some(v.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    if args.bench {
        if args.prompt_ids.is_empty() {
            return Err("--bench needs --prompt-ids".into());
        }
    } else if args.prompt.is_none() {
        return Err("a prompt is needed".into());
    }
    Ok(args)
}

/// The decoder chat runs: its weights in the types `--dtype` asks for.
type Model = Decoder<RuntimeDims, f32, Stored>;

/// The model, its tokenizer and its chat template (if it has one).
struct Loaded {
    model: Model,
    tokenizer: Tokenizer,
    template: Option<ChatTemplate>,
}

fn load(path: &Path, dtype: Option<LoadDtype>, with_text: bool) -> Result<Loaded, Box<dyn Error>> {
    llm::check_exists(path)?;
    if path.is_dir() {
        let dtype = dtype.unwrap_or(LoadDtype::To(StoredType::F32));
        let model = Model::from_hf_dir_with(path, dtype)?;
        let tokenizer = Tokenizer::from_file(path.join("tokenizer.json"))?;
        let config = path.join("tokenizer_config.json");
        let template = if with_text && config.exists() {
            Some(ChatTemplate::from_tokenizer_config(&config)?)
        } else {
            None
        };
        return Ok(Loaded {
            model,
            tokenizer,
            template,
        });
    }
    // Read once: the tokenizer's and the weights' file (stored weights point into it).
    let gguf = Gguf::open(path)?;
    let model = Model::from_gguf_file_with(&gguf, path, dtype.unwrap_or(LoadDtype::Stored))?;
    let tokenizer = Tokenizer::from_gguf(&gguf)?;
    let template = if with_text && gguf.metadata().contains("tokenizer.chat_template") {
        Some(ChatTemplate::from_gguf(&gguf)?)
    } else {
        None
    };
    Ok(Loaded {
        model,
        tokenizer,
        template,
    })
}

/// The ids that end an answer: the tokenizer's end-of-sequence id and the template's
/// end-of-turn token (`<|im_end|>`, `<|eot_id|>`), when it has one.
fn stop_ids(l: &Loaded) -> Vec<u32> {
    let mut ids: Vec<u32> = l.tokenizer.eos_id().into_iter().collect();
    let named = l
        .template
        .as_ref()
        .and_then(|t| t.eos_token())
        .into_iter()
        .chain([
            "<|im_end|>",
            "<|eot_id|>",
            "<|end_of_text|>",
            "<|endoftext|>",
        ]);
    for token in named {
        if let Some(id) = l.tokenizer.token_to_id(token) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

fn chat(args: &Args) -> Result<(), Box<dyn Error>> {
    let t = Instant::now();
    let l = load(&args.model, args.dtype, !args.raw)?;
    eprintln!(
        "loaded {} ({} layers, weights {}: {:.1} MB) in {:.2} s, peak memory {:.1} MB",
        args.model.display(),
        l.model.blocks.len(),
        dtype_name(&args.model, args.dtype),
        l.model.weight_bytes() as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        peak_rss_kb().map_or(f64::NAN, |k| k as f64 * 1024.0 / 1e6),
    );
    let prompt = args.prompt.as_deref().unwrap_or_default();
    let ids = if args.raw {
        l.tokenizer.encode(prompt, true)?
    } else {
        let template = l.template.as_ref().ok_or(
            "the model has no chat template (tokenizer.chat_template); use --raw to feed \
             the text as it is",
        )?;
        let mut messages = Vec::new();
        if let Some(s) = &args.system {
            messages.push(ChatMessage::system(s.clone()));
        }
        messages.push(ChatMessage::user(prompt));
        // The template writes the special tokens as text; they are not added again.
        l.tokenizer
            .encode(&template.render(&messages, true)?, false)?
    };
    let config = GenerateConfig {
        max_new_tokens: args.new_tokens,
        stop_ids: stop_ids(&l),
        sampling: args.sampling.clone(),
    };
    let mut out = std::io::stdout().lock();
    let (generation, _) = generate_text(&l.model, &l.tokenizer, &ids, config, |piece| {
        // A closed stdout (`| head`) ends the output, not the generation's bookkeeping.
        let _ = out.write_all(piece.as_bytes()).and_then(|()| out.flush());
    })?;
    let _ = writeln!(out);
    let s = generation.stats;
    eprintln!(
        "prompt: {} tokens, {:.1} tokens/s; generation: {} tokens, {:.1} tokens/s ({:?})",
        s.prompt_tokens,
        s.prefill_tokens_per_s(),
        s.generated_tokens,
        s.decode_tokens_per_s(),
        generation.stop
    );
    Ok(())
}

/// `--dtype` as chat applies it to the model at `path`.
fn dtype_name(path: &Path, dtype: Option<LoadDtype>) -> String {
    match (dtype, path.is_dir()) {
        (Some(LoadDtype::To(t)), _) => t.to_string(),
        (None, true) => "F32".into(),
        _ => "as stored".into(),
    }
}

/// The peak resident memory of this process so far (`VmHWM`), in KiB.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
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

/// One greedy run: the prefill's time, the time of the `n - 1` steps after it, the ids.
fn bench_run(
    model: &Model,
    prompt: &[u32],
    n: usize,
) -> Result<(Duration, Duration, Vec<u32>), Box<dyn Error>> {
    let mut cache = model.new_cache();
    let t = Instant::now();
    let logits = model.step(&mut cache, prompt)?;
    let prefill = t.elapsed();
    let mut ids = vec![argmax(&logits)];
    let t = Instant::now();
    while ids.len() < n {
        let logits = model.step(&mut cache, &ids[ids.len() - 1..])?;
        ids.push(argmax(&logits));
    }
    Ok((prefill, t.elapsed(), ids))
}

fn bench(args: &Args) -> Result<(), Box<dyn Error>> {
    let l = load(&args.model, args.dtype, false)?;
    let load_rss_kb = peak_rss_kb();
    let n = args.new_tokens;
    // A warm-up (page faults, the thread pool), then the best of `--repeats` (3).
    bench_run(&l.model, &args.prompt_ids, n.min(4))?;
    let mut best: Option<(Duration, Duration, Vec<u32>)> = None;
    for _ in 0..args.repeats {
        let (p, d, ids) = bench_run(&l.model, &args.prompt_ids, n)?;
        best = Some(match best {
            None => (p, d, ids),
            Some((bp, bd, _)) => (bp.min(p), bd.min(d), ids),
        });
    }
    let (prefill, decode, ids) = best.expect("at least one run");
    let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
    println!(
        "BENCH {{\"prefill_s\": {:.6}, \"decode_s\": {:.6}, \"decode_steps\": {}, \
         \"load_rss_kb\": {}, \"peak_rss_kb\": {}, \"weight_bytes\": {}, \"ids\": [{}]}}",
        prefill.as_secs_f64(),
        decode.as_secs_f64(),
        n - 1,
        load_rss_kb.map_or("null".to_string(), |k| k.to_string()),
        peak_rss_kb().map_or("null".to_string(), |k| k.to_string()),
        l.model.weight_bytes(),
        ids.join(", ")
    );
    Ok(())
}

/// `--bench --batch B`: B ragged prompts, greedy, batched and one by one.
fn bench_batch(args: &Args, b: usize) -> Result<(), Box<dyn Error>> {
    let l = load(&args.model, args.dtype, false)?;
    let ids = &args.prompt_ids;
    let prompts: Vec<&[u32]> = (0..b)
        .map(|i| &ids[..ids.len().saturating_sub(8 * i).max(1)])
        .collect();
    let config = GenerateConfig {
        max_new_tokens: args.new_tokens,
        stop_ids: Vec::new(),
        sampling: Sampling::greedy(),
    };
    // A warm-up, then the batch, then each prompt alone.
    generate_batch(
        &l.model,
        &prompts,
        GenerateConfig {
            max_new_tokens: 4,
            ..config.clone()
        },
    )?;
    let batched = generate_batch(&l.model, &prompts, config.clone())?;
    let mut single_s = 0.0;
    let mut same = true;
    for (p, g) in prompts.iter().zip(&batched) {
        let alone = generate(&l.model, p, config.clone())?;
        single_s += alone.stats.decode.as_secs_f64();
        same &= alone.ids == g.ids;
    }
    let steps = batched[0].stats.decode_steps;
    let batch_s = batched[0].stats.decode.as_secs_f64();
    println!(
        "BATCH {{\"batch\": {b}, \"decode_steps\": {steps}, \"batched_decode_s\": {batch_s:.6}, \
         \"batched_tokens_per_s\": {:.2}, \"single_decode_s\": {single_s:.6}, \
         \"single_tokens_per_s\": {:.2}, \"same_ids\": {same}}}",
        (b * steps) as f64 / batch_s,
        (b * steps) as f64 / single_s,
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => return common::usage_error(USAGE, e),
    };
    let run = || match (args.bench, args.batch) {
        (true, Some(b)) => bench_batch(&args, b),
        (true, None) => bench(&args),
        _ => chat(&args),
    };
    let result = match args.threads {
        Some(n) => shapecheck::with_threads(n, run),
        None => run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat: {e}");
            ExitCode::FAILURE
        }
    }
}
