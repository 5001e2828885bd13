//! The encoder's half of the transform: forward 4x4 integer transform, the forward
//! Hadamard transforms of Intra 16x16 luma DC and chroma DC, deadzone quantisation,
//! and the SAD/SATD distortion metrics. Dequantisation and the inverse transforms are
//! the decoder's (`crate::transform`), so the reconstruction is the decoder's output.

use crate::tables::{class4, NORM_ADJUST4};

/// Quantisation multipliers per `qp % 6` and position class (even/even, odd/odd,
/// other): `MF = 2^15 / (normAdjust4 * Cf norm)`, the values the standard's scaling
/// inverts (see 8.5.12 and its informative derivation).
const MF: [[i32; 3]; 6] = [
    [13107, 5243, 8066],
    [11916, 4660, 7490],
    [10082, 4194, 6554],
    [9362, 3647, 5825],
    [8192, 3355, 5243],
    [7282, 2893, 4559],
];

/// Largest level magnitude written: with level_prefix at most 15 (Baseline and Main,
/// 9.2.2.1) every level up to this fits whatever the suffix length. Only QPs below 6
/// on extreme content reach it; clamping there only costs quality, and the
/// reconstruction uses the clamped level, so it stays exact.
pub const MAX_LEVEL: i32 = 2063;

/// LevelScale4x4 of flat scaling lists (weightScale 16) per `qp % 6`, raster order,
/// as the decoder builds it.
pub fn flat_level_scale() -> [[i32; 16]; 6] {
    let mut ls = [[0i32; 16]; 6];
    for (m, row) in ls.iter_mut().enumerate() {
        for (pos, v) in row.iter_mut().enumerate() {
            *v = 16 * NORM_ADJUST4[m][class4(pos)] as i32;
        }
    }
    ls
}

/// Forward 4x4 core transform `Cf X Cf^T` of a residual block (raster order).
pub fn fdct4(x: &[i32; 16]) -> [i32; 16] {
    let mut t = [0i32; 16];
    for i in 0..4 {
        let r = &x[i * 4..i * 4 + 4];
        let (a, b) = (r[0] + r[3], r[1] + r[2]);
        let (c, d) = (r[1] - r[2], r[0] - r[3]);
        t[i * 4] = a + b;
        t[i * 4 + 1] = 2 * d + c;
        t[i * 4 + 2] = a - b;
        t[i * 4 + 3] = d - 2 * c;
    }
    let mut y = [0i32; 16];
    for j in 0..4 {
        let (a, b) = (t[j] + t[12 + j], t[4 + j] + t[8 + j]);
        let (c, d) = (t[4 + j] - t[8 + j], t[j] - t[12 + j]);
        y[j] = a + b;
        y[4 + j] = 2 * d + c;
        y[8 + j] = a - b;
        y[12 + j] = d - 2 * c;
    }
    y
}

/// 4x4 Hadamard transform (raster), unnormalised.
pub fn hadamard4(x: &[i32; 16]) -> [i32; 16] {
    let mut t = [0i32; 16];
    for i in 0..4 {
        let r = &x[i * 4..i * 4 + 4];
        let (a, b) = (r[0] + r[1], r[0] - r[1]);
        let (c, d) = (r[2] + r[3], r[2] - r[3]);
        t[i * 4] = a + c;
        t[i * 4 + 1] = a - c;
        t[i * 4 + 2] = b - d;
        t[i * 4 + 3] = b + d;
    }
    let mut y = [0i32; 16];
    for j in 0..4 {
        let (a, b) = (t[j] + t[4 + j], t[j] - t[4 + j]);
        let (c, d) = (t[8 + j] + t[12 + j], t[8 + j] - t[12 + j]);
        y[j] = a + c;
        y[4 + j] = a - c;
        y[8 + j] = b - d;
        y[12 + j] = b + d;
    }
    y
}

/// Deadzone rounding offsets as a fraction of the step, in 1/64: intra 1/3 (the
/// H.264 reference model's choice for I blocks) and inter 1/6, where small
/// coefficients are cheaper to drop because motion compensation already predicts
/// most of the signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadzone {
    Intra,
    Inter,
}

#[inline]
fn quant_one(c: i32, mf: i32, qbits: u32, dz: Deadzone) -> i32 {
    let f = match dz {
        Deadzone::Intra => (1i64 << qbits) / 3,
        Deadzone::Inter => (1i64 << qbits) / 6,
    };
    let q = ((c.unsigned_abs() as i64 * mf as i64 + f) >> qbits) as i32;
    let q = q.min(MAX_LEVEL);
    if c < 0 {
        -q
    } else {
        q
    }
}

/// Quantises a transformed 4x4 block into levels in zig-zag scan order; positions
/// below `start` (the DC of Intra 16x16 and chroma blocks) are left zero. Returns the
/// number of nonzero levels.
pub fn quant4(c: &[i32; 16], qp: i32, dz: Deadzone, start: usize, lv: &mut [i32; 16]) -> u32 {
    let m = (qp % 6) as usize;
    let qbits = 15 + (qp / 6) as u32;
    let mut n = 0;
    for k in 0..16 {
        lv[k] = 0;
        if k < start {
            continue;
        }
        let pos = crate::tables::ZIGZAG4[k] as usize;
        let q = quant_one(c[pos], MF[m][class4(pos)], qbits, dz);
        lv[k] = q;
        n += (q != 0) as u32;
    }
    n
}

/// Forward transform and quantisation of the 16 Intra 16x16 DC coefficients (raster
/// over block positions) into levels in scan order.
pub fn quant_luma_dc(dc: &[i32; 16], qp: i32, lv: &mut [i32; 16]) -> u32 {
    let h = hadamard4(dc);
    let m = (qp % 6) as usize;
    let qbits = 16 + (qp / 6) as u32;
    let mut n = 0;
    for k in 0..16 {
        let pos = crate::tables::ZIGZAG4[k] as usize;
        // The DC transform gains 4 per dimension; halve it so that one quantiser step
        // of the DC matches the AC steps (the extra qbits bit does the rest).
        let q = quant_one(h[pos] >> 1, MF[m][0], qbits, Deadzone::Intra);
        lv[k] = q;
        n += (q != 0) as u32;
    }
    n
}

/// Forward 2x2 transform and quantisation of a chroma DC block (raster 2x2).
pub fn quant_chroma_dc(dc: &[i32; 4], qp: i32, dz: Deadzone, lv: &mut [i32; 4]) -> u32 {
    let f = [
        dc[0] + dc[1] + dc[2] + dc[3],
        dc[0] - dc[1] + dc[2] - dc[3],
        dc[0] + dc[1] - dc[2] - dc[3],
        dc[0] - dc[1] - dc[2] + dc[3],
    ];
    let m = (qp % 6) as usize;
    let qbits = 16 + (qp / 6) as u32;
    let mut n = 0;
    for i in 0..4 {
        lv[i] = quant_one(f[i], MF[m][0], qbits, dz);
        n += (lv[i] != 0) as u32;
    }
    n
}

/// SATD of a 4x4 difference: half the sum of absolute Hadamard coefficients, the
/// usual estimate of the bits a residual block costs.
#[inline]
pub fn satd4(d: &[i32; 16]) -> u32 {
    let h = hadamard4(d);
    (h.iter().map(|v| v.unsigned_abs()).sum::<u32>() + 1) >> 1
}

/// SATD between `a` and `b`, both `n` x `n` blocks of row stride 16 (n = 4, 8 or 16),
/// as a sum of 4x4 SATDs.
pub fn satd(a: &[u8], b: &[u8], stride: usize, n: usize) -> u32 {
    let mut s = 0;
    for by in (0..n).step_by(4) {
        for bx in (0..n).step_by(4) {
            let mut d = [0i32; 16];
            for y in 0..4 {
                let o = (by + y) * stride + bx;
                for x in 0..4 {
                    d[y * 4 + x] = a[o + x] as i32 - b[o + x] as i32;
                }
            }
            s += satd4(&d);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::{idct4_add, scale4};

    /// Forward transform, quantisation at QP 0, the decoder's scaling and inverse
    /// transform give the residual back within rounding.
    #[test]
    fn forward_and_inverse_transform_round_trip() {
        let ls = flat_level_scale();
        let x: [i32; 16] = std::array::from_fn(|i| ((i * 37) % 23) as i32 - 11);
        let c = fdct4(&x);
        let mut lv = [0; 16];
        quant4(&c, 0, Deadzone::Intra, 0, &mut lv);
        let mut coef = [0i32; 16];
        for k in 0..16 {
            let pos = crate::tables::ZIGZAG4[k] as usize;
            coef[pos] = scale4(lv[k], ls[0][pos], 0);
        }
        let mut plane = [128u8; 16];
        idct4_add(&mut plane, 4, 0, &coef);
        for i in 0..16 {
            let got = plane[i] as i32 - 128;
            assert!((got - x[i]).abs() <= 1, "{i}: {got} vs {}", x[i]);
        }
    }

    #[test]
    fn satd_of_a_flat_difference_is_its_dc() {
        let d = [2i32; 16];
        // The Hadamard DC is 32, everything else zero: half of 32.
        assert_eq!(satd4(&d), 16);
    }
}
