shapecheck::dim!(pub Seq = "128");

fn main() {}
