//! The blocked backward pass of scaled dot-product attention, as FlashAttention-2 does it:
//! the forward keeps only its output `O` and each query row's log-sum-exp `L`; here the
//! scores are recomputed one `BLOCK_Q × BLOCK_K` block at a time, so the memory beyond the
//! inputs and the gradients is a few blocks per thread and `O(Sq)` row terms, never the
//! `Sq × Sk` weights.
//!
//! With `s = scale·q·kᵀ + bias` (masked entries −∞), `P = e^(s − L)`, `D = rowsum(dO ⊙ O)`:
//!
//! ```text
//! dV += Pᵀ·dO      dP = dO·Vᵀ      dS = P ⊙ (dP − D)
//! dQ += scale·dS·K     dK += scale·dSᵀ·Q     dBias += dS (summed over broadcast axes)
//! ```
//!
//! All five products are GEMMs through the kernel's one entry, reading q, k and v through
//! their strides (a head of `split_heads` or a transposed operand is never copied).
//!
//! Work is cut into units of (batch item, group of key blocks). A unit owns the rows of
//! `dK` and `dV` of its key blocks, and walks every query block that can see them; its
//! contributions to `dQ` go into its own buffer (the item's rows of `dQ` for the first
//! group, a zeroed partial for the others, added in a fixed order at the end). The number of
//! groups depends on the shapes only (at most [`SPLIT`] units per item, fewer when the batch
//! already gives that many), so results never depend on the thread count, and the partials
//! cost at most `(SPLIT − 1)·Sq·Dk` elements. A traced bias's gradient is a shared sum over
//! the broadcast axes, so with one the units run on one thread.

use std::sync::Mutex;

use crate::element::Float;
use crate::kernel::{with_avx2_fma, Gemm, MatRef};
use crate::ops::attention::online::{mask_row, Masking, Operands, Plan};
use crate::parallel;

/// Query rows per block of the backward pass.
const BLOCK_Q: usize = 128;
/// Keys per block of the backward pass: two `BLOCK_Q × BLOCK_K` blocks (the weights and
/// their gradient) of f32 take 128 KiB, which stay in L2 through the five GEMMs.
const BLOCK_K: usize = 128;
/// The most units one batch item is split into (over groups of key blocks).
const SPLIT: usize = 4;

/// What the forward left: its output `(items, Sq, Dv)` and row log-sum-exps `(items, Sq)`.
pub(crate) struct Saved<'a, T> {
    pub(crate) out: &'a [T],
    pub(crate) lse: &'a [T],
}

/// The gradients, row-major `(items, Sq, Dk)`, `(items, Sk, Dk)`, `(items, Sk, Dv)`, all
/// zero on entry; and, when the bias is traced, its gradient laid out contiguously with the
/// given strides over the padded `(b0, b1, Sq, Sk)` scores (zero on broadcast axes).
pub(crate) struct Grads<'a, T> {
    pub(crate) dq: &'a mut [T],
    pub(crate) dk: &'a mut [T],
    pub(crate) dv: &'a mut [T],
    pub(crate) dbias: Option<(&'a mut [T], [usize; 4])>,
}

/// Per-thread scratch: the weights and their gradient for one block.
struct Scratch<T> {
    p: Vec<T>,
    ds: Vec<T>,
}

/// One unit of work: batch item `b`, keys `k0..k1`, and where its gradients go.
struct Unit<'a, T> {
    b: [usize; 2],
    keys: (usize, usize),
    dq: &'a mut [T],
    dk: &'a mut [T],
    dv: &'a mut [T],
}

/// The gradients of `O = attention(q, k, v, mask)` given `dO` (`g`, laid out like `O`).
pub(crate) fn backward<T: Float>(
    ops: Operands<'_, T>,
    masking: Masking<'_, T>,
    p: &Plan,
    saved: Saved<'_, T>,
    g: &[T],
    grads: Grads<'_, T>,
) {
    let items = p.batch[0] * p.batch[1];
    if items == 0 || p.sq == 0 || p.sk == 0 || p.dv == 0 {
        // No weight, or no output column: every gradient is zero.
        return;
    }
    // D = rowsum(dO ⊙ O), one term per query row.
    let d: Vec<T> = g
        .chunks_exact(p.dv)
        .zip(saved.out.chunks_exact(p.dv))
        .map(|(g, o)| g.iter().zip(o).map(|(&a, &b)| a * b).sum())
        .collect();
    let nkb = p.sk.div_ceil(BLOCK_K);
    let groups = nkb.min(SPLIT.div_ceil(items)).max(1);
    let per_group = nkb.div_ceil(groups) * BLOCK_K;
    let groups = p.sk.div_ceil(per_group);
    let mut partials = crate::pool::zeroed(items * (groups - 1) * p.sq * p.dk);
    let mut units = Vec::with_capacity(items * groups);
    let (mut dq, mut dk, mut dv) = (&mut *grads.dq, &mut *grads.dk, &mut *grads.dv);
    let mut extra = &mut partials[..];
    for item in 0..items {
        let b = [item / p.batch[1], item % p.batch[1]];
        for gi in 0..groups {
            let k0 = gi * per_group;
            let k1 = (k0 + per_group).min(p.sk);
            // The first group writes the item's rows of dQ, the others a partial each.
            let dq = take(if gi == 0 { &mut dq } else { &mut extra }, p.sq * p.dk);
            units.push(Unit {
                b,
                keys: (k0, k1),
                dq,
                dk: take(&mut dk, (k1 - k0) * p.dk),
                dv: take(&mut dv, (k1 - k0) * p.dv),
            });
        }
    }
    let (dbias, bias_strides) = match grads.dbias {
        Some((buf, st)) => (Some(Mutex::new(buf)), st),
        None => (None, [0; 4]),
    };
    let macs = items * p.sq * p.sk * (3 * p.dk + 2 * p.dv);
    let threads = if dbias.is_some() {
        1
    } else {
        parallel::threads(parallel::Work::Items {
            items: units.len(),
            macs,
        })
    };
    let dbias = dbias.as_ref().map(|m| (m, bias_strides));
    let (lse, d) = (saved.lse, &d[..]);
    parallel::for_each_chunk(
        units,
        threads,
        || Scratch {
            p: Vec::new(),
            ds: Vec::new(),
        },
        |s, _, u| unit_backward(ops, masking, p, (lse, d, g), u, dbias, s),
    );
    // The partials of the later groups, added to their item's dQ in group order.
    let per_item = p.sq * p.dk;
    if groups > 1 && per_item > 0 {
        let parts = partials.chunks_exact((groups - 1) * per_item);
        for (dq, parts) in grads.dq.chunks_exact_mut(per_item).zip(parts) {
            for part in parts.chunks_exact(per_item) {
                dq.iter_mut().zip(part).for_each(|(a, &b)| *a += b);
            }
        }
    }
}

/// The first `n` elements of `*s`, leaving the rest in `*s`.
fn take<'a, T>(s: &mut &'a mut [T], n: usize) -> &'a mut [T] {
    let (head, rest) = core::mem::take(s).split_at_mut(n);
    *s = rest;
    head
}

/// The bias gradient shared by the units, and its strides over the padded scores.
type BiasGrad<'m, 'a, T> = Option<(&'m Mutex<&'a mut [T]>, [usize; 4])>;

/// One unit: for each of its key blocks, every query block that can see it.
fn unit_backward<T: Float>(
    ops: Operands<'_, T>,
    masking: Masking<'_, T>,
    p: &Plan,
    (lse, d, g): (&[T], &[T], &[T]),
    u: Unit<'_, T>,
    dbias: BiasGrad<'_, '_, T>,
    s: &mut Scratch<T>,
) {
    let scale = p.scale::<T>();
    let b = u.b;
    let item = b[0] * p.batch[1] + b[1];
    let (q, k, v) = (ops.q.item(&b), ops.k.item(&b), ops.v.item(&b));
    let row0 = item * p.sq;
    let go = MatRef::rows(&g[row0 * p.dv..(row0 + p.sq) * p.dv], p.sq, p.dv);
    let (k0, k1) = u.keys;
    let mut kb = k0;
    while kb < k1 {
        let kn = BLOCK_K.min(k1 - kb);
        let kblk = k.block((kb, kn), (0, p.dk));
        let vblk = v.block((kb, kn), (0, p.dv));
        let dk = &mut u.dk[(kb - k0) * p.dk..(kb - k0 + kn) * p.dk];
        let dv = &mut u.dv[(kb - k0) * p.dv..(kb - k0 + kn) * p.dv];
        // Query i sees key kb (the block's first) when kb ≤ i + offset.
        let first = match masking.causal {
            Some(off) => kb.saturating_sub(off),
            None => 0,
        };
        let mut i0 = first;
        while i0 < p.sq {
            let rows = BLOCK_Q.min(p.sq - i0);
            s.p.resize(rows * kn, T::ZERO);
            s.ds.resize(rows * kn, T::ZERO);
            let (pw, ds) = (&mut s.p[..rows * kn], &mut s.ds[..rows * kn]);
            let qblk = q.block((i0, rows), (0, p.dk));
            let gblk = go.block((i0, rows), (0, p.dv));
            // s = scale·q·kᵀ, then the mask and P = e^(s − L).
            // One thread each: the heads are already spread over the pool.
            Gemm::new()
                .threads(1)
                .alpha(scale)
                .to_slice(qblk, kblk.t(), pw, kn);
            // dP = dO·vᵀ
            Gemm::new().threads(1).to_slice(gblk, vblk.t(), ds, kn);
            let lse = &lse[row0 + i0..row0 + i0 + rows];
            let dr = &d[row0 + i0..row0 + i0 + rows];
            with_avx2_fma(
                #[inline(always)]
                || weights_and_grads(pw, ds, kn, (b, i0, kb), masking, (lse, dr)),
            );
            if let Some((m, st)) = dbias {
                let mut buf = m.lock().unwrap_or_else(|e| e.into_inner());
                let base = b[0] * st[0] + b[1] * st[1];
                for (ii, row) in ds.chunks_exact(kn).enumerate() {
                    let o = base + (i0 + ii) * st[2] + kb * st[3];
                    for (j, &x) in row.iter().enumerate() {
                        buf[o + j * st[3]] += x;
                    }
                }
            }
            let pm = MatRef::rows(pw, rows, kn);
            let dsm = MatRef::rows(ds, rows, kn);
            // dV += Pᵀ·dO
            Gemm::new()
                .threads(1)
                .beta(T::ONE)
                .to_slice(pm.t(), gblk, dv, p.dv);
            // dQ += scale·dS·k,  dK += scale·dSᵀ·q
            let dq = &mut u.dq[i0 * p.dk..(i0 + rows) * p.dk];
            let acc = Gemm::new().threads(1).alpha(scale).beta(T::ONE);
            acc.to_slice(dsm, kblk, dq, p.dk);
            acc.to_slice(dsm.t(), qblk, dk, p.dk);
            i0 += rows;
        }
        kb += kn;
    }
}

/// Turns a block of scores `pw` (rows `i0..` of batch item `b` against keys `kb..`) into
/// the weights `P = e^(s − L)` under the mask, and the block `ds` of `dP` into
/// `dS = P ⊙ (dP − D)`. A row whose `L` is −∞ saw no key in the forward (fully masked):
/// its weights and their gradients are zero, whatever `dP` holds. A NaN `L` (a NaN score
/// in the row) makes the row's weights NaN, and the NaN reaches every gradient.
#[inline(always)]
fn weights_and_grads<T: Float>(
    pw: &mut [T],
    ds: &mut [T],
    kn: usize,
    (b, i0, kb): ([usize; 2], usize, usize),
    masking: Masking<'_, T>,
    (lse, d): (&[T], &[T]),
) {
    let rows = pw.chunks_exact_mut(kn).zip(ds.chunks_exact_mut(kn));
    for (ii, (prow, dsrow)) in rows.enumerate() {
        let l = lse[ii];
        if l == T::NEG_INFINITY {
            prow.iter_mut().for_each(|x| *x = T::ZERO);
            dsrow.iter_mut().for_each(|x| *x = T::ZERO);
            continue;
        }
        mask_row(prow, (b, i0 + ii, kb), masking);
        let di = d[ii];
        for (x, y) in prow.iter_mut().zip(dsrow.iter_mut()) {
            let w = (*x - l).exp_softmax_fma();
            *x = w;
            *y = w * (*y - di);
        }
    }
}
