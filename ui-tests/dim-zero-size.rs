shapecheck::dim!(pub Seq = 0);

fn main() {}
