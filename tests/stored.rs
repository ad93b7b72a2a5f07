//! A decoder on stored weights (`Decoder<D, f32, Stored>`): loaded from a GGUF in the
//! file's own types, or converted at load, against the same file dequantized to the
//! trainable f32 decoder (`Decoder::from_gguf`). The fixture (`tests/fixtures/stored/`,
//! written by `scripts/gen_stored_fixture.py` with gguf-py) mixes Q8_0, Q4_0, Q4_1, F16,
//! BF16 and F32 matrices. The SmolLM2 test prints a note and passes without the model
//! (`scripts/fetch-smollm2.sh`), and fails under `CI=true`.

use std::path::{Path, PathBuf};

use shapecheck::io::Gguf;
use shapecheck::models::decoder::{Decoder, RuntimeDims};
use shapecheck::models::generate::CausalLm;
use shapecheck::nn::stored::Stored;
use shapecheck::prelude::*;
use shapecheck::quant::{LoadDtype, QuantKernel, StoredType};

type Dense = Decoder<RuntimeDims>;
type StoredModel = Decoder<RuntimeDims, f32, Stored>;

fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stored/tiny_llama.gguf")
}

const IDS: [u32; 10] = [1, 17, 63, 0, 5, 42, 42, 9, 30, 2];

/// The logits `(len, vocab)` of `IDS`, row-major.
fn logits<W: shapecheck::nn::stored::Storage<f32>>(m: &Decoder<RuntimeDims, f32, W>) -> Vec<f32> {
    let t = m.logits((Dyn::new(1), Dyn::new(IDS.len())), &IDS).unwrap();
    t.as_slice().to_vec()
}

fn max_abs(x: &[f32]) -> f32 {
    x.iter().fold(0f32, |m, v| m.max(v.abs()))
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

/// Converted to f32 at load, a stored decoder is the trainable decoder: the same values in
/// the same products, so the same logits bit for bit (whole sequence and KV-cache decode).
#[test]
fn f32_stored_is_the_dense_decoder() {
    let dense = Dense::from_gguf(tiny()).unwrap();
    let stored = StoredModel::from_gguf_with(tiny(), LoadDtype::To(StoredType::F32)).unwrap();
    assert_eq!(logits(&dense), logits(&stored));
    let (mut a, mut b) = (dense.new_cache(), stored.new_cache());
    assert_eq!(
        dense.step(&mut a, &IDS[..6]).unwrap(),
        stored.step(&mut b, &IDS[..6]).unwrap()
    );
    for &id in &IDS[6..] {
        assert_eq!(
            dense.step(&mut a, &[id]).unwrap(),
            stored.step(&mut b, &[id]).unwrap()
        );
    }
}

/// As stored (Q8_0, Q4_0, Q4_1, F16, BF16, F32 mixed), the logits are those of the same
/// weights dequantized, up to rounding. With the activations kept f32
/// (`QuantKernel::DequantF32`) only the order of the sums differs: within 1e-5 of the
/// logits' scale. With the fastest kernels (llama.cpp's scheme) the activations are
/// rounded to 8 bits per block of 32 (a step of `max|x|/127`), so each product `Σ wᵢxᵢ`
/// is off by at most `‖w‖₁·max|x|/254`, 0.4 % of a scale that for these normal rows is
/// about 3 `|y|`; a logit passes through 2 blocks of 4 products in series and the head:
/// 9 × 1.2 % ≈ 10 % of the logits' scale bounds the drift (measured: 5.4 %). A Q4 weight
/// read with the wrong rows, or its minimum dropped, is off by far more.
#[test]
fn stored_logits_are_the_dequantized_ones_within_the_activation_rounding() {
    let dense = Dense::from_gguf(tiny()).unwrap();
    let mut stored = StoredModel::from_gguf_with(tiny(), LoadDtype::Stored).unwrap();
    let (want, got) = (logits(&dense), logits(&stored));
    let (diff, scale) = (max_diff(&want, &got), max_abs(&want));
    eprintln!("stored vs dequantized: max |Δ| {diff:.5} of max |logit| {scale:.3}");
    assert!(diff <= 0.10 * scale, "{diff} > 10% of {scale}");
    assert!(
        diff > 0.0,
        "the block kernels round the activations: equal logits mean f32 ran"
    );
    if QuantKernel::DequantF32.is_available() {
        let mut exact = StoredModel::from_gguf_with(tiny(), LoadDtype::Stored).unwrap();
        exact.set_quant_kernel(QuantKernel::DequantF32);
        let d = max_diff(&want, &logits(&exact));
        eprintln!("activations in f32: max |Δ| {d:.2e}");
        assert!(d <= 1e-5 * scale, "{d}");
    }
    stored.set_quant_kernel(QuantKernel::Portable);
    let d = max_diff(&got, &logits(&stored));
    assert!(d <= 1e-4 * scale, "the portable kernel: {d}");
    // The KV-cache decode gives the whole sequence's logits.
    let mut cache = stored.new_cache();
    let vocab = 64;
    for (t, &id) in IDS.iter().enumerate() {
        let row = stored.step(&mut cache, &[id]).unwrap();
        let d = max_diff(&row, &got[t * vocab..(t + 1) * vocab]);
        assert!(d <= 1e-4 * scale, "position {t}: {d}");
    }
}

/// The weights take the file's bytes: every tensor of the GGUF kept in its type (the norms
/// are f32 in both).
#[test]
fn stored_weights_take_the_files_bytes() {
    let file = Gguf::open(tiny()).unwrap();
    let bytes: usize = file
        .tensor_names()
        .iter()
        .map(|n| file.tensor_data(n).unwrap().len())
        .sum();
    let stored = StoredModel::from_gguf_with(tiny(), LoadDtype::Stored).unwrap();
    assert_eq!(stored.weight_bytes(), bytes);
    let types: Vec<StoredType> = [
        stored.embedding.stored_type(),
        stored.blocks[0].attn.wq.weight.stored_type(),
        stored.blocks[0].attn.wk.weight.stored_type(),
        stored.blocks[0].attn.wo.weight.stored_type(),
        stored.blocks[1].attn.wq.weight.stored_type(),
        stored.blocks[1].attn.wk.weight.stored_type(),
    ]
    .to_vec();
    use StoredType::*;
    assert_eq!(types, [Q8_0, Q4_0, Q4_1, F16, Bf16, F32]);
    // Converted: every matrix in the type asked for.
    let q8 = StoredModel::from_gguf_with(tiny(), LoadDtype::To(Q8_0)).unwrap();
    assert!(
        q8.blocks
            .iter()
            .all(|b| b.ffn.down.weight.stored_type() == Q8_0
                && b.attn.wq.weight.stored_type() == Q8_0)
    );
    let dense = Dense::from_gguf(tiny()).unwrap();
    let f32_bytes = StoredModel::from_gguf_with(tiny(), LoadDtype::To(F32))
        .unwrap()
        .weight_bytes();
    assert_eq!(f32_bytes, dense.weight_bytes());
    assert_eq!(f32_bytes, 4 * dense.num_parameters());
}

/// Half precision converted at load: within bf16's rounding of the weights (a relative
/// 2⁻⁸ per weight; the activations stay f32).
#[test]
fn bf16_and_f16_at_load_stay_close() {
    let dense = Dense::from_gguf(tiny()).unwrap();
    let want = logits(&dense);
    let scale = max_abs(&want);
    for (ty, tol) in [(StoredType::Bf16, 0.05), (StoredType::F16, 0.005)] {
        let m = StoredModel::from_gguf_with(tiny(), LoadDtype::To(ty)).unwrap();
        let d = max_diff(&want, &logits(&m));
        eprintln!("{ty}: max |Δ| {d:.5} of {scale:.3}");
        assert!(d <= tol * scale, "{ty}: {d}");
    }
}

/// Hugging Face directories load into the same storage: as stored (their F32 or BF16) or
/// converted; a type whose blocks do not divide a width is an error naming the tensor.
#[test]
fn hf_directories_load_stored_and_refuse_blocks_that_do_not_fit() {
    let dir = |c: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/llama")
            .join(c)
    };
    for case in ["llama_gqa", "llama_gqa_bf16_sharded"] {
        let dense = Dense::from_hf_dir(dir(case)).unwrap();
        let stored = StoredModel::from_hf_dir_with(dir(case), LoadDtype::Stored).unwrap();
        let (want, got) = (logits(&dense), logits(&stored));
        if case.contains("bf16") {
            // The same bf16 values, multiplied by the half kernel (its own order of sums).
            let d = max_diff(&want, &got);
            assert!(d <= 1e-5 * max_abs(&want), "{case}: {d}");
        } else {
            assert_eq!(want, got, "{case}");
        }
        let own = stored.blocks[0].attn.wq.weight.stored_type();
        let want = if case.contains("bf16") {
            StoredType::Bf16
        } else {
            StoredType::F32
        };
        assert_eq!(own, want);
    }
    let err = StoredModel::from_hf_dir_with(dir("llama_gqa"), LoadDtype::To(StoredType::Q8_0))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`dtype` is Q8_0")
            && err.contains("model.layers.0.self_attn.o_proj.weight")
            && err.contains("blocks of 32, which do not divide 48"),
        "{err}"
    );
    let err = "q4_k".parse::<LoadDtype>().unwrap_err().to_string();
    assert_eq!(
        err,
        "unknown weight type `q4_k`: expected one of stored, f32, bf16, f16, q8_0, q4_0, q4_1"
    );
}

fn smollm2_path() -> Option<PathBuf> {
    let path = std::env::var_os("SHAPECHECK_SMOLLM2_GGUF")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
        });
    if path.is_file() {
        return Some(path);
    }
    let msg = format!(
        "the SmolLM2-135M-Instruct GGUF not found at {}: run scripts/fetch-smollm2.sh (or set \
         SHAPECHECK_SMOLLM2_GGUF)",
        path.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("note: skipping: {msg}");
    None
}

/// SmolLM2-135M-Instruct as stored (Q4_1, its embedding Q8_0): the weights take the file's
/// tensor bytes, and the next-token logits of a prompt stay within the bound of the
/// activations' rounding (see above) of the dequantized f32 decoder's, with the same
/// greedy pick.
#[test]
fn smollm2_runs_on_its_own_blocks() {
    let Some(path) = smollm2_path() else { return };
    let stored = StoredModel::from_gguf_with(&path, LoadDtype::Stored).unwrap();
    let file = Gguf::open(&path).unwrap();
    let tensor_bytes: usize = file
        .tensor_names()
        .iter()
        .map(|n| file.tensor_data(n).unwrap().len())
        .sum();
    assert_eq!(stored.weight_bytes(), tensor_bytes);
    assert_eq!(stored.embedding.stored_type(), StoredType::Q8_0);
    assert_eq!(
        stored.blocks[3].ffn.up.weight.stored_type(),
        StoredType::Q4_1
    );
    drop(file);
    let dense = Dense::from_gguf(&path).unwrap();
    // "The capital of France is" in SmolLM2's vocabulary.
    let prompt = [504, 3575, 282, 4649, 314];
    let (mut a, mut b) = (dense.new_cache(), stored.new_cache());
    let (want, got) = (
        dense.step(&mut a, &prompt).unwrap(),
        stored.step(&mut b, &prompt).unwrap(),
    );
    let argmax = |x: &[f32]| (0..x.len()).max_by(|&i, &j| x[i].total_cmp(&x[j])).unwrap();
    let (diff, scale) = (max_diff(&want, &got), max_abs(&want));
    eprintln!("SmolLM2 stored vs f32: max |Δ| {diff:.4} of {scale:.2}");
    assert!(diff <= 0.10 * scale, "{diff} of {scale}");
    assert_eq!(argmax(&want), argmax(&got));
}

/// A stored projection reads its input's value: given a traced input on a tape that
/// records, it says so rather than cut the input from the graph silently.
#[test]
fn a_traced_input_is_refused_on_a_recording_tape() {
    use shapecheck::autodiff::{Param, Tape};
    use shapecheck::models::decoder::DecoderDims;
    use shapecheck::nn::stored::Project;
    let stored = StoredModel::from_gguf_with(tiny(), LoadDtype::Stored).unwrap();
    let m = stored.dims().model();
    let p = Param::new(Tensor::<(Dyn, Dyn, _)>::zeros_with((
        Dyn::new(1),
        Dyn::new(2),
        m,
    )));
    let tape = Tape::new();
    let err = stored.blocks[0]
        .attn
        .wq
        .try_project(None, &tape.param(&p))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no gradient flows through a stored weight"),
        "{err}"
    );
    // On an inference tape the same input is a value, and the product runs.
    let tape = Tape::inference();
    assert!(stored.blocks[0]
        .attn
        .wq
        .try_project(None, &tape.param(&p))
        .is_ok());
}

/// A file in the types of a narrow model's `Q4_K_M` (`Q5_0`/`Q5_1` projections, `Q4_K`/`Q6_K`
/// down projections): the stored decoder keeps none of them in their own blocks, so loading
/// it as stored is an `Err` naming the first such tensor and what to ask for; converted at
/// load to f32 it is the dense decoder bit for bit, and to Q8_0 within the rounding.
#[test]
fn k_quant_and_5_bit_files_load_converted_and_say_so_when_asked_to_keep_them() {
    let kq = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stored/tiny_llama_kq.gguf");
    let err = StoredModel::from_gguf_with(&kq, LoadDtype::Stored)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`dtype` is stored, but it must be a type to convert to: tensor `blk.0.attn_q.weight` is Q5_0, which is not kept in its own blocks")
            && err.contains("ask for f32, bf16, f16, q8_0, q4_0 or q4_1"),
        "{err}"
    );
    let dense = Dense::from_gguf(&kq).unwrap();
    let want = logits(&dense);
    assert!(want.iter().all(|v| v.is_finite()) && max_abs(&want) > 0.1);
    let f32s = StoredModel::from_gguf_with(&kq, LoadDtype::To(StoredType::F32)).unwrap();
    assert_eq!(logits(&f32s), want);
    let q8 = StoredModel::from_gguf_with(&kq, LoadDtype::To(StoredType::Q8_0)).unwrap();
    let drift = max_diff(&logits(&q8), &want) / max_abs(&want);
    assert!(drift < 0.1, "Q8_0 drifts {drift} of the logits' scale");
}
