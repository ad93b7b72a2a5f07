//! attention: scaled dot-product attention at 12 heads of 64 dims against the two bare GEMMs
//! it contains, called by hand head by head: `s = q·kᵀ` (k read transposed through strides)
//! and `o = s·v`, with no scale, softmax or mask. Both sides count `4·H·S²·Dh` flops, so
//! their GFLOP/s compare directly and the ratio is the share of GEMM speed the op keeps
//! (the goal: ≥ 0.8 unmasked). `…/1-thread` runs both sides on one thread;
//! `…/N-threads` runs ours on the pool and the baseline's heads split into N equal groups
//! on the same rayon pool. `causal` lines time the causal op (which skips the key blocks no
//! query of a block can see) against the same unmasked baseline: a user without the op
//! would run the full GEMMs.
//!
//! `attention/peak-memory/S=2048` measures, in a fresh child process, the growth of the
//! resident set's high-water mark (`VmHWM`, reset through `/proc/self/clear_refs`) over
//! one call, beside what the `12·S·S` scores alone would take and what the plain
//! composition `softmax(q·kᵀ·α)·v` actually adds.

use std::hint::black_box;

use shapecheck::nn::attention::{attention, attention_masked, AttentionMask};
use shapecheck::prelude::*;

use bench_support::attention::{two_gemms, two_gemms_par, DH, H};
use bench_support::cases;

use crate::harness::interleave;

shapecheck::dim!(pub Heads = 12; pub HeadDim = 64);

type Qkv = Tensor<(Heads, Dyn, HeadDim)>;

fn inputs(s: usize) -> (Qkv, Qkv, Qkv) {
    let shape = (Heads, Dyn::new(s), HeadDim);
    (
        Qkv::randn_with(shape, 1),
        Qkv::randn_with(shape, 2),
        Qkv::randn_with(shape, 3),
    )
}

fn line(case: &str, flops: f64, (ours, theirs, ratio): (f64, f64, f64)) {
    println!(
        "{case} shapecheck={:.2} raw={:.2} ratio={ratio:.3}",
        ours * flops / 1e9,
        theirs * flops / 1e9,
    );
}

/// A field of `/proc/self/status`, in kB.
fn status_kb(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let l = s.lines().find(|l| l.starts_with(field))?;
    l.split_whitespace().nth(1)?.parse().ok()
}

/// The growth of the resident set's high-water mark over `f`, in MB (10⁶ bytes); `None` where
/// `/proc/self/clear_refs` cannot reset it.
fn peak_growth_mb(f: impl FnOnce()) -> Option<f64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    let before = status_kb("VmRSS:")?;
    f();
    let peak = status_kb("VmHWM:")?;
    Some(peak.saturating_sub(before) as f64 * 1024.0 / 1e6)
}

const PEAK_CHILD: &str = "SHAPECHECK_PERF_PEAK_CHILD";

fn peak_memory(case: &str, s: usize) {
    if std::env::var_os(PEAK_CHILD).is_none() {
        // A fresh process: memory freed by earlier cases and kept by the allocator would
        // otherwise absorb this call's allocations and hide them from the high-water mark.
        let out = std::env::current_exe().and_then(|exe| {
            std::process::Command::new(exe)
                .arg(case)
                .env(PEAK_CHILD, "1")
                .output()
        });
        match out {
            Ok(o) if o.status.success() => print!("{}", String::from_utf8_lossy(&o.stdout)),
            Ok(o) => println!(
                "{case} child failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => println!("{case} cannot start a child: {e}"),
        }
        return;
    }
    let (q, k, v) = inputs(s);
    drop(black_box(attention(&q, &k, &v))); // the pool's threads and their stacks
    let mb = |b: usize| b as f64 / 1e6;
    let ours = peak_growth_mb(|| drop(black_box(attention(&q, &k, &v))));
    let alpha = 1.0 / (DH as f32).sqrt();
    let plain = peak_growth_mb(|| {
        drop(black_box(
            (q.matmul(&k.t()) * alpha).softmax::<2>().matmul(&v),
        ))
    });
    match (ours, plain) {
        (Some(ours), Some(plain)) => println!(
            "{case} extra={ours:.1}MB output={:.1}MB full-scores={:.0}MB plain-composition={plain:.0}MB threads={}",
            mb(H * s * DH * 4),
            mb(H * s * s * 4),
            shapecheck::max_threads(),
        ),
        _ => println!("{case} /proc/self/clear_refs cannot reset the peak here: not measured"),
    }
}

/// Prints the attention lines whose case name contains `filter`.
pub fn run(filter: &str) {
    let cores = shapecheck::max_threads();
    let peak = "attention/peak-memory/S=2048";
    if peak.contains(filter) || filter.is_empty() {
        peak_memory(peak, 2048);
    }
    if std::env::var_os(PEAK_CHILD).is_some() {
        return;
    }
    for s in cases::ATTENTION_SEQ {
        let base = cases::attention_group(s);
        let wanted = |case: &str| case.contains(filter);
        let cases = [
            format!("{base}/1-thread"),
            format!("{base}/{cores}-threads"),
            format!("{base}/causal/1-thread"),
            format!("{base}/causal/{cores}-threads"),
        ];
        if !cases.iter().any(|c| wanted(c)) {
            continue;
        }
        let (q, k, v) = inputs(s);
        let qkv = (q.as_slice(), k.as_slice(), v.as_slice());
        let flops = 4.0 * (H * s * s * DH) as f64;
        let causal = AttentionMask::causal(0);
        let mut out = vec![0f32; H * s * DH];
        let mut scratch = vec![vec![0f32; s * s]; cores];
        for (i, case) in cases.iter().enumerate() {
            if !wanted(case) {
                continue;
            }
            let threads = if i % 2 == 0 { 1 } else { cores };
            let mask = i >= 2;
            let r = interleave(
                || {
                    shapecheck::with_threads(threads, || {
                        if mask {
                            drop(black_box(attention_masked(&q, &k, &v, &causal)))
                        } else {
                            drop(black_box(attention(&q, &k, &v)))
                        }
                    })
                },
                || {
                    if threads == 1 {
                        two_gemms(s, qkv, &mut scratch[0], &mut out)
                    } else {
                        two_gemms_par(s, qkv, &mut scratch, &mut out)
                    }
                },
            );
            line(case, flops, r);
        }
    }
}
