use shapecheck::prelude::*;

dim!(pub Seq = 16);
dim!(pub DModel = 384);
dim!(pub Heads = 12);
dim!(pub HeadDim = 32);

fn main() {
    let x = Tensor::<(Seq, DModel)>::zeros();
    let heads: Tensor<(Seq, Heads, HeadDim)> = x.split::<Heads, HeadDim>();
    assert_eq!(heads.dims().as_slice(), &[16, 12, 32]);
}
