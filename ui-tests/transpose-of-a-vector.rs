use shapecheck::prelude::*;

dim!(pub Emb = 8);

fn main() {
    let v = Tensor::<(Emb,)>::ones();
    let _vt = v.t();
}
