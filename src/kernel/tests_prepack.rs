//! Prepacked right operands (`prepack.rs`) against the same products packed at every call,
//! bit for bit: on every backend (AVX-512F and AVX2 + FMA forced, matrixmultiply where no
//! pack applies), for `B = Wᵀ` (a linear layer's forward) and `B = W` (its input
//! gradient), f32 and f64, at `k` around the blocking's `KC`, `n` around the panel width,
//! with and without a fused bias, and on 1 to 3 threads (blocks of rows and of columns).

use super::epilogue::Epilogue;
use super::prepack::PackedB;
use super::raw::{packing_backends, Backend};
use super::tests_nt::values;
use super::{Gemm, MatRef};
use crate::element::Float;

/// The backends of this CPU that pack, with a note for each one it lacks, and
/// matrixmultiply (where no pack applies).
fn backends() -> Vec<Backend> {
    let mut all = packing_backends();
    all.push(Backend::MatrixMultiply);
    all
}

/// Panics at the first element whose bits differ.
fn same_bits<T: Float>(got: &[T], want: &[T], case: &str) {
    assert_eq!(got.len(), want.len(), "{case}: lengths");
    if let Some(i) =
        (0..got.len()).find(|&i| got[i].to_f64().to_bits() != want[i].to_f64().to_bits())
    {
        panic!(
            "{case}: element {i} is {} instead of {}",
            got[i].to_f64(),
            want[i].to_f64()
        );
    }
}

/// `A·B` (+ a bias, or accumulated into `C`) with `B` packed per call and prepacked, on 1,
/// 2 and 3 threads: the same bits at each thread count (so a pack changes nothing about
/// which thread counts give which bits). Returns whether a pack was made.
fn check<T: Float>(backend: Backend, (m, k, n): (usize, usize, usize), transposed: bool) -> bool {
    let a = values::<T>(m * k, 1 + m as u64);
    let w = values::<T>(k * n, 2 + k as u64);
    let bias = values::<T>(n, 3);
    let am = MatRef::rows(&a, m, k);
    // `Wᵀ` of a row-major `n × k` weight, or a row-major `k × n` `W`.
    let bm = if transposed {
        MatRef::rows(&w, n, k).t()
    } else {
        MatRef::rows(&w, k, n)
    };
    let packed = PackedB::new(bm, backend);
    for threads in 1..=3 {
        for with_bias in [false, true] {
            let epi = Epilogue {
                bias: with_bias.then_some(&bias[..]),
                ..Epilogue::default()
            };
            let gemm = Gemm::new().backend(backend).threads(threads);
            let plain = gemm.to_vec_with(am, bm, epi);
            let got = gemm.to_vec_packed(am, bm, epi, packed.as_ref());
            let case = format!("{backend:?} {m}×{k}×{n} transposed {transposed} threads {threads} bias {with_bias}");
            same_bits(&got, &plain, &case);
            // Into an existing buffer, accumulating (β = 1), as the input gradient is.
            let mut c0 = values::<T>(m * n, 4);
            let mut c1 = c0.clone();
            gemm.beta(T::ONE).to_slice(am, bm, &mut c0, n);
            gemm.beta(T::ONE)
                .to_slice_packed(am, bm, &mut c1, n, packed.as_ref());
            same_bits(&c1, &c0, &format!("{case}: β = 1"));
        }
    }
    packed.is_some()
}

const SHAPES: [(usize, usize, usize); 8] = [
    (49, 1, 1),
    (61, 7, 33),
    (97, 40, 200),
    (130, 255, 17),
    (130, 256, 65),
    (100, 257, 31),
    (49, 513, 16),
    (200, 24, 100),
];

#[test]
fn prepacked_products_are_the_per_call_packed_bits_on_every_backend() {
    for backend in backends() {
        for shape in SHAPES {
            for transposed in [true, false] {
                let f32_packed = check::<f32>(backend, shape, transposed);
                let f64_packed = check::<f64>(backend, shape, transposed);
                // A pack exactly where the packed GEMM takes the product: not on
                // matrixmultiply, nor for the small f64 products it keeps.
                let blocked = backend != Backend::MatrixMultiply;
                assert_eq!(f32_packed, blocked, "{backend:?} {shape:?}");
                let (_, k, n) = shape;
                assert_eq!(
                    f64_packed,
                    blocked && k * n >= 1 << 14,
                    "{backend:?} {shape:?}"
                );
            }
        }
    }
}

#[test]
fn a_pack_for_another_backend_is_not_read() {
    let (a512, a2) = (Backend::Avx512, Backend::Avx2);
    if !(a512.available() && a2.available()) {
        eprintln!("note: this CPU lacks AVX-512F or AVX2; the cross-backend case was not tested");
        return;
    }
    let (m, k, n) = (130, 40, 72);
    let (a, w) = (values::<f32>(m * k, 5), values::<f32>(n * k, 6));
    let (am, bm) = (MatRef::rows(&a, m, k), MatRef::rows(&w, n, k).t());
    let packed = PackedB::new(bm, a512);
    let gemm = Gemm::new().backend(a2);
    let want = gemm.to_vec(am, bm);
    let got = gemm.to_vec_packed(am, bm, Epilogue::default(), packed.as_ref());
    same_bits(&got, &want, "an AVX-512 pack on AVX2");
}

#[test]
fn a_pack_of_another_matrix_is_refused() {
    let Some(backend) = [Backend::Avx512, Backend::Avx2]
        .into_iter()
        .find(|b| b.available())
    else {
        eprintln!("note: this CPU has no packed GEMM; the refusal was not tested");
        return;
    };
    let (m, k, n) = (130, 40, 72);
    let (a, w) = (values::<f32>(m * k, 5), values::<f32>(n * k, 6));
    let other = w.clone();
    let (am, bm) = (MatRef::rows(&a, m, k), MatRef::rows(&w, n, k).t());
    let packed = PackedB::new(MatRef::rows(&other, n, k).t(), backend);
    assert!(packed.is_some());
    let run = std::panic::catch_unwind(|| {
        Gemm::new()
            .backend(backend)
            .to_vec_packed(am, bm, Epilogue::default(), packed.as_ref())
    });
    let err = run.expect_err("a pack of another matrix was accepted");
    let msg = err
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(
        msg.contains("a packed operand used for another matrix"),
        "{msg}"
    );
}
