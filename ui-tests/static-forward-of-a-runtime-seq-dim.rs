use shapecheck::nn::embedding::Embedding;
use shapecheck::prelude::*;

dim!(pub Vocab = 10; pub DModel = 4);
dim!(pub Seq);

fn main() {
    let e = Embedding::new(Tensor::<(Vocab, DModel)>::zeros());
    // `forward` takes its sequence dim from the type, which a runtime dim cannot give.
    let _x = e.forward::<Seq, _>(&[1u32, 2]);
}
