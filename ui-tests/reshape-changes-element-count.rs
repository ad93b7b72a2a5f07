use shapecheck::prelude::*;

fn main() {
    let x = Tensor::<(D<3>, D<4>)>::zeros();
    let _y: Tensor<(D<13>,)> = x.reshape();
}
