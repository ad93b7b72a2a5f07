use shapecheck::prelude::*;

dim!(pub DModel = 6; pub Heads = 2; pub HeadDim = 3);

fn main() {
    let x = Tensor::<(D<1>, D<1>, D<1>, D<1>, D<1>, DModel)>::zeros();
    // Splitting the last dim would make 7 axes; a tensor has at most 6.
    let _h = x.split::<Heads, HeadDim>();
}
