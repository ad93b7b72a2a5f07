//! Many rows (a prompt's `x·Wᵀ`): `W` dequantized to f32 by panels of [`PANEL`] rows, each
//! panel multiplied with `x` by the crate's packed GEMM on one thread, the panels spread over
//! threads. A panel's product does not depend on which thread computes it, so neither does
//! the result on the thread count. The dequantized values are the GGUF reader's
//! (`io/gguf/dequant.rs`), bit for bit, so the only error against the dequantized f32
//! product is the GEMM's rounding.

use super::{f16_le, Layout};
use crate::kernel::{Gemm, MatRef};
use crate::parallel::{for_each_chunk, threads, Work};

/// Rows of `W` per panel: 256 × 1536 f32 (1.5 MB) stays in the 1 MB L2 and the L3 while the
/// GEMM packs it.
const PANEL: usize = 256;

/// The f32 values of `w`'s elements (whole blocks) into `out`, as the GGUF reader computes
/// them: `d·q` (Q8_0), `d·(q − 8)` (Q4_0), `d·q + m` rounded twice (Q4_1), the halves
/// widened.
pub(super) fn dequantize(layout: Layout, w: &[u8], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if !matches!(layout, Layout::Bf16 | Layout::F16) && super::QuantKernel::Avx2.is_available() {
        return super::x86::dequantize(layout, w, out);
    }
    let bb = layout.block_bytes();
    match layout {
        Layout::Bf16 => {
            for (o, b) in out.iter_mut().zip(w.chunks_exact(2)) {
                *o = half::bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
            }
        }
        Layout::F16 => {
            for (o, b) in out.iter_mut().zip(w.chunks_exact(2)) {
                *o = f16_le(b);
            }
        }
        Layout::Q8_0 => {
            for (o, blk) in out.chunks_exact_mut(32).zip(w.chunks_exact(bb)) {
                let d = f16_le(blk);
                for (o, &q) in o.iter_mut().zip(&blk[2..]) {
                    *o = d * f32::from(q as i8);
                }
            }
        }
        Layout::Q4_0 | Layout::Q4_1 => {
            for (o, blk) in out.chunks_exact_mut(32).zip(w.chunks_exact(bb)) {
                let d = f16_le(blk);
                let (lo, hi) = o.split_at_mut(16);
                if layout == Layout::Q4_0 {
                    let v = |n: u8| d * f32::from(n as i8 - 8);
                    for ((l, h), &q) in lo.iter_mut().zip(hi).zip(&blk[2..]) {
                        (*l, *h) = (v(q & 0x0F), v(q >> 4));
                    }
                } else {
                    let m = f16_le(&blk[2..]);
                    let v = |n: u8| d * f32::from(n) + m;
                    for ((l, h), &q) in lo.iter_mut().zip(hi).zip(&blk[4..]) {
                        (*l, *h) = (v(q & 0x0F), v(q >> 4));
                    }
                }
            }
        }
    }
}

/// `out = x·Wᵀ` (`(rows, dout)` row-major) for `x` row-major `(rows, din)` and `W`'s bytes
/// `(dout, din)` in `layout`, checked by the caller. Each panel's product goes to a buffer of
/// its own, copied into `out` by rows afterwards (writing `out` by columns, or a transposed
/// result, doubled the time of a 128-row product).
pub(super) fn matmul_t(
    layout: Layout,
    w: &[u8],
    (dout, din): (usize, usize),
    x: &[f32],
    out: &mut [f32],
) {
    let rows = x.len() / din;
    let row_bytes = din / layout.block() * layout.block_bytes();
    let threads = threads(Work::Gemm {
        batch: 1,
        m: rows,
        k: din,
        n: dout,
        elem: 4,
    });
    let mut results: Vec<Vec<f32>> = vec![Vec::new(); dout.div_ceil(PANEL)];
    let chunks: Vec<(usize, &mut Vec<f32>)> = results
        .iter_mut()
        .enumerate()
        .map(|(i, c)| (i * PANEL, c))
        .collect();
    let xm = MatRef::rows(x, rows, din);
    for_each_chunk(
        chunks,
        threads,
        Vec::new,
        |panel: &mut Vec<f32>, _, (j0, c)| {
            let n = PANEL.min(dout - j0);
            panel.resize(n * din, 0.0);
            c.resize(rows * n, 0.0);
            dequantize(layout, &w[j0 * row_bytes..][..n * row_bytes], panel);
            Gemm::<f32>::new()
                .threads(1)
                .to_slice(xm, MatRef::rows(panel, n, din).t(), c, n);
        },
    );
    for (i, c) in results.iter().enumerate() {
        let n = c.len() / rows;
        for (r, row) in c.chunks_exact(n).enumerate() {
            out[r * dout + i * PANEL..][..n].copy_from_slice(row);
        }
    }
}
