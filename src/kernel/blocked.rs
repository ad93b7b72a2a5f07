//! The packed, cache-blocked GEMM (BLIS's five loops around a micro-kernel):
//!
//! ```text
//! for each block of NC columns of B and C             (jc)
//!   for each block of KC steps of k                   (pc)  pack B[pc.., jc..] → panels of NR
//!     for each block of MC rows of A and C            (ic)  pack A[ic.., pc..] → panels of MR
//!       for each panel of NR columns                  (jr)  B panel: KC × NR, in L1
//!         for each panel of MR rows                   (ir)  A panel: MR × KC, from L2
//!           micro-kernel: C tile (+)= α·A panel·B panel
//! ```
//!
//! The first `k` block writes `C = α·A·B + β·C` (β = 0 never reads `C`), the later ones add
//! to it (β = 1). The packing buffers are thread-local and grow to the largest product seen
//! (at most `(MC·KC + KC·NC)` elements per thread and element type), so a product allocates
//! nothing once the thread has run one of its size.
//!
//! Every element of `C` is the sum over the `k` blocks in order, each block's dot product
//! accumulated in order of `k` by one FMA chain, whichever tile, block or thread computes
//! it: splitting `C`'s rows or columns over threads (`split.rs`) does not change a bit.

use core::cell::Cell;

use super::epilogue::Epilogue;
use super::micro::{Kernel, TileArgs};
use super::pack::pack;
use super::prepack::{lines_for, Line, PackedView};
use crate::element::Float;

thread_local! {
    /// The packing buffer of this thread: taken for the duration of one product and put
    /// back (a product run while it is taken, which nothing does today, would allocate its
    /// own rather than share it).
    static PACKS: Cell<Vec<Line>> = const { Cell::new(Vec::new()) };
}

/// `C = α·A·B + β·C` with kernel `K`, in the raw strided format (column stride of `C` 1),
/// with the fused epilogue `epi` (whose bias, if any, replaces `β·C`).
///
/// # Safety
///
/// `K::available()`; `m, n, k ≥ 1`; for `i < m`, `l < k`, `j < n`: `a + i·rsa + l·csa` and
/// `b + l·rsb + j·csb` valid for reads, `c + i·rsc + j` valid for writes, pairwise distinct
/// for distinct `(i, j)` and aliasing neither operand; when β ≠ 0 and there is no bias, `C`
/// initialised. A bias has at least `n` elements. `packed`, if given, is this `B` packed
/// whole for `K` (`NR` and `k` its own), from its first column.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm<K: Kernel>(
    m: usize,
    k: usize,
    n: usize,
    alpha: K::E,
    a: *const K::E,
    (rsa, csa): (usize, usize),
    b: *const K::E,
    (rsb, csb): (usize, usize),
    beta: K::E,
    c: *mut K::E,
    rsc: usize,
    epi: Epilogue<'_, K::E>,
    packed: Option<PackedView<'_, K::E>>,
) {
    debug_assert!(m > 0 && n > 0 && k > 0 && K::available());
    assert!(
        packed.is_none_or(|p| p.nr == K::NR && p.k == k),
        "a packed B of another kernel or depth"
    );
    debug_assert!(epi.bias.is_none_or(|b| b.len() >= n));
    let (mr, nr) = (K::MR, K::NR);
    let kc_max = K::KC.min(k);
    let mc_max = K::MC.min(m.next_multiple_of(mr));
    let nc_max = K::NC.min(n.next_multiple_of(nr));
    let (a_lines, b_lines) = (
        lines_for::<K::E>(mc_max * kc_max),
        if packed.is_some() {
            0
        } else {
            lines_for::<K::E>(kc_max * nc_max)
        },
    );
    let mut buf = PACKS.take();
    if buf.len() < a_lines + b_lines {
        buf.resize(a_lines + b_lines, Line([0; 64]));
    }
    let apack = buf.as_mut_ptr().cast::<K::E>();
    // SAFETY: `a_lines ≤ buf.len()`, so the offset stays inside the buffer.
    let bpack = unsafe { buf.as_mut_ptr().add(a_lines) }.cast::<K::E>();
    let beta_zero = beta == K::E::ZERO;

    for jc in (0..n).step_by(K::NC) {
        let nc = (n - jc).min(K::NC);
        for pc in (0..k).step_by(K::KC) {
            let kc = (k - pc).min(K::KC);
            // A prepacked `B` (the caller's) already holds every panel of this block.
            if packed.is_none() {
                // SAFETY: the block `B[pc .. pc + kc, jc .. jc + nc]` is inside the caller's
                // readable range; packed as `Bᵀ` (rows of `Bᵀ` are columns of `B`) it fills
                // `nc.div_ceil(NR)·NR·kc ≤ nc_max·kc_max` elements of `bpack`, the buffer's
                // own `b_lines` lines (a `Line` is 64 bytes, aligned for any `T`), disjoint
                // from the operands (a buffer of this thread's).
                unsafe { pack(nr, nc, kc, b.add(pc * rsb + jc * csb), csb, rsb, bpack) };
            }
            let (beta, beta_zero) = if pc == 0 {
                (beta, beta_zero)
            } else {
                (K::E::ONE, false)
            };
            let bias = if pc == 0 { epi.bias } else { None };
            let last = pc + kc == k;
            for ic in (0..m).step_by(K::MC) {
                let mc = (m - ic).min(K::MC);
                // SAFETY: as for `B`: the block `A[ic .. ic + mc, pc .. pc + kc]` is readable
                // and fills `mc.div_ceil(MR)·MR·kc ≤ mc_max·kc_max` elements of `apack`, the
                // buffer's first `a_lines` lines, disjoint from `bpack`'s.
                unsafe { pack(mr, mc, kc, a.add(ic * rsa + pc * csa), rsa, csa, apack) };
                for jr in (0..nc).step_by(nr) {
                    for ir in (0..mc).step_by(mr) {
                        // SAFETY: panel `ir / MR` of the packed A block and `jr / NR` of the
                        // packed B block are inside what was just packed, `kc·MR` and `kc·NR`
                        // elements each; or, prepacked, the panel of columns `jc + jr ..`
                        // (a multiple of NR, below n) for the `k` block `pc < k`, which holds
                        // the same `kc·NR` values in the same order (`PackedView::panel`'s
                        // contract); the tile's first element of `C`, `(ic + ir, jc + jr)`,
                        // is in `C` (`ic + ir < m`, `jc + jr < n`).
                        let (ap, bp, cp) = unsafe {
                            (
                                apack.add(ir * kc),
                                match packed {
                                    Some(p) => p.panel(jc + jr, pc),
                                    None => bpack.add(jr * kc),
                                },
                                c.add((ic + ir) * rsc + jc + jr),
                            )
                        };
                        let t = TileArgs {
                            kc,
                            a: ap,
                            b: bp,
                            c: cp,
                            rsc,
                            mr: (mc - ir).min(mr),
                            nr: (nc - jr).min(nr),
                            alpha,
                            beta,
                            beta_zero,
                            // The bias's columns `jc + jr ..`, `nr ≤ n − jc − jr` of them
                            // (the bias has `n` or more).
                            init: bias.map_or(core::ptr::null(), |b| b[jc + jr..].as_ptr()),
                        };
                        // SAFETY: `K::available()` (the contract); the panels hold `kc·MR` and
                        // `kc·NR` packed elements (above); the tile's `mr × nr` corner of `C`
                        // is inside the caller's writable `m × n` block; it is initialised when
                        // read: by the caller for the first `k` block when β ≠ 0, and by the
                        // previous `k` block for the later ones.
                        unsafe { K::tile(t) };
                        if let (true, Some(map)) = (last, epi.map) {
                            for i in 0..t.mr {
                                // SAFETY: row `ic + ir + i < m` of `C`, columns
                                // `jc + jr .. + nr` (`≤ n`): elements of `C` that only this
                                // call writes (the caller's unique range), initialised by the
                                // tile just written; no other reference to them exists while
                                // `map` runs.
                                let row = unsafe {
                                    core::slice::from_raw_parts_mut(cp.add(i * rsc), t.nr)
                                };
                                let (r0, c0) = epi.origin;
                                map(r0 + ic + ir + i, c0 + jc + jr, row);
                            }
                        }
                    }
                }
            }
        }
    }
    PACKS.set(buf);
}
