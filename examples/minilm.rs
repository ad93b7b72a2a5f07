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

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use shapecheck::models::minilm::{Hidden, MiniLm};
use shapecheck::prelude::*;

/// `$SHAPECHECK_MINILM_DIR`, else `models/all-MiniLM-L6-v2` in the repository (where
/// scripts/fetch-minilm.sh puts it).
fn default_dir() -> PathBuf {
    std::env::var_os("SHAPECHECK_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2"))
}

fn main() -> ExitCode {
    let mut json = false;
    let mut dir = default_dir();
    let mut sentences = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json = true,
            "--model" => match args.next() {
                Some(d) => dir = PathBuf::from(d),
                None => {
                    eprintln!("--model needs a directory");
                    return ExitCode::FAILURE;
                }
            },
            _ => sentences.push(a),
        }
    }
    if sentences.is_empty() {
        sentences = [
            "Tokens become vectors, and attention is a scaled dot product.",
            "The cat sat quietly on the warm windowsill.",
            "A feed-forward layer is a matrix multiplication followed by a nonlinearity.",
        ]
        .map(String::from)
        .to_vec();
    }
    let model = match MiniLm::load(&dir) {
        Ok(m) => m,
        Err(e) => {
            eprintln!(
                "cannot load the model from {}: {e}\nrun scripts/fetch-minilm.sh first",
                dir.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let out = match model.encode(&refs) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
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
        return ExitCode::SUCCESS;
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
    ExitCode::SUCCESS
}
