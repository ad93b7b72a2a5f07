// A Q4_1 weight stores blocks of 32 weights along its input width; 48 is not a multiple.
use shapecheck::prelude::*;
use shapecheck::quant::{Quantized, Q4_1};

dim!(pub DIn = 48);
dim!(pub DOut = 8);

fn main() {
    let w = Tensor::<(DOut, DIn)>::zeros();
    let _q = Quantized::<DOut, DIn, Q4_1>::quantize(&w);
}
