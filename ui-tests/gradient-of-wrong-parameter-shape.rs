// The gradient of the up-projection used where the down-projection's is expected.
use shapecheck::autodiff::{Param, Tape};
use shapecheck::prelude::*;

dim!(pub DModel = 4);
dim!(pub Ffn = 8);

fn main() {
    let up = Param::new(Tensor::<(Ffn, DModel)>::ones());
    let down = Param::new(Tensor::<(DModel, Ffn)>::ones());
    let tape = Tape::new();
    let x = tape.constant(Tensor::<(DModel,)>::ones());
    let y = tape.param(&down).matmul(&tape.param(&up).matmul(&x));
    let grads = y.sum_all().backward();
    let _g_down: TensorView<(DModel, Ffn)> = grads.of(&up).unwrap();
}
