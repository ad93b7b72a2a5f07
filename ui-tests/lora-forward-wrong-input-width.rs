// The adapter is for a DOut × DIn weight; its input rows must have width DIn, not DOut.
use shapecheck::prelude::*;

dim!(pub DIn = 64);
dim!(pub DOut = 32);
dim!(pub Batch);

fn main() {
    let w = Tensor::<(DOut, DIn)>::randn(0);
    let lora = LoRA::<DIn, DOut, D<8>>::init(16.0, 1);
    let x = Tensor::<(Batch, DOut)>::randn_with((Batch::new(3), DOut), 2);
    let _y = lora.forward(&x, &w);
}
