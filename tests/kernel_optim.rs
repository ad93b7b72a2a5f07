//! The optimizers' update loops, compiled for AVX2/FMA and split over threads for large
//! parameters, against a plain scalar reference of the same equations (`f32::mul_add`, the
//! scalars computed in f64 and rounded once): the same bits, on 1 thread and on 2, over a
//! parameter large enough to be split (and with a tail that is not a multiple of 8 lanes).

use shapecheck::autodiff::{Gradients, Param, Tape};
use shapecheck::optim::{Adam, AdamConfig, AdamW, AdamWConfig, Optimizer, Sgd, SgdConfig};
use shapecheck::prelude::*;

shapecheck::dim!(pub Wide = 100_001);

/// 300 003 elements: several chunks per thread, and a ragged tail.
type P = (D<3>, Wide);
const N: usize = 300_003;
const STEPS: usize = 4;

fn values(seed: u32) -> Vec<f32> {
    // A deterministic spread of magnitudes and signs (including exact zeros).
    (0..N as u32)
        .map(|i| {
            let h = i
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed.wrapping_mul(40_503));
            ((h >> 8) % 20_001) as f32 / 10_000.0 - 1.0
        })
        .collect()
}

/// Gradients equal to `g`, exactly: the gradient of `Σ w⊙G`.
fn given(w: &Param<P>, g: &[f32]) -> Gradients {
    let tape = Tape::new();
    let c = tape.constant(Tensor::<P>::from_vec(g.to_vec()).unwrap());
    (&tape.param(w) * &c).sum_all().backward()
}

/// Runs `STEPS` steps of `opt` with `threads` threads; the parameter after each step.
fn run(mut opt: Box<dyn Optimizer<f32>>, threads: usize) -> Vec<Vec<f32>> {
    let mut w = Param::new(Tensor::<P>::from_vec(values(1)).unwrap());
    (0..STEPS)
        .map(|k| {
            let grads = given(&w, &values(10 + k as u32));
            shapecheck::with_threads(threads, || opt.step(&mut [&mut w], &grads).unwrap());
            w.value().as_slice().to_vec()
        })
        .collect()
}

/// `torch.optim.Adam`/`AdamW`'s single-tensor update, element by element.
fn adam_reference(c: AdamConfig, decoupled: bool) -> Vec<Vec<f32>> {
    let mut p = values(1);
    let (mut m, mut v, mut vmax) = (vec![0f32; N], vec![0f32; N], vec![0f32; N]);
    let (b1, b2) = c.betas;
    let w = (1.0 - b1) as f32;
    (1..=STEPS)
        .map(|t| {
            let g = values(10 + t as u32 - 1);
            let bc1 = 1.0 - b1.powf(t as f64);
            let bc2_sqrt = ((1.0 - b2.powf(t as f64)).sqrt()) as f32;
            let neg_step = (-(c.lr / bc1)) as f32;
            for i in 0..N {
                let mut gi = g[i];
                if c.weight_decay != 0.0 {
                    if decoupled {
                        p[i] *= (1.0 - c.lr * c.weight_decay) as f32;
                    } else {
                        gi = (c.weight_decay as f32).mul_add(p[i], gi);
                    }
                }
                m[i] = if w.abs() < 0.5 {
                    w.mul_add(gi - m[i], m[i])
                } else {
                    (w - 1.0).mul_add(gi - m[i], gi)
                };
                v[i] *= b2 as f32;
                v[i] = ((1.0 - b2) as f32 * gi).mul_add(gi, v[i]);
                let second = if c.amsgrad {
                    vmax[i] = vmax[i].max(v[i]);
                    vmax[i]
                } else {
                    v[i]
                };
                let denom = second.sqrt() / bc2_sqrt + c.eps as f32;
                p[i] += neg_step * m[i] / denom;
            }
            p.clone()
        })
        .collect()
}

/// `torch.optim.SGD`'s single-tensor update, element by element.
fn sgd_reference(c: SgdConfig) -> Vec<Vec<f32>> {
    let mut p = values(1);
    let mut buf = vec![0f32; N];
    let (wd, mu, keep, neg_lr) = (
        c.weight_decay as f32,
        c.momentum as f32,
        (1.0 - c.dampening) as f32,
        (-c.lr) as f32,
    );
    (0..STEPS)
        .map(|k| {
            let g = values(10 + k as u32);
            for i in 0..N {
                let mut gi = g[i];
                if c.weight_decay != 0.0 {
                    gi = wd.mul_add(p[i], gi);
                }
                if c.momentum != 0.0 {
                    buf[i] = if k == 0 {
                        gi
                    } else {
                        keep.mul_add(gi, buf[i] * mu)
                    };
                    gi = if c.nesterov {
                        mu.mul_add(buf[i], gi)
                    } else {
                        buf[i]
                    };
                }
                p[i] = neg_lr.mul_add(gi, p[i]);
            }
            p.clone()
        })
        .collect()
}

fn assert_same_bits(name: &str, got: &[Vec<f32>], want: &[Vec<f32>]) {
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        let differ = g
            .iter()
            .zip(w)
            .position(|(a, b)| a.to_bits() != b.to_bits());
        assert!(
            differ.is_none(),
            "{name}, step {k}: element {} is {} instead of {}",
            differ.unwrap(),
            g[differ.unwrap()],
            w[differ.unwrap()]
        );
    }
}

#[test]
fn adam_and_adamw_match_the_scalar_update_bit_for_bit_on_any_thread_count() {
    let adamw = AdamWConfig {
        lr: 1e-2,
        ..AdamWConfig::default()
    };
    let coupled = AdamConfig {
        lr: 1e-2,
        weight_decay: 0.1,
        amsgrad: true,
        ..AdamConfig::default()
    };
    // A weight of 1 − β₁ ≥ 0.5 takes torch.lerp's other formula.
    let lerp_other = AdamConfig {
        betas: (0.3, 0.99),
        ..AdamConfig::default()
    };
    let as_adam = AdamConfig {
        lr: adamw.lr,
        betas: adamw.betas,
        eps: adamw.eps,
        weight_decay: adamw.weight_decay,
        amsgrad: adamw.amsgrad,
    };
    for threads in [1, 2] {
        let got = run(Box::new(AdamW::new(adamw).unwrap()), threads);
        assert_same_bits("AdamW", &got, &adam_reference(as_adam, true));
        let got = run(Box::new(Adam::new(coupled).unwrap()), threads);
        assert_same_bits("Adam+AMSGrad", &got, &adam_reference(coupled, false));
        let got = run(Box::new(Adam::new(lerp_other).unwrap()), threads);
        assert_same_bits("Adam β₁ 0.3", &got, &adam_reference(lerp_other, false));
    }
}

#[test]
fn sgd_matches_the_scalar_update_bit_for_bit_on_any_thread_count() {
    let cases = [
        SgdConfig {
            lr: 0.1,
            ..SgdConfig::default()
        },
        SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            dampening: 0.1,
            weight_decay: 0.01,
            ..SgdConfig::default()
        },
        SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            nesterov: true,
            ..SgdConfig::default()
        },
    ];
    for threads in [1, 2] {
        for c in cases {
            let got = run(Box::new(Sgd::new(c).unwrap()), threads);
            assert_same_bits(&format!("{c:?}"), &got, &sgd_reference(c));
        }
    }
}
