// Twin of attention-batch-dims-differ: q, k and v over the same Heads.
use shapecheck::nn::attention::attention;
use shapecheck::prelude::*;

dim!(pub Heads = 8);
dim!(pub Seq = 16);
dim!(pub HeadDim = 64);

fn main() {
    let q = Tensor::<(Heads, Seq, HeadDim)>::zeros();
    let kv = Tensor::<(Heads, Seq, HeadDim)>::zeros();
    let _o = attention(&q, &kv, &kv);
}
