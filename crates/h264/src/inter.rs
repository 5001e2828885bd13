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
        let (r0, r1, r2) = (&r[..w], &r[1..w + 1], &r[2..w + 2]);
        let (r3, r4, r5) = (&r[3..w + 3], &r[4..w + 4], &r[5..w + 5]);
        let o = &mut out[y * os..y * os + w];
        // The 6-tap sum lies in -2550..=10710: 16-bit lanes vectorise.
        for x in 0..w {
            let v = (r0[x] as i16 + r5[x] as i16) - 5 * (r1[x] as i16 + r4[x] as i16)
                + 20 * (r2[x] as i16 + r3[x] as i16);
            o[x] = ((v + 16) >> 5).clamp(0, 255) as u8;
        }
    }
}

/// Vertical half-sample values of columns `dx .. dx + w` (h, or m when `dx` = 1).
fn half_v(src: &Src, w: usize, h: usize, dx: isize, out: &mut [u8], os: usize) {
    let s = src.stride;
    for y in 0..h {
        let p = (src.base as isize + (y as isize) * s as isize + dx + 2) as usize;
        // Six source rows, each sliced once so the loop below has no bounds checks.
        let r0 = &src.s[p..p + w];
        let r1 = &src.s[p + s..p + s + w];
        let r2 = &src.s[p + 2 * s..p + 2 * s + w];
        let r3 = &src.s[p + 3 * s..p + 3 * s + w];
        let r4 = &src.s[p + 4 * s..p + 4 * s + w];
        let r5 = &src.s[p + 5 * s..p + 5 * s + w];
        let o = &mut out[y * os..y * os + w];
        for x in 0..w {
            let v = tap6(
                r0[x] as i32,
                r1[x] as i32,
                r2[x] as i32,
                r3[x] as i32,
                r4[x] as i32,
                r5[x] as i32,
            );
            o[x] = clip((v + 16) >> 5);
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
        let p = y * 16;
        let (t0, t1, t2) = (&t[p..p + w], &t[p + 16..p + 16 + w], &t[p + 32..p + 32 + w]);
        let (t3, t4, t5) = (
            &t[p + 48..p + 48 + w],
            &t[p + 64..p + 64 + w],
            &t[p + 80..p + 80 + w],
        );
        let o = &mut out[y * os..y * os + w];
        for x in 0..w {
            let v = tap6(t0[x], t1[x], t2[x], t3[x], t4[x], t5[x]);
            o[x] = clip((v + 512) >> 10);
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
    // The weights sum to 64, so every sum fits 16 bits: 16-bit lanes vectorise.
    let (wa, wb, wc, wd) = (
        ((8 - fx) * (8 - fy)) as u16,
        (fx * (8 - fy)) as u16,
        ((8 - fx) * fy) as u16,
        (fx * fy) as u16,
    );
    for yy in 0..h {
        let r0 = &s[base + yy * stride..base + yy * stride + w + 1];
        let o = &mut out[yy * os..yy * os + w];
        if fx == 0 && fy == 0 {
            o.copy_from_slice(&r0[..w]);
            continue;
        }
        let r1 = &s[base + (yy + 1) * stride..base + (yy + 1) * stride + w + 1];
        let (a0, a1) = (&r0[..w], &r0[1..w + 1]);
        let (b0, b1) = (&r1[..w], &r1[1..w + 1]);
        for xx in 0..w {
            let v =
                wa * a0[xx] as u16 + wb * a1[xx] as u16 + wc * b0[xx] as u16 + wd * b1[xx] as u16;
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
    #[inline(always)]
    fn rows_of(
        dst: &mut [u8],
        off: usize,
        stride: usize,
        w: usize,
        h: usize,
        mut f: impl FnMut(&mut [u8], usize),
    ) {
        for y in 0..h {
            let o = off + y * stride;
            f(&mut dst[o..o + w], y * 16);
        }
    }
    // Each arm reslices its rows to the block width first, so the element loops have
    // no bounds checks and vectorise.
    match (p0, p1, wt) {
        (Some(a), Some(b), Weighting::Default) => rows_of(dst, off, stride, w, h, |d, s| {
            let (a, b) = (&a[s..s + d.len()], &b[s..s + d.len()]);
            for i in 0..d.len() {
                d[i] = ((a[i] as u16 + b[i] as u16 + 1) >> 1) as u8;
            }
        }),
        (Some(a), None, Weighting::Default) | (None, Some(a), Weighting::Default) => {
            rows_of(dst, off, stride, w, h, |d, s| {
                d.copy_from_slice(&a[s..s + d.len()])
            })
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
            if (w0.abs() + w1.abs()) * 255 + round <= i16::MAX as i32 && (-255..=255).contains(&o) {
                // The weighted sum fits 16 bits (always so for implicit weights, where
                // w0 + w1 = 64): 16-bit lanes vectorise on every x86-64 CPU.
                let (w0, w1, round, o) = (w0 as i16, w1 as i16, round as i16, o as i16);
                let shift = (log_wd + 1) as u32;
                rows_of(dst, off, stride, w, h, |d, s| {
                    let (a, b) = (&a[s..s + d.len()], &b[s..s + d.len()]);
                    for i in 0..d.len() {
                        let v = ((a[i] as i16 * w0 + b[i] as i16 * w1 + round) >> shift) + o;
                        d[i] = v.clamp(0, 255) as u8;
                    }
                });
                return;
            }
            rows_of(dst, off, stride, w, h, |d, s| {
                let (a, b) = (&a[s..s + d.len()], &b[s..s + d.len()]);
                for i in 0..d.len() {
                    d[i] =
                        clip(((a[i] as i32 * w0 + b[i] as i32 * w1 + round) >> (log_wd + 1)) + o);
                }
            })
        }
        (Some(a), None, Weighting::Weighted { log_wd, w0, o0, .. }) => {
            rows_of(dst, off, stride, w, h, |d, s| {
                let a = &a[s..s + d.len()];
                for i in 0..d.len() {
                    d[i] = single(a[i], log_wd, w0, o0);
                }
            })
        }
        (None, Some(b), Weighting::Weighted { log_wd, w1, o1, .. }) => {
            rows_of(dst, off, stride, w, h, |d, s| {
                let b = &b[s..s + d.len()];
                for i in 0..d.len() {
                    d[i] = single(b[i], log_wd, w1, o1);
                }
            })
        }
        (None, None, _) => rows_of(dst, off, stride, w, h, |d, _| d.fill(128)),
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
