use shapecheck::prelude::*;

dim!(pub HeadDim = 64);

fn main() {
    // As a (1, HeadDim) row, the vector has two axes, and `.t()` makes it a column.
    let q = Tensor::<(HeadDim,)>::randn(0);
    let column: TensorView<(HeadDim, D<1>)> = q.unsqueeze::<0>().t();
    assert_eq!(column[[5, 0]], q[[5]]);
}
