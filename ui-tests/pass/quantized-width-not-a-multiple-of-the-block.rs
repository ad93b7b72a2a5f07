// Twin of quantized-width-not-a-multiple-of-the-block: 64 holds two blocks of 32, and bf16
// stores single weights, so any width fits it.
use shapecheck::prelude::*;
use shapecheck::quant::{Bf16, Quantized, Q4_1};

dim!(pub DIn = 64);
dim!(pub Odd = 48);
dim!(pub DOut = 8);

fn main() {
    let _q = Quantized::<DOut, DIn, Q4_1>::quantize(&Tensor::zeros());
    let _h = Quantized::<DOut, Odd, Bf16>::quantize(&Tensor::zeros());
}
