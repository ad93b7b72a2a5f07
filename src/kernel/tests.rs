//! The GEMM entry against a naive product: α, β, batches, row strides of C, transposed and
//! offset operands, both element types, and the thread count (which must not change a bit).

use super::{Gemm, MatRef};
use crate::element::Float;

/// `α·A·B + β·C` for row-major `A: m×k` (read through `a_at`) and `B: k×n`.
fn naive<T: Float>(
    (m, k, n): (usize, usize, usize),
    a_at: impl Fn(usize, usize) -> T,
    b_at: impl Fn(usize, usize) -> T,
    (alpha, beta): (T, T),
    c: &[T],
    rsc: usize,
) -> Vec<T> {
    let mut out = c.to_vec();
    for i in 0..m {
        for j in 0..n {
            let dot = (0..k).fold(T::ZERO, |s, l| s + a_at(i, l) * b_at(l, j));
            let old = if beta == T::ZERO {
                T::ZERO
            } else {
                beta * c[i * rsc + j]
            };
            out[i * rsc + j] = alpha * dot + old;
        }
    }
    out
}

fn data<T: Float>(len: usize, seed: usize) -> Vec<T> {
    (0..len)
        .map(|i| T::from_usize((i * 7 + seed * 13) % 17) - T::from_usize(8))
        .collect()
}

fn single<T: Float>() {
    // A stored (k, m) and read as its transpose from an offset; B stored (n, k) read as Bᵀ
    // (the few-rows kernel's case when m ≤ 48 and k ≥ 32); C with row stride n + 3.
    for (m, k, n) in [(5, 40, 37), (60, 33, 20), (3, 0, 4), (0, 5, 5), (2, 7, 1)] {
        let (sa, sb) = (data::<T>(3 + k * m, 1), data::<T>(n * k, 2));
        let a = MatRef::new(&sa, 3, (k, m), (m, 1)).t();
        let b = MatRef::rows(&sb, n, k).t();
        let rsc = n + 3;
        let c0: Vec<T> = data(m * rsc, 3);
        for (alpha, beta) in [
            (T::ONE, T::ZERO),
            (-T::ONE, T::ONE),
            (T::from_f64(0.5), T::from_f64(2.0)),
        ] {
            let want = naive(
                (m, k, n),
                |i, l| sa[3 + l * m + i],
                |l, j| sb[j * k + l],
                (alpha, beta),
                &c0,
                rsc,
            );
            let mut c = c0.clone();
            Gemm::new()
                .threads(1)
                .alpha(alpha)
                .beta(beta)
                .to_slice(a, b, &mut c, rsc);
            assert_eq!(c, want, "{m}×{k}×{n}, α = {alpha}, β = {beta}");
            // The same on four threads: bit-identical.
            let mut c4 = c0.clone();
            Gemm::new()
                .alpha(alpha)
                .beta(beta)
                .threads(4)
                .to_slice(a, b, &mut c4, rsc);
            assert_eq!(c4, c);
            if beta == T::ZERO {
                let fresh = Gemm::new().alpha(alpha).threads(4).to_vec(a, b);
                let rows: Vec<T> = (0..m)
                    .flat_map(|i| c[i * rsc..i * rsc + n].to_vec())
                    .collect();
                assert_eq!(fresh, rows);
            }
        }
    }
}

#[test]
fn single_products_match_naive() {
    single::<f32>();
    single::<f64>();
}

#[test]
fn batched_products_match_naive_with_a_shared_operand() {
    // Two batch axes (2, 3); B shared by the batch (strides 0); C's items stacked as rows.
    let (m, k, n) = (4, 6, 5);
    let dims = [2usize, 3];
    let sa: Vec<f64> = data(6 * m * k, 4);
    let sb: Vec<f64> = data(k * n, 5);
    let a_strides = [3 * m * k, m * k];
    let a = MatRef::batched(&sa, 0, (&dims, &a_strides), (m, k), (k, 1));
    let b = MatRef::batched(&sb, 0, (&dims, &[0, 0]), (k, n), (n, 1));
    let rsc = n + 1;
    let mut c = vec![f64::NAN; (6 * m - 1) * rsc + n];
    Gemm::new().threads(3).to_slice(a, b, &mut c, rsc);
    let fresh = Gemm::new().to_vec(a, b);
    for item in 0..6 {
        let want = naive(
            (m, k, n),
            |i, l| sa[item * m * k + i * k + l],
            |l, j| sb[l * n + j],
            (1.0, 0.0),
            &vec![0.0; m * n],
            n,
        );
        for i in 0..m {
            let got = &c[(item * m + i) * rsc..][..n];
            assert_eq!(got, &want[i * n..(i + 1) * n]);
            assert_eq!(&fresh[(item * m + i) * n..][..n], got);
        }
    }
    // One item, and a block of it.
    let it = a.item(&[1, 2]).block((1, 2), (2, 3));
    let got = Gemm::new().to_vec(it, MatRef::rows(&sb, k, n).block((2, 3), (0, n)));
    let base = 5 * m * k;
    let want = naive(
        (2, 3, n),
        |i, l| sa[base + (1 + i) * k + 2 + l],
        |l, j| sb[(2 + l) * n + j],
        (1.0, 0.0),
        &vec![0.0; 2 * n],
        n,
    );
    assert_eq!(got, want);
}

#[test]
#[should_panic(expected = "GEMM operand reaches past its buffer")]
fn an_operand_past_its_slice_is_refused() {
    let s = [0.0f32; 11];
    let _ = MatRef::new(&s, 0, (3, 4), (4, 1));
}

#[test]
#[should_panic(expected = "C reaches past its buffer")]
fn an_output_past_its_slice_is_refused() {
    let s = [1.0f32; 12];
    let a = MatRef::rows(&s, 3, 4);
    let mut c = [0.0f32; 8];
    Gemm::new().to_slice(a, a.t(), &mut c, 3);
}

#[test]
fn empty_operands_have_no_element_to_check() {
    // A batch of zero items may point anywhere; k = 0 writes α·0 + β·C.
    let s: [f32; 0] = [];
    let a = MatRef::batched(&s, 99, (&[0], &[5]), (3, 4), (4, 1));
    let b = MatRef::batched(&s, 7, (&[0], &[0]), (4, 2), (2, 1));
    assert!(Gemm::new().to_vec(a, b).is_empty());
    let a = MatRef::new(&s, 0, (2, 0), (0, 1));
    let b = MatRef::new(&s, 0, (0, 2), (2, 1));
    assert_eq!(Gemm::new().to_vec(a, b), [0.0; 4]);
}
