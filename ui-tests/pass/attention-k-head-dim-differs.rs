// Twin of attention-k-head-dim-differs: q and k share the head dim; v may have its own.
use shapecheck::nn::attention::attention;
use shapecheck::prelude::*;

dim!(pub Heads = 12);
dim!(pub Seq = 128);
dim!(pub HeadDim = 64);
dim!(pub ValueDim = 64);

fn main() {
    let q = Tensor::<(Heads, Seq, HeadDim)>::zeros();
    let k = Tensor::<(Heads, Seq, HeadDim)>::zeros();
    let v = Tensor::<(Heads, Seq, ValueDim)>::zeros();
    let _o: Tensor<(Heads, Seq, ValueDim)> = attention(&q, &k, &v);
}
