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

mod attention;
mod autodiff;
mod einsum;
mod elementwise;
mod gemm;
mod harness;
mod linalg;
mod matmul;
mod minilm;
mod train;

fn main() {
    let filter = std::env::args().nth(1).unwrap_or_default();
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
}
