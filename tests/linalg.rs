//! SVD, truncated and randomized SVD, and PCA against the bounds and independent
//! references: reconstruction ‖UΣVᵀ − A‖_F/‖A‖_F and orthogonality ‖UᵀU − I‖_F, ‖VᵀV − I‖_F
//! within 1e-5 (f32) and 1e-12 (f64), on random, rank-deficient, ill-conditioned, zero,
//! tall, wide, 1×N and N×1 matrices; singular values checked against a cyclic Jacobi
//! eigensolver on AᵀA written here in f64; PCA against the covariance's eigenvectors.

mod common;

use common::{frob, Mat};
use proptest::prelude::*;
use shapecheck::linalg::{RandomizedSvd, TruncatedSvd};
use shapecheck::prelude::*;

fn dyn_mat<T: Float>(m: usize, n: usize, data: Vec<T>) -> Mat<T> {
    Tensor::from_vec_with((Dyn::new(m), Dyn::new(n)), data).unwrap()
}

/// ‖XᵀX − I‖₂ (the spectral norm: the largest |eigenvalue| of the symmetric error) for a
/// row-major `rows × cols` matrix with orthonormal columns.
///
/// The spectral norm, because the Frobenius norm of an n × n error grows like n·ε even for
/// LAPACK's factors (for n = 130 in f32 it is 2.3e-5), while the spectral norm grows like
/// √n·ε.
fn col_orth_err<T: Float>(x: &[T], rows: usize, cols: usize) -> f64 {
    let mut e = vec![0.0; cols * cols];
    for i in 0..cols {
        for j in 0..cols {
            let mut acc = 0.0;
            for r in 0..rows {
                acc += x[r * cols + i].to_f64() * x[r * cols + j].to_f64();
            }
            let id = if i == j { 1.0 } else { 0.0 };
            e[i * cols + j] = acc - id;
        }
    }
    let (ev, _) = jacobi_eig(e, cols);
    ev.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// ‖XXᵀ − I‖₂ for a row-major `rows × cols` matrix (orthonormal rows).
fn row_orth_err<T: Float>(x: &[T], rows: usize, cols: usize) -> f64 {
    let xt: Vec<f64> = (0..cols * rows)
        .map(|idx| x[(idx % rows) * cols + idx / rows].to_f64())
        .collect();
    col_orth_err(&xt, cols, rows)
}

/// Everything the issue asks of a thin SVD, with `tol` for both bounds.
fn check_svd<T: Float>(a: &Mat<T>, tol: f64) {
    let (m, n) = (a.dims()[0], a.dims()[1]);
    let k = m.min(n);
    let svd = a.try_svd().unwrap();
    assert_eq!(svd.u.dims().as_slice(), &[m, k]);
    assert_eq!(svd.s.dims().as_slice(), &[k]);
    assert_eq!(svd.vt.dims().as_slice(), &[k, n]);
    let s = svd.s.as_slice();
    assert!(s.iter().all(|v| *v >= T::ZERO), "negative singular value");
    assert!(s.windows(2).all(|w| w[0] >= w[1]), "not sorted: {s:?}");
    let back = svd.reconstruct();
    let diff: Vec<f64> = back
        .as_slice()
        .iter()
        .zip(a.as_slice())
        .map(|(x, y)| x.to_f64() - y.to_f64())
        .collect();
    let an = frob(a.as_slice());
    let rel = if an == 0.0 {
        frob(&diff)
    } else {
        frob(&diff) / an
    };
    assert!(rel <= tol, "{m}×{n}: reconstruction {rel:e} > {tol:e}");
    let ou = col_orth_err(svd.u.as_slice(), m, k);
    let ov = row_orth_err(svd.vt.as_slice(), k, n);
    assert!(ou <= tol, "{m}×{n}: ‖UᵀU − I‖ = {ou:e} > {tol:e}");
    assert!(ov <= tol, "{m}×{n}: ‖VᵀV − I‖ = {ov:e} > {tol:e}");
}

/// Eigenvalues of a symmetric f64 matrix by cyclic Jacobi, with eigenvectors as columns.
fn jacobi_eig(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |j| *j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        let diag: f64 = (0..n).map(|i| a[i * n + i] * a[i * n + i]).sum();
        if off <= 1e-30 * diag || off < 1e-300 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// Singular values of `a` from the eigenvalues of AᵀA or AAᵀ (the smaller), in f64.
fn reference_singular_values<T: Float>(a: &Mat<T>) -> Vec<f64> {
    let (m, n) = (a.dims()[0], a.dims()[1]);
    let x: Vec<f64> = a.as_slice().iter().map(|v| v.to_f64()).collect();
    let (k, gram) = if n <= m {
        let g = (0..n * n)
            .map(|idx| {
                (0..m)
                    .map(|r| x[r * n + idx / n] * x[r * n + idx % n])
                    .sum()
            })
            .collect();
        (n, g)
    } else {
        let g = (0..m * m)
            .map(|idx| {
                (0..n)
                    .map(|c| x[(idx / m) * n + c] * x[(idx % m) * n + c])
                    .sum()
            })
            .collect();
        (m, g)
    };
    let (mut ev, _) = jacobi_eig(gram, k);
    ev.sort_by(|a, b| b.total_cmp(a));
    ev.into_iter().map(|e| e.max(0.0).sqrt()).collect()
}

/// A random orthogonal `n × n` matrix (f64), by Gram–Schmidt twice on a Gaussian one.
fn random_orthogonal(n: usize, seed: u64) -> Vec<f64> {
    let g = Mat::<f64>::randn_with((Dyn::new(n), Dyn::new(n)), seed);
    let mut q: Vec<Vec<f64>> = Vec::new();
    for j in 0..n {
        let mut c: Vec<f64> = (0..n).map(|i| g[[i, j]]).collect();
        for _ in 0..2 {
            for p in &q {
                let d: f64 = p.iter().zip(&c).map(|(a, b)| a * b).sum();
                c.iter_mut().zip(p).for_each(|(x, y)| *x -= d * y);
            }
        }
        let nrm = c.iter().map(|x| x * x).sum::<f64>().sqrt();
        c.iter_mut().for_each(|x| *x /= nrm);
        q.push(c);
    }
    (0..n * n).map(|idx| q[idx % n][idx / n]).collect()
}

/// `U·diag(s)·Vᵀ` with random orthogonal `U` (`m × m`) and `V` (`n × n`).
fn with_spectrum<T: Float>(m: usize, n: usize, s: &[f64], seed: u64) -> Mat<T> {
    let u = random_orthogonal(m, seed);
    let v = random_orthogonal(n, seed + 1);
    let mut out = vec![T::ZERO; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0;
            for (l, sl) in s.iter().enumerate() {
                acc += u[i * m + l] * sl * v[j * n + l];
            }
            out[i * n + j] = T::from_f64(acc);
        }
    }
    dyn_mat(m, n, out)
}

const TOL32: f64 = 1e-5;
const TOL64: f64 = 1e-12;

fn fixed_cases<T: Float>(tol: f64) {
    for (m, n) in [
        (1, 1),
        (1, 7),
        (7, 1),
        (1, 50),
        (50, 1),
        (2, 2),
        (5, 3),
        (3, 5),
        (40, 40),
        (64, 17),
        (17, 64),
        (130, 70),
        (70, 130),
        (300, 20),
    ] {
        let a = Mat::<T>::randn_with((Dyn::new(m), Dyn::new(n)), (m * 1000 + n) as u64);
        check_svd(&a, tol);
        // The zero matrix, and a rank-deficient one (rank 3, or less for tiny shapes).
        check_svd(&Mat::<T>::zeros_with((Dyn::new(m), Dyn::new(n))), tol);
        let r = 3.min(m).min(n);
        let x = Mat::<T>::randn_with((Dyn::new(m), Dyn::new(r)), 5);
        let y = Mat::<T>::randn_with((Dyn::new(r), Dyn::new(n)), 6);
        check_svd(&x.matmul(&y), tol);
    }
}

#[test]
fn svd_fixed_cases_f32() {
    fixed_cases::<f32>(TOL32);
}

#[test]
fn svd_fixed_cases_f64() {
    fixed_cases::<f64>(TOL64);
}

#[test]
fn svd_ill_conditioned_cond_1e6() {
    for (m, n) in [(60, 60), (80, 50), (50, 80)] {
        let k = m.min(n);
        let s: Vec<f64> = (0..k)
            .map(|i| 10f64.powf(-6.0 * i as f64 / (k - 1) as f64))
            .collect();
        let a64 = with_spectrum::<f64>(m, n, &s, 11);
        check_svd(&a64, TOL64);
        let got = a64.svd().s;
        for (g, w) in got.as_slice().iter().zip(&s) {
            assert!((g - w).abs() <= 1e-13, "σ {g} vs {w}");
        }
        check_svd(&with_spectrum::<f32>(m, n, &s, 11), TOL32);
    }
}

#[test]
fn svd_repeated_and_graded_spectra() {
    // Clusters of equal singular values and exact zeros, and a strongly graded matrix.
    let s = [3.0, 3.0, 3.0, 1.0, 1.0, 0.0, 0.0, 0.0];
    check_svd(&with_spectrum::<f64>(12, 8, &s, 3), TOL64);
    check_svd(&with_spectrum::<f32>(12, 8, &s, 3), TOL32);
    let graded = Mat::<f64>::from_fn_with((Dyn::new(30), Dyn::new(30)), |[i, j]| {
        10f64.powi(-((i + j) as i32) / 4) * if (i * 7 + j * 3) % 5 == 0 { -1.0 } else { 1.0 }
    });
    check_svd(&graded, TOL64);
}

#[test]
fn divide_and_conquer_sizes_and_clusters() {
    // Sizes with several merge levels (leaves hold at most 24 rows), both element types, and
    // spectra whose merges deflate: clusters of equal values, exact zeros.
    for (m, n) in [(64, 64), (70, 52), (52, 70)] {
        let a = Mat::<f64>::randn_with((Dyn::new(m), Dyn::new(n)), (m + 7 * n) as u64);
        check_svd(&a, TOL64);
        let a = Mat::<f32>::randn_with((Dyn::new(m), Dyn::new(n)), (m + 7 * n) as u64);
        check_svd(&a, TOL32);
    }
    let k = 60;
    let s: Vec<f64> = (0..k)
        .map(|i| match i / 10 {
            0 | 1 => 2.0,
            2 | 3 => 1.0 + (i / 10) as f64 * 1e-9,
            4 => 0.25,
            _ => 0.0,
        })
        .collect();
    let a64 = with_spectrum::<f64>(k, k, &s, 21);
    check_svd(&a64, TOL64);
    let mut want = s.clone();
    want.sort_by(|a, b| b.total_cmp(a));
    for (g, w) in a64.svd().s.as_slice().iter().zip(&want) {
        assert!((g - w).abs() <= 1e-13, "σ {g} vs {w}");
    }
    check_svd(&with_spectrum::<f32>(k, k, &s, 21), TOL32);
}

#[test]
fn empty_matrices() {
    for (m, n) in [(0, 0), (0, 3), (3, 0)] {
        let a = Mat::<f64>::zeros_with((Dyn::new(m), Dyn::new(n)));
        let svd = a.svd();
        assert_eq!(svd.u.dims().as_slice(), &[m, 0]);
        assert_eq!(svd.s.dims().as_slice(), &[0]);
        assert_eq!(svd.vt.dims().as_slice(), &[0, n]);
        let full = a.svd_full();
        assert_eq!(full.u.dims().as_slice(), &[m, m]);
        assert_eq!(full.vt.dims().as_slice(), &[n, n]);
    }
}

#[test]
fn singular_values_match_an_eigensolver() {
    for (m, n, seed) in [(20, 12, 1), (12, 20, 2), (25, 25, 3)] {
        let a = Mat::<f64>::randn_with((Dyn::new(m), Dyn::new(n)), seed);
        let want = reference_singular_values(&a);
        let got = a.svd().s;
        for (g, w) in got.as_slice().iter().zip(&want) {
            assert!((g - w).abs() <= 1e-10 * want[0], "{g} vs {w}");
        }
    }
}

#[test]
fn full_svd_is_square_and_orthogonal() {
    for (m, n) in [(9, 4), (4, 9), (6, 6), (1, 5), (5, 1)] {
        let a = Mat::<f64>::randn_with((Dyn::new(m), Dyn::new(n)), 9);
        let f = a.svd_full();
        assert_eq!(f.u.dims().as_slice(), &[m, m]);
        assert_eq!(f.vt.dims().as_slice(), &[n, n]);
        assert!(col_orth_err(f.u.as_slice(), m, m) <= TOL64);
        assert!(row_orth_err(f.vt.as_slice(), n, n) <= TOL64);
        // The leading parts agree with the thin SVD's reconstruction.
        let k = m.min(n);
        let thin = a.svd();
        for i in 0..k {
            assert!((f.s[[i]] - thin.s[[i]]).abs() < 1e-12);
        }
        let mut back = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                back[i * n + j] = (0..k).map(|l| f.u[[i, l]] * f.s[[l]] * f.vt[[l, j]]).sum();
            }
        }
        let d: Vec<f64> = back.iter().zip(a.as_slice()).map(|(x, y)| x - y).collect();
        assert!(frob(&d) / frob(a.as_slice()) <= TOL64);
    }
}

#[test]
fn static_dims_and_typed_factors() {
    dim!(pub Tokens = 12);
    dim!(pub DModel = 8);
    dim!(pub Rank = 3);
    let a = Tensor::<(Tokens, DModel), f64>::randn(4);
    let svd = a.svd();
    assert_eq!(
        format!("{:?}", svd.u.shape()),
        "(Tokens=12, min(Tokens, DModel)=8)"
    );
    // The factors multiply back by type: (Tokens, K)·(K, DModel).
    let mut us = svd.u.clone();
    for row in us.as_mut_slice().chunks_exact_mut(8) {
        for (x, s) in row.iter_mut().zip(svd.s.as_slice()) {
            *x *= *s;
        }
    }
    let back: Tensor<(Tokens, DModel), f64> = us.matmul(&svd.vt);
    let d: Vec<f64> = back
        .as_slice()
        .iter()
        .zip(a.as_slice())
        .map(|(x, y)| x - y)
        .collect();
    assert!(frob(&d) / frob(a.as_slice()) < 1e-12);
    let t: TruncatedSvd<Tokens, DModel, Rank, f64> = a.truncated_svd::<Rank>();
    assert_eq!(format!("{:?}", t.vt.shape()), "(Rank=3, DModel=8)");
    assert_eq!(t.s.as_slice(), &svd.s.as_slice()[..3]);
}

#[test]
fn truncated_svd_is_eckart_young_optimal() {
    let a = Mat::<f64>::randn_with((Dyn::new(30), Dyn::new(20)), 8);
    let s = a.svd().s;
    for r in [0usize, 1, 5, 20] {
        let t = a.try_truncated_svd_with(Dyn::new(r)).unwrap();
        let back = t.reconstruct();
        let d: Vec<f64> = back
            .as_slice()
            .iter()
            .zip(a.as_slice())
            .map(|(x, y)| x - y)
            .collect();
        let opt = s.as_slice()[r..].iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!(
            (frob(&d) - opt).abs() <= 1e-10 * frob(a.as_slice()),
            "r = {r}"
        );
    }
    let err = a.try_truncated_svd_with(Dyn::new(21)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "truncated_svd: cannot combine (Dyn=30, Dyn=20) with rank Dyn=21: \
         the rank (21) must be at most min(rows, columns) = 20"
    );
}

#[test]
fn best_rank_of_static_matrix() {
    let a = Tensor::<(D<10>, D<7>), f64>::randn(2);
    let a2 = a.best_rank::<D<2>>();
    let s = a2.svd().s;
    assert!(s[[2]] <= 1e-12 * s[[0]]);
    assert!((s[[0]] - a.svd().s[[0]]).abs() < 1e-12);
}

/// A matrix with singular values `sᵢ = 0.8^i` (and a noise floor), the decaying spectrum
/// the randomized method is for.
fn decaying<T: Float>(m: usize, n: usize, seed: u64) -> (Mat<T>, Vec<f64>) {
    let k = m.min(n);
    let s: Vec<f64> = (0..k).map(|i| 0.8f64.powi(i as i32) + 1e-3).collect();
    (with_spectrum(m, n, &s, seed), s)
}

#[test]
fn randomized_svd_is_near_optimal_on_a_decaying_spectrum() {
    for (m, n) in [(120, 90), (90, 120)] {
        let (a, s) = decaying::<f64>(m, n, 21);
        for r in [4usize, 16] {
            let t = a
                .try_randomized_svd_with(Dyn::new(r), &RandomizedSvd::default())
                .unwrap();
            let back = t.reconstruct();
            let d: Vec<f64> = back
                .as_slice()
                .iter()
                .zip(a.as_slice())
                .map(|(x, y)| x - y)
                .collect();
            let opt = s[r..].iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!(
                frob(&d) <= 1.1 * opt,
                "{m}×{n} r = {r}: {} vs optimal {opt}",
                frob(&d)
            );
            assert!(col_orth_err(t.u.as_slice(), m, r) <= 1e-12);
            assert!(row_orth_err(t.vt.as_slice(), r, n) <= 1e-12);
            for (g, w) in t.s.as_slice().iter().zip(&s) {
                assert!((g - w).abs() <= 0.05 * w, "σ {g} vs {w}");
            }
        }
    }
    let (a, s) = decaying::<f32>(100, 100, 5);
    let t = a
        .try_randomized_svd_with(Dyn::new(16), &RandomizedSvd::default())
        .unwrap();
    let back = t.reconstruct();
    let d: Vec<f64> = back
        .as_slice()
        .iter()
        .zip(a.as_slice())
        .map(|(x, y)| (x - y) as f64)
        .collect();
    let opt = s[16..].iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!(frob(&d) <= 1.1 * opt);
}

#[test]
fn non_finite_input_is_an_error() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut a = Mat::<f64>::randn_with((Dyn::new(4), Dyn::new(3)), 1);
        a[[2, 1]] = bad;
        let e = a.try_svd().unwrap_err();
        assert_eq!(
            e.to_string(),
            "svd: the input of shape (Dyn=4, Dyn=3) holds a NaN or an infinity"
        );
        assert!(matches!(e, NumericError::NonFinite { .. }));
        assert!(a.try_svd_full().is_err());
        assert!(a.try_truncated_svd_with(Dyn::new(2)).is_err());
        assert!(a
            .try_randomized_svd_with(Dyn::new(2), &RandomizedSvd::default())
            .is_err());
    }
}

#[test]
#[should_panic(expected = "svd: the input of shape (3, 3) holds a NaN or an infinity")]
fn svd_panics_with_the_same_message() {
    let mut a = Tensor::<(D<3>, D<3>)>::zeros();
    a[[0, 0]] = f32::NAN;
    let _ = a.svd();
}

#[test]
fn extreme_magnitudes_do_not_overflow() {
    for scale in [1e30f32, 1e-30f32] {
        let a = Mat::<f32>::randn_with((Dyn::new(20), Dyn::new(15)), 3).map(|x| x * scale);
        check_svd(&a, TOL32);
    }
    for scale in [1e300f64, 1e-300f64] {
        let a = Mat::<f64>::randn_with((Dyn::new(20), Dyn::new(15)), 3).map(|x| x * scale);
        check_svd(&a, TOL64);
    }
}

#[test]
fn pca_matches_the_covariance_eigendecomposition() {
    dim!(pub Samples);
    dim!(pub Features = 6);
    dim!(pub Comp = 3);
    // Correlated features: a random mixing of independent sources of different scales.
    let src = Tensor::<(Samples, Features), f64>::randn_with((Samples::new(200), Features), 1);
    let mix = Tensor::<(Features, Features), f64>::randn(2);
    let mut x = src.matmul(&mix);
    for (i, v) in x.as_mut_slice().iter_mut().enumerate() {
        *v = *v * (1.0 + (i % 6) as f64) + 5.0;
    }
    let pca = Pca::<Features, Comp, f64>::fit(&x);
    // The covariance, and its eigenpairs by Jacobi.
    let (ns, f) = (200, 6);
    let mean: Vec<f64> = (0..f)
        .map(|j| (0..ns).map(|i| x[[i, j]]).sum::<f64>() / ns as f64)
        .collect();
    let cov: Vec<f64> = (0..f * f)
        .map(|idx| {
            let (a, b) = (idx / f, idx % f);
            (0..ns)
                .map(|i| (x[[i, a]] - mean[a]) * (x[[i, b]] - mean[b]))
                .sum::<f64>()
                / (ns - 1) as f64
        })
        .collect();
    let (ev, vecs) = jacobi_eig(cov, f);
    let mut order: Vec<usize> = (0..f).collect();
    order.sort_by(|a, b| ev[*b].total_cmp(&ev[*a]));
    let total: f64 = ev.iter().sum();
    for (c, &o) in order.iter().take(3).enumerate() {
        let var = pca.explained_variance()[[c]];
        assert!(
            (var - ev[o]).abs() <= 1e-9 * ev[o],
            "variance {var} vs {}",
            ev[o]
        );
        let ratio = pca.explained_variance_ratio()[[c]];
        assert!((ratio - ev[o] / total).abs() <= 1e-9);
        // Same axis up to sign.
        let dotp: f64 = (0..f)
            .map(|j| pca.components()[[c, j]] * vecs[j * f + o])
            .sum();
        assert!(
            (dotp.abs() - 1.0).abs() <= 1e-9,
            "component {c}: |cos| = {}",
            dotp.abs()
        );
    }
    for (j, m) in mean.iter().enumerate() {
        assert!((pca.mean()[[j]] - m).abs() < 1e-12);
    }
    // transform = projection on the components; the scores are uncorrelated with the
    // variances above.
    let z = pca.transform(&x);
    assert_eq!(z.dims().as_slice(), &[200, 3]);
    for c in 0..3 {
        let v: f64 = (0..ns).map(|i| z[[i, c]] * z[[i, c]]).sum::<f64>() / (ns - 1) as f64;
        assert!((v - pca.explained_variance()[[c]]).abs() <= 1e-9 * v);
    }
    // inverse_transform(transform(x)) is the projection of x: exact for data in the span.
    let x3 = pca.inverse_transform(&z);
    let z3 = pca.transform(&x3);
    for (a, b) in z.as_slice().iter().zip(z3.as_slice()) {
        assert!((a - b).abs() < 1e-9);
    }
}

#[test]
fn pca_runtime_rank_is_checked() {
    let x = Mat::<f64>::randn_with((Dyn::new(4), Dyn::new(9)), 1);
    let err = Pca::<Dyn, Dyn, f64>::try_fit_with(&x, Dyn::new(5)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "pca: cannot combine (Dyn=4, Dyn=9) with rank Dyn=5: \
         the rank (5) must be at most min(rows, columns) = 4"
    );
    let p = Pca::<Dyn, Dyn, f64>::try_fit_with(&x, Dyn::new(4)).unwrap();
    // Four centred samples span at most three directions.
    assert!(p.explained_variance()[[3]] < 1e-20);
}

fn matrix_strategy<T: Float>(max: usize) -> impl Strategy<Value = Mat<T>> {
    (1..=max, 1..=max, any::<u64>(), 0usize..3).prop_map(|(m, n, seed, kind)| {
        let a = Mat::<T>::randn_with((Dyn::new(m), Dyn::new(n)), seed);
        match kind {
            // Plain Gaussian.
            0 => a,
            // Rank one less than full, where possible.
            1 => {
                let r = m.min(n).saturating_sub(1).max(1);
                let x = Mat::<T>::randn_with((Dyn::new(m), Dyn::new(r)), seed ^ 1);
                let y = Mat::<T>::randn_with((Dyn::new(r), Dyn::new(n)), seed ^ 2);
                x.matmul(&y)
            }
            // Columns of wildly different scales.
            _ => Mat::<T>::from_fn_with((Dyn::new(m), Dyn::new(n)), |[i, j]| {
                a[[i, j]] * T::from_f64(10f64.powi(j as i32 % 7 - 3))
            }),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn prop_svd_f64(a in matrix_strategy::<f64>(48)) {
        check_svd(&a, TOL64);
    }

    #[test]
    fn prop_svd_f32(a in matrix_strategy::<f32>(48)) {
        check_svd(&a, TOL32);
    }

    #[test]
    fn prop_truncated_matches_thin(a in matrix_strategy::<f64>(24), r in 0usize..24) {
        let k = a.dims()[0].min(a.dims()[1]);
        let r = r.min(k);
        let thin = a.svd();
        let t = a.try_truncated_svd_with(Dyn::new(r)).unwrap();
        prop_assert_eq!(t.s.as_slice(), &thin.s.as_slice()[..r]);
    }
}

/// Issue 12, item 5: before the drivers' scaling, a matrix holding values near `T::MAX` gave
/// singular values [∞, NaN, …] and an all-subnormal one did not converge. A matrix built
/// with a known spectrum at either end of the range must give that spectrum back.
#[test]
fn svd_recovers_known_spectra_at_the_ends_of_the_range() {
    fn check<T: Float>(s: &[f64], tol: f64) {
        for (m, n) in [(6, 3), (3, 6)] {
            let a = with_spectrum::<T>(m, n, s, 40);
            let got = a.try_svd().unwrap().s;
            for (g, w) in got.as_slice().iter().zip(s) {
                let err = (g.to_f64() - w).abs() / s[0];
                assert!(err < tol, "{m}×{n}: σ {g:e} vs {w:e} ({err:e})");
            }
            let t = a.try_truncated_svd_with(Dyn::new(2)).unwrap();
            assert!((t.s[[0]].to_f64() - s[0]).abs() / s[0] < tol);
        }
    }
    check::<f64>(&[1e308, 4e307, 1e307], 1e-13);
    check::<f64>(&[3e-300, 2e-300, 1e-300], 1e-13);
    check::<f64>(&[3e-309, 2e-309, 1e-309], 1e-9); // subnormal entries
    check::<f32>(&[3e38, 1e38, 5e37], 1e-5);
    check::<f32>(&[3e-36, 2e-36, 1e-36], 1e-5);
    check::<f32>(&[3e-39, 2e-39, 1e-39], 1e-3); // subnormal entries
}
