// 12 heads of 32 merge into 384 (DModel), not into the FFN width.
use shapecheck::prelude::*;

dim!(pub Heads = 12);
dim!(pub Seq = 4);
dim!(pub HeadDim = 32);
dim!(pub Ffn = 1536);

fn main() {
    let h = Tensor::<(Heads, Seq, HeadDim)>::zeros();
    let _x = h.merge_heads::<Ffn>();
}
