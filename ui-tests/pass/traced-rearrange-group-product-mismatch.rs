use shapecheck::prelude::*;

dim!(pub Seq = 16; pub DModel = 384; pub Heads = 12; pub HeadDim = 32);

fn main() {
    let x = Param::new(Tensor::<(Seq, DModel)>::zeros());
    let tape = Tape::new();
    let heads = rearrange!(tape.param(&x), "s (h d) -> h s d", h = Heads, d = HeadDim);
    let _: &Var<(Heads, Seq, HeadDim)> = &heads;
    let grads = heads.sum_all().backward();
    assert_eq!(grads.of(&x).unwrap().to_vec(), vec![1.0; 16 * 384]);
}
