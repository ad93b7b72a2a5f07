// Input rows of width DIn.
use shapecheck::prelude::*;

dim!(pub DIn = 64);
dim!(pub DOut = 32);
dim!(pub Batch);

fn main() {
    let w = Tensor::<(DOut, DIn)>::randn(0);
    let lora = LoRA::<DIn, DOut, D<8>>::init(16.0, 1);
    let x = Tensor::<(Batch, DIn)>::randn_with((Batch::new(3), DIn), 2);
    let y: Tensor<(Batch, DOut)> = lora.forward(&x, &w);
    assert_eq!(y.dims().as_slice(), &[3, 32]);
}
