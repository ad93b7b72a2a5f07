//! quant: the products of one decode step of SmolLM2-135M (`x·Wᵀ`, 1 row) with `W` stored in
//! f32 (the few-rows kernel of `Linear`), bf16, f16, Q8_0, Q4_0 and Q4_1 (`quant::Quantized`),
//! side by side. Each case cycles through enough copies of the weight to pass 64 MB of
//! stored bytes (twice the last-level cache of the machine these lines were written on), as
//! a decode step cycles through its layers, so the weights come from memory, not cache:
//! `quant/<format>/1-row/<in>x<out>/<threads>t us=<µs per product> GB/s=<stored weight bytes
//! read per second> f32_us=<the f32 product, timed alternately> speedup=<f32 time / this>`.
//! Block formats run the best integer kernel of the CPU (`QuantKernel::best`) and, as
//! `<format>-f32x`, the kernel that keeps `x` in f32 and dequantizes `W` in registers.

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
