//! What the examples' command lines share (each example includes this file as a module):
//! `-h`/`--help` prints the example's help on standard output and exits with 0; a usage
//! error (an unknown flag, a missing or malformed value) prints the error and the usage line
//! on standard error and exits with 2, as command-line tools do. The arguments are read with
//! lexopt, a dev-dependency of one small file.

#![allow(dead_code)] // each example uses what it needs

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use lexopt::ValueExt as _;

/// The exit code of a usage error (as clap, getopt-based tools and BSD's sysexits use).
pub const USAGE_EXIT: u8 = 2;

/// The MiniLM model's directory when `--model` is not given: `$SHAPECHECK_MINILM_DIR`, else
/// `models/all-MiniLM-L6-v2` in the repository (where scripts/fetch-minilm.sh puts it).
pub fn default_minilm_dir() -> PathBuf {
    std::env::var_os("SHAPECHECK_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2"))
}

/// Prints `help` and ends the process with success.
pub fn print_help(help: &str) -> ! {
    print!("{help}");
    std::process::exit(0)
}

/// A usage error: `error: …`, the usage line and a pointer to `--help` on standard error;
/// exit code 2.
pub fn usage_error(usage: &str, e: impl Display) -> ExitCode {
    eprintln!("error: {e}\n{usage}\nRun with --help for the options.");
    ExitCode::from(USAGE_EXIT)
}

/// The value of the option just read, as a number greater than 0.
/// An example's `main`: its arguments parsed (a usage error exits with 2), then run; an
/// error from the run is printed after `prefix` and exits with 1.
pub fn run_main<A, E: Display>(
    usage: &str,
    prefix: &str,
    parse: impl FnOnce() -> Result<A, lexopt::Error>,
    run: impl FnOnce(&A) -> Result<(), E>,
) -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => return usage_error(usage, e),
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{prefix}: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn positive(parser: &mut lexopt::Parser, option: &str) -> Result<usize, lexopt::Error> {
    let v = parser.value()?;
    let v = v.string()?;
    v.parse::<usize>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{option} needs a positive number, not {v:?}").into())
}

/// For an example that takes no arguments: `--help` prints `help`; anything else is a usage
/// error, which ends the process with exit code 2.
pub fn no_arguments(usage: &str, help: &str) {
    let mut parser = lexopt::Parser::from_env();
    let e = match parser.next() {
        Ok(None) => return,
        Ok(Some(lexopt::Arg::Short('h') | lexopt::Arg::Long("help"))) => print_help(help),
        Ok(Some(arg)) => arg.unexpected(),
        Err(e) => e,
    };
    usage_error(usage, e);
    std::process::exit(USAGE_EXIT.into())
}
