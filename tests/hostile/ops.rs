//! Elementwise ops, matmul and reductions at the edges of the floating-point range: ±0,
//! subnormals, 1e±30 (f32) / 1e±300 (f64), ±∞, NaN, all-equal lanes and empty axes. The right
//! value is IEEE arithmetic's (NaN propagates, overflow is ∞), except where a reduction's
//! intermediate overflows or underflows while its result does not.

use shapecheck::prelude::*;

fn v32(xs: &[f32]) -> Tensor<(Dyn,)> {
    Tensor::from_vec_with((Dyn::new(xs.len()),), xs.to_vec()).unwrap()
}

fn v64(xs: &[f64]) -> Tensor<(Dyn,), f64> {
    Tensor::from_vec_with((Dyn::new(xs.len()),), xs.to_vec()).unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    ((a - b) / b).abs()
}

#[test]
fn elementwise_follows_ieee() {
    let tiny = f32::from_bits(1); // the smallest subnormal
    let a = v32(&[0.0, -0.0, f32::INFINITY, f32::NAN, tiny, f32::MAX]);
    let b = v32(&[-0.0, -0.0, f32::NEG_INFINITY, 1.0, tiny, f32::MAX]);
    let sum = a.try_add(&b).unwrap();
    let s = sum.as_slice();
    assert_eq!(s[0].to_bits(), 0.0f32.to_bits()); // 0 + -0 = +0
    assert_eq!(s[1].to_bits(), (-0.0f32).to_bits()); // -0 + -0 = -0
    assert!(s[2].is_nan() && s[3].is_nan()); // ∞ − ∞, NaN + 1
    assert_eq!(s[4], f32::from_bits(2)); // subnormals add exactly
    assert_eq!(s[5], f32::INFINITY); // overflow
    let q = a.try_div(&b).unwrap();
    let q = q.as_slice();
    assert!(q[0].is_nan() && q[1].is_nan()); // 0 / 0
    assert_eq!(q[4], 1.0);
    let scaled = &a * 0.0;
    assert!(scaled.as_slice()[2].is_nan()); // ∞ · 0
    assert_eq!(scaled.as_slice()[1].to_bits(), (-0.0f32).to_bits());
}

#[test]
fn matmul_propagates_nan_and_infinity() {
    let z = Tensor::<(D<2>, D<2>)>::zeros();
    let mut n = Tensor::<(D<2>, D<2>)>::ones();
    n[[0, 0]] = f32::NAN;
    // 0 · NaN is NaN: a kernel that skipped zeros would lose it.
    let p = z.matmul(&n);
    assert!(p[[0, 0]].is_nan() && p[[1, 0]].is_nan());
    assert_eq!((p[[0, 1]], p[[1, 1]]), (0.0, 0.0));
    let p = n.matmul(&z);
    assert!(p[[0, 0]].is_nan() && p[[0, 1]].is_nan());
    assert_eq!((p[[1, 0]], p[[1, 1]]), (0.0, 0.0));
    let mut i = Tensor::<(D<2>, D<2>)>::ones();
    i[[1, 1]] = f32::INFINITY;
    let p = i.matmul(&z);
    assert_eq!(p[[0, 0]], 0.0);
    assert!(p[[1, 0]].is_nan()); // ∞ · 0
    let p = i.matmul(&i);
    assert_eq!(p[[1, 1]], f32::INFINITY);
}

#[test]
fn matmul_at_the_ends_of_the_range() {
    // 1e30² overflows f32 (right: ∞); 1e-30² underflows to 0 (right: the nearest f32).
    let big = Tensor::<(D<1>, D<3>)>::full(1e30);
    assert_eq!(big.matmul(&big.t())[[0, 0]], f32::INFINITY);
    let small = Tensor::<(D<1>, D<3>)>::full(1e-30);
    assert_eq!(small.matmul(&small.t())[[0, 0]], 0.0);
    // In f64 both fit.
    let big = Tensor::<(D<1>, D<3>), f64>::full(1e150);
    assert!(rel(big.matmul(&big.t())[[0, 0]], 3e300) < 1e-15);
    let small = Tensor::<(D<1>, D<3>), f64>::full(1e-150);
    assert!(rel(small.matmul(&small.t())[[0, 0]], 3e-300) < 1e-15);
    // Subnormal operands times normal ones are exact here.
    let s = Tensor::<(D<2>, D<2>), f64>::full(1e-310);
    let two = Tensor::<(D<2>, D<2>), f64>::full(2.0);
    assert_eq!(s.matmul(&two)[[1, 1]], 4e-310);
}

#[test]
fn matmul_with_empty_dims() {
    // An empty inner dim is an empty sum: zeros.
    let a = Tensor::<(Dyn, Dyn)>::zeros_with((Dyn::new(2), Dyn::new(0)));
    let b = Tensor::<(Dyn, Dyn)>::zeros_with((Dyn::new(0), Dyn::new(3)));
    let c = a.try_matmul(&b).unwrap();
    assert_eq!(c.dims().as_slice(), &[2, 3]);
    assert!(c.as_slice().iter().all(|&x| x == 0.0));
    let d = b
        .try_matmul(&Tensor::<(Dyn, Dyn)>::ones_with((Dyn::new(3), Dyn::new(4))))
        .unwrap();
    assert_eq!(d.dims().as_slice(), &[0, 4]);
    let e = Tensor::<(Dyn,)>::zeros_with((Dyn::new(0),));
    assert_eq!(e.dot(&e), 0.0);
}

#[test]
fn max_min_and_argmax_propagate_nan() {
    let x = v32(&[1.0, f32::NAN, 3.0, 2.0]);
    assert!(x.max::<0>()[[]].is_nan());
    assert!(x.min::<0>()[[]].is_nan());
    assert!(x.max_all().is_nan() && x.min_all().is_nan());
    assert_eq!(x.argmax::<0>()[[]], 1); // the first NaN, as NumPy and PyTorch
    let y = v32(&[f32::NEG_INFINITY, -0.0, f32::INFINITY, f32::INFINITY]);
    assert_eq!(y.max::<0>()[[]], f32::INFINITY);
    assert_eq!(y.min::<0>()[[]], f32::NEG_INFINITY);
    assert_eq!(y.argmax::<0>()[[]], 2); // the first of a tie
    let all_neg_inf = v32(&[f32::NEG_INFINITY; 3]);
    assert_eq!(all_neg_inf.argmax::<0>()[[]], 0);
    assert_eq!(all_neg_inf.max::<0>()[[]], f32::NEG_INFINITY);
}

#[test]
#[should_panic(expected = "argmax: axis 0 of a tensor of shape (Dyn=0,) is empty")]
fn argmax_of_an_empty_axis_panics() {
    // Index 0 of an empty axis would be out of range: no index is right.
    let _ = v32(&[]).argmax::<0>();
}

#[test]
fn reductions_of_empty_axes() {
    let e = v32(&[]);
    assert_eq!(e.sum_all(), 0.0);
    assert!(e.mean_all().is_nan());
    assert_eq!(e.max_all(), f32::NEG_INFINITY);
    assert_eq!(e.min_all(), f32::INFINITY);
    assert_eq!(e.norm::<0>()[[]], 0.0);
    assert!(e.var::<0>()[[]].is_nan());
    // No lane at all: an empty result, not a panic.
    let none = Tensor::<(Dyn, Dyn)>::zeros_with((Dyn::new(0), Dyn::new(0)));
    assert_eq!(none.argmax::<1>().len(), 0);
    assert_eq!(none.sum::<0>().len(), 0);
}

#[test]
fn mean_and_var_when_the_sum_overflows() {
    // Before: mean ∞ and var ∞ (the sum 1.2e39 overflows f32).
    let y = v32(&[3e38; 4]);
    assert_eq!(y.mean::<0>()[[]], 3e38);
    assert_eq!(y.mean_all(), 3e38);
    assert_eq!(y.var::<0>()[[]], 0.0);
    let y = v64(&[f64::MAX, f64::MAX, -f64::MAX, f64::MAX]);
    assert!(rel(y.mean::<0>()[[]], f64::MAX / 2.0) < 1e-15);
    // A square overflows though the variance fits: [2.5e19, 0, 0, 0] has var 1.17e38.
    let z = v32(&[2.5e19, 0.0, 0.0, 0.0]);
    let want = (2.5e19f64 * 2.5e19 * 3.0) / 16.0;
    assert!(rel(z.var::<0>()[[]] as f64, want) < 1e-6);
    // Where the true value exceeds f32::MAX, ∞ is right.
    assert_eq!(v32(&[1e20, -1e20]).var::<0>()[[]], f32::INFINITY);
    assert_eq!(v32(&[3e38, 3e38]).sum_all(), f32::INFINITY);
    // Non-finite inputs: IEEE.
    assert!(v32(&[f32::INFINITY, f32::NEG_INFINITY]).mean::<0>()[[]].is_nan());
    assert_eq!(v32(&[f32::INFINITY, 1.0]).mean::<0>()[[]], f32::INFINITY);
    assert!(v32(&[f32::INFINITY, 1.0]).var::<0>()[[]].is_nan());
}

#[test]
fn norm_is_scaled_against_overflow_and_underflow() {
    // Before: [3e20, 4e20] gave ∞ and [3e-30, 4e-30] gave 0 in f32.
    assert_eq!(v32(&[3e20, 4e20]).norm::<0>()[[]], 5e20);
    assert!(rel(v32(&[3e-30, 4e-30]).norm::<0>()[[]] as f64, 5e-30) < 1e-6);
    assert!(rel(v64(&[3e200, 4e200]).norm::<0>()[[]], 5e200) < 1e-15);
    assert!(rel(v64(&[3e-200, 4e-200]).norm::<0>()[[]], 5e-200) < 1e-15);
    assert!(rel(v64(&[1e-310; 3]).norm::<0>()[[]], 3f64.sqrt() * 1e-310) < 1e-9);
    // Where the true norm exceeds the type, ∞ is right; non-finite entries propagate.
    assert_eq!(v32(&[3e38; 4]).norm::<0>()[[]], f32::INFINITY);
    assert_eq!(
        v32(&[f32::NEG_INFINITY, 1.0]).norm::<0>()[[]],
        f32::INFINITY
    );
    assert!(v32(&[f32::NAN, 1e30]).norm::<0>()[[]].is_nan());
    assert_eq!(v32(&[0.0, -0.0]).norm::<0>()[[]], 0.0);
    // In range, the plain sum of squares (unchanged).
    assert_eq!(v32(&[3.0, 4.0]).norm::<0>()[[]], 5.0);
}

#[test]
fn all_equal_lanes() {
    for c in [1e-30f32, 1.0, 7.25, 1e30, -3e38] {
        let x = Tensor::<(D<3>, D<4>)>::full(c);
        assert!(x.var::<1>().as_slice().iter().all(|&v| v == 0.0), "{c}");
        assert!(x.mean::<1>().as_slice().iter().all(|&m| m == c), "{c}");
        assert!(x.max::<1>().as_slice().iter().all(|&m| m == c));
        assert_eq!(x.argmax::<1>().as_slice(), &[0, 0, 0]);
    }
}

#[test]
fn subnormal_sums_are_exact() {
    let s = v64(&[5e-324; 8]);
    assert_eq!(s.sum_all(), 8.0 * 5e-324);
    assert_eq!(s.mean::<0>()[[]], 5e-324);
    let t = v32(&[1e-45, -1e-45, 1e-45]);
    assert_eq!(t.sum_all(), 1e-45);
}

#[test]
fn relu_propagates_nan() {
    // Before: relu(NaN) was 0 (f32::max drops a NaN).
    let x = v32(&[
        f32::NAN,
        f32::NEG_INFINITY,
        f32::INFINITY,
        -1e-45,
        1e-45,
        -0.0,
    ]);
    let y = x.relu();
    let y = y.as_slice();
    assert!(y[0].is_nan());
    assert_eq!(&y[1..5], &[0.0, f32::INFINITY, 0.0, f32::from_bits(1)]);
    assert_eq!(y[5], 0.0);
}
