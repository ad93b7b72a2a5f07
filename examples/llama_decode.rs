//! Prefill and greedy decoding speed of a LLaMA-family decoder loaded from a GGUF file
//! (SmolLM2-135M-Instruct by default, dequantized to f32), through the KV cache:
//!
//! ```text
//! cargo run --release --example llama_decode -- [--model FILE.gguf] [--prompt N] [--new N] [--threads N]
//! ```
//!
//! The prompt is `N` token ids (a fixed pattern, not text: this measures the model, not the
//! tokenizer); the output is one line per phase with tokens per second.

#[path = "common/llm.rs"]
mod llm;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use shapecheck::models::decoder::RuntimeDims;

struct Args {
    model: PathBuf,
    prompt: usize,
    new: usize,
    threads: Option<usize>,
}

const HELP: &str = "llama_decode: prefill and greedy decode speed of a GGUF LLaMA-family model

usage: llama_decode [--model FILE.gguf] [--prompt N] [--new N] [--threads N]

  --model FILE    the GGUF file (models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf)
  --prompt N      prompt length in tokens (128)
  --new N         tokens to decode greedily (64)
  --threads N     at most N threads per operation (all cores)
  -h, --help      this text";

fn parse() -> Result<Option<Args>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        model: PathBuf::from(llm::DEFAULT_GGUF),
        prompt: 128,
        new: 64,
        threads: None,
    };
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("model") => args.model = p.value()?.into(),
            Long("prompt") => args.prompt = p.value()?.parse()?,
            Long("new") => args.new = p.value()?.parse()?,
            Long("threads") => args.threads = Some(p.value()?.parse()?),
            Short('h') | Long("help") => return Ok(None),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Some(args))
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let (model, _) = llm::load_gguf::<RuntimeDims>(&args.model, false)?;
    let vocab = model.embedding.table().dims()[0] as u32;
    let prompt: Vec<u32> = (0..args.prompt as u32)
        .map(|i| (i * 7919 + 13) % vocab)
        .collect();
    let mut cache = model.cache();
    let t = Instant::now();
    let mut logits = model.decode_last(&mut cache, &prompt)?;
    let prefill = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..args.new {
        let next = argmax(logits.as_slice());
        logits = model.decode_last(&mut cache, &[next])?;
    }
    let decode = t.elapsed().as_secs_f64();
    println!(
        "prefill {} tokens: {:.1} tokens/s; greedy decode {} tokens: {:.1} tokens/s",
        args.prompt,
        args.prompt as f64 / prefill,
        args.new,
        args.new as f64 / decode
    );
    Ok(())
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

fn main() -> ExitCode {
    let args = match parse() {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("llama_decode: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    let result = match args.threads {
        Some(n) => shapecheck::with_threads(n, || run(&args)),
        None => run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("llama_decode: {e}");
            ExitCode::FAILURE
        }
    }
}
