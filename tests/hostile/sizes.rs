//! Shapes whose element count overflows `usize`, and zero-sized dims, through the
//! constructors, views, reshape, concat, stack, slice, broadcasting and elementwise ops.

use shapecheck::prelude::*;

const BIG: usize = 1 << 32;

fn too_large(shape: &str) -> ShapeError {
    ShapeError::TooLarge {
        shape: shape.to_string(),
    }
}

#[test]
fn from_vec_with_rejects_an_overflowing_shape() {
    let err =
        Tensor::<(Dyn, Dyn)>::from_vec_with((Dyn::new(BIG), Dyn::new(BIG)), vec![]).unwrap_err();
    assert_eq!(err, too_large("(Dyn=4294967296, Dyn=4294967296)"));
    assert_eq!(
        err.to_string(),
        "a tensor of shape (Dyn=4294967296, Dyn=4294967296) has too many elements: \
         their count overflows usize"
    );
    // A zero dim does not excuse the others (as NumPy): their strides would overflow.
    let err = Tensor::<(Dyn, Dyn, Dyn)>::from_vec_with(
        (Dyn::new(0), Dyn::new(BIG), Dyn::new(BIG)),
        vec![],
    )
    .unwrap_err();
    assert!(matches!(err, ShapeError::TooLarge { .. }));
}

#[test]
fn shape_counts_are_checked() {
    assert_eq!(
        (Dyn::new(BIG), Dyn::new(BIG + 1)).try_num_elements().ok(),
        None
    );
    assert_eq!(
        (Dyn::new(BIG), Dyn::new(BIG - 1)).try_num_elements(),
        Ok(usize::MAX - BIG + 1)
    );
    assert_eq!(
        (Dyn::new(BIG), Dyn::new(BIG / 2)).try_num_elements(),
        Ok(1 << 63)
    );
    assert_eq!(
        (Dyn::new(usize::MAX), Dyn::new(0)).try_num_elements(),
        Ok(0)
    );
    assert_eq!((Dyn::new(usize::MAX),).try_num_elements(), Ok(usize::MAX));
    assert_eq!(().try_num_elements(), Ok(1));
}

#[test]
#[should_panic(expected = "has too many elements: their count overflows usize")]
fn zeros_with_panics_on_an_overflowing_shape() {
    let _ = Tensor::<(Dyn, Dyn)>::zeros_with((Dyn::new(BIG), Dyn::new(BIG)));
}

#[test]
#[should_panic(expected = "has too many elements: their count overflows usize")]
fn ones_with_panics_on_an_overflowing_shape() {
    let _ = Tensor::<(Dyn, D<2>, Dyn)>::ones_with((Dyn::new(BIG), D, Dyn::new(BIG / 2)));
}

#[test]
#[should_panic(expected = "has too many elements: their count overflows usize")]
fn from_fn_with_panics_on_an_overflowing_shape() {
    let _ = Tensor::<(Dyn, Dyn), f64>::from_fn_with((Dyn::new(BIG), Dyn::new(BIG)), |_| 1.0);
}

#[test]
#[should_panic(expected = "has too many elements: their count overflows usize")]
fn num_elements_panics_instead_of_wrapping() {
    let _ = (Dyn::new(BIG), Dyn::new(BIG)).num_elements();
}

#[test]
fn views_reject_an_overflowing_shape() {
    // Before: Ok, with len() == 0, and a to_tensor() that ran for ever.
    let buf = [1.0f32];
    let err = TensorView::from_parts(&buf, 0, (Dyn::new(BIG), Dyn::new(BIG)), &[0, 0]);
    assert_eq!(
        err.map(|v| v.len()).unwrap_err(),
        too_large("(Dyn=4294967296, Dyn=4294967296)")
    );
    let mut buf = [1.0f32];
    let err = TensorViewMut::from_parts(&mut buf, 0, (Dyn::new(BIG), Dyn::new(BIG)), &[0, 0]);
    assert!(matches!(err, Err(ShapeError::TooLarge { .. })));
}

#[test]
fn a_stride_zero_view_that_fits_is_copied_right() {
    let buf = [2.5f32];
    let v = TensorView::from_parts(&buf, 0, (Dyn::new(300), Dyn::new(200)), &[0, 0]).unwrap();
    assert_eq!(v.len(), 60_000);
    let t = v.to_tensor();
    assert_eq!(t.len(), 60_000);
    assert!(t.as_slice().iter().all(|&x| x == 2.5));
}

#[test]
fn reshape_into_an_overflowing_shape_names_it() {
    let x = Tensor::<(Dyn,)>::zeros_with((Dyn::new(8),));
    // Before: "the element counts differ (8 and 0)".
    let err = x
        .try_reshape_with((Dyn::new(BIG), Dyn::new(BIG)))
        .unwrap_err();
    assert_eq!(err, too_large("(Dyn=4294967296, Dyn=4294967296)"));
}

#[test]
fn zero_sized_tensors_reshape_slice_and_index() {
    let x = Tensor::<(Dyn, Dyn)>::from_vec_with((Dyn::new(BIG), Dyn::new(0)), vec![]).unwrap();
    assert!(x.is_empty());
    assert_eq!(x.strides().as_slice(), &[0, 1]);
    assert_eq!(x.get([0, 0]), None);
    let y = x
        .clone()
        .try_reshape_with((Dyn::new(0), Dyn::new(7)))
        .unwrap();
    assert_eq!(y.dims().as_slice(), &[0, 7]);
    let s = x.try_slice_with(A0, 5..BIG).unwrap();
    assert_eq!(s.dims().as_slice(), &[BIG - 5, 0]);
    assert!(s.to_vec().is_empty());
    assert!(x.try_slice_with(A0, 5..BIG + 1).is_err());
}

#[test]
fn empty_views_with_any_strides_slice_and_unsqueeze() {
    // A view with no element is valid with any strides; slicing and unsqueezing it must not
    // overflow computing offsets or strides it will never use.
    let buf: [f32; 0] = [];
    let v = TensorView::from_parts(&buf, 0, (Dyn::new(0), Dyn::new(5)), &[1, usize::MAX]).unwrap();
    let s = v.try_slice_with(A1, 2..4).unwrap();
    assert_eq!(s.dims().as_slice(), &[0, 2]);
    let u = v.unsqueeze::<1>();
    assert_eq!(u.dims().as_slice(), &[0, 1, 5]);
    assert!(u.to_vec().is_empty());
}

#[test]
fn concat_whose_axis_overflows_is_an_error() {
    let half = 1usize << 63;
    let a = Tensor::<(Dyn, Dyn)>::from_vec_with((Dyn::new(half), Dyn::new(0)), vec![]).unwrap();
    let err = a.try_concat::<0, _, Dyn>(A0, &a).unwrap_err();
    assert_eq!(
        err.to_string(),
        "concat: cannot combine (Dyn=9223372036854775808, Dyn=0) with \
         (Dyn=9223372036854775808, Dyn=0): the result's axis 0 would have \
         9223372036854775808 + 9223372036854775808 indices, more than usize can count"
    );
    // Half of it fits: (2^63 - 1, 0) twice is (2^64 - 2, 0), still empty.
    let b = Tensor::<(Dyn, Dyn)>::from_vec_with((Dyn::new(half - 1), Dyn::new(0)), vec![]).unwrap();
    let c: Tensor<(Dyn, Dyn)> = b.try_concat(A0, &b).unwrap();
    assert_eq!(c.dims().as_slice(), &[usize::MAX - 1, 0]);
}

#[test]
fn concat_and_stack_whose_count_overflows_are_errors() {
    // Stride-0 views whose element counts fit (2^63), but not their join (2^64).
    let buf = [1.0f32];
    let v = TensorView::from_parts(&buf, 0, (Dyn::new(BIG), Dyn::new(BIG / 2)), &[0, 0]).unwrap();
    let err = v.try_concat::<1, _, Dyn>(A1, &v).unwrap_err();
    assert_eq!(err, too_large("(Dyn=4294967296, Dyn=4294967296)"));
    let err = Tensor::<(Dyn, Dyn, Dyn)>::try_stack::<0, _, Dyn>(A0, &[&v, &v]).unwrap_err();
    assert_eq!(err, too_large("(Dyn=2, Dyn=4294967296, Dyn=2147483648)"));
}

#[test]
fn concat_and_stack_of_zero_sized_parts() {
    let e = Tensor::<(Dyn, D<3>)>::zeros_with((Dyn::new(0), D));
    let x = Tensor::<(Dyn, D<3>)>::from_fn_with((Dyn::new(2), D), |[i, j]| (3 * i + j) as f32);
    let c: Tensor<(Dyn, D<3>)> = e.try_concat(A0, &x).unwrap();
    assert_eq!(c.as_slice(), x.as_slice());
    let c: Tensor<(Dyn, D<3>)> = x.try_concat(A0, &e).unwrap();
    assert_eq!(c.as_slice(), x.as_slice());
    let s: Tensor<(Dyn, Dyn, D<3>)> = Tensor::try_stack(A0, &[&e, &e, &e]).unwrap();
    assert_eq!(s.dims().as_slice(), &[3, 0, 3]);
    let none: [&Tensor<(Dyn, D<3>)>; 0] = [];
    assert!(Tensor::<(Dyn, Dyn, D<3>)>::try_stack::<0, _, Dyn>(A0, &none).is_err());
}

#[test]
fn broadcasting_to_an_overflowing_shape_is_an_error() {
    let one = Tensor::<(Dyn, Dyn)>::ones_with((Dyn::new(1), Dyn::new(1)));
    let err = one
        .try_broadcast_to_with((Dyn::new(BIG), Dyn::new(BIG)))
        .map(|v| v.len())
        .unwrap_err();
    assert_eq!(err, too_large("(Dyn=4294967296, Dyn=4294967296)"));
    // Two operands that fit, whose broadcast shape does not.
    let buf = [1.0f32];
    let col = TensorView::from_parts(&buf, 0, (Dyn::new(BIG), Dyn::new(1)), &[0, 0]).unwrap();
    let row = TensorView::from_parts(&buf, 0, (Dyn::new(1), Dyn::new(BIG)), &[0, 0]).unwrap();
    assert_eq!(
        col.try_add(&row).map(|t| t.len()).unwrap_err(),
        too_large("(Dyn=4294967296, Dyn=4294967296)")
    );
}

#[test]
fn zero_sized_elementwise_and_broadcast() {
    let e = Tensor::<(Dyn, Dyn)>::zeros_with((Dyn::new(0), Dyn::new(4)));
    let r = Tensor::<(D<1>, Dyn)>::ones_with((D, Dyn::new(4)));
    let s = e.try_add(&r).unwrap();
    assert_eq!(s.dims().as_slice(), &[0, 4]);
    assert!(s.is_empty());
    // A size-0 dim does not broadcast against 4.
    let z = Tensor::<(Dyn,)>::zeros_with((Dyn::new(0),));
    let f = Tensor::<(Dyn,)>::zeros_with((Dyn::new(4),));
    assert!(z.try_add(&f).is_err());
}

#[test]
fn a_matmul_whose_product_overflows_is_an_error() {
    // (2^32, 1)·(1, 2^32) of stride-0 views: both operands fit, their product does not.
    let buf = [1.0f32];
    let col = TensorView::from_parts(&buf, 0, (Dyn::new(BIG), Dyn::new(1)), &[0, 0]).unwrap();
    let row = TensorView::from_parts(&buf, 0, (Dyn::new(1), Dyn::new(BIG)), &[0, 0]).unwrap();
    assert_eq!(
        col.try_matmul(&row).map(|t| t.len()).unwrap_err(),
        too_large("(Dyn=4294967296, Dyn=4294967296)")
    );
}
