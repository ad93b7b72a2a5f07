//! The blocked online-softmax attention (see "How it runs" in the [module](super)
//! documentation), and the full score matrix of `attention_weights`. Safe code: the GEMMs
//! go through the crate's one entry, the lane loops are `crate::kernel::lanes`, run in the
//! AVX2/FMA frame.

use crate::element::Float;
use crate::kernel::lanes::{exp_shifted_sum, row_max, softmax_row, softmax_shift};
use crate::kernel::{with_avx2_fma, Gemm, MatRef};
use crate::parallel;

/// Query rows per block (and per unit of parallel work). Each block packs all of k and v
/// once for its GEMMs: 256 rows halve that repacking against 128 (measured at S = 512, in
/// ratio to the bare GEMMs: 0.78 with 128 rows, 0.80 with 256), and 12 heads of 128 or 256
/// positions still give 12 pieces of work.
const BLOCK_Q: usize = 256;
/// Keys per block of the online softmax: a 256×256 block of f32 scores (256 KiB) stays in
/// L2 between the score GEMM, the softmax pass and the GEMM with v.
const BLOCK_K: usize = 256;

/// The extents of one attention, batch dims padded to two.
#[derive(Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) batch: [usize; 2],
    pub(crate) sq: usize,
    pub(crate) sk: usize,
    pub(crate) dk: usize,
    pub(crate) dv: usize,
}

impl Plan {
    /// `1/√Dk` (1 for an empty head dim, whose scores are all 0).
    pub(crate) fn scale<T: Float>(&self) -> T {
        if self.dk == 0 {
            T::ONE
        } else {
            T::ONE / T::from_usize(self.dk).sqrt()
        }
    }
}

/// q `(b0, b1, Sq, Dk)`, k `(b0, b1, Sk, Dk)` and v `(b0, b1, Sk, Dv)` as GEMM operands over
/// the two padded batch axes (a missing leading one has size 1, stride 0).
#[derive(Clone, Copy)]
pub(crate) struct Operands<'a, T> {
    pub(crate) q: MatRef<'a, T>,
    pub(crate) k: MatRef<'a, T>,
    pub(crate) v: MatRef<'a, T>,
}

/// The additive bias of a mask, read through its broadcast strides over the padded
/// `(b0, b1, Sq, Sk)` scores.
#[derive(Clone, Copy)]
pub(crate) struct Bias<'a, T> {
    pub(crate) data: &'a [T],
    pub(crate) strides: [usize; 4],
}

/// What hides scores: the bias, and the causal offset.
#[derive(Clone, Copy)]
pub(crate) struct Masking<'a, T> {
    pub(crate) bias: Option<Bias<'a, T>>,
    pub(crate) causal: Option<usize>,
    /// With `causal`, the sliding window: query `i` sees key `j` only when
    /// `i + offset − j < window`.
    pub(crate) window: Option<usize>,
}

/// Per-thread scratch: one block of scores, and each row's running maximum and sum.
struct Scratch<T> {
    scores: Vec<T>,
    max: Vec<T>,
    sum: Vec<T>,
}

/// Applies the mask to the scores of query `i` of batch item `b` against keys
/// `kb..kb + row.len()`: adds the bias and hides the keys the causal rule forbids (−∞).
/// The causal sum `i + off + 1` saturates, so a huge offset shows every key.
#[inline(always)]
pub(crate) fn mask_row<T: Float>(
    row: &mut [T],
    (b, i, kb): ([usize; 2], usize, usize),
    m: Masking<'_, T>,
) {
    let kn = row.len();
    if let Some(Bias { data, strides: st }) = m.bias {
        let base = b[0] * st[0] + b[1] * st[1] + i * st[2] + kb * st[3];
        if st[3] == 1 {
            let src = &data[base..base + kn];
            row.iter_mut().zip(src).for_each(|(x, &y)| *x += y);
        } else {
            for (j, x) in row.iter_mut().enumerate() {
                *x += data[base + j * st[3]];
            }
        }
    }
    if let Some(off) = m.causal {
        let visible = i
            .saturating_add(off)
            .saturating_add(1)
            .saturating_sub(kb)
            .min(kn);
        row[visible..].iter_mut().for_each(|x| *x = T::NEG_INFINITY);
        if let Some(w) = m.window {
            // Keys before `i + off + 1 − w` have slid out of the window.
            let first = i
                .saturating_add(off)
                .saturating_add(1)
                .saturating_sub(w)
                .saturating_sub(kb)
                .min(kn);
            row[..first].iter_mut().for_each(|x| *x = T::NEG_INFINITY);
        }
    }
}

/// One block of scores (`rows × kn`, row-major, keys `kb..kb + kn` of query rows `i0..` of
/// batch item `b`) through the online softmax: the mask applied, each row's running maximum
/// and sum updated, the scores replaced by their weights `e^(s − max)`, and the rows of
/// `out` accumulated so far rescaled when a maximum grows. Inlined into the AVX2 frame of
/// [`with_avx2_fma`] with the loops it calls.
///
/// A row that has seen only −∞ so far gets zero weights; one that holds a NaN (or whose
/// maximum is +∞) gets NaN weights, and its running maximum and sum stay NaN.
#[inline(always)]
fn softmax_rows<T: Float>(
    scores: &mut [T],
    kn: usize,
    (b, i0, kb): ([usize; 2], usize, usize),
    masking: Masking<'_, T>,
    (max, sum): (&mut [T], &mut [T]),
    (out, dv): (&mut [T], usize),
) {
    for (ii, row) in scores.chunks_exact_mut(kn).enumerate() {
        mask_row(row, (b, i0 + ii, kb), masking);
        let old = max[ii];
        let block_max = row_max(row);
        let new = if block_max > old { block_max } else { old };
        // `new` is −∞ only when `old` is (nothing seen yet); a NaN of the row then becomes
        // the shift, so the NaN is not mistaken for a fully masked row.
        let Some(new) = softmax_shift(row, new) else {
            // No key visible to this row so far: its weights are all zero.
            row.iter_mut().for_each(|x| *x = T::ZERO);
            continue;
        };
        let total = exp_shifted_sum(row, new);
        if new != old && old != T::NEG_INFINITY {
            let corr = (old - new).exp();
            sum[ii] *= corr;
            out[ii * dv..(ii + 1) * dv]
                .iter_mut()
                .for_each(|x| *x *= corr);
        }
        sum[ii] += total;
        max[ii] = new;
    }
}

/// The attention of query rows `i0..i0 + out.len()/dv` of batch item `b`, written to `out`
/// (those rows of the result, row-major), and when asked each row's log-sum-exp of the
/// masked scores, `max + ln Σ e^(s − max)`, into `lse` (−∞ for a row that sees no key, NaN
/// for a NaN row): what the backward pass of autodiff recomputes the weights from.
fn attend_block<T: Float>(
    ops: Operands<'_, T>,
    masking: Masking<'_, T>,
    p: &Plan,
    (b, i0): ([usize; 2], usize),
    (out, lse): (&mut [T], Option<&mut [T]>),
    s: &mut Scratch<T>,
) {
    let rows = out.len() / p.dv;
    let scale = p.scale::<T>();
    s.max.clear();
    s.max.resize(rows, T::NEG_INFINITY);
    s.sum.clear();
    s.sum.resize(rows, T::ZERO);
    let (q, k, v) = (ops.q.item(&b), ops.k.item(&b), ops.v.item(&b));
    let q = q.block((i0, rows), (0, p.dk));
    // Keys past `end` are hidden from every query of the block (saturating: any offset).
    let end = match masking.causal {
        Some(off) => p.sk.min((i0 + rows).saturating_add(off)),
        None => p.sk,
    };
    let mut kb = 0;
    while kb < end {
        let kn = BLOCK_K.min(end - kb);
        s.scores.resize(rows * kn, T::ZERO);
        let scores = &mut s.scores[..rows * kn];
        // scores = scale · q[i0..] · k[kb..]ᵀ
        let kt = k.block((kb, kn), (0, p.dk)).t();
        // One thread: the heads and query blocks are already spread over the pool.
        Gemm::new()
            .threads(1)
            .alpha(scale)
            .to_slice(q, kt, scores, kn);
        let (max, sum) = (&mut s.max[..], &mut s.sum[..]);
        let outb = &mut *out;
        // The closure must be inlined into the AVX2 frame for its loops to be compiled
        // there: it sits in another codegen unit otherwise.
        with_avx2_fma(
            #[inline(always)]
            || softmax_rows(scores, kn, (b, i0, kb), masking, (max, sum), (outb, p.dv)),
        );
        // out = weights · v[kb..] for the first block (the old contents are ignored), then
        // out += weights · v[kb..]
        let beta = if kb == 0 { T::ZERO } else { T::ONE };
        let weights = MatRef::rows(&s.scores[..rows * kn], rows, kn);
        let vb = v.block((kb, kn), (0, p.dv));
        Gemm::new()
            .threads(1)
            .beta(beta)
            .to_slice(weights, vb, out, p.dv);
        kb += kn;
    }
    for (row, &sum) in out.chunks_exact_mut(p.dv).zip(&s.sum) {
        if sum == T::ZERO {
            // The row saw no key (fully masked, or Sk = 0): zeros, whatever v holds.
            row.iter_mut().for_each(|x| *x = T::ZERO);
        } else {
            // sum ≥ 1 (the maximum's own weight is 1), or NaN, which then propagates.
            let inv = T::ONE / sum;
            row.iter_mut().for_each(|x| *x *= inv);
        }
    }
    if let Some(lse) = lse {
        for ((l, &sum), &max) in lse.iter_mut().zip(&s.sum).zip(&s.max) {
            *l = if sum == T::ZERO {
                T::NEG_INFINITY
            } else {
                max + sum.ln()
            };
        }
    }
}

/// Runs the whole attention into `out`, `(items, Sq, Dv)` row-major, and each row's
/// log-sum-exp into `lse`, `(items, Sq)`, when given (see `attend_block`).
pub(crate) fn attend<T: Float>(
    ops: Operands<'_, T>,
    masking: Masking<'_, T>,
    p: &Plan,
    out: &mut [T],
    mut lse: Option<&mut [T]>,
) {
    if out.is_empty() {
        // No output element (with Dv = 0 the rows exist but every gradient is zero, so the
        // backward pass does not read `lse`).
        return;
    }
    let per_item = p.sq * p.dv;
    let mut chunks = Vec::new();
    for (item, c) in out.chunks_exact_mut(per_item).enumerate() {
        let b = [item / p.batch[1], item % p.batch[1]];
        let mut lse_item = lse.take().map(|l| {
            let (head, rest) = l.split_at_mut(p.sq);
            lse = Some(rest);
            head
        });
        for (blk, rows) in c.chunks_mut(BLOCK_Q * p.dv).enumerate() {
            let n = rows.len() / p.dv;
            let l = lse_item.take().map(|l| {
                let (head, rest) = l.split_at_mut(n);
                lse_item = Some(rest);
                head
            });
            chunks.push((b, blk * BLOCK_Q, (rows, l)));
        }
    }
    let items = p.batch[0] * p.batch[1];
    let macs = items * p.sq * p.sk * (p.dk + p.dv);
    let threads = parallel::threads(parallel::Work::Items {
        items: chunks.len(),
        macs,
    });
    parallel::for_each_chunk(
        chunks,
        threads,
        || Scratch {
            scores: Vec::new(),
            max: Vec::new(),
            sum: Vec::new(),
        },
        |s, _, (b, i0, rows)| attend_block(ops, masking, p, (b, i0), rows, s),
    );
}

/// The full weights `softmax(q·kᵀ/√Dk + mask)` into `out`, `(items, Sq, Sk)` row-major.
pub(super) fn weights<T: Float>(
    (q, k): (MatRef<'_, T>, MatRef<'_, T>),
    masking: Masking<'_, T>,
    p: &Plan,
    out: &mut [T],
) {
    if p.sk == 0 {
        return;
    }
    let scale = p.scale::<T>();
    for (item, scores) in out.chunks_exact_mut(p.sq * p.sk).enumerate() {
        let b = [item / p.batch[1], item % p.batch[1]];
        Gemm::new()
            .threads(1) // the batch items are already spread over the pool
            .alpha(scale)
            .to_slice(q.item(&b), k.item(&b).t(), scores, p.sk);
        // The same AVX2/FMA frame as the softmax pass of `attend`.
        with_avx2_fma(
            #[inline(always)]
            || {
                for (i, row) in scores.chunks_exact_mut(p.sk).enumerate() {
                    mask_row(row, (b, i, 0), masking);
                    softmax_row(row);
                }
            },
        );
    }
}
