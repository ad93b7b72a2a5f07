//! The peak extra memory of attention's forward, and of a traced forward + backward, at
//! head dim 64, measured with a counting global allocator: what is allocated beyond the
//! inputs while the step runs (the output, the log-sum-exps, the tape, the scratch blocks,
//! the gradient buffers and `Gradients` itself).
//!
//! The blocked passes never hold the `S × S` scores, so the peak grows like `S` (twice the
//! bytes from S = 1024 to 2048), and at S = 2048 it stays below one head's f32 score
//! matrix, `S²·4` bytes = 16 MiB; the same attention composed from primitive ops (scores,
//! softmax, product) is shown beside it for comparison. The example asserts both facts.
//!
//! ```text
//! cargo run --example attention_memory
//! ```

use bench_support::alloc::{peak_extra, Counting};
use shapecheck::autodiff::attention::attention_masked;
use shapecheck::autodiff::{Param, Tape};
use shapecheck::nn::attention::{self as plain, AttentionMask};
use shapecheck::prelude::*;

mod common;

const USAGE: &str = "usage: attention_memory";

const HELP: &str = "\
attention_memory: the peak extra memory of attention's forward, and of a traced forward +
backward, at head dim 64 and growing sequence lengths, beside attention composed from
primitive ops; asserts that it grows like S and stays below one head's score matrix

usage: attention_memory

  -h, --help    this help
";

#[global_allocator]
static ALLOC: Counting = Counting;

fn mib(bytes: usize) -> String {
    format!("{:.2} MiB", bytes as f64 / (1 << 20) as f64)
}

struct Peaks {
    forward: usize,
    traced_forward: usize,
    forward_backward: usize,
    composed: Option<usize>,
}

fn measure(heads: usize, s: usize, composed: bool) -> Peaks {
    let shape = (Dyn::new(heads), Dyn::new(s), Dyn::new(64));
    let q = Param::new(Tensor::<_, f32>::randn_with(shape, 1));
    let k = Param::new(Tensor::<_, f32>::randn_with(shape, 2));
    let v = Param::new(Tensor::<_, f32>::randn_with(shape, 3));
    let mask = AttentionMask::causal(0);
    let forward = peak_extra(|| plain::attention_masked(q.value(), k.value(), v.value(), &mask));
    let traced_forward = peak_extra(|| {
        let tape = Tape::new();
        let o = attention_masked(&tape.param(&q), &tape.param(&k), &tape.param(&v), &mask);
        o.is_traced() // the output and the tape are still alive here: they count
    });
    let forward_backward = peak_extra(|| {
        let tape = Tape::new();
        let o = attention_masked(&tape.param(&q), &tape.param(&k), &tape.param(&v), &mask);
        o.sum_all().backward()
    });
    let composed = composed.then(|| {
        peak_extra(|| {
            let tape = Tape::new();
            let causal =
                Tensor::<(Dyn, Dyn), f32>::from_fn_with((Dyn::new(s), Dyn::new(s)), |[i, j]| {
                    if j > i {
                        f32::NEG_INFINITY
                    } else {
                        0.0
                    }
                });
            let (qv, kv, vv) = (tape.param(&q), tape.param(&k), tape.param(&v));
            let scores = &qv.matmul(&kv.t()).scale(0.125) + &tape.constant(causal);
            scores.softmax::<2>().matmul(&vv).sum_all().backward()
        })
    });
    Peaks {
        forward,
        traced_forward,
        forward_backward,
        composed,
    }
}

fn main() {
    common::no_arguments(USAGE, HELP);
    println!("causal attention, head dim 64, f32: peak extra allocation");
    for heads in [1, 4] {
        let mut fb = Vec::new();
        for s in [1024, 2048] {
            let p = measure(heads, s, s == 2048 && heads == 1);
            let scores = heads * s * s * 4;
            println!(
                "  {heads} head(s), S = {s}: forward {}, traced forward {}, forward + backward {}{}  (one f32 score matrix per head: {})",
                mib(p.forward),
                mib(p.traced_forward),
                mib(p.forward_backward),
                p.composed
                    .map(|c| format!("; composed from primitive ops {}", mib(c)))
                    .unwrap_or_default(),
                mib(scores),
            );
            if s == 2048 {
                assert!(
                    p.forward < scores / 8,
                    "forward peak {} is not O(S·block)",
                    p.forward
                );
                assert!(
                    p.forward_backward < scores / 2,
                    "forward + backward peak {} is not O(S·block)",
                    p.forward_backward
                );
            }
            fb.push(p.forward_backward);
        }
        let ratio = fb[1] as f64 / fb[0] as f64;
        println!(
            "  {heads} head(s): forward + backward peak grows {ratio:.2}× from S = 1024 to 2048"
        );
        assert!(ratio < 2.5, "the peak grows faster than S ({ratio:.2}×)");
    }
}
