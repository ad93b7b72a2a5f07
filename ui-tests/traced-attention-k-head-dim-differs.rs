// Traced attention keeps the tensor op's rule: k's head dim is not q's (the same message as
// attention-k-head-dim-differs, on Vars).
use shapecheck::autodiff::attention::attention;
use shapecheck::prelude::*;

dim!(pub Heads = 12);
dim!(pub Seq = 128);
dim!(pub HeadDim = 64);
dim!(pub ValueDim = 64);

fn main() {
    let tape = Tape::<f32>::new();
    let q = tape.constant(Tensor::<(Heads, Seq, HeadDim)>::zeros());
    let k = tape.constant(Tensor::<(Heads, Seq, ValueDim)>::zeros());
    let v = tape.constant(Tensor::<(Heads, Seq, ValueDim)>::zeros());
    let _o = attention(&q, &k, &v);
}
