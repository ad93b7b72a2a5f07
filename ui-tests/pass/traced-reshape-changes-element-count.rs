use shapecheck::prelude::*;

fn main() {
    let w = Param::new(Tensor::<(D<3>, D<4>)>::zeros());
    let tape = Tape::new();
    let y: Var<(D<12>,)> = tape.param(&w).reshape();
    assert_eq!(y.sum_all().backward().of(&w).unwrap().to_vec(), vec![1.0; 12]);
}
