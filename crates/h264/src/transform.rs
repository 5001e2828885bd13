//! Inverse transforms (clauses 8.5.10 to 8.5.13): 4x4 and 8x8 integer transforms added
//! onto the prediction, and the DC transforms of Intra 16x16 luma and 4:2:0 chroma.

/// One 1-D 4-point inverse transform (8.5.12.2) on four lanes at once: `d[k]` holds
/// input `k` of every lane, the result output `k` of every lane.
#[inline(always)]
fn idct4_lanes(d: [[i32; 4]; 4]) -> [[i32; 4]; 4] {
    let mut o = [[0i32; 4]; 4];
    for l in 0..4 {
        let e0 = d[0][l] + d[2][l];
        let e1 = d[0][l] - d[2][l];
        let e2 = (d[1][l] >> 1) - d[3][l];
        let e3 = d[1][l] + (d[3][l] >> 1);
        o[0][l] = e0 + e3;
        o[1][l] = e1 + e2;
        o[2][l] = e1 - e2;
        o[3][l] = e0 - e3;
    }
    o
}

/// The transpose of a 4x4 matrix held as four rows.
#[inline(always)]
fn transpose4(m: [[i32; 4]; 4]) -> [[i32; 4]; 4] {
    let mut t = [[0i32; 4]; 4];
    for (i, row) in m.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            t[j][i] = *v;
        }
    }
    t
}

/// Adds one row of residual `r` (before its final rounding shift) to four samples:
/// `clip(p + ((r + 32) >> 6))`, computed as a signed 16-bit saturation of the residual,
/// a saturating 16-bit add and an unsigned 8-bit saturation, which gives the same
/// result for every input and maps onto SSE2's packs and saturating adds.
#[inline(always)]
fn add_row<const W: usize>(row: &mut [u8; W], r: &[i32; W]) {
    for (p, v) in row.iter_mut().zip(r) {
        let s = ((v + 32) >> 6).clamp(i16::MIN as i32, i16::MAX as i32) as i16;
        *p = (*p as i16).saturating_add(s).clamp(0, 255) as u8;
    }
}

/// The `W` samples at `at` of a plane, read-only.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline(always)]
fn row_ref<const W: usize>(plane: &[u8], at: usize) -> &[u8; W] {
    let len = plane.len();
    let Some(row) = plane.get(at..).and_then(|p| p.first_chunk::<W>()) else {
        panic!("transform block outside the plane: {at} + {W} > {len}")
    };
    row
}

/// The `W` samples at `at` of a plane as an array (a bounds check once per row).
#[inline(always)]
fn row_mut<const W: usize>(plane: &mut [u8], at: usize) -> &mut [u8; W] {
    let len = plane.len();
    let Some(row) = plane.get_mut(at..).and_then(|p| p.first_chunk_mut::<W>()) else {
        panic!("transform block outside the plane: {at} + {W} > {len}")
    };
    row
}

/// Inverse 4x4 transform of `c` (raster order, already scaled) added to the block at
/// `off`. Rows first, then columns, as the standard orders them for bit exactness.
/// On x86-64 this runs [`sse2::idct4_add`] (SSE2 is part of the baseline target, and
/// its intrinsics are safe to call there); elsewhere the lane-wise portable code,
/// which the tests check gives the same samples.
#[allow(unsafe_code)]
pub fn idct4_add(plane: &mut [u8], stride: usize, off: usize, c: &[i32; 16]) {
    // SAFETY: the kernel is compiled with `target_feature(enable = "sse2")`, which
    // every x86-64 CPU has (it is part of the baseline target); the call is unsafe
    // only because the compiler asks the caller to vouch for the feature. The kernel
    // itself is safe code.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        sse2::idct4_add(plane, stride, off, c)
    };
    #[cfg(not(target_arch = "x86_64"))]
    idct4_add_portable(plane, stride, off, c);
}

/// [`idct4_add`] in portable Rust: both passes lane-wise (the row pass on the
/// transposed block).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn idct4_add_portable(plane: &mut [u8], stride: usize, off: usize, c: &[i32; 16]) {
    let rows: [[i32; 4]; 4] = [
        [c[0], c[1], c[2], c[3]],
        [c[4], c[5], c[6], c[7]],
        [c[8], c[9], c[10], c[11]],
        [c[12], c[13], c[14], c[15]],
    ];
    // Lane i of input k is row i's coefficient k: the row pass, giving column k of
    // every row, which transposed is the rows of the intermediate block.
    let t = transpose4(idct4_lanes(transpose4(rows)));
    let r = idct4_lanes(t);
    for (i, r) in r.iter().enumerate() {
        add_row(row_mut::<4>(plane, off + i * stride), r);
    }
}

/// The 4x4 inverse transform in SSE2 registers: the compiler does not vectorise the
/// portable code's transposes, and a 4x4 block is a third of all the reconstruction
/// work on dense streams. Only intrinsics that take no pointers are used, so there is
/// no `unsafe` inside: samples go in and out as `i32` words.
#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "sse2")]
    fn transpose(m: [__m128i; 4]) -> [__m128i; 4] {
        let a = _mm_unpacklo_epi32(m[0], m[1]);
        let b = _mm_unpacklo_epi32(m[2], m[3]);
        let c = _mm_unpackhi_epi32(m[0], m[1]);
        let d = _mm_unpackhi_epi32(m[2], m[3]);
        [
            _mm_unpacklo_epi64(a, b),
            _mm_unpackhi_epi64(a, b),
            _mm_unpacklo_epi64(c, d),
            _mm_unpackhi_epi64(c, d),
        ]
    }

    /// [`super::idct4_lanes`] on four lanes.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn lanes(d: [__m128i; 4]) -> [__m128i; 4] {
        let e0 = _mm_add_epi32(d[0], d[2]);
        let e1 = _mm_sub_epi32(d[0], d[2]);
        let e2 = _mm_sub_epi32(_mm_srai_epi32::<1>(d[1]), d[3]);
        let e3 = _mm_add_epi32(d[1], _mm_srai_epi32::<1>(d[3]));
        [
            _mm_add_epi32(e0, e3),
            _mm_add_epi32(e1, e2),
            _mm_sub_epi32(e1, e2),
            _mm_sub_epi32(e0, e3),
        ]
    }

    /// Four samples of a row as the low word of a register.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn load4(plane: &[u8], at: usize) -> __m128i {
        _mm_cvtsi32_si128(i32::from_le_bytes(*super::row_ref::<4>(plane, at)))
    }

    /// `(v + 32) >> 6` per lane.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn res(v: __m128i) -> __m128i {
        _mm_srai_epi32::<6>(_mm_add_epi32(v, _mm_set1_epi32(32)))
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) fn idct4_add(plane: &mut [u8], stride: usize, off: usize, c: &[i32; 16]) {
        let rows = [
            _mm_set_epi32(c[3], c[2], c[1], c[0]),
            _mm_set_epi32(c[7], c[6], c[5], c[4]),
            _mm_set_epi32(c[11], c[10], c[9], c[8]),
            _mm_set_epi32(c[15], c[14], c[13], c[12]),
        ];
        let r = lanes(transpose(lanes(transpose(rows))));
        // (r + 32) >> 6, saturated to 16 bits two rows at a time, added with 16-bit
        // saturation to the samples and saturated to 8 bits: the portable add_row.
        let r01 = _mm_packs_epi32(res(r[0]), res(r[1]));
        let r23 = _mm_packs_epi32(res(r[2]), res(r[3]));
        let zero = _mm_setzero_si128();
        let at = [off, off + stride, off + 2 * stride, off + 3 * stride];
        let p01 = _mm_unpacklo_epi8(
            _mm_unpacklo_epi32(load4(plane, at[0]), load4(plane, at[1])),
            zero,
        );
        let p23 = _mm_unpacklo_epi8(
            _mm_unpacklo_epi32(load4(plane, at[2]), load4(plane, at[3])),
            zero,
        );
        let out = _mm_packus_epi16(_mm_adds_epi16(p01, r01), _mm_adds_epi16(p23, r23));
        let words = [
            _mm_cvtsi128_si32(out),
            _mm_cvtsi128_si32(_mm_srli_si128::<4>(out)),
            _mm_cvtsi128_si32(_mm_srli_si128::<8>(out)),
            _mm_cvtsi128_si32(_mm_srli_si128::<12>(out)),
        ];
        for (a, w) in at.into_iter().zip(words) {
            *super::row_mut::<4>(plane, a) = w.to_le_bytes();
        }
    }
}

/// Adds a DC-only 4x4 residual (all other coefficients zero) to the block at `off`.
pub fn dc4_add(plane: &mut [u8], stride: usize, off: usize, dc: i32) {
    for i in 0..4 {
        add_row(row_mut::<4>(plane, off + i * stride), &[dc; 4]);
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

/// [`idct8_1d`] on eight lanes at once: `d[k]` holds input `k` of every lane.
#[inline(always)]
fn idct8_lanes(d: &[[i32; 8]; 8]) -> [[i32; 8]; 8] {
    let mut o = [[0i32; 8]; 8];
    for l in 0..8 {
        let col = idct8_1d([
            d[0][l], d[1][l], d[2][l], d[3][l], d[4][l], d[5][l], d[6][l], d[7][l],
        ]);
        for k in 0..8 {
            o[k][l] = col[k];
        }
    }
    o
}

/// Inverse 8x8 transform of `c` (raster order, scaled) added to the block at `off`.
/// Rows first, then columns, both lane-wise (the row pass on the transposed block).
pub fn idct8_add(plane: &mut [u8], stride: usize, off: usize, c: &[i32; 64]) {
    // Lane i of input k is row i's coefficient k.
    let mut cols = [[0i32; 8]; 8];
    for i in 0..8 {
        for k in 0..8 {
            cols[k][i] = c[i * 8 + k];
        }
    }
    // Output k of lane i is the intermediate block's (i, k): transposed back into rows.
    let o = idct8_lanes(&cols);
    let mut t = [[0i32; 8]; 8];
    for k in 0..8 {
        for i in 0..8 {
            t[i][k] = o[k][i];
        }
    }
    let r = idct8_lanes(&t);
    for (i, r) in r.iter().enumerate() {
        add_row(row_mut::<8>(plane, off + i * stride), r);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The transforms as first written: scalar, one row or column at a time, with
    /// the plain `clip(p + ((r + 32) >> 6))`. The lane-wise kernels must equal them.
    fn clip(v: i32) -> u8 {
        v.clamp(0, 255) as u8
    }

    fn idct4_add_scalar(plane: &mut [u8], stride: usize, off: usize, c: &[i32; 16]) {
        let mut t = [0i32; 16];
        for i in 0..4 {
            let d = &c[i * 4..i * 4 + 4];
            let (e0, e1) = (d[0] + d[2], d[0] - d[2]);
            let (e2, e3) = ((d[1] >> 1) - d[3], d[1] + (d[3] >> 1));
            t[i * 4..i * 4 + 4].copy_from_slice(&[e0 + e3, e1 + e2, e1 - e2, e0 - e3]);
        }
        for j in 0..4 {
            let (e0, e1) = (t[j] + t[8 + j], t[j] - t[8 + j]);
            let (e2, e3) = ((t[4 + j] >> 1) - t[12 + j], t[4 + j] + (t[12 + j] >> 1));
            for (i, v) in [e0 + e3, e1 + e2, e1 - e2, e0 - e3].into_iter().enumerate() {
                let p = &mut plane[off + i * stride + j];
                *p = clip(*p as i32 + ((v + 32) >> 6));
            }
        }
    }

    fn idct8_add_scalar(plane: &mut [u8], stride: usize, off: usize, c: &[i32; 64]) {
        let mut t = [[0i32; 8]; 8];
        for (i, t) in t.iter_mut().enumerate() {
            *t = idct8_1d(c[i * 8..i * 8 + 8].try_into().unwrap());
        }
        for j in 0..8 {
            let col = idct8_1d(std::array::from_fn(|i| t[i][j]));
            for (i, v) in col.into_iter().enumerate() {
                let p = &mut plane[off + i * stride + j];
                *p = clip(*p as i32 + ((v + 32) >> 6));
            }
        }
    }

    /// A small xorshift generator: varied inputs, no crate.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// A coefficient: mostly small, some at the saturation bounds of [`saturate`].
        fn coeff(&mut self) -> i32 {
            match self.next() % 8 {
                0 => 0,
                1 => 1 << 20,
                2 => -(1 << 20),
                3 | 4 => (self.next() % (1 << 16)) as i32 - (1 << 15),
                _ => (self.next() % 512) as i32 - 256,
            }
        }
    }

    #[test]
    fn lane_wise_transforms_equal_the_scalar_ones() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..20_000 {
            let stride = 24;
            let plane: Vec<u8> = (0..stride * 10)
                .map(|_| match round % 3 {
                    0 => 0,
                    1 => 255,
                    _ => rng.next() as u8,
                })
                .collect();
            let off = (rng.next() % 3) as usize * stride + (rng.next() % 8) as usize;
            let c4: [i32; 16] = std::array::from_fn(|_| rng.coeff());
            let (mut a, mut b) = (plane.clone(), plane.clone());
            idct4_add(&mut a, stride, off, &c4);
            idct4_add_scalar(&mut b, stride, off, &c4);
            assert_eq!(a, b, "idct4_add, coefficients {c4:?}");
            let mut p = plane.clone();
            idct4_add_portable(&mut p, stride, off, &c4);
            assert_eq!(p, b, "idct4_add_portable, coefficients {c4:?}");
            let (mut a, mut b) = (plane.clone(), plane.clone());
            dc4_add(&mut a, stride, off, c4[0]);
            let mut dc = [0; 16];
            dc[0] = c4[0];
            // A DC-only block transforms to its DC everywhere: (dc + 32) >> 6 added.
            for i in 0..4 {
                for j in 0..4 {
                    let p = &mut b[off + i * stride + j];
                    *p = clip(*p as i32 + ((dc[0] + 32) >> 6));
                }
            }
            assert_eq!(a, b, "dc4_add, dc {}", c4[0]);
            let c8: [i32; 64] = std::array::from_fn(|_| rng.coeff());
            let off = (rng.next() % 2) as usize * stride + (rng.next() % 16) as usize;
            let (mut a, mut b) = (plane.clone(), plane);
            idct8_add(&mut a, stride, off, &c8);
            idct8_add_scalar(&mut b, stride, off, &c8);
            assert_eq!(a, b, "idct8_add, coefficients {c8:?}");
        }
    }
}
