use shapecheck::autodiff::cosine_similarity;
use shapecheck::prelude::*;

dim!(pub Emb = 384);

fn main() {
    let w = Param::new(Tensor::<(Emb,)>::randn(0));
    let tape = Tape::new();
    let a = tape.param(&w).normalize();
    let b = tape.constant(Tensor::<(Emb,)>::randn(1)).normalize();
    let cos = cosine_similarity(&a, &b);
    assert!(cos.item().abs() <= 1.0 + 1e-6);
    assert!(cos.backward().of(&w).is_some());
}
