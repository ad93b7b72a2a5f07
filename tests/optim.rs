//! The optimizers against PyTorch's trajectories (tests/fixtures/optim, written by
//! scripts/golden_optim.py), Rosenbrock with Adam, bit-for-bit resumption from a saved
//! state, and the refusal of non-finite steps.

use std::path::PathBuf;

use shapecheck::autodiff::{Gradients, Param, Tape};
use shapecheck::io::SafeTensors;
use shapecheck::optim::{
    clip_grad_norm, Adam, AdamConfig, AdamW, AdamWConfig, DynParam, OptimError, Optimizer,
    Schedule, Sgd, SgdConfig,
};
use shapecheck::prelude::*;

const STEPS: usize = 25;
type W = (D<3>, D<4>);
type B = (D<5>,);

fn fixture() -> SafeTensors {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/optim/trajectories.safetensors");
    SafeTensors::open(path).expect("the committed fixture opens")
}

/// Gradients equal to `gw` and `gb`, exactly: the gradient of `Σ w⊙Gw + Σ b⊙Gb`.
fn given_grads(w: &Param<W>, b: &Param<B>, gw: &[f32], gb: &[f32]) -> Gradients {
    let tape = Tape::new();
    let cw = tape.constant(Tensor::<W>::from_vec(gw.to_vec()).unwrap());
    let cb = tape.constant(Tensor::<B>::from_vec(gb.to_vec()).unwrap());
    let loss = (&tape.param(w) * &cw).sum_all() + (&tape.param(b) * &cb).sum_all();
    loss.backward()
}

/// What a case of the fixture runs: the optimizer, its schedule, its clipping norm.
fn case(name: &str) -> (Box<dyn Optimizer<f32>>, Option<Schedule>, Option<f64>) {
    let sgd = |c: SgdConfig| Box::new(Sgd::new(c).unwrap()) as Box<dyn Optimizer<f32>>;
    let adam = |c: AdamConfig| Box::new(Adam::new(c).unwrap()) as Box<dyn Optimizer<f32>>;
    let adamw = |c: AdamWConfig| Box::new(AdamW::new(c).unwrap()) as Box<dyn Optimizer<f32>>;
    let d = SgdConfig::default();
    let a = AdamConfig::default();
    let aw = AdamWConfig::default();
    match name {
        "sgd_plain" => (sgd(SgdConfig { lr: 0.1, ..d }), None, None),
        "sgd_momentum" => (
            sgd(SgdConfig {
                lr: 0.05,
                momentum: 0.9,
                dampening: 0.1,
                ..d
            }),
            None,
            None,
        ),
        "sgd_nesterov" => (
            sgd(SgdConfig {
                lr: 0.05,
                momentum: 0.9,
                nesterov: true,
                ..d
            }),
            None,
            None,
        ),
        "sgd_weight_decay" => (
            sgd(SgdConfig {
                lr: 0.1,
                momentum: 0.5,
                weight_decay: 0.05,
                ..d
            }),
            None,
            None,
        ),
        "adam" => (adam(AdamConfig { lr: 1e-2, ..a }), None, None),
        "adam_defaults" => (adam(a), None, None),
        "adam_weight_decay" => (
            adam(AdamConfig {
                lr: 1e-2,
                weight_decay: 0.1,
                ..a
            }),
            None,
            None,
        ),
        "adam_amsgrad" => (
            adam(AdamConfig {
                lr: 1e-2,
                betas: (0.8, 0.99),
                amsgrad: true,
                ..a
            }),
            None,
            None,
        ),
        "adamw" => (adamw(AdamWConfig { lr: 1e-2, ..aw }), None, None),
        "adamw_amsgrad" => (
            adamw(AdamWConfig {
                lr: 1e-2,
                weight_decay: 0.1,
                amsgrad: true,
                ..aw
            }),
            None,
            None,
        ),
        "adamw_warmup_cosine" => (
            adamw(AdamWConfig { lr: 2e-2, ..aw }),
            Some(Schedule::warmup_cosine(2e-2, 5, STEPS as u64, 0.1).unwrap()),
            None,
        ),
        "adam_clip" => (adam(AdamConfig { lr: 1e-2, ..a }), None, Some(1.0)),
        "sgd_clip" => (
            sgd(SgdConfig {
                lr: 0.1,
                momentum: 0.9,
                ..d
            }),
            None,
            Some(2.5),
        ),
        other => panic!("unknown case {other}"),
    }
}

const CASES: [&str; 13] = [
    "sgd_plain",
    "sgd_momentum",
    "sgd_nesterov",
    "sgd_weight_decay",
    "adam",
    "adam_defaults",
    "adam_weight_decay",
    "adam_amsgrad",
    "adamw",
    "adamw_amsgrad",
    "adamw_warmup_cosine",
    "adam_clip",
    "sgd_clip",
];

fn rel(actual: f32, expected: f32) -> f64 {
    let (a, e) = (f64::from(actual), f64::from(expected));
    if a == e {
        0.0
    } else {
        (a - e).abs() / e.abs()
    }
}

#[test]
fn trajectories_match_pytorch() {
    let file = fixture();
    assert_eq!(file.metadata()["steps"], STEPS.to_string());
    let gw: Tensor<(D<STEPS>, D<3>, D<4>)> = file.load("grad.w").unwrap();
    let gb: Tensor<(D<STEPS>, D<5>)> = file.load("grad.b").unwrap();
    let mut report = Vec::new();
    for name in CASES {
        assert!(
            file.metadata().contains_key(&format!("case.{name}")),
            "{name}"
        );
        let want_w: Tensor<(D<STEPS>, D<3>, D<4>)> = file.load(&format!("{name}.w")).unwrap();
        let want_b: Tensor<(D<STEPS>, D<5>)> = file.load(&format!("{name}.b")).unwrap();
        let mut w = Param::new(file.load::<W, f32>("init.w").unwrap());
        let mut b = Param::new(file.load::<B, f32>("init.b").unwrap());
        let (mut opt, schedule, clip) = case(name);
        let mut worst = 0.0f64;
        let mut worst_elem = 0.0f64;
        for k in 0..STEPS {
            let mut grads = given_grads(
                &w,
                &b,
                &gw.as_slice()[k * 12..(k + 1) * 12],
                &gb.as_slice()[k * 5..(k + 1) * 5],
            );
            if let Some(max_norm) = clip {
                let norm = clip_grad_norm(&mut grads, &[&w, &b], max_norm).unwrap();
                let want: Tensor<(D<STEPS>,)> = file.load(&format!("{name}.norm")).unwrap();
                assert!(
                    rel(norm, want[[k]]) <= 1e-6,
                    "{name} step {k}: norm {norm} vs {}",
                    want[[k]]
                );
            }
            if let Some(s) = schedule {
                opt.set_lr(s.lr(opt.steps())).unwrap();
            }
            opt.step(&mut [&mut w, &mut b], &grads).unwrap();
            // Relative to the parameter tensor's scale (max |·| of PyTorch's values): an
            // element crossing zero has no meaningful elementwise relative error.
            for (got, want) in [
                (
                    w.value().as_slice(),
                    &want_w.as_slice()[k * 12..(k + 1) * 12],
                ),
                (b.value().as_slice(), &want_b.as_slice()[k * 5..(k + 1) * 5]),
            ] {
                let scale = want.iter().fold(0.0f64, |m, &e| m.max(f64::from(e).abs()));
                for (i, (&g, &e)) in got.iter().zip(want).enumerate() {
                    let r = (f64::from(g) - f64::from(e)).abs() / scale;
                    assert!(
                        r <= 1e-6,
                        "{name}: step {k}, element {i}: {g} vs PyTorch {e} (relative to the tensor {r:e})"
                    );
                    worst = worst.max(r);
                    worst_elem = worst_elem.max(rel(g, e));
                }
            }
        }
        report.push(format!(
            "{name:>20}: max deviation {worst:.2e} of the tensor's scale, {worst_elem:.2e} elementwise"
        ));
    }
    println!("{}", report.join("\n"));
}

/// f(x, y) = (1 − x)² + 100 (y − x²)², minimised at (1, 1).
fn rosenbrock(x: &Param<(D<1>,), f64>, y: &Param<(D<1>,), f64>) -> (f64, Gradients<f64>) {
    let tape = Tape::new();
    let (x, y) = (tape.param(x), tape.param(y));
    let a = x.scale(-1.0).add_scalar(1.0).powi(2);
    let b = (&y - &x.powi(2)).powi(2).scale(100.0);
    let loss = (&a + &b).sum_all();
    (loss.item(), loss.backward())
}

#[test]
fn rosenbrock_from_1_5_1_5_converges_with_adam() {
    let mut x = Param::new(Tensor::<(D<1>,), f64>::full(1.5));
    let mut y = Param::new(Tensor::<(D<1>,), f64>::full(1.5));
    let mut opt = Adam::<f64>::new(AdamConfig {
        lr: 2e-2,
        ..Default::default()
    })
    .unwrap();
    let (first, _) = rosenbrock(&x, &y);
    let mut last = first;
    for _ in 0..4000 {
        let (loss, grads) = rosenbrock(&x, &y);
        last = loss;
        opt.step_with_loss(loss, &mut [&mut x, &mut y], &grads)
            .unwrap();
    }
    let (px, py) = (x.value()[[0]], y.value()[[0]]);
    assert!(
        (px - 1.0).abs() < 1e-3 && (py - 1.0).abs() < 2e-3,
        "ended at ({px}, {py}), loss {last} (from {first})"
    );
    assert!(last < 1e-6, "loss {last}");
}

fn bits(p: &[f32]) -> Vec<u32> {
    p.iter().map(|x| x.to_bits()).collect()
}

/// Steps `range` of the fixture's gradients on (w, b) with `opt`.
fn run_steps(
    opt: &mut dyn Optimizer<f32>,
    w: &mut Param<W>,
    b: &mut Param<B>,
    range: std::ops::Range<usize>,
    schedule: Option<Schedule>,
) {
    let file = fixture();
    let gw: Tensor<(D<STEPS>, D<3>, D<4>)> = file.load("grad.w").unwrap();
    let gb: Tensor<(D<STEPS>, D<5>)> = file.load("grad.b").unwrap();
    for k in range {
        let mut grads = given_grads(
            w,
            b,
            &gw.as_slice()[k * 12..(k + 1) * 12],
            &gb.as_slice()[k * 5..(k + 1) * 5],
        );
        clip_grad_norm(&mut grads, &[&*w, &*b], 2.0).unwrap();
        if let Some(s) = schedule {
            opt.set_lr(s.lr(opt.steps())).unwrap();
        }
        opt.step(&mut [w, b], &grads).unwrap();
    }
}

#[test]
fn save_load_continue_equals_an_uninterrupted_run_bit_for_bit() {
    let schedule = Schedule::warmup_cosine(3e-2, 4, STEPS as u64, 0.0).unwrap();
    for name in ["adam_amsgrad", "adamw", "sgd_nesterov", "sgd_plain"] {
        let file = fixture();
        let init = || {
            (
                Param::new(file.load::<W, f32>("init.w").unwrap()),
                Param::new(file.load::<B, f32>("init.b").unwrap()),
            )
        };
        // Uninterrupted.
        let (mut w1, mut b1) = init();
        let mut opt1 = case(name).0;
        run_steps(&mut *opt1, &mut w1, &mut b1, 0..STEPS, Some(schedule));

        // Interrupted after 11 steps: parameters and optimizer state go to files, and a
        // fresh process (new ids, new optimizer) picks them up.
        let (mut w2, mut b2) = init();
        let mut opt2 = case(name).0;
        run_steps(&mut *opt2, &mut w2, &mut b2, 0..11, Some(schedule));
        let dir =
            std::env::temp_dir().join(format!("shapecheck-optim-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut model = shapecheck::io::SafetensorsWriter::new();
        model
            .add("w", w2.value())
            .unwrap()
            .add("b", b2.value())
            .unwrap();
        model.write(dir.join("model.safetensors")).unwrap();
        let named: [(&str, &dyn DynParam<f32>); 2] = [("w", &w2), ("b", &b2)];
        opt2.save_state(&named)
            .unwrap()
            .write(dir.join("optim.safetensors"))
            .unwrap();
        drop((w2, b2, opt2));

        let model = SafeTensors::open(dir.join("model.safetensors")).unwrap();
        let mut w3 = Param::new(model.load::<W, f32>("w").unwrap());
        let mut b3 = Param::new(model.load::<B, f32>("b").unwrap());
        let mut opt3 = case(name).0;
        let state = SafeTensors::open(dir.join("optim.safetensors")).unwrap();
        opt3.load_state(&state, &[("w", &w3), ("b", &b3)]).unwrap();
        assert_eq!(opt3.steps(), 11, "{name}");
        run_steps(&mut *opt3, &mut w3, &mut b3, 11..STEPS, Some(schedule));
        std::fs::remove_dir_all(&dir).unwrap();

        assert_eq!(
            bits(w3.value().as_slice()),
            bits(w1.value().as_slice()),
            "{name}"
        );
        assert_eq!(
            bits(b3.value().as_slice()),
            bits(b1.value().as_slice()),
            "{name}"
        );
        let s1 = opt1
            .save_state(&[("w", &w1), ("b", &b1)])
            .unwrap()
            .to_bytes();
        let s3 = opt3
            .save_state(&[("w", &w3), ("b", &b3)])
            .unwrap()
            .to_bytes();
        assert_eq!(s1, s3, "{name}: the states are byte for byte the same");
    }
}

#[test]
fn state_is_typed_like_its_parameter_and_saved_with_its_shape() {
    dim!(pub Ffn = 6; pub DModel = 4);
    let mut w = Param::new(Tensor::<(Ffn, DModel)>::randn(3));
    let mut b = Param::new(Tensor::<(Ffn,)>::randn(4));
    let mut opt = Adam::new(AdamConfig {
        amsgrad: true,
        ..Default::default()
    })
    .unwrap();
    assert!(opt.exp_avg(&w).is_none());
    let tape = Tape::new();
    let grads = (tape.param(&w).powi(2).sum_all() + tape.param(&b).sum_all()).backward();
    drop(tape);
    opt.step(&mut [&mut w, &mut b], &grads).unwrap();
    let m: TensorView<(Ffn, DModel)> = opt.exp_avg(&w).unwrap();
    assert_eq!(format!("{:?}", m.shape()), "(Ffn=6, DModel=4)");
    assert_eq!(opt.exp_avg_sq(&b).unwrap().dims().as_slice(), &[6]);
    assert!(opt.max_exp_avg_sq(&b).is_some());
    assert_eq!(opt.param_steps(&w), 1);

    let file = SafeTensors::from_bytes(
        opt.save_state(&[("ffn.weight", &w), ("ffn.bias", &b)])
            .unwrap()
            .to_bytes(),
    )
    .unwrap();
    assert_eq!(file.info("ffn.weight.exp_avg").unwrap().shape, vec![6, 4]);
    assert_eq!(file.metadata()["optimizer"], "Adam");
    // Loading into a parameter of another shape names the tensor and both shapes.
    let other = Param::new(Tensor::<(DModel, Ffn)>::zeros());
    let err = opt
        .load_state(&file, &[("ffn.weight", &other), ("ffn.bias", &b)])
        .unwrap_err();
    assert!(
        err.to_string().contains(
            "tensor `ffn.weight.exp_avg`: expected shape (DModel=4, Ffn=6), file has [6, 4]"
        ),
        "{err}"
    );
    // A state of another optimizer, or with tensors of no parameter given, is refused.
    let mut adamw = AdamW::<f32>::new(Default::default()).unwrap();
    let err = adamw.load_state(&file, &[("ffn.weight", &w), ("ffn.bias", &b)]);
    assert!(matches!(err, Err(OptimError::State { .. })), "{err:?}");
    let err = opt.load_state(&file, &[("ffn.weight", &w)]).unwrap_err();
    assert!(err.to_string().contains("ffn.bias"), "{err}");
    // AMSGrad needs its maximum: a plain Adam state does not do.
    let mut plain = Adam::new(AdamConfig::default()).unwrap();
    plain.step(&mut [&mut w, &mut b], &grads).unwrap();
    let plain_file = SafeTensors::from_bytes(
        plain
            .save_state(&[("ffn.weight", &w), ("ffn.bias", &b)])
            .unwrap()
            .to_bytes(),
    )
    .unwrap();
    let err = opt
        .load_state(&plain_file, &[("ffn.weight", &w), ("ffn.bias", &b)])
        .unwrap_err();
    assert!(err.to_string().contains("max_exp_avg_sq"), "{err}");
    // The failed loads left the state as it was.
    assert_eq!(opt.steps(), 1);
    assert_eq!(opt.param_steps(&w), 1);
    // Saving without a name for a parameter that has state would lose it: refused.
    assert!(opt.save_state(&[("ffn.weight", &w)]).is_err());
}

/// A snapshot of everything a refused step must leave alone.
fn snapshot(opt: &dyn Optimizer<f32>, w: &Param<W>, b: &Param<B>) -> (Vec<u32>, Vec<u32>, Vec<u8>) {
    (
        bits(w.value().as_slice()),
        bits(b.value().as_slice()),
        opt.save_state(&[("w", w), ("b", b)]).unwrap().to_bytes(),
    )
}

#[test]
fn a_non_finite_gradient_or_loss_is_an_error_and_changes_nothing() {
    for name in ["adamw_amsgrad", "sgd_momentum"] {
        let file = fixture();
        let mut w = Param::new(file.load::<W, f32>("init.w").unwrap());
        let mut b = Param::new(file.load::<B, f32>("init.b").unwrap());
        let mut opt = case(name).0;
        run_steps(&mut *opt, &mut w, &mut b, 0..3, None);
        let before = snapshot(&*opt, &w, &b);

        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            // A finite gradient for w (updated first), a bad one for b: w must not move.
            let mut gb = vec![0.5; 5];
            gb[3] = bad;
            let grads = given_grads(&w, &b, &[0.25; 12], &gb);
            let err = opt.step(&mut [&mut w, &mut b], &grads).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.starts_with("step 4: the gradient of parameter 1")
                    && msg.contains("shape (5,)")
                    && msg.contains(&format!("holds {bad} at element 3")),
                "{name}: {msg}"
            );
            assert_eq!(snapshot(&*opt, &w, &b), before, "{name}");
            assert_eq!(opt.steps(), 3);
        }
        // A non-finite loss with finite gradients.
        let grads = given_grads(&w, &b, &[0.25; 12], &[0.5; 5]);
        let err = opt
            .step_with_loss(f32::NAN, &mut [&mut w, &mut b], &grads)
            .unwrap_err();
        assert!(
            matches!(err, OptimError::NonFiniteLoss { step: 4, .. }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "step 4: the loss is NaN; no parameter or optimizer state was changed"
        );
        assert_eq!(snapshot(&*opt, &w, &b), before, "{name}");

        // Clipping refuses a non-finite norm and leaves the gradients as they were.
        let mut grads = given_grads(&w, &b, &[f32::INFINITY; 12], &[0.5; 5]);
        let err = clip_grad_norm(&mut grads, &[&w, &b], 1.0).unwrap_err();
        assert!(matches!(err, OptimError::NonFiniteNorm { .. }), "{err}");
        assert_eq!(grads.of(&b).unwrap().to_vec(), vec![0.5; 5]);

        // After the refusals, the run continues as if they never happened.
        let mut w2 = Param::new(file.load::<W, f32>("init.w").unwrap());
        let mut b2 = Param::new(file.load::<B, f32>("init.b").unwrap());
        let mut opt2 = case(name).0;
        run_steps(&mut *opt2, &mut w2, &mut b2, 0..6, None);
        run_steps(&mut *opt, &mut w, &mut b, 3..6, None);
        assert_eq!(
            bits(w.value().as_slice()),
            bits(w2.value().as_slice()),
            "{name}"
        );
        assert_eq!(
            bits(b.value().as_slice()),
            bits(b2.value().as_slice()),
            "{name}"
        );
    }
}

#[test]
fn frozen_parameters_and_parameters_without_gradient_are_skipped() {
    let mut w = Param::new(Tensor::<W>::ones());
    let mut b = Param::frozen(Tensor::<B>::ones());
    let mut unused = Param::new(Tensor::<(D<2>,)>::ones());
    let tape = Tape::new();
    let grads = (tape.param(&w).sum_all() + tape.param(&b).sum_all()).backward();
    drop(tape);
    let mut opt = AdamW::new(AdamWConfig::default()).unwrap();
    opt.step(&mut [&mut w, &mut b, &mut unused], &grads)
        .unwrap();
    assert!(w.value().as_slice().iter().all(|&x| x < 1.0));
    assert_eq!(b.value().as_slice(), &[1.0; 5]);
    assert_eq!(unused.value().as_slice(), &[1.0; 2]);
    assert!(opt.exp_avg(&b).is_none() && opt.exp_avg(&unused).is_none());
    assert_eq!(opt.param_steps(&w), 1);
}

#[test]
fn settings_out_of_range_are_errors() {
    let nesterov = Sgd::<f32>::new(SgdConfig {
        nesterov: true,
        ..Default::default()
    });
    assert_eq!(
        nesterov.unwrap_err().to_string(),
        "invalid optimizer setting: Nesterov momentum requires a momentum and zero dampening"
    );
    assert!(Adam::<f32>::new(AdamConfig {
        lr: -1.0,
        ..Default::default()
    })
    .is_err());
    assert!(AdamW::<f32>::new(AdamWConfig {
        betas: (0.9, 1.0),
        ..Default::default()
    })
    .is_err());
    assert!(Adam::<f32>::new(AdamConfig {
        eps: f64::NAN,
        ..Default::default()
    })
    .is_err());
    let mut opt = AdamW::<f32>::new(AdamWConfig::default()).unwrap();
    assert!(opt.set_lr(f64::INFINITY).is_err());
    assert_eq!(opt.lr(), 1e-3);
    assert_eq!(opt.config().weight_decay, 1e-2);
    assert!(Schedule::warmup_cosine(1e-3, 10, 5, 0.0).is_err());
    assert!(Schedule::warmup_cosine(1e-3, 1, 5, 1.5).is_err());
}

#[test]
fn warmup_cosine_follows_its_formula() {
    let s = Schedule::warmup_cosine(0.1, 4, 14, 0.2).unwrap();
    for step in 0..20u64 {
        let want = if step < 4 {
            0.1 * step as f64 / 4.0
        } else {
            let q = ((step - 4) as f64 / 10.0).min(1.0);
            0.1 * (0.2 + 0.8 * 0.5 * (1.0 + (std::f64::consts::PI * q).cos()))
        };
        assert!((s.lr(step) - want).abs() < 1e-15, "step {step}");
    }
    assert!((s.lr(14) - 0.02).abs() < 1e-15);
    assert_eq!(s.lr(100), s.lr(14));
}
