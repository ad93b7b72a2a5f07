use shapecheck::prelude::*;

dim!(pub Seq = 16; pub DModel = 384; pub Heads = 12; pub HeadDim = 64);

fn main() {
    let x = Tensor::<(Seq, DModel)>::zeros();
    let _heads = rearrange!(x, "s (h d) -> h s d", h = Heads, d = HeadDim);
}
