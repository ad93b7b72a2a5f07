use shapecheck::prelude::*;

dim!(pub Seq = 64; pub HeadDim = 64);

fn main() {
    let q = Tensor::<(Seq, HeadDim)>::zeros();
    let k = Tensor::<(Seq, HeadDim)>::zeros();
    // The forgotten transpose: `d` is HeadDim in q but Seq in k.
    let _scores = einsum!("q d, d k -> q k", q, k);
}
