use shapecheck::prelude::*;

fn main() {
    let a = Tensor::<(D<2>, D<3>)>::zeros();
    let b = Tensor::<(D<3>, D<5>)>::zeros();
    let c: Tensor<(D<2>, D<5>)> = a.matmul(&b);
    assert_eq!(c.dims().as_slice(), &[2, 5]);
}
