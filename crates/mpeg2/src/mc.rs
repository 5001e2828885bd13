//! Motion-compensated prediction (7.6.4): half-sample bilinear interpolation of a
//! reference block into the macroblock's prediction buffer, optionally averaged with
//! what is there (the second direction of a bidirectional or dual-prime prediction).

use crate::kernels::Isa;

/// A reference plane as motion compensation reads it: a frame plane, or one field of
/// it (every other row, starting at row `parity`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plane<'a> {
    pub data: &'a [u8],
    pub base: usize,
    pub stride: usize,
    pub width: usize,
    pub height: usize,
    pub isa: Isa,
}

/// Prefetches `rows` rows of `src` starting at sample (`x`, `y`): a hint for the
/// reference area of a macroblock to come, which changes no result (a position
/// outside the plane, from a vector pointing out of it, is harmless).
#[inline(always)]
pub(crate) fn prefetch(src: &Plane<'_>, x: i32, y: i32, rows: usize) {
    #[cfg(target_arch = "x86_64")]
    if src.isa.sse2() {
        let at = (src.base as isize + y as isize * src.stride as isize + x as isize) as usize;
        crate::simd::prefetch(src.data, at, src.stride, rows);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (src, x, y, rows);
}

/// Predicts a `W`x`H` block whose top-left sample is at half-sample position
/// (`hx`, `hy`) of `src` (in half samples, may point outside: edge samples repeat)
/// into `dst` (rows `dst_stride` apart). `AVG` averages with the existing contents.
#[inline]
pub(crate) fn predict<const W: usize, const H: usize>(
    src: &Plane<'_>,
    hx: i32,
    hy: i32,
    dst: &mut [u8],
    dst_stride: usize,
    avg: bool,
) {
    let x = hx >> 1;
    let y = hy >> 1;
    let mode = ((hy & 1) << 1 | (hx & 1)) as u8;
    let inside = x >= 0
        && y >= 0
        && x as usize + W + (mode & 1) as usize <= src.width
        && y as usize + H + (mode >> 1) as usize <= src.height;
    if inside {
        let off = src.base + y as usize * src.stride + x as usize;
        run_with::<W, H>(
            src.isa, src.data, off, src.stride, mode, dst, dst_stride, avg,
        );
    } else {
        predict_edge::<W, H>(src, x, y, mode, dst, dst_stride, avg);
    }
}

/// [`predict`] of a block reaching past the picture's edge: out of line, so that the
/// common block's call does not set up the window's stack frame.
#[cold]
#[inline(never)]
fn predict_edge<const W: usize, const H: usize>(
    src: &Plane<'_>,
    x: i32,
    y: i32,
    mode: u8,
    dst: &mut [u8],
    dst_stride: usize,
    avg: bool,
) {
    {
        // Copy the (W+1)x(H+1) window with clamped coordinates, as if the picture's
        // edge samples extended without end.
        let mut win = [0u8; 17 * 17];
        let (w, h) = (src.width as i32, src.height as i32);
        for j in 0..=H {
            let sy = (y + j as i32).clamp(0, h - 1) as usize;
            let row = src.base + sy * src.stride;
            for i in 0..=W {
                let sx = (x + i as i32).clamp(0, w - 1) as usize;
                win[j * 17 + i] = src.data[row + sx];
            }
        }
        run_with::<W, H>(src.isa, &win, 0, 17, mode, dst, dst_stride, avg);
    }
}

/// [`predict`] of the same block of two planes with one vector: the two chroma planes
/// of a macroblock, which share their layout, so that position, half-sample mode,
/// edge test and kernel are decided once for both.
#[inline]
pub(crate) fn predict_pair<const W: usize, const H: usize>(
    src: [&Plane<'_>; 2],
    hx: i32,
    hy: i32,
    dst: [&mut [u8]; 2],
    dst_stride: usize,
    avg: bool,
) {
    let x = hx >> 1;
    let y = hy >> 1;
    let mode = ((hy & 1) << 1 | (hx & 1)) as u8;
    let inside = |p: &Plane<'_>| {
        x >= 0
            && y >= 0
            && x as usize + W + (mode & 1) as usize <= p.width
            && y as usize + H + (mode >> 1) as usize <= p.height
    };
    let [d0, d1] = dst;
    let [a, b] = src;
    if inside(a) && inside(b) && a.stride == b.stride {
        let offs = [a, b].map(|p| p.base + y as usize * p.stride + x as usize);
        #[cfg(target_arch = "x86_64")]
        if a.isa.sse2()
            && crate::simd::sse2::predict_pair::<W, H>(
                [a.data, b.data],
                offs,
                a.stride,
                mode,
                [&mut *d0, &mut *d1],
                dst_stride,
                avg,
            )
        {
            return;
        }
        run::<W, H>(a.data, offs[0], a.stride, mode, d0, dst_stride, avg);
        run::<W, H>(b.data, offs[1], b.stride, mode, d1, dst_stride, avg);
    } else {
        predict_pair_edge::<W, H>(src, hx, hy, [d0, d1], dst_stride, avg);
    }
}

/// [`predict_pair`] of blocks reaching past the picture's edge (or of planes with
/// different strides), one plane at a time, out of line.
#[cold]
#[inline(never)]
fn predict_pair_edge<const W: usize, const H: usize>(
    src: [&Plane<'_>; 2],
    hx: i32,
    hy: i32,
    dst: [&mut [u8]; 2],
    dst_stride: usize,
    avg: bool,
) {
    let [d0, d1] = dst;
    predict::<W, H>(src[0], hx, hy, d0, dst_stride, avg);
    predict::<W, H>(src[1], hx, hy, d1, dst_stride, avg);
}

/// `W` samples of `s` from `at`, as an array reference (one bounds check per row).
#[inline(always)]
fn row<const W: usize>(s: &[u8], at: usize) -> &[u8; W] {
    s[at..at + W].try_into().expect("W samples")
}

/// [`run`] with the chosen kernels.
#[inline(always)]
fn run_with<const W: usize, const H: usize>(
    isa: Isa,
    s: &[u8],
    off: usize,
    ss: usize,
    mode: u8,
    dst: &mut [u8],
    ds: usize,
    avg: bool,
) {
    #[cfg(target_arch = "x86_64")]
    {
        // The two-dimensional case of a luma block, a quarter of luma predictions
        // in broadcast streams and four times the work of a copy, has an AVX2 kernel.
        if let Isa::Avx2(t) = isa {
            if W == 16
                && mode == 3
                && crate::simd::avx2::predict_xy16::<H>(t, s, off, ss, dst, ds, avg)
            {
                return;
            }
        }
        if isa.sse2() && crate::simd::sse2::predict::<W, H>(s, off, ss, mode, dst, ds, avg) {
            return;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = isa;
    run::<W, H>(s, off, ss, mode, dst, ds, avg);
}

/// The portable prediction of a `W`x`H` block at `off` of `s` (rows `ss` apart) with
/// half-sample `mode` (bit 0 horizontal, bit 1 vertical) into `dst` (rows `ds` apart).
#[inline(always)]
pub(crate) fn run<const W: usize, const H: usize>(
    s: &[u8],
    off: usize,
    ss: usize,
    mode: u8,
    dst: &mut [u8],
    ds: usize,
    avg: bool,
) {
    // One straight-line loop over W samples per row and mode, on fixed-size arrays, so
    // that LLVM drops the bounds checks and vectorises it.
    for j in 0..H {
        let o = off + j * ss;
        let mut p = [0u8; W];
        match mode {
            0 => p = *row::<W>(s, o),
            1 => {
                let (a, b) = (row::<W>(s, o), row::<W>(s, o + 1));
                for i in 0..W {
                    p[i] = ((a[i] as u16 + b[i] as u16 + 1) >> 1) as u8;
                }
            }
            2 => {
                let (a, b) = (row::<W>(s, o), row::<W>(s, o + ss));
                for i in 0..W {
                    p[i] = ((a[i] as u16 + b[i] as u16 + 1) >> 1) as u8;
                }
            }
            _ => {
                let (a, b) = (row::<W>(s, o), row::<W>(s, o + 1));
                let (c, d) = (row::<W>(s, o + ss), row::<W>(s, o + ss + 1));
                for i in 0..W {
                    p[i] = ((a[i] as u16 + b[i] as u16 + c[i] as u16 + d[i] as u16 + 2) >> 2) as u8;
                }
            }
        }
        let d: &mut [u8; W] = (&mut dst[j * ds..j * ds + W])
            .try_into()
            .expect("W samples");
        if avg {
            for i in 0..W {
                d[i] = ((d[i] as u16 + p[i] as u16 + 1) >> 1) as u8;
            }
        } else {
            *d = p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_sample_positions_round_up_and_edges_repeat() {
        let data: Vec<u8> = (0..64).map(|v| (v * 3) as u8).collect();
        let plane = Plane {
            data: &data,
            base: 0,
            stride: 8,
            width: 8,
            height: 8,
            isa: Isa::Portable,
        };
        let mut out = [0u8; 4];
        predict::<2, 2>(&plane, 1, 0, &mut out, 2, false);
        assert_eq!(out, [2, 5, 26, 29]); // (0+3+1)>>1, (3+6+1)>>1, rows 8 apart
        predict::<2, 2>(&plane, -8, -8, &mut out, 2, false);
        assert_eq!(out, [0, 0, 0, 0]);
        predict::<2, 2>(&plane, 1, 1, &mut out, 2, true);
        // (0+3+24+27+2)>>2 = 14 averaged with 0.
        assert_eq!(out[0], 7);
    }

    /// Prefetching is a hint: positions far outside the plane (vectors pointing out of
    /// it, damaged streams) neither fault nor change anything.
    #[test]
    fn prefetch_outside_the_plane_is_harmless() {
        let data = vec![7u8; 64];
        let mut isas = vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        isas.push(Isa::Sse2);
        for isa in isas {
            let plane = Plane {
                data: &data,
                base: 8,
                stride: 16,
                width: 8,
                height: 4,
                isa,
            };
            for (x, y) in [
                (3, 2),
                (-1_000_000, -5),
                (i32::MAX, i32::MAX),
                (i32::MIN, 3),
            ] {
                prefetch(&plane, x, y, 16);
            }
        }
        #[cfg(target_arch = "x86_64")]
        crate::simd::prefetch(&data, usize::MAX - 3, 1 << 40, 4);
        assert!(data.iter().all(|&v| v == 7));
    }

    /// Both chroma planes predicted at once give what two single predictions give,
    /// inside the picture and across its edges, with every kernel set, averaging or
    /// not.
    #[test]
    fn a_pair_prediction_is_two_single_predictions() {
        let (w, h, stride) = (24usize, 20usize, 32usize);
        let cb: Vec<u8> = (0..stride * h).map(|v| (v * 7 + v / 5) as u8).collect();
        let cr: Vec<u8> = (0..stride * h).map(|v| (v * 13 + 91) as u8).collect();
        let mut isas = vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        isas.push(Isa::Sse2);
        for isa in isas {
            let plane = |data| Plane {
                data,
                base: 0,
                stride,
                width: w,
                height: h,
                isa,
            };
            let (a, b) = (plane(&cb[..]), plane(&cr[..]));
            for (hx, hy) in [
                (0, 0),
                (3, 5),
                (17, 9),
                (-3, 2),
                (9, -7),
                (29, 21),
                (40, 40),
            ] {
                for avg in [false, true] {
                    let (mut p0, mut p1) = ([50u8; 8 * 8], [60u8; 8 * 8]);
                    let (mut s0, mut s1) = (p0, p1);
                    predict_pair::<8, 8>([&a, &b], hx, hy, [&mut p0, &mut p1], 8, avg);
                    predict::<8, 8>(&a, hx, hy, &mut s0, 8, avg);
                    predict::<8, 8>(&b, hx, hy, &mut s1, 8, avg);
                    assert_eq!((p0, p1), (s0, s1), "{isa:?} ({hx}, {hy}) avg {avg}");
                }
            }
        }
    }
}
