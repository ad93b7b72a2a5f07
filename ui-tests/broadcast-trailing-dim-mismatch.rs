use shapecheck::prelude::*;

dim!(pub Seq = 64);
dim!(pub HeadDim = 64);

fn main() {
    let scores = Tensor::<(Seq, Seq)>::zeros();
    let values = Tensor::<(Seq, HeadDim)>::zeros();
    let _sum = &scores + &values;
}
