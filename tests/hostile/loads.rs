//! Files written by the library and read back, made hostile or careless (issue 25): each
//! case gives the right answer or an error saying what is wrong, and a refused load leaves
//! everything as it was. Only APIs that predate the fixes are used, so that every test here
//! can be run against the code before them (where each one fails).

use std::io::{self, Cursor, Seek, SeekFrom, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};

use serde_json::{json, Value};
use shapecheck::autodiff::{Param, Tape};
use shapecheck::io::{NpyWriter, SafeTensors, SafetensorsWriter};
use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims, LoraTargets};
use shapecheck::nn::lora::LoraConfig;
use shapecheck::optim::{Adam, AdamConfig, DynParam, Optimizer, Sgd, SgdConfig};
use shapecheck::prelude::*;

type W = (D<3>,);

fn param(values: [f32; 3]) -> Param<W> {
    Param::new(Tensor::from_vec(values.to_vec()).unwrap())
}

/// `opt` after `steps` steps on the loss Σ (w·k)² (gradients all non-zero), `w` updated.
fn trained(opt: &mut dyn Optimizer<f32>, w: &mut Param<W>, steps: usize) {
    for _ in 0..steps {
        let tape = Tape::new();
        let k = tape.constant(Tensor::<W>::from_vec(vec![1.0, -2.0, 3.0]).unwrap());
        let grads = (tape.param(w) * k).powi(2).sum_all().backward();
        drop(tape);
        opt.step(&mut [w], &grads).unwrap();
    }
}

/// A safetensors file from a JSON header and the data bytes.
fn raw(header: &Value, data: &[u8]) -> Vec<u8> {
    let text = header.to_string();
    let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(text.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// `file` rewritten: every tensor through `edit(name, values)` (its dtype and shape kept;
/// F32 and F64 only; emptied, the tensor is dropped), the metadata through `meta`.
fn rewrite(
    file: &SafeTensors,
    edit: impl Fn(&str, &mut Vec<f64>),
    meta: impl Fn(&mut serde_json::Map<String, Value>),
) -> SafeTensors {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for name in file.names() {
        let info = file.info(name).unwrap();
        let bytes = file.data(name).unwrap();
        let mut values: Vec<f64> = match info.dtype.to_string().as_str() {
            "F32" => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
                .collect(),
            "F64" => bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                .collect(),
            other => panic!("{other}"),
        };
        edit(name, &mut values);
        if values.is_empty() {
            continue;
        }
        let begin = data.len();
        for v in values {
            match info.dtype.to_string().as_str() {
                "F32" => data.extend_from_slice(&(v as f32).to_le_bytes()),
                _ => data.extend_from_slice(&v.to_le_bytes()),
            }
        }
        header.insert(
            name.to_owned(),
            json!({"dtype": info.dtype.to_string(), "shape": info.shape,
                   "data_offsets": [begin, data.len()]}),
        );
    }
    let mut m: serde_json::Map<String, Value> = file
        .metadata()
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    meta(&mut m);
    header.insert("__metadata__".into(), Value::Object(m));
    SafeTensors::from_bytes(raw(&Value::Object(header), &data)).unwrap()
}

fn no_meta(_: &mut serde_json::Map<String, Value>) {}

fn adam_state_after_3_steps() -> (Adam, Param<W>, SafeTensors) {
    let mut opt = Adam::new(AdamConfig::default()).unwrap();
    let mut w = param([0.5, -1.0, 2.0]);
    trained(&mut opt, &mut w, 3);
    let file = SafeTensors::from_bytes(opt.save_state(&[("w", &w)]).unwrap().to_bytes()).unwrap();
    (opt, w, file)
}

/// The optimizer's state, as bytes, to see that a refused load changed nothing.
fn saved(opt: &dyn Optimizer<f32>, w: &Param<W>) -> Vec<u8> {
    opt.save_state(&[("w", w)]).unwrap().to_bytes()
}

// 1. A loaded state is checked as gradients are.
#[test]
fn optimizer_state_with_a_nan_an_infinity_or_a_negative_second_moment_is_refused() {
    let (_, w, file) = adam_state_after_3_steps();
    let cases: [(&str, usize, f64, &str); 3] = [
        (
            "w.exp_avg",
            1,
            f64::NAN,
            "tensor `w.exp_avg` holds NaN at element 1",
        ),
        (
            "w.exp_avg",
            2,
            f64::INFINITY,
            "tensor `w.exp_avg` holds inf at element 2",
        ),
        (
            "w.exp_avg_sq",
            0,
            -1.0,
            "tensor `w.exp_avg_sq` holds -1 at element 0: a second-moment average is never \
             negative",
        ),
    ];
    for (tensor, element, value, says) in cases {
        let bad = rewrite(
            &file,
            |name, v| {
                if name == tensor {
                    v[element] = value;
                }
            },
            no_meta,
        );
        let mut fresh = Adam::new(AdamConfig::default()).unwrap();
        let mut w2 = param([0.5, -1.0, 2.0]);
        trained(&mut fresh, &mut w2, 1);
        let before = saved(&fresh, &w2);
        let err = fresh.load_state(&bad, &[("w", &w2)]).unwrap_err();
        assert!(err.to_string().contains(says), "{err}");
        assert_eq!(saved(&fresh, &w2), before, "a refused load changes nothing");
        // The file untouched loads, and the next step stays finite.
        fresh.load_state(&file, &[("w", &w2)]).unwrap();
        trained(&mut fresh, &mut w2, 1);
        assert!(w2.value().as_slice().iter().all(|x| x.is_finite()));
    }
    let _ = w;
}

// 2. The step count: at most 2^53, and a step past it is refused, never wrapped.
#[test]
fn a_step_count_past_2_pow_53_is_refused_and_never_wraps() {
    let (_, _, file) = adam_state_after_3_steps();
    let w = param([0.5, -1.0, 2.0]);
    for steps in [u64::MAX.to_string(), ((1u64 << 53) + 1).to_string()] {
        let bad = rewrite(
            &file,
            |_, _| {},
            |m| {
                m.insert("steps".into(), Value::from(steps.as_str()));
            },
        );
        let mut opt = Adam::new(AdamConfig::default()).unwrap();
        let err = opt.load_state(&bad, &[("w", &w)]).unwrap_err();
        assert!(
            err.to_string()
                .contains("exceeds the most steps an optimizer counts, 2^53"),
            "{err}"
        );
        assert_eq!(opt.steps(), 0);
    }
    // 2^53 itself loads, and the next step is an error that leaves the parameter alone
    // (Adam's bias correction at a wrapped step 0 would divide by zero).
    let at_limit = rewrite(
        &file,
        |name, v| {
            if name == "w.step" {
                v[0] = (1u64 << 53) as f64;
            }
        },
        |m| {
            m.insert("steps".into(), Value::from((1u64 << 53).to_string()));
        },
    );
    let mut opt = Adam::new(AdamConfig::default()).unwrap();
    let mut w = param([0.5, -1.0, 2.0]);
    opt.load_state(&at_limit, &[("w", &w)]).unwrap();
    assert_eq!(opt.steps(), 1 << 53);
    let tape = Tape::new();
    let grads = tape.param(&w).sum_all().backward();
    drop(tape);
    let err = opt.step(&mut [&mut w], &grads).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the optimizer has taken 9007199254740992 steps, the most it counts (2^53, the \
         largest step count a saved state stores exactly); no parameter or optimizer state \
         was changed"
    );
    assert_eq!(w.value().as_slice(), &[0.5, -1.0, 2.0]);
    let err = opt.step_with_loss(1.0, &mut [&mut w], &grads).unwrap_err();
    assert!(err.to_string().contains("the most it counts"), "{err}");

    // SGD likewise.
    let mut sgd = Sgd::new(SgdConfig::default()).unwrap();
    let mut v = param([1.0, 1.0, 1.0]);
    trained(&mut sgd, &mut v, 1);
    let file = SafeTensors::from_bytes(sgd.save_state(&[("w", &v)]).unwrap().to_bytes()).unwrap();
    let bad = rewrite(
        &file,
        |_, _| {},
        |m| {
            m.insert("steps".into(), Value::from(u64::MAX.to_string()));
        },
    );
    let mut sgd = Sgd::new(SgdConfig::default()).unwrap();
    assert!(sgd.load_state(&bad, &[("w", &v)]).is_err());
}

// 3. Names: given twice, refused naming the name; a stray tensor named as it is.
#[test]
fn load_state_refuses_a_name_given_twice_and_names_the_stray_tensor() {
    let mut opt = Adam::new(AdamConfig::default()).unwrap();
    let mut w = param([0.5, -1.0, 2.0]);
    let mut v = param([3.0, 1.0, -4.0]);
    for _ in 0..3 {
        let tape = Tape::new();
        let loss = (tape.param(&w).powi(2) + tape.param(&v).powi(3)).sum_all();
        let grads = loss.backward();
        drop(tape);
        opt.step(&mut [&mut w, &mut v], &grads).unwrap();
    }
    let named: [(&str, &dyn DynParam<f32>); 2] = [("w", &w), ("v", &v)];
    let file = SafeTensors::from_bytes(opt.save_state(&named).unwrap().to_bytes()).unwrap();

    let mut fresh = Adam::new(AdamConfig::default()).unwrap();
    let err = fresh
        .load_state(&file, &[("w", &w), ("w", &v)])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("the name `w` is given to two parameters (positions 0 and 1)"),
        "{err}"
    );
    assert_eq!(fresh.steps(), 0);
    assert!(fresh.exp_avg(&v).is_none(), "v did not take w's state");
    assert!(opt.save_state(&[("w", &w), ("w", &v)]).is_err());

    // `v.exp_avg` and `v.exp_avg_sq` without `v.step`: named, not `?`.
    let without_step = rewrite(
        &file,
        |name, v| {
            if name == "v.step" {
                v.clear()
            }
        },
        no_meta,
    );
    let err = Adam::<f32>::new(AdamConfig::default())
        .unwrap()
        .load_state(&without_step, &[("w", &w), ("v", &v)])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "tensor `v.exp_avg` of the file belongs to parameter `v`, but the file has no \
             `v.step`"
        ),
        "{err}"
    );
    // A tensor of no parameter given is named as before.
    let err = Adam::<f32>::new(AdamConfig::default())
        .unwrap()
        .load_state(&file, &[("w", &w)])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tensor `v.exp_avg` of the file belongs to no parameter given"),
        "{err}"
    );
}

// 3b. The hyperparameters that shape the state are compared; the element type is the
// optimizer's own (an F16 or F64 state in an f32 optimizer would not resume bit for bit).
#[test]
fn a_state_of_other_betas_eps_momentum_or_element_type_is_refused() {
    let (_, w, file) = adam_state_after_3_steps();
    for (config, says) in [
        (
            AdamConfig {
                betas: (0.9, 0.99),
                ..Default::default()
            },
            "the file was saved with beta2 = 0.999, but this optimizer has beta2 = 0.99",
        ),
        (
            AdamConfig {
                betas: (0.8, 0.999),
                ..Default::default()
            },
            "beta1 = 0.9, but this optimizer has beta1 = 0.8",
        ),
        (
            AdamConfig {
                eps: 1e-6,
                ..Default::default()
            },
            "eps = 0.00000001, but this optimizer has eps = 0.000001",
        ),
    ] {
        let mut opt = Adam::new(config).unwrap();
        let err = opt.load_state(&file, &[("w", &w)]).unwrap_err();
        assert!(err.to_string().contains(says), "{err}");
        assert_eq!(opt.steps(), 0);
    }
    let mut sgd = Sgd::new(SgdConfig {
        momentum: 0.9,
        ..Default::default()
    })
    .unwrap();
    let mut v = param([1.0, 2.0, 3.0]);
    trained(&mut sgd, &mut v, 2);
    let file = SafeTensors::from_bytes(sgd.save_state(&[("w", &v)]).unwrap().to_bytes()).unwrap();
    let mut other = Sgd::new(SgdConfig {
        momentum: 0.5,
        ..Default::default()
    })
    .unwrap();
    let err = other.load_state(&file, &[("w", &v)]).unwrap_err();
    assert!(
        err.to_string()
            .contains("momentum = 0.9, but this optimizer has momentum = 0.5"),
        "{err}"
    );

    // An f64 optimizer's state into an f32 one.
    let mut opt64 = Adam::<f64>::new(AdamConfig::default()).unwrap();
    let mut w64 = Param::new(Tensor::<W, f64>::from_vec(vec![0.5, -1.0, 2.0]).unwrap());
    let tape = Tape::new();
    let grads = tape.param(&w64).powi(2).sum_all().backward();
    drop(tape);
    opt64.step(&mut [&mut w64], &grads).unwrap();
    let file64 =
        SafeTensors::from_bytes(opt64.save_state(&[("w", &w64)]).unwrap().to_bytes()).unwrap();
    let mut opt32 = Adam::<f32>::new(AdamConfig::default()).unwrap();
    let err = opt32.load_state(&file64, &[("w", &w)]).unwrap_err();
    assert!(
        err.to_string().contains(
            "tensor `w.exp_avg` is stored as F64, but this optimizer keeps its state in f32"
        ),
        "{err}"
    );

    // An F16 state (as a half-precision checkpoint converter would leave it).
    let meta = file64.metadata().clone();
    let f16 = |x: f32| -> [u8; 2] {
        // 0.5, 0.25 and 0 are exact in F16.
        match x {
            0.5 => 0x3800u16,
            0.25 => 0x3400,
            _ => 0,
        }
        .to_le_bytes()
    };
    let mut data = 1.0f64.to_le_bytes().to_vec();
    for x in [0.5, 0.25, 0.0, 0.25, 0.25, 0.5] {
        data.extend_from_slice(&f16(x));
    }
    let header = json!({
        "w.step": {"dtype": "F64", "shape": [], "data_offsets": [0, 8]},
        "w.exp_avg": {"dtype": "F16", "shape": [3], "data_offsets": [8, 14]},
        "w.exp_avg_sq": {"dtype": "F16", "shape": [3], "data_offsets": [14, 20]},
        "__metadata__": {"optimizer": "Adam", "steps": "1", "lr": meta["lr"],
                         "config": "", "beta1": meta["beta1"], "beta2": meta["beta2"],
                         "eps": meta["eps"], "amsgrad": "false"},
    });
    let half = SafeTensors::from_bytes(raw(&header, &data)).unwrap();
    let mut opt32 = Adam::<f32>::new(AdamConfig::default()).unwrap();
    let err = opt32.load_state(&half, &[("w", &w)]).unwrap_err();
    assert!(
        err.to_string().contains(
            "tensor `w.exp_avg` is stored as F16, but this optimizer keeps its state in f32"
        ),
        "{err}"
    );
}

// 4. A header that declares a tensor twice.
#[test]
fn a_safetensors_header_that_declares_a_tensor_twice_is_refused() {
    let data = vec![0u8; 64];
    // The same bytes as [4, 4] and then as [16]: serde_json alone keeps the second.
    let header = r#"{"norm.weight":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]},"norm.weight":{"dtype":"F32","shape":[16],"data_offsets":[0,64]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&data);
    let err = SafeTensors::from_bytes(bytes).unwrap_err().to_string();
    assert!(
        err.starts_with(
            "not a valid safetensors file: the header is ambiguous: tensor `norm.weight` is \
             declared twice at line 1 column"
        ),
        "{err}"
    );
    assert!(err.ends_with("a name must be declared once"), "{err}");
    // Over different bytes, the message says why too (not "bytes 0..64 belong to no tensor").
    let header = r#"{"a":{"dtype":"F32","shape":[16],"data_offsets":[0,64]},"a":{"dtype":"F32","shape":[16],"data_offsets":[64,128]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0u8; 128]);
    let err = SafeTensors::from_bytes(bytes).unwrap_err().to_string();
    assert!(err.contains("tensor `a` is declared twice"), "{err}");
    // A repeated field inside a tensor's entry, or in the metadata.
    for header in [
        r#"{"a":{"dtype":"F32","shape":[16],"shape":[4,4],"data_offsets":[0,64]}}"#,
        r#"{"__metadata__":{"k":"1","k":"2"},"a":{"dtype":"F32","shape":[16],"data_offsets":[0,64]}}"#,
    ] {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&data);
        let err = SafeTensors::from_bytes(bytes).unwrap_err().to_string();
        assert!(err.contains("appears twice in one object"), "{err}");
    }
}

// 5. Adapters record α and rsLoRA; a mismatch is refused, and nothing is replaced.
dim!(pub Vocab = 11; pub DModel = 16; pub Heads = 2; pub HeadDim = 8; pub Ffn = 32);
type Model = Decoder<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>, f64>;

fn adapted(alpha: f64, rslora: bool, seed: u64) -> Model {
    let mut m = Model::init(DecoderConfig::default(), 3);
    let config = LoraConfig {
        alpha,
        rslora,
        ..Default::default()
    };
    m.add_adapters(LoraTargets::ALL, 2, config, seed).unwrap();
    for (i, b) in m.blocks.iter_mut().enumerate() {
        let s = seed + 10 * i as u64;
        let l = &mut b.attn.lora;
        // Each adapter's B, drawn in the order q, k, v, o.
        for (k, a) in [&mut l.q, &mut l.k, &mut l.v]
            .into_iter()
            .flatten()
            .enumerate()
        {
            *a.b_mut() = Tensor::randn_with(a.b().shape(), s + k as u64);
        }
        if let Some(a) = &mut l.o {
            *a.b_mut() = Tensor::randn_with(a.b().shape(), s + 3);
        }
    }
    m
}

fn adapter_values(m: &Model) -> Vec<Vec<f64>> {
    m.named_adapter_params()
        .into_iter()
        .map(|(_, p)| p.values().to_vec())
        .collect()
}

#[test]
fn adapters_of_another_alpha_or_rslora_are_refused_and_nothing_is_replaced() {
    let saved = adapted(8.0, false, 1);
    let file =
        SafeTensors::from_bytes(saved.adapters_to_safetensors().unwrap().to_bytes()).unwrap();
    let ids: Vec<u32> = (0..6).collect();
    let shape = (Dyn::new(1), Dyn::new(6));
    for (alpha, rslora, says) in [
        (32.0, false, "`lora_alpha` is 8 in the file, but 32 here"),
        (
            8.0,
            true,
            "`use_rslora` is false in the file, but true here",
        ),
    ] {
        let mut other = adapted(alpha, rslora, 2);
        let before = adapter_values(&other);
        let err = other.load_adapters_from(&file).unwrap_err().to_string();
        assert!(err.contains(says), "{err}");
        assert!(
            err.starts_with("adapter `layers.0.self_attn.q_proj`"),
            "{err}"
        );
        assert_eq!(adapter_values(&other), before);
    }
    let mut same = adapted(8.0, false, 2);
    same.load_adapters_from(&file).unwrap();
    assert_eq!(
        same.logits(shape, &ids).unwrap(),
        saved.logits(shape, &ids).unwrap()
    );

    // One adapter alone, through nn's LoRA.
    let lora = saved.blocks[0].attn.lora.q.as_ref().unwrap();
    let mut w = SafetensorsWriter::new();
    lora.save(&mut w, "q_proj.").unwrap();
    let one = SafeTensors::from_bytes(w.to_bytes()).unwrap();
    let mut other = adapted(16.0, false, 3);
    let target = other.blocks[0].attn.lora.q.as_mut().unwrap();
    let before = target.a().clone();
    let err = target.load(&one, "q_proj.").unwrap_err().to_string();
    assert!(
        err.contains("adapter `q_proj`: `lora_alpha` is 8 in the file, but 16 here"),
        "{err}"
    );
    assert_eq!(target.a(), &before);
}

#[test]
fn a_failed_load_adapters_leaves_every_adapter_as_it_was() {
    // The last adapter of the file (block 1's o_proj) has rank 3, the others rank 2.
    let mut saved = adapted(8.0, false, 1);
    saved.blocks[1]
        .add_adapters(
            LoraTargets {
                o: true,
                ..LoraTargets::NONE
            },
            3,
            LoraConfig::default(),
            7,
        )
        .unwrap();
    let file =
        SafeTensors::from_bytes(saved.adapters_to_safetensors().unwrap().to_bytes()).unwrap();
    let mut other = adapted(8.0, false, 2);
    let before = adapter_values(&other);
    let err = other.load_adapters_from(&file).unwrap_err().to_string();
    assert!(
        err.contains("layers.1.self_attn.o_proj.lora_A.weight"),
        "{err}"
    );
    assert_eq!(adapter_values(&other), before, "no adapter was replaced");
    // The same ranks load: the rank of block 1's o_proj was recorded apart.
    let mut same = adapted(8.0, false, 2);
    same.blocks[1]
        .add_adapters(
            LoraTargets {
                o: true,
                ..LoraTargets::NONE
            },
            3,
            LoraConfig::default(),
            8,
        )
        .unwrap();
    same.load_adapters_from(&file).unwrap();
    assert_eq!(adapter_values(&same), adapter_values(&saved));
}

// 6. NpyWriter: a failed write, an append-mode file, a start that is not 0.

/// An output that takes `budget` more bytes, then fails (a full disk).
struct Failing {
    inner: Cursor<Vec<u8>>,
    budget: usize,
}

impl Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.budget == 0 {
            return Err(io::Error::other("disk full"));
        }
        let n = buf.len().min(self.budget);
        self.budget -= n;
        self.inner.write(&buf[..n])
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Failing {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// The shape and values of the `.npy` in `bytes` from `at`.
fn read_npy(bytes: &[u8], at: usize) -> ((usize, usize), Vec<f32>) {
    let b = &bytes[at..];
    assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
    let len = u16::from_le_bytes([b[8], b[9]]) as usize;
    let header = std::str::from_utf8(&b[10..10 + len]).unwrap();
    let shape = header.split("'shape': (").nth(1).unwrap();
    let shape: Vec<usize> = shape
        .split(')')
        .next()
        .unwrap()
        .split(',')
        .map(|d| d.trim().parse().unwrap())
        .collect();
    let values = b[10 + len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    ((shape[0], shape[1]), values)
}

#[test]
fn npy_writer_refuses_finish_after_a_failed_write() {
    let block = Tensor::<(D<2>, D<2>)>::from_vec(vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    let out = Failing {
        inner: Cursor::new(Vec::new()),
        budget: 128 + 16 + 5,
    };
    let mut w = NpyWriter::new(out, 2).unwrap();
    w.write(&block).unwrap();
    assert!(w.write(&block).is_err(), "a few of its 16 bytes fit");
    assert_eq!(w.rows(), 2);
    let err = w.write(&block).unwrap_err().to_string();
    assert!(
        err.contains("an earlier write failed after 2 complete rows"),
        "{err}"
    );
    let err = w.finish().err().expect("finish refuses").to_string();
    assert_eq!(
        err,
        "NpyWriter: an earlier write failed after 2 complete rows, leaving part of a block in \
         the output: the file cannot be completed into a valid .npy"
    );
}

#[test]
fn npy_writer_starts_where_the_output_is_and_refuses_append_mode() {
    // After other bytes, and with bytes after where it writes (a file rewritten in place).
    let mut out = Cursor::new(vec![7u8; 300]);
    out.seek(SeekFrom::Start(5)).unwrap();
    let mut w = NpyWriter::new(out, 2).unwrap();
    w.write(&Tensor::<(D<1>, D<2>)>::from_vec(vec![1.5, -2.0]).unwrap())
        .unwrap();
    let mut out = w.finish().unwrap();
    assert_eq!(out.stream_position().unwrap(), 5 + 128 + 8);
    let bytes = out.into_inner();
    assert_eq!(&bytes[..5], &[7; 5]);
    let ((rows, cols), values) = read_npy(&bytes[..5 + 128 + 8], 5);
    assert_eq!(((rows, cols), values), ((1, 2), vec![1.5, -2.0]));

    // A file opened in append mode cannot have its header rewritten: refused up front,
    // whether or not it was empty.
    let dir = std::env::temp_dir().join(format!("shapecheck-npy-append-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for prior in [&b""[..], b"earlier bytes"] {
        let path = dir.join("x.npy");
        std::fs::write(&path, prior).unwrap();
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        let result = NpyWriter::new(file, 2).and_then(|mut w| {
            w.write(&Tensor::<(D<1>, D<2>)>::from_vec(vec![1.0, 2.0]).unwrap())?;
            w.finish()
        });
        let err = result.expect_err("append mode is refused").to_string();
        assert!(
            err.contains("does not write where it is positioned (a file opened in append mode?)"),
            "{err}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

// 7. Vars of two tapes in one op.
fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("the op panics");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap()
}

#[test]
fn an_op_on_vars_of_two_tapes_panics_saying_so() {
    let w = Param::new(Tensor::<W>::from_vec(vec![1.0, 2.0, 3.0]).unwrap());
    let v = Param::new(Tensor::<W>::from_vec(vec![10.0, 20.0, 30.0]).unwrap());
    let (ta, tb) = (Tape::new(), Tape::new());
    let _ = tb.param(&w); // tb is now longer than ta is when the op records
    let msg = panic_message(|| {
        let _ = ta.param(&w) * tb.param(&v);
    });
    assert!(
        msg.starts_with("mul: its inputs are traced on two different tapes"),
        "{msg}"
    );
    let msg = panic_message(|| {
        let m = Param::new(Tensor::<(D<3>, D<2>)>::ones());
        let _ = ta.param(&w).matmul(&tb.param(&m));
    });
    assert!(
        msg.starts_with("matmul: its inputs are traced on two different tapes"),
        "{msg}"
    );
    // On one tape, the gradient is right: d/dw (w·v) = v.
    let grads = (ta.param(&w) * ta.param(&v)).sum_all().backward();
    assert_eq!(grads.of(&w).unwrap().to_vec(), vec![10.0, 20.0, 30.0]);
    assert_eq!(grads.of(&v).unwrap().to_vec(), vec![1.0, 2.0, 3.0]);
}
