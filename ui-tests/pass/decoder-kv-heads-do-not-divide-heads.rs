// Twin of decoder-kv-heads-do-not-divide-heads: 3 key/value heads each serve 3 of the 9.
use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
use shapecheck::prelude::*;

dim!(pub Vocab = 64);
dim!(pub Model = 32);
dim!(pub Heads = 9);
dim!(pub KvHeads = 3);
dim!(pub HeadDim = 8);
dim!(pub Ffn = 48);

fn main() {
    let model =
        Decoder::<Dims<Vocab, Model, Heads, KvHeads, HeadDim, Ffn>>::init(DecoderConfig::default(), 0);
    // q_proj: Model → 9 heads of 8; k_proj: Model → 3 heads of 8.
    assert_eq!(model.blocks[0].attn.wq.weight.value().dims().as_slice(), &[72, 32]);
    assert_eq!(model.blocks[0].attn.wk.weight.value().dims().as_slice(), &[24, 32]);
}
