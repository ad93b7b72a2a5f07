//! Quantized and half-precision weights (`shapecheck::quant`): quantization byte for byte as
//! gguf-py's (and so ggml's) reference quantizers, GGUF blocks taken as they are, and every
//! product kernel against the f32 product with the dequantized weight, within a bound
//! derived per scheme:
//!
//! - `x` kept in f32 (half formats; `DequantF32`): only rounding. A dot product of `n`
//!   terms summed in any order in f32 is within `γ_n·Σ|ŵ_i·x_i|`, `γ_n ≈ n·2⁻²⁴`; Q4_1's
//!   `d·q + m` fused in the kernel differs from the dequantizer's by at most one rounding
//!   of `ŵ_i` (`2⁻²⁴·|ŵ_i|` more per term). Bound: `(n + 4)·2⁻²⁴·Σ|ŵ_i·x_i|`.
//! - `x` quantized to 8 bits per block of 32 (the integer kernels): `x_i` is replaced by
//!   `d_b·round(x_i/d_b)` with `d_b = max_b|x|/127`, off by at most `d_b/2` (plus the
//!   rounding of `x_i/d_b`, below `2⁻²⁰` relative), so the product moves by at most
//!   `Σ_b (d_b/2)·Σ_{i∈b}|ŵ_i|`; the integer sums are exact, and the f32 arithmetic on them
//!   (scales, offsets, the sum over blocks) rounds within `γ_{n+8}` of the terms' magnitudes
//!   `Σ_b d_b·Σ_{i∈b}|q_x,i|·(16·|d_w| + |m_w|)`.
#![cfg(feature = "llm")]

use shapecheck::io::Gguf;
use shapecheck::prelude::*;
use shapecheck::quant::{
    Bf16, HoldsBlocks, QuantKernel, Quantized, WeightFormat, F16, Q4_0, Q4_1, Q8_0,
};

const U: f64 = 1.0 / (1u64 << 24) as f64;
const KERNELS: [QuantKernel; 5] = [
    QuantKernel::Portable,
    QuantKernel::Avx2,
    QuantKernel::Avx512,
    QuantKernel::DequantF32,
    QuantKernel::Gemm,
];

fn fixture() -> serde_json::Value {
    let text = std::fs::read_to_string("tests/fixtures/quant/blocks.json").unwrap();
    serde_json::from_str(&text).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_fixture<F: WeightFormat>(name: &str)
where
    D<32>: HoldsBlocks<F>,
{
    let fx = fixture();
    let values: Vec<f32> = fx["input_bits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| f32::from_bits(v.as_u64().unwrap() as u32))
        .collect();
    let w = Tensor::<(D<7>, D<32>)>::from_vec(values).unwrap();
    let q = Quantized::<D<7>, D<32>, F>::quantize(&w);
    let want = fx[name].as_str().unwrap();
    for (b, (got, want)) in hex(q.as_bytes())
        .as_bytes()
        .chunks(64)
        .zip(want.as_bytes().chunks(64))
        .enumerate()
    {
        assert_eq!(
            std::str::from_utf8(got).unwrap(),
            std::str::from_utf8(want).unwrap(),
            "{name}: bytes {}.. differ from gguf-py's",
            b * 32
        );
    }
    assert_eq!(q.nbytes() * 2, want.len(), "{name}: byte count");
}

#[test]
fn quantize_matches_gguf_py_byte_for_byte() {
    check_fixture::<Q8_0>("Q8_0");
    check_fixture::<Q4_0>("Q4_0");
    check_fixture::<Q4_1>("Q4_1");
    check_fixture::<Bf16>("BF16");
    check_fixture::<F16>("F16");
}

/// Whether `kernel` keeps `x` in f32 for `F`.
fn keeps_f32<F: WeightFormat>(kernel: QuantKernel) -> bool {
    F::GGML.block_size() == 1 || matches!(kernel, QuantKernel::DequantF32 | QuantKernel::Gemm)
}

/// The product with every kernel against the f64 product of `x` with the dequantized
/// weight, within the bound of the module doc; returns the largest error / bound seen.
fn check_kernels<F: WeightFormat>(rows: usize, dout: usize, din: usize, seed: u64) -> f64 {
    let w = Tensor::<(Dyn, Dyn)>::randn_with((Dyn::new(dout), Dyn::new(din)), seed);
    let q = Quantized::<Dyn, Dyn, F>::try_quantize(&w).unwrap();
    let wd = q.dequantize();
    let x = Tensor::<(Dyn, Dyn)>::randn_with((Dyn::new(rows), Dyn::new(din)), seed + 1);
    let (wd, xs) = (wd.as_slice(), x.as_slice());
    let mut worst = 0f64;
    for kernel in KERNELS {
        if !kernel.is_available() {
            println!("note: {kernel:?} is not available on this CPU; its case is skipped");
            continue;
        }
        let y = q.forward_on(&x, kernel);
        for r in 0..rows {
            let xr = &xs[r * din..][..din];
            for j in 0..dout {
                let wr = &wd[j * din..][..din];
                let exact: f64 = wr
                    .iter()
                    .zip(xr)
                    .map(|(&a, &b)| f64::from(a) * f64::from(b))
                    .sum();
                let abs: f64 = wr
                    .iter()
                    .zip(xr)
                    .map(|(&a, &b)| (f64::from(a) * f64::from(b)).abs())
                    .sum();
                let bound = if keeps_f32::<F>(kernel) {
                    (din as f64 + 4.0) * U * abs
                } else {
                    let mut b = 0f64;
                    for (wb, xb) in wr.chunks(32).zip(xr.chunks(32)) {
                        let amax = xb.iter().fold(0f32, |a, v| a.max(v.abs()));
                        let d = f64::from(amax) / 127.0;
                        let wsum: f64 = wb.iter().map(|v| f64::from(v.abs())).sum();
                        let qsum: f64 = xb
                            .iter()
                            .map(|v| (f64::from(*v) / d.max(f64::MIN_POSITIVE)).abs().round())
                            .sum();
                        let wmax = wb.iter().fold(0f32, |a, v| a.max(v.abs()));
                        b += 0.5 * d * (1.0 + 1e-6) * wsum
                            + (din as f64 + 8.0) * U * d * qsum * 2.0 * f64::from(wmax);
                    }
                    b
                };
                let got = f64::from(y.as_slice()[r * dout + j]);
                let err = (got - exact).abs();
                assert!(
                    err <= bound,
                    "{:?} {kernel:?}: rows {rows}, ({dout}, {din}): y[{r}, {j}] = {got}, exact {exact}, error {err:e} > bound {bound:e}",
                    F::GGML
                );
                worst = worst.max(err / bound.max(f64::MIN_POSITIVE));
            }
        }
    }
    worst
}

#[test]
fn block_kernels_are_within_the_bound_on_odd_shapes() {
    for rows in 1..=9 {
        let dout = [1, 5, 13, 37][rows % 4];
        let din = [32, 96, 160][rows % 3];
        let seed = rows as u64 * 10;
        let worst = [
            check_kernels::<Q8_0>(rows, dout, din, seed),
            check_kernels::<Q4_0>(rows, dout, din, seed + 2),
            check_kernels::<Q4_1>(rows, dout, din, seed + 4),
        ];
        // The bound is not vacuous: the activation quantization reaches a fair part of it.
        assert!(worst.iter().all(|w| *w > 1e-3), "{worst:?}");
    }
}

#[test]
fn half_kernels_are_within_the_bound_on_odd_shapes() {
    for rows in 1..=9 {
        let dout = [1, 5, 13, 37][rows % 4];
        let din = [7, 16, 45, 100][rows % 4];
        check_kernels::<Bf16>(rows, dout, din, rows as u64);
        check_kernels::<F16>(rows, dout, din, rows as u64 + 100);
    }
}

/// Every kernel, on 1 row (split in two halves: this thread and the decode helper), 3 rows
/// and 40 rows (the best kernel hands those to the GEMM), gives the same bits on 1 and 2
/// threads.
fn check_threads<F: WeightFormat>(seed: u64) {
    // 1536 × 576 is 500 KB to 940 KB in these formats: products split in two.
    let w = Tensor::<(Dyn, Dyn)>::randn_with((Dyn::new(1536), Dyn::new(576)), seed);
    let q = Quantized::<Dyn, Dyn, F>::try_quantize(&w).unwrap();
    for rows in [1, 3, 40] {
        let x = Tensor::<(Dyn, Dyn)>::randn_with((Dyn::new(rows), Dyn::new(576)), seed + 1);
        for kernel in KERNELS.into_iter().filter(|k| k.is_available()) {
            let one = shapecheck::with_threads(1, || q.forward_on(&x, kernel));
            let two = shapecheck::with_threads(2, || q.forward_on(&x, kernel));
            assert!(
                one.as_slice() == two.as_slice(),
                "{:?} {kernel:?}, {rows} rows: 2 threads differ from 1",
                F::GGML
            );
        }
    }
}

#[test]
fn the_thread_count_changes_no_result() {
    check_threads::<Q8_0>(3);
    check_threads::<Q4_0>(5);
    check_threads::<Q4_1>(7);
    check_threads::<Bf16>(9);
}

/// A product of many rows on the best kernel (the GEMM on dequantized panels) within the
/// f32 bound of the module doc, over more than one panel of `W`'s rows.
#[test]
fn prompts_run_on_the_gemm_within_the_f32_bound() {
    let worst = [
        check_kernels::<Q4_1>(20, 300, 64, 41),
        check_kernels::<Q8_0>(8, 260, 96, 43),
        check_kernels::<Q4_0>(33, 257, 32, 45),
    ];
    assert!(worst.iter().all(|w| *w > 1e-3), "{worst:?}");
}

#[test]
fn gguf_blocks_load_as_they_are() {
    let g = Gguf::open("tests/fixtures/gguf/tiny.gguf").unwrap();
    fn check<F: WeightFormat>(g: &Gguf, name: &str, dout: usize, din: usize) {
        let bytes = g.tensor_data(name).unwrap().to_vec();
        let q = Quantized::<Dyn, Dyn, F>::try_from_blocks((Dyn::new(dout), Dyn::new(din)), bytes)
            .unwrap();
        let loaded: Tensor<(Dyn, Dyn), f32> =
            g.load_with(name, (Dyn::new(dout), Dyn::new(din))).unwrap();
        assert_eq!(q.dequantize().as_slice(), loaded.as_slice(), "{name}");
    }
    check::<Q8_0>(&g, "q8_0", 4, 64);
    check::<Q4_0>(&g, "q4_0", 3, 96);
    check::<Q4_1>(&g, "q4_1", 2, 128);
    check::<F16>(&g, "f16", 2, 32);
}

#[test]
fn runtime_shape_errors_name_both_sides() {
    let w = Tensor::<(Dyn, Dyn)>::zeros_with((Dyn::new(2), Dyn::new(40)));
    let e = Quantized::<Dyn, Dyn, Q4_1>::try_quantize(&w)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("input width 40") && e.contains("Q4_1 blocks of 32"),
        "{e}"
    );
    let e = Quantized::<Dyn, Dyn, Q8_0>::try_from_blocks((Dyn::new(2), Dyn::new(64)), vec![0; 100])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("100 bytes") && e.contains("takes 136 bytes"),
        "{e}"
    );
    let q =
        Quantized::<Dyn, Dyn, Q8_0>::try_quantize(&Tensor::zeros_with((Dyn::new(2), Dyn::new(64))))
            .unwrap();
    let x = Tensor::<(D<1>, Dyn)>::zeros_with((D::<1>, Dyn::new(32)));
    let e = q.try_forward(&x).unwrap_err().to_string();
    assert!(
        e.contains("the input has width 32 and the weight 64"),
        "{e}"
    );
}
