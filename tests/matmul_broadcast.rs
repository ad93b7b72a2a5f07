//! matmul broadcasting its batch dims as NumPy does: against a naive loop on random shapes
//! (each batch pair equal, or one side 1, or missing), through transposed views; the same
//! bits as an explicit repeat; a runtime mismatch as a `ShapeError`; and the traced product's
//! gradients (summed over the broadcast axes) against central finite differences.

mod common;

use common::gradcheck::*;
use proptest::prelude::*;
use shapecheck::prelude::*;

fn d4(a: usize, b: usize, c: usize, d: usize) -> (Dyn, Dyn, Dyn, Dyn) {
    (Dyn::new(a), Dyn::new(b), Dyn::new(c), Dyn::new(d))
}

/// Row-major strides of `dims`.
fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for j in (0..dims.len().saturating_sub(1)).rev() {
        s[j] = s[j + 1] * dims[j + 1];
    }
    s
}

/// NumPy's matmul of row-major `a: (…, m, k)` and `b: (…, k, n)` by a naive loop in f64:
/// the batch dims aligned on the right, a missing or size-1 dim stretched.
fn naive(a: &[f64], ad: &[usize], b: &[f64], bd: &[usize]) -> (Vec<usize>, Vec<f64>) {
    let (ra, rb) = (ad.len(), bd.len());
    let (m, k, n) = (ad[ra - 2], ad[ra - 1], bd[rb - 1]);
    assert_eq!(k, bd[rb - 2]);
    let nb = (ra - 2).max(rb - 2);
    let pad = |d: &[usize], r: usize| -> Vec<usize> {
        let mut v = vec![1; nb - (r - 2)];
        v.extend_from_slice(&d[..r - 2]);
        v
    };
    let (pa, pb) = (pad(ad, ra), pad(bd, rb));
    let batch: Vec<usize> = pa.iter().zip(&pb).map(|(&x, &y)| x.max(y)).collect();
    let (sa, sb) = (strides(&pa), strides(&pb));
    let items: usize = batch.iter().product();
    let mut out = Vec::with_capacity(items * m * n);
    for t in 0..items {
        let (mut rem, mut oa, mut ob) = (t, 0, 0);
        for j in (0..nb).rev() {
            let i = rem % batch[j];
            rem /= batch[j];
            oa += if pa[j] == 1 { 0 } else { i * sa[j] };
            ob += if pb[j] == 1 { 0 } else { i * sb[j] };
        }
        let (oa, ob) = (oa * m * k, ob * k * n);
        for i in 0..m {
            for j in 0..n {
                out.push((0..k).map(|l| a[oa + i * k + l] * b[ob + l * n + j]).sum());
            }
        }
    }
    let mut dims = batch;
    dims.extend([m, n]);
    (dims, out)
}

/// One batch pair: both `d`, the left 1, or the right 1.
fn pair(d: usize, which: u8) -> (usize, usize) {
    match which {
        0 => (d, d),
        1 => (1, d),
        _ => (d, 1),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn rank4_runtime_batch_dims_broadcast(
        b in prop::array::uniform2(1usize..=3),
        which in prop::array::uniform2(0u8..3),
        m in 1usize..=7, k in 1usize..=7, n in 1usize..=7,
        tb: bool,
    ) {
        let ((a0, b0), (a1, b1)) = (pair(b[0], which[0]), pair(b[1], which[1]));
        let x = Tensor::<(Dyn, Dyn, Dyn, Dyn), f64>::randn_with(d4(a0, a1, m, k), 1);
        // The right operand stored (…, n, k) and read through `.t()` half the time.
        let (y, got) = if tb {
            let y = Tensor::<_, f64>::randn_with(d4(b0, b1, n, k), 2);
            let got = x.matmul(&y.t());
            (y.t().to_tensor(), got)
        } else {
            let y = Tensor::<_, f64>::randn_with(d4(b0, b1, k, n), 2);
            let got = x.matmul(&y);
            (y, got)
        };
        let (dims, want) = naive(x.as_slice(), x.dims().as_slice(), y.as_slice(), y.dims().as_slice());
        prop_assert_eq!(got.dims().to_vec(), dims);
        for (g, w) in got.as_slice().iter().zip(&want) {
            prop_assert!((g - w).abs() <= 1e-12 * (1.0 + w.abs()), "{g} vs {w}");
        }
    }

    #[test]
    fn a_broadcast_operand_gives_the_bits_of_its_explicit_repeat(
        h in 2usize..=4, m in 1usize..=9, k in 1usize..=9, n in 1usize..=9,
    ) {
        let x = Tensor::<(Dyn, Dyn, Dyn), f32>::randn_with(d3(1, m, k), 3);
        let y = Tensor::<(Dyn, Dyn, Dyn), f32>::randn_with(d3(h, k, n), 4);
        let repeated = Tensor::<(Dyn, Dyn, Dyn), f32>::from_vec_with(
            d3(h, m, k),
            x.as_slice().repeat(h),
        ).unwrap();
        prop_assert_eq!(x.matmul(&y).into_vec(), repeated.matmul(&y).into_vec());
        // And on the right.
        let z = Tensor::<(Dyn, Dyn, Dyn), f32>::randn_with(d3(1, k, n), 5);
        let zz = Tensor::<(Dyn, Dyn, Dyn), f32>::from_vec_with(d3(h, k, n), z.as_slice().repeat(h)).unwrap();
        prop_assert_eq!(repeated.matmul(&z).into_vec(), repeated.matmul(&zz).into_vec());
    }
}

#[test]
fn static_batch_dims_broadcast_in_the_type() {
    dim!(pub Batch = 2; pub Heads = 3; pub Seq = 4; pub HeadDim = 5);
    let q = Tensor::<(Batch, D<1>, Seq, HeadDim), f64>::randn(1);
    let k = Tensor::<(D<1>, Heads, Seq, HeadDim), f64>::randn(2);
    let s: Tensor<(Batch, Heads, Seq, Seq), f64> = q.matmul(&k.t());
    let kt = k.t().to_tensor();
    let (dims, want) = naive(q.as_slice(), &[2, 1, 4, 5], kt.as_slice(), &[1, 3, 5, 4]);
    assert_eq!(s.dims().as_slice(), &dims[..]);
    common::assert_close(s.as_slice(), &want, 1e-12, 1e-12);

    // A lower-rank operand's missing leading dims are 1: (M, K)·(B, K, N) and
    // (H, M, K)·(B, H, K, N).
    let w = Tensor::<(Seq, HeadDim), f64>::randn(3);
    let v = Tensor::<(Batch, HeadDim, Seq), f64>::randn(4);
    let wv: Tensor<(Batch, Seq, Seq), f64> = w.matmul(&v);
    let (_, want) = naive(w.as_slice(), &[4, 5], v.as_slice(), &[2, 5, 4]);
    common::assert_close(wv.as_slice(), &want, 1e-12, 1e-12);
    let x = Tensor::<(Heads, Seq, HeadDim), f64>::randn(5);
    let y = Tensor::<(Batch, Heads, HeadDim, Seq), f64>::randn(6);
    let xy: Tensor<(Batch, Heads, Seq, Seq), f64> = x.matmul(&y);
    let (_, want) = naive(x.as_slice(), &[3, 4, 5], y.as_slice(), &[2, 3, 5, 4]);
    common::assert_close(xy.as_slice(), &want, 1e-12, 1e-12);
    let yx: Tensor<(Batch, Heads, HeadDim, HeadDim), f64> = y.matmul(&x);
    let (_, want) = naive(y.as_slice(), &[2, 3, 5, 4], x.as_slice(), &[3, 4, 5]);
    common::assert_close(yx.as_slice(), &want, 1e-12, 1e-12);
}

#[test]
fn runtime_batch_dims_that_do_not_broadcast_are_errors() {
    let x = Tensor::<(Dyn, Dyn, Dyn, Dyn)>::zeros_with(d4(2, 1, 3, 4));
    let y = Tensor::<(Dyn, Dyn, Dyn, Dyn)>::zeros_with(d4(3, 5, 4, 2));
    let err = x.try_matmul(&y).unwrap_err();
    assert_eq!(
        err.to_string(),
        "matmul: cannot combine (Dyn=2, Dyn=1, Dyn=3, Dyn=4) with (Dyn=3, Dyn=5, Dyn=4, Dyn=2): \
         the batch dims differ ([2, 1] on the left, [3, 5] on the right)"
    );
    // The same pair with a 1 broadcasts.
    let y = Tensor::<(Dyn, Dyn, Dyn, Dyn)>::zeros_with(d4(1, 5, 4, 2));
    assert_eq!(x.try_matmul(&y).unwrap().dims().as_slice(), &[2, 5, 3, 2]);
    let mut out = Tensor::<(Dyn, Dyn, Dyn, Dyn)>::zeros_with(d4(2, 1, 3, 2));
    assert!(x.try_matmul_into(&y, &mut out).is_err());
}

#[test]
fn traced_broadcast_gradients_sum_over_the_broadcast_axes() {
    // (2, 1, m, k)·(1, 3, k, n) and a right operand missing both batch axes' worth of
    // stretch on one side: every combination of stretched axes.
    for (ad, bd) in [
        ([2, 1, 3, 2], [1, 3, 2, 4]),
        ([1, 1, 2, 3], [2, 2, 3, 2]),
        ([2, 2, 3, 2], [2, 1, 2, 1]),
    ] {
        let x = param(d4(ad[0], ad[1], ad[2], ad[3]), 11);
        let y = param(d4(bd[0], bd[1], bd[2], bd[3]), 12);
        let eval = run(|tape| weigh(&tape.param(&x.borrow()).matmul(&tape.param(&y.borrow()))));
        check("broadcast x", &x, &eval, 1e-6);
        check("broadcast y", &y, &eval, 1e-6);
    }
    // A lower-rank operand: (m, k)·(b, k, n), the left operand read through `.t()`.
    let w = param(d2(2, 3), 13);
    let v = param(d3(4, 2, 2), 14);
    let eval = run(|tape| weigh(&tape.param(&w.borrow()).t().matmul(&tape.param(&v.borrow()))));
    check("shared lhs w", &w, &eval, 1e-6);
    check("shared lhs v", &v, &eval, 1e-6);
}
