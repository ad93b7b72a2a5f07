//! Sentence embeddings with sentence-transformers/all-MiniLM-L6-v2, typed end to end: the
//! library's model (`shapecheck::models::minilm`) from the command line.
//!
//! ```text
//! scripts/fetch-minilm.sh                       # once: weights + vocab into models/
//! cargo run --release --example minilm -- "A cat sat." "A dog ran." "Matrices multiply."
//! cargo run --release --example minilm -- --json "A cat sat."
//! ```
//!
//! Prints the cosine similarity matrix of the sentences' embeddings, or with `--json`,
//! `{"input_ids": [[…], …], "embeddings": [[…], …]}` for other programs to check. The model
//! directory is `--model DIR`, else `$SHAPECHECK_MINILM_DIR`, else `models/all-MiniLM-L6-v2`.

use std::path::PathBuf;
use std::process::ExitCode;

use lexopt::prelude::*;
use shapecheck::models::minilm::{Hidden, MiniLm};
use shapecheck::prelude::*;

mod common;

const USAGE: &str = "usage: minilm [--json] [--model DIR] [SENTENCE...]";

const HELP: &str = "\
minilm: sentence embeddings with all-MiniLM-L6-v2, and their cosine similarities

usage: minilm [--json] [--model DIR] [SENTENCE...]

Prints the cosine similarity matrix of the sentences' embeddings (of three sentences of its
own when none is given).

      --json         print {\"input_ids\": [[...], ...], \"embeddings\": [[...], ...]} instead
      --model DIR    the model (default: $SHAPECHECK_MINILM_DIR, else
                     models/all-MiniLM-L6-v2, where scripts/fetch-minilm.sh puts it)
  -h, --help         this help

A sentence that starts with '-' goes after `--`.
";

/// The command line.
struct Args {
    json: bool,
    dir: PathBuf,
    sentences: Vec<String>,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    let mut a = Args {
        json: false,
        dir: common::default_minilm_dir(),
        sentences: Vec::new(),
    };
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("json") => a.json = true,
            Long("model") => a.dir = p.value()?.into(),
            Short('h') | Long("help") => common::print_help(HELP),
            Value(s) => a.sentences.push(s.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => return common::usage_error(USAGE, e),
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    Args {
        json,
        dir,
        mut sentences,
    }: Args,
) -> shapecheck::Result<()> {
    if sentences.is_empty() {
        sentences = [
            "Tokens become vectors, and attention is a scaled dot product.",
            "The cat sat quietly on the warm windowsill.",
            "A feed-forward layer is a matrix multiplication followed by a nonlinearity.",
        ]
        .map(String::from)
        .to_vec();
    }
    let model = MiniLm::load(&dir).inspect_err(|_| {
        eprintln!(
            "cannot load the model from {} (run scripts/fetch-minilm.sh first):",
            dir.display()
        )
    })?;
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let out = model.encode(&refs)?;
    if json {
        let rows = |v: Vec<String>| format!("[{}]", v.join(", "));
        let ids = out
            .input_ids
            .iter()
            .map(|r| rows(r.iter().map(u32::to_string).collect()))
            .collect();
        let emb = out
            .embeddings
            .as_tensor()
            .as_slice()
            .chunks_exact(Hidden::SIZE)
            .map(|e| rows(e.iter().map(|x| format!("{x:e}")).collect()))
            .collect();
        println!(
            "{{\"input_ids\": {}, \"embeddings\": {}}}",
            rows(ids),
            rows(emb)
        );
        return Ok(());
    }
    println!("cosine similarity of all-MiniLM-L6-v2 embeddings:");
    for (i, s) in sentences.iter().enumerate() {
        println!("  [{i}] {s}");
    }
    print!("     ");
    for j in 0..sentences.len() {
        print!("{:>7}", format!("[{j}]"));
    }
    println!();
    let sims = out.embeddings.similarity(&out.embeddings);
    for i in 0..sentences.len() {
        print!("{:>5}", format!("[{i}]"));
        for j in 0..sentences.len() {
            print!("{:>7.3}", sims[[i, j]]);
        }
        println!();
    }
    Ok(())
}
