//! normalize() and norm reductions at both ends of the range: Unit's invariant holds for
//! every finite row.

use shapecheck::prelude::*;

/// The largest magnitude `m` and the norm of the row divided by it (so that neither
/// overflows, even where the norm itself is beyond the type's range).
fn scaled_norm64<T: Float>(xs: &[T]) -> (f64, f64) {
    let m = xs.iter().fold(0.0f64, |m, x| m.max(x.to_f64().abs()));
    (
        m,
        xs.iter()
            .map(|x| (x.to_f64() / m).powi(2))
            .sum::<f64>()
            .sqrt(),
    )
}

fn assert_unit_rows<T: Float>(xs: &[T], n: usize) {
    let x =
        Tensor::<(Dyn, Dyn), T>::from_vec_with((Dyn::new(xs.len() / n), Dyn::new(n)), xs.to_vec())
            .unwrap();
    let u = x.normalize();
    let eps = T::EPSILON.to_f64();
    for (r, (row, out)) in xs
        .chunks(n)
        .zip(u.as_tensor().as_slice().chunks(n))
        .enumerate()
    {
        let (m, norm) = scaled_norm64(row);
        for (i, (&a, &b)) in row.iter().zip(out).enumerate() {
            let want = (a.to_f64() / m) / norm;
            assert!(
                (b.to_f64() - want).abs() <= 4.0 * eps,
                "row {r} {row:?}, element {i}: {b} vs {want}"
            );
        }
        let (m_out, n_out) = scaled_norm64(out);
        let n_out = m_out * n_out;
        assert!((n_out - 1.0).abs() <= 4.0 * eps, "row {r}: norm {n_out}");
    }
}

#[test]
fn normalize_f32_at_both_ends() {
    assert_unit_rows(&[3e19f32, 4e19], 2);
    assert_unit_rows(&[3e38f32, 3e38, -1e38, 2e38], 4);
    assert_unit_rows(&[3e-30f32, 4e-30], 2);
    assert_unit_rows(&[3e-45f32, 4e-45, 1e-45], 3); // subnormals
    assert_unit_rows(&[1e-20f32, 0.0, -2e-20], 3);
}

#[test]
fn normalize_f64_at_both_ends() {
    assert_unit_rows(&[3e154f64, 4e154], 2);
    assert_unit_rows(&[1.7e308f64, 1.7e308, -1e308], 3);
    assert_unit_rows(&[3e-160f64, 4e-160], 2);
    assert_unit_rows(&[3e-320f64, 4e-320], 2); // subnormals
}

#[test]
fn normalize_exact_values() {
    let u = Tensor::<(D<2>, D<2>)>::from_vec(vec![3e19, 4e19, 3e-30, 4e-30])
        .unwrap()
        .normalize();
    let want = Tensor::<(D<2>, D<2>)>::from_vec(vec![0.6, 0.8, 0.6, 0.8]).unwrap();
    assert!(u.as_tensor().approx_eq(&want, 2e-7, 0.0), "{u:?}");
}

#[test]
fn normalize_zero_and_non_finite_rows() {
    let x = Tensor::<(D<4>, D<2>)>::from_vec(vec![
        0.0,
        0.0,
        f32::NAN,
        1.0,
        f32::INFINITY,
        1.0,
        3.0,
        4.0,
    ])
    .unwrap();
    let u = x.normalize().into_tensor();
    assert_eq!(&u.as_slice()[..2], &[0.0, 0.0]);
    assert!(u.as_slice()[2..6].iter().all(|v| v.is_nan()), "{u:?}");
    assert_eq!(&u.as_slice()[6..], &[0.6, 0.8]);
}

#[test]
fn norm_reductions_are_scaled() {
    let x = Tensor::<(D<2>, D<2>)>::from_vec(vec![3e19, 4e19, 3e-30, 4e-30]).unwrap();
    let n = x.norm::<1>();
    assert!(((n[[0]] - 5e19) / 5e19).abs() < 3e-7, "{n:?}");
    assert!(((n[[1]] - 5e-30) / 5e-30).abs() < 3e-7, "{n:?}");
    assert_eq!(x.norm_last().as_slice(), n.as_slice());
    // Along a strided axis too.
    let c = x.t().norm::<1>();
    assert!(((c[[0]] - 3e19) / 3e19).abs() < 3e-7, "{c:?}");
    let y = Tensor::<(D<2>,), f64>::from_vec(vec![3e200, 4e200]).unwrap();
    assert!(((y.norm::<0>()[[]] - 5e200) / 5e200).abs() < 1e-15);
    let z = Tensor::<(D<2>,), f64>::from_vec(vec![3e-200, 4e-200]).unwrap();
    assert!(((z.norm::<0>()[[]] - 5e-200) / 5e-200).abs() < 1e-15);
    let big = Tensor::<(D<2>,)>::from_vec(vec![3e38, 3e38]).unwrap();
    assert_eq!(
        big.norm::<0>()[[]],
        f32::INFINITY,
        "the norm itself overflows f32"
    );
    let nan = Tensor::<(D<2>,)>::from_vec(vec![f32::NAN, 1e30]).unwrap();
    assert!(nan.norm::<0>()[[]].is_nan());
}

#[test]
fn cosine_similarity_of_extreme_vectors() {
    let a = Tensor::<(D<2>,)>::from_vec(vec![3e19, 4e19])
        .unwrap()
        .normalize();
    let b = Tensor::<(D<2>,)>::from_vec(vec![3e-30, 4e-30])
        .unwrap()
        .normalize();
    assert!((cosine_similarity(&a, &b) - 1.0).abs() < 1e-6);
}
