// k was split into KvHeads (grouped-query attention) but q into Heads: the batch dims differ.
use shapecheck::nn::attention::attention;
use shapecheck::prelude::*;

dim!(pub Heads = 8);
dim!(pub KvHeads = 8);
dim!(pub Seq = 16);
dim!(pub HeadDim = 64);

fn main() {
    let q = Tensor::<(Heads, Seq, HeadDim)>::zeros();
    let kv = Tensor::<(KvHeads, Seq, HeadDim)>::zeros();
    let _o = attention(&q, &kv, &kv);
}
