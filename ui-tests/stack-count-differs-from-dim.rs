use shapecheck::prelude::*;

dim!(pub Heads = 4);
dim!(pub HeadDim = 8);

fn main() {
    let h = Tensor::<(HeadDim,)>::zeros();
    let _all: Tensor<(Heads, HeadDim)> = Tensor::stack(A0, [&h, &h, &h]);
}
