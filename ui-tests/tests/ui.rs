//! Compile-fail cases: each `ui-tests/*.rs` is one mistake whose error message is pinned in
//! its `.stderr`; each `ui-tests/pass/*.rs` is its corrected twin, which must compile and run.
//! Regenerate the snapshots with `TRYBUILD=overwrite cargo test -p shapecheck-ui-tests`, then
//! read the diff.
//!
//! This is a crate of its own (`ui-tests/Cargo.toml`): trybuild's project takes every
//! dev-dependency of the crate that runs it, and the root crate's include the benchmark peers.

/// Every shape rule (a trait with a message of its own) and the ui cases that show its
/// message: the mistake in `ui-tests/<case>.rs`, its correction in `ui-tests/pass/<case>.rs`.
/// A rule reported through another rule says which in a comment.
const RULES: &[(&str, &[&str])] = &[
    // dim/
    ("StaticDim", &["static-forward-of-a-runtime-seq-dim"]),
    (
        "SizeTable (the sizes D<N> covers)",
        &["anonymous-dim-size-not-in-table"],
    ),
    // shape/mod.rs
    // (reported through its part, StaticDim: "`Batch` is a runtime dim")
    ("StaticShape", &["reshape-into-a-shape-with-a-runtime-dim"]),
    ("HasRank", &["permute-missing-an-axis"]),
    // shape/axes.rs
    (
        "HasAxis",
        &["reduce-over-missing-axis", "permute-axis-out-of-range"],
    ),
    ("DistinctAxis", &["permute-repeated-axis"]),
    ("LastAxis", &["layer-norm-of-a-scalar"]),
    ("ReplaceAxis", &["slice-with-axis-out-of-range"]),
    ("InsertAxis", &["unsqueeze-past-the-last-axis"]),
    ("CanConcat", &["concat-other-dims-differ"]),
    // shape/arith.rs
    (
        "SplitsInto",
        &[
            "split-factors-do-not-multiply-out",
            "rearrange-group-product-mismatch",
        ],
    ),
    ("ProductOf", &["rearrange-group-of-three-product-mismatch"]),
    ("SumOf", &["concat-result-dim-not-the-sum"]),
    // shape/ellipsis.rs
    (
        "SplitEllipsis",
        &[
            "rearrange-ellipsis-needs-more-axes",
            "einsum-ellipsis-dims-differ",
        ],
    ),
    ("Splice", &["repeat-result-more-than-six-axes"]),
    ("IsEven", &["rope-odd-head-dim"]),
    ("CountsParts", &["stack-count-differs-from-dim"]),
    // shape/slices.rs
    ("SliceFits", &["slice-past-the-end"]),
    ("Squeezable", &["squeeze-axis-not-of-size-one"]),
    // shape/reshapes.rs
    ("KeepsElementCount", &["reshape-changes-element-count"]),
    ("SplitLast", &["split-last-of-a-rank-6-tensor"]),
    ("MergeLast", &["merge-last-two-of-a-vector"]),
    // shape/low_rank.rs
    (
        "RankAtMost",
        &["truncated-svd-rank-exceeds-min", "lora-rank-exceeds-min"],
    ),
    // shape/permutes.rs (a permutation's axes are checked by HasRank, HasAxis, DistinctAxis)
    ("Permutation", &["permute-missing-an-axis"]),
    ("Transpose, TransposesTo", &["transpose-of-a-vector"]),
    // shape/broadcasts.rs (BroadcastsToDim is the per-dim half of BroadcastsTo, whose
    // impls are not recommended, so a failed broadcast names both shapes once)
    (
        "BroadcastShapes, BroadcastDim",
        &[
            "broadcast-trailing-dim-mismatch",
            "mask-does-not-broadcast-to-scores",
        ],
    ),
    (
        "BroadcastsTo, BroadcastsToDim",
        &[
            "add-assign-rhs-does-not-fit",
            "attention-mask-does-not-broadcast",
            // the same rule on traced values (autodiff/attention.rs)
            "traced-attention-k-head-dim-differs",
        ],
    ),
    // Rules that belong to one op, beside it.
    (
        "MatMul (ops/matmul)",
        &["matmul-inner-dim-mismatch", "matmul-forgotten-transpose"],
    ),
    (
        "BroadcastBatchDim (shape/broadcasts, the batch dims of a matmul)",
        &[
            "batched-matmul-batch-dims-differ",
            "matmul-batch-dims-do-not-broadcast",
        ],
    ),
    (
        "UnitVector (ops/unit)",
        &["cosine-similarity-not-normalised"],
    ),
    (
        "einsum operand rule (ops/einsum)",
        &[
            "einsum-letter-bound-to-two-dims",
            "einsum-operand-rank-differs-from-letters",
            // an anonymous axis of a pattern is D<1>, bound the same way
            "rearrange-size-one-axis-is-not-one",
        ],
    ),
    (
        "FitsCompactLetters (ops/einsum)",
        &["einsum-word-name-in-compact-spec"],
    ),
    (
        "ReduceWith, traced reduce! (ops/rearrange, autodiff/rearrange)",
        &["traced-reduce-prod"],
    ),
    // Pattern mistakes the macros report at the pattern (rearrange!, reduce!, repeat!,
    // einsum!), and the one rustc reports: a merged group whose dim nothing gives.
    (
        "pattern grammar (macros/rearrange, macros/einsum)",
        &[
            "rearrange-group-name-not-given",
            "rearrange-ellipsis-inside-group",
            "rearrange-anonymous-axis-of-size-two",
            "reduce-unknown-reduction",
            "repeat-drops-an-axis",
            "einsum-ellipsis-in-output-only",
            "rearrange-merged-group-without-annotation",
            "rearrange-split-group-without-dims",
        ],
    ),
    (
        "attention rules (nn/attention)",
        &[
            "attention-batch-dims-differ",
            "attention-k-head-dim-differs",
            "attention-v-seq-dim-differs",
            "attention-mask-does-not-broadcast",
        ],
    ),
    (
        "SplitHeads, MergeHeads (nn/heads)",
        &[
            "split-heads-do-not-multiply-out",
            "merge-heads-into-the-wrong-dim",
        ],
    ),
    (
        "Linear's input rule (nn/linear)",
        &["linear-wrong-input-width"],
    ),
    (
        "EndsWithHeadDim (nn/rope)",
        &["rope-on-a-tensor-without-the-head-dim"],
    ),
    // autodiff/
    ("ScalarLoss (autodiff/tape)", &["backward-on-non-scalar"]),
    (
        "Gradients::of gives the parameter's own shape (autodiff/grads)",
        &["gradient-of-wrong-parameter-shape"],
    ),
    (
        "Linear's input rule on a traced value (autodiff/linear)",
        &["traced-linear-wrong-input-width"],
    ),
    (
        "TracedUnitVector (autodiff/unit), UnitVector's message",
        &["traced-cosine-similarity-not-normalised"],
    ),
    (
        "KeepsElementCount, traced (autodiff/shape_ops)",
        &["traced-reshape-changes-element-count"],
    ),
    (
        "SplitsInto, traced rearrange! (autodiff/rearrange)",
        &["traced-rearrange-group-product-mismatch"],
    ),
    // models/decoder/dims.rs
    (
        "DividesHeads (grouped-query attention)",
        &["decoder-kv-heads-do-not-divide-heads"],
    ),
    // quant/
    (
        "HoldsBlocks (quant/rule)",
        &["quantized-width-not-a-multiple-of-the-block"],
    ),
    (
        "PlainInput: no gradient through a quantized weight (quant/rule)",
        &["quantized-weight-times-a-traced-var"],
    ),
    (
        "Trainable: a decoder of stored weights runs inference only (nn/stored)",
        &["training-a-stored-decoder"],
    ),
];

#[test]
fn every_rule_has_a_case_and_a_passing_twin() {
    let root = env!("CARGO_MANIFEST_DIR");
    for (rule, cases) in RULES {
        assert!(!cases.is_empty(), "{rule} has no ui case");
        for case in *cases {
            for path in [
                format!("{root}/{case}.rs"),
                format!("{root}/{case}.stderr"),
                format!("{root}/pass/{case}.rs"),
            ] {
                assert!(
                    std::path::Path::new(&path).is_file(),
                    "{rule}: {path} is missing"
                );
            }
        }
    }
}

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("*.rs");
    t.pass("pass/*.rs");
}
