use shapecheck::prelude::*;

dim!(pub Emb = 384);

fn main() {
    let a = Tensor::<(Emb,)>::randn(0);
    let b = Tensor::<(Emb,)>::randn(1);
    let _cos = cosine_similarity(&a, &b);
}
