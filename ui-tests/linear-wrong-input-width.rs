// A Linear<DModel, Ffn> applied to the FFN's hidden activations instead of its input.
use shapecheck::nn::linear::Linear;
use shapecheck::prelude::*;

dim!(pub Seq);
dim!(pub DModel = 384);
dim!(pub Ffn = 1536);

fn main() {
    let up = Linear::<DModel, Ffn>::init(true, 0);
    let h = Tensor::<(Seq, Ffn)>::zeros_with((Seq::new(4), Ffn));
    let _y = up.forward(&h);
}
