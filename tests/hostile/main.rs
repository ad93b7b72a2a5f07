//! Hostile and extreme inputs for the public operations: sizes whose element count overflows,
//! zero-sized dims, ±0, subnormals, 1e±30 / 1e±300, ±∞, NaN, all-equal rows, malformed files.
//! Every case asserts the right value or an error (or the plain form's panic message), never
//! "whatever it returns".

mod attention;
mod io;
mod linalg;
mod loads;
mod norms;
mod ops;
mod sizes;
mod softmax;
mod unit;
