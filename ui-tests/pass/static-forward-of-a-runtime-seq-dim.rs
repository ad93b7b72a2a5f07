use shapecheck::nn::embedding::Embedding;
use shapecheck::prelude::*;

dim!(pub Vocab = 10; pub DModel = 4);
dim!(pub Seq);

fn main() {
    let e = Embedding::new(Tensor::<(Vocab, DModel)>::zeros());
    let x = e.forward_with(Seq::new(2), &[1u32, 2]);
    assert_eq!(x.dims().as_slice(), &[2, 4]);
}
