//! Inverse transforms (clauses 8.5.10 to 8.5.13): 4x4 and 8x8 integer transforms added
//! onto the prediction, and the DC transforms of Intra 16x16 luma and 4:2:0 chroma.

#[inline]
fn clip(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// Inverse 4x4 transform of `c` (raster order, already scaled) added to the block at
/// `off`. Rows first, then columns, as the standard orders them for bit exactness.
pub fn idct4_add(plane: &mut [u8], stride: usize, off: usize, c: &[i32; 16]) {
    let mut t = [0i32; 16];
    for i in 0..4 {
        let d = &c[i * 4..i * 4 + 4];
        let e0 = d[0] + d[2];
        let e1 = d[0] - d[2];
        let e2 = (d[1] >> 1) - d[3];
        let e3 = d[1] + (d[3] >> 1);
        t[i * 4] = e0 + e3;
        t[i * 4 + 1] = e1 + e2;
        t[i * 4 + 2] = e1 - e2;
        t[i * 4 + 3] = e0 - e3;
    }
    // Columns as four lanes at a time, then one row slice per output row: the
    // compiler vectorises both, and each row store is bounds-checked once.
    let mut r = [[0i32; 4]; 4];
    for j in 0..4 {
        let e0 = t[j] + t[8 + j];
        let e1 = t[j] - t[8 + j];
        let e2 = (t[4 + j] >> 1) - t[12 + j];
        let e3 = t[4 + j] + (t[12 + j] >> 1);
        r[0][j] = e0 + e3;
        r[1][j] = e1 + e2;
        r[2][j] = e1 - e2;
        r[3][j] = e0 - e3;
    }
    for (i, r) in r.iter().enumerate() {
        let row = &mut plane[off + i * stride..off + i * stride + 4];
        for (p, v) in row.iter_mut().zip(r) {
            *p = clip(*p as i32 + ((v + 32) >> 6));
        }
    }
}

/// Adds a DC-only 4x4 residual (all other coefficients zero) to the block at `off`.
pub fn dc4_add(plane: &mut [u8], stride: usize, off: usize, dc: i32) {
    let v = (dc + 32) >> 6;
    for i in 0..4 {
        for p in &mut plane[off + i * stride..off + i * stride + 4] {
            *p = clip(*p as i32 + v);
        }
    }
}

fn idct8_1d(d: [i32; 8]) -> [i32; 8] {
    let e0 = d[0] + d[4];
    let e1 = -d[3] + d[5] - d[7] - (d[7] >> 1);
    let e2 = d[0] - d[4];
    let e3 = d[1] + d[7] - d[3] - (d[3] >> 1);
    let e4 = (d[2] >> 1) - d[6];
    let e5 = -d[1] + d[7] + d[5] + (d[5] >> 1);
    let e6 = d[2] + (d[6] >> 1);
    let e7 = d[3] + d[5] + d[1] + (d[1] >> 1);
    let f0 = e0 + e6;
    let f1 = e1 + (e7 >> 2);
    let f2 = e2 + e4;
    let f3 = e3 + (e5 >> 2);
    let f4 = e2 - e4;
    let f5 = (e3 >> 2) - e5;
    let f6 = e0 - e6;
    let f7 = e7 - (e1 >> 2);
    [
        f0 + f7,
        f2 + f5,
        f4 + f3,
        f6 + f1,
        f6 - f1,
        f4 - f3,
        f2 - f5,
        f0 - f7,
    ]
}

/// Inverse 8x8 transform of `c` (raster order, scaled) added to the block at `off`.
pub fn idct8_add(plane: &mut [u8], stride: usize, off: usize, c: &[i32; 64]) {
    let mut t = [[0i32; 8]; 8];
    for (i, t) in t.iter_mut().enumerate() {
        let mut d = [0i32; 8];
        d.copy_from_slice(&c[i * 8..i * 8 + 8]);
        *t = idct8_1d(d);
    }
    // The column pass runs on whole rows (lane j of every row is column j), so it
    // vectorises; then one bounds-checked row slice per output row.
    let mut r = [[0i32; 8]; 8];
    for j in 0..8 {
        let col = idct8_1d([t[0][j], t[1][j], t[2][j], t[3][j], t[4][j], t[5][j], t[6][j], t[7][j]]);
        for i in 0..8 {
            r[i][j] = col[i];
        }
    }
    for (i, r) in r.iter().enumerate() {
        let row = &mut plane[off + i * stride..off + i * stride + 8];
        for (p, v) in row.iter_mut().zip(r) {
            *p = clip(*p as i32 + ((v + 32) >> 6));
        }
    }
}

/// Scales one 4x4 level (8.5.12.1): `ls` is LevelScale4x4(qP % 6, i, j) (the flat or
/// weighted factor of the coefficient's position). The decoder's dequantisation and the
/// encoder's reconstruction both go through here, so they cannot disagree.
#[inline]
pub fn scale4(level: i32, ls: i32, qp: i32) -> i32 {
    let v = level as i64 * ls as i64;
    let sh = qp / 6;
    saturate(if sh >= 4 {
        v << (sh - 4)
    } else {
        (v + (1 << (3 - sh))) >> (4 - sh)
    })
}

/// Scaled coefficients of conforming 8-bit streams lie in -2^15..2^15 (8.5.12.1); damaged
/// ones are saturated well beyond that, so that the transforms cannot overflow.
#[inline]
pub fn saturate(v: i64) -> i32 {
    v.clamp(-(1 << 20), 1 << 20) as i32
}

/// Inverse Hadamard of the Intra 16x16 luma DC levels (raster 4x4 matrix `c`) and their
/// scaling (8.5.10); `scale` is LevelScale4x4(qP % 6, 0, 0).
pub fn luma_dc_dequant(c: &mut [i32; 16], qp: i32, scale: i32) {
    let mut t = [0i32; 16];
    for i in 0..4 {
        let r = &c[i * 4..i * 4 + 4];
        let (a, b) = (r[0] + r[1], r[0] - r[1]);
        let (cc, d) = (r[2] + r[3], r[2] - r[3]);
        t[i * 4] = a + cc;
        t[i * 4 + 1] = a - cc;
        t[i * 4 + 2] = b - d;
        t[i * 4 + 3] = b + d;
    }
    for j in 0..4 {
        let (a, b) = (t[j] + t[4 + j], t[j] - t[4 + j]);
        let (cc, d) = (t[8 + j] + t[12 + j], t[8 + j] - t[12 + j]);
        let f = [a + cc, a - cc, b - d, b + d];
        for i in 0..4 {
            let v = f[i] as i64 * scale as i64;
            c[i * 4 + j] = saturate(if qp >= 36 {
                v << (qp / 6 - 6)
            } else {
                (v + (1 << (5 - qp / 6))) >> (6 - qp / 6)
            });
        }
    }
}

/// Inverse 2x2 transform and scaling of 4:2:0 chroma DC levels (8.5.11).
pub fn chroma_dc_dequant(c: &mut [i32; 4], qp: i32, scale: i32) {
    let f = [
        c[0] + c[1] + c[2] + c[3],
        c[0] - c[1] + c[2] - c[3],
        c[0] + c[1] - c[2] - c[3],
        c[0] - c[1] - c[2] + c[3],
    ];
    for i in 0..4 {
        c[i] = saturate(((f[i] as i64 * scale as i64) << (qp / 6)) >> 5);
    }
}
