use shapecheck::prelude::*;

fn main() {
    let w = Param::new(Tensor::<(D<3>, D<4>)>::zeros());
    let tape = Tape::new();
    let _y: Var<(D<13>,)> = tape.param(&w).reshape();
}
