//! The 8x8 inverse DCT with the integer arithmetic of FFmpeg's "simple" IDCT (8-bit),
//! so that decoded frames match FFmpeg's bit for bit: rows first on 16-bit values,
//! then columns, with the published constants and rounding.

use crate::kernels::Isa;
use std::num::Wrapping as W;

const W1: i32 = 22725;
const W2: i32 = 21407;
const W3: i32 = 19266;
const W4: i32 = 16383;
const W5: i32 = 12873;
const W6: i32 = 8867;
const W7: i32 = 4520;
const ROW_SHIFT: u32 = 11;
const COL_SHIFT: u32 = 20;
/// Rounding for the column pass, folded into the DC input before the W4 multiply.
const COL_BIAS: i32 = (1 << (COL_SHIFT - 1)) / W4;

/// One row, in place. A row whose AC coefficients are all zero takes the shortcut of
/// the reference implementation (`x0 << 3`, truncated to 16 bits), which is not
/// numerically the full formula.
#[cfg(test)]
fn row(r: &mut [i16; 8]) {
    if (r[1] | r[2] | r[3] | r[4] | r[5] | r[6] | r[7]) == 0 {
        let v = ((r[0] as i32) << 3) as i16;
        *r = [v; 8];
        return;
    }
    row_full(r);
}

/// One row with AC coefficients.
#[inline(always)]
fn row_full(r: &mut [i16; 8]) {
    let x: [i32; 8] = r.map(|v| v as i32);
    // Coefficients are saturated to 12 bits before the transform, so no product or
    // sum of the row pass can overflow 32 bits.
    let mut a0 = W4 * x[0] + (1 << (ROW_SHIFT - 1));
    let mut a1 = a0;
    let mut a2 = a0;
    let mut a3 = a0;
    a0 += W2 * x[2];
    a1 += W6 * x[2];
    a2 -= W6 * x[2];
    a3 -= W2 * x[2];
    let mut b0 = W1 * x[1] + W3 * x[3];
    let mut b1 = W3 * x[1] - W7 * x[3];
    let mut b2 = W5 * x[1] - W1 * x[3];
    let mut b3 = W7 * x[1] - W5 * x[3];
    a0 += W4 * x[4] + W6 * x[6];
    a1 += -W4 * x[4] - W2 * x[6];
    a2 += -W4 * x[4] + W2 * x[6];
    a3 += W4 * x[4] - W6 * x[6];
    b0 += W5 * x[5] + W7 * x[7];
    b1 += -W1 * x[5] - W5 * x[7];
    b2 += W7 * x[5] + W3 * x[7];
    b3 += W3 * x[5] - W1 * x[7];
    r[0] = ((a0 + b0) >> ROW_SHIFT) as i16;
    r[7] = ((a0 - b0) >> ROW_SHIFT) as i16;
    r[1] = ((a1 + b1) >> ROW_SHIFT) as i16;
    r[6] = ((a1 - b1) >> ROW_SHIFT) as i16;
    r[2] = ((a2 + b2) >> ROW_SHIFT) as i16;
    r[5] = ((a2 - b2) >> ROW_SHIFT) as i16;
    r[3] = ((a3 + b3) >> ROW_SHIFT) as i16;
    r[4] = ((a3 - b3) >> ROW_SHIFT) as i16;
}

/// The column pass over all eight columns at once (lane-wise, so it vectorises).
/// Row values may be any 16-bit number after the row pass, so the arithmetic wraps
/// as the reference's 32-bit `int` does in practice. `HIGH` false: rows 4..8 are zero
/// and their (zero) terms are left out, which changes no result.
#[inline(always)]
fn columns<const HIGH: bool>(b: &[[i16; 8]; 8], out: &mut [[i16; 8]; 8]) {
    for c in 0..8 {
        let x = |k: usize| W(b[k][c] as i32);
        // W4 * (x0 + bias) as W4 * x0 + W4 * bias (equal in wrapping arithmetic), so
        // every product is of two 16-bit values, which SSE2 multiplies lane-wise.
        let mut a0 = W(W4) * x(0) + W(W4 * COL_BIAS);
        let mut a1 = a0;
        let mut a2 = a0;
        let mut a3 = a0;
        a0 += W(W2) * x(2);
        a1 += W(W6) * x(2);
        a2 -= W(W6) * x(2);
        a3 -= W(W2) * x(2);
        let mut b0 = W(W1) * x(1) + W(W3) * x(3);
        let mut b1 = W(W3) * x(1) - W(W7) * x(3);
        let mut b2 = W(W5) * x(1) - W(W1) * x(3);
        let mut b3 = W(W7) * x(1) - W(W5) * x(3);
        if HIGH {
            a0 += W(W4) * x(4) + W(W6) * x(6);
            a1 += W(-W4) * x(4) - W(W2) * x(6);
            a2 += W(-W4) * x(4) + W(W2) * x(6);
            a3 += W(W4) * x(4) - W(W6) * x(6);
            b0 += W(W5) * x(5) + W(W7) * x(7);
            b1 += W(-W1) * x(5) - W(W5) * x(7);
            b2 += W(W7) * x(5) + W(W3) * x(7);
            b3 += W(W3) * x(5) - W(W1) * x(7);
        }
        out[0][c] = (((a0 + b0).0) >> COL_SHIFT) as i16;
        out[1][c] = (((a1 + b1).0) >> COL_SHIFT) as i16;
        out[2][c] = (((a2 + b2).0) >> COL_SHIFT) as i16;
        out[3][c] = (((a3 + b3).0) >> COL_SHIFT) as i16;
        out[4][c] = (((a3 - b3).0) >> COL_SHIFT) as i16;
        out[5][c] = (((a2 - b2).0) >> COL_SHIFT) as i16;
        out[6][c] = (((a1 - b1).0) >> COL_SHIFT) as i16;
        out[7][c] = (((a0 - b0).0) >> COL_SHIFT) as i16;
    }
}

/// Inverse transform of `block` (raster order), clearing it for the next use.
/// `rows` has bit `r` set when row `r` may hold a non-zero coefficient (the other rows
/// are zero and stay zero through the row pass), `ac` when it may hold one outside
/// column 0 (the others take the DC shortcut). The column outputs of 12-bit
/// coefficients fit in 16 bits. Returns the spatial residual.
#[inline]
pub(crate) fn idct(block: &mut [[i16; 8]; 8], rows: u8, ac: u8, out: &mut [[i16; 8]; 8]) {
    if rows == 1 && ac == 0 {
        // DC only: every row but the first is zero, and the column pass of a lone DC
        // value is the same for every sample.
        let v = ((block[0][0] as i32) << 3) as i16 as i32;
        let s = (W4 * (v + COL_BIAS)) >> COL_SHIFT;
        *out = [[s as i16; 8]; 8];
        block[0][0] = 0;
        return;
    }
    for r in 0..8 {
        if ac & (1 << r) != 0 {
            row_full(&mut block[r]);
        } else if rows & (1 << r) != 0 {
            let v = ((block[r][0] as i32) << 3) as i16;
            block[r] = [v; 8];
        }
    }
    if rows & 0xf0 == 0 {
        columns::<false>(block, out);
        for r in 0..4 {
            block[r] = [0; 8];
        }
    } else {
        columns::<true>(block, out);
        *block = [[0; 8]; 8];
    }
}

/// How a residual meets the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Store {
    /// Intra: the residual itself, clamped to 0..=255.
    Put,
    /// Inter: added to the prediction already there, clamped.
    Add,
}

/// Inverse transform of `block` (see [`idct`]) stored into the 8x8 samples of `dst`
/// at `off`, rows `stride` apart, with the chosen kernels; `res` is the portable
/// path's scratch. Inlined where blocks are stored, so that the AVX2 transform is
/// one call away and a DC-only block none; the SSE2 and portable paths are calls.
#[inline(always)]
pub(crate) fn idct_store(
    isa: Isa,
    block: &mut [[i16; 8]; 8],
    rows: u8,
    ac: u8,
    res: &mut [[i16; 8]; 8],
    dst: &mut [u8],
    off: usize,
    stride: usize,
    how: Store,
) {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::simd::avx2;
        let done = match isa {
            Isa::Avx2(t) => avx2::idct_store(t, block, rows, ac, dst, off, stride, how),
            Isa::Sse2 => sse2_store(block, rows, ac, dst, off, stride, how),
            Isa::Portable => false,
        };
        if done {
            return;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = isa;
    portable_store(block, rows, ac, res, dst, off, stride, how);
}

/// The SSE2 path of [`idct_store`], out of line (it is not the default).
#[cfg(target_arch = "x86_64")]
#[inline(never)]
fn sse2_store(
    block: &mut [[i16; 8]; 8],
    rows: u8,
    ac: u8,
    dst: &mut [u8],
    off: usize,
    stride: usize,
    how: Store,
) -> bool {
    crate::simd::sse2::idct_store(block, rows, ac, dst, off, stride, how)
}

/// The portable path of [`idct_store`], out of line.
#[inline(never)]
fn portable_store(
    block: &mut [[i16; 8]; 8],
    rows: u8,
    ac: u8,
    res: &mut [[i16; 8]; 8],
    dst: &mut [u8],
    off: usize,
    stride: usize,
    how: Store,
) {
    idct(block, rows, ac, res);
    match how {
        Store::Put => put(res, dst, off, stride),
        Store::Add => add(res, dst, off, stride),
    }
}

/// Writes a residual as an intra block ("put"): clamped to 0..=255.
#[inline]
pub(crate) fn put(res: &[[i16; 8]; 8], dst: &mut [u8], off: usize, stride: usize) {
    for (y, r) in res.iter().enumerate() {
        let d: &mut [u8; 8] = (&mut dst[off + y * stride..off + y * stride + 8])
            .try_into()
            .expect("8 samples");
        for x in 0..8 {
            d[x] = r[x].clamp(0, 255) as u8;
        }
    }
}

/// Adds a residual to the prediction already in `dst` ("add"), clamped to 0..=255.
#[inline]
pub(crate) fn add(res: &[[i16; 8]; 8], dst: &mut [u8], off: usize, stride: usize) {
    for (y, r) in res.iter().enumerate() {
        let d: &mut [u8; 8] = (&mut dst[off + y * stride..off + y * stride + 8])
            .try_into()
            .expect("8 samples");
        for x in 0..8 {
            d[x] = (d[x] as i16 + r[x]).clamp(0, 255) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(block: &[[i16; 8]; 8]) -> [[i16; 8]; 8] {
        let mut b = *block;
        for r in 0..8 {
            row(&mut b[r]);
        }
        let mut out = [[0; 8]; 8];
        columns::<true>(&b, &mut out);
        out
    }

    #[test]
    fn the_low_rows_pass_equals_the_full_one() {
        let mut seed = 1u32;
        for _ in 0..200 {
            let mut b = [[0i16; 8]; 8];
            for r in 0..4 {
                for c in 0..8 {
                    seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
                    if seed >> 29 == 0 {
                        b[r][c] = ((seed >> 8) % 4096) as i16 - 2048;
                    }
                }
            }
            let want = full(&b);
            let mut rows = 0u8;
            let mut ac = 0u8;
            for r in 0..8 {
                rows |= (b[r].iter().any(|&v| v != 0) as u8) << r;
                ac |= (b[r][1..].iter().any(|&v| v != 0) as u8) << r;
            }
            let mut out = [[0; 8]; 8];
            idct(&mut b, rows, ac, &mut out);
            assert_eq!(out, want);
            assert_eq!(b, [[0; 8]; 8]);
        }
    }

    #[test]
    fn dc_shortcut_equals_the_full_transform() {
        for dc in [-2048i16, -1000, -9, -1, 0, 1, 7, 8, 255, 1024, 2047] {
            let mut b = [[0i16; 8]; 8];
            b[0][0] = dc;
            let want = full(&b);
            let mut out = [[0; 8]; 8];
            idct(&mut b, 1, 0, &mut out);
            assert_eq!(out, want, "dc {dc}");
            assert_eq!(b, [[0; 8]; 8]);
        }
    }

    #[test]
    fn a_flat_block_reconstructs_its_mean() {
        // DC 8 * 128 is a flat block of 128 after the 1/8 scaling of the 2-D DCT.
        let mut b = [[0i16; 8]; 8];
        b[0][0] = 1024;
        let mut out = [[0; 8]; 8];
        idct(&mut b, 1, 0, &mut out);
        assert_eq!(out, [[128; 8]; 8]);
    }
}
