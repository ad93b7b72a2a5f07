//! The SVD, its truncations, PCA and LoRA on matrices at the ends of the floating-point
//! range. As LAPACK's drivers do, a matrix outside the safe range is scaled by a power of two,
//! so `svd(c·A)` with `c = 2^k` is exactly `c·svd(A)`'s singular values and `svd(A)`'s vectors;
//! what cannot be represented (a singular value beyond `T::MAX`) is an `Err`.

use shapecheck::linalg::{Pca, RandomizedSvd};
use shapecheck::prelude::*;
use shapecheck::Error;

type Mat<T> = Tensor<(Dyn, Dyn), T>;

fn mat<T: Float>(m: usize, n: usize, seed: u64) -> Mat<T> {
    Mat::<T>::randn_with((Dyn::new(m), Dyn::new(n)), seed)
}

fn scaled<T: Float>(a: &Mat<T>, c: f64) -> Mat<T> {
    a.map(|x| T::from_f64(x.to_f64() * c))
}

fn bits<T: Float>(xs: &[T]) -> Vec<u64> {
    xs.iter().map(|x| x.to_f64().to_bits()).collect()
}

/// Largest |entry| of `UᵀU − I` for the `k` columns of the row-major `m × k` matrix `u`.
fn orthogonality<T: Float>(u: &[T], m: usize, k: usize) -> f64 {
    let mut worst = 0.0f64;
    for i in 0..k {
        for j in 0..k {
            let d: f64 = (0..m)
                .map(|r| u[r * k + i].to_f64() * u[r * k + j].to_f64())
                .sum();
            worst = worst.max((d - if i == j { 1.0 } else { 0.0 }).abs());
        }
    }
    worst
}

/// `max |A − U·S·Vt| / σ₀`, in f64 from the factors scaled by `2^-e` (so that a product of
/// extreme values neither overflows nor underflows in the check itself).
fn reconstruction<T: Float>(a: &Mat<T>, u: &[T], s: &[T], vt: &[T], e: i32) -> f64 {
    let (m, n) = (a.dims()[0], a.dims()[1]);
    let k = s.len();
    let c = 2f64.powi(-e);
    let s0 = s[0].to_f64() * c;
    let mut worst = 0.0f64;
    for i in 0..m {
        for j in 0..n {
            let x: f64 = (0..k)
                .map(|p| u[i * k + p].to_f64() * (s[p].to_f64() * c) * vt[p * n + j].to_f64())
                .sum();
            worst = worst.max((x - a[[i, j]].to_f64() * c).abs());
        }
    }
    worst / s0
}

fn check_svd<T: Float>(a: &Mat<T>, e: i32, tol: f64) {
    let svd = a.try_svd().unwrap();
    let (m, n) = (a.dims()[0], a.dims()[1]);
    let k = m.min(n);
    let s = svd.s.as_slice();
    assert!(s.iter().all(|x| x.is_finite() && *x >= T::ZERO), "{s:?}");
    assert!(s.windows(2).all(|w| w[0] >= w[1]), "{s:?}");
    assert!(s[0] > T::ZERO);
    assert!(orthogonality(svd.u.as_slice(), m, k) < tol);
    let v: Vec<T> = svd.vt.t().to_tensor().into_vec();
    assert!(orthogonality(&v, n, k) < tol);
    let r = reconstruction(a, svd.u.as_slice(), s, svd.vt.as_slice(), e);
    assert!(r < tol, "reconstruction {r:e}");
}

#[test]
fn svd_of_a_matrix_holding_f64_max() {
    // Before: Ok with singular values [inf, NaN, NaN].
    let mut a = mat::<f64>(3, 3, 1);
    a[[1, 2]] = f64::MAX;
    check_svd(&a, 1023, 1e-14);
    let s = a.svd().s;
    // One entry dominates: σ₀ is within rounding of it.
    assert!(((s[[0]] - f64::MAX) / f64::MAX).abs() < 1e-15);
    check_svd(&scaled(&mat::<f64>(7, 4, 2), 1e300), 1000, 1e-13);
    check_svd(&scaled(&mat::<f64>(4, 7, 3), 1e300), 1000, 1e-13);
}

#[test]
fn svd_of_a_matrix_holding_f32_max() {
    let mut a = mat::<f32>(4, 3, 1);
    a[[3, 0]] = -f32::MAX;
    check_svd(&a, 127, 1e-5);
    check_svd(&scaled(&mat::<f32>(6, 5, 2), 1e37), 125, 1e-5);
}

#[test]
fn svd_of_subnormal_matrices() {
    // Before: "did not converge".
    for (m, n) in [(5, 3), (3, 5), (6, 6)] {
        let a = scaled(&mat::<f64>(m, n, 4), 1e-310);
        // Subnormal entries carry fewer bits; the check is relative to σ₀ ~ 1e-310.
        check_svd(&a, -1030, 1e-9);
        let b = scaled(&mat::<f32>(m, n, 5), 1e-40);
        check_svd(&b, -133, 1e-3);
    }
    // The exact SVD of the exact matrix: scaling it up by a power of two is exact, and its
    // singular values, scaled back, are those of the subnormal matrix (to its rounding).
    let a = scaled(&mat::<f64>(5, 4, 6), 1e-310);
    let up = scaled(&scaled(&a, 2f64.powi(530)), 2f64.powi(530));
    let (s, s_up) = (a.svd().s, up.svd().s);
    for (x, y) in s.as_slice().iter().zip(s_up.as_slice()) {
        assert!((x - y * 2f64.powi(-530) * 2f64.powi(-530)).abs() <= 1e-12 * s[[0]]);
    }
}

#[test]
fn power_of_two_scaling_is_invisible() {
    // c·A for c = 2^k has the singular values c·σ(A) and the vectors of A, bit for bit,
    // whether or not c·A is scaled back into the safe range first.
    let a = mat::<f64>(9, 6, 7);
    let base = a.svd();
    // (Scales that keep every entry normal: a subnormal entry would itself be rounded.)
    for k in [-1000, -600, -3, 5, 700, 1000] {
        let c = 2f64.powi(k);
        let svd = scaled(&a, c).svd();
        let back: Vec<f64> = svd.s.as_slice().iter().map(|x| x / c).collect();
        assert_eq!(bits(&back), bits(base.s.as_slice()), "k = {k}");
        assert_eq!(bits(svd.u.as_slice()), bits(base.u.as_slice()), "k = {k}");
        assert_eq!(bits(svd.vt.as_slice()), bits(base.vt.as_slice()), "k = {k}");
    }
    let b = mat::<f32>(5, 8, 8);
    let base = b.svd();
    for k in [-100, -50, 60, 100] {
        let c = 2f64.powi(k);
        let svd = scaled(&b, c).svd();
        let back: Vec<f32> = svd
            .s
            .as_slice()
            .iter()
            .map(|x| (*x as f64 / c) as f32)
            .collect();
        assert_eq!(bits(&back), bits(base.s.as_slice()), "k = {k}");
        assert_eq!(bits(svd.u.as_slice()), bits(base.u.as_slice()), "k = {k}");
    }
}

#[test]
fn a_singular_value_beyond_the_type_is_an_error() {
    let a = Mat::<f64>::full_with((Dyn::new(2), Dyn::new(2)), f64::MAX); // σ₀ = 2·MAX
    let err = a.try_svd().unwrap_err();
    assert_eq!(
        err.to_string(),
        "svd: the largest singular value of the input of shape (Dyn=2, Dyn=2) is larger than \
         the largest finite f64"
    );
    assert!(matches!(err, NumericError::Overflow { .. }));
    assert!(a.try_svd_full().is_err());
    let b = Mat::<f32>::full_with((Dyn::new(3), Dyn::new(2)), -f32::MAX);
    assert!(matches!(
        b.try_truncated_svd_with(Dyn::new(1)),
        Err(Error::Numeric(NumericError::Overflow { .. }))
    ));
    assert!(b
        .try_randomized_svd_with(Dyn::new(1), &RandomizedSvd::default())
        .is_err());
    assert!(b.try_best_rank_with(Dyn::new(1)).is_err());
}

#[test]
#[should_panic(expected = "svd: the largest singular value of the input of shape (2, 2)")]
fn svd_panics_on_overflow_with_the_same_message() {
    let _ = Tensor::<(D<2>, D<2>)>::full(f32::MAX).svd();
}

#[test]
fn truncated_randomized_and_best_rank_at_the_extremes() {
    let a = mat::<f64>(12, 8, 9);
    let t = a.try_truncated_svd_with(Dyn::new(3)).unwrap();
    let r = a
        .try_randomized_svd_with(Dyn::new(3), &RandomizedSvd::default())
        .unwrap();
    let best = a.try_best_rank_with(Dyn::new(3)).unwrap();
    for c in [2f64.powi(1000), 2f64.powi(-1000), 1e300, 1e-300] {
        let ca = scaled(&a, c);
        let tc = ca.try_truncated_svd_with(Dyn::new(3)).unwrap();
        for (x, y) in tc.s.as_slice().iter().zip(t.s.as_slice()) {
            assert!((x / c - y).abs() <= 1e-13 * y, "c = {c:e}");
        }
        let rc = ca
            .try_randomized_svd_with(Dyn::new(3), &RandomizedSvd::default())
            .unwrap();
        for (x, y) in rc.s.as_slice().iter().zip(r.s.as_slice()) {
            assert!((x / c - y).abs() <= 1e-12 * y, "c = {c:e}");
        }
        let bc = ca.try_best_rank_with(Dyn::new(3)).unwrap();
        let scale = best.as_slice().iter().fold(0.0f64, |m, x| m.max(x.abs()));
        for (x, y) in bc.as_slice().iter().zip(best.as_slice()) {
            // Entries of a subnormal result carry fewer bits.
            assert!(
                (x / c - y).abs() <= 1e-9 * scale,
                "c = {c:e}: {x:e} vs {y:e}"
            );
        }
    }
    // f32 near its top: the randomized range finder's A·Ω would overflow unscaled.
    let b = scaled(&mat::<f32>(20, 10, 10), 1e37);
    let rb = b
        .try_randomized_svd_with(Dyn::new(2), &RandomizedSvd::default())
        .unwrap();
    let tb = b.try_truncated_svd_with(Dyn::new(2)).unwrap();
    for (x, y) in rb.s.as_slice().iter().zip(tb.s.as_slice()) {
        assert!(((x - y) / y).abs() < 1e-2, "{x:e} vs {y:e}");
    }
    assert!(rb.u.as_slice().iter().all(|x| x.is_finite()));
}

#[test]
fn best_rank_has_a_try_form_for_runtime_dims() {
    let a = mat::<f64>(4, 3, 11);
    let err = a.try_best_rank_with(Dyn::new(4)).unwrap_err();
    assert!(matches!(err, Error::Shape(_)));
    assert_eq!(
        err.to_string(),
        "truncated_svd: cannot combine (Dyn=4, Dyn=3) with rank Dyn=4: the rank (4) must be \
         at most min(rows, columns) = 3"
    );
    let mut n = a.clone();
    n[[0, 0]] = f64::NAN;
    assert!(matches!(
        n.try_best_rank_with(Dyn::new(1)),
        Err(Error::Numeric(NumericError::NonFinite { .. }))
    ));
}

#[test]
fn pca_at_the_extremes() {
    let x = scaled(&mat::<f64>(30, 5, 12), 1.0).map(|v| v + 3.0);
    let base = Pca::<Dyn, Dyn, f64>::try_fit_with(&x, Dyn::new(2)).unwrap();
    for k in [500, -500, -1000] {
        let c = 2f64.powi(k);
        let p = Pca::<Dyn, Dyn, f64>::try_fit_with(&scaled(&x, c), Dyn::new(2)).unwrap();
        for (a, b) in p
            .components()
            .as_slice()
            .iter()
            .zip(base.components().as_slice())
        {
            assert!((a - b).abs() < 1e-12, "k = {k}");
        }
        for (a, b) in p
            .explained_variance_ratio()
            .as_slice()
            .iter()
            .zip(base.explained_variance_ratio().as_slice())
        {
            assert!((a - b).abs() < 1e-12, "k = {k}");
        }
        for (a, b) in p.mean().as_slice().iter().zip(base.mean().as_slice()) {
            assert!((a / c - b).abs() < 1e-12 * b.abs(), "k = {k}");
        }
        for (a, b) in p
            .singular_values()
            .as_slice()
            .iter()
            .zip(base.singular_values().as_slice())
        {
            assert!((a / c - b).abs() < 1e-9 * b, "k = {k}");
        }
        if k.abs() <= 500 {
            // c² fits: the variance is c²·var.
            for (a, b) in p
                .explained_variance()
                .as_slice()
                .iter()
                .zip(base.explained_variance().as_slice())
            {
                assert!((a / (c * c) - b).abs() < 1e-12 * b, "k = {k}");
            }
        } else if k < 0 {
            // c² underflows: the nearest f64 to the variance is 0 (or subnormal).
            assert!(p
                .explained_variance()
                .as_slice()
                .iter()
                .all(|v| *v >= 0.0 && *v < 1e-300));
        }
    }
    // Data near f64::MAX: its variance is beyond f64, an error (before: Ok, with a mean and
    // variances of ∞ and ratios of NaN).
    let big = Mat::<f64>::from_fn_with((Dyn::new(30), Dyn::new(5)), |[i, j]| {
        if (i + j) % 2 == 0 {
            f64::MAX / 4.0
        } else {
            -f64::MAX / 4.0
        }
    });
    assert!(matches!(
        Pca::<Dyn, Dyn, f64>::try_fit_with(&big, Dyn::new(1)),
        Err(Error::Numeric(NumericError::Overflow { .. }))
    ));
}

#[test]
fn pca_variance_beyond_the_type_is_an_error() {
    let x = scaled(&mat::<f64>(30, 5, 12), 2f64.powi(1000));
    let err = Pca::<Dyn, Dyn, f64>::try_fit_with(&x, Dyn::new(2)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "pca: the explained variance of the input of shape (Dyn=30, Dyn=5) is larger than the \
         largest finite f64"
    );
    let y = scaled(&mat::<f32>(30, 5, 12), 2f64.powi(70));
    assert!(matches!(
        Pca::<Dyn, Dyn, f32>::try_fit_with(&y, Dyn::new(2)),
        Err(Error::Numeric(NumericError::Overflow { .. }))
    ));
    let mut z = mat::<f32>(6, 3, 1);
    z[[2, 2]] = f32::INFINITY;
    assert!(matches!(
        Pca::<Dyn, Dyn, f32>::try_fit_with(&z, Dyn::new(1)),
        Err(Error::Numeric(NumericError::NonFinite { .. }))
    ));
}

#[test]
fn lora_from_delta_rejects_a_non_positive_or_non_finite_alpha() {
    let delta = mat::<f64>(6, 5, 13);
    for alpha in [0.0, -0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let err = LoRA::<Dyn, Dyn, Dyn, f64>::try_from_delta_with(&delta, Dyn::new(2), alpha)
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Numeric(NumericError::InvalidArgument { name: "alpha", .. })
            ),
            "{alpha}: {err}"
        );
        assert!(err
            .to_string()
            .contains("it must be finite and greater than 0"));
    }
    let mut bad = delta.clone();
    bad[[1, 1]] = f64::NAN;
    assert!(matches!(
        LoRA::<Dyn, Dyn, Dyn, f64>::try_from_delta_with(&bad, Dyn::new(2), 8.0),
        Err(Error::Numeric(NumericError::NonFinite { .. }))
    ));
}

#[test]
#[should_panic(expected = "LoRA::from_delta: alpha = -2 is invalid for the input of shape (6, 5)")]
fn lora_from_delta_panics_on_a_negative_alpha() {
    let delta = Tensor::<(D<6>, D<5>), f64>::randn(1);
    let _ = LoRA::<D<5>, D<6>, D<2>, f64>::from_delta(&delta, -2.0);
}

#[test]
fn lora_from_delta_at_the_extremes() {
    // A rank-2 update far from 1, with an ordinary and a tiny alpha: the factors are finite
    // and scale·B·A gives it back.
    let b = mat::<f32>(6, 2, 14);
    let a = mat::<f32>(2, 5, 15);
    let low = b.try_matmul(&a).unwrap();
    for (c, alpha) in [
        (1e30f64, 16.0f32),
        (1e-30, 16.0),
        (1e30, 1e10),
        (1e-20, 1e-15),
    ] {
        let delta = scaled(&low, c);
        let lora = LoRA::<Dyn, Dyn, Dyn>::try_from_delta_with(&delta, Dyn::new(2), alpha).unwrap();
        assert!(lora.a().as_slice().iter().all(|x| x.is_finite()));
        assert!(lora.b().as_slice().iter().all(|x| x.is_finite()));
        let back = lora.delta();
        let top = delta.as_slice().iter().fold(0.0f32, |m, x| m.max(x.abs()));
        for (x, y) in back.as_slice().iter().zip(delta.as_slice()) {
            assert!(
                (x - y).abs() <= 1e-4 * top,
                "c = {c:e}, alpha = {alpha:e}: {x:e} vs {y:e}"
            );
        }
    }
    // An alpha so small (or large) against ΔW that B·A = ΔW·R/alpha leaves f32's range: every
    // use of the adapter (delta, merge, forward) would give ∞ or 0, so it is an error.
    for (c, alpha) in [(1e30f64, 1e-30f32), (1e-38, 1e30)] {
        let err = LoRA::<Dyn, Dyn, Dyn>::try_from_delta_with(&scaled(&low, c), Dyn::new(2), alpha)
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Numeric(NumericError::InvalidArgument { name: "alpha", .. })
            ),
            "{err}"
        );
        assert!(err.to_string().contains("the scale of B·A"), "{err}");
    }
}
