//! Hostile and extreme inputs: each case asserts the right value or an error, never
//! "whatever it returns".

mod attention;
mod softmax;
mod norms;
mod unit;
