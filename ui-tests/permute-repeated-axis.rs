use shapecheck::prelude::*;

dim!(pub Seq = 4);
dim!(pub Heads = 2);
dim!(pub HeadDim = 8);

fn main() {
    let x = Tensor::<(Seq, Heads, HeadDim)>::zeros();
    let _y = x.permute((A1, A0, A1));
}
