use shapecheck::prelude::*;

dim!(pub Heads = 4; pub Seq = 16; pub HeadDim = 8);

fn main() {
    let q = Tensor::<(Heads, Seq, HeadDim)>::zeros();
    let k = Tensor::<(Seq, HeadDim)>::zeros();
    let _scores = einsum!("h q d, h k d -> h q k", q, k);
}
