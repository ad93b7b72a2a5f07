//! layer_norm and rms_norm: runtime weight lengths, huge and tiny rows, large common
//! offsets, NaN and infinity.

use shapecheck::prelude::*;

fn row32(xs: &[f32]) -> Tensor<(D<1>, Dyn)> {
    Tensor::from_vec_with((D, Dyn::new(xs.len())), xs.to_vec()).unwrap()
}

fn row64(xs: &[f64]) -> Tensor<(D<1>, Dyn), f64> {
    Tensor::from_vec_with((D, Dyn::new(xs.len())), xs.to_vec()).unwrap()
}

fn vec32(n: usize, v: f32) -> Tensor<(Dyn,)> {
    Tensor::full_with((Dyn::new(n),), v)
}

fn vec64(n: usize, v: f64) -> Tensor<(Dyn,), f64> {
    Tensor::full_with((Dyn::new(n),), v)
}

/// `(x − mean)/√(var + eps)` in f64 from the given values, two-pass.
fn layer_norm_ref(xs: &[f64], eps: f64) -> Vec<f64> {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    xs.iter().map(|x| (x - mean) / (var + eps).sqrt()).collect()
}

fn assert_close_f32(got: &[f32], want: &[f64], ulps: f64, what: &str) {
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let tol = ulps * f32::EPSILON as f64 * w.abs().max(1e-30);
        assert!(
            (g as f64 - w).abs() <= tol,
            "{what}: element {i} is {g}, want {w} (±{tol:e})"
        );
    }
}

// 1. A runtime weight or bias of another length is a shape error, not a silent zip.

#[test]
fn layer_norm_short_weight_is_an_error() {
    let x = row32(&[1., 2., 3., 4.]);
    let err = x
        .try_layer_norm(&vec32(3, 1.0), &vec32(4, 0.0), 1e-5)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "layer_norm: cannot combine (1, Dyn=4) with the weight (Dyn=3,): the weight must have \
         one element per index of the last axis (4), not 3"
    );
}

#[test]
fn layer_norm_long_weight_and_wrong_bias_are_errors() {
    let x = row32(&[1., 2., 3., 4.]);
    assert!(x
        .try_layer_norm(&vec32(5, 1.0), &vec32(4, 0.0), 1e-5)
        .is_err());
    let err = x
        .try_layer_norm(&vec32(4, 1.0), &vec32(2, 0.0), 1e-5)
        .unwrap_err();
    assert!(err.to_string().contains("the bias (Dyn=2,)"), "{err}");
    assert!(x
        .try_layer_norm(&vec32(4, 1.0), &vec32(4, 0.0), 1e-5)
        .is_ok());
}

#[test]
#[should_panic(expected = "layer_norm: cannot combine (1, Dyn=4) with the weight (Dyn=3,)")]
fn plain_layer_norm_panics_on_a_short_weight() {
    let _ = row32(&[1., 2., 3., 4.]).layer_norm(&vec32(3, 1.0), &vec32(4, 0.0), 1e-5);
}

#[test]
fn rms_norm_weight_length_is_checked() {
    let x = row32(&[1., 2., 3., 4.]);
    let err = x.try_rms_norm(&vec32(3, 1.0), 1e-5).unwrap_err();
    assert_eq!(
        err.to_string(),
        "rms_norm: cannot combine (1, Dyn=4) with the weight (Dyn=3,): the weight must have \
         one element per index of the last axis (4), not 3"
    );
    assert!(x.try_rms_norm(&vec32(5, 1.0), 1e-5).is_err());
    assert!(x.try_rms_norm(&vec32(4, 1.0), 1e-5).is_ok());
}

#[test]
#[should_panic(expected = "rms_norm: cannot combine (1, Dyn=4) with the weight (Dyn=5,)")]
fn plain_rms_norm_panics_on_a_long_weight() {
    let _ = row32(&[1., 2., 3., 4.]).rms_norm(&vec32(5, 1.0), 1e-5);
}

// 8. Large finite values: scaled, not overflowed.

#[test]
fn layer_norm_of_huge_rows_f32() {
    let y = row32(&[1e20, -1e20]).layer_norm(&vec32(2, 1.0), &vec32(2, 0.0), 1e-5);
    assert_close_f32(y.as_slice(), &[1.0, -1.0], 4.0, "[1e20, -1e20]");
    let y = row32(&[3e38; 4]).layer_norm(&vec32(4, 1.0), &vec32(4, 0.5), 1e-5);
    assert_eq!(y.as_slice(), &[0.5; 4], "a constant row gives the bias");
    let y = row32(&[3e38, -3e38, 3e38, -3e38]).layer_norm(&vec32(4, 2.0), &vec32(4, 0.0), 1e-5);
    assert_close_f32(y.as_slice(), &[2.0, -2.0, 2.0, -2.0], 4.0, "[±3e38]");
}

#[test]
fn layer_norm_of_huge_rows_f64() {
    let y = row64(&[1e200, -1e200]).layer_norm(&vec64(2, 1.0), &vec64(2, 0.0), 1e-5);
    assert!(y.approx_eq(&row64(&[1.0, -1.0]), 1e-14, 0.0), "{y:?}");
    let y = row64(&[1.7e308; 3]).layer_norm(&vec64(3, 1.0), &vec64(3, 0.0), 1e-5);
    assert_eq!(y.as_slice(), &[0.0; 3]);
}

#[test]
fn rms_norm_of_huge_rows() {
    let y = row32(&[1e20, -1e20]).rms_norm(&vec32(2, 1.0), 1e-5);
    assert_close_f32(y.as_slice(), &[1.0, -1.0], 4.0, "rms [1e20, -1e20]");
    let y = row32(&[3e38; 4]).rms_norm(&vec32(4, 1.0), 1e-5);
    assert_close_f32(y.as_slice(), &[1.0; 4], 4.0, "rms [3e38; 4]");
    let y = row64(&[1e300, -1e300, 1e300]).rms_norm(&vec64(3, 1.0), 1e-5);
    assert!(y.approx_eq(&row64(&[1.0, -1.0, 1.0]), 1e-14, 0.0), "{y:?}");
}

#[test]
fn norms_of_tiny_rows() {
    // eps = 0: the row's own scale decides, even where x² underflows.
    let y = row32(&[1e-30, -1e-30]).layer_norm(&vec32(2, 1.0), &vec32(2, 0.0), 0.0);
    assert_close_f32(y.as_slice(), &[1.0, -1.0], 4.0, "tiny, eps 0");
    let y = row32(&[1e-30, -1e-30]).rms_norm(&vec32(2, 1.0), 0.0);
    assert_close_f32(y.as_slice(), &[1.0, -1.0], 4.0, "rms tiny, eps 0");
    // eps dominates: (x − mean)/√eps, not 0.
    let want = [1e-30 / 1e-5f64.sqrt(), -1e-30 / 1e-5f64.sqrt()];
    let y = row32(&[1e-30, -1e-30]).layer_norm(&vec32(2, 1.0), &vec32(2, 0.0), 1e-5);
    assert_close_f32(y.as_slice(), &want, 8.0, "tiny, eps 1e-5");
    let y = row32(&[1e-30, -1e-30]).rms_norm(&vec32(2, 1.0), 1e-5);
    assert_close_f32(y.as_slice(), &want, 8.0, "rms tiny, eps 1e-5");
    let y = row64(&[3e-320, -3e-320]).layer_norm(&vec64(2, 1.0), &vec64(2, 0.0), 0.0);
    assert!(y.approx_eq(&row64(&[1.0, -1.0]), 1e-12, 0.0), "{y:?}");
}

// 9. A large common offset does not swamp the mean.

#[test]
fn layer_norm_with_a_large_common_offset_f32() {
    let xs = [1e7 + 1.0, 1e7 + 2.0, 1e7 + 3.0];
    let y = row32(&xs).layer_norm(&vec32(3, 1.0), &vec32(3, 0.0), 1e-5);
    let want = layer_norm_ref(&xs.map(|x| x as f64), 1e-5);
    assert_close_f32(y.as_slice(), &want, 4.0, "1e7 + [1, 2, 3]");
    assert!((y[[0, 0]] + 1.2247).abs() < 1e-3 && y[[0, 1]].abs() < 1e-6);
}

#[test]
fn layer_norm_with_offsets_on_random_rows_is_within_a_few_ulps_of_f64() {
    for (seed, offset, n) in [(1, 1e4f32, 384), (2, 1e6, 37), (3, -3e5, 1000), (4, 1e7, 8)] {
        let noise = Tensor::<(D<4>, Dyn)>::randn_with((D, Dyn::new(n)), seed);
        let x = noise.map(|v| v + offset);
        let y = x.layer_norm(&vec32(n, 1.0), &vec32(n, 0.0), 1e-5);
        for r in 0..4 {
            let row: Vec<f64> = x.as_slice()[r * n..(r + 1) * n]
                .iter()
                .map(|&v| v as f64)
                .collect();
            let want = layer_norm_ref(&row, 1e-5);
            let got = &y.as_slice()[r * n..(r + 1) * n];
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                // A few ulps of the result's scale (values are O(1)).
                assert!(
                    (g as f64 - w).abs() <= 8.0 * f32::EPSILON as f64 * w.abs().max(1.0),
                    "offset {offset}, n {n}, row {r}, element {i}: {g} vs {w}"
                );
            }
        }
    }
}

#[test]
fn rms_norm_matches_f64_on_random_rows() {
    let n = 384;
    let x = Tensor::<(D<3>, Dyn)>::randn_with((D, Dyn::new(n)), 9);
    let y = x.rms_norm(&vec32(n, 1.0), 1e-6);
    for r in 0..3 {
        let row: Vec<f64> = x.as_slice()[r * n..(r + 1) * n]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let ms = row.iter().map(|v| v * v).sum::<f64>() / n as f64;
        let want: Vec<f64> = row.iter().map(|v| v / (ms + 1e-6).sqrt()).collect();
        assert_close_f32(&y.as_slice()[r * n..(r + 1) * n], &want, 8.0, "rms_norm");
    }
}

// NaN and infinity make their row NaN; other rows are untouched.

#[test]
fn non_finite_rows_become_nan() {
    let x = Tensor::<(D<3>, D<3>)>::from_vec(vec![
        1.0,
        f32::NAN,
        3.0,
        1.0,
        f32::INFINITY,
        3.0,
        1.0,
        2.0,
        3.0,
    ])
    .unwrap();
    let (w, b) = (Tensor::<(D<3>,)>::ones(), Tensor::<(D<3>,)>::zeros());
    for y in [x.layer_norm(&w, &b, 1e-5), x.rms_norm(&w, 1e-5)] {
        assert!(y.as_slice()[..6].iter().all(|v| v.is_nan()), "{y:?}");
        assert!(y.as_slice()[6..].iter().all(|v| v.is_finite()), "{y:?}");
    }
    let y = Tensor::<(D<1>, D<2>)>::from_vec(vec![f32::NEG_INFINITY, f32::INFINITY])
        .unwrap()
        .layer_norm(&Tensor::ones(), &Tensor::zeros(), 1e-5);
    assert!(y.as_slice().iter().all(|v| v.is_nan()));
}

#[test]
fn constant_and_zero_rows() {
    let (w, b) = (Tensor::<(D<4>,)>::ones(), Tensor::<(D<4>,)>::full(0.25));
    let zero = Tensor::<(D<1>, D<4>)>::zeros();
    assert_eq!(zero.layer_norm(&w, &b, 1e-5).as_slice(), &[0.25; 4]);
    assert_eq!(zero.rms_norm(&w, 1e-5).as_slice(), &[0.0; 4]);
    let c = Tensor::<(D<1>, D<4>)>::full(7.0);
    assert_eq!(c.layer_norm(&w, &b, 1e-5).as_slice(), &[0.25; 4]);
    // eps = 0 on a constant row is 0/0, as in PyTorch.
    assert!(c.layer_norm(&w, &b, 0.0).as_slice()[0].is_nan());
}
