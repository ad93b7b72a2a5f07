//! train: one training step of the 2-block decoder of `benches/autodiff.rs` (d = 256, 4 heads
//! of 64, SwiGLU FFN of 688, vocab 512, untied head) on a batch of 8 × 128 tokens: the traced
//! forward, the cross-entropy's backward, and an AdamW step over every parameter. Median
//! over rounds, on 1 thread and on 2:
//! `train/f32/2x256x4h/b8s128/step/<n>-thread(s) steps/s=<…> tokens/s=<…> ms=<…> peak_step_mib=<…>`.
//!
//! A second line per thread count times the AdamW update alone (over every parameter, with
//! one step's gradients), the part of the step outside the traced graph:
//! `train/f32/2x256x4h/b8s128/adamw/<n>-thread(s) ms=<…>`.
//!
//! `peak_step_mib` (on the 1-thread line) is how far the resident set's high-water mark
//! rises above the initialised model during its first step — activations, gradients and
//! AdamW's state — measured by resetting the mark (Linux's `/proc/self/clear_refs`; `n/a`
//! elsewhere). Run the section alone (`-- train`) for this figure: memory that earlier
//! sections freed but the allocator kept resident would be reused, and not counted.
//!
//! The PyTorch side (eager, 1 thread, the same model and step) is
//! `scripts/bench_train_torch.py`, which runs this section (or reads its output) and
//! prints both figures and the ratio.

use std::hint::black_box;
use std::time::Instant;

use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
use shapecheck::optim::{AdamW, AdamWConfig, Optimizer};
use shapecheck::prelude::*;

shapecheck::dim!(pub Vocab = 512; pub DModel = 256; pub Heads = 4; pub HeadDim = 64; pub Ffn = 688);
shapecheck::dim!(pub Batch; pub Seq);

const BATCH: usize = 8;
const SEQ: usize = 128;
const ROUNDS: usize = 11;

type Model = Decoder<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>>;

/// The resident set's high-water mark, in kiB (`VmHWM`), where Linux reports it.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets `VmHWM` to the current resident set (Linux ≥ 4.0).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn step(model: &mut Model, opt: &mut AdamW<f32>, ids: &[u32], targets: &[u32]) {
    let shape = (Batch::new(BATCH), Seq::new(SEQ));
    let tape = Tape::new();
    let loss = model.loss(&tape, shape, ids, targets).expect("valid ids");
    let grads = loss.backward();
    let loss = loss.item();
    drop(tape);
    opt.step_with_loss(loss, &mut model.params_mut(), &grads)
        .expect("finite");
    black_box(&model.norm);
}

pub fn run(filter: &str) {
    let case = format!("train/f32/2x256x4h/b{BATCH}s{SEQ}/step");
    let label = |threads: usize| if threads == 1 { "thread" } else { "threads" };
    // A filter naming one thread count (`step/2-threads`, for a profile) runs that one.
    let counts: Vec<usize> = [1, 2]
        .into_iter()
        .filter(|&t| format!("{case}/{t}-{}", label(t)).contains(filter))
        .collect();
    if counts.is_empty() {
        return;
    }
    let config = DecoderConfig {
        layers: 2,
        ..DecoderConfig::default()
    };
    let ids: Vec<u32> = (0..BATCH * SEQ)
        .map(|i| ((i * 37 + 11) % 512) as u32)
        .collect();
    let targets: Vec<u32> = (0..BATCH * SEQ)
        .map(|i| ((i * 53 + 5) % 512) as u32)
        .collect();
    for threads in counts {
        let mut model = Model::init(config, 1);
        // A small rate: the same work per step, and the model stays finite for any count.
        let mut opt = AdamW::new(AdamWConfig {
            lr: 1e-5,
            ..AdamWConfig::default()
        })
        .expect("valid config");
        let (times, peak, update) = shapecheck::with_threads(threads, || {
            // The first step allocates the optimizer's state too: its peak above the
            // model's resident size is the memory a step needs.
            let peak = match (threads == 1 && reset_peak(), rss_kib()) {
                (true, Some(before)) => {
                    step(&mut model, &mut opt, &ids, &targets);
                    peak_rss_kib().map(|p| p.saturating_sub(before))
                }
                _ => {
                    step(&mut model, &mut opt, &ids, &targets);
                    None
                }
            };
            let mut times: Vec<f64> = (0..ROUNDS)
                .map(|_| {
                    let t = Instant::now();
                    step(&mut model, &mut opt, &ids, &targets);
                    t.elapsed().as_secs_f64()
                })
                .collect();
            times.sort_by(f64::total_cmp);
            let tape = Tape::new();
            let shape = (Batch::new(BATCH), Seq::new(SEQ));
            let loss = model.loss(&tape, shape, &ids, &targets).expect("valid ids");
            let grads = loss.backward();
            drop(tape);
            let mut update: Vec<f64> = (0..ROUNDS)
                .map(|_| {
                    let t = Instant::now();
                    opt.step(&mut model.params_mut(), &grads).expect("finite");
                    t.elapsed().as_secs_f64()
                })
                .collect();
            update.sort_by(f64::total_cmp);
            (times, peak, update[ROUNDS / 2])
        });
        let median = times[times.len() / 2];
        let label = label(threads);
        let peak = peak.map_or(String::new(), |k| {
            format!(" peak_step_mib={:.1}", k as f64 / 1024.0)
        });
        println!(
            "{case}/{threads}-{label} steps/s={:.3} tokens/s={:.0} ms={:.1}{peak}",
            1.0 / median,
            (BATCH * SEQ) as f64 / median,
            median * 1e3,
        );
        println!(
            "train/f32/2x256x4h/b{BATCH}s{SEQ}/adamw/{threads}-{label} ms={:.2}",
            update * 1e3
        );
    }
}
