// Twin of linear-wrong-input-width: up takes DModel, down takes the Ffn activations.
use shapecheck::nn::linear::Linear;
use shapecheck::prelude::*;

dim!(pub Seq);
dim!(pub DModel = 384);
dim!(pub Ffn = 1536);

fn main() {
    let up = Linear::<DModel, Ffn>::init(true, 0);
    let down = Linear::<Ffn, DModel>::init(true, 1);
    let x = Tensor::<(Seq, DModel)>::zeros_with((Seq::new(4), DModel));
    let _y: Tensor<(Seq, DModel)> = down.forward(&up.forward(&x));
}
