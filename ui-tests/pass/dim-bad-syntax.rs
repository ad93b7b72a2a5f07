use shapecheck::prelude::*;

dim!(pub Seq = 128);

fn main() {
    assert_eq!(Seq.size(), 128);
}
