//! A performance summary (2–3 minutes on 2 cores): each case runs shapecheck and a baseline
//! in alternating rounds, so both see the same machine state, and prints
//! `<case> shapecheck=<throughput> raw=<throughput> ratio=<shapecheck/raw>` from the medians.
//! `…/into` cases write into a reused output (`matmul_into`), as the baseline does; the
//! others allocate their result. The `control` line times the baseline against itself: the
//! noise floor of the machine.
//!
//! Run with `cargo run --release --example perf` (optionally a filter: `-- f64`). The cases
//! and the hand-written baselines are the criterion benches' own, from the `bench-support`
//! crate; the MiniLM line runs the library's model (`shapecheck::models::minilm`).

use std::process::ExitCode;

use lexopt::prelude::*;

mod attention;
mod autodiff;
#[path = "../common/mod.rs"]
mod common;
mod decode;
mod einsum;
mod elementwise;
mod gemm;
mod harness;
mod linalg;
mod matmul;
mod minilm;
#[cfg(feature = "llm")]
mod quant;
mod train;

const USAGE: &str = "usage: perf [FILTER]";

const HELP: &str = "\
perf: shapecheck against hand-written baselines and peers, in alternating rounds

usage: perf [FILTER]

Prints `<case> shapecheck=<throughput> raw=<throughput> ratio=<shapecheck/raw>` from the
medians, for every case whose name contains FILTER (all cases when it is absent; the whole
run takes 2-3 minutes on 2 cores). Build with --release.

  -h, --help    this help
";

/// The filter: the one optional argument.
fn parse_args() -> Result<String, lexopt::Error> {
    let (mut filter, mut p) = (None, lexopt::Parser::from_env());
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => common::print_help(HELP),
            Value(v) if filter.is_none() => filter = Some(v.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(filter.unwrap_or_default())
}

fn main() -> ExitCode {
    let filter = match parse_args() {
        Ok(f) => f,
        Err(e) => return common::usage_error(USAGE, e),
    };
    println!(
        "# shapecheck perf: medians of {} alternating rounds; {} cores",
        harness::ROUNDS,
        shapecheck::max_threads()
    );
    matmul::run(&filter);
    elementwise::run(&filter);
    einsum::run(&filter);
    linalg::run(&filter);
    attention::run(&filter);
    autodiff::run(&filter);
    minilm::run(&filter);
    train::run(&filter);
    gemm::run(&filter);
    decode::run(&filter);
    #[cfg(feature = "llm")]
    quant::run(&filter);
    ExitCode::SUCCESS
}
