//! The layers' fused write-backs (bias, FeedForward's activation, SwiGLU's gating in the up
//! product, a residual add in an output projection's) and the fused traced SwiGLU against the
//! unfused ops, bit for bit, on the route this process runs (CI runs
//! the file as is; `SHAPECHECK_GEMM=avx2` / `=matrixmultiply` force the other routes), at
//! row counts that reach the few-rows kernel and the packed GEMM.

use shapecheck::autodiff::{Param, Tape};
use shapecheck::nn::ffn::{Activation, FeedForward, SwiGlu};
use shapecheck::nn::flow::Input;
use shapecheck::nn::linear::Linear;
use shapecheck::prelude::*;
use shapecheck::with_threads;

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

/// A traced SwiGLU's values, gradient of the gate, gradient of up.
type Run<T> = (Vec<T>, Vec<T>, Vec<T>);

/// `silu(g) ⊙ u` and its gradients through the fused op and through the unfused tape
/// (`g.silu() * u`), on parameters `g`, `u` and a loss `Σ w ⊙ out` (so `dy` is not 1).
fn swiglu_both_ways<T: Float>(rows: usize, seed: u64) -> [Run<T>; 2] {
    let shape = (Seq::new(rows), DFf);
    let g =
        Param::new(Tensor::<(Seq, DFf), T>::randn_with(shape, seed).map(|v| v * T::from_f64(3.0)));
    let u = Param::new(Tensor::<(Seq, DFf), T>::randn_with(shape, seed + 1));
    let w = Tensor::<(Seq, DFf), T>::randn_with(shape, seed + 2);
    [true, false].map(|fused| {
        let tape = Tape::new();
        let (gv, uv) = (tape.param(&g), tape.param(&u));
        let out = if fused {
            gv.swiglu(&uv)
        } else {
            &gv.silu() * &uv
        };
        let grads = (&out * &tape.constant(w.clone())).sum_all().backward();
        let of = |p: &Param<(Seq, DFf), T>| grads.of(p).expect("traced").to_vec();
        (out.to_tensor().as_slice().to_vec(), of(&g), of(&u))
    })
}

#[test]
fn traced_swiglu_is_the_unfused_tape_bit_for_bit_values_and_gradients() {
    for rows in [1, 3, 37] {
        let [fused, unfused] = swiglu_both_ways::<f32>(rows, 20);
        assert_eq!(bits(&fused.0), bits(&unfused.0), "values, {rows} rows");
        assert_eq!(bits(&fused.1), bits(&unfused.1), "d gate, {rows} rows");
        assert_eq!(bits(&fused.2), bits(&unfused.2), "d up, {rows} rows");
        let [fused, unfused] = swiglu_both_ways::<f64>(rows, 30);
        assert_eq!(fused, unfused, "f64, {rows} rows");
    }
}

#[test]
fn traced_swiglu_gradients_match_finite_differences() {
    let [(_, dg, du), _] = swiglu_both_ways::<f64>(2, 40);
    let shape = (Seq::new(2), DFf);
    let g = Tensor::<(Seq, DFf), f64>::randn_with(shape, 40).map(|v| v * 3.0);
    let u = Tensor::<(Seq, DFf), f64>::randn_with(shape, 41);
    let w = Tensor::<(Seq, DFf), f64>::randn_with(shape, 42);
    let loss = |g: &Tensor<(Seq, DFf), f64>, u: &Tensor<(Seq, DFf), f64>| -> f64 {
        let s = g.silu();
        (0..g.len())
            .map(|k| s.as_slice()[k] * u.as_slice()[k] * w.as_slice()[k])
            .sum()
    };
    let h = 1e-6;
    for k in 0..g.len() {
        for (x, want, name) in [(0, &dg, "gate"), (1, &du, "up")] {
            let (mut plus, mut minus) = ([g.clone(), u.clone()], [g.clone(), u.clone()]);
            plus[x].as_mut_slice()[k] += h;
            minus[x].as_mut_slice()[k] -= h;
            let fd = (loss(&plus[0], &plus[1]) - loss(&minus[0], &minus[1])) / (2.0 * h);
            assert!(
                (fd - want[k]).abs() < 1e-7 * (1.0 + fd.abs()),
                "d {name}[{k}]: finite differences {fd}, backward {}",
                want[k]
            );
        }
    }
}

#[test]
fn traced_swiglu_is_bit_identical_on_one_and_two_threads() {
    // 2000 × 72 elements: more than the elementwise threshold of two threads.
    let one = with_threads(1, || swiglu_both_ways::<f32>(2000, 50));
    let two = with_threads(2, || swiglu_both_ways::<f32>(2000, 50));
    assert_eq!(
        one[0]
            .0
            .iter()
            .zip(&one[0].1)
            .map(|(a, b)| (a.to_bits(), b.to_bits()))
            .collect::<Vec<_>>(),
        two[0]
            .0
            .iter()
            .zip(&two[0].1)
            .map(|(a, b)| (a.to_bits(), b.to_bits()))
            .collect::<Vec<_>>()
    );
    assert_eq!(bits(&one[0].2), bits(&two[0].2));
}

#[test]
fn a_gate_and_an_up_of_other_dims_are_an_error_on_the_tape() {
    let tape = Tape::new();
    let g = tape.constant(Tensor::<(Seq, DFf)>::randn_with((Seq::new(2), DFf), 60));
    let u = tape.constant(Tensor::<(Seq, DFf)>::randn_with((Seq::new(3), DFf), 61));
    let err = g.try_swiglu(&u).unwrap_err().to_string();
    assert!(
        err.contains("swiglu") && err.contains("the same dims"),
        "{err}"
    );
}

#[test]
fn residual_add_in_the_output_projections_write_back_is_the_unfused_add_bit_for_bit() {
    for with_bias in [false, true] {
        let down = Linear::<DFf, DModel>::init(with_bias, 70);
        for rows in ROWS {
            let x = Tensor::<(Seq, DFf)>::randn_with((Seq::new(rows), DFf), 71);
            let residual = Tensor::<(Seq, DModel)>::randn_with((Seq::new(rows), DModel), 72);
            let want = &residual + &down.forward(&x);
            let got = x
                .try_linear_residual_with(&down.weight, down.bias.as_ref(), &residual)
                .unwrap();
            assert_eq!(
                bits(got.as_slice()),
                bits(want.as_slice()),
                "bias {with_bias}, {rows} rows"
            );
            let tape = Tape::new();
            let traced = tape
                .constant(x.clone())
                .try_linear_residual_with(
                    &down.weight,
                    down.bias.as_ref(),
                    &tape.constant(residual.clone()),
                )
                .unwrap();
            assert_eq!(bits(traced.to_tensor().as_slice()), bits(got.as_slice()));
        }
    }
}

#[test]
fn a_residual_of_other_dims_than_the_product_is_an_error() {
    let down = Linear::<DFf, DModel>::init(true, 80);
    let x = Tensor::<(Seq, DFf)>::randn_with((Seq::new(4), DFf), 81);
    let short = Tensor::<(Seq, DModel)>::randn_with((Seq::new(3), DModel), 82);
    for err in [
        x.try_linear_residual_with(&down.weight, down.bias.as_ref(), &short)
            .unwrap_err(),
        {
            let tape = Tape::new();
            tape.constant(x.clone())
                .try_linear_residual_with(&down.weight, None, &tape.constant(short.clone()))
                .unwrap_err()
        },
    ] {
        let err = err.to_string();
        assert!(
            err.contains("residual") && err.contains("must have the product's dims"),
            "{err}"
        );
    }
}

/// The residual form of a projection on an inference tape (the decoder's prefill and
/// decode): the add in the product's write-back, the unfused add's bits, for a contiguous
/// and a strided (transposed) residual.
#[test]
fn residual_projection_on_an_inference_tape_is_the_unfused_add_bit_for_bit() {
    use shapecheck::nn::stored::Project;
    for with_bias in [false, true] {
        let down = Linear::<DFf, DModel>::init(with_bias, 90);
        for rows in ROWS {
            let x = Tensor::<(D<1>, Seq, DFf)>::randn_with((D::<1>, Seq::new(rows), DFf), 91);
            let r = Tensor::<(D<1>, Seq, DModel)>::randn_with((D::<1>, Seq::new(rows), DModel), 92);
            let want = bits((&r + &down.forward(&x)).as_slice());
            let tape = Tape::inference();
            let (xv, rv) = (tape.constant(x.clone()), tape.constant(r.clone()));
            let got = down.try_project_residual(None, &xv, &rv).unwrap();
            assert_eq!(
                bits(got.to_tensor().as_slice()),
                want,
                "bias {with_bias}, {rows} rows"
            );
            // The residual read through strides: the `(Seq, DModel)` transpose of a
            // `(DModel, Seq)` buffer.
            let x2 =
                Tensor::<(Seq, DFf)>::from_vec_with((Seq::new(rows), DFf), x.as_slice().to_vec())
                    .unwrap();
            let r2 = Tensor::<(Seq, DModel)>::from_vec_with(
                (Seq::new(rows), DModel),
                r.as_slice().to_vec(),
            )
            .unwrap();
            let rt = tape.constant(r2.t().to_tensor()).t::<(Seq, DModel)>();
            let got = down.try_forward_residual(&tape.constant(x2), &rt).unwrap();
            assert_eq!(
                bits(got.to_tensor().as_slice()),
                want,
                "strided, {rows} rows"
            );
        }
    }
}

/// Stored weights add the residual in the pass that adds their bias: `(y + b) + r`, the
/// unfused ops' bits, in f32 and in a quantized format.
#[cfg(feature = "llm")]
#[test]
fn a_stored_projection_adds_the_residual_as_the_unfused_add_does() {
    use shapecheck::nn::stored::{Project, StoredLinear};
    use shapecheck::quant::{StoredType, StoredWeight};
    dim!(pub Wide = 64);
    for ty in [StoredType::F32, StoredType::Q8_0] {
        let w = Tensor::<(DModel, Wide)>::randn(93);
        let lin = StoredLinear {
            weight: StoredWeight::try_from_f32(w, ty).unwrap(),
            bias: Some(Tensor::<(DModel,)>::randn(94)),
        };
        for rows in ROWS {
            let tape = Tape::inference();
            let x = tape.constant(Tensor::<(D<1>, Seq, Wide)>::randn_with(
                (D::<1>, Seq::new(rows), Wide),
                95,
            ));
            let r = tape.constant(Tensor::<(D<1>, Seq, DModel)>::randn_with(
                (D::<1>, Seq::new(rows), DModel),
                96,
            ));
            let want = (&r + &lin.try_project(None, &x).unwrap()).to_tensor();
            let got = lin.try_project_residual(None, &x, &r).unwrap().to_tensor();
            assert_eq!(
                bits(got.as_slice()),
                bits(want.as_slice()),
                "{ty:?}, {rows} rows"
            );
        }
    }
}
