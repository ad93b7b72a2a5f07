//! decode: the products of one decode step of SmolLM2-135M (`x·Wᵀ`, 1 to 8 rows, `W` stored
//! (out, in) in f32), which read every weight once and are bound by memory bandwidth. Each
//! case cycles through enough copies of the weight to pass 64 MB (twice the last-level cache
//! of the machine these lines were written on), as a decode step cycles through its layers,
//! and prints the weight bytes read per second:
//! `decode/f32/<rows>-rows/<in>x<out>/<threads>t shapecheck=<GB/s> raw=<GB/s> ratio=<…>`,
//! where `raw` is a bandwidth probe on the same buffers (a plain sum of every weight, split
//! over the same threads), so the ratio is the fraction of the bandwidth a sum reaches.
//! `decode/probe/…` lines time the probes alone on one 512 MB buffer: a sum, and a copy
//! (read and written bytes counted).

use std::hint::black_box;
use std::time::Instant;

use shapecheck::nn::linear::Linear;
use shapecheck::prelude::*;

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
const ROWS: [usize; 4] = [1, 2, 4, 8];
/// Bytes of weights each case cycles through, at least.
const CYCLE_BYTES: usize = 64 << 20;

/// The sum of `v`, 16 independent lanes (vectorised by the compiler): a read at the
/// machine's bandwidth.
fn sum(v: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let chunks = v.chunks_exact(16);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// [`sum`] of `v` on `threads` threads (1 or 2), split in halves.
fn sum_on(v: &[f32], threads: usize) -> f32 {
    if threads == 1 {
        return sum(v);
    }
    let (a, b) = v.split_at(v.len() / 2);
    let (x, y) = rayon::join(|| sum(a), || sum(b));
    x + y
}

/// `dst = src` on `threads` threads (1 or 2).
fn copy_on(dst: &mut [f32], src: &[f32], threads: usize) {
    if threads == 1 {
        dst.copy_from_slice(src);
        return;
    }
    let h = src.len() / 2;
    let (d0, d1) = dst.split_at_mut(h);
    let (s0, s1) = src.split_at(h);
    rayon::join(|| d0.copy_from_slice(s0), || d1.copy_from_slice(s1));
}

/// The median seconds of `f` over 11 calls, after one warm-up.
fn median_secs(mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..11)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

pub fn run(filter: &str) {
    for threads in [1usize, 2] {
        let case = format!("decode/probe/512MB/{threads}t");
        if !case.contains(filter) {
            continue;
        }
        let len = 128 << 20;
        let src: Vec<f32> = (0..len).map(|i| (i % 7) as f32).collect();
        let mut dst = vec![0f32; len];
        let bytes = (len * 4) as f64;
        let s = median_secs(|| {
            black_box(sum_on(&src, threads));
        });
        let c = median_secs(|| copy_on(black_box(&mut dst), &src, threads));
        println!(
            "{case} sum={:.2}GB/s copy={:.2}GB/s (read+written)",
            bytes / s / 1e9,
            2.0 * bytes / c / 1e9
        );
    }
    for (din, dout) in SHAPES {
        let bytes = din * dout * 4;
        let copies = CYCLE_BYTES.div_ceil(bytes);
        let mut layers: Option<Vec<Linear<Dyn, Dyn>>> = None;
        for rows in ROWS {
            for threads in [1usize, 2] {
                let case = format!("decode/f32/{rows}-rows/{din}x{dout}/{threads}t");
                if !case.contains(filter) {
                    continue;
                }
                let layers = layers.get_or_insert_with(|| {
                    (0..copies)
                        .map(|s| {
                            Linear::init_with((Dyn::new(din), Dyn::new(dout)), false, s as u64)
                        })
                        .collect()
                });
                let x = Tensor::<(Dyn, Dyn)>::randn_with((Dyn::new(rows), Dyn::new(din)), 7);
                let r = shapecheck::with_threads(threads, || {
                    interleave(
                        || {
                            for lin in layers.iter() {
                                drop(black_box(lin.forward(&x)));
                            }
                        },
                        || {
                            for lin in layers.iter() {
                                black_box(sum_on(lin.weight().as_slice(), threads));
                            }
                        },
                    )
                });
                let gb = (copies * bytes) as f64 / 1e9;
                let (ours, probe, ratio) = r;
                println!(
                    "{case} shapecheck={:.2} raw={:.2} ratio={ratio:.3}",
                    ours * gb,
                    probe * gb
                );
            }
        }
    }
}
