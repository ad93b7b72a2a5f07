//! The perplexity of a LLaMA-family model on a text, scored as llama.cpp's
//! `llama-perplexity` scores it: the text's tokens cut into chunks of `--ctx` tokens (the
//! rest dropped), each chunk run alone from an empty cache, and the negative
//! log-likelihood of each token of the chunk's second half given all before it in the
//! chunk (positions `ctx/2 .. ctx − 1` predicting the next), averaged over every chunk.
//! `scripts/perplexity_llamacpp.py` computes the same with llama-cpp-python on the same
//! GGUF, so the figures sit side by side.
//!
//! ```text
//! cargo run --release --example perplexity -- --dtype stored     # the GGUF's own Q4_1/Q8_0
//! cargo run --release --example perplexity -- --dtype f32        # dequantized at load
//! cargo run --release --example perplexity -- --dtype bf16 --ctx 256 --text FILE
//! ```

#[path = "common/mod.rs"]
mod common;

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use shapecheck::io::Gguf;
use shapecheck::models::decoder::{Decoder, DecoderDims, RuntimeDims};
use shapecheck::nn::stored::Stored;
use shapecheck::prelude::*;
use shapecheck::quant::{LoadDtype, QuantKernel};
use shapecheck::text::Tokenizer;

#[path = "common/llm.rs"]
mod llm;

const USAGE: &str = "usage: perplexity [--model FILE.gguf] [--text FILE] [--ctx N] \
                     [--dtype stored|f32|bf16|f16|q8_0|q4_0|q4_1] [--f32-activations]";

const HELP: &str = "perplexity: a model's perplexity on a text, chunked as llama-perplexity does

usage: perplexity [OPTIONS]

options:
  --model FILE.gguf   default models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
  --text FILE         default data/perplexity/lighthouse.txt
  --ctx N             tokens per chunk (default 512); each chunk's second half is scored
  --dtype T           the weights in memory: stored (the file's types, default), f32,
                      bf16, f16, q8_0, q4_0, q4_1 (converted at load; a file in Q5_0,
                      Q5_1 or k-quants, a Q4_K_M, needs one of these)
  --f32-activations   keep the activations f32 in the block products (by default they are
                      rounded to 8 bits per block of 32, as llama.cpp does)
  -h, --help          this help";

struct Args {
    model: PathBuf,
    text: PathBuf,
    ctx: usize,
    dtype: LoadDtype,
    f32_activations: bool,
}

fn parse() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        model: PathBuf::from(llm::DEFAULT_GGUF),
        text: PathBuf::from("data/perplexity/lighthouse.txt"),
        ctx: 512,
        dtype: LoadDtype::Stored,
        f32_activations: false,
    };
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("model") => args.model = p.value()?.into(),
            Long("text") => args.text = p.value()?.into(),
            Long("ctx") => args.ctx = common::positive(&mut p, "--ctx")?,
            Long("dtype") => args.dtype = p.value()?.parse()?,
            Long("f32-activations") => args.f32_activations = true,
            Short('h') | Long("help") => common::print_help(HELP),
            _ => return Err(arg.unexpected()),
        }
    }
    if args.ctx < 4 {
        return Err("--ctx must be at least 4".into());
    }
    Ok(args)
}

/// `−log softmax(row)[target]`, in f64.
fn nll(row: &[f32], target: usize) -> f64 {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) as f64;
    let sum: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
    max + sum.ln() - row[target] as f64
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    llm::check_exists(&args.model)?;
    let t = Instant::now();
    let file = Gguf::open(&args.model)?;
    let mut model =
        Decoder::<RuntimeDims, f32, Stored>::from_gguf_file_with(&file, &args.model, args.dtype)?;
    if args.f32_activations {
        model.set_quant_kernel(QuantKernel::DequantF32);
    }
    let tokenizer = Tokenizer::from_gguf(&file)?;
    drop(file);
    eprintln!(
        "loaded {} (weights {:?}: {:.1} MB) in {:.2} s",
        args.model.display(),
        args.dtype,
        model.weight_bytes() as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let text = std::fs::read_to_string(&args.text)
        .map_err(|e| format!("cannot read {}: {e}", args.text.display()))?;
    let mut tokens = tokenizer.encode(&text, true)?;
    // llama-perplexity puts the BOS token first in every chunk when the vocabulary adds
    // one; SmolLM2's does not.
    let plain = tokenizer.encode(&text, false)?;
    let bos = tokenizer
        .bos_id()
        .filter(|&b| tokens.first() == Some(&b) && plain.first() != Some(&b));
    let n = args.ctx;
    let chunks = tokens.len() / n;
    if chunks == 0 {
        return Err(format!("{} tokens: fewer than one chunk of {n}", tokens.len()).into());
    }
    let (first, vocab) = (n / 2, model.dims().vocab().size());
    let (mut total, mut count) = (0f64, 0usize);
    let t = Instant::now();
    for c in 0..chunks {
        let chunk = &mut tokens[c * n..(c + 1) * n];
        if let Some(b) = bos {
            chunk[0] = b;
        }
        let logits = model.logits((Dyn::new(1), Dyn::new(n)), chunk)?;
        let l = logits.as_slice();
        for j in first..n - 1 {
            total += nll(&l[j * vocab..(j + 1) * vocab], chunk[j + 1] as usize);
            count += 1;
        }
        eprintln!("[{}] {:.4}", c + 1, (total / count as f64).exp());
    }
    println!(
        "perplexity {:.4} over {chunks} chunks of {n} tokens ({count} scored, {} tokens in \
         the text), {:.1} s",
        (total / count as f64).exp(),
        tokens.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> ExitCode {
    common::run_main(USAGE, "perplexity", parse, run)
}
