use shapecheck::prelude::*;

dim!(pub DModel = 6; pub Heads = 2; pub HeadDim = 3);

fn main() {
    let x = Tensor::<(Heads, HeadDim)>::zeros();
    let m: Tensor<(DModel,)> = x.merge::<DModel>();
    assert_eq!(m.len(), 6);
}
