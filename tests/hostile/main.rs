//! Hostile and extreme inputs: each case asserts the right value or an error, never
//! "whatever it returns".

mod attention;
mod norms;
mod softmax;
mod unit;
