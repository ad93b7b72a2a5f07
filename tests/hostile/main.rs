//! Hostile and extreme inputs: each case asserts the right value or an error.

mod norms;
mod unit;
