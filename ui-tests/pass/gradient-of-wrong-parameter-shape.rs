// Each gradient read through its own parameter, with its shape.
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
    let g_down: TensorView<(DModel, Ffn)> = grads.of(&down).unwrap();
    let g_up: TensorView<(Ffn, DModel)> = grads.of(&up).unwrap();
    assert_eq!((g_down.len(), g_up.len()), (32, 32));
}
