use shapecheck::prelude::*;

dim!(pub Seq = 16; pub DModel = 384; pub Heads = 12; pub HeadDim = 64);

fn main() {
    let x = Param::new(Tensor::<(Seq, DModel)>::zeros());
    let tape = Tape::new();
    let _heads = rearrange!(tape.param(&x), "s (h d) -> h s d", h = Heads, d = HeadDim);
}
