//! `tensor!`: shapes inferred from nested array literals, element types from suffixes or
//! the context, and the `From` impls for nested arrays.

use shapecheck::prelude::*;

#[test]
fn shapes_follow_the_nesting() {
    let v = tensor!([1., 2., 3.]);
    let _: &Tensor<(D<3>,), f64> = &v;
    let m = tensor!([[1., 2., 3.], [4., 5., 6.]]);
    let _: &Tensor<(D<2>, D<3>), f64> = &m;
    assert_eq!(m.as_slice(), &[1., 2., 3., 4., 5., 6.]);
    assert_eq!(m[[1, 2]], 6.0);
    let t = tensor!([
        [[1., 2.], [3., 4.]],
        [[5., 6.], [7., 8.]],
        [[9., 10.], [11., 12.]]
    ]);
    let _: &Tensor<(D<3>, D<2>, D<2>), f64> = &t;
    assert_eq!(t[[2, 1, 0]], 11.0);
    let r6 = tensor!([[[[[[1.], [2.]]]]]]);
    assert_eq!(r6.dims().as_slice(), &[1, 1, 1, 1, 2, 1]);
}

#[test]
fn element_type_from_suffix_or_context() {
    let a = tensor!([1.0f32, 2.0]);
    let _: &Tensor<(D<2>,), f32> = &a;
    let b: Tensor<(D<2>, D<2>)> = tensor!([[1, 2], [-3, 4]]); // integers read as floats
    assert_eq!(b.as_slice(), &[1.0f32, 2.0, -3.0, 4.0]);
    let c: Tensor<(D<2>,), f64> = tensor!([0.5, 1.5]);
    assert_eq!(c.as_slice(), &[0.5, 1.5]);
}

#[test]
fn elements_are_expressions() {
    let x = 2.0f32;
    let t = tensor!([[x, x * 2.0], [x.sqrt(), -x]]);
    assert_eq!(t.as_slice(), &[2.0, 4.0, 2.0f32.sqrt(), -2.0]);
}

#[test]
fn from_nested_arrays() {
    let m: Tensor<(D<2>, D<2>)> = Tensor::from([[1.0, 2.0], [3.0, 4.0]]);
    assert_eq!(m[[1, 0]], 3.0);
    let t: Tensor<(D<1>, D<2>, D<1>, D<2>), f64> = [[[[1., 2.]], [[3., 4.]]]].into();
    assert_eq!(t.as_slice(), &[1., 2., 3., 4.]);
}

#[test]
fn literal_matches_from_vec() {
    let lit: Tensor<(D<2>, D<3>)> = tensor!([[1., 2., 3.], [4., 5., 6.]]);
    let v = Tensor::<(D<2>, D<3>)>::from_vec(vec![1., 2., 3., 4., 5., 6.]).unwrap();
    assert_eq!(lit, v);
}
