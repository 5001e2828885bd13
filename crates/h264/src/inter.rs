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

/// The reference samples a luma block of up to 16x16 needs: rows and columns -2 ..= 18
/// around its top-left sample, copied out of the reference picture so that the
/// interpolation loops index a fixed-size array (bounds known at compile time)
/// instead of re-slicing the picture for every row.
type Win = [[u8; 21]; 21];

// The kernels below take the block width as a const parameter: every row loop then
// has a fixed trip count (4, 8 or 16), which LLVM unrolls and vectorises without the
// scalar prologue and epilogue a run-time width needs. Heights are at most 16.

#[inline(always)]
fn tap6_u8(r: &[u8], x: usize) -> i16 {
    (r[x] as i16 + r[x + 5] as i16) - 5 * (r[x + 1] as i16 + r[x + 4] as i16)
        + 20 * (r[x + 2] as i16 + r[x + 3] as i16)
}

/// Horizontal half-sample values of rows `dy .. dy + h` (b, or s when `dy` = 1).
#[inline(always)]
fn half_h<const W: usize>(win: &Win, h: usize, dy: usize, out: &mut [u8], os: usize) {
    for y in 0..h.min(16) {
        let r = &win[y + 2 + dy.min(1)];
        let o = &mut out[y * os..y * os + W];
        // The 6-tap sum lies in -2550..=10710: 16-bit lanes vectorise.
        for x in 0..W {
            o[x] = ((tap6_u8(r, x) + 16) >> 5).clamp(0, 255) as u8;
        }
    }
}

/// Vertical half-sample values of columns `dx .. dx + w` (h, or m when `dx` = 1).
#[inline(always)]
fn half_v<const W: usize>(win: &Win, h: usize, dx: usize, out: &mut [u8], os: usize) {
    let c = 2 + dx.min(1);
    for y in 0..h.min(16) {
        let [r0, r1, r2, r3, r4, r5] =
            [&win[y], &win[y + 1], &win[y + 2], &win[y + 3], &win[y + 4], &win[y + 5]];
        let o = &mut out[y * os..y * os + W];
        for x in 0..W {
            let x = x + c;
            let v = (r0[x] as i16 + r5[x] as i16) - 5 * (r1[x] as i16 + r4[x] as i16)
                + 20 * (r2[x] as i16 + r3[x] as i16);
            o[x - c] = ((v + 16) >> 5).clamp(0, 255) as u8;
        }
    }
}

/// Centre half-sample values j.
#[inline(always)]
fn center<const W: usize>(win: &Win, h: usize, out: &mut [u8], os: usize) {
    let h = h.min(16);
    // Unrounded horizontal intermediates for rows -2 ..= h + 2; they lie in
    // -2550..=10710, so 16 bits hold them.
    let mut t = [[0i16; W]; 21];
    for (t, r) in t.iter_mut().zip(win).take(h + 5) {
        for x in 0..W {
            t[x] = tap6_u8(r, x);
        }
    }
    for y in 0..h {
        let [t0, t1, t2, t3, t4, t5] = [&t[y], &t[y + 1], &t[y + 2], &t[y + 3], &t[y + 4], &t[y + 5]];
        let o = &mut out[y * os..y * os + W];
        for x in 0..W {
            let v = tap6(
                t0[x] as i32,
                t1[x] as i32,
                t2[x] as i32,
                t3[x] as i32,
                t4[x] as i32,
                t5[x] as i32,
            );
            o[x] = clip((v + 512) >> 10);
        }
    }
}

/// Averages the block in `out` with the window's full samples G offset by `(dx, dy)`
/// (0 or 1 each), in place.
#[inline(always)]
fn avg_full<const W: usize>(out: &mut [u8], os: usize, h: usize, win: &Win, dx: usize, dy: usize) {
    let (dx, dy) = (dx.min(1), dy.min(1));
    for y in 0..h.min(16) {
        let g = &win[y + 2 + dy][2 + dx..2 + dx + W];
        let o = &mut out[y * os..y * os + W];
        for x in 0..W {
            o[x] = avg(o[x], g[x]);
        }
    }
}

/// Averages the block in `out` with a 16-wide scratch block `a`, in place.
#[inline(always)]
fn avg_scratch<const W: usize>(out: &mut [u8], os: usize, h: usize, a: &[u8; 256]) {
    for y in 0..h.min(16) {
        let (o, g) = (&mut out[y * os..y * os + W], &a[y * 16..y * 16 + W]);
        for x in 0..W {
            o[x] = avg(o[x], g[x]);
        }
    }
}

/// Predicts a `w`x`h` luma block whose top-left sample is at integer position
/// `(x, y)` displaced by the quarter-sample vector `mv`, into `out` (row stride `os`).
/// `w` is 4, 8 or 16.
#[allow(clippy::too_many_arguments)]
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
    match w {
        16 => luma_w::<16>(r, x, y, mv, h, out, os),
        8 => luma_w::<8>(r, x, y, mv, h, out, os),
        _ => luma_w::<4>(r, x, y, mv, h, out, os),
    }
}

fn luma_w<const W: usize>(
    r: RefPlane,
    x: i32,
    y: i32,
    mv: [i16; 2],
    h: usize,
    out: &mut [u8],
    os: usize,
) {
    let h = h.min(16);
    let xi = x + (mv[0] as i32 >> 2);
    let yi = y + (mv[1] as i32 >> 2);
    let (fx, fy) = ((mv[0] & 3) as usize, (mv[1] & 3) as usize);
    if (fx, fy) == (0, 0) && xi >= 0 && yi >= 0 && xi + W as i32 <= r.width && yi + h as i32 <= r.height {
        // Full-sample vector inside the picture: a straight copy, no window.
        let base = yi as usize * r.stride + xi as usize;
        for yy in 0..h {
            let at = base + yy * r.stride;
            out[yy * os..yy * os + W].copy_from_slice(&r.data[at..at + W]);
        }
        return;
    }
    let inside =
        xi - 2 >= 0 && yi - 2 >= 0 && xi + W as i32 + 3 <= r.width && yi + h as i32 + 3 <= r.height;
    let win = if inside {
        let mut win = [[0u8; 21]; 21];
        let base = (yi - 2) as usize * r.stride + (xi - 2) as usize;
        for (k, row) in win.iter_mut().enumerate().take(h + 5) {
            let at = base + k * r.stride;
            row[..W + 5].copy_from_slice(&r.data[at..at + W + 5]);
        }
        win
    } else {
        edge_window::<21>(r, xi - 2, yi - 2, W + 5, h + 5)
    };
    match (fx, fy) {
        (0, 0) => {
            for yy in 0..h {
                out[yy * os..yy * os + W].copy_from_slice(&win[yy + 2][2..2 + W]);
            }
        }
        (_, 0) => {
            half_h::<W>(&win, h, 0, out, os);
            if fx != 2 {
                avg_full::<W>(out, os, h, &win, fx / 2, 0);
            }
        }
        (0, _) => {
            half_v::<W>(&win, h, 0, out, os);
            if fy != 2 {
                avg_full::<W>(out, os, h, &win, 0, fy / 2);
            }
        }
        (2, 2) => center::<W>(&win, h, out, os),
        (2, _) => {
            let mut a = [0u8; 256];
            center::<W>(&win, h, out, os);
            half_h::<W>(&win, h, fy / 2, &mut a, 16);
            avg_scratch::<W>(out, os, h, &a);
        }
        (_, 2) => {
            let mut a = [0u8; 256];
            center::<W>(&win, h, out, os);
            half_v::<W>(&win, h, fx / 2, &mut a, 16);
            avg_scratch::<W>(out, os, h, &a);
        }
        _ => {
            let mut a = [0u8; 256];
            half_h::<W>(&win, h, fy / 2, out, os);
            half_v::<W>(&win, h, fx / 2, &mut a, 16);
            avg_scratch::<W>(out, os, h, &a);
        }
    }
}

/// Copies a `w`x`h` window whose top-left sample is `(x0, y0)` (possibly outside the
/// plane) into an `S`x`S` array, repeating the edge samples (8.4.2.2.1's clamping).
fn edge_window<const S: usize>(r: RefPlane, x0: i32, y0: i32, w: usize, h: usize) -> [[u8; S]; S] {
    let mut win = [[0u8; S]; S];
    let rows = win.iter_mut().enumerate().take(h);
    let row_at = |wy: usize| (y0 + wy as i32).clamp(0, r.height - 1) as usize * r.stride;
    if x0 >= 0 && x0 + w as i32 <= r.width {
        // Only rows are clamped (the block sticks out above or below): whole-row copies.
        let x0 = x0 as usize;
        for (wy, out) in rows {
            let at = row_at(wy) + x0;
            out[..w].copy_from_slice(&r.data[at..at + w]);
        }
        return win;
    }
    let mut xs = [0usize; S];
    for (wx, x) in xs.iter_mut().enumerate().take(w) {
        *x = (x0 + wx as i32).clamp(0, r.width - 1) as usize;
    }
    for (wy, out) in rows {
        let row = &r.data[row_at(wy)..];
        for (o, &x) in out.iter_mut().zip(&xs).take(w) {
            *o = row[x];
        }
    }
    win
}

/// Predicts a `w`x`h` chroma block at chroma position `(x, y)` with the luma vector
/// `mv` (eighth-sample units in chroma), into `out` (row stride `os`). `w` is 2, 4
/// or 8.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
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
    match w {
        8 => chroma_w::<8>(r, x, y, mv, h, out, os),
        4 => chroma_w::<4>(r, x, y, mv, h, out, os),
        _ => chroma_w::<2>(r, x, y, mv, h, out, os),
    }
}

/// [`chroma`] for the Cb and Cr blocks of one partition (same vector, same geometry).
#[allow(clippy::too_many_arguments)]
pub fn chroma_pair(
    r: [RefPlane; 2],
    x: i32,
    y: i32,
    mv: [i16; 2],
    w: usize,
    h: usize,
    out: [&mut [u8]; 2],
    os: usize,
) {
    let [cb, cr] = out;
    let [rb, rr] = r;
    chroma(rb, x, y, mv, w, h, cb, os);
    chroma(rr, x, y, mv, w, h, cr, os);
}

#[inline(always)]
fn chroma_w<const W: usize>(
    r: RefPlane,
    x: i32,
    y: i32,
    mv: [i16; 2],
    h: usize,
    out: &mut [u8],
    os: usize,
) {
    let xi = x + (mv[0] as i32 >> 3);
    let yi = y + (mv[1] as i32 >> 3);
    let (fx, fy) = ((mv[0] & 7) as u32, (mv[1] & 7) as u32);
    let inside = xi >= 0 && yi >= 0 && xi + (W as i32) < r.width && yi + (h as i32) < r.height;
    let win: [[u8; 9]; 9];
    let (s, base, stride) = if inside {
        (r.data, yi as usize * r.stride + xi as usize, r.stride)
    } else {
        win = edge_window::<9>(r, xi, yi, W + 1, h + 1);
        (win.as_flattened(), 0, 9)
    };
    if fx == 0 && fy == 0 {
        for yy in 0..h {
            let at = base + yy * stride;
            out[yy * os..yy * os + W].copy_from_slice(&s[at..at + W]);
        }
        return;
    }
    // The weights sum to 64, so every sum fits 16 bits: 16-bit lanes vectorise.
    let (wa, wb, wc, wd) = (
        ((8 - fx) * (8 - fy)) as u16,
        (fx * (8 - fy)) as u16,
        ((8 - fx) * fy) as u16,
        (fx * fy) as u16,
    );
    for yy in 0..h {
        let at = base + yy * stride;
        let r0 = &s[at..at + W + 1];
        let r1 = &s[at + stride..at + stride + W + 1];
        let o = &mut out[yy * os..yy * os + W];
        for xx in 0..W {
            let v = wa * r0[xx] as u16
                + wb * r0[xx + 1] as u16
                + wc * r1[xx] as u16
                + wd * r1[xx + 1] as u16;
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
    match w {
        16 => put_w::<16>(dst, off, stride, h, p0, p1, wt),
        8 => put_w::<8>(dst, off, stride, h, p0, p1, wt),
        4 => put_w::<4>(dst, off, stride, h, p0, p1, wt),
        _ => put_w::<2>(dst, off, stride, h, p0, p1, wt),
    }
}

/// [`put`] for one block width (see the kernels above for why widths are constants).
fn put_w<const W: usize>(
    dst: &mut [u8],
    off: usize,
    stride: usize,
    h: usize,
    p0: Option<&[u8; 256]>,
    p1: Option<&[u8; 256]>,
    wt: Weighting,
) {
    let w = W;
    // One match per block, then tight row loops (the match must not sit in the loop).
    #[inline(always)]
    fn rows_of<const W: usize>(
        dst: &mut [u8],
        off: usize,
        stride: usize,
        _w: usize,
        h: usize,
        mut f: impl FnMut(&mut [u8; W], usize),
    ) {
        for y in 0..h {
            let o = off + y * stride;
            let row: &mut [u8; W] = (&mut dst[o..o + W]).try_into().unwrap_or_else(|_| unreachable!());
            f(row, y * 16);
        }
    }
    // Each arm reslices its rows to the block width first, so the element loops have
    // no bounds checks and vectorise.
    match (p0, p1, wt) {
        (Some(a), Some(b), Weighting::Default) => rows_of::<W>(dst, off, stride, w, h, |d, s| {
            let (a, b) = (&a[s..s + d.len()], &b[s..s + d.len()]);
            for i in 0..d.len() {
                d[i] = ((a[i] as u16 + b[i] as u16 + 1) >> 1) as u8;
            }
        }),
        (Some(a), None, Weighting::Default) | (None, Some(a), Weighting::Default) => {
            rows_of::<W>(dst, off, stride, w, h, |d, s| {
                d.copy_from_slice(&a[s..s + W])
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
                rows_of::<W>(dst, off, stride, w, h, |d, s| {
                    let (a, b) = (&a[s..s + d.len()], &b[s..s + d.len()]);
                    for i in 0..d.len() {
                        let v = ((a[i] as i16 * w0 + b[i] as i16 * w1 + round) >> shift) + o;
                        d[i] = v.clamp(0, 255) as u8;
                    }
                });
                return;
            }
            rows_of::<W>(dst, off, stride, w, h, |d, s| {
                let (a, b) = (&a[s..s + d.len()], &b[s..s + d.len()]);
                for i in 0..d.len() {
                    d[i] =
                        clip(((a[i] as i32 * w0 + b[i] as i32 * w1 + round) >> (log_wd + 1)) + o);
                }
            })
        }
        (Some(a), None, Weighting::Weighted { log_wd, w0, o0, .. }) => {
            rows_of::<W>(dst, off, stride, w, h, |d, s| {
                let a = &a[s..s + d.len()];
                for i in 0..d.len() {
                    d[i] = single(a[i], log_wd, w0, o0);
                }
            })
        }
        (None, Some(b), Weighting::Weighted { log_wd, w1, o1, .. }) => {
            rows_of::<W>(dst, off, stride, w, h, |d, s| {
                let b = &b[s..s + d.len()];
                for i in 0..d.len() {
                    d[i] = single(b[i], log_wd, w1, o1);
                }
            })
        }
        (None, None, _) => rows_of::<W>(dst, off, stride, w, h, |d, _| d.fill(128)),
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
