// Twin of training-a-stored-decoder: a dense (trainable) decoder has a loss to train.
use shapecheck::autodiff::Tape;
use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims};
use shapecheck::prelude::*;

dim!(pub Vocab = 64);
dim!(pub Model = 32);
dim!(pub Heads = 2);
dim!(pub HeadDim = 16);
dim!(pub Ffn = 64);

type Model2 = Dims<Vocab, Model, Heads, Heads, HeadDim, Ffn>;

fn train(model: &Decoder<Model2>) {
    let tape = Tape::new();
    let loss = model.loss(&tape, (Dyn::new(1), Dyn::new(2)), &[1, 2], &[2, 3]);
    assert!(loss.unwrap().item().is_finite());
}

fn main() {
    train(&Decoder::init(DecoderConfig::default(), 0));
}
