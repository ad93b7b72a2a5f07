//! The x86-64 kernels of `x·Wᵀ` over one row of a quantized or half `W`: AVX2 + FMA + F16C,
//! and AVX-512 (VNNI for the integer dots, F for the half conversions). The safe entries
//! check every length the pointer arithmetic relies on, then call the `#[target_feature]`
//! functions, which [`QuantKernel::is_available`] has established the CPU runs.

use core::arch::x86_64::*;

use super::{Layout, QRows, QuantKernel};

/// The sum of the 8 lanes of `v`.
#[inline(always)]
unsafe fn hsum256(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// The f32 of the little-endian IEEE half at `p`.
#[inline(always)]
unsafe fn f16_at(p: *const u8) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_loadu_si16(p)))
}

/// The 32 weights of a 4-bit block's 16 bytes at `p` as unsigned bytes in element order:
/// the low nibbles (elements 0..16) in the low lane, the high nibbles in the high lane.
#[inline(always)]
unsafe fn nibbles(p: *const u8) -> __m256i {
    let q = _mm_loadu_si128(p.cast());
    _mm256_and_si256(
        _mm256_set_m128i(_mm_srli_epi16::<4>(q), q),
        _mm256_set1_epi8(0x0F),
    )
}

/// Runs `$body` with `$i` bound to each constant `0..$n` (`$n ≤ 8`), unrolled, so that
/// arrays indexed by `$i` stay in registers (a loop the compiler does not unroll keeps them
/// in memory: 8 rows of `x` ran at a fifth of the speed of one).
macro_rules! unrolled {
    ($n:expr, |$i:ident| $body:block) => {
        unrolled!(@ $n, $i, $body, 0 1 2 3 4 5 6 7)
    };
    (@ $n:expr, $i:ident, $body:block, $($k:literal)*) => {
        $(if $k < $n {
            let $i: usize = $k;
            $body
        })*
    };
}

/// One integer-dot row kernel per instruction set; `FMT` is 0 for Q8_0, 1 for Q4_0, 2 for
/// Q4_1; `$dot(w, x)` is the eight `i32` sums of four adjacent products of unsigned `w`
/// and signed `x` bytes. `M` rows of `x` share each block of `w`; each row keeps `U`
/// accumulators, block `b` going to `b mod U` (the tail blocks to the first), so that `U·M`
/// multiply-add chains run at once: one chain took one block per FMA latency, 8 cycles a
/// block with the accumulator kept in memory, and bounded Q4_1 at 10 GB/s.
macro_rules! int_row_kernel {
    ($name:ident, $features:literal, $dot:expr) => {
        /// `outs[j·stride + r] = x_{r0 + r} · w_j` over the blocks of the rows `w_j` of a
        /// block-format weight.
        ///
        /// # Safety
        ///
        /// The CPU has the features enabled below; `rows.w` holds `rows.n` rows of
        /// `rows.nb` whole blocks of the format `FMT`; `qa` holds rows `r0..r0 + M` of width
        /// `32·rows.nb`; `outs` holds `(rows.n − 1)·rows.stride + M` floats.
        #[target_feature(enable = $features)]
        unsafe fn $name<const FMT: usize, const M: usize, const U: usize>(
            rows: WRows<'_>,
            qa: &QRows,
            r0: usize,
            outs: &mut [f32],
        ) {
            let bb = [34, 18, 20][FMT];
            let nb = rows.nb;
            for j in 0..rows.n {
                let w = rows.w.get_unchecked(j * nb * bb..(j + 1) * nb * bb);
                let out = outs.get_unchecked_mut(j * rows.stride..j * rows.stride + M);
                let din = nb * 32;
                let xq = qa.q.as_ptr().add(r0 * din);
                let xd = qa.d.as_ptr().add(r0 * nb);
                let xs = qa.ds.as_ptr().add(r0 * nb);
                let mut acc = [[_mm256_setzero_ps(); U]; M];
                let mut off = [[0f32; U]; M];
                let mut block = |b: usize, u: usize| {
                    let blk = w.as_ptr().add(b * bb);
                    // The block's first 4 bytes in one conversion: `d`, and Q4_1's `m` (Q8_0's
                    // and Q4_0's first weights otherwise, unused); reading the halves byte by
                    // byte cost more than the integer dot.
                    let dm = _mm_cvtph_ps(_mm_loadu_si32(blk));
                    let dw = _mm_cvtss_f32(dm);
                    let (wv, wu) = if FMT == 0 {
                        let v = _mm256_loadu_si256(blk.add(2).cast());
                        (v, _mm256_sign_epi8(v, v))
                    } else {
                        let n = nibbles(blk.add(if FMT == 1 { 2 } else { 4 }));
                        (n, n)
                    };
                    // Q4_0's offset is −8·d_w·ds, summed as d_w·ds and scaled at the end.
                    let ow = if FMT == 2 {
                        _mm_cvtss_f32(_mm_movehdup_ps(dm))
                    } else {
                        dw
                    };
                    unrolled!(M, |r| {
                        let xv = _mm256_loadu_si256(xq.add(r * din + b * 32).cast());
                        let xv = if FMT == 0 {
                            _mm256_sign_epi8(xv, wv)
                        } else {
                            xv
                        };
                        let dot: __m256i = $dot(wu, xv);
                        let scale = _mm256_set1_ps(dw * *xd.add(r * nb + b));
                        acc[r][u] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(dot), acc[r][u]);
                        if FMT != 0 {
                            off[r][u] += ow * *xs.add(r * nb + b);
                        }
                    });
                };
                let body = nb - nb % U;
                for b0 in (0..body).step_by(U) {
                    unrolled!(U, |u| {
                        block(b0 + u, u);
                    });
                }
                for b in body..nb {
                    block(b, 0);
                }
                unrolled!(M, |r| {
                    let mut a = acc[r][0];
                    let mut o = off[r][0];
                    for u in 1..U {
                        a = _mm256_add_ps(a, acc[r][u]);
                        o += off[r][u];
                    }
                    out[r] = hsum256(a) + if FMT == 1 { -8.0 * o } else { o };
                });
            }
        }
    };
}

int_row_kernel!(int_row_avx2, "avx2,fma,f16c", |w, x| _mm256_madd_epi16(
    _mm256_maddubs_epi16(w, x),
    _mm256_set1_epi16(1)
));

/// A zero block of every format (`d = 0`): the partner of an odd row's last block in
/// [`int_row_zmm`].
static ZERO_BLOCK: [u8; 34] = [0; 34];

/// The pointers and widths [`zmm_pair`] reads: one row `w` of `nb` blocks of `bb` bytes,
/// and the rows of the quantized `x` from the first of the group.
struct ZmmRow {
    w: *const u8,
    bb: usize,
    nb: usize,
    xq: *const i8,
    xd: *const f32,
    xs: *const f32,
}

/// The accumulators of [`int_row_zmm`]: one vector and one offset per row and chain.
type ZmmAcc<const M: usize, const U: usize> = ([[__m512; U]; M], [[f32; U]; M]);

/// Blocks `b` and `b + 1` (or, `last`, block `b` and [`ZERO_BLOCK`]) of `row` into chain `u`
/// of each of the `M` rows' accumulators. A function, not a closure, so that it is always
/// inlined (a closure called from 3 to 6 places was not, and kept the accumulators in
/// memory).
///
/// # Safety
///
/// Called from [`int_row_zmm`] only (whose features it is compiled with once inlined), with
/// `b + 1 < nb` (or `b + 1 == nb` when `last`) and `M` rows of `x` behind `row`'s pointers.
#[inline(always)]
unsafe fn zmm_pair<const FMT: usize, const M: usize, const U: usize>(
    row: &ZmmRow,
    acc: &mut ZmmAcc<M, U>,
    b: usize,
    u: usize,
    last: bool,
) {
    let ZmmRow {
        w,
        bb,
        nb,
        xq,
        xd,
        xs,
    } = *row;
    let din = nb * 32;
    let p0 = w.add(b * bb);
    let p1 = if last {
        ZERO_BLOCK.as_ptr()
    } else {
        p0.add(bb)
    };
    let dm0 = _mm_cvtph_ps(_mm_loadu_si32(p0));
    let dm1 = _mm_cvtph_ps(_mm_loadu_si32(p1));
    let (dw0, dw1) = (_mm_cvtss_f32(dm0), _mm_cvtss_f32(dm1));
    let (ow0, ow1) = if FMT == 2 {
        (
            _mm_cvtss_f32(_mm_movehdup_ps(dm0)),
            _mm_cvtss_f32(_mm_movehdup_ps(dm1)),
        )
    } else {
        (dw0, dw1)
    };
    let (wv, wu) = if FMT == 0 {
        let v = _mm512_inserti64x4::<1>(
            _mm512_castsi256_si512(_mm256_loadu_si256(p0.add(2).cast())),
            _mm256_loadu_si256(p1.add(2).cast()),
        );
        (v, _mm512_abs_epi8(v))
    } else {
        let o = if FMT == 1 { 2 } else { 4 };
        let t = _mm256_inserti128_si256::<1>(
            _mm256_castsi128_si256(_mm_loadu_si128(p0.add(o).cast())),
            _mm_loadu_si128(p1.add(o).cast()),
        );
        // [q0, q1, q0 >> 4, q1 >> 4] to [q0, q0 >> 4, q1, q1 >> 4]: x's order.
        let z = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(t), _mm256_srli_epi16::<4>(t));
        let z = _mm512_shuffle_i64x2::<0b11_01_10_00>(z, z);
        let n = _mm512_and_si512(z, _mm512_set1_epi8(0x0F));
        (n, n)
    };
    unrolled!(M, |r| {
        let px = xq.add(r * din + b * 32);
        let xv = if last {
            _mm512_maskz_loadu_epi8(0xFFFF_FFFF, px.cast())
        } else {
            _mm512_loadu_si512(px.cast())
        };
        let xv = if FMT == 0 {
            // x with w's sign, against |w|.
            let neg = _mm512_movepi8_mask(wv);
            _mm512_mask_sub_epi8(xv, neg, _mm512_setzero_si512(), xv)
        } else {
            xv
        };
        let dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wu, xv);
        let (dx0, ds0) = (*xd.add(r * nb + b), *xs.add(r * nb + b));
        let (dx1, ds1) = if last {
            (0.0, 0.0)
        } else {
            (*xd.add(r * nb + b + 1), *xs.add(r * nb + b + 1))
        };
        let scale =
            _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(dw0 * dx0), _mm512_set1_ps(dw1 * dx1));
        acc.0[r][u] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(dot), acc.0[r][u]);
        if FMT != 0 {
            acc.1[r][u] += ow0 * ds0 + ow1 * ds1;
        }
    });
}

/// `out[r] = x_r · w` with AVX-512 VNNI, two blocks per 512-bit `vpdpbusd` (`FMT`, `M`, `U`
/// as in the 256-bit kernels, `U` accumulators counting pairs): half the dots, conversions
/// and multiply-adds per block of the 256-bit kernel. An odd last block is paired with
/// [`ZERO_BLOCK`], its `x` read by a masked load (which reads nothing past the row).
///
/// # Safety
///
/// The CPU has AVX-512 F, BW, VL and VNNI (and AVX2, FMA, F16C); `rows.w` holds `rows.n`
/// rows of `rows.nb` whole blocks of the format `FMT`; `qa` holds rows `r0..r0 + M` of width
/// `32·rows.nb`; `outs` holds `(rows.n − 1)·rows.stride + M` floats.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn int_row_zmm<const FMT: usize, const M: usize, const U: usize>(
    rows: WRows<'_>,
    qa: &QRows,
    r0: usize,
    outs: &mut [f32],
) {
    let bb = [34, 18, 20][FMT];
    let nb = rows.nb;
    for j in 0..rows.n {
        let out = outs.get_unchecked_mut(j * rows.stride..j * rows.stride + M);
        let row = ZmmRow {
            w: rows.w.as_ptr().add(j * nb * bb),
            bb,
            nb,
            xq: qa.q.as_ptr().add(r0 * nb * 32),
            xd: qa.d.as_ptr().add(r0 * nb),
            xs: qa.ds.as_ptr().add(r0 * nb),
        };
        let mut acc: ZmmAcc<M, U> = ([[_mm512_setzero_ps(); U]; M], [[0f32; U]; M]);
        let pairs = nb / 2;
        let body = pairs - pairs % U;
        for p0 in (0..body).step_by(U) {
            unrolled!(U, |u| {
                zmm_pair::<FMT, M, U>(&row, &mut acc, 2 * (p0 + u), u, false);
            });
        }
        for p in body..pairs {
            zmm_pair::<FMT, M, U>(&row, &mut acc, 2 * p, 0, false);
        }
        if nb % 2 == 1 {
            zmm_pair::<FMT, M, U>(&row, &mut acc, nb - 1, 0, true);
        }
        unrolled!(M, |r| {
            let mut a = acc.0[r][0];
            let mut o = acc.1[r][0];
            for u in 1..U {
                a = _mm512_add_ps(a, acc.0[r][u]);
                o += acc.1[r][u];
            }
            out[r] = _mm512_reduce_add_ps(a) + if FMT == 1 { -8.0 * o } else { o };
        });
    }
}

/// `x` quantized per block of 32 into `qa` (sized for it), the same bytes and scales as the
/// scalar code of [`super::quantize_rows`]: `vroundps` to nearest rounds ties to even.
///
/// # Safety
///
/// The CPU has AVX2; `qa.q` holds `x.len()` bytes, `qa.d` and `qa.ds` `x.len() / 32`
/// floats.
#[target_feature(enable = "avx2,fma")]
unsafe fn quantize_rows_avx2(x: &[f32], qa: &mut QRows) {
    let abs = _mm256_set1_ps(-0.0);
    for b in 0..x.len() / 32 {
        let p = x.as_ptr().add(b * 32);
        let v = [0, 8, 16, 24].map(|k| _mm256_loadu_ps(p.add(k)));
        let mut m = _mm256_andnot_ps(abs, v[0]);
        for vk in &v[1..] {
            m = _mm256_max_ps(m, _mm256_andnot_ps(abs, *vk));
        }
        let m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
        let m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        let m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        let (scale, inv) = super::block_scale(_mm_cvtss_f32(m4));
        let inv = _mm256_set1_ps(inv);
        let i = v.map(|vk| {
            _mm256_cvtps_epi32(_mm256_round_ps::<
                { _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC },
            >(_mm256_mul_ps(vk, inv)))
        });
        let sum = _mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3]));
        let s4 = _mm_add_epi32(
            _mm256_castsi256_si128(sum),
            _mm256_extracti128_si256::<1>(sum),
        );
        let s4 = _mm_add_epi32(s4, _mm_shuffle_epi32::<0b01_00_11_10>(s4));
        let s4 = _mm_add_epi32(s4, _mm_shuffle_epi32::<0b10_11_00_01>(s4));
        // The packs interleave the lanes: [0..4 of each of the four | 4..8 of each].
        let packed = _mm256_packs_epi16(
            _mm256_packs_epi32(i[0], i[1]),
            _mm256_packs_epi32(i[2], i[3]),
        );
        let q = _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(qa.q.as_mut_ptr().add(b * 32).cast(), q);
        *qa.d.get_unchecked_mut(b) = scale;
        *qa.ds.get_unchecked_mut(b) = scale * _mm_cvtsi128_si32(s4) as f32;
    }
}

/// `w`'s blocks of format `FMT` as f32 into `out`, the values of [`super::prefill::dequantize`]
/// bit for bit (Q4_1's `d·q + m` as a product then a sum, not fused).
///
/// # Safety
///
/// The CPU has AVX2 and F16C; `w` holds whole blocks, `out` 32 floats per block.
#[target_feature(enable = "avx2,f16c")]
unsafe fn dequantize_avx2<const FMT: usize>(w: &[u8], out: &mut [f32]) {
    let bb = [34, 18, 20][FMT];
    for b in 0..w.len() / bb {
        let blk = w.as_ptr().add(b * bb);
        let o = out.as_mut_ptr().add(b * 32);
        let d = _mm256_set1_ps(f16_at(blk));
        if FMT == 0 {
            for k in 0..4 {
                let q = _mm_loadl_epi64(blk.add(2 + 8 * k).cast());
                let v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d);
                _mm256_storeu_ps(o.add(8 * k), v);
            }
        } else {
            let q = _mm_loadu_si128(blk.add(if FMT == 1 { 2 } else { 4 }).cast());
            let lo = _mm_and_si128(q, _mm_set1_epi8(0x0F));
            let hi = _mm_and_si128(_mm_srli_epi16::<4>(q), _mm_set1_epi8(0x0F));
            let m = _mm256_set1_ps(if FMT == 2 { f16_at(blk.add(2)) } else { 0.0 });
            for (k, p) in [lo, _mm_srli_si128::<8>(lo), hi, _mm_srli_si128::<8>(hi)]
                .into_iter()
                .enumerate()
            {
                let n = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(p));
                let v = if FMT == 1 {
                    _mm256_mul_ps(d, _mm256_sub_ps(n, _mm256_set1_ps(8.0)))
                } else {
                    _mm256_add_ps(_mm256_mul_ps(d, n), m)
                };
                _mm256_storeu_ps(o.add(8 * k), v);
            }
        }
    }
}

/// [`dequantize_avx2`] for a block layout after checking the lengths.
pub(super) fn dequantize(layout: Layout, w: &[u8], out: &mut [f32]) {
    let nb = w.len() / layout.block_bytes();
    assert!(w.len() == nb * layout.block_bytes() && out.len() == nb * 32);
    assert!(QuantKernel::Avx2.is_available());
    // SAFETY: the asserts establish whole blocks of `layout` in `w`, 32 floats of `out` per
    // block, and that the CPU has AVX2 and F16C.
    unsafe {
        match layout {
            Layout::Q8_0 => dequantize_avx2::<0>(w, out),
            Layout::Q4_0 => dequantize_avx2::<1>(w, out),
            Layout::Q4_1 => dequantize_avx2::<2>(w, out),
            Layout::Bf16 | Layout::F16 => unreachable!("halves are widened in scalar code"),
        }
    }
}

/// [`quantize_rows_avx2`] after checking its lengths.
pub(super) fn quantize_rows(x: &[f32], qa: &mut QRows) {
    let n = x.len() / 32;
    assert!(qa.q.len() == x.len() && qa.d.len() == n && qa.ds.len() == n);
    assert!(super::QuantKernel::Avx2.is_available());
    // SAFETY: the asserts establish the lengths the function's safety section asks for, and
    // that the CPU has AVX2 and FMA.
    unsafe { quantize_rows_avx2(x, qa) }
}

/// `out[r] = x_r · w` for a block format with `x` kept in f32: each block of `w` becomes
/// four vectors of 8 f32 (`d·q`, `d·q − 8d`, `d·q + m`), multiplied with `x` by FMA.
///
/// # Safety
///
/// The CPU has AVX2, FMA and F16C; `w` holds `nb` whole blocks of the format `FMT`; `x`
/// holds rows `r0..r0 + out.len()` of width `32·nb`; `out.len() ≤ 8`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dequant_row_avx2<const FMT: usize>(w: &[u8], x: &[f32], r0: usize, out: &mut [f32]) {
    let bb = [34, 18, 20][FMT];
    let nb = w.len() / bb;
    let din = nb * 32;
    let m = out.len();
    let mut acc = [_mm256_setzero_ps(); 8];
    for b in 0..nb {
        let blk = w.as_ptr().add(b * bb);
        let d = _mm256_set1_ps(f16_at(blk));
        let mut v = [_mm256_setzero_ps(); 4];
        if FMT == 0 {
            for (k, vk) in v.iter_mut().enumerate() {
                let q = _mm_loadl_epi64(blk.add(2 + 8 * k).cast());
                *vk = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d);
            }
        } else {
            let (qs, bias) = if FMT == 1 {
                (blk.add(2), _mm256_mul_ps(d, _mm256_set1_ps(-8.0)))
            } else {
                (blk.add(4), _mm256_set1_ps(f16_at(blk.add(2))))
            };
            let q = _mm_loadu_si128(qs.cast());
            let lo = _mm_and_si128(q, _mm_set1_epi8(0x0F));
            let hi = _mm_and_si128(_mm_srli_epi16::<4>(q), _mm_set1_epi8(0x0F));
            let parts = [lo, _mm_srli_si128::<8>(lo), hi, _mm_srli_si128::<8>(hi)];
            for (vk, p) in v.iter_mut().zip(parts) {
                let f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(p));
                *vk = _mm256_fmadd_ps(f, d, bias);
            }
        }
        for (r, a) in acc[..m].iter_mut().enumerate() {
            let xp = x.as_ptr().add((r0 + r) * din + b * 32);
            for (k, vk) in v.iter().enumerate() {
                *a = _mm256_fmadd_ps(*vk, _mm256_loadu_ps(xp.add(8 * k)), *a);
            }
        }
    }
    for (o, a) in out.iter_mut().zip(&acc) {
        *o = hsum256(*a);
    }
}

/// `out[r] = x_r · w` for a half row `w` of `din` elements, 8 at a time (`BF16`: bf16,
/// else f16), the tail in scalar code.
///
/// # Safety
///
/// The CPU has AVX2, FMA and F16C; `w` holds `2·din` bytes; `x` holds rows
/// `r0..r0 + out.len()` of width `din`; `out.len() ≤ 8`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn half_row_avx2<const BF16: bool>(
    w: &[u8],
    x: &[f32],
    din: usize,
    r0: usize,
    out: &mut [f32],
) {
    let m = out.len();
    let mut acc = [_mm256_setzero_ps(); 8];
    let body = din / 8 * 8;
    for i in (0..body).step_by(8) {
        let h = _mm_loadu_si128(w.as_ptr().add(2 * i).cast());
        let v = if BF16 {
            _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)))
        } else {
            _mm256_cvtph_ps(h)
        };
        for (r, a) in acc[..m].iter_mut().enumerate() {
            let xv = _mm256_loadu_ps(x.as_ptr().add((r0 + r) * din + i));
            *a = _mm256_fmadd_ps(v, xv, *a);
        }
    }
    for (r, (o, a)) in out.iter_mut().zip(&acc).enumerate() {
        *o = hsum256(*a) + half_tail::<BF16>(w, x, din, r0 + r, body);
    }
}

/// `out[r] = x_r · w` for a half row, 16 at a time with AVX-512F.
///
/// # Safety
///
/// As [`half_row_avx2`], with AVX-512F.
#[target_feature(enable = "avx2,fma,f16c,avx512f")]
unsafe fn half_row_avx512<const BF16: bool>(
    w: &[u8],
    x: &[f32],
    din: usize,
    r0: usize,
    out: &mut [f32],
) {
    let m = out.len();
    let mut acc = [_mm512_setzero_ps(); 8];
    let body = din / 16 * 16;
    for i in (0..body).step_by(16) {
        let h = _mm256_loadu_si256(w.as_ptr().add(2 * i).cast());
        let v = if BF16 {
            _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
        } else {
            _mm512_cvtph_ps(h)
        };
        for (r, a) in acc[..m].iter_mut().enumerate() {
            let xv = _mm512_loadu_ps(x.as_ptr().add((r0 + r) * din + i));
            *a = _mm512_fmadd_ps(v, xv, *a);
        }
    }
    for (r, (o, a)) in out.iter_mut().zip(&acc).enumerate() {
        *o = _mm512_reduce_add_ps(*a) + half_tail::<BF16>(w, x, din, r0 + r, body);
    }
}

/// `Σ_{i ≥ from} w_i·x_{row, i}` in scalar code.
fn half_tail<const BF16: bool>(w: &[u8], x: &[f32], din: usize, row: usize, from: usize) -> f32 {
    (from..din)
        .map(|i| {
            let bits = u16::from_le_bytes([w[2 * i], w[2 * i + 1]]);
            let v = if BF16 {
                half::bf16::from_bits(bits).to_f32()
            } else {
                half::f16::from_bits(bits).to_f32()
            };
            v * x[row * din + i]
        })
        .sum()
}

/// Calls `$f::<FMT, M, U>` for `m` rows (1 to 4, the caller's groups): `U` accumulators a
/// row, so that at least 4 chains run at once and no more than 8 vectors accumulate.
macro_rules! by_rows {
    ($f:ident, $fmt:literal, $m:expr, ($($a:expr),*)) => {
        match $m {
            1 => $f::<$fmt, 1, 4>($($a),*),
            2 => $f::<$fmt, 2, 2>($($a),*),
            3 => $f::<$fmt, 3, 2>($($a),*),
            _ => $f::<$fmt, 4, 2>($($a),*),
        }
    };
}

/// `n` rows of a block-format `W` (`nb` blocks each), their outputs at `stride` apart: the
/// kernels loop over the rows themselves (a call per row cost as much as the row's blocks).
#[derive(Clone, Copy)]
pub(super) struct WRows<'a> {
    pub(super) w: &'a [u8],
    pub(super) nb: usize,
    pub(super) n: usize,
    pub(super) stride: usize,
}

/// [`int_row_avx2`] or [`int_row_zmm`] (`kernel` [`QuantKernel::Avx512`]) for `layout`:
/// `out[j·stride + r] = x_{r0 + r} · w_j` for the `rows.n` rows `w_j` and `m = 1..=4` rows
/// of `x`.
pub(super) fn int_rows(
    layout: Layout,
    rows: WRows<'_>,
    qa: &QRows,
    (r0, m): (usize, usize),
    out: &mut [f32],
    kernel: QuantKernel,
) {
    let WRows { w, nb, n, stride } = rows;
    assert!(w.len() == n * nb * layout.block_bytes() && (1..=4).contains(&m) && n > 0);
    assert!(stride >= m && out.len() >= (n - 1) * stride + m);
    assert!(qa.q.len() >= (r0 + m) * nb * 32 && qa.d.len() >= (r0 + m) * nb);
    assert!(qa.ds.len() == qa.d.len() && kernel.is_available());
    let vnni = kernel == QuantKernel::Avx512;
    // SAFETY: the asserts above establish every length the kernels' safety sections ask
    // for (`n` rows of whole blocks, rows r0..r0 + m of qa, `M = m` outputs between 1 and 4
    // at `stride` apart for each row: `by_rows` passes `m` itself as `M`), and
    // `kernel.is_available()` that the CPU has the features each kernel enables (AVX-512
    // VNNI, BW, VL and F for `Avx512`; AVX2, FMA and F16C for both).
    unsafe {
        match (layout, vnni) {
            (Layout::Q8_0, false) => by_rows!(int_row_avx2, 0, m, (rows, qa, r0, out)),
            (Layout::Q4_0, false) => by_rows!(int_row_avx2, 1, m, (rows, qa, r0, out)),
            (Layout::Q4_1, false) => by_rows!(int_row_avx2, 2, m, (rows, qa, r0, out)),
            (Layout::Q8_0, true) => by_rows!(int_row_zmm, 0, m, (rows, qa, r0, out)),
            (Layout::Q4_0, true) => by_rows!(int_row_zmm, 1, m, (rows, qa, r0, out)),
            (Layout::Q4_1, true) => by_rows!(int_row_zmm, 2, m, (rows, qa, r0, out)),
            (Layout::Bf16 | Layout::F16, _) => unreachable!("half weights keep x in f32"),
        }
    }
}

/// The f32-activation kernels: half formats on AVX2 or AVX-512F, block formats dequantized
/// in registers (AVX2).
pub(super) fn f32_row(
    layout: Layout,
    w: &[u8],
    x: &[f32],
    din: usize,
    r0: usize,
    out: &mut [f32],
    kernel: QuantKernel,
) {
    let nb = din / layout.block();
    assert!(din.is_multiple_of(layout.block()) && w.len() == nb * layout.block_bytes());
    assert!(out.len() <= 8 && x.len() >= (r0 + out.len()) * din && kernel.is_available());
    let wide = kernel == QuantKernel::Avx512;
    // SAFETY: the asserts above establish the lengths each kernel's safety section asks
    // for (`w` holds exactly the row, `x` the rows r0..r0 + out.len() of width `din`, at most
    // 8 outputs), and `kernel.is_available()` the CPU features: AVX2, FMA and F16C for every
    // kernel that is not `Portable`, and AVX-512F as well for `Avx512`.
    unsafe {
        match (layout, wide) {
            (Layout::Bf16, true) => half_row_avx512::<true>(w, x, din, r0, out),
            (Layout::F16, true) => half_row_avx512::<false>(w, x, din, r0, out),
            (Layout::Bf16, false) => half_row_avx2::<true>(w, x, din, r0, out),
            (Layout::F16, false) => half_row_avx2::<false>(w, x, din, r0, out),
            (Layout::Q8_0, _) => dequant_row_avx2::<0>(w, x, r0, out),
            (Layout::Q4_0, _) => dequant_row_avx2::<1>(w, x, r0, out),
            (Layout::Q4_1, _) => dequant_row_avx2::<2>(w, x, r0, out),
        }
    }
}
