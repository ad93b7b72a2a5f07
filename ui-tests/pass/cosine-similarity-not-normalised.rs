use shapecheck::prelude::*;

dim!(pub Emb = 384);

fn main() {
    let a = Tensor::<(Emb,)>::randn(0).normalize();
    let b = Tensor::<(Emb,)>::randn(1).normalize();
    let cos = cosine_similarity(&a, &b);
    assert!(cos.abs() <= 1.0);
}
