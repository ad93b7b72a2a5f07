// A and B share the rank dim.
use shapecheck::prelude::*;

dim!(pub DIn = 64);
dim!(pub DOut = 32);

fn main() {
    let a = Tensor::<(D<8>, DIn)>::randn(0);
    let b = Tensor::<(DOut, D<8>)>::zeros();
    let lora = LoRA::new(a, b, 16.0);
    assert_eq!(lora.num_params(), 8 * (64 + 32));
}
