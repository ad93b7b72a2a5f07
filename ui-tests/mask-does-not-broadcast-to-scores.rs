use shapecheck::prelude::*;

dim!(pub Batch);
dim!(pub Heads = 12);
dim!(pub Seq = 128);

fn main() {
    let b = Batch::new(2);
    let scores = Tensor::<(Batch, Heads, Seq, Seq)>::zeros_with((b, Heads, Seq, Seq));
    // A padding mask built as (Batch, Heads, Seq), one axis short of the scores.
    let mask = Tensor::<(Batch, Heads, Seq)>::zeros_with((b, Heads, Seq));
    let _masked = &scores + &mask;
}
