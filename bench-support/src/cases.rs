//! The table of cases: the sizes each bench and perf section runs and the names under which
//! they print. Criterion prints `<group>/<function>` (`matmul/f32/512/ab/raw`), the perf
//! example `<group>/<variant> shapecheck=… raw=… ratio=…` (`matmul/f32/512/ab`); both take
//! the group from here.

/// Square matmul sizes `n` (n×n·n×n), f32 and f64.
pub const MATMUL_SQUARE: [usize; 5] = [64, 128, 256, 512, 1024];

/// Square sizes `n` of the traced matmul's forward + backward (`Σ A·B`, both gradients).
pub const MATMUL_BACKWARD: [usize; 3] = [128, 256, 512];

/// `autodiff/matmul_fwd_bwd/<n>`.
pub fn matmul_backward_group(n: usize) -> String {
    format!("autodiff/matmul_fwd_bwd/{n}")
}

/// `matmul/<ty>/<n>`.
pub fn matmul_group(ty: &str, n: usize) -> String {
    format!("matmul/{ty}/{n}")
}

/// The batched product `q·kᵀ` over heads: `(HEADS, SEQ, HEAD_DIM)·(HEADS, HEAD_DIM, SEQ)`.
pub mod batched {
    /// Heads (the batch).
    pub const HEADS: usize = 12;
    /// Rows and columns of each product.
    pub const SEQ: usize = 128;
    /// The shared (inner) dim.
    pub const HEAD_DIM: usize = 64;
    /// The group name.
    pub const GROUP: &str = "batched/f32/12x128x64x128";
}

/// Rows of the few-rows `Linear` cases (a sentence's tokens).
pub const LINEAR_ROWS: [usize; 3] = [1, 19, 48];
/// `(in, out)` widths of the few-rows `Linear` cases: a MiniLM layer's projections.
pub const LINEAR_SHAPES: [(usize, usize); 3] = [(384, 384), (384, 1536), (1536, 384)];

/// `linear/f32/<rows>x<in>-><out>`.
pub fn linear_group(rows: usize, din: usize, dout: usize) -> String {
    format!("linear/f32/{rows}x{din}->{dout}")
}

/// Sequence lengths of the attention cases (heads and head width in
/// [`attention`](crate::attention)).
pub const ATTENTION_SEQ: [usize; 3] = [128, 512, 2048];

/// `attention/f32/<H>x<S>x<DH>`.
pub fn attention_group(s: usize) -> String {
    use crate::attention::{DH, H};
    format!("attention/f32/{H}x{s}x{DH}")
}

/// Broadcasting add, (32, 768) + (768,).
pub const ADD_BROADCAST: &str = "elementwise/add-broadcast/32x768+768";
/// Softmax over the last axis of (12, 128, 128).
pub const SOFTMAX: &str = "elementwise/softmax/12x128x128";
/// Layer norm over the rows of (128, 384).
pub const LAYER_NORM: &str = "elementwise/layer_norm/128x384";
/// The layer norm's epsilon (MiniLM's).
pub const LAYER_NORM_EPS: f32 = 1e-12;

/// The attention-shaped einsums over `(2, 12, 128, 64)`: scores `q·kᵀ`.
pub const EINSUM_SCORES: &str = "einsum/attention-scores/f32/2x12x128x64";
/// … and values `p·v`.
pub const EINSUM_VALUES: &str = "einsum/attention-values/f32/2x12x128x64";

/// Square SVD sizes in f32.
pub const SVD_F32: [usize; 3] = [64, 256, 768];
/// Square SVD sizes in f64 in the perf example; the criterion bench stops at 256
/// ([`SVD_F64_BENCH`]), where nalgebra's 768 would take most of its time.
pub const SVD_F64: [usize; 3] = [64, 256, 768];
/// Square SVD sizes in f64 in the criterion bench.
pub const SVD_F64_BENCH: [usize; 2] = [64, 256];

/// `svd/<ty>/<n>`.
pub fn svd_group(ty: &str, n: usize) -> String {
    format!("svd/{ty}/{n}")
}

/// The randomized rank-16 SVD of a 768×768 f32 matrix.
pub const RSVD: &str = "rsvd/f32/768/r16";

#[cfg(test)]
mod tests {
    use super::*;

    /// The names the benches and the perf example print: the lead compares perf runs line by
    /// line, so a renamed case is a change to make on purpose.
    #[test]
    fn case_names_are_pinned() {
        assert_eq!(matmul_group("f32", 512), "matmul/f32/512");
        assert_eq!(linear_group(19, 384, 1536), "linear/f32/19x384->1536");
        assert_eq!(attention_group(2048), "attention/f32/12x2048x64");
        assert_eq!(svd_group("f64", 256), "svd/f64/256");
        assert_eq!(batched::GROUP, "batched/f32/12x128x64x128");
        assert_eq!(
            (batched::HEADS, batched::SEQ, batched::HEAD_DIM),
            (12, 128, 64)
        );
        assert_eq!(MATMUL_SQUARE, [64, 128, 256, 512, 1024]);
        assert_eq!(LINEAR_ROWS, [1, 19, 48]);
        assert_eq!(LINEAR_SHAPES, [(384, 384), (384, 1536), (1536, 384)]);
        assert_eq!(ATTENTION_SEQ, [128, 512, 2048]);
        assert_eq!(
            (SVD_F32, SVD_F64, SVD_F64_BENCH),
            ([64, 256, 768], [64, 256, 768], [64, 256])
        );
    }
}
