//! The baseline of the attention bench and perf lines: the two bare GEMMs scaled dot-product
//! attention contains, called by hand head by head (`raw::sgemm`), with no scale, softmax or
//! mask.

use std::hint::black_box;

use crate::raw;

/// Heads.
pub const H: usize = 12;
/// Head width.
pub const DH: usize = 64;

/// The baseline for the heads of `out` (contiguous `(heads, s, DH)` buffers): per head,
/// `scores = q·kᵀ` (k read transposed through strides) then `out = scores·v`.
pub fn two_gemms(
    s: usize,
    (q, k, v): (&[f32], &[f32], &[f32]),
    scores: &mut [f32],
    out: &mut [f32],
) {
    for (h, o) in out.chunks_exact_mut(s * DH).enumerate() {
        let r = h * s * DH..(h + 1) * s * DH;
        raw::sgemm(s, DH, s, &q[r.clone()], &k[r.clone()], true, scores);
        raw::sgemm(s, s, DH, scores, &v[r], false, black_box(o));
    }
}

/// The baseline with the heads split into `scratch.len()` contiguous groups run on the
/// rayon pool (the pool shapecheck uses), one score buffer per group.
pub fn two_gemms_par(
    s: usize,
    qkv: (&[f32], &[f32], &[f32]),
    scratch: &mut [Vec<f32>],
    out: &mut [f32],
) {
    let per = H.div_ceil(scratch.len()) * s * DH;
    rayon::in_place_scope(|sc| {
        let mut groups = out.chunks_mut(per).zip(scratch.iter_mut()).enumerate();
        let first = groups.next();
        for (g, (o, sb)) in groups {
            let at = g * per;
            let part = (&qkv.0[at..], &qkv.1[at..], &qkv.2[at..]);
            sc.spawn(move |_| two_gemms(s, part, sb, o));
        }
        if let Some((_, (o, sb))) = first {
            two_gemms(s, qkv, sb, o);
        }
    });
}
