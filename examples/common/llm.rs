//! What the examples of the LLaMA-family decoder share (`chat`, `llama_decode`,
//! `inside_llm`; each includes this file as a module, beside `common/mod.rs`): the GGUF
//! they run by default, and loading a decoder from a GGUF file with a line saying what
//! was loaded and how long it took.

#![allow(dead_code)] // each example uses what it needs

use std::error::Error;
use std::path::Path;
use std::time::Instant;

use shapecheck::io::Gguf;
use shapecheck::models::decoder::{Decoder, DecoderDims, DividesHeads};
use shapecheck::text::Tokenizer;

/// SmolLM2-135M-Instruct's GGUF, where `scripts/fetch-smollm2.sh` puts it.
pub const DEFAULT_GGUF: &str = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";

/// `Err` when `path` does not exist, saying how to fetch the default model when it is
/// the default path.
pub fn check_exists(path: &Path) -> Result<(), Box<dyn Error>> {
    if path.exists() {
        return Ok(());
    }
    let hint = if path == Path::new(DEFAULT_GGUF) {
        " (run scripts/fetch-smollm2.sh to fetch SmolLM2-135M-Instruct, or pass --model)"
    } else {
        ""
    };
    Err(format!("{} does not exist{hint}", path.display()).into())
}

/// The decoder of the GGUF at `path` (weights dequantized to f32) and, with
/// `with_tokenizer`, the tokenizer the file carries; prints `loaded … (N layers, f32) in
/// T s`.
pub fn load_gguf<D: DecoderDims>(
    path: &Path,
    with_tokenizer: bool,
) -> Result<(Decoder<D>, Option<Tokenizer>), Box<dyn Error>>
where
    D::KvHeads: DividesHeads<D::Heads>,
{
    check_exists(path)?;
    let t = Instant::now();
    let model = Decoder::<D>::from_gguf(path)?;
    let tokenizer = match with_tokenizer {
        true => Some(Tokenizer::from_gguf(&Gguf::open(path)?)?),
        false => None,
    };
    println!(
        "loaded {} ({} layers, f32) in {:.2} s",
        path.display(),
        model.blocks.len(),
        t.elapsed().as_secs_f64()
    );
    Ok((model, tokenizer))
}
