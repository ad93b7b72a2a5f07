use shapecheck::prelude::*;

fn main() {
    let x = Tensor::<(D<3>, D<2>)>::zeros();
    let y = Tensor::<(D<4>, D<2>)>::zeros();
    let _z: Tensor<(D<8>, D<2>)> = x.concat(A0, &y);
}
