//! quant: the products of one decode step of SmolLM2-135M (`x·Wᵀ`, 1 row) with `W` stored in
//! f32 (the few-rows kernel of `Linear`), bf16, f16, Q8_0, Q4_0 and Q4_1 (`quant::Quantized`),
//! side by side. Each case cycles through enough copies of the weight to pass 64 MB of
//! stored bytes (twice the last-level cache of the machine these lines were written on), as
//! a decode step cycles through its layers, so the weights come from memory, not cache:
//! `quant/<format>/1-row/<in>x<out>/<threads>t us=<µs per product> GB/s=<stored weight bytes
//! read per second> f32_us=<the f32 product, timed alternately> speedup=<f32 time / this>`.
//! Block formats run the best integer kernel of the CPU (`QuantKernel::best`) and, as
//! `<format>-f32x`, the kernel that keeps `x` in f32 and dequantizes `W` in registers.
//!
//! Then whole decode steps and prompts:
//! - `quant/probe/sum/<threads>t GB/s=…`: a plain sum of 64-bit words over 96 MB, the read
//!   bandwidth a kernel can hope for (the halves summed on two threads).
//! - `quant/step/<format>/<threads>t us=… GB/s=…`: every product of one SmolLM2-135M decode
//!   step (30 layers' q, k, v, o, gate, up, down and the tied head, 1 row), the weights
//!   stored as SmolLM2-135M-Instruct's Q4_1 GGUF stores them (Q4_1, the head Q8_0: 85 MB)
//!   or in f32 (540 MB), so the step reads memory, not cache.
//! - `quant/<format>/<rows>-rows/<in>x<out>/<threads>t us=… f32_us=… speedup=…`: a prompt's
//!   product with the best kernel (the integer kernel below 32 rows, the GEMM on dequantized
//!   panels from 32), the GEMM forced (`-gemm`), against `Linear`'s f32 product.

use std::hint::black_box;

use shapecheck::nn::linear::Linear;
use shapecheck::prelude::*;
use shapecheck::quant::{Bf16, QuantKernel, Quantized, WeightFormat, F16, Q4_0, Q4_1, Q8_0};

use crate::harness::interleave;

/// `(in, out)` of SmolLM2-135M's projections: q and o, k and v, gate and up, down, the tied
/// head.
const SHAPES: [(usize, usize); 5] = [
    (576, 576),
    (576, 192),
    (576, 1536),
    (1536, 576),
    (576, 49152),
];
/// Bytes of stored weights each case cycles through, at least.
const CYCLE_BYTES: usize = 64 << 20;

type W = (Dyn, Dyn);

/// The names of the lines, in order.
const NAMES: [&str; 8] = [
    "f32",
    "bf16",
    "f16",
    "q8_0",
    "q8_0-f32x",
    "q4_0",
    "q4_1",
    "q4_1-f32x",
];

/// One line: `copies` of `q` (as many as make 64 MB) against the f32 layers.
fn case<F: WeightFormat>(
    name: &str,
    kernel: QuantKernel,
    (din, dout): (usize, usize),
    threads: usize,
    filter: &str,
    f32_layers: &[Linear<Dyn, Dyn>],
    w: &Tensor<W>,
) {
    let case = format!("quant/{name}/1-row/{din}x{dout}/{threads}t");
    if !case.contains(filter) {
        return;
    }
    let q =
        Quantized::<Dyn, Dyn, F>::try_quantize(w).expect("SmolLM2's widths are multiples of 32");
    let copies = CYCLE_BYTES.div_ceil(q.nbytes());
    let qs: Vec<_> = (0..copies).map(|_| q.clone()).collect();
    let x = Tensor::<W>::randn_with((Dyn::new(1), Dyn::new(din)), 7);
    let (per_s, f32_per_s, _) = shapecheck::with_threads(threads, || {
        interleave(
            || {
                for q in &qs {
                    drop(black_box(q.forward_on(&x, kernel)));
                }
            },
            || {
                for lin in f32_layers {
                    drop(black_box(lin.forward(&x)));
                }
            },
        )
    });
    let us = 1e6 / (per_s * copies as f64);
    let f32_us = 1e6 / (f32_per_s * f32_layers.len() as f64);
    println!(
        "{case} us={us:.2} GB/s={:.2} f32_us={f32_us:.2} speedup={:.2}",
        q.nbytes() as f64 / us / 1e3,
        f32_us / us
    );
}

pub fn run(filter: &str) {
    one_row(filter);
    probe(filter);
    step(filter);
    prompt(filter);
}

/// 96 MB of bytes, more than the L3.
fn big_bytes() -> Vec<u64> {
    (0..(96usize << 20) / 8).map(|i| i as u64).collect()
}

fn probe(filter: &str) {
    let data = big_bytes();
    let sum = |d: &[u64]| d.iter().fold(0u64, |a, v| a.wrapping_add(*v));
    for threads in [1usize, 2] {
        let case = format!("quant/probe/sum/{threads}t");
        if !case.contains(filter) {
            continue;
        }
        let (per_s, _, _) = interleave(
            || {
                if threads == 1 {
                    black_box(sum(&data));
                } else {
                    let (a, b) = data.split_at(data.len() / 2);
                    std::thread::scope(|s| {
                        let h = s.spawn(|| sum(b));
                        black_box(sum(a).wrapping_add(h.join().unwrap_or_default()));
                    });
                }
            },
            || {},
        );
        println!("{case} GB/s={:.2}", per_s * (data.len() * 8) as f64 / 1e9);
    }
}

/// SmolLM2-135M's layers.
const LAYERS: usize = 30;

/// A decode step's weights in one storage: the 7 products of each layer, then the head.
trait StepWeights {
    fn bytes(&self) -> usize;
    fn forward(&self, x: &[Tensor<W>; 2]);
}

struct Stored(Vec<Quantized<Dyn, Dyn, Q4_1>>, Quantized<Dyn, Dyn, Q8_0>);
struct Dense(Vec<Linear<Dyn, Dyn>>, Linear<Dyn, Dyn>);

/// The shapes `(in, out)` of one layer's products in order.
const LAYER: [(usize, usize); 7] = [
    (576, 576),
    (576, 192),
    (576, 192),
    (576, 576),
    (576, 1536),
    (576, 1536),
    (1536, 576),
];

impl StepWeights for Stored {
    fn bytes(&self) -> usize {
        self.0.iter().map(|q| q.nbytes()).sum::<usize>() + self.1.nbytes()
    }
    fn forward(&self, x: &[Tensor<W>; 2]) {
        for (i, q) in self.0.iter().enumerate() {
            drop(black_box(q.forward(&x[usize::from(LAYER[i % 7].0 != 576)])));
        }
        drop(black_box(self.1.forward(&x[0])));
    }
}

impl StepWeights for Dense {
    fn bytes(&self) -> usize {
        let n: usize = LAYER.iter().map(|(i, o)| i * o).sum();
        (n * LAYERS + 576 * 49152) * 4
    }
    fn forward(&self, x: &[Tensor<W>; 2]) {
        for (i, l) in self.0.iter().enumerate() {
            drop(black_box(l.forward(&x[usize::from(LAYER[i % 7].0 != 576)])));
        }
        drop(black_box(self.1.forward(&x[0])));
    }
}

fn step_line(name: &str, weights: &dyn StepWeights, filter: &str) {
    let x = [576, 1536].map(|d| Tensor::<W>::randn_with((Dyn::new(1), Dyn::new(d)), 7));
    for threads in [1usize, 2] {
        let case = format!("quant/step/{name}/{threads}t");
        if !case.contains(filter) {
            continue;
        }
        let (per_s, _, _) =
            shapecheck::with_threads(threads, || interleave(|| weights.forward(&x), || {}));
        println!(
            "{case} us={:.1} GB/s={:.2}",
            1e6 / per_s,
            per_s * weights.bytes() as f64 / 1e9
        );
    }
}

fn step(filter: &str) {
    let wanted = |n: &str| {
        [1, 2]
            .iter()
            .any(|t| format!("quant/step/{n}/{t}t").contains(filter))
    };
    let weight = |(din, dout): (usize, usize), seed: u64| {
        Tensor::<W>::randn_with((Dyn::new(dout), Dyn::new(din)), seed)
    };
    let layer_weights = || (0..LAYERS * 7).map(|i| weight(LAYER[i % 7], i as u64));
    if wanted("q4_1") {
        let q = |w: Tensor<W>| Quantized::try_quantize(&w).expect("widths of 32");
        let stored = Stored(
            layer_weights().map(q).collect(),
            Quantized::try_quantize(&weight((576, 49152), 99)).expect("widths of 32"),
        );
        step_line("q4_1", &stored, filter);
    }
    if wanted("f32") {
        let dense = Dense(
            layer_weights().map(|w| Linear::new(w, None)).collect(),
            Linear::new(weight((576, 49152), 99), None),
        );
        step_line("f32", &dense, filter);
    }
}

fn prompt(filter: &str) {
    for (din, dout) in [(576, 1536), (1536, 576)] {
        let w = Tensor::<W>::randn_with((Dyn::new(dout), Dyn::new(din)), 1);
        let q = Quantized::<Dyn, Dyn, Q4_1>::try_quantize(&w).expect("widths of 32");
        let lin = Linear::new(w, None);
        for rows in [2usize, 4, 8, 15, 16, 32, 128] {
            for threads in [1usize, 2] {
                for (name, kernel) in [
                    ("q4_1", QuantKernel::best()),
                    ("q4_1-gemm", QuantKernel::Gemm),
                ] {
                    let case = format!("quant/{name}/{rows}-rows/{din}x{dout}/{threads}t");
                    if !case.contains(filter) {
                        continue;
                    }
                    let x = Tensor::<W>::randn_with((Dyn::new(rows), Dyn::new(din)), 7);
                    let (per_s, f32_per_s, _) = shapecheck::with_threads(threads, || {
                        interleave(
                            || drop(black_box(q.forward_on(&x, kernel))),
                            || drop(black_box(lin.forward(&x))),
                        )
                    });
                    println!(
                        "{case} us={:.1} f32_us={:.1} speedup={:.2}",
                        1e6 / per_s,
                        1e6 / f32_per_s,
                        per_s / f32_per_s
                    );
                }
            }
        }
    }
}

fn one_row(filter: &str) {
    let mut header = false;
    for (din, dout) in SHAPES {
        let wanted = |n: &&str| {
            [1, 2]
                .iter()
                .any(|t| format!("quant/{n}/1-row/{din}x{dout}/{t}t").contains(filter))
        };
        if !NAMES.iter().any(wanted) {
            continue;
        }
        if !header {
            println!(
                "# quant: best kernel on this CPU = {:?}",
                QuantKernel::best()
            );
            header = true;
        }
        let w = Tensor::<W>::randn_with((Dyn::new(dout), Dyn::new(din)), 1);
        let copies = CYCLE_BYTES.div_ceil(din * dout * 4);
        let layers: Vec<Linear<Dyn, Dyn>> =
            (0..copies).map(|_| Linear::new(w.clone(), None)).collect();
        for threads in [1usize, 2] {
            let f32_case = format!("quant/f32/1-row/{din}x{dout}/{threads}t");
            if f32_case.contains(filter) {
                let x = Tensor::<W>::randn_with((Dyn::new(1), Dyn::new(din)), 7);
                let (per_s, _, _) = shapecheck::with_threads(threads, || {
                    interleave(
                        || {
                            for lin in &layers {
                                drop(black_box(lin.forward(&x)));
                            }
                        },
                        || {},
                    )
                });
                let us = 1e6 / (per_s * copies as f64);
                println!(
                    "{f32_case} us={us:.2} GB/s={:.2}",
                    (din * dout * 4) as f64 / us / 1e3
                );
            }
            let best = QuantKernel::best();
            let f32x = QuantKernel::DequantF32;
            let a = (din, dout);
            case::<Bf16>("bf16", best, a, threads, filter, &layers, &w);
            case::<F16>("f16", best, a, threads, filter, &layers, &w);
            case::<Q8_0>("q8_0", best, a, threads, filter, &layers, &w);
            case::<Q8_0>("q8_0-f32x", f32x, a, threads, filter, &layers, &w);
            case::<Q4_0>("q4_0", best, a, threads, filter, &layers, &w);
            case::<Q4_1>("q4_1", best, a, threads, filter, &layers, &w);
            case::<Q4_1>("q4_1-f32x", f32x, a, threads, filter, &layers, &w);
        }
    }
}
