//! The layers' fused write-backs (bias, FeedForward's activation, SwiGLU's gating in the up
//! product) against the unfused ops, bit for bit, on the route this process runs (CI runs
//! the file as is; `SHAPECHECK_GEMM=avx2` / `=matrixmultiply` force the other routes), at
//! row counts that reach the few-rows kernel and the packed GEMM.

use shapecheck::autodiff::Tape;
use shapecheck::nn::ffn::{Activation, FeedForward, SwiGlu};
use shapecheck::nn::flow::Input;
use shapecheck::nn::linear::Linear;
use shapecheck::prelude::*;

dim!(pub Seq; pub DModel = 40; pub DFf = 72);

/// Row counts for the few-rows kernel (1, 3) and the packed GEMM (37, 130).
const ROWS: [usize; 4] = [1, 3, 37, 130];

fn bits(t: &[f32]) -> Vec<u32> {
    t.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn feed_forward_activation_in_the_write_back_is_the_unfused_activation_bit_for_bit() {
    for (i, act) in [
        Activation::Gelu,
        Activation::GeluTanh,
        Activation::Relu,
        Activation::Silu,
    ]
    .into_iter()
    .enumerate()
    {
        let seed = 10 * i as u64;
        let ffn = FeedForward::<DModel, DFf>::new(
            Linear::init(true, seed),
            Linear::init(true, seed + 1),
            act,
        );
        for rows in ROWS {
            let x = Tensor::<(Seq, DModel)>::randn_with((Seq::new(rows), DModel), seed + 2);
            let up = ffn.up().forward(&x);
            let want = match act {
                Activation::Gelu => up.gelu(),
                Activation::GeluTanh => up.gelu_tanh(),
                Activation::Relu => up.relu(),
                Activation::Silu => up.silu(),
            };
            let got = ffn.activations(&x);
            assert_eq!(
                bits(got.as_slice()),
                bits(want.as_slice()),
                "{act:?}, {rows} rows"
            );
            // The traced forward (unfused) gives the same values.
            let tape = Tape::new();
            let traced = ffn.forward(&tape.constant(x.clone())).to_tensor();
            assert_eq!(bits(traced.as_slice()), bits(ffn.forward(&x).as_slice()));
        }
    }
}

#[test]
fn swiglu_gating_in_the_up_products_write_back_is_the_unfused_ops_bit_for_bit() {
    let mut ffn = SwiGlu::<DModel, DFf>::init(3);
    for with_bias in [false, true] {
        if with_bias {
            // A bias on up too: bias and gating in one write-back.
            ffn.up = Linear::init(true, 9);
        }
        for rows in ROWS {
            let x = Tensor::<(Seq, DModel)>::randn_with((Seq::new(rows), DModel), 4);
            let want = &ffn.gate.forward(&x).silu() * &ffn.up.forward(&x);
            let got = ffn.activations(&x);
            assert_eq!(
                bits(got.as_slice()),
                bits(want.as_slice()),
                "bias {with_bias}, {rows} rows"
            );
            let tape = Tape::new();
            let traced = ffn.activations(&tape.constant(x.clone())).to_tensor();
            assert_eq!(bits(traced.as_slice()), bits(got.as_slice()));
        }
    }
}

#[test]
fn a_gate_of_other_dims_than_the_product_is_an_error() {
    let ffn = SwiGlu::<DModel, DFf>::init(5);
    let x = Tensor::<(Seq, DModel)>::randn_with((Seq::new(4), DModel), 6);
    let short = Tensor::<(Seq, DModel)>::randn_with((Seq::new(3), DModel), 7);
    let gate = ffn.gate.forward(&short);
    let err = x
        .try_linear_gated_with(&ffn.up.weight, None, &gate)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("SwiGlu::forward") && err.contains("the gate must have the product's dims"),
        "{err}"
    );
}
