//! A short printed tour of shapecheck: dims, tensors, a matmul, a transposed matmul that
//! copies nothing, the DSL, transformer blocks (Linear, attention, KV cache, RoPE), runtime
//! dims with `Result`s, gradients through the same layers, and the compile errors the checks produce.
//!
//! `cargo run --release --example tour`

use shapecheck::autodiff::Tape;
use shapecheck::nn::attention::{attention_masked, AttentionMask};
use shapecheck::nn::kv_cache::KvCache;
use shapecheck::nn::linear::Linear;
use shapecheck::nn::rope::{Rope, RopeLayout};
use shapecheck::optim::{AdamW, AdamWConfig, Optimizer};
use shapecheck::prelude::*;

mod common;

const USAGE: &str = "usage: tour";

const HELP: &str = "\
tour: a short printed tour of shapecheck: dims, tensors, a matmul, a transposed matmul
that copies nothing, the DSL, transformer blocks (Linear, attention, KV cache, RoPE),
runtime dims with `Result`s, gradients through the same layers, and the compile errors the
checks produce

usage: tour

  -h, --help    this help
";

// Named static dims: each is its own type, whatever its size.
dim!(pub Seq = 4);
dim!(pub HeadDim = 4);
dim!(pub DModel = 6);
// Sizes beyond typenum's table are fine too.
dim!(pub Vocab = 30522);
// A named runtime dim: the name is checked at compile time, the size at run time.
dim!(pub Batch);

fn section(title: &str) {
    println!("\n== {title} ==");
}

fn main() {
    common::no_arguments(USAGE, HELP);
    section("dimensions");
    println!(
        "Seq = {}, HeadDim = {}, Vocab = {}",
        Seq.size(),
        HeadDim.size(),
        Vocab.size()
    );
    println!("Seq and HeadDim are both 4, but `Seq` and `HeadDim` never unify.");
    println!(
        "a runtime dim: {:?}; an anonymous one: {:?}; a literal one: {:?}",
        Batch::new(3),
        Dyn::new(5),
        D::<768>
    );

    section("tensors");
    let x = Tensor::<(Seq, DModel)>::from_fn(|[i, j]| (i * 10 + j) as f32);
    println!("x.shape() = {:?}", x.shape());
    println!("x =\n{x}");
    let w = Tensor::<(DModel, HeadDim)>::randn(0);
    println!("w = randn(seed 0), shape {:?}:\n{w:.3}", w.shape());

    section("a matmul: (Seq, DModel) · (DModel, HeadDim) = (Seq, HeadDim)");
    let q: Tensor<(Seq, HeadDim)> = x.matmul(&w);
    println!("{q:.2}");

    section("a transposed matmul, without a copy");
    let k = Tensor::<(Seq, HeadDim)>::randn(1);
    let kt = k.t(); // a view: same buffer, swapped strides
    println!(
        "k strides {:?}, k.t() strides {:?}, same buffer: {}",
        k.strides().as_slice(),
        kt.strides().as_slice(),
        std::ptr::eq(kt.as_base_slice(), k.as_slice())
    );
    let scores: Tensor<(Seq, Seq)> = q.matmul(&kt);
    println!("q · kᵀ, shape {:?}:\n{scores:.2}", scores.shape());
    let heads = Tensor::<(D<2>, Seq, HeadDim)>::randn(2);
    let per_head = heads.matmul(&heads.t());
    println!("batched over 2 heads: {:?}", per_head.shape());

    section("broadcasting, softmax, unit vectors");
    let bias = Tensor::<(HeadDim,)>::from_vec(vec![0.5, -0.5, 0.0, 1.0]).unwrap();
    let shifted = &q + &bias; // (Seq, HeadDim) + (HeadDim,): NumPy's rule, in the type
    println!("q + bias (bias read with stride 0, never copied):\n{shifted:.2}");
    let attn = (&scores * 0.5).softmax::<1>(); // scaled scores, max-subtracted softmax
    println!("softmax rows sum to {:?}", attn.sum::<1>().as_slice());
    let heads: Tensor<(Seq, D<2>, D<3>)> = x.clone().split::<D<2>, D<3>>(); // 2 × 3 = DModel
    println!("x split into heads: {:?}", heads.shape());
    let u = x.normalize();
    let sims = u.similarity(&u);
    println!("cosine similarities of x's rows (diagonal is 1):\n{sims:.3}");

    section("the DSL: tensor!, einsum!, rearrange!");
    let m = tensor!([[1.0f32, 2.0], [3.0, 4.0]]); // Tensor<(D<2>, D<2>)>
    let mm = einsum!("i j, j k -> i k", m, m); // a GEMM on strided views
    println!("tensor! literal squared with einsum!:\n{mm}");
    let per_head: Tensor<(D<2>, Seq, D<3>)> = rearrange!(x.view(), "s (h d) -> h s d", h = D<2>);
    println!(
        "rearrange! (Seq, DModel) -> (h, Seq, d): {:?}",
        per_head.shape()
    );

    section("transformer blocks: Linear, attention with its 1/sqrt(d_k), KV cache, RoPE");
    let w_q = Linear::<DModel, DModel>::init(true, 7); // weight (DOut, DIn), as PyTorch stores it
    let q_all = w_q.forward(&x); // x·Wᵀ + b, W read through strides
    let qh = q_all.split_heads::<D<2>, D<3>>(); // (2 heads, Seq, 3): a strided view
    let causal = attention_masked(&qh, &qh, &qh, &AttentionMask::causal(0));
    println!(
        "causal self-attention over 2 heads: {:?}; the first query sees only itself: {}",
        causal.shape(),
        (0..3).all(|d| causal[[0, 0, d]] == qh.get([0, 0, d]).copied().unwrap_or(f32::NAN))
    );
    let mut cache = KvCache::<D<2>, Dyn, D<3>>::new();
    for t in 0..4 {
        let step = qh.slice_with(A1, t..t + 1);
        let o = cache.attend(&step, &step, &step).unwrap();
        let full_row: Vec<f32> = (0..3).map(|d| causal[[1, t, d]]).collect();
        let cached_row: Vec<f32> = (0..3).map(|d| o[[1, 0, d]]).collect();
        let diff = full_row
            .iter()
            .zip(&cached_row)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        println!(
            "decoding token {t} through the KV cache: max |diff| vs full attention {diff:.1e}"
        );
    }
    let rope = Rope::<HeadDim>::new(RopeLayout::HalfSplit);
    let (mut rq, mut rk) = (q.clone(), k.clone());
    rope.apply(&mut rq, 0);
    rope.apply(&mut rk, 0);
    let (before, after) = (q.norm::<1>(), rq.norm::<1>());
    println!(
        "RoPE rotates row 3 by position 3 and keeps its norm: {:.4} -> {:.4}; q·k at positions (3, 3) equals q·k unrotated: {:.4} vs {:.4}",
        before[[3]],
        after[[3]],
        rq.slice_with(A0, 3..4).matmul(&rk.slice_with(A0, 3..4).t())[[0, 0]],
        q.slice_with(A0, 3..4).matmul(&k.slice_with(A0, 3..4).t())[[0, 0]],
    );

    section("gradients: the same Linear, traced on a tape");
    // One layer serves inference and training: its weight is a Param, and forward takes a
    // tensor (giving a tensor) or a traced Var (giving a Var, recorded on the tape).
    let layer = Linear::<DModel, HeadDim>::init(true, 7);
    let x = Tensor::<(Seq, DModel)>::randn(8);
    let target = Tensor::<(Seq, HeadDim)>::zeros();
    let tape = Tape::new();
    let y = layer.forward(&tape.constant(x.clone()));
    let loss = y.mse(&tape.constant(target));
    let grads = loss.backward(); // only a scalar has backward(): see the errors below
                                 // The gradient has the weight's own shape type, found through the parameter.
    let dw: TensorView<(HeadDim, DModel)> = grads.of(&layer.weight).expect("traced");
    println!(
        "loss {:.4}; dL/dW is {:?}; traced forward == plain forward: {}",
        loss.item(),
        dw.shape(),
        y.to_tensor() == layer.forward(&x)
    );
    // Finite-difference check of one weight: (L(w + h) − L(w − h)) / 2h.
    let h = 1e-2;
    let at = |delta: f32| {
        let mut l = layer.clone();
        l.weight.value_mut()[[1, 2]] += delta;
        let y = l.forward(&x);
        (&y * &y).mean_all()
    };
    println!(
        "dL/dW[1, 2]: backward {:.4}, central difference {:.4}",
        dw[[1, 2]],
        (at(h) - at(-h)) / (2.0 * h)
    );

    section("runtime dims give Results");
    let a = Tensor::<(Batch, Seq, DModel)>::zeros_with((Batch::new(2), Seq, DModel));
    let b = Tensor::<(Batch, DModel, HeadDim)>::zeros_with((Batch::new(3), DModel, HeadDim));
    match a.try_matmul(&b) {
        Ok(_) => println!("unexpectedly fine"),
        Err(e) => println!("Err: {e}"),
    }
    match Tensor::<(Seq, DModel)>::from_vec(vec![0.0; 23]) {
        Ok(_) => println!("unexpectedly fine"),
        Err(e) => println!("Err: {e}"),
    }

    section("training: one AdamW step on a Linear, through autodiff");
    let mut layer = Linear::<DModel, HeadDim>::init(true, 3);
    let (input, target) = (
        Tensor::<(Seq, DModel)>::randn(4),
        Tensor::<(Seq, HeadDim)>::randn(5),
    );
    let mse = |layer: &Linear<DModel, HeadDim>| {
        let tape = Tape::new();
        let out = layer.forward(&tape.constant(input.clone()));
        out.mse(&tape.constant(target.clone())).item()
    };
    let tape = Tape::new();
    let loss = layer
        .forward(&tape.constant(input.clone()))
        .mse(&tape.constant(target.clone()));
    let grads = loss.backward(); // typed like the parameters: grads.of(&layer.weight)
    let before = loss.item();
    drop(tape); // the parameters are no longer shared with the tape: updated in place
    println!(
        "grads.of(&layer.weight): {:?}, the weight's own shape",
        grads.of(&layer.weight).unwrap().shape()
    );
    let mut opt = AdamW::new(AdamWConfig {
        lr: 0.05,
        ..AdamWConfig::default()
    })
    .unwrap();
    let bias = layer.bias.as_mut().unwrap();
    opt.step_with_loss(before, &mut [&mut layer.weight, bias], &grads)
        .unwrap(); // a NaN loss or gradient would be an Err naming the step
    println!(
        "AdamW step {}: mse {before:.4} -> {:.4}",
        opt.steps(),
        mse(&layer)
    );

    section("and what does not compile (from ui-tests/, pinned by trybuild)");
    for (code, stderr) in COMPILE_ERRORS {
        println!("\n{code}");
        for l in stderr.lines().take_while(|l| {
            !l.starts_with("note: required by a bound")
                && !l.starts_with("help: the following other types")
                && !l.starts_with("help: the trait")
        }) {
            if !l.trim_start().starts_with("= help: the trait") {
                println!("    {l}");
            }
        }
    }
}

/// The mistake (the line that fails) and the compiler's words, as the ui-tests pin them.
const COMPILE_ERRORS: [(&str, &str); 10] = [
    (
        "q.matmul(&k) with q, k: (Seq, HeadDim) and Seq = HeadDim = 64",
        include_str!("../ui-tests/matmul-forgotten-transpose.stderr"),
    ),
    (
        "(D<2>, D<3>) · (D<4>, D<5>)",
        include_str!("../ui-tests/matmul-inner-dim-mismatch.stderr"),
    ),
    (
        "a Tensor<(Tokens, DModel)> where a Tensor<(Batch, DModel)> is expected",
        include_str!("../ui-tests/runtime-dim-name-mismatch.stderr"),
    ),
    (
        "x.permute((A1, A3, A2)) on a rank-3 tensor",
        include_str!("../ui-tests/permute-axis-out-of-range.stderr"),
    ),
    (
        "(Seq, Seq) + (Seq, HeadDim)",
        include_str!("../ui-tests/broadcast-trailing-dim-mismatch.stderr"),
    ),
    (
        "x.split::<Heads, HeadDim>() with 12 × 64 ≠ DModel = 384",
        include_str!("../ui-tests/split-factors-do-not-multiply-out.stderr"),
    ),
    (
        "attention(&q, &k, &v) where k's last dim is ValueDim, not q's HeadDim",
        include_str!("../ui-tests/attention-k-head-dim-differs.stderr"),
    ),
    (
        "a Linear<DModel, Ffn> applied to (Seq, Ffn) activations",
        include_str!("../ui-tests/linear-wrong-input-width.stderr"),
    ),
    (
        "cosine_similarity(&a, &b) on tensors that were never normalised",
        include_str!("../ui-tests/cosine-similarity-not-normalised.stderr"),
    ),
    (
        "per_token.backward() on a (Batch, Seq) value instead of its mean",
        include_str!("../ui-tests/backward-on-non-scalar.stderr"),
    ),
];
