//! Malformed weight files and hostile tokenizer input (filled in below).
