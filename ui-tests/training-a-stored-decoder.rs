// A decoder whose weights are stored (a GGUF's blocks, or converted at load) runs inference
// only: it has no gradient to train.
use shapecheck::autodiff::Tape;
use shapecheck::models::decoder::{Decoder, Dims};
use shapecheck::nn::stored::Stored;
use shapecheck::prelude::*;

dim!(pub Vocab = 64);
dim!(pub Model = 32);
dim!(pub Heads = 2);
dim!(pub HeadDim = 16);
dim!(pub Ffn = 64);

type Model2 = Dims<Vocab, Model, Heads, Heads, HeadDim, Ffn>;

fn train(model: &Decoder<Model2, f32, Stored>) {
    let tape = Tape::new();
    let _loss = model.loss(&tape, (Dyn::new(1), Dyn::new(2)), &[1, 2], &[2, 3]);
}

fn main() {
    let _ = train;
}
