use shapecheck::autodiff::cosine_similarity;
use shapecheck::prelude::*;

dim!(pub Emb = 384);

fn main() {
    let w = Param::new(Tensor::<(Emb,)>::randn(0));
    let tape = Tape::new();
    let a = tape.param(&w);
    let b = tape.constant(Tensor::<(Emb,)>::randn(1)).normalize();
    let _cos = cosine_similarity(&a, &b);
}
