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

use lexopt::prelude::*;
use shapecheck::io::{NpyWriter, SafetensorsWriter};
use shapecheck::models::minilm::{mean_pool, Batch, Hidden, MiniLm};
use shapecheck::prelude::*;

mod common;

/// The command line.
#[derive(Debug)]
struct Args {
    input: Option<PathBuf>,
    output: Option<PathBuf>,
    line_numbers: Option<PathBuf>,
    model: PathBuf,
    batch: usize,
    threads: Option<usize>,
    query: Option<String>,
    top: usize,
}

const USAGE: &str = "usage: embed [FILE|-] [-o OUT.npy|OUT.safetensors] [--line-numbers OUT.txt] \
                     [--query TEXT [--top K]] [--batch N] [--threads N] [--model DIR]";

const HELP: &str = "\
embed: sentence embeddings of a corpus with all-MiniLM-L6-v2, one sentence a line

usage: embed [FILE|-] [-o OUT.npy|OUT.safetensors] [--line-numbers OUT.txt]
             [--query TEXT [--top K]] [--batch N] [--threads N] [--model DIR]

Reads FILE (standard input when it is absent or -), embeds its lines in packed batches as
they are read, and streams the embeddings to OUT. Give -o, --query or both.

  FILE                      the corpus, one sentence a line (default: standard input)
  -o, --output OUT          the embeddings: OUT.npy (float32, (N, 384), np.load reads it)
                            or OUT.safetensors (one tensor, `embeddings`)
      --line-numbers OUT    beside them, the input line number (counted from 1) of each
                            row, one a line: row i of OUT is the sentence of line i of this
                            file, since empty and non-UTF-8 lines have no row
      --query TEXT          print the K sentences nearest TEXT by cosine similarity
      --top K               how many (default 5)
      --batch N             sentences per batch (default 32)
      --threads N           use at most N threads (default: all cores)
      --model DIR           the model (default: $SHAPECHECK_MINILM_DIR, else
                            models/all-MiniLM-L6-v2, where scripts/fetch-minilm.sh puts it)
  -h, --help                this help

Empty lines are skipped, a line that is not UTF-8 is reported with its number and skipped,
and a sentence of more than 256 tokens is truncated as sentence-transformers truncates it;
each is counted. An output that is the input file (or another output) is refused before
anything is written.
";

/// The arguments of the command line (without the program's name), checked: an unknown
/// flag, a missing or malformed value, an output of another kind than `.npy` or
/// `.safetensors`, or an output that would overwrite the input is an `Err`.
fn parse_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Args, lexopt::Error> {
    let mut a = Args {
        input: None,
        output: None,
        line_numbers: None,
        model: common::default_minilm_dir(),
        batch: 32,
        threads: None,
        query: None,
        top: 5,
    };
    let (mut input_given, mut p) = (false, lexopt::Parser::from_args(args));
    while let Some(arg) = p.next()? {
        match arg {
            Short('o') | Long("output") => a.output = Some(p.value()?.into()),
            Long("line-numbers") => a.line_numbers = Some(p.value()?.into()),
            Long("model") => a.model = p.value()?.into(),
            Long("batch") => a.batch = common::positive(&mut p, "--batch")?,
            Long("threads") => a.threads = Some(common::positive(&mut p, "--threads")?),
            Long("query") => a.query = Some(p.value()?.string()?),
            Long("top") => a.top = common::positive(&mut p, "--top")?,
            Short('h') | Long("help") => common::print_help(HELP),
            Value(v) if !input_given => {
                input_given = true;
                a.input = (v != "-").then(|| v.into());
            }
            Value(v) => return Err(format!("one input file only (got {v:?} too)").into()),
            _ => return Err(arg.unexpected()),
        }
    }
    if a.output.is_none() && a.query.is_none() {
        return Err("nothing to do: give -o OUT or --query TEXT".into());
    }
    if let Some(out) = &a.output {
        if !matches!(
            out.extension().and_then(|e| e.to_str()),
            Some("npy" | "safetensors")
        ) {
            return Err(format!(
                "{}: the output must end in .npy or .safetensors",
                out.display()
            )
            .into());
        }
    }
    let mut files: Vec<(&str, &Path)> = Vec::new();
    files.extend(a.input.as_deref().map(|p| ("the input", p)));
    files.extend(a.output.as_deref().map(|p| ("the output", p)));
    files.extend(a.line_numbers.as_deref().map(|p| ("--line-numbers", p)));
    for (i, (what, path)) in files.iter().enumerate() {
        for (other, other_path) in &files[i + 1..] {
            if same_file(path, other_path) {
                return Err(format!(
                    "{other} {} is the same file as {what} {}: writing it would destroy \
                     {what}; choose another path",
                    other_path.display(),
                    path.display()
                )
                .into());
            }
        }
    }
    Ok(a)
}

/// Whether `a` and `b` name one file, whether or not it exists yet: the same path spelled
/// two ways (`x.npy`, `./x.npy`), a symbolic link to it, or on Unix a hard link.
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        use std::os::unix::fs::MetadataExt;
        return ma.dev() == mb.dev() && ma.ino() == mb.ino();
    }
    // The file's canonical path, or its directory's joined with its name when it does not
    // exist yet.
    let resolved = |p: &Path| {
        std::fs::canonicalize(p).ok().or_else(|| {
            let dir = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            Some(std::fs::canonicalize(dir).ok()?.join(p.file_name()?))
        })
    };
    match (resolved(a), resolved(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Where the embeddings go.
enum Sink {
    Npy(NpyWriter<BufWriter<File>>),
    /// safetensors needs the whole tensor: the rows are kept (384 floats a sentence).
    Safetensors(PathBuf, Vec<f32>),
    None,
}

/// Adds the path to a failed file operation's message (the OS's message names none).
fn with_path<'a>(what: &'a str, path: &'a Path) -> impl FnOnce(io::Error) -> io::Error + 'a {
    move |e| io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// A new file for buffered writing.
fn create(path: &Path) -> io::Result<BufWriter<File>> {
    File::create(path)
        .map(BufWriter::new)
        .map_err(with_path("cannot create", path))
}

impl Sink {
    /// The sink of `path`, whose extension `parse_args` has checked.
    fn open(path: Option<&Path>) -> shapecheck::Result<Sink> {
        Ok(match path {
            None => Sink::None,
            Some(p) if p.extension().is_some_and(|e| e == "npy") => {
                Sink::Npy(NpyWriter::new(create(p)?, Hidden::SIZE)?)
            }
            Some(p) => Sink::Safetensors(p.to_owned(), Vec::new()),
        })
    }

    fn write(&mut self, rows: &Unit<(Batch, Hidden)>) -> shapecheck::Result<()> {
        match self {
            Sink::Npy(w) => w.write(rows.as_tensor())?,
            Sink::Safetensors(_, all) => all.extend_from_slice(rows.as_tensor().as_slice()),
            Sink::None => {}
        }
        Ok(())
    }

    fn finish(self) -> shapecheck::Result<()> {
        match self {
            Sink::Npy(w) => drop(w.finish()?),
            Sink::Safetensors(path, all) => {
                let n = all.len() / Hidden::SIZE;
                let t = Tensor::from_vec_with((Batch::new(n), Hidden), all)?;
                let mut w = SafetensorsWriter::new();
                w.add("embeddings", &t)?;
                w.metadata("model", "sentence-transformers/all-MiniLM-L6-v2");
                w.write(&path)?;
            }
            Sink::None => {}
        }
        Ok(())
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

/// The batch being filled: its sentences' ids, their input line numbers (for
/// `--line-numbers`) and the sentences (for `--query`).
#[derive(Default)]
struct Pending {
    ids: Vec<Vec<u32>>,
    lines: Vec<usize>,
    text: Vec<String>,
}

/// Reads `input` line by line and calls `sentence(number, text)` for each line that holds a
/// sentence, `number` counted from 1 over every line read; empty lines and lines that are
/// not UTF-8 are counted in `c` and skipped (the latter reported on standard error with
/// their number). `sentence` is also given the bytes read so far; the total is returned.
fn sentences(
    input: &mut impl BufRead,
    c: &mut Counts,
    progress: &Progress,
    mut sentence: impl FnMut(usize, &str, &mut Counts, u64) -> shapecheck::Result<()>,
) -> shapecheck::Result<u64> {
    let (mut line, mut number, mut bytes) = (Vec::new(), 0usize, 0u64);
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot read the input: {e}")))?;
        if n == 0 {
            return Ok(bytes);
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
        sentence(number, text, c, bytes)?;
    }
}

fn run(a: &Args) -> shapecheck::Result<()> {
    let model = MiniLm::load(&a.model).inspect_err(|_| {
        eprintln!(
            "cannot load the model from {} (run scripts/fetch-minilm.sh first):",
            a.model.display()
        )
    })?;
    let (reader, total_bytes): (Box<dyn Read>, Option<u64>) = match &a.input {
        Some(p) => {
            let f = File::open(p).map_err(with_path("cannot open", p))?;
            let len = f.metadata().ok().map(|m| m.len());
            (Box::new(f), len)
        }
        None => (Box::new(io::stdin().lock()), None),
    };
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut sink = Sink::open(a.output.as_deref())?;
    let mut line_numbers = match &a.line_numbers {
        Some(p) => Some((create(p)?, p.as_path())),
        None => None,
    };
    let start = Instant::now();
    let progress = Progress {
        on: io::stderr().is_terminal(),
        total_bytes,
        start,
    };
    let mut c = Counts::default();
    let keep = a.query.is_some();
    let (mut kept_rows, mut kept_text) = (Vec::new(), Vec::new());
    let mut pending = Pending::default();
    let mut flush = |pending: &mut Pending, c: &mut Counts, bytes: u64| -> shapecheck::Result<()> {
        if pending.ids.is_empty() {
            return Ok(());
        }
        let rows = mean_pool(&model.forward(&pending.ids)?);
        sink.write(&rows)?;
        if let Some((out, path)) = &mut line_numbers {
            for n in &pending.lines {
                writeln!(out, "{n}").map_err(with_path("cannot write", path))?;
            }
        }
        c.sentences += pending.ids.len();
        c.tokens += pending.ids.iter().map(Vec::len).sum::<usize>();
        if keep {
            kept_rows.extend_from_slice(rows.as_tensor().as_slice());
            kept_text.append(&mut pending.text);
        }
        pending.ids.clear();
        pending.lines.clear();
        progress.show(c, bytes);
        Ok(())
    };
    let bytes = sentences(&mut reader, &mut c, &progress, |number, text, c, bytes| {
        let (ids, truncated) = model.tokenize(text);
        c.truncated += usize::from(truncated);
        pending.ids.push(ids);
        pending.lines.push(number);
        if keep {
            pending.text.push(text.to_owned());
        }
        if pending.ids.len() == a.batch {
            flush(&mut pending, c, bytes)?;
        }
        Ok(())
    })?;
    flush(&mut pending, &mut c, bytes)?;
    sink.finish()?;
    if let Some((mut out, path)) = line_numbers {
        out.flush().map_err(with_path("cannot write", path))?;
    }
    let secs = start.elapsed().as_secs_f64();
    progress.clear();
    if let Some(q) = &a.query {
        let corpus =
            Tensor::from_vec_with((Batch::new(kept_text.len()), Hidden), kept_rows)?.normalize();
        let query = model.embed(&[q.as_str()])?.row(0);
        let mut out = io::stdout().lock();
        for (i, cos) in corpus.top_k(&query, a.top) {
            writeln!(out, "{cos:.4}\t{}", kept_text[i])?;
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
    let args = match parse_args(std::env::args_os().skip(1)) {
        Ok(a) => a,
        Err(e) => return common::usage_error(USAGE, e),
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

// `cargo test --example embed` (and `cargo test`, by `test = true` in Cargo.toml): the
// command line, the refusal to overwrite the input, and the line number of every row.
#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory of the temp dir for one test.
    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("shapecheck-embed-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn parse(args: &[&Path]) -> Result<Args, String> {
        parse_args(args.iter().map(|a| a.as_os_str().to_owned())).map_err(|e| e.to_string())
    }

    fn parse_str(args: &[&str]) -> Result<Args, String> {
        parse(&args.iter().map(Path::new).collect::<Vec<_>>())
    }

    #[test]
    fn an_output_over_the_input_is_refused_before_anything_is_written() {
        let dir = scratch("same");
        let input = dir.join("x.npy");
        std::fs::write(&input, "a sentence\n").unwrap();
        let o = Path::new("-o");
        // The same path, spelled another way, through a symbolic link, or a hard link.
        let spelled = dir.join(".").join("x.npy");
        let mut same = vec![input.clone(), spelled];
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&input, dir.join("link.npy")).unwrap();
            std::fs::hard_link(&input, dir.join("hard.npy")).unwrap();
            same.push(dir.join("link.npy"));
            same.push(dir.join("hard.npy"));
        }
        for out in &same {
            let err = parse(&[&input, o, out]).unwrap_err();
            assert!(
                err.contains("is the same file as the input") && err.contains("x.npy"),
                "{}: {err}",
                out.display()
            );
        }
        // The line numbers may not land on the input or the output either, even when the
        // output does not exist yet.
        let new = dir.join("new.npy");
        let err = parse(&[
            &input,
            o,
            &new,
            Path::new("--line-numbers"),
            &dir.join(".").join("new.npy"),
        ])
        .unwrap_err();
        assert!(
            err.contains("--line-numbers") && err.contains("the output"),
            "{err}"
        );
        let err = parse(&[&input, Path::new("--line-numbers"), &input, o, &new]).unwrap_err();
        assert!(err.contains("--line-numbers"), "{err}");
        assert_eq!(std::fs::read_to_string(&input).unwrap(), "a sentence\n");
        // Another file is fine.
        let a = parse(&[
            &input,
            o,
            &new,
            Path::new("--line-numbers"),
            &dir.join("n.txt"),
        ])
        .unwrap();
        assert_eq!(a.output.as_deref(), Some(new.as_path()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unknown_flags_and_bad_values_are_usage_errors() {
        assert_eq!(
            parse_str(&["c.txt", "-o", "c.npy", "--bogus"]).unwrap_err(),
            "invalid option '--bogus'"
        );
        assert_eq!(
            parse_str(&["c.txt", "-o", "c.npy", "--batch", "0"]).unwrap_err(),
            "--batch needs a positive number, not \"0\""
        );
        assert_eq!(
            parse_str(&["c.txt", "-o"]).unwrap_err(),
            "missing argument for option '-o'"
        );
        assert!(parse_str(&["c.txt", "-o", "c.csv"])
            .unwrap_err()
            .contains("must end in .npy or .safetensors"));
        assert!(parse_str(&["c.txt"])
            .unwrap_err()
            .starts_with("nothing to do"));
        assert!(parse_str(&["a.txt", "b.txt", "-o", "c.npy"])
            .unwrap_err()
            .starts_with("one input file only"));
        // Every flag of before is still there, with its meaning.
        let a = parse_str(&[
            "-",
            "--output",
            "c.safetensors",
            "--model",
            "m",
            "--batch",
            "8",
            "--threads",
            "2",
            "--query",
            "-a query-",
            "--top",
            "3",
        ])
        .unwrap();
        assert_eq!(a.input, None);
        assert_eq!(a.output.as_deref(), Some(Path::new("c.safetensors")));
        assert_eq!(a.model, Path::new("m"));
        assert_eq!((a.batch, a.threads, a.top), (8, Some(2), 3));
        assert_eq!(a.query.as_deref(), Some("-a query-"));
    }

    /// The line numbers and sentences `sentences` yields for `input`, and what it counted.
    fn read(input: &[u8]) -> (Vec<(usize, String)>, Counts, u64) {
        let progress = Progress {
            on: false,
            total_bytes: None,
            start: Instant::now(),
        };
        let (mut seen, mut c) = (Vec::new(), Counts::default());
        let bytes = sentences(&mut &input[..], &mut c, &progress, |n, text, _, _| {
            seen.push((n, text.to_owned()));
            Ok(())
        })
        .unwrap();
        (seen, c, bytes)
    }

    #[test]
    fn skipped_lines_keep_the_line_numbers_of_the_others() {
        let input = b"first\n\n\xff\xfe bad\nsecond\r\n   \nthird";
        let (seen, c, bytes) = read(input);
        assert_eq!(
            seen,
            [
                (1, "first".into()),
                (4, "second".into()),
                (6, "third".into())
            ]
        );
        assert_eq!((c.empty, c.not_utf8), (2, 1));
        assert_eq!(bytes, input.len() as u64);
    }

    /// The shape and the values of an `.npy` file that `NpyWriter` wrote.
    fn read_npy(bytes: &[u8]) -> (String, Vec<f32>) {
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        let header = String::from_utf8_lossy(&bytes[10..10 + header_len]);
        let shape = header.split("'shape': ").nth(1).unwrap();
        let shape = shape[..shape.find(')').unwrap() + 1].to_owned();
        let values = bytes[10 + header_len..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        (shape, values)
    }

    #[test]
    fn every_row_is_written_beside_its_input_line_number() {
        let a = parse_str(&["-", "-o", "unused.npy"]).unwrap();
        if !a.model.join("model.safetensors").is_file() {
            let msg = format!(
                "the all-MiniLM-L6-v2 model not found at {}: run scripts/fetch-minilm.sh",
                a.model.display()
            );
            assert!(std::env::var("CI").map_or(true, |v| v != "true"), "{msg}");
            eprintln!("note: skipping: {msg}");
            return;
        }
        let dir = scratch("rows");
        let corpus = dir.join("corpus.txt");
        std::fs::write(
            &corpus,
            b"A cat sat.\n\n\xff\nThe sea was calm.\r\n  \nDogs bark.\n",
        )
        .unwrap();
        let (out, lines) = (dir.join("out.npy"), dir.join("lines.txt"));
        let a = parse(&[
            &corpus,
            Path::new("-o"),
            &out,
            Path::new("--line-numbers"),
            &lines,
        ])
        .unwrap();
        run(&a).unwrap();
        assert_eq!(std::fs::read_to_string(&lines).unwrap(), "1\n4\n6\n");
        let (shape, values) = read_npy(&std::fs::read(&out).unwrap());
        assert_eq!(shape, "(3, 384)");
        // Row 1 is the sentence of line 4.
        let model = MiniLm::load(&a.model).unwrap();
        let alone = model.embed(&["The sea was calm."]).unwrap();
        let row = &values[384..768];
        let d = row
            .iter()
            .zip(alone.as_tensor().as_slice())
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(d < 1e-5, "row 1 differs from line 4's embedding by {d}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
