//! matmul against a naive triple loop, over random sizes (1 included) and random layouts
//! reached through transposed and permuted views, in f32 and f64, plain and batched.

mod common;

use common::{dyn2, matmul_magnitudes, matmul_ref, within, Mat};
use proptest::prelude::*;
use shapecheck::prelude::*;

/// `(rows, cols)` logical values `f(i, j)`, stored row-major or stored transposed.
fn stored<T: Float>(rows: usize, cols: usize, transposed: bool, seed: u64) -> Mat<T> {
    let shape = if transposed {
        dyn2(cols, rows)
    } else {
        dyn2(rows, cols)
    };
    Tensor::randn_with(shape, seed)
}

/// Logical element `[i, j]` of an operand stored by `stored`.
fn at<T: Float>(m: &Mat<T>, transposed: bool, i: usize, j: usize) -> f64 {
    if transposed { m[[j, i]] } else { m[[i, j]] }.to_f64()
}

/// Checks `c` against Σ_l a[i,l]·b[l,j] within a bound scaled by Σ_l |a[i,l]·b[l,j]|.
fn check<T: Float>(
    c: &[T],
    m: usize,
    n: usize,
    k: usize,
    eps: f64,
    a: impl Fn(usize, usize) -> f64,
    b: impl Fn(usize, usize) -> f64,
) -> Result<(), TestCaseError> {
    let want = matmul_ref(m, k, n, &a, &b);
    let mag = matmul_magnitudes(m, k, n, &a, &b);
    within(c, &want, |idx, _| eps * (mag[idx] + 1.0))
        .map_err(|e| TestCaseError::fail(format!("{m}×{k}×{n}, row-major {e}")))
}

fn matmul_2d<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
    eps: f64,
) -> Result<(), TestCaseError> {
    let a = stored::<T>(m, k, ta, 1);
    let b = stored::<T>(k, n, tb, 2);
    let c = match (ta, tb) {
        (false, false) => a.matmul(&b),
        (true, false) => a.t().matmul(&b),
        (false, true) => a.matmul(&b.t()),
        (true, true) => a.t().matmul(&b.t()),
    };
    prop_assert_eq!(c.dims().to_vec(), vec![m, n]);
    check(
        c.as_slice(),
        m,
        n,
        k,
        eps,
        |i, l| at(&a, ta, i, l),
        |l, j| at(&b, tb, l, j),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn matmul_f32_any_layout(m in 1usize..=70, k in 1usize..=70, n in 1usize..=70, ta: bool, tb: bool) {
        matmul_2d::<f32>(m, k, n, ta, tb, 1e-5)?;
    }

    #[test]
    fn matmul_f64_any_layout(m in 1usize..=70, k in 1usize..=70, n in 1usize..=70, ta: bool, tb: bool) {
        matmul_2d::<f64>(m, k, n, ta, tb, 1e-13)?;
    }

    #[test]
    fn matrix_vector_and_vector_matrix(m in 1usize..=70, k in 1usize..=70, ta: bool) {
        let a = stored::<f64>(m, k, ta, 3);
        let x = Tensor::<(Dyn,), f64>::randn_with((Dyn::new(k),), 4);
        let y = Tensor::<(Dyn,), f64>::randn_with((Dyn::new(m),), 5);
        let ax = if ta { a.t().matmul(&x) } else { a.matmul(&x) };
        check(ax.as_slice(), m, 1, k, 1e-13, |i, l| at(&a, ta, i, l), |l, _| x[[l]])?;
        let ya = if ta { y.matmul(&a.t()) } else { y.matmul(&a) };
        check(ya.as_slice(), 1, k, m, 1e-13, |_, l| y[[l]], |l, j| at(&a, ta, l, j))?;
        let dot = x.dot(&x);
        let expect: f64 = x.as_slice().iter().map(|v| v * v).sum();
        prop_assert!((dot - expect).abs() <= 1e-12 * expect.max(1.0));
    }

    /// (B, M, K)·(B, K, N) where each operand is a permuted view of a buffer stored in
    /// another axis order, so batch, row and column strides are all unusual.
    #[test]
    fn batched_matmul_through_permuted_views(
        batch in 1usize..=5, m in 1usize..=40, k in 1usize..=40, n in 1usize..=40,
        order_a in 0usize..3, order_b in 0usize..3,
    ) {
        let (b3, m3, k3, n3) = (Dyn::new(batch), Dyn::new(m), Dyn::new(k), Dyn::new(n));
        // Three storage orders per operand; each viewed back as (B, rows, cols).
        let a0 = Tensor::<(Dyn, Dyn, Dyn), f32>::randn_with((b3, m3, k3), 6);
        let a1 = Tensor::<(Dyn, Dyn, Dyn), f32>::randn_with((m3, b3, k3), 6);
        let a2 = Tensor::<(Dyn, Dyn, Dyn), f32>::randn_with((k3, m3, b3), 6);
        let b0 = Tensor::<(Dyn, Dyn, Dyn), f32>::randn_with((b3, k3, n3), 7);
        let b1 = Tensor::<(Dyn, Dyn, Dyn), f32>::randn_with((b3, n3, k3), 7);
        let b2 = Tensor::<(Dyn, Dyn, Dyn), f32>::randn_with((n3, k3, b3), 7);
        let av = match order_a { 0 => a0.view(), 1 => a1.permute((A1, A0, A2)), _ => a2.permute((A2, A1, A0)) };
        let bv = match order_b { 0 => b0.view(), 1 => b1.permute((A0, A2, A1)), _ => b2.permute((A2, A1, A0)) };
        let c = av.matmul(&bv);
        prop_assert_eq!(c.dims().to_vec(), vec![batch, m, n]);
        for bi in 0..batch {
            let item = &c.as_slice()[bi * m * n..(bi + 1) * m * n];
            check(item, m, n, k, 1e-5, |i, l| av[[bi, i, l]].to_f64(), |l, j| bv[[bi, l, j]].to_f64())?;
        }
        // One weight shared by the batch: (B, M, K)·(K, N).
        let w = stored::<f32>(k, n, order_b == 1, 8);
        let wv = if order_b == 1 { w.t() } else { w.view() };
        let shared = av.matmul(&wv);
        for bi in 0..batch {
            let item = &shared.as_slice()[bi * m * n..(bi + 1) * m * n];
            check(item, m, n, k, 1e-5, |i, l| av[[bi, i, l]].to_f64(), |l, j| wv[[l, j]].to_f64())?;
        }
    }

    /// Rank-4 batches, (B1, B2, M, K)·(B1, B2, K, N), f64.
    #[test]
    fn batched_rank4_f64(b1 in 1usize..=3, b2 in 1usize..=3, m in 1usize..=20, k in 1usize..=20, n in 1usize..=20) {
        let sh = |r, c| (Dyn::new(b1), Dyn::new(b2), Dyn::new(r), Dyn::new(c));
        let a = Tensor::<_, f64>::randn_with(sh(m, k), 9);
        let b = Tensor::<_, f64>::randn_with(sh(n, k), 10);
        let c = a.matmul(&b.t());
        for i1 in 0..b1 {
            for i2 in 0..b2 {
                let off = (i1 * b2 + i2) * m * n;
                check(&c.as_slice()[off..off + m * n], m, n, k, 1e-13, |i, l| a[[i1, i2, i, l]], |l, j| b[[i1, i2, j, l]])?;
            }
        }
    }
}

/// Products with few rows whose right operand is read transposed — `x·Wᵀ` with `W` stored
/// (n, k), as `Linear` computes it — take the in-place dot-product kernel when m ≤ 48 and
/// k ≥ 32. Swept over every tile edge (3-row blocks, 4-column strips, 8- and 16-element
/// chunks of k and the remainders), in f32 and f64, with the neighbours just outside
/// (m = 49, k = 31) that go to matrixmultiply.
#[test]
fn few_rows_times_transposed_weights_at_every_tile_edge() {
    for m in [1, 2, 3, 4, 5, 7, 19, 48, 49] {
        for k in [31, 32, 33, 40, 47, 385] {
            for n in [1, 3, 4, 5, 9] {
                matmul_2d::<f32>(m, k, n, false, true, 1e-5).unwrap();
                matmul_2d::<f64>(m, k, n, false, true, 1e-13).unwrap();
            }
        }
    }
}

/// The same kernel on operands that are column ranges of wider buffers: rows of `A` and of
/// `W` further apart than k, starting past the buffers' first element.
#[test]
fn few_rows_times_transposed_weights_through_column_slices() {
    for (m, k, n) in [(19, 40, 13), (3, 385, 4), (48, 33, 7)] {
        let wide_a = Tensor::<(Dyn, Dyn)>::randn_with(dyn2(m, k + 5), 11);
        let wide_w = Tensor::<(Dyn, Dyn)>::randn_with(dyn2(n, k + 3), 12);
        let a = wide_a.slice_with(A1, 2..2 + k);
        let w = wide_w.slice_with(A1, 1..1 + k);
        let c = a.matmul(&w.t());
        check(
            c.as_slice(),
            m,
            n,
            k,
            1e-5,
            |i, l| wide_a[[i, 2 + l]] as f64,
            |l, j| wide_w[[j, 1 + l]] as f64,
        )
        .unwrap();
    }
}

#[test]
fn zero_sized_operands() {
    let a = Tensor::<(Dyn, Dyn)>::zeros_with(dyn2(3, 0));
    let b = Tensor::<(Dyn, Dyn)>::zeros_with(dyn2(0, 4));
    // k = 0: the empty sum, all zeros.
    assert_eq!(a.matmul(&b).as_slice(), &[0.0; 12]);
    let e = Tensor::<(Dyn, Dyn)>::zeros_with(dyn2(0, 3));
    assert!(e.matmul(&a).is_empty());
    assert_eq!(a.t().matmul(&a).as_slice(), &[0.0; 0]);
}

#[test]
fn runtime_dim_mismatches_are_errors() {
    let a = Tensor::<(Dyn, Dyn)>::zeros_with(dyn2(2, 3));
    let b = Tensor::<(Dyn, Dyn)>::zeros_with(dyn2(4, 5));
    let err = a.try_matmul(&b).unwrap_err();
    assert!(matches!(err, ShapeError::Incompatible { op: "matmul", .. }));
    assert!(
        err.to_string()
            .contains("inner dims differ (3 on the left, 4 on the right)"),
        "{err}"
    );

    shapecheck::dim!(pub Batch);
    let x = Tensor::<(Batch, Dyn, Dyn)>::zeros_with((Batch::new(2), Dyn::new(3), Dyn::new(4)));
    let y = Tensor::<(Batch, Dyn, Dyn)>::zeros_with((Batch::new(3), Dyn::new(4), Dyn::new(5)));
    let err = x.try_matmul(&y).unwrap_err();
    assert_eq!(
        err.to_string(),
        "matmul: cannot combine (Batch=2, Dyn=3, Dyn=4) with (Batch=3, Dyn=4, Dyn=5): \
         the batch dims differ ([2] on the left, [3] on the right)"
    );
    let v = Tensor::<(Dyn,)>::zeros_with((Dyn::new(3),));
    let w = Tensor::<(Dyn,)>::zeros_with((Dyn::new(4),));
    assert!(v.try_dot(&w).is_err());
}

#[test]
#[should_panic(expected = "inner dims differ (3 on the left, 4 on the right)")]
fn plain_matmul_panics_with_the_same_message() {
    let a = Tensor::<(Dyn, Dyn)>::zeros_with(dyn2(2, 3));
    let b = Tensor::<(Dyn, Dyn)>::zeros_with(dyn2(4, 5));
    let _ = a.matmul(&b);
}

#[test]
fn from_vec_of_the_wrong_length_is_an_error() {
    shapecheck::dim!(pub Seq = 4);
    let err = Tensor::<(Seq, D<3>)>::from_vec(vec![0.0; 11]).unwrap_err();
    assert_eq!(
        err,
        ShapeError::LengthMismatch {
            shape: "(Seq=4, 3)".into(),
            expected: 12,
            actual: 11
        }
    );
    assert!(Tensor::<(Seq, D<3>)>::from_vec(vec![0.0; 12]).is_ok());
}

#[test]
fn static_named_dims_end_to_end() {
    shapecheck::dim!(pub Seq = 5; pub HeadDim = 5; pub Heads = 3);
    let q = Tensor::<(Heads, Seq, HeadDim), f64>::randn(1);
    let k = Tensor::<(Heads, Seq, HeadDim), f64>::randn(2);
    let s: Tensor<(Heads, Seq, Seq), f64> = q.matmul(&k.t());
    for h in 0..3 {
        for i in 0..5 {
            for j in 0..5 {
                let expect: f64 = (0..5).map(|d| q[[h, i, d]] * k[[h, j, d]]).sum();
                assert!((s[[h, i, j]] - expect).abs() < 1e-12);
            }
        }
    }
}

#[test]
fn threads_change_speed_not_results() {
    let a = Tensor::<(D<12>, D<128>, D<64>)>::randn(1);
    let b = Tensor::<(D<12>, D<128>, D<64>)>::randn(2);
    let serial = shapecheck::with_threads(1, || a.matmul(&b.t()));
    let parallel = shapecheck::with_threads(2, || a.matmul(&b.t()));
    assert_eq!(serial, parallel);

    // One product split over threads: by columns with few rows (the in-place kernel on
    // x·Wᵀ; matrixmultiply on x·W), by rows with many; sizes that leave ragged last blocks.
    for (m, k, n) in [(19, 384, 1541), (300, 200, 301)] {
        for transposed in [false, true] {
            let a = stored::<f32>(m, k, false, 3);
            let b = stored::<f32>(k, n, transposed, 4);
            let product = || {
                if transposed {
                    a.matmul(&b.t())
                } else {
                    a.matmul(&b)
                }
            };
            let serial = shapecheck::with_threads(1, product);
            for threads in [2, 3] {
                let parallel = shapecheck::with_threads(threads, product);
                assert_eq!(
                    serial, parallel,
                    "{m}×{k}×{n}, transposed: {transposed}, {threads} threads"
                );
            }
        }
    }
}

#[test]
fn transposed_operand_is_not_copied() {
    let b = Tensor::<(D<3>, D<4>)>::randn(0);
    let bt = b.t();
    assert!(std::ptr::eq(bt.as_base_slice(), b.as_slice()));
    assert_eq!(bt.strides().as_slice(), &[1, 4]);
}
