//! Neural-network building blocks over typed tensors. So far: [`lora`], low-rank adapters.

pub mod lora;
