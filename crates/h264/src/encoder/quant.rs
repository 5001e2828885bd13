//! The encoder's half of the transform: forward 4x4 integer transform, the forward
//! Hadamard transforms of Intra 16x16 luma DC and chroma DC, deadzone quantisation,
//! and the SAD/SATD distortion metrics. Dequantisation and the inverse transforms are
//! the decoder's (`crate::transform`), so the reconstruction is the decoder's output.
//! The 8x8 transform of High profile (forward transform, its quantiser and the
//! 8x8 Hadamard cost that decides between the two sizes) is here too.

use crate::tables::{class4, class8, NORM_ADJUST4, NORM_ADJUST8, ZIGZAG8};

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

/// Quantisation constants of one QP, worked out once: the multiplier per raster
/// position, the shift, and the deadzone rounding offsets.
#[derive(Debug, Clone)]
pub struct QuantTable {
    mf: [u32; 16],
    qbits: u32,
    /// Rounding offsets `[intra, inter]` of the 4x4 blocks; the DC transforms use
    /// twice these with one more bit of shift.
    f: [u32; 2],
}

impl QuantTable {
    pub fn new(qp: i32) -> QuantTable {
        let m = (qp % 6) as usize;
        let qbits = 15 + (qp / 6) as u32;
        QuantTable {
            mf: std::array::from_fn(|pos| MF[m][class4(pos)] as u32),
            qbits,
            f: [(1u32 << qbits) / 3, (1u32 << qbits) / 6],
        }
    }

    #[inline]
    fn f(&self, dz: Deadzone) -> u32 {
        self.f[(dz == Deadzone::Inter) as usize]
    }
}

/// `sign(c) * min((|c| * mf + f) >> qbits, MAX_LEVEL)`. Coefficients of 8-bit
/// residuals stay below 2^16 in magnitude (DC transforms included) and `mf` below
/// 2^14, so the product fits 32 bits.
#[inline(always)]
fn quant_one(c: i32, mf: u32, f: u32, qbits: u32) -> i32 {
    let q = ((c.unsigned_abs() * mf + f) >> qbits).min(MAX_LEVEL as u32) as i32;
    if c < 0 {
        -q
    } else {
        q
    }
}

/// Quantises a transformed 4x4 block into levels in zig-zag scan order; positions
/// below `start` (the DC of Intra 16x16 and chroma blocks) are left zero. Returns the
/// number of nonzero levels.
pub fn quant4(c: &[i32; 16], t: &QuantTable, dz: Deadzone, start: usize, lv: &mut [i32; 16]) -> u32 {
    let f = t.f(dz);
    let mut raster = [0i32; 16];
    for pos in 0..16 {
        raster[pos] = quant_one(c[pos], t.mf[pos], f, t.qbits);
    }
    let mut n = 0;
    for k in 0..16 {
        let q = if k < start { 0 } else { raster[crate::tables::ZIGZAG4[k] as usize] };
        lv[k] = q;
        n += (q != 0) as u32;
    }
    n
}

/// Forward transform and quantisation of the 16 Intra 16x16 DC coefficients (raster
/// over block positions) into levels in scan order.
pub fn quant_luma_dc(dc: &[i32; 16], t: &QuantTable, lv: &mut [i32; 16]) -> u32 {
    let h = hadamard4(dc);
    let f = 2 * t.f(Deadzone::Intra);
    let mut n = 0;
    for k in 0..16 {
        let pos = crate::tables::ZIGZAG4[k] as usize;
        // The DC transform gains 4 per dimension; halve it so that one quantiser step
        // of the DC matches the AC steps (the extra qbits bit does the rest).
        let q = quant_one(h[pos] >> 1, t.mf[0], f, t.qbits + 1);
        lv[k] = q;
        n += (q != 0) as u32;
    }
    n
}

/// Forward 2x2 transform and quantisation of a chroma DC block (raster 2x2).
pub fn quant_chroma_dc(dc: &[i32; 4], t: &QuantTable, dz: Deadzone, lv: &mut [i32; 4]) -> u32 {
    let f = [
        dc[0] + dc[1] + dc[2] + dc[3],
        dc[0] - dc[1] + dc[2] - dc[3],
        dc[0] + dc[1] - dc[2] - dc[3],
        dc[0] - dc[1] - dc[2] + dc[3],
    ];
    let r = 2 * t.f(dz);
    let mut n = 0;
    for i in 0..4 {
        lv[i] = quant_one(f[i], t.mf[0], r, t.qbits + 1);
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

/// SATD between `a` and `b`, both `W`-wide blocks of `h` rows (W = 8 or 16, h a
/// multiple of 4) with row stride `W`, as a sum of 4x4 SATDs (each exactly
/// [`satd4`] of its difference).
///
/// Four rows at a time: the vertical 4-point transform runs on whole rows (lanes the
/// compiler vectorises), then each group of four columns is finished with
/// `|a + b| + |a - b| = 2 max(|a|, |b|)`, which halves the last stage; the halving of
/// the SATD cancels the factor 2. A 4x4 block's Hadamard coefficients all have the
/// parity of their sum, so every block's total is even and no rounding is lost.
/// Differences lie in -255..=255 and the two stages' sums in -2040..=2040, so 16-bit
/// lanes hold them exactly (twice as many per vector as 32-bit ones).
pub fn satd_w<const W: usize>(a: &[u8], b: &[u8], h: usize) -> u32 {
    let mut sum = 0u32;
    for strip in 0..h / 4 {
        let mut d = [[0i16; W]; 4];
        for (r, row) in d.iter_mut().enumerate() {
            let o = (strip * 4 + r) * W;
            let (ra, rb) = (&a[o..o + W], &b[o..o + W]);
            for x in 0..W {
                row[x] = ra[x] as i16 - rb[x] as i16;
            }
        }
        let mut v = [[0i16; W]; 4];
        for x in 0..W {
            let (s01, d01) = (d[0][x] + d[1][x], d[0][x] - d[1][x]);
            let (s23, d23) = (d[2][x] + d[3][x], d[2][x] - d[3][x]);
            v[0][x] = s01 + s23;
            v[1][x] = s01 - s23;
            v[2][x] = d01 - d23;
            v[3][x] = d01 + d23;
        }
        let mut part = 0u32;
        for row in &v {
            for g in 0..W / 4 {
                let x = &row[g * 4..g * 4 + 4];
                let (s01, d01) = (x[0] + x[1], x[0] - x[1]);
                let (s23, d23) = (x[2] + x[3], x[2] - x[3]);
                part += (s01.unsigned_abs().max(s23.unsigned_abs()) + d01.unsigned_abs().max(d23.unsigned_abs())) as u32;
            }
        }
        sum += part;
    }
    sum
}

/// SATD of a `w` x `h` block (multiples of 4) between `a` and `b`, both of row
/// stride 16 (partitions inside a macroblock buffer).
pub fn satd_at(a: &[u8], b: &[u8], w: usize, h: usize) -> u32 {
    let mut s = 0;
    for by in (0..h).step_by(4) {
        for bx in (0..w).step_by(4) {
            let d: [i32; 16] = std::array::from_fn(|i| {
                let o = (by + i / 4) * 16 + bx + i % 4;
                a[o] as i32 - b[o] as i32
            });
            s += satd4(&d);
        }
    }
    s
}

/// SATD of two 16x16 blocks of stride 16.
#[inline]
pub fn satd16(a: &[u8; 256], b: &[u8; 256]) -> u32 {
    satd_w::<16>(a, b, 16)
}

/// SATD of two 8x8 blocks of stride 8.
#[inline]
pub fn satd8(a: &[u8; 64], b: &[u8; 64]) -> u32 {
    satd_w::<8>(a, b, 8)
}

/// Forward 8x8 core transform `T X T^T` of a residual block (raster order), with
/// `T` the integer matrix whose rows, divided by 8, are the basis the decoder's 8x8
/// inverse transform (8.5.13) sums: kept unscaled (64 times the normalised
/// coefficients) so that no precision is lost before quantisation, which divides
/// the gain out. Residuals of 8-bit samples give coefficients below 2^21.
pub fn fdct8(x: &[i32; 64]) -> [i32; 64] {
    fn one(v: [i32; 8]) -> [i32; 8] {
        let (s07, s16, s25, s34) = (v[0] + v[7], v[1] + v[6], v[2] + v[5], v[3] + v[4]);
        let (d07, d16, d25, d34) = (v[0] - v[7], v[1] - v[6], v[2] - v[5], v[3] - v[4]);
        let (a0, a1, a2, a3) = (s07 + s34, s16 + s25, s07 - s34, s16 - s25);
        [
            8 * (a0 + a1),
            12 * d07 + 10 * d16 + 6 * d25 + 3 * d34,
            8 * a2 + 4 * a3,
            10 * d07 - 3 * d16 - 12 * d25 - 6 * d34,
            8 * (a0 - a1),
            6 * d07 - 12 * d16 + 3 * d25 + 10 * d34,
            4 * a2 - 8 * a3,
            3 * d07 - 6 * d16 + 10 * d25 - 12 * d34,
        ]
    }
    let mut t = [0i32; 64];
    for i in 0..8 {
        let r = one(std::array::from_fn(|k| x[i * 8 + k]));
        t[i * 8..i * 8 + 8].copy_from_slice(&r);
    }
    let mut y = [0i32; 64];
    for j in 0..8 {
        let c = one(std::array::from_fn(|k| t[k * 8 + j]));
        for (k, v) in c.into_iter().enumerate() {
            y[k * 8 + j] = v;
        }
    }
    y
}

/// Squared norms of the rows of the forward matrix of [`fdct8`]; the rows are
/// orthogonal, so quantisation divides coefficient `(i, j)` by `n_i n_j`.
const ROW_NORM8: [u64; 8] = [512, 578, 320, 578, 512, 578, 320, 578];

/// Quantisation constants of the 8x8 transform at one QP: the multiplier per raster
/// position (the inverse of the decoder's LevelScale8x8 of flat lists and of the
/// forward gain), the shift and the deadzone offsets.
#[derive(Debug, Clone)]
pub struct QuantTable8 {
    mf: [u32; 64],
    qbits: u32,
    f: [u64; 2],
}

/// Extra shift of [`QuantTable8`]: 2^22 leaves the multipliers at about 14 bits.
const Q8_SHIFT: u32 = 22;

impl QuantTable8 {
    pub fn new(qp: i32) -> QuantTable8 {
        let m = (qp % 6) as usize;
        let qbits = Q8_SHIFT + (qp / 6) as u32;
        // level = c * 2^18 / (n_i n_j LevelScale 2^(qp/6)), LevelScale = 16 v.
        let mf = std::array::from_fn(|pos| {
            let den = ROW_NORM8[pos / 8] * ROW_NORM8[pos % 8] * NORM_ADJUST8[m][class8(pos)] as u64;
            (((1u64 << (14 + Q8_SHIFT)) + den / 2) / den) as u32
        });
        QuantTable8 {
            mf,
            qbits,
            f: [(1u64 << qbits) / 3, (1u64 << qbits) / 6],
        }
    }
}

/// Quantises a transformed 8x8 block into levels in 8x8 zig-zag scan order, each
/// at most [`MAX_LEVEL`] in magnitude. Returns the number of nonzero levels.
pub fn quant8(c: &[i32; 64], t: &QuantTable8, dz: Deadzone, lv: &mut [i32; 64]) -> u32 {
    let f = t.f[(dz == Deadzone::Inter) as usize];
    let mut n = 0;
    for k in 0..64 {
        let pos = ZIGZAG8[k] as usize;
        let v = c[pos];
        let q = ((v.unsigned_abs() as u64 * t.mf[pos] as u64 + f) >> t.qbits).min(MAX_LEVEL as u64) as i32;
        let q = if v < 0 { -q } else { q };
        lv[k] = q;
        n += (q != 0) as u32;
    }
    n
}

/// LevelScale8x8 of flat scaling lists per `qp % 6`, raster order, as the decoder
/// builds it (a constant, so that the per-QP parameter tables stay small).
pub const LEVEL_SCALE8: [[i32; 64]; 6] = {
    let mut ls = [[0i32; 64]; 6];
    let mut m = 0;
    while m < 6 {
        let mut pos = 0;
        while pos < 64 {
            ls[m][pos] = 16 * NORM_ADJUST8[m][class8(pos)] as i32;
            pos += 1;
        }
        m += 1;
    }
    ls
};

/// The decoder's scaling (8.5.12.1) of 8x8 levels in scan order into a raster
/// block, with LevelScale8x8 `ls` of `qp % 6`.
pub fn scale8(lv: &[i32; 64], ls: &[i32; 64], qp: i32) -> [i32; 64] {
    let sh = qp / 6;
    let mut coef = [0i32; 64];
    for k in 0..64 {
        if lv[k] != 0 {
            let pos = ZIGZAG8[k] as usize;
            let v = lv[k] as i64 * ls[pos] as i64;
            coef[pos] = crate::transform::saturate(if sh >= 6 {
                v << (sh - 6)
            } else {
                (v + (1 << (5 - sh))) >> (6 - sh)
            });
        }
    }
    coef
}

/// SA8D between the 8x8 blocks at `a` (row stride `sa`) and `b` (stride `sb`): the
/// absolute 8x8 Hadamard coefficients of their difference summed, over 4. On noise
/// it matches the four 4x4 SATDs; on smooth residuals, which the 8x8 transform
/// codes better, it is smaller, so comparing the two decides the transform size
/// without coding both.
///
/// The vertical butterflies run on whole rows (lanes the compiler vectorises).
/// Differences lie in -255..=255 and every stage at most doubles them, so after
/// the six stages they stay within -16320..=16320 and 16-bit lanes hold them.
pub fn sa8d(a: &[u8], sa: usize, b: &[u8], sb: usize) -> u32 {
    const PAIRS: [(usize, usize); 12] =
        [(0, 4), (1, 5), (2, 6), (3, 7), (0, 2), (1, 3), (4, 6), (5, 7), (0, 1), (2, 3), (4, 5), (6, 7)];
    let mut d = [[0i16; 8]; 8];
    for (y, row) in d.iter_mut().enumerate() {
        let (ra, rb) = (&a[y * sa..y * sa + 8], &b[y * sb..y * sb + 8]);
        for x in 0..8 {
            row[x] = ra[x] as i16 - rb[x] as i16;
        }
    }
    for (i, j) in PAIRS {
        for x in 0..8 {
            let (p, q) = (d[i][x], d[j][x]);
            d[i][x] = p + q;
            d[j][x] = p - q;
        }
    }
    let mut sum = 0u32;
    for row in &mut d {
        for (i, j) in PAIRS {
            let (p, q) = (row[i], row[j]);
            row[i] = p + q;
            row[j] = p - q;
        }
        sum += row.iter().map(|v| v.unsigned_abs() as u32).sum::<u32>();
    }
    (sum + 2) >> 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::{idct4_add, idct8_add, scale4};

    /// The 8x8 path: forward transform, quantisation at QP 0, the decoder's
    /// scaling and 8x8 inverse transform give the residual back within rounding,
    /// and at QP 24 a flat residual comes back flat.
    #[test]
    fn forward_and_inverse_8x8_transform_round_trip() {
        let ls = LEVEL_SCALE8;
        for seed in 0..20u32 {
            let x: [i32; 64] = std::array::from_fn(|i| ((i as u32 * (37 + seed) + seed * 11) % 61) as i32 - 30);
            let mut lv = [0; 64];
            quant8(&fdct8(&x), &QuantTable8::new(0), Deadzone::Intra, &mut lv);
            let coef = scale8(&lv, &ls[0], 0);
            let mut plane = [128u8; 64];
            idct8_add(&mut plane, 8, 0, &coef);
            for i in 0..64 {
                let got = plane[i] as i32 - 128;
                assert!((got - x[i]).abs() <= 1, "seed {seed}, {i}: {got} vs {}", x[i]);
            }
        }
        let x = [40i32; 64];
        let mut lv = [0; 64];
        assert_eq!(quant8(&fdct8(&x), &QuantTable8::new(24), Deadzone::Inter, &mut lv), 1);
        let coef = scale8(&lv, &ls[0], 24);
        let mut plane = [100u8; 64];
        idct8_add(&mut plane, 8, 0, &coef);
        assert!(plane.iter().all(|&p| (p as i32 - 140).abs() <= 2), "{plane:?}");
    }

    /// SA8D is the 8x8 Hadamard magnitude: a flat difference is all DC (64 x 3 / 4),
    /// a checkerboard all in the highest frequency, and full-scale differences of
    /// both signs fit its 16-bit lanes (against the Hadamard matrix itself).
    #[test]
    fn sa8d_of_flat_checkerboard_and_extreme_differences() {
        let zero = [0u8; 64];
        assert_eq!(sa8d(&[3; 64], 8, &zero, 8), 48);
        let cb: [u8; 64] = std::array::from_fn(|i| if (i % 8 + i / 8) % 2 == 0 { 10 } else { 0 });
        assert_eq!(sa8d(&cb, 8, &[5; 64], 8), 80);
        // H[i][j] = (-1)^popcount(i & j), the natural-order Hadamard matrix.
        let h = |i: usize, j: usize| if (i & j).count_ones().is_multiple_of(2) { 1i64 } else { -1 };
        let reference = |a: &[u8; 64], b: &[u8; 64]| {
            let mut sum = 0i64;
            for u in 0..8 {
                for v in 0..8 {
                    let c: i64 = (0..64).map(|k| h(u, k / 8) * h(v, k % 8) * (a[k] as i64 - b[k] as i64)).sum();
                    sum += c.abs();
                }
            }
            ((sum + 2) >> 2) as u32
        };
        let patterns: [fn(usize) -> u8; 4] = [
            |_| 255,
            |i| if (i % 8 + i / 8) % 2 == 0 { 255 } else { 0 },
            |i| ((i * 97 + 13) % 256) as u8,
            |i| if i % 3 == 0 { 255 } else { 0 },
        ];
        for pa in patterns {
            for pb in patterns {
                let (a, b): ([u8; 64], [u8; 64]) = (std::array::from_fn(pa), std::array::from_fn(pb));
                assert_eq!(sa8d(&a, 8, &b, 8), reference(&a, &b));
                assert_eq!(sa8d(&a, 8, &zero, 8), reference(&a, &zero));
            }
        }
    }

    /// Forward transform, quantisation at QP 0, the decoder's scaling and inverse
    /// transform give the residual back within rounding.
    #[test]
    fn forward_and_inverse_transform_round_trip() {
        let ls = flat_level_scale();
        let x: [i32; 16] = std::array::from_fn(|i| ((i * 37) % 23) as i32 - 11);
        let c = fdct4(&x);
        let mut lv = [0; 16];
        quant4(&c, &QuantTable::new(0), Deadzone::Intra, 0, &mut lv);
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

    /// The fast whole-block SATD is the sum of the 4x4 SATDs.
    #[test]
    fn block_satd_is_the_sum_of_4x4_satds() {
        let mut seed = 7u32;
        let mut px = || {
            seed = seed.wrapping_mul(1103515245).wrapping_add(12345);
            (seed >> 16) as u8
        };
        let a: [u8; 256] = std::array::from_fn(|_| px());
        let b: [u8; 256] = std::array::from_fn(|_| px());
        let mut want = 0;
        for by in 0..4 {
            for bx in 0..4 {
                let d: [i32; 16] = std::array::from_fn(|i| {
                    let o = (by * 4 + i / 4) * 16 + bx * 4 + i % 4;
                    a[o] as i32 - b[o] as i32
                });
                want += satd4(&d);
            }
        }
        assert_eq!(satd16(&a, &b), want);
    }

    /// The 16-bit lanes of [`satd_w`] hold the extremes: full-scale differences of
    /// both signs, flat and in every checkerboard pattern.
    #[test]
    fn block_satd_holds_extreme_differences() {
        let reference = |a: &[u8], b: &[u8], w: usize| {
            let mut s = 0;
            for by in 0..w / 4 {
                for bx in 0..w / 4 {
                    let d: [i32; 16] = std::array::from_fn(|i| {
                        let o = (by * 4 + i / 4) * w + bx * 4 + i % 4;
                        a[o] as i32 - b[o] as i32
                    });
                    s += satd4(&d);
                }
            }
            s
        };
        let patterns: [fn(usize) -> u8; 5] = [
            |_| 255,
            |_| 0,
            |i| if (i % 16 + i / 16) % 2 == 0 { 255 } else { 0 },
            |i| if (i / 16) % 2 == 0 { 255 } else { 0 },
            |i| if i % 3 == 0 { 255 } else { 0 },
        ];
        for pa in patterns {
            for pb in patterns {
                let a: [u8; 256] = std::array::from_fn(pa);
                let b: [u8; 256] = std::array::from_fn(pb);
                assert_eq!(satd16(&a, &b), reference(&a, &b, 16));
                let (a8, b8): ([u8; 64], [u8; 64]) = (std::array::from_fn(pa), std::array::from_fn(pb));
                assert_eq!(satd8(&a8, &b8), reference(&a8, &b8, 8));
            }
        }
        let (a, b) = ([255u8; 256], [0u8; 256]);
        // 16 blocks whose flat difference of 255 has the DC 16 x 255, halved.
        assert_eq!(satd16(&a, &b), 16 * 8 * 255);
    }

    #[test]
    fn satd_of_a_flat_difference_is_its_dc() {
        let d = [2i32; 16];
        // The Hadamard DC is 32, everything else zero: half of 32.
        assert_eq!(satd4(&d), 16);
    }
}
