// Twin of traced-attention-k-head-dim-differs: q and k share the head dim; v may have its own.
use shapecheck::autodiff::attention::attention;
use shapecheck::prelude::*;

dim!(pub Heads = 12);
dim!(pub Seq = 128);
dim!(pub HeadDim = 64);
dim!(pub ValueDim = 64);

fn main() {
    let tape = Tape::<f32>::new();
    let q = tape.constant(Tensor::<(Heads, Seq, HeadDim)>::zeros());
    let k = tape.constant(Tensor::<(Heads, Seq, HeadDim)>::zeros());
    let v = tape.constant(Tensor::<(Heads, Seq, ValueDim)>::zeros());
    let _o: Var<'_, (Heads, Seq, ValueDim)> = attention(&q, &k, &v);
}
