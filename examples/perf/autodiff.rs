//! autodiff: the 2-block decoder's traced forward+backward against its inference forward
//! (issue 13's goal: backward ≤ 2.2× the forward, the dense FLOP ratio being 2×; the line
//! prints `bwd/fwd` = (forward+backward − forward) / forward), and a traced matmul's
//! forward and backward (`Σ A·B`, the gradients of both operands) against the same three
//! products called by hand with matrixmultiply (`C = A·B`, `dA = dC·Bᵀ`, `dB = Aᵀ·dC`). The
//! traced side also builds its tape, allocates its outputs and moves the gradients into
//! `Gradients`; the hand side reuses its buffers.

use std::hint::black_box;

use shapecheck::autodiff::{Param, Tape};
use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
use shapecheck::prelude::*;

use bench_support::cases;
use bench_support::raw::{matmul_forward_backward, ForwardBackward};

use crate::harness::{interleave, line};

shapecheck::dim!(pub Vocab = 512; pub DModel = 256; pub Heads = 4; pub HeadDim = 64; pub Ffn = 688);
shapecheck::dim!(pub Batch; pub Seq);

pub fn run(filter: &str) {
    decoder(filter);
    matmul(filter);
}

/// `decoder/…/fwd+bwd-vs-fwd`: the same cases as `benches/autodiff.rs`; ratio is the time
/// of forward+backward over the time of the forward (so backward/forward = ratio − 1).
fn decoder(filter: &str) {
    const BATCH: usize = 8;
    const SEQ: usize = 128;
    let config = DecoderConfig {
        layers: 2,
        ..DecoderConfig::default()
    };
    let model = Decoder::<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>>::init(config, 1);
    let ids: Vec<u32> = (0..BATCH * SEQ)
        .map(|i| ((i * 37 + 11) % 512) as u32)
        .collect();
    let targets: Vec<u32> = (0..BATCH * SEQ)
        .map(|i| ((i * 53 + 5) % 512) as u32)
        .collect();
    let shape = (Batch::new(BATCH), Seq::new(SEQ));
    for threads in [1, shapecheck::max_threads()] {
        let case = format!("autodiff/decoder/2x256x4h/b{BATCH}s{SEQ}/{threads}-threads");
        if !case.contains(filter) {
            continue;
        }
        let (fwd, step, _) = shapecheck::with_threads(threads, || {
            interleave(
                || drop(black_box(model.logits(shape, &ids).unwrap())),
                || {
                    let tape = Tape::new();
                    let loss = model.loss(&tape, shape, &ids, &targets).unwrap();
                    black_box(loss.backward());
                },
            )
        });
        let tokens = (BATCH * SEQ) as f64;
        println!(
            "{case} forward={:.2}ms ({:.0} tok/s) forward+backward={:.2}ms ({:.0} tok/s) fwd+bwd/fwd={:.3} bwd/fwd={:.3}",
            1e3 / fwd,
            fwd * tokens,
            1e3 / step,
            step * tokens,
            fwd / step,
            fwd / step - 1.0
        );
    }
}

fn matmul(filter: &str) {
    for n in cases::MATMUL_BACKWARD {
        let case = cases::matmul_backward_group(n);
        if !case.contains(filter) {
            continue;
        }
        let shape = (Dyn::new(n), Dyn::new(n));
        let a = Param::new(Tensor::<_, f32>::randn_with(shape, 1));
        let b = Param::new(Tensor::<_, f32>::randn_with(shape, 2));
        let mut bufs = ForwardBackward::new(n, n, n);
        let r = interleave(
            || {
                let tape = Tape::new();
                let loss = tape.param(&a).matmul(&tape.param(&b)).sum_all();
                black_box(loss.backward());
            },
            || {
                black_box(matmul_forward_backward(
                    (n, n, n),
                    a.value().as_slice(),
                    b.value().as_slice(),
                    &mut bufs,
                ));
            },
        );
        line(&case, 3.0 * 2.0 * (n * n * n) as f64, r);
    }
}
