use shapecheck::prelude::*;

dim!(pub Seq = 4; pub Heads = 2; pub HeadDim = 8);

fn main() {
    let x = Tensor::<(Seq, Heads, HeadDim)>::zeros();
    // A permutation lists every axis: this one leaves out axis 2.
    let _y = x.permute((A1, A0));
}
