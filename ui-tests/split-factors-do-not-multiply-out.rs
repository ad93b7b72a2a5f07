use shapecheck::prelude::*;

dim!(pub Seq = 16);
dim!(pub DModel = 384);
dim!(pub Heads = 12);
dim!(pub HeadDim = 64);

fn main() {
    let x = Tensor::<(Seq, DModel)>::zeros();
    let _heads = x.split::<Heads, HeadDim>();
}
