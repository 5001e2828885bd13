//! AVX2 version of the simple inverse DCT with its put/add: two rows per register in
//! the row pass, all eight columns per register in the column pass. Bit-identical to
//! the portable `idct.rs` and to `sse2.rs` (same formulas, same wrapping).
//!
//! Also the two-dimensional half-sample prediction of a 16-wide block, the costliest
//! of motion compensation's cases in SSE2 (its 16-bit sums need two registers a row
//! there, one here).
//!
//! AVX2 is not part of the x86-64 baseline: the kernel takes a [`Token`], which only
//! [`Token::detect`] makes, after checking the CPU at run time.

use super::sse2;
use crate::idct::Store;
use std::arch::x86_64::*;

const W1: i16 = 22725;
const W2: i16 = 21407;
const W3: i16 = 19266;
const W4: i16 = 16383;
const W5: i16 = 12873;
const W6: i16 = 8867;
const W7: i16 = 4520;
const ROW_ROUND: i32 = 1 << 10;
const COL_BIAS: i32 = W4 as i32 * ((1 << 19) / W4 as i32);

/// Proof that the CPU has AVX2: the AVX2 kernels are safe to call with one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token(());

impl Token {
    /// A token when this CPU has AVX2 (the check is cached by `std`).
    pub(crate) fn detect() -> Option<Token> {
        is_x86_feature_detected!("avx2").then_some(Token(()))
    }
}

/// Eight (`a`, `b`) pairs, one per 32-bit lane.
///
/// # Safety
///
/// AVX2 must be available. (Rust before 1.86, which the workspace supports, allows
/// `#[target_feature]` on `unsafe` functions only; so for the two below.)
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn pair(a: i16, b: i16) -> __m256i {
    // SAFETY: register arithmetic; the caller guarantees AVX2.
    unsafe { _mm256_set1_epi32(((b as u16 as u32) << 16 | a as u16 as u32) as i32) }
}

/// The row pass of two rows at once (one per 128-bit lane), as `sse2::row` does one:
/// every AVX2 operation used works within each lane.
///
/// # Safety
///
/// AVX2 must be available.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn row2(x: __m256i) -> __m256i {
    // SAFETY: register arithmetic; the caller guarantees AVX2.
    unsafe {
        let v = _mm256_shufflehi_epi16::<0xd8>(_mm256_shufflelo_epi16::<0xd8>(x));
        let p02 = _mm256_shuffle_epi32::<0x00>(v);
        let p13 = _mm256_shuffle_epi32::<0x55>(v);
        let p46 = _mm256_shuffle_epi32::<0xaa>(v);
        let p57 = _mm256_shuffle_epi32::<0xff>(v);
        let c02 = _mm256_setr_epi16(
            W4, W2, W4, W6, W4, -W6, W4, -W2, W4, W2, W4, W6, W4, -W6, W4, -W2,
        );
        let c46 = _mm256_setr_epi16(
            W4, W6, -W4, -W2, -W4, W2, W4, -W6, W4, W6, -W4, -W2, -W4, W2, W4, -W6,
        );
        let c13 = _mm256_setr_epi16(
            W1, W3, W3, -W7, W5, -W1, W7, -W5, W1, W3, W3, -W7, W5, -W1, W7, -W5,
        );
        let c57 = _mm256_setr_epi16(
            W5, W7, -W1, -W5, W7, W3, W3, -W1, W5, W7, -W1, -W5, W7, W3, W3, -W1,
        );
        let a = _mm256_add_epi32(
            _mm256_add_epi32(_mm256_madd_epi16(p02, c02), _mm256_madd_epi16(p46, c46)),
            _mm256_set1_epi32(ROW_ROUND),
        );
        let b = _mm256_add_epi32(_mm256_madd_epi16(p13, c13), _mm256_madd_epi16(p57, c57));
        // The low 16 bits of `sum >> 11`, sign-extended (see `sse2::row`).
        let lo = _mm256_srai_epi32::<16>(_mm256_slli_epi32::<5>(_mm256_add_epi32(a, b)));
        let hi = _mm256_srai_epi32::<16>(_mm256_slli_epi32::<5>(_mm256_sub_epi32(a, b)));
        _mm256_packs_epi32(lo, _mm256_shuffle_epi32::<0x1b>(hi))
    }
}

/// Rows `0..2 * PAIRS` of the block at `bp` through the row pass, two per register
/// (rows 2k and 2k + 1 in `out[k]`), the full formula or the shortcut chosen per row
/// by `ac` without a branch (see `sse2::row_pass`). The other pairs are zero.
///
/// # Safety
///
/// `bp` must point to `PAIRS` readable 32-byte row pairs; AVX2 must be available.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn row_pass<const PAIRS: usize>(bp: *const __m256i, ac: u8) -> [__m256i; 4] {
    // SAFETY: the caller guarantees the rows and AVX2; the rest is register arithmetic.
    unsafe {
        let mut r = [_mm256_setzero_si256(); 4];
        let acv = _mm256_set1_epi16(ac as i16);
        for k in 0..PAIRS {
            let x = _mm256_loadu_si256(bp.add(k));
            let full = row2(x);
            let dc = _mm256_shufflelo_epi16::<0>(_mm256_slli_epi16::<3>(x));
            let dc = _mm256_unpacklo_epi64(dc, dc);
            let (b0, b1) = (1i16 << (2 * k), 1i16 << (2 * k + 1));
            let bits = _mm256_setr_epi16(
                b0, b0, b0, b0, b0, b0, b0, b0, b1, b1, b1, b1, b1, b1, b1, b1,
            );
            let m = _mm256_cmpeq_epi16(_mm256_and_si256(acv, bits), bits);
            r[k] = _mm256_blendv_epi8(dc, full, m);
        }
        r
    }
}

/// The column pass of the row pairs `r`: returns rows (2k, 2k + 1) in `out[k]`.
///
/// Each register holds columns 0..4 in its low lane and 4..8 in its high lane. The
/// odd part pairs rows (1, 5) and (3, 7), the even part (0, 4) and (2, 6); the sums
/// are those of the portable code, regrouped, and wrap alike in 32 bits (no
/// `pmaddwd` pair exceeds 32768 * (W1 + W3) < 2^31).
///
/// # Safety
///
/// AVX2 must be available.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn columns(r: &[__m256i; 4]) -> [__m256i; 4] {
    // SAFETY: register arithmetic; the caller guarantees AVX2.
    unsafe {
        // r[0] = [R0 | R1], r[1] = [R2 | R3], r[2] = [R4 | R5], r[3] = [R6 | R7].
        let a = _mm256_unpacklo_epi16(r[0], r[2]); // [R0R4 lo | R1R5 lo]
        let b = _mm256_unpackhi_epi16(r[0], r[2]); // [R0R4 hi | R1R5 hi]
        let c = _mm256_unpacklo_epi16(r[1], r[3]); // [R2R6 lo | R3R7 lo]
        let d = _mm256_unpackhi_epi16(r[1], r[3]); // [R2R6 hi | R3R7 hi]
        let p04 = _mm256_permute2x128_si256::<0x20>(a, b);
        let p15 = _mm256_permute2x128_si256::<0x31>(a, b);
        let p26 = _mm256_permute2x128_si256::<0x20>(c, d);
        let p37 = _mm256_permute2x128_si256::<0x31>(c, d);
        let bias = _mm256_set1_epi32(COL_BIAS);
        let t0 = _mm256_add_epi32(_mm256_madd_epi16(p04, pair(W4, W4)), bias);
        let t1 = _mm256_add_epi32(_mm256_madd_epi16(p04, pair(W4, -W4)), bias);
        let t2 = _mm256_madd_epi16(p26, pair(W2, W6));
        let t3 = _mm256_madd_epi16(p26, pair(W6, -W2));
        let a0 = _mm256_add_epi32(t0, t2);
        let a3 = _mm256_sub_epi32(t0, t2);
        let a1 = _mm256_add_epi32(t1, t3);
        let a2 = _mm256_sub_epi32(t1, t3);
        // b0 = W1 x1 + W3 x3 + W5 x5 + W7 x7, and so on, as (x1, x5) and (x3, x7).
        let b0 = _mm256_add_epi32(
            _mm256_madd_epi16(p15, pair(W1, W5)),
            _mm256_madd_epi16(p37, pair(W3, W7)),
        );
        let b1 = _mm256_add_epi32(
            _mm256_madd_epi16(p15, pair(W3, -W1)),
            _mm256_madd_epi16(p37, pair(-W7, -W5)),
        );
        let b2 = _mm256_add_epi32(
            _mm256_madd_epi16(p15, pair(W5, W7)),
            _mm256_madd_epi16(p37, pair(-W1, W3)),
        );
        let b3 = _mm256_add_epi32(
            _mm256_madd_epi16(p15, pair(W7, W3)),
            _mm256_madd_epi16(p37, pair(-W5, -W1)),
        );
        let s = |v: __m256i| _mm256_srai_epi32::<20>(v);
        // packs works per lane: [k lo, k+1 lo | k hi, k+1 hi]; the permute puts each
        // row's halves together. The values lie in -2048..=2047, so packs is exact.
        let rows = |k0: __m256i, k1: __m256i| {
            _mm256_permute4x64_epi64::<0xd8>(_mm256_packs_epi32(s(k0), s(k1)))
        };
        [
            rows(_mm256_add_epi32(a0, b0), _mm256_add_epi32(a1, b1)),
            rows(_mm256_add_epi32(a2, b2), _mm256_add_epi32(a3, b3)),
            rows(_mm256_sub_epi32(a3, b3), _mm256_sub_epi32(a2, b2)),
            rows(_mm256_sub_epi32(a1, b1), _mm256_sub_epi32(a0, b0)),
        ]
    }
}

/// The body of [`idct_store`], after its bounds check.
///
/// # Safety
///
/// AVX2 must be available, and the eight 8-byte rows at `off + k * stride` (k < 8)
/// inside `dst`.
#[target_feature(enable = "avx2")]
unsafe fn idct_store_avx2(
    block: &mut [[i16; 8]; 8],
    rows: u8,
    ac: u8,
    dst: &mut [u8],
    off: usize,
    stride: usize,
    how: Store,
) {
    // SAFETY: `block` is 128 bytes, read and written as four unaligned 32-byte row
    // pairs; the caller guarantees AVX2 and the `dst` rows written (and, for `Add`,
    // read) 8 bytes at a time.
    unsafe {
        let bp = block.as_mut_ptr() as *mut __m256i;
        let z = _mm256_setzero_si256();
        let out = if rows & 0xf0 == 0 {
            let r = row_pass::<2>(bp, ac);
            _mm256_storeu_si256(bp, z);
            _mm256_storeu_si256(bp.add(1), z);
            columns(&r)
        } else {
            let r = row_pass::<4>(bp, ac);
            for k in 0..4 {
                _mm256_storeu_si256(bp.add(k), z);
            }
            columns(&r)
        };
        let d = dst.as_mut_ptr().add(off);
        for (k, &v) in out.iter().enumerate() {
            let (p0, p1) = (d.add(2 * k * stride), d.add((2 * k + 1) * stride));
            let mut v = v;
            if how == Store::Add {
                // Residuals lie in -2048..=2047: the 16-bit sums cannot overflow.
                let s = _mm_unpacklo_epi64(
                    _mm_loadl_epi64(p0 as *const __m128i),
                    _mm_loadl_epi64(p1 as *const __m128i),
                );
                v = _mm256_add_epi16(v, _mm256_cvtepu8_epi16(s));
            }
            let px = _mm_packus_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
            _mm_storel_epi64(p0 as *mut __m128i, px);
            _mm_storel_epi64(p1 as *mut __m128i, _mm_srli_si128::<8>(px));
        }
    }
}

/// `sse2::idct_store` with AVX2: the same contract and results. The DC-only case
/// gains nothing from wider registers and is left to SSE2's, inlined here so that
/// storing such a block calls nothing; the full transform is one call.
#[inline(always)]
pub(crate) fn idct_store(
    _avx2: Token,
    block: &mut [[i16; 8]; 8],
    rows: u8,
    ac: u8,
    dst: &mut [u8],
    off: usize,
    stride: usize,
    how: Store,
) -> bool {
    if rows == 1 && ac == 0 {
        return sse2::dc_store(block, dst, off, stride, how);
    }
    if !sse2::rows_inside(dst, off, stride) {
        return false;
    }
    // SAFETY: the token proves AVX2; the rows of `dst` were checked above.
    unsafe { idct_store_avx2(block, rows, ac, dst, off, stride, how) };
    true
}

/// The rows of [`predict_xy16`]: `(a + b + c + d + 2) >> 2` of each sample's square
/// of four, in 16 bits, one register a row, the sums of the row below carried to the
/// next row, where they are the row above.
///
/// # Safety
///
/// AVX2 present; 17 bytes readable at `sp + j * ss` for `j <= H`, 16 bytes writable
/// (and readable) at `dp + j * ds` for `j < H`.
#[target_feature(enable = "avx2")]
unsafe fn rows_xy16<const H: usize, const AVG: bool>(
    sp: *const u8,
    ss: usize,
    dp: *mut u8,
    ds: usize,
) {
    // SAFETY: the reads and writes stay within what the caller guarantees (see above).
    unsafe {
        let two = _mm256_set1_epi16(2);
        let mut above = _mm256_add_epi16(
            _mm256_cvtepu8_epi16(_mm_loadu_si128(sp as *const __m128i)),
            _mm256_cvtepu8_epi16(_mm_loadu_si128(sp.add(1) as *const __m128i)),
        );
        for j in 0..H {
            let o = sp.add((j + 1) * ss);
            let below = _mm256_add_epi16(
                _mm256_cvtepu8_epi16(_mm_loadu_si128(o as *const __m128i)),
                _mm256_cvtepu8_epi16(_mm_loadu_si128(o.add(1) as *const __m128i)),
            );
            let v = _mm256_srli_epi16::<2>(_mm256_add_epi16(_mm256_add_epi16(above, below), two));
            above = below;
            let px = _mm_packus_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
            let d = dp.add(j * ds) as *mut __m128i;
            // pavgb is (a + b + 1) >> 1, the rounding of 7.6.7.
            let px = if AVG {
                _mm_avg_epu8(px, _mm_loadu_si128(d))
            } else {
                px
            };
            _mm_storeu_si128(d, px);
        }
    }
}

/// `mc::run` for a 16-wide block with both half-sample offsets (mode 3): the
/// `16`x`H` prediction at `off` of `s` (rows `ss` apart) into `dst` (rows `ds` apart),
/// averaged with it when `avg`. Returns `false`, having done nothing, when a sample
/// read or written would be outside its slice.
#[inline(always)]
pub(crate) fn predict_xy16<const H: usize>(
    _avx2: Token,
    s: &[u8],
    off: usize,
    ss: usize,
    dst: &mut [u8],
    ds: usize,
    avg: bool,
) -> bool {
    if H == 0 {
        return false;
    }
    if !(sse2::fits(s.len(), off, ss, H + 1, 17) && sse2::fits(dst.len(), 0, ds, H, 16)) {
        return false;
    }
    // SAFETY: the token proves AVX2. Row j (j <= H) reads 17 bytes at `off + j * ss`,
    // the furthest ending at `off + H * ss + 17 <= s.len()`; row j (j < H) writes
    // (and, with `avg`, reads) 16 bytes at `j * ds`, the last ending at
    // `(H - 1) * ds + 16 <= dst.len()`. Both checked above.
    unsafe {
        let (sp, dp) = (s.as_ptr().add(off), dst.as_mut_ptr());
        if avg {
            rows_xy16::<H, true>(sp, ss, dp, ds)
        } else {
            rows_xy16::<H, false>(sp, ss, dp, ds)
        }
    }
    true
}
