use shapecheck::prelude::*;

dim!(pub Batch = 2; pub Seq = 3; pub DModel = 8; pub Heads = 2; pub HeadDim = 4);

fn main() {
    let h = Tensor::<(Batch, Heads, Seq, HeadDim)>::zeros();
    let _back = rearrange!(h, "b h s d -> b s (h d)");
}
