//! Packing for the blocked GEMM (`blocked.rs`): a block of `A` into panels of `MR` rows, a
//! block of `B` into panels of `NR` columns, in the order the micro-kernels (`micro.rs`) read
//! them, zero-padded to whole panels.
//!
//! Panel `p` of an `A` block holds rows `p·MR .. p·MR + MR` as `kc` groups of `MR` values
//! (group `l` = column `l` of those rows); panel `q` of a `B` block holds columns
//! `q·NR .. q·NR + NR` as `kc` groups of `NR` values (group `l` = row `l`). Both are a
//! gather through strides with a contiguous fast path for each direction: when the packed
//! direction is contiguous in memory (`A` column-major, `B` row-major) a group is one copy;
//! when the other direction is (`A` row-major, `B = Wᵀ` with `W` row-major) each source row
//! is read once, contiguously, and scattered with stride `MR` or `NR` into the panel.

/// Packs the `rows × kc` block of a matrix (element `(i, l)` at `src + i·rs + l·cs`) into
/// panels of `w` rows (`A`'s packing with `w = MR`; `B`'s is the same on `Bᵀ`, with
/// `w = NR`): panel `p`, group `l`, lane `i` at `dst[p·w·kc + l·w + i]`, zero for rows past
/// `rows`.
///
/// # Safety
///
/// Every `src + i·rs + l·cs` (`i < rows`, `l < kc`) is valid for reads; `dst` is valid for
/// writes of `rows.div_ceil(w)·w·kc` elements and does not overlap the source.
pub(super) unsafe fn pack<T: Copy + Default>(
    w: usize,
    rows: usize,
    kc: usize,
    src: *const T,
    rs: usize,
    cs: usize,
    dst: *mut T,
) {
    let zero = T::default();
    let mut p = 0;
    while p * w < rows {
        let r0 = p * w;
        let live = (rows - r0).min(w);
        // SAFETY: for the whole body: panel `p` occupies `dst[p·w·kc .. (p + 1)·w·kc]`,
        // inside the caller's `rows.div_ceil(w)·w·kc` elements; each index below is
        // `l·w + i` with `l < kc`, `i < w`. Reads are `src + (r0 + i)·rs + l·cs` with
        // `r0 + i < rows`, `l < kc`: the caller's readable range.
        unsafe {
            let panel = dst.add(p * w * kc);
            let src = src.add(r0 * rs);
            if rs == 1 {
                // The panel's direction is contiguous: one copy of `live` values per group.
                for l in 0..kc {
                    let from = src.add(l * cs);
                    let to = panel.add(l * w);
                    core::ptr::copy_nonoverlapping(from, to, live);
                    for i in live..w {
                        *to.add(i) = zero;
                    }
                }
            } else if cs == 1 {
                // Each source row is contiguous along `l`: read it once, scatter by `w`.
                for i in 0..live {
                    let from = src.add(i * rs);
                    for l in 0..kc {
                        *panel.add(l * w + i) = *from.add(l);
                    }
                }
                for i in live..w {
                    for l in 0..kc {
                        *panel.add(l * w + i) = zero;
                    }
                }
            } else {
                for l in 0..kc {
                    let to = panel.add(l * w);
                    for i in 0..w {
                        *to.add(i) = if i < live {
                            *src.add(i * rs + l * cs)
                        } else {
                            zero
                        };
                    }
                }
            }
        }
        p += 1;
    }
}
