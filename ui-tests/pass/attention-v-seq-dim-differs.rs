// Twin of attention-v-seq-dim-differs: k and v both over Memory (cross-attention), q over Seq.
use shapecheck::nn::attention::attention;
use shapecheck::prelude::*;

dim!(pub Seq = 128);
dim!(pub Memory = 128);
dim!(pub HeadDim = 64);

fn main() {
    let q = Tensor::<(Seq, HeadDim)>::zeros();
    let k = Tensor::<(Memory, HeadDim)>::zeros();
    let v = Tensor::<(Memory, HeadDim)>::zeros();
    let _o: Tensor<(Seq, HeadDim)> = attention(&q, &k, &v);
}
