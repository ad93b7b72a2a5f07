// A padding mask built as (Batch, Heads, Seq): aligned on the last axes it puts Seq under the
// scores' Sq axis and Heads under Batch's, so it does not broadcast to (Batch, Heads, Seq, Seq).
use shapecheck::nn::attention::{attention_masked, AttentionMask};
use shapecheck::prelude::*;

dim!(pub Batch);
dim!(pub Heads = 12);
dim!(pub Seq = 128);
dim!(pub HeadDim = 64);

fn main() {
    let b = Batch::new(2);
    let q = Tensor::<(Batch, Heads, Seq, HeadDim)>::zeros_with((b, Heads, Seq, HeadDim));
    let mask = AttentionMask::from_bias(Tensor::<(Batch, Heads, Seq)>::zeros_with((b, Heads, Seq)));
    let _o = attention_masked(&q, &q, &q, &mask);
}
