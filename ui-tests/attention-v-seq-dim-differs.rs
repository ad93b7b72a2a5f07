// v holds the values of another sequence than k: each value must belong to a key.
use shapecheck::nn::attention::attention;
use shapecheck::prelude::*;

dim!(pub Seq = 128);
dim!(pub Memory = 128);
dim!(pub HeadDim = 64);

fn main() {
    let q = Tensor::<(Seq, HeadDim)>::zeros();
    let k = Tensor::<(Seq, HeadDim)>::zeros();
    let v = Tensor::<(Memory, HeadDim)>::zeros();
    let _o = attention(&q, &k, &v);
}
