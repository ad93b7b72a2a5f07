//! The 2-block LLaMA-style decoder of `models::decoder` at d = 256, 4 heads of 64, SwiGLU
//! FFN of 688, vocab 512, batch 8 × seq 128 (issue 13's training case): the inference
//! forward (every parameter read as a constant: nothing recorded) beside one traced
//! forward + backward of the cross-entropy loss, in one group, on 1 thread and on all.
//! Cases: `decoder/f32/2x256x4h/b8s128/{forward,forward+backward}/{1-thread,N-threads}`.
//! The goal (issue 13 item 6) is forward+backward ≤ 2.2× forward.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
use shapecheck::prelude::*;

shapecheck::dim!(pub Vocab = 512; pub DModel = 256; pub Heads = 4; pub HeadDim = 64; pub Ffn = 688);
shapecheck::dim!(pub Batch; pub Seq);

const BATCH: usize = 8;
const SEQ: usize = 128;

fn decoder_cases(c: &mut Criterion) {
    let cores = shapecheck::max_threads();
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
    let mut g = c.benchmark_group(format!("decoder/f32/2x256x4h/b{BATCH}s{SEQ}"));
    g.throughput(Throughput::Elements((BATCH * SEQ) as u64)); // tokens
    g.sample_size(10);
    let forward = || black_box(model.logits(shape, &ids).unwrap());
    let step = || {
        let tape = Tape::new();
        let loss = model.loss(&tape, shape, &ids, &targets).unwrap();
        black_box(loss.backward())
    };
    g.bench_function("forward/1-thread", |b| {
        shapecheck::with_threads(1, || b.iter(forward))
    });
    g.bench_function("forward+backward/1-thread", |b| {
        shapecheck::with_threads(1, || b.iter(step))
    });
    g.bench_function(format!("forward/{cores}-threads"), |b| b.iter(forward));
    g.bench_function(format!("forward+backward/{cores}-threads"), |b| {
        b.iter(step)
    });
    g.finish();
}

criterion_group!(benches, decoder_cases);
criterion_main!(benches);
