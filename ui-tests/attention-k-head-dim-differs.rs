// k's head dim is not q's: the scores q·kᵀ/√Dk are undefined, even though both have 64 columns.
use shapecheck::nn::attention::attention;
use shapecheck::prelude::*;

dim!(pub Heads = 12);
dim!(pub Seq = 128);
dim!(pub HeadDim = 64);
dim!(pub ValueDim = 64);

fn main() {
    let q = Tensor::<(Heads, Seq, HeadDim)>::zeros();
    let k = Tensor::<(Heads, Seq, ValueDim)>::zeros();
    let v = Tensor::<(Heads, Seq, ValueDim)>::zeros();
    let _o = attention(&q, &k, &v);
}
