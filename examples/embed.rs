//! Embeds a corpus with all-MiniLM-L6-v2, one sentence a line, in packed batches.
//!
//! ```text
//! scripts/fetch-minilm.sh                                   # once: the model into models/
//! cargo run --release --example embed -- corpus.txt -o corpus.npy
//! cat corpus.txt | cargo run --release --example embed -- -o corpus.safetensors
//! cargo run --release --example embed -- corpus.txt --query "a storm at sea" --top 5
//! ```
//!
//! Reads the file (or standard input when it is absent or `-`), embeds the sentences in
//! batches of `--batch N` (32) as they are read, and streams the embeddings to `-o FILE`:
//! `.npy` (float32, `(N, 384)`, `np.load` reads it) or `.safetensors` (one tensor,
//! `embeddings`). With `--query "…" --top K` it prints the K sentences nearest the query by
//! cosine similarity instead (or as well, with `-o`). `--threads N` caps the threads;
//! `--model DIR` (else `$SHAPECHECK_MINILM_DIR`, else `models/all-MiniLM-L6-v2`).
//!
//! Bad input does not stop the run: empty lines are skipped, a line that is not UTF-8 is
//! reported with its number and skipped, and a sentence of more than 256 tokens is truncated
//! as sentence-transformers truncates it; each is counted. A progress line shows on a
//! terminal (on standard error) and not when piped. The run ends with one line:
//! `embedded N sentences (T tokens) in S s: X sentences/s`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use shapecheck::io::{NpyWriter, SafetensorsWriter};
use shapecheck::models::minilm::{mean_pool, Batch, Hidden, MiniLm};
use shapecheck::prelude::*;

/// The command line.
struct Args {
    input: Option<PathBuf>,
    output: Option<PathBuf>,
    model: PathBuf,
    batch: usize,
    threads: Option<usize>,
    query: Option<String>,
    top: usize,
}

const USAGE: &str = "usage: embed [FILE|-] [-o OUT.npy|OUT.safetensors] [--query TEXT [--top K]] \
                     [--batch N] [--threads N] [--model DIR]";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        input: None,
        output: None,
        model: std::env::var_os("SHAPECHECK_MINILM_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2")
            }),
        batch: 32,
        threads: None,
        query: None,
        top: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value\n{USAGE}"));
        let number = |name: &str, v: String| {
            v.parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or(format!("{name} needs a positive number, not {v:?}"))
        };
        match arg.as_str() {
            "-o" | "--output" => a.output = Some(value("-o")?.into()),
            "--model" => a.model = value("--model")?.into(),
            "--batch" => a.batch = number("--batch", value("--batch")?)?,
            "--threads" => a.threads = Some(number("--threads", value("--threads")?)?),
            "--query" => a.query = Some(value("--query")?),
            "--top" => a.top = number("--top", value("--top")?)?,
            "-h" | "--help" => return Err(USAGE.into()),
            "-" => a.input = None,
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}")),
            s if a.input.is_none() => a.input = Some(s.into()),
            s => return Err(format!("one input file only (got {s:?} too)\n{USAGE}")),
        }
    }
    if a.output.is_none() && a.query.is_none() {
        return Err(format!(
            "nothing to do: give -o OUT or --query TEXT\n{USAGE}"
        ));
    }
    Ok(a)
}

/// Where the embeddings go.
enum Sink {
    Npy(NpyWriter<BufWriter<File>>),
    /// safetensors needs the whole tensor: the rows are kept (384 floats a sentence).
    Safetensors(PathBuf, Vec<f32>),
    None,
}

impl Sink {
    fn open(path: Option<&Path>) -> Result<Sink, String> {
        let Some(path) = path else {
            return Ok(Sink::None);
        };
        let create = || {
            File::create(path)
                .map(BufWriter::new)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))
        };
        match path.extension().and_then(|e| e.to_str()) {
            Some("npy") => Ok(Sink::Npy(
                NpyWriter::new(create()?, Hidden::SIZE).map_err(|e| e.to_string())?,
            )),
            Some("safetensors") => Ok(Sink::Safetensors(path.to_owned(), Vec::new())),
            _ => Err(format!(
                "{}: the output must end in .npy or .safetensors",
                path.display()
            )),
        }
    }

    fn write(&mut self, rows: &Unit<(Batch, Hidden)>) -> Result<(), String> {
        match self {
            Sink::Npy(w) => w.write(rows.as_tensor()).map_err(|e| e.to_string()),
            Sink::Safetensors(_, all) => {
                all.extend_from_slice(rows.as_tensor().as_slice());
                Ok(())
            }
            Sink::None => Ok(()),
        }
    }

    fn finish(self) -> Result<(), String> {
        match self {
            Sink::Npy(w) => w.finish().map(drop).map_err(|e| e.to_string()),
            Sink::Safetensors(path, all) => {
                let n = all.len() / Hidden::SIZE;
                let t = Tensor::from_vec_with((Batch::new(n), Hidden), all)
                    .map_err(|e| e.to_string())?;
                let mut w = SafetensorsWriter::new();
                w.add("embeddings", &t).map_err(|e| e.to_string())?;
                w.metadata("model", "sentence-transformers/all-MiniLM-L6-v2");
                w.write(&path).map_err(|e| e.to_string())
            }
            Sink::None => Ok(()),
        }
    }
}

/// What the run saw.
#[derive(Default)]
struct Counts {
    sentences: usize,
    tokens: usize,
    empty: usize,
    not_utf8: usize,
    truncated: usize,
}

/// A progress line on standard error, drawn only when that is a terminal.
struct Progress {
    on: bool,
    total_bytes: Option<u64>,
    start: Instant,
}

impl Progress {
    fn show(&self, c: &Counts, bytes: u64) {
        if !self.on {
            return;
        }
        let rate = c.sentences as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
        let done = match self.total_bytes {
            Some(t) if t > 0 => {
                let f = (bytes as f64 / t as f64).min(1.0);
                let bar = (f * 30.0) as usize;
                format!(
                    "[{}{}] {:3.0}% ",
                    "#".repeat(bar),
                    " ".repeat(30 - bar),
                    f * 100.0
                )
            }
            _ => String::new(),
        };
        eprint!("\r{done}{} sentences, {rate:.0}/s ", c.sentences);
    }

    fn clear(&self) {
        if self.on {
            eprint!("\r{}\r", " ".repeat(70));
        }
    }
}

/// The batch being filled: its sentences' ids (and the sentences, for `--query`).
struct Pending {
    ids: Vec<Vec<u32>>,
    text: Vec<String>,
}

fn run(a: &Args) -> Result<(), String> {
    let model = MiniLm::load(&a.model).map_err(|e| {
        format!(
            "cannot load the model from {}: {e}\nrun scripts/fetch-minilm.sh first",
            a.model.display()
        )
    })?;
    let (reader, total_bytes): (Box<dyn Read>, Option<u64>) = match &a.input {
        Some(p) => {
            let f = File::open(p).map_err(|e| format!("cannot open {}: {e}", p.display()))?;
            let len = f.metadata().ok().map(|m| m.len());
            (Box::new(f), len)
        }
        None => (Box::new(io::stdin().lock()), None),
    };
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut sink = Sink::open(a.output.as_deref())?;
    let start = Instant::now();
    let progress = Progress {
        on: io::stderr().is_terminal(),
        total_bytes,
        start,
    };
    let mut c = Counts::default();
    let keep = a.query.is_some();
    let (mut kept_rows, mut kept_text) = (Vec::new(), Vec::new());
    let mut pending = Pending {
        ids: Vec::new(),
        text: Vec::new(),
    };
    let (mut line, mut number, mut bytes) = (Vec::new(), 0usize, 0u64);
    let mut flush = |pending: &mut Pending, c: &mut Counts, bytes: u64| -> Result<(), String> {
        if pending.ids.is_empty() {
            return Ok(());
        }
        let rows = mean_pool(&model.forward(&pending.ids).map_err(|e| e.to_string())?);
        sink.write(&rows)?;
        c.sentences += pending.ids.len();
        c.tokens += pending.ids.iter().map(Vec::len).sum::<usize>();
        if keep {
            kept_rows.extend_from_slice(rows.as_tensor().as_slice());
            kept_text.append(&mut pending.text);
        }
        pending.ids.clear();
        progress.show(c, bytes);
        Ok(())
    };
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("cannot read the input: {e}"))?;
        if n == 0 {
            break;
        }
        number += 1;
        bytes += n as u64;
        let text = match std::str::from_utf8(&line) {
            Ok(t) => t.trim_end_matches(['\n', '\r']),
            Err(e) => {
                progress.clear();
                eprintln!("line {number}: not UTF-8 ({e}); skipped");
                c.not_utf8 += 1;
                continue;
            }
        };
        if text.trim().is_empty() {
            c.empty += 1;
            continue;
        }
        let (ids, truncated) = model.tokenize(text);
        c.truncated += usize::from(truncated);
        pending.ids.push(ids);
        if keep {
            pending.text.push(text.to_owned());
        }
        if pending.ids.len() == a.batch {
            flush(&mut pending, &mut c, bytes)?;
        }
    }
    flush(&mut pending, &mut c, bytes)?;
    sink.finish()?;
    let secs = start.elapsed().as_secs_f64();
    progress.clear();
    if let Some(q) = &a.query {
        let corpus = Tensor::from_vec_with((Batch::new(kept_text.len()), Hidden), kept_rows)
            .map_err(|e| e.to_string())?
            .normalize();
        let query = model
            .embed(&[q.as_str()])
            .map_err(|e| e.to_string())?
            .row(0);
        let mut out = io::stdout().lock();
        for (i, cos) in corpus.top_k(&query, a.top) {
            writeln!(out, "{cos:.4}\t{}", kept_text[i]).map_err(|e| e.to_string())?;
        }
    }
    if c.empty + c.not_utf8 + c.truncated > 0 {
        eprintln!(
            "skipped {} empty and {} non-UTF-8 lines; truncated {} sentences at 256 tokens",
            c.empty, c.not_utf8, c.truncated
        );
    }
    eprintln!(
        "embedded {} sentences ({} tokens) in {secs:.4} s: {:.1} sentences/s",
        c.sentences,
        c.tokens,
        c.sentences as f64 / secs.max(1e-9)
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match args.threads {
        Some(n) => shapecheck::with_threads(n, || run(&args)),
        None => run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
