use shapecheck::prelude::*;

dim!(pub Batch = 2; pub Seq = 3; pub DModel = 8; pub Heads = 2; pub HeadDim = 4);

fn main() {
    let x = Tensor::<(Batch, Seq, DModel)>::zeros();
    let _h = rearrange!(x, "b s (h d) -> b h s d");
}
