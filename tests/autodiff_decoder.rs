//! The decoder's gradients, three ways:
//!
//! - central finite differences in f64 (h = 1e-6, `|analytic − numeric| ≤ tol·(1 + |numeric|)`,
//!   see tests/common/gradcheck.rs) for the traced RoPE (both layouts, position offsets,
//!   base and interpolation scale, strided inputs; tol 1e-6 — a rotation is linear, so the
//!   central difference is exact up to rounding), the embedding lookup (repeated ids,
//!   batches, a transposed table; tol 1e-6, also linear), and the whole decoder, tied and
//!   untied (every parameter; tol 1e-5, as for the norms it contains);
//! - PyTorch autograd: tests/fixtures/autodiff/decoder.safetensors, written by
//!   scripts/golden_decoder.py — logits, loss and every parameter's `.grad` of the same
//!   model, in f32 and f64;
//! - KV-cache decoding against the full causal forward (≤ 1e-5 in f32).

use std::cell::RefCell;

use proptest::prelude::*;
use shapecheck::io::SafeTensors;
use shapecheck::models::decoder::{Decoder, DecoderConfig, Dims, ParamVisitor, ParamVisitorMut};
use shapecheck::nn::rope::{Rope, RopeLayout};
use shapecheck::prelude::*;

mod common;

use common::gradcheck::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn rope_gradient(h in small(), s in 1usize..5, half in 1usize..4, offset in 0usize..50,
                     interleaved in any::<bool>(), permuted in any::<bool>(), stretch in any::<bool>()) {
        let layout = if interleaved { RopeLayout::Interleaved } else { RopeLayout::HalfSplit };
        let mut rope = Rope::new_with(Dyn::new(2 * half), layout).unwrap().base(500.0);
        if stretch {
            rope = rope.interpolation(2.5);
        }
        // Stored (S, H, Hd) and permuted to (H, S, Hd) half the time: a strided input.
        let x = param(if permuted { d3(s, h, 2 * half) } else { d3(h, s, 2 * half) }, 21);
        let eval = run(|tape| {
            let xv = tape.param(&x.borrow());
            let xv = if permuted { xv.permute((A1, A0, A2)) } else { xv };
            weigh(&xv.rope(&rope, offset))
        });
        check("rope", &x, &eval, 1e-6);
    }

    #[test]
    fn embedding_gradient(v in 1usize..6, c in small(), b in small(), s in small(),
                          transposed in any::<bool>(), seed in 0u64..1000) {
        // Ids drawn from a small vocabulary, so most runs repeat some.
        let ids: Vec<u32> = (0..b * s).map(|i| ((seed as usize + 7 * i * i + i) % v) as u32).collect();
        let table = param(if transposed { d2(c, v) } else { d2(v, c) }, 22);
        let eval = run(|tape| {
            let tv = tape.param(&table.borrow());
            let tv = if transposed { tv.t() } else { tv };
            let single = tv.embed(Dyn::new(s), &ids[..s]);
            let batch = tv.embed_batch((Dyn::new(b), Dyn::new(s)), &ids);
            (&weigh(&single) + &weigh(&batch)).scale(1.0)
        });
        check("embedding", &table, &eval, 1e-6);
    }
}

#[test]
fn embedding_gradient_is_a_scatter_add_into_the_rows_used() {
    dim!(pub Vocab = 5; pub Width = 2; pub Seq = 4);
    let table = Param::new(Tensor::<(Vocab, Width), f64>::zeros());
    let tape = Tape::new();
    let x = tape.param(&table).embed(Seq, &[4u32, 1, 4, 4]);
    let w = tape.constant(Tensor::<(Seq, Width), f64>::from_fn(|[p, j]| {
        (10 * p + j) as f64
    }));
    let grads = (&x * &w).sum_all().backward();
    // Row 4 gets positions 0, 2 and 3; row 1 position 1; rows 0, 2, 3 nothing.
    let g = grads.of(&table).unwrap().to_vec();
    assert_eq!(g, vec![0., 0., 10., 11., 0., 0., 0., 0., 50., 53.]);
}

#[test]
fn embedding_ids_are_checked() {
    dim!(pub Vocab = 3; pub Width = 2; pub Batch; pub Seq);
    let table = Param::new(Tensor::<(Vocab, Width)>::zeros());
    let tape = Tape::new();
    let t = tape.param(&table);
    let err = t.try_embed(Seq::new(2), &[0u32, 3]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Embedding::forward: cannot combine table (Vocab=3, Width=2) with ids [0, 3]: \
         id 3 at position 1 is out of range for a table of 3 rows"
    );
    let err = t.try_embed(Seq::new(2), &[-1i64, 0]).unwrap_err();
    assert!(
        err.to_string()
            .contains("id (negative or too large) at position 0"),
        "{err}"
    );
    let err = t
        .try_embed_batch((Batch::new(2), Seq::new(2)), &[0u32, 1, 2])
        .unwrap_err();
    assert!(
        err.to_string().contains("3 ids for a shape of 4 positions"),
        "{err}"
    );
    let outcome = std::panic::catch_unwind(|| {
        let tape = Tape::<f32>::new();
        tape.param(&table).embed(Seq::new(1), &[7u32]);
    });
    assert!(outcome.is_err(), "embed panics on an id out of range");
}

#[test]
fn rope_on_a_traced_value_rotates_like_the_tensor_op_and_checks_the_head_dim() {
    let rope = Rope::new_with(Dyn::new(4), RopeLayout::Interleaved).unwrap();
    let x = Tensor::<(Dyn, Dyn), f64>::randn_with(d2(3, 4), 5);
    let tape = Tape::new();
    let y = tape.constant(x.clone()).rope(&rope, 7);
    assert_eq!(y.to_tensor().as_slice(), rope.rotate(&x, 7).as_slice());
    assert!(tape.is_empty(), "a constant records nothing");
    let wrong = tape.constant(Tensor::<(Dyn, Dyn), f64>::zeros_with(d2(3, 6)));
    let err = wrong.try_rope(&rope, 0).unwrap_err();
    assert!(
        err.to_string().contains("the rope was built for 4"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// The whole decoder against finite differences
// ---------------------------------------------------------------------------------------

mod tiny {
    use shapecheck::prelude::*;
    dim!(pub Vocab = 5; pub DModel = 4; pub Heads = 2; pub HeadDim = 2; pub Ffn = 6);
    dim!(pub Batch; pub Seq);
}

type Tiny = Decoder<
    Dims<tiny::Vocab, tiny::DModel, tiny::Heads, tiny::Heads, tiny::HeadDim, tiny::Ffn>,
    f64,
>;

/// A decoder whose matrices are large enough (std 0.5) for attention to be far from
/// uniform, and whose norm weights are not all 1.
fn tiny_decoder(tied: bool) -> Tiny {
    let config = DecoderConfig {
        layers: 2,
        tied,
        init_std: 0.5,
        ..DecoderConfig::default()
    };
    let mut d = Tiny::init(config, 3);
    let w = d.norm.weight.value_mut().as_mut_slice();
    w.iter_mut()
        .enumerate()
        .for_each(|(i, x)| *x += 0.1 * i as f64);
    d
}

#[test]
fn decoder_gradients_match_finite_differences() {
    for tied in [false, true] {
        let model = RefCell::new(tiny_decoder(tied));
        let (b, s) = (tiny::Batch::new(2), tiny::Seq::new(3));
        let ids = [1u32, 4, 4, 0, 2, 3];
        let targets = [4u32, 4, 0, 2, 1, 1];
        let eval = run(|tape| model.borrow().loss(tape, (b, s), &ids, &targets).unwrap());
        let tol = 1e-5;
        check_in(
            "embedding",
            &model,
            |m| &m.embedding.table,
            |m| &mut m.embedding.table,
            &eval,
            tol,
        );
        check_in(
            "norm",
            &model,
            |m| &m.norm.weight,
            |m| &mut m.norm.weight,
            &eval,
            tol,
        );
        for l in 0..2 {
            macro_rules! field {
                ($name:literal, $($f:tt)+) => {
                    match l {
                        0 => check_in($name, &model, |m| &m.blocks[0].$($f)+, |m| &mut m.blocks[0].$($f)+, &eval, tol),
                        _ => check_in($name, &model, |m| &m.blocks[1].$($f)+, |m| &mut m.blocks[1].$($f)+, &eval, tol),
                    }
                };
            }
            field!("attn_norm", attn_norm.weight);
            field!("wq", attn.wq.weight);
            field!("wk", attn.wk.weight);
            field!("wv", attn.wv.weight);
            field!("wo", attn.wo.weight);
            field!("ffn_norm", ffn_norm.weight);
            field!("w1", ffn.gate.weight);
            field!("w2", ffn.down.weight);
            field!("w3", ffn.up.weight);
        }
        if !tied {
            check_in(
                "head",
                &model,
                |m| &m.head.as_ref().unwrap().weight,
                |m| &mut m.head.as_mut().unwrap().weight,
                &eval,
                tol,
            );
        }
        let (_, grads) = eval(true);
        assert_eq!(grads.unwrap().len(), count_params(&model.borrow()));
    }
}

/// The number of parameter tensors, through the visitor.
fn count_params(model: &Tiny) -> usize {
    struct N(usize);
    impl<'a> ParamVisitor<'a, f64> for N {
        fn visit<S: Shape>(&mut self, _: &str, _: &'a Param<S, f64>) {
            self.0 += 1;
        }
    }
    let mut n = N(0);
    model.visit_params("", &mut n);
    n.0
}

#[test]
fn inference_records_nothing_and_equals_the_traced_forward() {
    let mut model = tiny_decoder(false);
    let (b, s) = (tiny::Batch::new(2), tiny::Seq::new(3));
    let ids = [1u32, 4, 4, 0, 2, 3];
    let traced = {
        let tape = Tape::new();
        let y = model.forward(&tape, (b, s), &ids).unwrap();
        assert!(
            tape.len() > 50,
            "training records the forward ({} nodes)",
            tape.len()
        );
        y.to_tensor()
    };
    let inferred = model.logits((b, s), &ids).unwrap();
    assert_eq!(traced.as_slice(), inferred.as_slice());
    // Every parameter frozen: the traced forward records nothing either.
    struct Freeze;
    impl<'a> ParamVisitorMut<'a, f64> for Freeze {
        fn visit<S: Shape>(&mut self, _: &str, p: &'a mut Param<S, f64>) {
            p.freeze();
        }
    }
    model.visit_params_mut("", &mut Freeze);
    let tape = Tape::new();
    let frozen = model.forward(&tape, (b, s), &ids).unwrap();
    assert!(tape.is_empty(), "{} nodes recorded", tape.len());
    assert_eq!(frozen.to_tensor().as_slice(), inferred.as_slice());
}

#[test]
fn decoder_inputs_are_checked_and_nan_propagates() {
    let mut model = tiny_decoder(true);
    let (b, s) = (tiny::Batch::new(1), tiny::Seq::new(2));
    let err = model.logits((b, s), &[1u32, 5]).unwrap_err();
    assert!(
        err.to_string()
            .contains("id 5 at position 1 is out of range"),
        "{err}"
    );
    let err = model.logits((b, s), &[1u32]).unwrap_err();
    assert!(
        err.to_string().contains("1 ids for a shape of 2 positions"),
        "{err}"
    );
    let tape = Tape::new();
    let err = model.loss(&tape, (b, s), &[1, 2], &[0, 9]).unwrap_err();
    assert!(err.to_string().contains("class 9 is out of range"), "{err}");
    model.blocks[1].ffn.down.weight.value_mut().as_mut_slice()[3] = f64::NAN;
    let y = model.logits((b, s), &[1u32, 2]).unwrap();
    assert!(
        y.as_slice().iter().all(|v| v.is_nan()),
        "{:?}",
        y.as_slice()
    );
}

// ---------------------------------------------------------------------------------------
// KV-cache decoding
// ---------------------------------------------------------------------------------------

mod small_dims {
    use shapecheck::prelude::*;
    dim!(pub Vocab = 13; pub DModel = 16; pub Heads = 2; pub HeadDim = 8; pub Ffn = 32);
    dim!(pub Batch; pub Seq);
}
use small_dims::{Batch, DModel, Ffn, HeadDim, Heads, Seq, Vocab};

#[test]
fn kv_cache_decoding_gives_the_logits_of_the_full_causal_forward() {
    for (tied, layout) in [
        (false, RopeLayout::HalfSplit),
        (true, RopeLayout::Interleaved),
    ] {
        let config = DecoderConfig {
            layers: 2,
            tied,
            rope_layout: layout,
            init_std: 0.3,
            ..DecoderConfig::default()
        };
        let model = Decoder::<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>>::init(config, 11);
        let ids: Vec<u32> = (0..2 * 9).map(|i| ((5 * i + 3) % 13) as u32).collect();
        let full = model.logits((Batch::new(2), Seq::new(9)), &ids).unwrap();
        let mut cache = model.cache();
        for row in 0..2 {
            cache.clear();
            let seq = &ids[row * 9..(row + 1) * 9];
            // A prefill of 3 tokens, then one token at a time.
            let mut steps = vec![model
                .decode(&mut cache, &seq[..3])
                .unwrap()
                .as_slice()
                .to_vec()];
            for &id in &seq[3..] {
                steps.push(model.decode(&mut cache, &[id]).unwrap().as_slice().to_vec());
            }
            assert_eq!(cache.len(), 9);
            let decoded: Vec<f32> = steps.concat();
            let expected = &full.as_slice()[row * 9 * 13..(row + 1) * 9 * 13];
            let worst = common::max_abs_diff(&decoded, expected);
            assert!(worst <= 1e-5, "tied {tied}, row {row}: max |Δ| {worst:e}");
            println!("kv-cache decode, tied {tied}, row {row}: max |Δ| {worst:e}");
        }
        let mut other = Decoder::<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>>::init(
            DecoderConfig {
                layers: 1,
                ..config
            },
            0,
        )
        .cache();
        assert!(
            model.decode(&mut other, &[1]).is_err(),
            "a cache of another depth"
        );
    }
}

// ---------------------------------------------------------------------------------------
// PyTorch golden values
// ---------------------------------------------------------------------------------------

fn fixture() -> SafeTensors {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/autodiff/decoder.safetensors"
    );
    SafeTensors::open(path).expect("the committed fixture (scripts/golden_decoder.py)")
}

fn ids(file: &SafeTensors, name: &str) -> Vec<u32> {
    let t = file.load_with::<(Dyn, Dyn), f64>(name, d2(2, 7)).unwrap();
    t.as_slice().iter().map(|&v| v as u32).collect()
}

/// Sets every parameter from `{prefix}/param/{name}`.
struct Load<'a> {
    file: &'a SafeTensors,
    prefix: &'a str,
    count: usize,
}

impl<'a, T: Float> ParamVisitorMut<'a, T> for Load<'_> {
    fn visit<S: Shape>(&mut self, name: &str, p: &'a mut Param<S, T>) {
        let key = format!("{}/param/{name}", self.prefix);
        *p.value_mut() = self.file.load_with(&key, p.value().shape()).unwrap();
        self.count += 1;
    }
}

/// Compares every parameter's gradient with `{prefix}/grad/{name}`: element `i` within
/// `rtol·|e_i| + rtol·max_j |e_j|`, and records the worst deviation relative to that scale.
struct Compare<'a, T: Float> {
    file: &'a SafeTensors,
    prefix: &'a str,
    grads: &'a Gradients<T>,
    rtol: f64,
    worst: f64,
    count: usize,
}

impl<'a, T: Float> ParamVisitor<'a, T> for Compare<'_, T> {
    fn visit<S: Shape>(&mut self, name: &str, p: &'a Param<S, T>) {
        let key = format!("{}/grad/{name}", self.prefix);
        let expected: Tensor<S, f64> = self.file.load_with(&key, p.value().shape()).unwrap();
        let actual = self
            .grads
            .of(p)
            .unwrap_or_else(|| panic!("no gradient for {name}"))
            .to_vec();
        self.worst = self
            .worst
            .max(compare(name, &actual, expected.as_slice(), self.rtol));
        self.count += 1;
    }
}

/// Panics unless `actual` is within `rtol·|e| + rtol·max|e|` of `expected`; returns the
/// largest `|a − e| / (|e| + max|e|)`.
fn compare<T: Float>(what: &str, actual: &[T], expected: &[f64], rtol: f64) -> f64 {
    let scale = expected.iter().fold(0.0f64, |m, e| m.max(e.abs()));
    assert!(scale > 0.0, "{what}: an all-zero reference tests nothing");
    if let Err(msg) = common::within(actual, expected, |_, e| rtol * (e.abs() + scale)) {
        panic!("{what}: {msg}");
    }
    actual
        .iter()
        .zip(expected)
        .map(|(a, e)| (a.to_f64() - e).abs() / (e.abs() + scale))
        .fold(0.0, f64::max)
}

fn golden<T: Float>(case: &str, layers: usize, tied: bool, rtol: f64) {
    let file = fixture();
    let (tokens, targets) = (ids(&file, "tokens"), ids(&file, "targets"));
    let config = DecoderConfig {
        layers,
        tied,
        ..DecoderConfig::default()
    };
    let mut model = Decoder::<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>, T>::init(config, 99);
    let mut load = Load {
        file: &file,
        prefix: case,
        count: 0,
    };
    model.visit_params_mut("", &mut load);
    let in_file = file
        .names()
        .iter()
        .filter(|n| n.starts_with(&format!("{case}/param/")))
        .count();
    assert_eq!(
        load.count, in_file,
        "{case}: every parameter of the file is the model's"
    );
    let shape = (Batch::new(2), Seq::new(7));
    let tape = Tape::new();
    let logits = model.forward(&tape, shape, &tokens).unwrap();
    let expected: Tensor<(Dyn, Dyn, Dyn), f64> = file
        .load_with(&format!("{case}/logits"), d3(2, 7, 13))
        .unwrap();
    let dl = compare(
        "logits",
        logits.to_tensor().as_slice(),
        expected.as_slice(),
        rtol,
    );
    let loss = model.loss(&tape, shape, &tokens, &targets).unwrap();
    let expected_loss: Tensor<(Dyn,), f64> =
        file.load_with(&format!("{case}/loss"), d1(1)).unwrap();
    let dloss = compare("loss", &[loss.item()], expected_loss.as_slice(), rtol / 2.0);
    let grads = loss.backward();
    let mut cmp = Compare {
        file: &file,
        prefix: case,
        grads: &grads,
        rtol,
        worst: 0.0,
        count: 0,
    };
    model.visit_params("", &mut cmp);
    assert_eq!(cmp.count, in_file);
    assert_eq!(grads.len(), in_file, "{case}: one gradient per parameter");
    println!(
        "{case}: worst relative deviation: logits {dl:e}, loss {dloss:e}, grads {:e}",
        cmp.worst
    );
}

/// f32: 1e-5 relative, with the floor 1e-5·max|e| of each tensor (an element's rounding
/// error scales with the largest terms summed into it, not with its own value, which may
/// be a near-cancellation; f32's unit roundoff is 6e-8, the forward and backward chain a
/// few hundred roundings).
#[test]
fn decoder_matches_pytorch_in_f32() {
    golden::<f32>("untied/f32", 2, false, 1e-5);
}

/// f64: 1e-10 relative, with the floor 1e-10·max|e| of each tensor.
#[test]
fn decoder_matches_pytorch_in_f64() {
    golden::<f64>("untied/f64", 2, false, 1e-10);
    golden::<f64>("tied/f64", 1, true, 1e-10);
}

// ---------------------------------------------------------------------------------------
// Save and load
// ---------------------------------------------------------------------------------------

#[test]
fn a_saved_decoder_loads_back_with_the_same_weights_and_config() {
    type M = Decoder<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>>;
    for tied in [false, true] {
        let config = DecoderConfig {
            layers: 2,
            tied,
            rope_layout: RopeLayout::Interleaved,
            rope_base: 500.0,
            norm_eps: 1e-6,
            init_std: 0.3,
            ..DecoderConfig::default()
        };
        let model = M::init(config, 5);
        let path = std::env::temp_dir().join(format!(
            "shapecheck-decoder-{}-{tied}.safetensors",
            std::process::id()
        ));
        model.save(&path).unwrap();
        let back = M::load(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(back.config().layers, 2);
        assert_eq!(back.config().tied, tied);
        assert_eq!(back.config().rope_layout, RopeLayout::Interleaved);
        assert_eq!(back.config().rope_base, 500.0);
        assert_eq!(back.config().norm_eps, 1e-6);
        assert_eq!(back.rope().base_frequency(), 500.0);
        let ids: Vec<u32> = (0..6).map(|i| (i * 4 % 13) as u32).collect();
        let shape = (Batch::new(1), Seq::new(6));
        let (a, b) = (
            model.logits(shape, &ids).unwrap(),
            back.logits(shape, &ids).unwrap(),
        );
        assert_eq!(a.as_slice(), b.as_slice());
        assert_eq!(back.num_parameters(), model.num_parameters());
    }
}

#[test]
fn loading_checks_the_sizes_the_config_and_the_tensors() {
    type M = Decoder<Dims<Vocab, DModel, Heads, Heads, HeadDim, Ffn>>;
    let model = M::init(DecoderConfig::default(), 1);
    let load = |edit: &dyn Fn(&mut shapecheck::io::SafetensorsWriter)| {
        let mut w = model.to_safetensors().unwrap();
        edit(&mut w);
        let file = SafeTensors::from_bytes(w.to_bytes()).unwrap();
        M::from_safetensors(&file, "model.safetensors")
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        load(&|w| {
            w.metadata("vocab", "14");
        }),
        "model.safetensors: `vocab` is 14 in the file, but the model's type has 13"
    );
    let err = load(&|w| {
        w.metadata("rope_layout", "sideways");
    });
    assert!(
        err.contains("`rope_layout` is sideways in the file"),
        "{err}"
    );
    let err = load(&|w| {
        w.metadata("layers", "1000000000000");
    });
    assert!(
        err.contains("`layers` is 1000000000000 in the file"),
        "{err}"
    );
    let err = load(&|w| {
        w.metadata("tied", "true");
    });
    assert!(
        err.contains("tensor `lm_head.weight` is not a parameter"),
        "{err}"
    );
    let err = load(&|w| {
        w.metadata("layers", "1");
    });
    assert!(
        err.contains("is not a parameter of a decoder of 1 blocks"),
        "{err}"
    );
    // A tensor of another shape: a model with another FFN width saved under the same sizes.
    let wide = Decoder::<Dims<Vocab, DModel, Heads, Heads, HeadDim, D<48>>>::init(
        DecoderConfig::default(),
        1,
    );
    let mut w = wide.to_safetensors().unwrap();
    w.metadata("ffn", "32");
    let file = SafeTensors::from_bytes(w.to_bytes()).unwrap();
    let err = M::from_safetensors(&file, "wide").unwrap_err().to_string();
    assert!(err.contains("layers.0.mlp.gate_proj.weight"), "{err}");
}

#[test]
fn an_empty_batch_gives_empty_logits() {
    let model = tiny_decoder(false);
    for (b, s) in [(1, 0), (0, 3)] {
        let y = model
            .logits((tiny::Batch::new(b), tiny::Seq::new(s)), &[])
            .unwrap();
        assert!(y.as_slice().is_empty());
        let mut cache = model.cache();
        assert_eq!(model.decode(&mut cache, &[]).unwrap().as_slice().len(), 0);
    }
}
