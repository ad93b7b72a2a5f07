// The gradient of the down projection read where the up projection's shape is expected.
use shapecheck::autodiff::{linear::Linear, Tape};
use shapecheck::prelude::*;

dim!(pub Seq = 4);
dim!(pub DModel = 8);
dim!(pub Ffn = 32);

fn main() {
    let up = Linear::<DModel, Ffn>::init(false, 0);
    let down = Linear::<Ffn, DModel>::init(false, 1);
    let tape = Tape::new();
    let x = tape.constant(Tensor::<(Seq, DModel)>::randn(2));
    let grads = down.forward(&up.forward(&x).relu()).mean_all().backward();
    let _g_up: TensorView<(Ffn, DModel)> = grads.of(&down.weight).unwrap();
}
