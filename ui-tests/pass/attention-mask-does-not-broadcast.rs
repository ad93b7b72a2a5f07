// Twin of attention-mask-does-not-broadcast: the padding mask is (Batch, 1, 1, Seq).
use shapecheck::nn::attention::{attention_masked, AttentionMask};
use shapecheck::prelude::*;

dim!(pub Batch);
dim!(pub Heads = 12);
dim!(pub Seq = 128);
dim!(pub HeadDim = 64);

fn main() {
    let b = Batch::new(2);
    let q = Tensor::<(Batch, Heads, Seq, HeadDim)>::zeros_with((b, Heads, Seq, HeadDim));
    let mask = AttentionMask::padding(b, Seq, &[128, 7]);
    let _o = attention_masked(&q, &q, &q, &mask);
}
