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
//!
//! On several threads ([`gemm`] with `threads > 1`) the threads share one pack of the whole
//! of `B` (the layout of a prepacked operand, `prepack.rs`) instead of each packing all of
//! it for its own rows: they first pack its panels, a group at a time, then take blocks of
//! `C`'s rows, each packing its own blocks of `A`. Both are handed out from counters, so a
//! thread that starts late (woken from sleep) takes less; the row blocks are whole tiles,
//! so every element is computed as on one thread.

use core::cell::Cell;
use core::sync::atomic::{AtomicUsize, Ordering};

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
    /// The pack of a whole `B` shared by the threads of one product, owned by the thread
    /// that called it (taken and put back like `PACKS`).
    static SHARED: Cell<Vec<Line>> = const { Cell::new(Vec::new()) };
}

/// Blocks of work (groups of `B`'s panels to pack, blocks of `C`'s rows) per thread, so that
/// a thread that starts late takes fewer.
const BLOCKS_PER_THREAD: usize = 4;

/// The fewest tiles of rows in a block of rows.
const MIN_TILES: usize = 4;

/// The largest pack of `B` that stays in a core's L2 beside the packs of `A` (half of
/// Zen 5's 1 MiB).
const SHARED_B_IN_L2: usize = 512 << 10;

/// The largest `B` (`k·n` elements of `elem` bytes) that a product split over threads packs
/// whole into a buffer the calling thread keeps ([`gemm`]); a larger one (a language model's
/// head, read as `dy·W`) is split by `split.rs` into blocks that each pack their own, a
/// block of `k` at a time.
pub(super) fn shares_b(k: usize, n: usize, elem: usize) -> bool {
    k.saturating_mul(n).saturating_mul(elem) <= SHARED_B_MAX
}

/// See [`shares_b`]: 8 MiB, four times the largest `B` of the perf decoder's training step.
const SHARED_B_MAX: usize = 8 << 20;

/// The pointers of one product, shared by the threads of [`gemm`].
#[derive(Clone, Copy)]
struct Shared<E> {
    a: *const E,
    b: *const E,
    c: *mut E,
    packs: *mut E,
}

// SAFETY: `Shared` only travels to the threads of one `gemm` call, which read `a` and `b`
// (written by no one during the product), write disjoint groups of panels of `packs` before
// any of them reads it (the counter `packed_groups` orders the two), and write disjoint blocks of
// rows of `c`; `E: Sync` (f32, f64) makes the shared reads sound.
unsafe impl<E: Sync> Send for Shared<E> {}
// SAFETY: as for `Send`.
unsafe impl<E: Sync> Sync for Shared<E> {}

/// `C = α·A·B + β·C` with kernel `K`, in the raw strided format (column stride of `C` 1),
/// with the fused epilogue `epi` (whose bias, if any, replaces `β·C`), on up to `threads`
/// threads (the calling one and others of the crate's, see the [module](self)
/// documentation): the same bits for any number.
///
/// # Safety
///
/// `K::available()`; `m, n, k ≥ 1`; for `i < m`, `l < k`, `j < n`: `a + i·rsa + l·csa` and
/// `b + l·rsb + j·csb` valid for reads, `c + i·rsc + j` valid for writes, pairwise distinct
/// for distinct `(i, j)` and aliasing neither operand; when β ≠ 0 and there is no bias, `C`
/// initialised. A bias has at least `n` elements. `packed`, if given, is this `B` packed
/// whole for `K` (`NR` and `k` its own), from its first column. Nothing else reads or
/// writes `C`, or writes `A` and `B`, until it returns.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm<K: Kernel>(
    threads: usize,
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
    let (mr, nr) = (K::MR, K::NR);
    if threads <= 1 || m <= mr {
        // SAFETY: the caller's contract is `one`'s.
        unsafe {
            one::<K>(
                m,
                k,
                n,
                alpha,
                a,
                (rsa, csa),
                b,
                (rsb, csb),
                beta,
                c,
                rsc,
                epi,
                packed,
            )
        };
        return;
    }
    // Each block of rows reads all of `B`'s pack. While it stays in L2, a few blocks per
    // thread (at least a few tiles each, so that each panel of `B` serves several); when it
    // does not, one block per thread, which reads it once, as on one thread. Whole tiles
    // per block: every tile covers the rows it covers on one thread.
    let fits = k * n * size_of::<K::E>() <= SHARED_B_IN_L2;
    let per_thread = if fits { BLOCKS_PER_THREAD } else { 1 };
    let tiles = m.div_ceil(mr).div_ceil(threads * per_thread);
    let rows = tiles.max(MIN_TILES) * mr;
    let panels = n.div_ceil(nr);
    let group = panels.div_ceil(threads * BLOCKS_PER_THREAD);
    let groups = if packed.is_some() {
        0
    } else {
        panels.div_ceil(group)
    };
    let mut buf = SHARED.take();
    let lines = if packed.is_some() {
        0
    } else {
        lines_for::<K::E>(panels * nr * k)
    };
    if buf.len() < lines {
        buf.resize(lines, Line([0; 64]));
    }
    let ptrs = Shared {
        a,
        b,
        c,
        packs: buf.as_mut_ptr().cast::<K::E>(),
    };
    // SAFETY: `packs` holds `panels·NR·k` elements (or nothing is packed and `packed` is the
    // caller's view); read only after every group is packed (below).
    let view = packed.unwrap_or_else(|| unsafe { PackedView::whole(ptrs.packs, nr, k) });
    let (next_group, packed_groups, next_rows) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let work = || {
        let p = ptrs;
        loop {
            let g = next_group.fetch_add(1, Ordering::Relaxed);
            if g >= groups {
                break;
            }
            let (q0, cols) = (g * group, (g * group + group).min(panels) * nr);
            let cols = cols.min(n) - q0 * nr;
            // SAFETY: columns `q0·NR .. + cols` of `B` (`≤ n`) are readable (the caller's
            // contract); packed as `Bᵀ` they fill panels `q0 ..` of the shared pack,
            // `cols.div_ceil(NR)·NR·k` elements from `q0·NR·k`, inside its `panels·NR·k`, and
            // no other group writes them (each group is taken once).
            unsafe {
                pack(
                    nr,
                    cols,
                    k,
                    p.b.add(q0 * nr * csb),
                    csb,
                    rsb,
                    p.packs.add(q0 * nr * k),
                )
            };
            packed_groups.fetch_add(1, Ordering::Release);
        }
        // Every group taken is being packed by a running thread: wait for the last ones.
        while packed_groups.load(Ordering::Acquire) < groups {
            core::hint::spin_loop();
        }
        loop {
            let r0 = next_rows.fetch_add(1, Ordering::Relaxed) * rows;
            if r0 >= m {
                break;
            }
            // SAFETY: rows `r0 .. r0 + rows` (or up to `m`) of the caller's product: the offset
            // pointers address elements of `A` and `C`, the block's reads are a subset of
            // the product's, and its rows of `C` are written by this block only (each is
            // taken once); `view` holds all of `B` packed for `K` (the caller's pack, or the
            // shared one, complete once `packed_groups` reached `groups`, whose release
            // stores the acquire load above saw).
            unsafe {
                one::<K>(
                    rows.min(m - r0),
                    k,
                    n,
                    alpha,
                    p.a.add(r0 * rsa),
                    (rsa, csa),
                    p.b,
                    (rsb, csb),
                    beta,
                    p.c.add(r0 * rsc),
                    rsc,
                    epi.shifted(r0, 0),
                    Some(view),
                )
            };
        }
    };
    crate::parallel::on_threads(threads.min(m.div_ceil(rows)), &work);
    SHARED.set(buf);
}

/// [`gemm`] on the calling thread.
///
/// # Safety
///
/// [`gemm`]'s contract.
#[allow(clippy::too_many_arguments)]
unsafe fn one<K: Kernel>(
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
