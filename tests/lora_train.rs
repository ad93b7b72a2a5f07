//! Trainable LoRA (`nn::lora::LoraLinear`): PEFT's initialisation, only A and B
//! trained, merge, adapters saved on their own, and finite-difference gradients.

mod common;

use std::cell::RefCell;

use common::gradcheck::{check_in, run, weigh};
use shapecheck::autodiff::Tape;
use shapecheck::io::{LoadError, SafeTensors, SafetensorsWriter};
use shapecheck::nn::linear::Linear;
use shapecheck::nn::lora::{LoraConfig, LoraLinear};
use shapecheck::optim::{AdamW, AdamWConfig, DynParam, Optimizer};
use shapecheck::prelude::*;

dim!(pub Batch = 5; pub DIn = 6; pub DOut = 4; pub Rank = 2);

fn bits<T: Float>(xs: &[T]) -> Vec<u64> {
    xs.iter().map(|x| x.to_f64().to_bits()).collect()
}

#[test]
fn starts_equal_to_the_base_with_peft_initialisation() {
    let base = Linear::<DIn, DOut>::init(true, 0);
    let plain = base.clone(); // the same values, fresh ids
    let layer = LoraLinear::<DIn, DOut, Rank>::new(base, LoraConfig::default(), 7).unwrap();
    assert!(layer.base.weight.is_frozen() && layer.base.bias.as_ref().unwrap().is_frozen());
    // A: uniform in ±1/√DIn (kaiming_uniform_ with a = √5); B: zero.
    let bound = 1.0 / 6f32.sqrt();
    let a = layer.adapter.lora_a.value().as_slice();
    assert!(a.iter().all(|x| x.abs() <= bound), "{a:?}");
    assert!(a.iter().any(|x| x.abs() > bound / 2.0), "{a:?}");
    assert!(layer
        .adapter
        .lora_b
        .value()
        .as_slice()
        .iter()
        .all(|&x| x == 0.0));
    assert_eq!(layer.scale(), 4.0); // α/r = 8/2
    assert_eq!(
        (layer.num_trainable(), layer.num_frozen()),
        (2 * (6 + 4), 6 * 4 + 4)
    );

    let x = Tensor::<(Batch, DIn)>::randn(1);
    let tape = Tape::new();
    let y = layer.forward(&tape.constant(x.clone())).to_tensor();
    assert_eq!(bits(y.as_slice()), bits(plain.forward(&x).as_slice()));
    // The frozen base records nothing; A and B are traced, so the adapter path is on the
    // tape (their gradients are what training needs).
    assert!(!tape.is_empty());
}

#[test]
fn rslora_scale_and_bad_settings() {
    let rs = LoraConfig {
        alpha: 8.0,
        rslora: true,
        ..Default::default()
    };
    let layer = LoraLinear::<DIn, DOut, D<4>>::new(Linear::init(false, 0), rs, 1).unwrap();
    assert_eq!(layer.scale(), 4.0); // α/√r = 8/2
    for bad in [
        LoraConfig {
            alpha: 0.0,
            ..Default::default()
        },
        LoraConfig {
            dropout: 1.0,
            ..Default::default()
        },
        LoraConfig {
            dropout: f64::NAN,
            ..Default::default()
        },
    ] {
        let err = LoraLinear::<DIn, DOut, Rank>::new(Linear::init(false, 0), bad, 1).unwrap_err();
        assert!(err.to_string().contains("LoraLinear::new"), "{err}");
    }
    // A runtime rank above min(DIn, DOut) is an error naming it.
    let base = Linear::<Dyn, Dyn>::new(Tensor::zeros_with((Dyn::new(3), Dyn::new(5))), None);
    let err = LoraLinear::new_with(base, Dyn::new(4), LoraConfig::default(), 0).unwrap_err();
    assert!(err.to_string().contains("rank"), "{err}");
}

/// Inputs, the teacher's outputs, and the base the student starts from.
type Data = (
    Tensor<(Batch, DIn), f64>,
    Tensor<(Batch, DOut), f64>,
    Linear<DIn, DOut, f64>,
);

/// A teacher: the base plus a fixed rank-2 update; the student must learn the update.
fn teacher_data() -> Data {
    let base = Linear::<DIn, DOut, f64>::init(true, 3);
    let x = Tensor::<(Batch, DIn), f64>::randn(4);
    let u = Tensor::<(DOut, Rank), f64>::randn(5);
    let v = Tensor::<(Rank, DIn), f64>::randn(6);
    let mut w = base.weight.value().clone();
    let uv = u.matmul(&v);
    w.as_mut_slice()
        .iter_mut()
        .zip(uv.as_slice())
        .for_each(|(w, d)| *w += 0.3 * d);
    let teacher =
        shapecheck::nn::linear::Linear::new(w, base.bias.as_ref().map(|b| b.value().clone()));
    (x.clone(), teacher.forward(&x), base)
}

#[test]
fn training_moves_only_a_and_b_and_merge_equals_the_adapted_layer() {
    let (x, y, base) = teacher_data();
    let frozen_w = bits(base.weight.value().as_slice());
    let frozen_b = bits(base.bias.as_ref().unwrap().value().as_slice());
    let config = LoraConfig {
        alpha: 4.0,
        dropout: 0.1,
        rslora: false,
    };
    let mut layer = LoraLinear::<DIn, DOut, Rank, f64>::new(base, config, 8).unwrap();
    let mut opt = AdamW::<f64>::new(AdamWConfig {
        lr: 2e-2,
        ..Default::default()
    })
    .unwrap();
    let mut losses = Vec::new();
    for step in 0..60u64 {
        let tape = Tape::new();
        let loss = layer
            .forward_train(&tape.constant(x.clone()), 100 + step)
            .mse(&tape.constant(y.clone()));
        let grads = loss.backward();
        assert!(grads.of(&layer.base.weight).is_none());
        assert!(grads.of(layer.base.bias.as_ref().unwrap()).is_none());
        assert_eq!(grads.len(), 2);
        losses.push(loss.item());
        drop(tape);
        let mut params = layer.trainable();
        opt.step_with_loss(losses[step as usize], &mut params, &grads)
            .unwrap();
    }
    assert!(losses[59] < 0.5 * losses[0], "{losses:?}");
    // The frozen weights are bit for bit as they were, and have no optimizer state.
    assert_eq!(bits(layer.base.weight.value().as_slice()), frozen_w);
    assert_eq!(
        bits(layer.base.bias.as_ref().unwrap().value().as_slice()),
        frozen_b
    );
    assert!(opt.exp_avg(&layer.base.weight).is_none());
    assert!(
        opt.exp_avg(&layer.adapter.lora_a).is_some()
            && opt.exp_avg(&layer.adapter.lora_b).is_some()
    );
    assert!(layer
        .adapter
        .lora_b
        .value()
        .as_slice()
        .iter()
        .any(|&v| v != 0.0));

    // Merged equals unmerged (evaluation: no dropout).
    let merged = layer.merge();
    let tape = Tape::new();
    let adapted = layer.forward(&tape.constant(x.clone())).to_tensor();
    let plain = merged.forward(&x);
    for (a, m) in adapted.as_slice().iter().zip(plain.as_slice()) {
        assert!((a - m).abs() <= 1e-12 * (1.0 + m.abs()), "{a} vs {m}");
    }

    // The adapter's optimizer state saves under PEFT's names.
    let named = layer.named_trainable("q_proj.");
    let named: Vec<(&str, &dyn DynParam<f64>)> =
        named.iter().map(|(n, p)| (n.as_str(), *p)).collect();
    let state = SafeTensors::from_bytes(opt.save_state(&named).unwrap().to_bytes()).unwrap();
    assert!(state.info("q_proj.lora_A.weight.exp_avg").is_some());
    assert_eq!(
        state.info("q_proj.lora_B.weight.exp_avg_sq").unwrap().shape,
        vec![4, 2]
    );
}

#[test]
fn dropout_is_seeded_and_off_in_evaluation() {
    let config = LoraConfig {
        dropout: 0.5,
        ..Default::default()
    };
    let mut layer = LoraLinear::<DIn, DOut, Rank>::new(Linear::init(true, 0), config, 1).unwrap();
    *layer.adapter.lora_b.value_mut() = Tensor::randn(2);
    let x = Tensor::<(Batch, DIn)>::randn(3);
    let tape = Tape::new();
    let xv = tape.constant(x.clone());
    let eval = layer.forward(&xv).to_tensor();
    let eval_again = layer.forward(&xv).to_tensor();
    let t1 = layer.forward_train(&xv, 9).to_tensor();
    let t1_again = layer.forward_train(&xv, 9).to_tensor();
    let t2 = layer.forward_train(&xv, 10).to_tensor();
    assert_eq!(eval.as_slice(), eval_again.as_slice());
    assert_eq!(t1.as_slice(), t1_again.as_slice());
    assert_ne!(t1.as_slice(), eval.as_slice());
    assert_ne!(t1.as_slice(), t2.as_slice());
    // Without dropout, training and evaluation agree.
    let plain = LoraLinear::<DIn, DOut, Rank>::new(Linear::init(true, 0), LoraConfig::default(), 1)
        .unwrap();
    assert_eq!(
        plain.forward_train(&xv, 9).to_tensor().as_slice(),
        plain.forward(&xv).to_tensor().as_slice()
    );
}

#[test]
fn adapters_save_and_load_on_their_own() {
    let (x, _, base) = teacher_data();
    let base_w = base.weight.value().clone();
    let base_b = base.bias.as_ref().unwrap().value().clone();
    let mut layer =
        LoraLinear::<DIn, DOut, Rank, f64>::new(base, LoraConfig::default(), 8).unwrap();
    *layer.adapter.lora_b.value_mut() = Tensor::randn(9);
    let mut w = SafetensorsWriter::new();
    layer
        .save_adapter(&mut w, "base_model.model.q_proj.")
        .unwrap();
    let file = SafeTensors::from_bytes(w.to_bytes()).unwrap();
    assert_eq!(
        file.names(),
        [
            "base_model.model.q_proj.lora_A.weight",
            "base_model.model.q_proj.lora_B.weight"
        ]
    );
    assert_eq!(
        file.info("base_model.model.q_proj.lora_A.weight")
            .unwrap()
            .shape,
        vec![2, 6]
    );

    // A fresh adapter on the same base (another seed) becomes the saved one.
    let base2 = Linear::new(base_w, Some(base_b));
    let mut other =
        LoraLinear::<DIn, DOut, Rank, f64>::new(base2, LoraConfig::default(), 99).unwrap();
    let id = other.adapter.lora_a.id();
    other
        .load_adapter(&file, "base_model.model.q_proj.")
        .unwrap();
    assert_eq!(other.adapter.lora_a.id(), id);
    let tape = Tape::new();
    let xv = tape.constant(x);
    assert_eq!(
        layer.forward(&xv).to_tensor().as_slice(),
        other.forward(&xv).to_tensor().as_slice()
    );

    // An adapter of another rank does not load, and leaves the adapter as it was.
    let mut rank3 =
        LoraLinear::<DIn, DOut, D<3>, f64>::new(Linear::init(true, 0), LoraConfig::default(), 1)
            .unwrap();
    let before = rank3.adapter.lora_a.value().clone();
    let err = rank3
        .load_adapter(&file, "base_model.model.q_proj.")
        .unwrap_err();
    assert!(matches!(err, LoadError::Shape { .. }), "{err}");
    assert_eq!(rank3.adapter.lora_a.value(), &before);
    assert!(matches!(
        rank3.load_adapter(&file, "k_proj."),
        Err(LoadError::Missing { .. })
    ));
}

#[test]
fn gradcheck_a_and_b() {
    type L = LoraLinear<DIn, DOut, Rank, f64>;
    for dropout in [0.0, 0.3] {
        let config = LoraConfig {
            alpha: 3.0,
            dropout,
            rslora: false,
        };
        let mut layer = L::new(Linear::init(true, 0), config, 1).unwrap();
        *layer.adapter.lora_b.value_mut() = Tensor::randn(2); // B = 0 would make A's gradient 0
        let cell = RefCell::new(layer);
        let x = Tensor::<(Batch, DIn), f64>::randn(3);
        let eval = run(|tape| {
            let out = cell.borrow().forward_train(&tape.constant(x.clone()), 5);
            weigh(&out)
        });
        check_in(
            "lora A",
            &cell,
            |l: &L| &l.adapter.lora_a,
            |l: &mut L| &mut l.adapter.lora_a,
            &*eval,
            1e-6,
        );
        check_in(
            "lora B",
            &cell,
            |l: &L| &l.adapter.lora_b,
            |l: &mut L| &mut l.adapter.lora_b,
            &*eval,
            1e-6,
        );
        let (_, grads) = eval(true);
        let grads = grads.unwrap();
        assert!(grads.of(&cell.borrow().base.weight).is_none());
    }
}
