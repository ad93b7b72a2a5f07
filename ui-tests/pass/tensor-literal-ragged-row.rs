use shapecheck::prelude::*;

fn main() {
    let x = tensor!([[1., 2., 3.], [4., 5., 6.]]);
    let _: &Tensor<(D<2>, D<3>), f64> = &x;
    assert_eq!(x[[1, 2]], 6.0);
}
