// 12 heads of 64 make 768, not MiniLM's 384.
use shapecheck::prelude::*;

dim!(pub Seq);
dim!(pub DModel = 384);
dim!(pub Heads = 12);
dim!(pub HeadDim = 64);

fn main() {
    let x = Tensor::<(Seq, DModel)>::zeros_with((Seq::new(4), DModel));
    let _h = x.split_heads::<Heads, HeadDim>();
}
