// A has rank 8 and B rank 4: the two factors of a LoRA adapter must share their rank dim.
use shapecheck::prelude::*;

dim!(pub DIn = 64);
dim!(pub DOut = 32);

fn main() {
    let a = Tensor::<(D<8>, DIn)>::randn(0);
    let b = Tensor::<(DOut, D<4>)>::zeros();
    let _lora = LoRA::new(a, b, 16.0);
}
