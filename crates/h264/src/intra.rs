//! Intra prediction (clause 8.3): 4x4, 8x8 (with reference sample filtering), 16x16
//! and chroma. Predictions are written straight into the picture plane; the residual
//! is added afterwards.

/// Which neighbours of a block may be used for prediction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Avail {
    pub left: bool,
    pub top: bool,
    pub top_right: bool,
    pub top_left: bool,
}

#[inline]
fn clip(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// Writes `f(x, y)` for every sample of an `n`x`n` block. Generic over the closure so
/// that each prediction mode gets its own loop, with no mode test per sample.
#[inline(always)]
fn fill(plane: &mut [u8], stride: usize, off: usize, n: usize, f: impl Fn(isize, isize) -> i32) {
    for y in 0..n {
        let row = off + y * stride;
        for (x, p) in plane[row..row + n].iter_mut().enumerate() {
            *p = f(x as isize, y as isize) as u8;
        }
    }
}

/// Directional prediction of an `n`x`n` block (n = 4 or 8) from edge arrays:
/// `t[0]` = p[-1,-1], `t[1 + x]` = p[x,-1] (x < 2n); `l[0]` = p[-1,-1], `l[1 + y]` = p[-1,y].
/// The arrays are padded to powers of two so that the index masks stand in for bounds
/// checks in the per-sample closures (every mode stays inside `t[..=2n]`, `l[..=n]`).
fn directional<const N: usize>(
    plane: &mut [u8],
    stride: usize,
    off: usize,
    mode: u8,
    t: &[i32; 32],
    l: &[i32; 16],
    av: Avail,
) {
    // A constant block size: every loop below has a fixed trip count.
    let n = N;
    let tt = |i: isize| t[(i + 1) as usize & 31];
    let ll = |i: isize| l[(i + 1) as usize & 15];
    let ni = n as isize;
    match mode {
        0 => fill(plane, stride, off, n, |x, _| tt(x)),
        1 => fill(plane, stride, off, n, |_, y| ll(y)),
        2 => {
            let st: i32 = (0..ni).map(tt).sum();
            let sl: i32 = (0..ni).map(ll).sum();
            let sh = if n == 4 { 2 } else { 3 };
            let dc = match (av.top, av.left) {
                (true, true) => (st + sl + n as i32) >> (sh + 1),
                (true, false) => (st + (n as i32 >> 1)) >> sh,
                (false, true) => (sl + (n as i32 >> 1)) >> sh,
                _ => 128,
            };
            fill(plane, stride, off, n, |_, _| dc)
        }
        3 => fill(plane, stride, off, n, |x, y| {
            if x == ni - 1 && y == ni - 1 {
                (tt(2 * ni - 2) + 3 * tt(2 * ni - 1) + 2) >> 2
            } else {
                (tt(x + y) + 2 * tt(x + y + 1) + tt(x + y + 2) + 2) >> 2
            }
        }),
        4 => fill(plane, stride, off, n, |x, y| {
            if x > y {
                (tt(x - y - 2) + 2 * tt(x - y - 1) + tt(x - y) + 2) >> 2
            } else if x < y {
                (ll(y - x - 2) + 2 * ll(y - x - 1) + ll(y - x) + 2) >> 2
            } else {
                (tt(0) + 2 * tt(-1) + ll(0) + 2) >> 2
            }
        }),
        5 => fill(plane, stride, off, n, |x, y| {
            let z = 2 * x - y;
            if z >= 0 && z & 1 == 0 {
                (tt(x - (y >> 1) - 1) + tt(x - (y >> 1)) + 1) >> 1
            } else if z >= 0 {
                (tt(x - (y >> 1) - 2) + 2 * tt(x - (y >> 1) - 1) + tt(x - (y >> 1)) + 2) >> 2
            } else if z == -1 {
                (ll(0) + 2 * ll(-1) + tt(0) + 2) >> 2
            } else {
                (ll(y - 2 * x - 1) + 2 * ll(y - 2 * x - 2) + ll(y - 2 * x - 3) + 2) >> 2
            }
        }),
        6 => fill(plane, stride, off, n, |x, y| {
            let z = 2 * y - x;
            if z >= 0 && z & 1 == 0 {
                (ll(y - (x >> 1) - 1) + ll(y - (x >> 1)) + 1) >> 1
            } else if z >= 0 {
                (ll(y - (x >> 1) - 2) + 2 * ll(y - (x >> 1) - 1) + ll(y - (x >> 1)) + 2) >> 2
            } else if z == -1 {
                (ll(0) + 2 * ll(-1) + tt(0) + 2) >> 2
            } else {
                (tt(x - 2 * y - 1) + 2 * tt(x - 2 * y - 2) + tt(x - 2 * y - 3) + 2) >> 2
            }
        }),
        7 => fill(plane, stride, off, n, |x, y| {
            let i = x + (y >> 1);
            if y & 1 == 0 {
                (tt(i) + tt(i + 1) + 1) >> 1
            } else {
                (tt(i) + 2 * tt(i + 1) + tt(i + 2) + 2) >> 2
            }
        }),
        _ => fill(plane, stride, off, n, |x, y| {
            let z = x + 2 * y;
            let i = y + (x >> 1);
            let max = 2 * ni - 3;
            if z > max {
                ll(ni - 1)
            } else if z == max {
                (ll(ni - 2) + 3 * ll(ni - 1) + 2) >> 2
            } else if z & 1 == 0 {
                (ll(i) + ll(i + 1) + 1) >> 1
            } else {
                (ll(i) + 2 * ll(i + 1) + ll(i + 2) + 2) >> 2
            }
        }),
    }
}

/// Intra 4x4 prediction of the block whose top-left sample is at `off`.
pub fn pred4x4(plane: &mut [u8], stride: usize, off: usize, mode: u8, av: Avail) {
    let mut t = [0i32; 32];
    let mut l = [0i32; 16];
    if av.top_left {
        t[0] = plane[off - stride - 1] as i32;
        l[0] = t[0];
    }
    if av.top {
        for x in 0..4 {
            t[1 + x] = plane[off - stride + x] as i32;
        }
        for x in 4..8 {
            t[1 + x] = if av.top_right {
                plane[off - stride + x] as i32
            } else {
                t[4]
            };
        }
    }
    if av.left {
        for y in 0..4 {
            l[1 + y] = plane[off + y * stride - 1] as i32;
        }
    }
    directional::<4>(plane, stride, off, mode, &t, &l, av);
}

/// Intra 8x8 prediction with the reference sample filtering of 8.3.2.2.1.
pub fn pred8x8(plane: &mut [u8], stride: usize, off: usize, mode: u8, av: Avail) {
    let mut p_top = [0i32; 16];
    let mut p_left = [0i32; 8];
    let p_tl = if av.top_left {
        plane[off - stride - 1] as i32
    } else {
        0
    };
    if av.top {
        // One bounds check for the row above (and above-right when available).
        let n = if av.top_right { 16 } else { 8 };
        let top = off - stride;
        for (p, &s) in p_top.iter_mut().zip(&plane[top..top + n]) {
            *p = s as i32;
        }
        if !av.top_right {
            let v = p_top[7];
            p_top[8..].fill(v);
        }
    }
    if av.left {
        for y in 0..8 {
            p_left[y] = plane[off + y * stride - 1] as i32;
        }
    }
    let mut t = [0i32; 32];
    let mut l = [0i32; 16];
    if av.top {
        t[1] = if av.top_left {
            (p_tl + 2 * p_top[0] + p_top[1] + 2) >> 2
        } else {
            (3 * p_top[0] + p_top[1] + 2) >> 2
        };
        for x in 1..15 {
            t[1 + x] = (p_top[x - 1] + 2 * p_top[x] + p_top[x + 1] + 2) >> 2;
        }
        t[16] = (p_top[14] + 3 * p_top[15] + 2) >> 2;
    }
    if av.top_left {
        t[0] = match (av.top, av.left) {
            (true, true) => (p_top[0] + 2 * p_tl + p_left[0] + 2) >> 2,
            (true, false) => (3 * p_tl + p_top[0] + 2) >> 2,
            (false, true) => (3 * p_tl + p_left[0] + 2) >> 2,
            _ => p_tl,
        };
        l[0] = t[0];
    }
    if av.left {
        l[1] = if av.top_left {
            (p_tl + 2 * p_left[0] + p_left[1] + 2) >> 2
        } else {
            (3 * p_left[0] + p_left[1] + 2) >> 2
        };
        for y in 1..7 {
            l[1 + y] = (p_left[y - 1] + 2 * p_left[y] + p_left[y + 1] + 2) >> 2;
        }
        l[8] = (p_left[6] + 3 * p_left[7] + 2) >> 2;
    }
    directional::<8>(plane, stride, off, mode, &t, &l, av);
}

/// Intra 16x16 prediction (modes 0..=3) of the macroblock at `off`.
pub fn pred16x16(plane: &mut [u8], stride: usize, off: usize, mode: u8, av: Avail) {
    pred_square(plane, stride, off, 16, mode, av);
}

/// Shared 16x16 luma / 8x8 chroma vertical, horizontal and plane prediction. `mode` uses
/// the luma numbering (0 V, 1 H, 2 DC, 3 plane); chroma DC is handled separately.
fn pred_square(plane: &mut [u8], stride: usize, off: usize, n: usize, mode: u8, av: Avail) {
    match mode {
        0 => {
            for y in 0..n {
                let (src, dst) = (off - stride, off + y * stride);
                plane.copy_within(src..src + n, dst);
            }
        }
        1 => {
            for y in 0..n {
                let r = off + y * stride;
                let v = plane[r - 1];
                plane[r..r + n].fill(v);
            }
        }
        2 => {
            let st: u32 = if av.top {
                plane[off - stride..off - stride + n]
                    .iter()
                    .map(|&v| v as u32)
                    .sum()
            } else {
                0
            };
            let sl: u32 = if av.left {
                (0..n).map(|y| plane[off + y * stride - 1] as u32).sum()
            } else {
                0
            };
            let sh = if n == 16 { 4 } else { 3 };
            let dc = match (av.top, av.left) {
                (true, true) => (st + sl + n as u32) >> (sh + 1),
                (true, false) => (st + (n as u32 >> 1)) >> sh,
                (false, true) => (sl + (n as u32 >> 1)) >> sh,
                _ => 128,
            } as u8;
            for y in 0..n {
                let r = off + y * stride;
                plane[r..r + n].fill(dc);
            }
        }
        _ => {
            let half = n as i32 / 2;
            let top = |x: i32| plane[(off as isize - stride as isize + x as isize) as usize] as i32;
            let left =
                |y: i32| plane[(off as isize + y as isize * stride as isize - 1) as usize] as i32;
            let (mut h, mut v) = (0i32, 0i32);
            for i in 0..half {
                h += (i + 1) * (top(half + i) - top(half - 2 - i));
                v += (i + 1) * (left(half + i) - left(half - 2 - i));
            }
            let a = 16 * (left(n as i32 - 1) + top(n as i32 - 1));
            let (b, c) = if n == 16 {
                ((5 * h + 32) >> 6, (5 * v + 32) >> 6)
            } else {
                ((34 * h + 32) >> 6, (34 * v + 32) >> 6)
            };
            for y in 0..n as i32 {
                let r = off + y as usize * stride;
                for x in 0..n as i32 {
                    plane[r + x as usize] =
                        clip((a + b * (x - half + 1) + c * (y - half + 1) + 16) >> 5);
                }
            }
        }
    }
}

/// Chroma prediction of an 8x8 (4:2:0) block; `mode` is intra_chroma_pred_mode
/// (0 DC, 1 horizontal, 2 vertical, 3 plane).
pub fn pred_chroma(plane: &mut [u8], stride: usize, off: usize, mode: u8, av: Avail) {
    match mode {
        0 => {
            for by in 0..2 {
                for bx in 0..2 {
                    let o = off + by * 4 * stride + bx * 4;
                    let st: u32 = if av.top {
                        (0..4)
                            .map(|x| plane[off - stride + bx * 4 + x] as u32)
                            .sum()
                    } else {
                        0
                    };
                    let sl: u32 = if av.left {
                        (0..4)
                            .map(|y| plane[off + (by * 4 + y) * stride - 1] as u32)
                            .sum()
                    } else {
                        0
                    };
                    let dc = if bx == by {
                        match (av.top, av.left) {
                            (true, true) => (st + sl + 4) >> 3,
                            (true, false) => (st + 2) >> 2,
                            (false, true) => (sl + 2) >> 2,
                            _ => 128,
                        }
                    } else if bx == 1 {
                        if av.top {
                            (st + 2) >> 2
                        } else if av.left {
                            (sl + 2) >> 2
                        } else {
                            128
                        }
                    } else if av.left {
                        (sl + 2) >> 2
                    } else if av.top {
                        (st + 2) >> 2
                    } else {
                        128
                    } as u8;
                    for y in 0..4 {
                        plane[o + y * stride..o + y * stride + 4].fill(dc);
                    }
                }
            }
        }
        1 => pred_square(plane, stride, off, 8, 1, av),
        2 => pred_square(plane, stride, off, 8, 0, av),
        _ => pred_square(plane, stride, off, 8, 3, av),
    }
}
