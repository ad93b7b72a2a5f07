// Twin of traced-linear-wrong-input-width: traced, up takes DModel and down the Ffn
// activations, and the traced output equals the untraced one.
use shapecheck::autodiff::Tape;
use shapecheck::nn::linear::Linear;
use shapecheck::prelude::*;

dim!(pub Seq);
dim!(pub DModel = 384);
dim!(pub Ffn = 1536);

fn main() {
    let up = Linear::<DModel, Ffn>::init(true, 0);
    let down = Linear::<Ffn, DModel>::init(true, 1);
    let x = Tensor::<(Seq, DModel)>::randn_with((Seq::new(4), DModel), 3);
    let tape = Tape::new();
    let y = down.forward(&up.forward(&tape.constant(x.clone())));
    assert_eq!(y.to_tensor(), down.forward(&up.forward(&x)));
}
