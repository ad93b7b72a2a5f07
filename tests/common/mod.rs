//! What the integration tests share, as `mod common;` in each file: naive references written
//! for clarity, not speed (every sum in f64), the tolerance checks that compare against them,
//! a few constructors, and the policy for files a test needs but the repository does not hold.
//!
//! A test file uses what it needs; the rest is dead code to it, hence the `allow`.
#![allow(dead_code)]

pub mod gradcheck;

use std::path::{Path, PathBuf};

use proptest::test_runner::TestCaseError;
use shapecheck::prelude::*;

// ---------------------------------------------------------------------------------------
// Tolerances
// ---------------------------------------------------------------------------------------

/// `Ok` when `|actual[i] − expected[i]| ≤ atol + rtol·|expected[i]|` for every `i` (and the
/// lengths agree); otherwise a message naming the first index off and both values. NaN is
/// close to nothing.
pub fn close<A: Float, E: Float>(
    actual: &[A],
    expected: &[E],
    rtol: f64,
    atol: f64,
) -> Result<(), String> {
    within(actual, expected, |_, e| atol + rtol * e.abs())
}

/// Like [`close`], with the allowed error of element `i` (expected value `e`) given by
/// `bound(i, e)`.
pub fn within<A: Float, E: Float>(
    actual: &[A],
    expected: &[E],
    bound: impl Fn(usize, f64) -> f64,
) -> Result<(), String> {
    if actual.len() != expected.len() {
        return Err(format!(
            "lengths differ: {} actual, {} expected",
            actual.len(),
            expected.len()
        ));
    }
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let (a, e) = (a.to_f64(), e.to_f64());
        let allowed = bound(i, e);
        // A NaN on either side fails: it is within no bound.
        let ok = (a - e).abs() <= allowed;
        if !ok {
            return Err(format!(
                "element {i}: {a} vs expected {e} (|diff| {:e} > {allowed:e})",
                (a - e).abs()
            ));
        }
    }
    Ok(())
}

/// Panics with [`close`]'s message unless `actual` is close to `expected`.
#[track_caller]
pub fn assert_close<A: Float, E: Float>(actual: &[A], expected: &[E], rtol: f64, atol: f64) {
    if let Err(msg) = close(actual, expected, rtol, atol) {
        panic!("{msg}");
    }
}

/// [`close`] as a proptest failure, for `?` inside `proptest!` bodies.
pub fn prop_close<A: Float, E: Float>(
    actual: &[A],
    expected: &[E],
    rtol: f64,
    atol: f64,
) -> Result<(), TestCaseError> {
    close(actual, expected, rtol, atol).map_err(TestCaseError::fail)
}

/// The largest `|a[i] − b[i]|` (the lengths must agree).
#[track_caller]
pub fn max_abs_diff<A: Float, B: Float>(a: &[A], b: &[B]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .fold(0.0, |m, (x, y)| m.max((x.to_f64() - y.to_f64()).abs()))
}

// ---------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------

/// A runtime-sized matrix.
pub type Mat<T = f64> = Tensor<(Dyn, Dyn), T>;

/// The runtime shape `(rows, cols)`.
pub fn dyn2(rows: usize, cols: usize) -> (Dyn, Dyn) {
    (Dyn::new(rows), Dyn::new(cols))
}

/// A seeded Gaussian `rows × cols` f64 matrix.
pub fn randn_mat(rows: usize, cols: usize, seed: u64) -> Mat {
    Tensor::randn_with(dyn2(rows, cols), seed)
}

// ---------------------------------------------------------------------------------------
// Linear algebra
// ---------------------------------------------------------------------------------------

/// `Σ_l a(i, l)·b(l, j)` for `i < m`, `j < n`, row-major, summed in f64.
pub fn matmul_ref(
    m: usize,
    k: usize,
    n: usize,
    a: impl Fn(usize, usize) -> f64,
    b: impl Fn(usize, usize) -> f64,
) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k).map(|l| a(i, l) * b(l, j)).sum();
        }
    }
    out
}

/// `Σ_l |a(i, l)·b(l, j)|`: the scale of each element of [`matmul_ref`], against which a
/// product's rounding error is measured.
pub fn matmul_magnitudes(
    m: usize,
    k: usize,
    n: usize,
    a: impl Fn(usize, usize) -> f64,
    b: impl Fn(usize, usize) -> f64,
) -> Vec<f64> {
    matmul_ref(m, k, n, |i, l| a(i, l).abs(), |l, j| b(l, j).abs())
}

/// `x·Wᵀ + b` for the rows of a row-major `x` of width `din`, `w` stored `(dout, din)` as
/// PyTorch stores a weight; the bias is added to the f64 sum rounded to the element type,
/// as the layer adds it.
pub fn linear_ref<T: Float>(x: &[T], w: &[T], b: Option<&[T]>, din: usize, dout: usize) -> Vec<T> {
    let rows = x.len() / din;
    let dense = matmul_ref(
        rows,
        din,
        dout,
        |r, i| x[r * din + i].to_f64(),
        |i, o| w[o * din + i].to_f64(),
    );
    dense
        .iter()
        .enumerate()
        .map(|(idx, &d)| T::from_f64(d) + b.map_or(T::ZERO, |b| b[idx % dout]))
        .collect()
}

/// `Σ a[i]·b[i]`.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `‖x‖_F`, scaled so that neither 1e300 nor 1e-300 entries overflow or underflow.
pub fn frob<T: Float>(x: &[T]) -> f64 {
    let big = x.iter().fold(0.0f64, |m, v| m.max(v.to_f64().abs()));
    if big == 0.0 {
        return 0.0;
    }
    big * x
        .iter()
        .map(|v| (v.to_f64() / big).powi(2))
        .sum::<f64>()
        .sqrt()
}

// ---------------------------------------------------------------------------------------
// Lanes: reductions, softmax, norms
// ---------------------------------------------------------------------------------------

/// The mean of a lane.
pub fn mean(lane: &[f64]) -> f64 {
    lane.iter().sum::<f64>() / lane.len() as f64
}

/// The population variance of a lane (divided by n, as `var` and layer norm use it).
pub fn variance(lane: &[f64]) -> f64 {
    let m = mean(lane);
    lane.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / lane.len() as f64
}

/// Softmax of a lane, max-subtracted; a lane with no finite score (every entry −∞) gives
/// zeros, the attention convention for a fully masked row.
pub fn softmax_ref(lane: &[f64]) -> Vec<f64> {
    let m = lane.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return vec![0.0; lane.len()];
    }
    let e: Vec<f64> = lane.iter().map(|x| (x - m).exp()).collect();
    let total: f64 = e.iter().sum();
    e.iter().map(|x| x / total).collect()
}

/// Log-softmax of a lane: `x − max − ln Σ exp(x − max)`.
pub fn log_softmax_ref(lane: &[f64]) -> Vec<f64> {
    let m = lane.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = lane.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
    lane.iter().map(|x| x - m - lse).collect()
}

/// `(x − mean)/√(var + eps)·w + b` over one row.
pub fn layer_norm_ref(row: &[f64], w: &[f64], b: &[f64], eps: f64) -> Vec<f64> {
    let (m, v) = (mean(row), variance(row));
    row.iter()
        .zip(w.iter().zip(b))
        .map(|(x, (w, b))| (x - m) / (v + eps).sqrt() * w + b)
        .collect()
}

/// `x/√(mean(x²) + eps)·w` over one row.
pub fn rms_norm_ref(row: &[f64], w: &[f64], eps: f64) -> Vec<f64> {
    let ms = row.iter().map(|a| a * a).sum::<f64>() / row.len() as f64;
    row.iter()
        .zip(w)
        .map(|(x, w)| x / (ms + eps).sqrt() * w)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Attention
// ---------------------------------------------------------------------------------------

/// `softmax(q·kᵀ/√dk + bias(b, i, j), causal)·v` in f64 for row-major `(items, sq, dk)` q,
/// `(items, sk, dk)` k and `(items, sk, dv)` v; with `causal = Some(off)` key `j` is hidden
/// from query `i` when `j > i + off`. Rows that see no key give zeros.
pub fn attention_ref(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    (items, sq, sk, dk, dv): (usize, usize, usize, usize, usize),
    bias: impl Fn(usize, usize, usize) -> f64,
    causal: Option<usize>,
) -> Vec<f64> {
    let mut out = vec![0.0; items * sq * dv];
    let scale = 1.0 / (dk as f64).sqrt();
    for b in 0..items {
        for i in 0..sq {
            let scores: Vec<f64> = (0..sk)
                .map(|j| {
                    if causal.is_some_and(|off| j > i + off) {
                        return f64::NEG_INFINITY;
                    }
                    let dot: f64 = (0..dk)
                        .map(|l| q[(b * sq + i) * dk + l] as f64 * k[(b * sk + j) * dk + l] as f64)
                        .sum();
                    dot * scale + bias(b, i, j)
                })
                .collect();
            let p = softmax_ref(&scores);
            for d in 0..dv {
                out[(b * sq + i) * dv + d] = (0..sk)
                    .map(|j| p[j] * v[(b * sk + j) * dv + d] as f64)
                    .sum();
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Files the repository does not hold
// ---------------------------------------------------------------------------------------

/// The all-MiniLM-L6-v2 directory: `$SHAPECHECK_MINILM_DIR`, else `models/all-MiniLM-L6-v2`
/// in the repository (git-ignored; scripts/fetch-minilm.sh fetches it).
pub fn minilm_dir() -> PathBuf {
    std::env::var_os("SHAPECHECK_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2"))
}

/// The policy for a file a test needs but the repository does not hold (the git-ignored
/// MiniLM model): reports `what` missing at `path`, a failure under `CI=true`, otherwise a
/// note (the caller then returns, skipping the test).
pub fn missing(what: &str, path: &Path) {
    let msg = format!(
        "{what} not found at {}: run scripts/fetch-minilm.sh (or set SHAPECHECK_MINILM_DIR)",
        path.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("note: skipping: {msg}");
}

/// The tiny LLaMA-family checkpoint `case` of `tests/fixtures/llama` (a Hugging Face
/// directory with the logits `transformers` computed, from `scripts/golden_llama.py`).
pub fn llama_fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/llama")
        .join(case)
}
