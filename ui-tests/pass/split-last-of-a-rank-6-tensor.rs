use shapecheck::prelude::*;

dim!(pub DModel = 6; pub Heads = 2; pub HeadDim = 3);

fn main() {
    let x = Tensor::<(D<1>, D<1>, D<1>, D<1>, DModel)>::zeros();
    let h: Tensor<(D<1>, D<1>, D<1>, D<1>, Heads, HeadDim)> = x.split::<Heads, HeadDim>();
    assert_eq!(h.len(), 6);
}
