// Twin of split-heads-do-not-multiply-out: 12 heads of 32 make 384.
use shapecheck::prelude::*;

dim!(pub Seq);
dim!(pub DModel = 384);
dim!(pub Heads = 12);
dim!(pub HeadDim = 32);

fn main() {
    let x = Tensor::<(Seq, DModel)>::zeros_with((Seq::new(4), DModel));
    let h = x.split_heads::<Heads, HeadDim>();
    assert_eq!(h.dims().as_slice(), &[12, 4, 32]);
}
