//! Softmax and log-softmax of rows holding NaN, ±∞ and huge finite values: PyTorch's answers
//! (NaN for a row with NaN or +∞), with a fully −∞ row the one documented exception (zeros
//! from softmax, −∞ from log-softmax).

use shapecheck::prelude::*;

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;

/// Rows of width 3 with the cases of the policy, in f64.
fn rows() -> Vec<(Vec<f64>, &'static str)> {
    vec![
        (vec![NAN, f64::NEG_INFINITY, f64::NEG_INFINITY], "NaN"),
        (vec![f64::NEG_INFINITY, NAN, NAN], "NaN"),
        (vec![NAN, 1.0, 2.0], "NaN"),
        (vec![INF, 0.0, 1.0], "NaN"),
        (vec![INF, f64::NEG_INFINITY, 1.0], "NaN"),
        (vec![INF, INF, INF], "NaN"),
        (vec![f64::NEG_INFINITY; 3], "masked"),
        (vec![1e4, -1e4, 0.0], "finite"),
    ]
}

fn check<T: Float>(cast: impl Fn(f64) -> T) {
    for (row, kind) in rows() {
        // The row as a lane along the last axis and along the first (a strided lane).
        let x =
            Tensor::<(D<1>, D<3>), T>::from_vec(row.iter().map(|&v| cast(v)).collect()).unwrap();
        let xt = x.t().to_tensor();
        for (p, lp) in [
            (x.softmax::<1>().into_vec(), x.log_softmax::<1>().into_vec()),
            (
                xt.softmax::<0>().into_vec(),
                xt.log_softmax::<0>().into_vec(),
            ),
        ] {
            match kind {
                "NaN" => {
                    assert!(p.iter().all(|v| v.is_nan()), "softmax {row:?} = {p:?}");
                    assert!(
                        lp.iter().all(|v| v.is_nan()),
                        "log_softmax {row:?} = {lp:?}"
                    );
                }
                "masked" => {
                    assert!(p.iter().all(|&v| v == T::ZERO), "softmax {row:?} = {p:?}");
                    assert!(lp.iter().all(|&v| v == T::NEG_INFINITY), "{lp:?}");
                }
                _ => {
                    // Max-subtracted: no NaN, no inf from large finite scores.
                    assert_eq!(p, [T::ONE, T::ZERO, T::ZERO], "softmax {row:?}");
                    assert_eq!(lp[0], T::ZERO);
                    assert!(lp.iter().all(|v| !v.is_nan()), "{lp:?}");
                }
            }
        }
    }
}

#[test]
fn nan_and_plus_inf_rows_are_nan_and_a_fully_masked_row_is_zero() {
    check::<f32>(|v| v as f32);
    check::<f64>(|v| v);
}

#[test]
fn a_nan_among_minus_infinities_in_a_long_row_is_not_masked() {
    // Long rows go through the 8-wide loops: the NaN sits past the first chunk.
    let mut row = vec![f32::NEG_INFINITY; 37];
    row[29] = f32::NAN;
    let x = Tensor::<(D<1>, D<37>)>::from_vec(row).unwrap();
    assert!(x.softmax::<1>().as_slice().iter().all(|v| v.is_nan()));
    assert!(x.log_softmax::<1>().as_slice().iter().all(|v| v.is_nan()));
    // The other rows of the same tensor are untouched by it.
    let mut two = vec![f32::NEG_INFINITY; 74];
    two[29] = f32::NAN;
    two[37..]
        .iter_mut()
        .enumerate()
        .for_each(|(i, v)| *v = i as f32);
    let p = Tensor::<(D<2>, D<37>)>::from_vec(two)
        .unwrap()
        .softmax::<1>();
    assert!(p.as_slice()[..37].iter().all(|v| v.is_nan()));
    let s: f32 = p.as_slice()[37..].iter().sum();
    assert!((s - 1.0).abs() < 1e-6 && p.as_slice()[37..].iter().all(|v| v.is_finite()));
}
