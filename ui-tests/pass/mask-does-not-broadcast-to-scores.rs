use shapecheck::prelude::*;

dim!(pub Batch);
dim!(pub Heads = 12);
dim!(pub Seq = 128);

fn main() {
    let b = Batch::new(2);
    let scores = Tensor::<(Batch, Heads, Seq, Seq)>::zeros_with((b, Heads, Seq, Seq));
    let mask = Tensor::<(Batch, D<1>, D<1>, Seq)>::zeros_with((b, D, D, Seq));
    let masked: Tensor<(Batch, Heads, Seq, Seq)> = &scores + &mask;
    assert_eq!(masked.len(), 2 * 12 * 128 * 128);
}
