//! SSE2 versions of the pixel kernels (the simple inverse DCT fused with its put/add,
//! and half-sample motion compensation), bit-identical to the portable ones in
//! `idct.rs` and `mc.rs` for every input those accept.
//!
//! SSE2 is part of the x86-64 baseline, so nothing here needs runtime detection. Each
//! kernel checks its slice bounds first and returns `false` when they do not hold, so
//! that the caller falls back to the portable code (whose indexing then reports the
//! fault) instead of touching memory out of bounds.

use crate::idct::Store;
use std::arch::x86_64::*;

// The simple IDCT's constants, as in `idct.rs`. All fit in 16 bits, so every
// product is of two 16-bit values and `pmaddwd` forms the sums of pairs.
const W1: i16 = 22725;
const W2: i16 = 21407;
const W3: i16 = 19266;
const W4: i16 = 16383;
const W5: i16 = 12873;
const W6: i16 = 8867;
const W7: i16 = 4520;
const ROW_ROUND: i32 = 1 << 10;
/// `W4 * ((1 << 19) / W4)`: the column rounding as `idct.rs` folds it in.
const COL_BIAS: i32 = W4 as i32 * ((1 << 19) / W4 as i32);

/// Four (`a`, `b`) pairs, one per 32-bit lane, as `pmaddwd` multiplies them.
#[inline(always)]
pub(super) fn pair(a: i16, b: i16) -> __m128i {
    // SAFETY: arithmetic on registers only; SSE2 is baseline on x86-64.
    unsafe { _mm_set1_epi32(((b as u16 as u32) << 16 | a as u16 as u32) as i32) }
}

/// One row pass (all AC terms) of the eight coefficients in `x`.
///
/// The inputs are the decoder's 12-bit coefficients, so no sum leaves 32 bits (as in
/// the portable `row_full`). The portable code truncates `sum >> 11` to 16 bits;
/// `(sum << 5) >> 16` keeps the same 16 bits, sign-extended, so that the saturating
/// pack below never saturates and the result wraps exactly as the portable one.
#[inline(always)]
fn row(x: __m128i) -> __m128i {
    // SAFETY: arithmetic on registers only; SSE2 is baseline on x86-64.
    unsafe {
        // Lanes as (x0,x2) (x1,x3) (x4,x6) (x5,x7) pairs.
        let v = _mm_shufflehi_epi16::<0xd8>(_mm_shufflelo_epi16::<0xd8>(x));
        let p02 = _mm_shuffle_epi32::<0x00>(v);
        let p13 = _mm_shuffle_epi32::<0x55>(v);
        let p46 = _mm_shuffle_epi32::<0xaa>(v);
        let p57 = _mm_shuffle_epi32::<0xff>(v);
        // Lane i of `a` is a_i, of `b` b_i, with the portable code's names.
        let c02 = _mm_setr_epi16(W4, W2, W4, W6, W4, -W6, W4, -W2);
        let c46 = _mm_setr_epi16(W4, W6, -W4, -W2, -W4, W2, W4, -W6);
        let c13 = _mm_setr_epi16(W1, W3, W3, -W7, W5, -W1, W7, -W5);
        let c57 = _mm_setr_epi16(W5, W7, -W1, -W5, W7, W3, W3, -W1);
        let a = _mm_add_epi32(
            _mm_add_epi32(_mm_madd_epi16(p02, c02), _mm_madd_epi16(p46, c46)),
            _mm_set1_epi32(ROW_ROUND),
        );
        let b = _mm_add_epi32(_mm_madd_epi16(p13, c13), _mm_madd_epi16(p57, c57));
        let lo = _mm_srai_epi32::<16>(_mm_slli_epi32::<5>(_mm_add_epi32(a, b)));
        let hi = _mm_srai_epi32::<16>(_mm_slli_epi32::<5>(_mm_sub_epi32(a, b)));
        // a - b holds outputs 7, 6, 5, 4: reverse it.
        _mm_packs_epi32(lo, _mm_shuffle_epi32::<0x1b>(hi))
    }
}

/// The column pass over four columns: `p04`, `p26`, `p13`, `p57` hold the (row 0,
/// row 4), ... pairs of each column. Returns the eight outputs, still 32-bit.
///
/// Sums wrap in 32 bits exactly as the portable code's `Wrapping<i32>`: addition is
/// the same modulo 2^32 in any order, and no `pmaddwd` pair overflows (|x| <= 32768,
/// |W| + |W'| < 2^16).
#[inline(always)]
fn col_half<const HIGH: bool>(
    p04: __m128i,
    p26: __m128i,
    p13: __m128i,
    p57: __m128i,
) -> [__m128i; 8] {
    // SAFETY: arithmetic on registers only; SSE2 is baseline on x86-64.
    unsafe {
        let bias = _mm_set1_epi32(COL_BIAS);
        let t0 = _mm_add_epi32(_mm_madd_epi16(p04, pair(W4, W4)), bias);
        let t1 = _mm_add_epi32(_mm_madd_epi16(p04, pair(W4, -W4)), bias);
        let t2 = _mm_madd_epi16(p26, pair(W2, W6));
        let t3 = _mm_madd_epi16(p26, pair(W6, -W2));
        let a0 = _mm_add_epi32(t0, t2);
        let a3 = _mm_sub_epi32(t0, t2);
        let a1 = _mm_add_epi32(t1, t3);
        let a2 = _mm_sub_epi32(t1, t3);
        let mut b0 = _mm_madd_epi16(p13, pair(W1, W3));
        let mut b1 = _mm_madd_epi16(p13, pair(W3, -W7));
        let mut b2 = _mm_madd_epi16(p13, pair(W5, -W1));
        let mut b3 = _mm_madd_epi16(p13, pair(W7, -W5));
        if HIGH {
            b0 = _mm_add_epi32(b0, _mm_madd_epi16(p57, pair(W5, W7)));
            b1 = _mm_add_epi32(b1, _mm_madd_epi16(p57, pair(-W1, -W5)));
            b2 = _mm_add_epi32(b2, _mm_madd_epi16(p57, pair(W7, W3)));
            b3 = _mm_add_epi32(b3, _mm_madd_epi16(p57, pair(W3, -W1)));
        }
        let s = |v: __m128i| _mm_srai_epi32::<20>(v);
        [
            s(_mm_add_epi32(a0, b0)),
            s(_mm_add_epi32(a1, b1)),
            s(_mm_add_epi32(a2, b2)),
            s(_mm_add_epi32(a3, b3)),
            s(_mm_sub_epi32(a3, b3)),
            s(_mm_sub_epi32(a2, b2)),
            s(_mm_sub_epi32(a1, b1)),
            s(_mm_sub_epi32(a0, b0)),
        ]
    }
}

/// The column pass of the row-pass output `r`. The outputs of `>> 20` lie in
/// -2048..=2047, so the saturating pack to 16 bits is exact.
#[inline(always)]
fn columns<const HIGH: bool>(r: &[__m128i; 8]) -> [__m128i; 8] {
    // SAFETY: arithmetic on registers only; SSE2 is baseline on x86-64.
    unsafe {
        let z = _mm_setzero_si128();
        let (r4, r5, r6, r7) = if HIGH {
            (r[4], r[5], r[6], r[7])
        } else {
            (z, z, z, z)
        };
        let lo = col_half::<HIGH>(
            _mm_unpacklo_epi16(r[0], r4),
            _mm_unpacklo_epi16(r[2], r6),
            _mm_unpacklo_epi16(r[1], r[3]),
            _mm_unpacklo_epi16(r5, r7),
        );
        let hi = col_half::<HIGH>(
            _mm_unpackhi_epi16(r[0], r4),
            _mm_unpackhi_epi16(r[2], r6),
            _mm_unpackhi_epi16(r[1], r[3]),
            _mm_unpackhi_epi16(r5, r7),
        );
        let mut out = [z; 8];
        for k in 0..8 {
            out[k] = _mm_packs_epi32(lo[k], hi[k]);
        }
        out
    }
}

/// The row pass of rows `0..N` of the block at `bp` (the others are zero): the full
/// formula where `ac` has the row's bit, the reference's shortcut for a row without
/// AC terms elsewhere (x0 << 3, truncated to 16 bits, in every position; 0 for a zero
/// row, as the masks promise). Both are computed and one is selected, because which
/// rows hold AC terms varies from block to block and branching on it mispredicts.
///
/// # Safety
///
/// `bp` must point to `N` readable 16-byte rows.
#[inline(always)]
unsafe fn row_pass<const N: usize>(bp: *const __m128i, ac: u8) -> [__m128i; 8] {
    // SAFETY: the caller guarantees `N` readable rows; the rest is register arithmetic.
    unsafe {
        let mut r = [_mm_setzero_si128(); 8];
        for k in 0..N {
            let x = _mm_loadu_si128(bp.add(k));
            let full = row(x);
            let dc = _mm_shufflelo_epi16::<0>(_mm_slli_epi16::<3>(x));
            let dc = _mm_unpacklo_epi64(dc, dc);
            let m = _mm_set1_epi16(-(((ac >> k) & 1) as i16));
            r[k] = _mm_or_si128(_mm_and_si128(m, full), _mm_andnot_si128(m, dc));
        }
        r
    }
}

/// Inverse transform of `block` (as `idct::idct`, with the same `rows`/`ac` masks and
/// shortcuts), written to the 8x8 samples of `dst` at `off`, rows `stride` apart, and
/// `block` cleared. Returns `false`, having done nothing, when the samples are not all
/// inside `dst`.
#[inline]
pub(crate) fn idct_store(
    block: &mut [[i16; 8]; 8],
    rows: u8,
    ac: u8,
    dst: &mut [u8],
    off: usize,
    stride: usize,
    how: Store,
) -> bool {
    if !rows_inside(dst, off, stride) {
        return false;
    }
    // SAFETY: SSE2 is baseline on x86-64. `block` is 128 bytes, read and written as
    // eight unaligned 16-byte rows. The eight 8-byte rows of `dst` written (and, for
    // `Add`, read) start at `off + k * stride` for k < 8, the last ending at
    // `off + 7 * stride + 8 <= dst.len()`, checked above.
    unsafe {
        let z = _mm_setzero_si128();
        let out = if rows == 1 && ac == 0 {
            // DC only: the same value everywhere (see `idct::idct`).
            let v = ((block[0][0] as i32) << 3) as i16 as i32;
            let s = (W4 as i32 * (v + (1 << 19) / W4 as i32)) >> 20;
            block[0][0] = 0;
            [_mm_set1_epi16(s as i16); 8]
        } else {
            let bp = block.as_mut_ptr() as *mut __m128i;
            if rows & 0xf0 == 0 {
                let r = row_pass::<4>(bp, ac);
                for k in 0..4 {
                    _mm_storeu_si128(bp.add(k), z);
                }
                columns::<false>(&r)
            } else {
                let r = row_pass::<8>(bp, ac);
                for k in 0..8 {
                    _mm_storeu_si128(bp.add(k), z);
                }
                columns::<true>(&r)
            }
        };
        store_rows(&out, dst.as_mut_ptr().add(off), stride, how);
    }
    true
}

/// Puts or adds the eight 16-bit residual rows `out` into the 8-byte rows at
/// `d + k * stride`, clamped to 0..=255.
///
/// # Safety
///
/// The eight rows `d + k * stride .. + 8` (k < 8) must be readable and writable.
#[inline(always)]
unsafe fn store_rows(out: &[__m128i; 8], d: *mut u8, stride: usize, how: Store) {
    // SAFETY: the caller guarantees the rows; unaligned 8-byte loads and stores.
    unsafe {
        let z = _mm_setzero_si128();
        for k in (0..8).step_by(2) {
            let (p0, p1) = (d.add(k * stride), d.add((k + 1) * stride));
            let (mut v0, mut v1) = (out[k], out[k + 1]);
            if how == Store::Add {
                // Residuals lie in -2048..=2047, so the 16-bit sums cannot overflow.
                let s0 = _mm_unpacklo_epi8(_mm_loadl_epi64(p0 as *const __m128i), z);
                let s1 = _mm_unpacklo_epi8(_mm_loadl_epi64(p1 as *const __m128i), z);
                v0 = _mm_add_epi16(v0, s0);
                v1 = _mm_add_epi16(v1, s1);
            }
            let px = _mm_packus_epi16(v0, v1);
            _mm_storel_epi64(p0 as *mut __m128i, px);
            _mm_storel_epi64(p1 as *mut __m128i, _mm_srli_si128::<8>(px));
        }
    }
}

/// Whether the eight 8-byte rows at `off + k * stride` (k < 8) lie inside `dst`.
#[inline(always)]
pub(crate) fn rows_inside(dst: &[u8], off: usize, stride: usize) -> bool {
    stride
        .checked_mul(7)
        .and_then(|v| v.checked_add(off))
        .and_then(|v| v.checked_add(8))
        .is_some_and(|end| end <= dst.len())
}

/// [`idct_store`] of a block whose only coefficient is the DC term (`rows == 1`,
/// `ac == 0`): one value for all 64 samples (see `idct::idct`), small enough to be
/// inlined where blocks are stored. Returns `false`, having done nothing, when the
/// samples are not all inside `dst`.
#[inline(always)]
pub(crate) fn dc_store(
    block: &mut [[i16; 8]; 8],
    dst: &mut [u8],
    off: usize,
    stride: usize,
    how: Store,
) -> bool {
    if !rows_inside(dst, off, stride) {
        return false;
    }
    let v = ((block[0][0] as i32) << 3) as i16 as i32;
    let s = (W4 as i32 * (v + (1 << 19) / W4 as i32)) >> 20;
    block[0][0] = 0;
    // SAFETY: SSE2 is baseline on x86-64; the eight rows of `dst` written (and, for
    // `Add`, read) start at `off + k * stride` for k < 8, the last ending at
    // `off + 7 * stride + 8 <= dst.len()`, checked above.
    unsafe {
        store_rows(
            &[_mm_set1_epi16(s as i16); 8],
            dst.as_mut_ptr().add(off),
            stride,
            how,
        );
    }
    true
}

/// Whether `rows` (1..=32) rows of `width` (at most 32) bytes, `stride` apart, the
/// first at `off`, all lie within `len` bytes: `off + (rows - 1) * stride + width <=
/// len`. Offsets and strides of 2^40 or more (far beyond any picture) are refused, so
/// that the arithmetic cannot overflow and needs no checked multiplication.
#[inline(always)]
pub(super) fn fits(len: usize, off: usize, stride: usize, rows: usize, width: usize) -> bool {
    const LIMIT: usize = 1 << 40;
    (1..=32).contains(&rows)
        && width <= 32
        && (off | stride) < LIMIT
        && off + (rows - 1) * stride + width <= len
}

/// Loads `W` (8 or 16) bytes at `p`.
///
/// # Safety
///
/// `p..p + W` must be readable.
#[inline(always)]
unsafe fn load<const W: usize>(p: *const u8) -> __m128i {
    // SAFETY: the caller guarantees `W` readable bytes; unaligned loads.
    unsafe {
        if W == 16 {
            _mm_loadu_si128(p as *const __m128i)
        } else {
            _mm_loadl_epi64(p as *const __m128i)
        }
    }
}

/// Stores the low `W` (8 or 16) bytes of `v` at `p`.
///
/// # Safety
///
/// `p..p + W` must be writable.
#[inline(always)]
unsafe fn store<const W: usize>(p: *mut u8, v: __m128i) {
    // SAFETY: the caller guarantees `W` writable bytes; unaligned stores.
    unsafe {
        if W == 16 {
            _mm_storeu_si128(p as *mut __m128i, v)
        } else {
            _mm_storel_epi64(p as *mut __m128i, v)
        }
    }
}

/// The rows of [`predict`] for one `MODE` and `AVG`.
///
/// # Safety
///
/// As checked by [`predict`]: `W + (MODE & 1)` bytes readable at `sp + j * ss` for
/// `j < H + (MODE >> 1)`, `W` bytes writable (and readable) at `dp + j * ds` for
/// `j < H`.
#[inline(always)]
unsafe fn rows<const W: usize, const H: usize, const MODE: u8, const AVG: bool>(
    sp: *const u8,
    ss: usize,
    dp: *mut u8,
    ds: usize,
) {
    // SAFETY: the reads and writes stay within what the caller guarantees (see above).
    unsafe {
        let z = _mm_setzero_si128();
        let two = _mm_set1_epi16(2);
        // For the 2-D case, the horizontal pair sums of the row below (16-bit, low and
        // high halves), carried to the next row where they are the row above.
        let sums = |p: *const u8| {
            let (a, b) = (load::<W>(p), load::<W>(p.add(1)));
            (
                _mm_add_epi16(_mm_unpacklo_epi8(a, z), _mm_unpacklo_epi8(b, z)),
                _mm_add_epi16(_mm_unpackhi_epi8(a, z), _mm_unpackhi_epi8(b, z)),
            )
        };
        let mut above = if MODE == 3 { sums(sp) } else { (z, z) };
        for j in 0..H {
            let o = sp.add(j * ss);
            let p = match MODE {
                0 => load::<W>(o),
                1 => _mm_avg_epu8(load::<W>(o), load::<W>(o.add(1))),
                2 => _mm_avg_epu8(load::<W>(o), load::<W>(o.add(ss))),
                _ => {
                    // (a + b + c + d + 2) >> 2 exactly, in 16 bits.
                    let below = sums(o.add(ss));
                    let lo =
                        _mm_srli_epi16::<2>(_mm_add_epi16(_mm_add_epi16(above.0, below.0), two));
                    let hi =
                        _mm_srli_epi16::<2>(_mm_add_epi16(_mm_add_epi16(above.1, below.1), two));
                    above = below;
                    _mm_packus_epi16(lo, hi)
                }
            };
            let d = dp.add(j * ds);
            // pavgb is (a + b + 1) >> 1, the rounding of 7.6.7.
            let p = if AVG {
                _mm_avg_epu8(p, load::<W>(d))
            } else {
                p
            };
            store::<W>(d, p);
        }
    }
}

/// `mc::run` for `W` of 8 or 16: the `W`x`H` prediction at `off` of `s` (rows `ss`
/// apart) with half-sample `mode` (bit 0 horizontal, bit 1 vertical) into `dst` (rows
/// `ds` apart), averaged with it when `avg`. Returns `false`, having done nothing,
/// when a sample read or written would be outside its slice.
#[inline(always)]
pub(crate) fn predict<const W: usize, const H: usize>(
    s: &[u8],
    off: usize,
    ss: usize,
    mode: u8,
    dst: &mut [u8],
    ds: usize,
    avg: bool,
) -> bool {
    if !(W == 8 || W == 16) || H == 0 {
        return false;
    }
    let (hx, vy) = ((mode & 1) as usize, (mode >> 1) as usize);
    if !(fits(s.len(), off, ss, H + vy, W + hx) && fits(dst.len(), 0, ds, H, W)) {
        return false;
    }
    // SAFETY: SSE2 is baseline on x86-64. Row j reads `W` bytes at
    // `off + j * ss (+ 1) (+ ss)` for j < H: the furthest ends at
    // `off + (H - 1 + vy) * ss + hx + W <= s.len()`. Row j writes (and, with `avg`,
    // reads) `W` bytes at `j * ds`, the last ending at `(H - 1) * ds + W <= dst.len()`.
    // Both checked above.
    unsafe {
        let sp = s.as_ptr().add(off);
        let dp = dst.as_mut_ptr();
        // One loop per mode and averaging, so that neither is decided per row.
        match (mode, avg) {
            (0, false) => rows::<W, H, 0, false>(sp, ss, dp, ds),
            (1, false) => rows::<W, H, 1, false>(sp, ss, dp, ds),
            (2, false) => rows::<W, H, 2, false>(sp, ss, dp, ds),
            (_, false) => rows::<W, H, 3, false>(sp, ss, dp, ds),
            (0, true) => rows::<W, H, 0, true>(sp, ss, dp, ds),
            (1, true) => rows::<W, H, 1, true>(sp, ss, dp, ds),
            (2, true) => rows::<W, H, 2, true>(sp, ss, dp, ds),
            (_, true) => rows::<W, H, 3, true>(sp, ss, dp, ds),
        }
    }
    true
}

/// [`predict`] of two blocks at `offs` of `s` with the same source stride, mode and
/// destination stride (a macroblock's two chroma planes): both checked, then one
/// dispatch on the mode for both. Returns `false`, having done nothing, when a sample
/// read or written would be outside its slice.
#[inline(always)]
pub(crate) fn predict_pair<const W: usize, const H: usize>(
    s: [&[u8]; 2],
    offs: [usize; 2],
    ss: usize,
    mode: u8,
    dst: [&mut [u8]; 2],
    ds: usize,
    avg: bool,
) -> bool {
    if !(W == 8 || W == 16) || H == 0 {
        return false;
    }
    let (hx, vy) = ((mode & 1) as usize, (mode >> 1) as usize);
    let [d0, d1] = dst;
    if !(fits(s[0].len(), offs[0], ss, H + vy, W + hx)
        && fits(s[1].len(), offs[1], ss, H + vy, W + hx)
        && fits(d0.len().min(d1.len()), 0, ds, H, W))
    {
        return false;
    }
    // SAFETY: SSE2 is baseline on x86-64. For each of the two blocks, row j reads `W`
    // bytes at `off + j * ss (+ 1) (+ ss)` for j < H, the furthest ending at
    // `off + (H - 1 + vy) * ss + hx + W <= s.len()`, and writes (with `avg`, also
    // reads) `W` bytes at `j * ds`, the last ending at `(H - 1) * ds + W <= dst.len()`.
    // All four checked above.
    unsafe {
        let (s0, s1) = (s[0].as_ptr().add(offs[0]), s[1].as_ptr().add(offs[1]));
        let (p0, p1) = (d0.as_mut_ptr(), d1.as_mut_ptr());
        match (mode, avg) {
            (0, false) => {
                rows::<W, H, 0, false>(s0, ss, p0, ds);
                rows::<W, H, 0, false>(s1, ss, p1, ds);
            }
            (1, false) => {
                rows::<W, H, 1, false>(s0, ss, p0, ds);
                rows::<W, H, 1, false>(s1, ss, p1, ds);
            }
            (2, false) => {
                rows::<W, H, 2, false>(s0, ss, p0, ds);
                rows::<W, H, 2, false>(s1, ss, p1, ds);
            }
            (_, false) => {
                rows::<W, H, 3, false>(s0, ss, p0, ds);
                rows::<W, H, 3, false>(s1, ss, p1, ds);
            }
            (0, true) => {
                rows::<W, H, 0, true>(s0, ss, p0, ds);
                rows::<W, H, 0, true>(s1, ss, p1, ds);
            }
            (1, true) => {
                rows::<W, H, 1, true>(s0, ss, p0, ds);
                rows::<W, H, 1, true>(s1, ss, p1, ds);
            }
            (2, true) => {
                rows::<W, H, 2, true>(s0, ss, p0, ds);
                rows::<W, H, 2, true>(s1, ss, p1, ds);
            }
            (_, true) => {
                rows::<W, H, 3, true>(s0, ss, p0, ds);
                rows::<W, H, 3, true>(s1, ss, p1, ds);
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idct;
    use crate::mc;

    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) as u32
        }
        fn coef(&mut self) -> i16 {
            (self.next() % 4096) as i16 - 2048
        }
    }

    /// The masks `idct` expects: `rows` and `ac` cover every non-zero row and every
    /// row with a non-zero AC term, plus `extra` rows flagged without need (the
    /// decoder flags row 7 for mismatch control even when the toggle leaves 0).
    fn masks(b: &[[i16; 8]; 8], extra_rows: u8, extra_ac: u8) -> (u8, u8) {
        let mut rows = extra_rows | extra_ac;
        let mut ac = extra_ac;
        for r in 0..8 {
            rows |= (b[r].iter().any(|&v| v != 0) as u8) << r;
            ac |= (b[r][1..].iter().any(|&v| v != 0) as u8) << r;
        }
        (rows, ac)
    }

    /// Runs both paths on `b` over the same picture and asserts identical samples and
    /// cleared blocks.
    fn same_idct(b: &[[i16; 8]; 8], rows: u8, ac: u8, pic: &[u8], off: usize, stride: usize) {
        for how in [Store::Put, Store::Add] {
            let (mut b1, mut b2) = (*b, *b);
            let (mut p1, mut p2) = (pic.to_vec(), pic.to_vec());
            let mut res = [[0; 8]; 8];
            idct::idct(&mut b1, rows, ac, &mut res);
            match how {
                Store::Put => idct::put(&res, &mut p1, off, stride),
                Store::Add => idct::add(&res, &mut p1, off, stride),
            }
            assert!(idct_store(&mut b2, rows, ac, &mut p2, off, stride, how));
            assert!(p1 == p2, "{how:?} rows {rows:#x} ac {ac:#x} block {b:?}");
            assert_eq!(b1, b2);
            assert_eq!(b2, [[0; 8]; 8]);
            // And AVX2, on the machines that have it (the SSE2 path is checked on all).
            if let Some(t) = super::super::avx2::Token::detect() {
                let (mut b3, mut p3) = (*b, pic.to_vec());
                assert!(super::super::avx2::idct_store(
                    t, &mut b3, rows, ac, &mut p3, off, stride, how
                ));
                assert!(
                    p1 == p3,
                    "avx2 {how:?} rows {rows:#x} ac {ac:#x} block {b:?}"
                );
                assert_eq!(b3, [[0; 8]; 8]);
            }
        }
    }

    fn picture(rng: &mut Lcg, len: usize) -> Vec<u8> {
        (0..len).map(|_| rng.next() as u8).collect()
    }

    #[test]
    fn idct_equals_the_portable_one_on_random_sparse_and_dense_blocks() {
        let mut rng = Lcg(7);
        let pic = picture(&mut rng, 24 * 16);
        for n in 0..20_000 {
            let mut b = [[0i16; 8]; 8];
            // From a lone coefficient to all 64, low rows only or anywhere.
            let density = rng.next() % 65;
            let high = n % 3 != 0;
            for r in 0..if high { 8 } else { 4 } {
                for c in 0..8 {
                    if rng.next() % 64 < density {
                        b[r][c] = rng.coef();
                    }
                }
            }
            let extra = if n % 5 == 0 { rng.next() as u8 } else { 0 };
            let extra = if high { extra } else { extra & 0x0f };
            let extra_ac = extra & rng.next() as u8;
            let (rows, ac) = masks(&b, extra, extra_ac);
            let stride = [8, 16, 24][n % 3];
            let off = (rng.next() % 8) as usize;
            same_idct(&b, rows, ac, &pic[..off + 7 * stride + 8], off, stride);
        }
    }

    #[test]
    fn idct_equals_the_portable_one_for_extreme_coefficients_in_every_position() {
        let mut rng = Lcg(11);
        let pic = picture(&mut rng, 16 * 8);
        for pos in 0..64 {
            for v in [-2048i16, -2047, -1024, -1, 1, 2, 1023, 2046, 2047] {
                let mut b = [[0i16; 8]; 8];
                b[pos >> 3][pos & 7] = v;
                let (rows, ac) = masks(&b, 0, 0);
                same_idct(&b, rows, ac, &pic, 0, 16);
                // With the DC as well, and with row 7 flagged as mismatch control does.
                b[0][0] = -v;
                let (rows, ac) = masks(&b, 0x80, 0x80);
                same_idct(&b, rows, ac, &pic, 0, 16);
            }
        }
        // Saturated blocks: the row pass's 16-bit results wrap, the largest column
        // sums too.
        for pattern in 0..6u32 {
            let mut b = [[0i16; 8]; 8];
            for r in 0..8 {
                for c in 0..8 {
                    let neg = match pattern {
                        0 => false,
                        1 => true,
                        2 => (r + c) % 2 == 1,
                        3 => c % 2 == 1,
                        4 => r % 2 == 1,
                        _ => (r * 8 + c) % 3 == 0,
                    };
                    b[r][c] = if neg { -2048 } else { 2047 };
                }
            }
            let (rows, ac) = masks(&b, 0, 0);
            same_idct(&b, rows, ac, &pic, 0, 16);
        }
        for dc in -2048i16..=2047 {
            let mut b = [[0i16; 8]; 8];
            b[0][0] = dc;
            same_idct(&b, 1, 0, &pic, 0, 16);
        }
    }

    #[test]
    fn idct_refuses_a_picture_too_small_and_leaves_it() {
        let mut b = [[0i16; 8]; 8];
        b[0][0] = 100;
        let mut pic = vec![9u8; 7 * 16 + 7];
        assert!(!idct_store(&mut b, 1, 0, &mut pic, 0, 16, Store::Put));
        assert!(!idct_store(
            &mut b,
            1,
            0,
            &mut pic,
            usize::MAX,
            16,
            Store::Add
        ));
        assert!(!idct_store(
            &mut b,
            1,
            0,
            &mut pic,
            0,
            usize::MAX,
            Store::Add
        ));
        // The AVX2 entry, whose DC-only blocks take `dc_store`, and its full transform.
        if let Some(t) = super::super::avx2::Token::detect() {
            for (rows, ac) in [(1, 0), (3, 1)] {
                assert!(!super::super::avx2::idct_store(
                    t,
                    &mut b,
                    rows,
                    ac,
                    &mut pic,
                    0,
                    16,
                    Store::Add
                ));
            }
        }
        assert_eq!(b[0][0], 100);
        assert!(pic.iter().all(|&v| v == 9));
    }

    fn same_mc<const W: usize, const H: usize>(rng: &mut Lcg, src: &[u8], ss: usize) {
        for mode in 0..4u8 {
            for avg in [false, true] {
                for ds in [W, 2 * W, 32] {
                    let max_x = ss - W - 1;
                    let max_y = src.len() / ss - H - 1;
                    let off = (rng.next() as usize % max_y) * ss + rng.next() as usize % max_x;
                    let dst = picture(rng, (H - 1) * ds + W);
                    let (mut d1, mut d2) = (dst.clone(), dst);
                    mc::run::<W, H>(src, off, ss, mode, &mut d1, ds, avg);
                    let mut d3 = d2.clone();
                    assert!(predict::<W, H>(src, off, ss, mode, &mut d2, ds, avg));
                    assert!(d1 == d2, "{W}x{H} mode {mode} avg {avg} ds {ds} off {off}");
                    if let (Some(t), 16, 3) = (super::super::avx2::Token::detect(), W, mode) {
                        assert!(super::super::avx2::predict_xy16::<H>(
                            t, src, off, ss, &mut d3, ds, avg
                        ));
                        assert!(d1 == d3, "avx2 16x{H} avg {avg} ds {ds} off {off}");
                    }
                }
            }
        }
    }

    #[test]
    fn motion_compensation_equals_the_portable_one() {
        let mut rng = Lcg(3);
        for _ in 0..200 {
            // Random samples, and extremes, where rounding and the 16-bit sums of the
            // two-dimensional case matter most.
            let mut src = picture(&mut rng, 48 * 40);
            if rng.next() % 3 < 1 {
                for v in src.iter_mut() {
                    *v = if *v & 1 == 0 { 255 } else { 254 + (*v >> 7) };
                }
            }
            same_mc::<16, 16>(&mut rng, &src, 48);
            same_mc::<16, 8>(&mut rng, &src, 48);
            same_mc::<8, 16>(&mut rng, &src, 48);
            same_mc::<8, 8>(&mut rng, &src, 48);
            same_mc::<8, 4>(&mut rng, &src, 48);
        }
    }

    #[test]
    fn fits_is_exact_at_the_end_and_refuses_what_could_overflow() {
        // 17 rows of 17, 17 apart: exactly 289 bytes.
        assert!(fits(289, 0, 17, 17, 17));
        assert!(!fits(288, 0, 17, 17, 17));
        assert!(fits(290, 1, 17, 17, 17));
        assert!(!fits(289, 1, 17, 17, 17));
        assert!(!fits(usize::MAX, usize::MAX - 8, 1, 1, 16));
        assert!(!fits(usize::MAX, 0, usize::MAX / 2, 3, 16));
        assert!(!fits(usize::MAX, 0, 16, 0, 16));
    }

    #[test]
    fn motion_compensation_refuses_blocks_past_the_slices() {
        let src = vec![1u8; 16 * 17];
        let mut dst = vec![5u8; 256];
        // The 2-D case needs a 17th column and row that are not there.
        assert!(!predict::<16, 16>(&src, 0, 16, 3, &mut dst, 16, false));
        assert!(!predict::<16, 16>(&src, 1, 16, 2, &mut dst, 16, false));
        assert!(!predict::<16, 16>(
            &src,
            0,
            16,
            0,
            &mut dst[..255],
            16,
            false
        ));
        assert!(!predict::<16, 16>(
            &src,
            usize::MAX,
            16,
            0,
            &mut dst,
            16,
            false
        ));
        assert!(dst.iter().all(|&v| v == 5));
        // An unsupported width is left to the portable code.
        let mut small = [0u8; 4];
        assert!(!predict::<2, 2>(&src, 0, 16, 0, &mut small, 2, false));
        if let Some(t) = super::super::avx2::Token::detect() {
            // The 2-D case reads 17 rows of 17 samples: one byte less is refused.
            let src = vec![1u8; 17 * 17];
            assert!(!super::super::avx2::predict_xy16::<16>(
                t,
                &src[..17 * 17 - 1],
                0,
                17,
                &mut dst,
                16,
                false
            ));
            assert!(!super::super::avx2::predict_xy16::<16>(
                t,
                &src,
                0,
                17,
                &mut dst[..255],
                16,
                false
            ));
            assert!(dst.iter().all(|&v| v == 5));
            assert!(super::super::avx2::predict_xy16::<16>(
                t, &src, 0, 17, &mut dst, 16, true
            ));
            assert!(dst.iter().all(|&v| v == 3), "(5 + 1 + 1) >> 1");
            dst.fill(5);
        }
        // The vertical case fits exactly: 17 rows of 16.
        assert!(predict::<16, 16>(&src, 0, 16, 2, &mut dst, 16, false));
        assert!(dst.iter().all(|&v| v == 1));
    }
}
