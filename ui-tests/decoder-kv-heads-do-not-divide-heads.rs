// Grouped-query attention: 9 query heads cannot be shared out among 4 key/value heads.
use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
use shapecheck::prelude::*;

dim!(pub Vocab = 64);
dim!(pub Model = 32);
dim!(pub Heads = 9);
dim!(pub KvHeads = 4);
dim!(pub HeadDim = 8);
dim!(pub Ffn = 48);

fn main() {
    let _model =
        Decoder::<Dims<Vocab, Model, Heads, KvHeads, HeadDim, Ffn>>::init(DecoderConfig::default(), 0);
}
