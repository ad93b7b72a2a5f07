// The same mistake as linear-wrong-input-width, on a traced value: the same message.
use shapecheck::autodiff::Tape;
use shapecheck::nn::linear::Linear;
use shapecheck::prelude::*;

dim!(pub Seq);
dim!(pub DModel = 384);
dim!(pub Ffn = 1536);

fn main() {
    let up = Linear::<DModel, Ffn>::init(true, 0);
    let tape = Tape::new();
    let h = tape.constant(Tensor::<(Seq, Ffn)>::zeros_with((Seq::new(4), Ffn)));
    let _y = up.forward(&h);
}
