use shapecheck::prelude::*;

dim!(pub Vocab = 7);

fn main() {
    let v = Tensor::<(Vocab,)>::zeros();
    let s = einsum!("i->", v);
    let _: &Tensor<()> = &s;
}
