use shapecheck::prelude::*;

dim!(pub HeadDim = 64);

fn main() {
    // A vector has one axis: there is nothing for `.t()` to swap it with.
    let q = Tensor::<(HeadDim,)>::randn(0);
    let _qt = q.t();
}
