// A quantized weight has no gradient: it multiplies plain tensors, not traced values.
use shapecheck::autodiff::Tape;
use shapecheck::prelude::*;
use shapecheck::quant::{Quantized, Q8_0};

dim!(pub Seq = 4);
dim!(pub DIn = 64);
dim!(pub DOut = 8);

fn main() {
    let w = Quantized::<DOut, DIn, Q8_0>::quantize(&Tensor::zeros());
    let tape = Tape::new();
    let x = tape.constant(Tensor::<(Seq, DIn)>::zeros());
    let _y = w.forward(&x);
}
