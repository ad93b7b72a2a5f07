use shapecheck::prelude::*;

dim!(pub Batch);

fn main() {
    let x = Tensor::<(D<3>, D<4>)>::zeros();
    // `reshape` checks the element count at compile time, which a runtime dim does not have.
    let _y: Tensor<(Batch, D<4>)> = x.reshape();
}
