//! Inter prediction sample processes (8.4.2.2): quarter-sample luma interpolation with
//! the 6-tap filter, eighth-sample chroma interpolation, and weighted sample
//! prediction (8.4.2.3). Reference samples outside the picture repeat the edge
//! (the block is then first copied into a small window with clamped coordinates).

#[inline(always)]
fn clip(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

#[inline(always)]
fn tap6(a: i32, b: i32, c: i32, d: i32, e: i32, f: i32) -> i32 {
    (a + f) - 5 * (b + e) + 20 * (c + d)
}

#[inline(always)]
fn avg(a: u8, b: u8) -> u8 {
    ((a as u16 + b as u16 + 1) >> 1) as u8
}

/// A reference plane with its geometry.
#[derive(Debug, Clone, Copy)]
pub struct RefPlane<'a> {
    pub data: &'a [u8],
    pub stride: usize,
    pub width: i32,
    pub height: i32,
}

/// Source samples for a block: a slice, the index of the block's top-left sample
/// minus (2, 2), and the stride.
struct Src<'a> {
    s: &'a [u8],
    base: usize,
    stride: usize,
}

impl Src<'_> {
    /// Samples of block row `y` starting at block column `x` (both may be -2..=3 off).
    #[inline(always)]
    fn row(&self, y: isize, x: isize) -> &[u8] {
        &self.s[(self.base as isize + (y + 2) * self.stride as isize + x + 2) as usize..]
    }
}

/// Horizontal half-sample values of rows `dy .. dy + h` (b, or s when `dy` = 1).
fn half_h(src: &Src, w: usize, h: usize, dy: isize, out: &mut [u8], os: usize) {
    for y in 0..h {
        let row = (src.base as isize + (y as isize + dy + 2) * src.stride as isize) as usize;
        let r = &src.s[row..row + w + 5];
        for x in 0..w {
            out[y * os + x] = clip(
                (tap6(
                    r[x] as i32,
                    r[x + 1] as i32,
                    r[x + 2] as i32,
                    r[x + 3] as i32,
                    r[x + 4] as i32,
                    r[x + 5] as i32,
                ) + 16)
                    >> 5,
            );
        }
    }
}

/// Vertical half-sample values of columns `dx .. dx + w` (h, or m when `dx` = 1).
fn half_v(src: &Src, w: usize, h: usize, dx: isize, out: &mut [u8], os: usize) {
    let st = src.stride as isize;
    for y in 0..h {
        for x in 0..w {
            let p = (src.base as isize + (y as isize) * st + x as isize + dx + 2) as usize;
            let s = src.stride;
            let v = tap6(
                src.s[p] as i32,
                src.s[p + s] as i32,
                src.s[p + 2 * s] as i32,
                src.s[p + 3 * s] as i32,
                src.s[p + 4 * s] as i32,
                src.s[p + 5 * s] as i32,
            );
            out[y * os + x] = clip((v + 16) >> 5);
        }
    }
}

/// Centre half-sample values j.
fn center(src: &Src, w: usize, h: usize, out: &mut [u8], os: usize) {
    // Unrounded horizontal intermediates for rows -2 ..= h + 2.
    let mut t = [0i32; 21 * 16];
    for y in 0..h + 5 {
        let row = src.base + y * src.stride;
        let r = &src.s[row..row + w + 5];
        for x in 0..w {
            t[y * 16 + x] = tap6(
                r[x] as i32,
                r[x + 1] as i32,
                r[x + 2] as i32,
                r[x + 3] as i32,
                r[x + 4] as i32,
                r[x + 5] as i32,
            );
        }
    }
    for y in 0..h {
        for x in 0..w {
            let p = y * 16 + x;
            let v = tap6(t[p], t[p + 16], t[p + 32], t[p + 48], t[p + 64], t[p + 80]);
            out[y * os + x] = clip((v + 512) >> 10);
        }
    }
}

/// Predicts a `w`x`h` luma block whose top-left sample is at integer position
/// `(x, y)` displaced by the quarter-sample vector `mv`, into `out` (row stride `os`).
pub fn luma(
    r: RefPlane,
    x: i32,
    y: i32,
    mv: [i16; 2],
    w: usize,
    h: usize,
    out: &mut [u8],
    os: usize,
) {
    let xi = x + (mv[0] as i32 >> 2);
    let yi = y + (mv[1] as i32 >> 2);
    let (fx, fy) = ((mv[0] & 3) as usize, (mv[1] & 3) as usize);
    let mut win = [0u8; 21 * 21];
    let inside =
        xi - 2 >= 0 && yi - 2 >= 0 && xi + w as i32 + 3 <= r.width && yi + h as i32 + 3 <= r.height;
    let src = if inside {
        Src {
            s: r.data,
            base: (yi - 2) as usize * r.stride + (xi - 2) as usize,
            stride: r.stride,
        }
    } else {
        // Clamp the columns once, then copy row by row.
        let mut xs = [0usize; 21];
        for (wx, x) in xs.iter_mut().enumerate().take(w + 5) {
            *x = (xi - 2 + wx as i32).clamp(0, r.width - 1) as usize;
        }
        for wy in 0..h + 5 {
            let row = &r.data[(yi - 2 + wy as i32).clamp(0, r.height - 1) as usize * r.stride..];
            for wx in 0..w + 5 {
                win[wy * 21 + wx] = row[xs[wx]];
            }
        }
        Src {
            s: &win,
            base: 0,
            stride: 21,
        }
    };
    let mut a = [0u8; 256];
    let mut b = [0u8; 256];
    match (fx, fy) {
        (0, 0) => {
            for yy in 0..h {
                let row = src.row(yy as isize, 0);
                out[yy * os..yy * os + w].copy_from_slice(&row[..w]);
            }
        }
        (_, 0) => {
            half_h(&src, w, h, 0, out, os);
            if fx != 2 {
                let dx = (fx / 2) as isize;
                for yy in 0..h {
                    let row = src.row(yy as isize, dx);
                    for (o, &g) in out[yy * os..yy * os + w].iter_mut().zip(&row[..w]) {
                        *o = avg(*o, g);
                    }
                }
            }
        }
        (0, _) => {
            half_v(&src, w, h, 0, out, os);
            if fy != 2 {
                let dy = (fy / 2) as isize;
                for yy in 0..h {
                    let row = src.row(yy as isize + dy, 0);
                    for (o, &g) in out[yy * os..yy * os + w].iter_mut().zip(&row[..w]) {
                        *o = avg(*o, g);
                    }
                }
            }
        }
        (2, 2) => center(&src, w, h, out, os),
        (2, _) => {
            center(&src, w, h, &mut a, 16);
            half_h(&src, w, h, (fy / 2) as isize, &mut b, 16);
            blend(out, os, &a, &b, w, h);
        }
        (_, 2) => {
            center(&src, w, h, &mut a, 16);
            half_v(&src, w, h, (fx / 2) as isize, &mut b, 16);
            blend(out, os, &a, &b, w, h);
        }
        _ => {
            half_h(&src, w, h, (fy / 2) as isize, &mut a, 16);
            half_v(&src, w, h, (fx / 2) as isize, &mut b, 16);
            blend(out, os, &a, &b, w, h);
        }
    }
}

fn blend(out: &mut [u8], os: usize, a: &[u8; 256], b: &[u8; 256], w: usize, h: usize) {
    for yy in 0..h {
        for xx in 0..w {
            let i = yy * 16 + xx;
            out[yy * os + xx] = avg(a[i], b[i]);
        }
    }
}

/// Predicts a `w`x`h` chroma block at chroma position `(x, y)` with the luma vector
/// `mv` (eighth-sample units in chroma), into `out` (row stride `os`).
pub fn chroma(
    r: RefPlane,
    x: i32,
    y: i32,
    mv: [i16; 2],
    w: usize,
    h: usize,
    out: &mut [u8],
    os: usize,
) {
    let xi = x + (mv[0] as i32 >> 3);
    let yi = y + (mv[1] as i32 >> 3);
    let (fx, fy) = ((mv[0] & 7) as u32, (mv[1] & 7) as u32);
    let mut win = [0u8; 9 * 9];
    let inside = xi >= 0 && yi >= 0 && xi + (w as i32) < r.width && yi + (h as i32) < r.height;
    let (s, base, stride) = if inside {
        (r.data, yi as usize * r.stride + xi as usize, r.stride)
    } else {
        for wy in 0..h + 1 {
            let row = (yi + wy as i32).clamp(0, r.height - 1) as usize * r.stride;
            for wx in 0..w + 1 {
                win[wy * 9 + wx] = r.data[row + (xi + wx as i32).clamp(0, r.width - 1) as usize];
            }
        }
        (&win[..], 0, 9)
    };
    let (wa, wb, wc, wd) = ((8 - fx) * (8 - fy), fx * (8 - fy), (8 - fx) * fy, fx * fy);
    for yy in 0..h {
        let r0 = &s[base + yy * stride..base + yy * stride + w + 1];
        let o = &mut out[yy * os..yy * os + w];
        if fx == 0 && fy == 0 {
            o.copy_from_slice(&r0[..w]);
            continue;
        }
        let r1 = &s[base + (yy + 1) * stride..base + (yy + 1) * stride + w + 1];
        for xx in 0..w {
            let v = wa * r0[xx] as u32
                + wb * r0[xx + 1] as u32
                + wc * r1[xx] as u32
                + wd * r1[xx + 1] as u32;
            o[xx] = ((v + 32) >> 6) as u8;
        }
    }
}

/// How the predictions of one partition are combined.
#[derive(Debug, Clone, Copy)]
pub enum Weighting {
    /// Plain copy (one list) or rounded average (two lists).
    Default,
    /// Explicit or implicit weights: `log_wd`, `(w0, o0)`, `(w1, o1)`.
    Weighted {
        log_wd: i32,
        w0: i32,
        o0: i32,
        w1: i32,
        o1: i32,
    },
}

/// Writes the final prediction of a `w`x`h` block into `dst` (at `off`, `stride`) from
/// the list predictions `p0`/`p1` (either may be absent).
#[allow(clippy::too_many_arguments)]
pub fn put(
    dst: &mut [u8],
    off: usize,
    stride: usize,
    w: usize,
    h: usize,
    p0: Option<&[u8; 256]>,
    p1: Option<&[u8; 256]>,
    wt: Weighting,
) {
    // One match per block, then tight row loops (the match must not sit in the loop).
    let rows = |dst: &mut [u8], f: &mut dyn FnMut(&mut [u8], usize)| {
        for y in 0..h {
            let o = off + y * stride;
            f(&mut dst[o..o + w], y * 16);
        }
    };
    match (p0, p1, wt) {
        (Some(a), Some(b), Weighting::Default) => rows(dst, &mut |d, s| {
            for ((d, &a), &b) in d.iter_mut().zip(&a[s..s + w]).zip(&b[s..s + w]) {
                *d = avg(a, b);
            }
        }),
        (Some(a), None, Weighting::Default) | (None, Some(a), Weighting::Default) => {
            rows(dst, &mut |d, s| d.copy_from_slice(&a[s..s + w]))
        }
        (
            Some(a),
            Some(b),
            Weighting::Weighted {
                log_wd,
                w0,
                o0,
                w1,
                o1,
            },
        ) => {
            let o = (o0 + o1 + 1) >> 1;
            let round = 1 << log_wd;
            rows(dst, &mut |d, s| {
                for ((d, &a), &b) in d.iter_mut().zip(&a[s..s + w]).zip(&b[s..s + w]) {
                    *d = clip(((a as i32 * w0 + b as i32 * w1 + round) >> (log_wd + 1)) + o);
                }
            })
        }
        (Some(a), None, Weighting::Weighted { log_wd, w0, o0, .. }) => rows(dst, &mut |d, s| {
            for (d, &a) in d.iter_mut().zip(&a[s..s + w]) {
                *d = single(a, log_wd, w0, o0);
            }
        }),
        (None, Some(b), Weighting::Weighted { log_wd, w1, o1, .. }) => rows(dst, &mut |d, s| {
            for (d, &b) in d.iter_mut().zip(&b[s..s + w]) {
                *d = single(b, log_wd, w1, o1);
            }
        }),
        (None, None, _) => rows(dst, &mut |d, _| d.fill(128)),
    }
}

#[inline(always)]
fn single(p: u8, log_wd: i32, w: i32, o: i32) -> u8 {
    if log_wd >= 1 {
        clip(((p as i32 * w + (1 << (log_wd - 1))) >> log_wd) + o)
    } else {
        clip(p as i32 * w + o)
    }
}
