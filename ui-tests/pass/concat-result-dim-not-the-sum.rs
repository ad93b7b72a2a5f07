use shapecheck::prelude::*;

fn main() {
    let x = Tensor::<(D<3>, D<2>)>::zeros();
    let y = Tensor::<(D<4>, D<2>)>::ones();
    let z: Tensor<(D<7>, D<2>)> = x.concat(A0, &y);
    assert_eq!(z.as_slice()[6..], [1.0; 8]);
}
