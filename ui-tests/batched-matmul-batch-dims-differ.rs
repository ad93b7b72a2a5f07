use shapecheck::prelude::*;

dim!(pub Heads = 12);
dim!(pub KvHeads = 4);
dim!(pub Seq = 16);
dim!(pub HeadDim = 8);

fn main() {
    let q = Tensor::<(Heads, Seq, HeadDim)>::zeros();
    let k = Tensor::<(KvHeads, Seq, HeadDim)>::zeros();
    let _scores = q.matmul(&k.t());
}
