//! Few-rows products `x·Wᵀ` with `W: (out, in)` kept in a GGUF block format (Q8_0, Q4_0,
//! Q4_1) or in half precision (bf16, f16), read in place, row of `W` by row of `W`.
//!
//! Block formats (blocks of 32 along `in`; `ggml-quants.c`'s layouts, see `io/gguf/dequant.rs`)
//! run one of two schemes:
//! - **integer dots** (as llama.cpp does): each row of `x` is first quantized to 8 bits per
//!   block of 32 (`d = amax/127`, `q = round(x/d)`, the scale kept in `f32`, the block's sum
//!   of `q` kept for the 4-bit formats' offsets); a block then contributes
//!   `d_w·d_x·Σ q_w·q_x` (+ `m_w·d_x·Σ q_x` for Q4_1, − `8·d_w·d_x·Σ q_x` for Q4_0, whose
//!   nibbles are read unsigned). The 32-lane integer dot is AVX-512 VNNI's `vpdpbusd` on
//!   [`QuantKernel::Avx512`], AVX2's `vpmaddubsw` + `vpmaddwd` on [`QuantKernel::Avx2`] (Q8_0's
//!   signed weights through the sign trick: `|w|` times `x` carrying `w`'s sign), and plain
//!   `i32` arithmetic on [`QuantKernel::Portable`].
//! - **f32 activations** ([`QuantKernel::DequantF32`], AVX2 + FMA + F16C): each block of `W`
//!   is dequantized in registers (the same `f32` values as the GGUF reader's dequantizer,
//!   up to one rounding for Q4_1's `d·q + m`, here fused) and multiplied with `x` as is.
//!
//! Half formats always keep `x` in f32: 8 lanes converted by `vcvtph2ps` (f16) or a 16-bit
//! shift (bf16) on AVX2, 16 lanes on AVX-512F, `half`'s conversions on the portable path.
//!
//! The product is split over threads by blocks of output columns (rows of `W`); each output
//! is computed by the same code whatever the split, so the thread count changes no result;
//! two halves go to this thread and the decode helper of `kernel/split/`. `x` is taken in
//! groups of up to 4 rows, each group in one pass over `W`. From 32 rows the best kernel
//! hands the product to [`QuantKernel::Gemm`] (`prefill.rs`): `W` dequantized by panels into
//! the packed GEMM.

mod prefill;
#[cfg(target_arch = "x86_64")]
mod x86;

use crate::parallel::{for_each_chunk, max_threads};

/// Which code runs a product with a quantized or half-precision weight
/// ([`Quantized::forward_on`](crate::quant::Quantized::forward_on)); [`best`](Self::best)
/// is what [`forward`](crate::quant::Quantized::forward) uses.
///
/// ```
/// use shapecheck::quant::QuantKernel;
/// assert!(QuantKernel::Portable.is_available());
/// assert!(QuantKernel::best().is_available());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QuantKernel {
    /// Safe scalar code on every CPU: integer dots for the block formats.
    Portable,
    /// AVX2 + FMA + F16C: `vpmaddubsw` integer dots; 8-lane half conversions.
    Avx2,
    /// AVX-512 (F, BW, VL, VNNI): `vpdpbusd` integer dots; 16-lane half conversions.
    Avx512,
    /// AVX2 + FMA + F16C with `x` kept in f32 and each block of `W` dequantized in
    /// registers (for the half formats, the same code as [`Avx2`](Self::Avx2)).
    DequantF32,
    /// Many rows (a prompt): `W` dequantized to f32 by panels of rows, each multiplied by the
    /// crate's packed GEMM. [`best`](Self::best) hands products of 32 rows or more to it (forcing
    /// `best()` explicitly does the same; any other kernel runs at every row count).
    Gemm,
}

impl QuantKernel {
    /// Whether this CPU runs this kernel (checked at run time).
    pub fn is_available(self) -> bool {
        match self {
            QuantKernel::Portable | QuantKernel::Gemm => true,
            #[cfg(target_arch = "x86_64")]
            QuantKernel::Avx2 | QuantKernel::DequantF32 => {
                is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            QuantKernel::Avx512 => {
                QuantKernel::Avx2.is_available()
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vl")
                    && is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest kernel this CPU runs, found once: AVX-512 VNNI, else AVX2, else portable.
    pub fn best() -> QuantKernel {
        use std::sync::OnceLock;
        static BEST: OnceLock<QuantKernel> = OnceLock::new();
        *BEST.get_or_init(|| {
            [QuantKernel::Avx512, QuantKernel::Avx2]
                .into_iter()
                .find(|k| k.is_available())
                .unwrap_or(QuantKernel::Portable)
        })
    }
}

/// How `W`'s bytes are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    Q8_0,
    Q4_0,
    Q4_1,
    Bf16,
    F16,
}

impl Layout {
    /// Elements per block.
    pub(crate) fn block(self) -> usize {
        match self {
            Layout::Q8_0 | Layout::Q4_0 | Layout::Q4_1 => 32,
            Layout::Bf16 | Layout::F16 => 1,
        }
    }

    /// Bytes per block.
    pub(crate) fn block_bytes(self) -> usize {
        match self {
            Layout::Q8_0 => 34,
            Layout::Q4_0 => 18,
            Layout::Q4_1 => 20,
            Layout::Bf16 | Layout::F16 => 2,
        }
    }

    fn is_half(self) -> bool {
        matches!(self, Layout::Bf16 | Layout::F16)
    }
}

/// The rows of `x` quantized to 8 bits per block of 32, as llama.cpp's `quantize_row_q8_1`
/// does (but with the scales kept in `f32`): `q` row-major `(rows, din)`; per block
/// `(rows, din/32)` the scale `d` and `ds = d·Σq` (the 4-bit formats' offsets, llama.cpp's
/// `s`).
pub(crate) struct QRows {
    q: Vec<i8>,
    d: Vec<f32>,
    ds: Vec<f32>,
}

/// The scale of a block whose largest magnitude is `amax`, and its inverse (0 for 0).
fn block_scale(amax: f32) -> (f32, f32) {
    let scale = amax / 127.0;
    (scale, if scale != 0.0 { 1.0 / scale } else { 0.0 })
}

/// `x` quantized by [`QRows`]' rule, `q = round_ties_even(x·(1/d))` (as `vroundps` rounds):
/// AVX2 code when `kernel` runs on AVX2, safe scalar code otherwise, the same bytes.
fn quantize_rows(x: &[f32], kernel: QuantKernel) -> QRows {
    let n = x.len() / 32;
    let mut qa = QRows {
        q: vec![0; x.len()],
        d: vec![0.0; n],
        ds: vec![0.0; n],
    };
    #[cfg(target_arch = "x86_64")]
    if matches!(kernel, QuantKernel::Avx2 | QuantKernel::Avx512) {
        x86::quantize_rows(x, &mut qa);
        return qa;
    }
    let _ = kernel;
    for (b, block) in x.chunks_exact(32).enumerate() {
        let (scale, inv) = block_scale(block.iter().fold(0f32, |a, v| a.max(v.abs())));
        let mut sum = 0i32;
        for (q, v) in qa.q[b * 32..][..32].iter_mut().zip(block) {
            *q = (v * inv).round_ties_even() as i8;
            sum += i32::from(*q);
        }
        qa.d[b] = scale;
        qa.ds[b] = scale * sum as f32;
    }
    qa
}

/// The f32 an IEEE half at `b[0..2]` holds.
fn f16_le(b: &[u8]) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32()
}

/// `out[r] = x_r · w` for the rows `r0..r0 + out.len()` of the quantized `x`, one row `w` of
/// a block-format weight: safe scalar code.
fn int_row_portable(layout: Layout, w: &[u8], qa: &QRows, r0: usize, out: &mut [f32]) {
    let bb = layout.block_bytes();
    let nb = w.len() / bb;
    let din = nb * 32;
    for (r, o) in out.iter_mut().enumerate() {
        let row = r0 + r;
        let mut acc = 0f32;
        for (b, blk) in w.chunks_exact(bb).enumerate() {
            let qx = &qa.q[row * din + b * 32..][..32];
            let (dx, ds) = (qa.d[row * nb + b], qa.ds[row * nb + b]);
            let dw = f16_le(blk);
            acc += match layout {
                Layout::Q8_0 => {
                    let dot: i32 = blk[2..]
                        .iter()
                        .zip(qx)
                        .map(|(&a, &c)| i32::from(a as i8) * i32::from(c))
                        .sum();
                    dw * dx * dot as f32
                }
                _ => {
                    let qs = if layout == Layout::Q4_0 {
                        &blk[2..]
                    } else {
                        &blk[4..]
                    };
                    let dot: i32 = (0..16)
                        .map(|i| {
                            i32::from(qs[i] & 0x0F) * i32::from(qx[i])
                                + i32::from(qs[i] >> 4) * i32::from(qx[i + 16])
                        })
                        .sum();
                    let offset = if layout == Layout::Q4_0 {
                        -8.0 * dw * ds
                    } else {
                        f16_le(&blk[2..]) * ds
                    };
                    dw * dx * dot as f32 + offset
                }
            };
        }
        *o = acc;
    }
}

/// `out[r] = x_r · w` for the f32 rows `r0..r0 + out.len()` of `x` (width `din`) and one row
/// `w` of a half weight: safe scalar code.
fn half_row_portable(layout: Layout, w: &[u8], x: &[f32], din: usize, r0: usize, out: &mut [f32]) {
    let conv = |b: &[u8]| {
        let bits = u16::from_le_bytes([b[0], b[1]]);
        if layout == Layout::Bf16 {
            half::bf16::from_bits(bits).to_f32()
        } else {
            half::f16::from_bits(bits).to_f32()
        }
    };
    for (r, o) in out.iter_mut().enumerate() {
        let xr = &x[(r0 + r) * din..][..din];
        *o = w.chunks_exact(2).zip(xr).map(|(b, v)| conv(b) * v).sum();
    }
}

/// Rows of `x` from which the best kernel ([`QuantKernel::best`], what `forward` runs) hands
/// the product to [`QuantKernel::Gemm`]: below it the integer kernel, which reads `W` once
/// per 4 rows, is faster (AMD EPYC Zen 5, `perf quant/q4_1/…-rows`, 1 thread, Q4_1: at 16
/// rows 245 µs against the GEMM's 281 for 576 × 1536, 208 against 315 for 1536 × 576; at 32
/// rows 599 against 486 and 418 against 494).
pub(crate) const GEMM_MIN_ROWS: usize = 32;

/// Bytes of `W` from which a few-rows product is split over two threads (the second half
/// to the decode helper of `kernel/split/`, which spins between products): below it the
/// hand-over costs more than the half it saves (measured on AMD EPYC Zen 5).
const SPLIT_MIN_BYTES: usize = 1 << 16;

/// Rows of `x` per pass over `W` (the kernels' `M`, up to 4): with up to 8, 5 to 8 rows ran
/// at a third of the speed per row of 4 (AMD EPYC Zen 5, `perf quant/q4_1/8-rows`, when the
/// kernels still kept their accumulators in memory: 280 µs for 8 rows of 576 × 1536
/// against 89 µs for 4).
const GROUP: usize = 4;

/// One few-rows product: what each block of output columns needs.
struct Product<'a> {
    layout: Layout,
    w: &'a [u8],
    row_bytes: usize,
    x: &'a [f32],
    din: usize,
    rows: usize,
    /// `x` quantized, for the integer kernels.
    qa: Option<QRows>,
    kernel: QuantKernel,
}

impl Product<'_> {
    /// The outputs of `W`'s rows `j0..`, transposed: `out_t` is `(len, rows)`.
    fn columns(&self, j0: usize, out_t: &mut [f32]) {
        let (rows, din, layout) = (self.rows, self.din, self.layout);
        #[cfg(target_arch = "x86_64")]
        if let (Some(qa), QuantKernel::Avx2 | QuantKernel::Avx512) = (&self.qa, self.kernel) {
            // Tiles of 16 rows of W, each read by every group of x's rows while in L1.
            for (t, tile) in out_t.chunks_mut(16 * rows).enumerate() {
                let n = tile.len() / rows;
                let w = &self.w[(j0 + 16 * t) * self.row_bytes..][..n * self.row_bytes];
                let nb = din / 32;
                for r0 in (0..rows).step_by(GROUP) {
                    let m = (rows - r0).min(GROUP);
                    let wrows = x86::WRows {
                        w,
                        nb,
                        n,
                        stride: rows,
                    };
                    x86::int_rows(layout, wrows, qa, (r0, m), &mut tile[r0..], self.kernel);
                }
            }
            return;
        }
        let mut acc = [0f32; 8];
        for (dj, col) in out_t.chunks_mut(rows).enumerate() {
            let wrow = &self.w[(j0 + dj) * self.row_bytes..][..self.row_bytes];
            for r0 in (0..rows).step_by(GROUP) {
                let m = (rows - r0).min(GROUP);
                let acc = &mut acc[..m];
                match (&self.qa, self.kernel) {
                    (Some(qa), _) => int_row_portable(layout, wrow, qa, r0, acc),
                    (None, QuantKernel::Portable) => {
                        half_row_portable(layout, wrow, self.x, din, r0, acc)
                    }
                    #[cfg(target_arch = "x86_64")]
                    (None, k) => x86::f32_row(layout, wrow, self.x, din, r0, acc, k),
                    #[cfg(not(target_arch = "x86_64"))]
                    _ => unreachable!("only the portable kernel is available"),
                }
                col[r0..r0 + m].copy_from_slice(acc);
            }
        }
    }

    /// All of `out_t` (`(dout, rows)`), split by blocks of columns over up to `threads`
    /// threads; two halves go to this thread and the decode helper.
    fn run(&self, out_t: &mut [f32], threads: usize) {
        let (rows, dout) = (self.rows, out_t.len() / self.rows);
        if threads <= 1 {
            return self.columns(0, out_t);
        }
        if threads == 2 {
            let half = dout.div_ceil(2);
            let (first, second) = out_t.split_at_mut(half * rows);
            let second = std::sync::Mutex::new(second);
            let theirs =
                || self.columns(half, &mut second.lock().unwrap_or_else(|e| e.into_inner()));
            if super::split::pair(&theirs, || self.columns(0, first)) {
                return;
            }
        }
        let per_chunk = dout.div_ceil(threads * 4).max(16);
        let chunks: Vec<(usize, &mut [f32])> = out_t
            .chunks_mut(per_chunk * rows)
            .enumerate()
            .map(|(i, c)| (i * per_chunk, c))
            .collect();
        for_each_chunk(chunks, threads, || (), |(), _, (j0, c)| self.columns(j0, c));
    }
}

/// `out = x·Wᵀ`: `x` row-major `(rows, din)`, `W`'s bytes `(dout, din)` in `layout`, `out`
/// row-major `(rows, dout)`. The caller has checked that `din` is a multiple of the block
/// and that `w` holds exactly `dout` rows; an unavailable `kernel` runs the portable one;
/// the best kernel hands a product of [`GEMM_MIN_ROWS`] rows or more to the GEMM.
pub(crate) fn matmul_t(
    layout: Layout,
    w: &[u8],
    (dout, din): (usize, usize),
    x: &[f32],
    out: &mut [f32],
    kernel: QuantKernel,
) {
    let row_bytes = din / layout.block() * layout.block_bytes();
    assert!(din.is_multiple_of(layout.block()) && w.len() == dout * row_bytes);
    let rows = x.len().checked_div(din).unwrap_or(out.len() / dout.max(1));
    assert!(x.len() == rows * din && out.len() == rows * dout);
    if rows == 0 || dout == 0 {
        return;
    }
    let mut kernel = if kernel.is_available() {
        kernel
    } else {
        QuantKernel::Portable
    };
    if kernel == QuantKernel::best() && rows >= GEMM_MIN_ROWS {
        kernel = QuantKernel::Gemm;
    }
    if din == 0 {
        out.fill(0.0);
        return;
    }
    if kernel == QuantKernel::Gemm {
        return prefill::matmul_t(layout, w, (dout, din), x, out);
    }
    // Outputs transposed, (dout, rows), so that blocks of W's rows own disjoint slices (one
    // row: `out` itself).
    let mut out_t = if rows == 1 {
        Vec::new()
    } else {
        vec![0f32; rows * dout]
    };
    let target = if rows == 1 { &mut *out } else { &mut out_t[..] };
    let int = !layout.is_half() && kernel != QuantKernel::DequantF32;
    let product = Product {
        layout,
        w,
        row_bytes,
        x,
        din,
        rows,
        qa: int.then(|| quantize_rows(x, kernel)),
        kernel,
    };
    let threads = if w.len() >= SPLIT_MIN_BYTES {
        max_threads().min(dout.div_ceil(16))
    } else {
        1
    };
    product.run(target, threads);
    if rows > 1 {
        for (j, col) in out_t.chunks_exact(rows).enumerate() {
            for (r, v) in col.iter().enumerate() {
                out[r * dout + j] = *v;
            }
        }
    }
}
