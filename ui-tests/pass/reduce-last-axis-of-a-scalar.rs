use shapecheck::prelude::*;

fn main() {
    let losses = Tensor::<(D<3>,)>::full(1.5);
    let total: Tensor<()> = losses.sum_last();
    assert_eq!(total[[]], 4.5);
}
