use shapecheck::prelude::*;

dim!(pub Vocab = 7);

fn main() {
    let v = Tensor::<(Vocab,)>::zeros();
    let _s = einsum!("index->", v);
}
