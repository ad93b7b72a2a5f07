use shapecheck::prelude::*;

fn main() {
    let x = Tensor::<(D<3>, D<4>)>::zeros();
    let y: Tensor<(D<12>,)> = x.reshape();
    assert_eq!(y.len(), 12);
}
