//! The half-sample planes of one block's neighbourhood, interpolated once per motion
//! search, so that every half- and quarter-sample candidate of the refinement is a
//! copy or a rounded average of two of them instead of a fresh 6-tap interpolation.
//!
//! The refinement only visits vectors within three quarter samples of a full-sample
//! centre `f` (half samples at +-2, then quarter samples at +-1 around the best one),
//! so every prediction it forms reads full samples G, horizontal half samples b,
//! vertical half samples h and centre half samples j at integer positions
//! `f - 1 ..= f + w` (and `+ h` down): an `(w + 2) x (h + 2)` grid of each. The
//! values follow 8.4.2.2.1 to the letter, from the same edge-clamped reference
//! samples the decoder reads, so [`Grid::predict`] equals `crate::inter::luma` for
//! those vectors sample for sample (tested below, with blocks inside, across and far
//! outside the picture edges).

use crate::inter::RefPlane;

/// Grid side for 16x16 blocks: the block and one sample on each side.
const N: usize = 18;
/// Reference samples the grid needs: two more before and three after (6-tap).
const WIN: usize = N + 5;

type Plane = [[u8; N]; N];

/// A plane of the grid with a (column, row) offset into it.
type At<'a> = (&'a Plane, usize, usize);

/// Full and half samples around one block (see the module docs).
pub struct Grid {
    g: Plane,
    b: Plane,
    h: Plane,
    j: Plane,
    w: usize,
    hgt: usize,
}

#[inline(always)]
fn tap6(a: i32, b: i32, c: i32, d: i32, e: i32, f: i32) -> i32 {
    (a + f) - 5 * (b + e) + 20 * (c + d)
}

#[inline(always)]
fn clip(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

impl Grid {
    /// The grid of a `w` x `h` block (each at most 16) at picture position `(x, y)`
    /// around the full-sample vector `f` (in samples).
    pub fn new(r: RefPlane<'_>, x: i32, y: i32, f: (i32, i32), w: usize, h: usize) -> Grid {
        let (w, h) = (w.min(16), h.min(16));
        let (gw, gh) = (w + 2, h + 2);
        // Reference samples from (x0, y0): grid origin minus the 6-tap's two.
        let (x0, y0) = (x + f.0 - 3, y + f.1 - 3);
        let (ww, wh) = (gw + 5, gh + 5);
        let mut win = [[0u8; WIN]; WIN];
        if x0 >= 0 && y0 >= 0 && x0 + ww as i32 <= r.width && y0 + wh as i32 <= r.height {
            let base = y0 as usize * r.stride + x0 as usize;
            for (k, row) in win.iter_mut().enumerate().take(wh) {
                let at = base + k * r.stride;
                row[..ww].copy_from_slice(&r.data[at..at + ww]);
            }
        } else {
            // Partly outside: the edge samples repeat (the decoder's clamping).
            let mut xs = [0usize; WIN];
            for (k, c) in xs.iter_mut().enumerate().take(ww) {
                *c = (x0 + k as i32).clamp(0, r.width - 1) as usize;
            }
            for (k, row) in win.iter_mut().enumerate().take(wh) {
                let at = (y0 + k as i32).clamp(0, r.height - 1) as usize * r.stride;
                let src = &r.data[at..];
                for (o, &c) in row.iter_mut().zip(&xs).take(ww) {
                    *o = src[c];
                }
            }
        }
        let mut grid = Grid {
            g: [[0; N]; N],
            b: [[0; N]; N],
            h: [[0; N]; N],
            j: [[0; N]; N],
            w,
            hgt: h,
        };
        // Unrounded horizontal 6-tap sums of every window row at the grid's columns:
        // b from the grid's rows, j from six consecutive rows of them. They lie in
        // -2550..=10710, so 16-bit lanes hold them.
        let mut t = [[0i16; N]; WIN];
        for (tr, row) in t.iter_mut().zip(&win).take(wh) {
            for c in 0..N {
                let p = &row[c..c + 6];
                tr[c] =
                    (p[0] as i16 + p[5] as i16) - 5 * (p[1] as i16 + p[4] as i16) + 20 * (p[2] as i16 + p[3] as i16);
            }
        }
        for yy in 0..gh {
            let v: [&[u8; WIN]; 6] = std::array::from_fn(|k| &win[yy + k]);
            let s: [&[i16; N]; 6] = std::array::from_fn(|k| &t[yy + k]);
            for c in 0..N {
                grid.g[yy][c] = v[2][c + 2];
                grid.b[yy][c] = ((s[2][c] + 16) >> 5).clamp(0, 255) as u8;
                let vv = (v[0][c + 2] as i16 + v[5][c + 2] as i16) - 5 * (v[1][c + 2] as i16 + v[4][c + 2] as i16)
                    + 20 * (v[2][c + 2] as i16 + v[3][c + 2] as i16);
                grid.h[yy][c] = ((vv + 16) >> 5).clamp(0, 255) as u8;
                let jj = tap6(
                    s[0][c] as i32,
                    s[1][c] as i32,
                    s[2][c] as i32,
                    s[3][c] as i32,
                    s[4][c] as i32,
                    s[5][c] as i32,
                );
                grid.j[yy][c] = clip((jj + 512) >> 10);
            }
        }
        grid
    }

    /// The prediction at `f * 4 + d` (quarter samples), `d` in -3..=3 on both axes,
    /// into `out` (stride 16): what `crate::inter::luma` gives for that vector.
    pub fn predict(&self, d: [i32; 2], out: &mut [u8; 256]) {
        debug_assert!(d.iter().all(|v| (-3..=3).contains(v)));
        let (d0, d1) = (d[0].clamp(-3, 3), d[1].clamp(-3, 3));
        // Integer part (0 for -3..=-1, 1 for 0..=3) and fraction of the offset.
        let (ox, oy) = ((1 + (d0 >> 2)) as usize, (1 + (d1 >> 2)) as usize);
        let (fx, fy) = (d0 & 3, d1 & 3);
        let (g, b, h, j) = (&self.g, &self.b, &self.h, &self.j);
        // Each position is one plane, or the rounded average of two (8.4.2.2.1),
        // given as (plane, column offset, row offset).
        let (p, q): (At<'_>, Option<At<'_>>) = match (fx, fy) {
            (0, 0) => ((g, 0, 0), None),
            (1, 0) => ((g, 0, 0), Some((b, 0, 0))),
            (2, 0) => ((b, 0, 0), None),
            (3, 0) => ((g, 1, 0), Some((b, 0, 0))),
            (0, 1) => ((g, 0, 0), Some((h, 0, 0))),
            (0, 2) => ((h, 0, 0), None),
            (0, 3) => ((g, 0, 1), Some((h, 0, 0))),
            (1, 1) => ((b, 0, 0), Some((h, 0, 0))),
            (3, 1) => ((b, 0, 0), Some((h, 1, 0))),
            (1, 3) => ((h, 0, 0), Some((b, 0, 1))),
            (3, 3) => ((h, 1, 0), Some((b, 0, 1))),
            (2, 1) => ((b, 0, 0), Some((j, 0, 0))),
            (2, 3) => ((j, 0, 0), Some((b, 0, 1))),
            (1, 2) => ((h, 0, 0), Some((j, 0, 0))),
            (3, 2) => ((j, 0, 0), Some((h, 1, 0))),
            _ => ((j, 0, 0), None),
        };
        let w = self.w;
        for yy in 0..self.hgt {
            let o = &mut out[yy * 16..yy * 16 + w];
            let pr = &p.0[oy + yy + p.2][ox + p.1..ox + p.1 + w];
            match q {
                None => o.copy_from_slice(pr),
                Some(q) => {
                    let qr = &q.0[oy + yy + q.2][ox + q.1..ox + q.1 + w];
                    for ((o, &a), &c) in o.iter_mut().zip(pr).zip(qr) {
                        *o = ((a as u16 + c as u16 + 1) >> 1) as u8;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inter;

    /// A small deterministic generator (xorshift), so the test needs no crate.
    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    fn check(data: &[u8], pw: i32, ph: i32, seed: &mut u64, trials: usize) {
        let r = RefPlane {
            data,
            stride: pw as usize,
            width: pw,
            height: ph,
        };
        for _ in 0..trials {
            let (w, h) = [(16, 16), (16, 8), (8, 16), (8, 8)][(rng(seed) % 4) as usize];
            let x = (rng(seed) % (pw as u64 / 16)) as i32 * 16 + [0, 8][(rng(seed) % 2) as usize];
            let y = (rng(seed) % (ph as u64 / 16)) as i32 * 16 + [0, 8][(rng(seed) % 2) as usize];
            // Vectors up to a block and more beyond every edge.
            let f = ((rng(seed) % 80) as i32 - 40, (rng(seed) % 80) as i32 - 40);
            let grid = Grid::new(r, x, y, f, w, h);
            for dy in -3..=3 {
                for dx in -3..=3 {
                    let mv = [(f.0 * 4 + dx) as i16, (f.1 * 4 + dy) as i16];
                    let mut want = [0u8; 256];
                    inter::luma(r, x, y, mv, w, h, &mut want, 16);
                    let mut got = [0u8; 256];
                    grid.predict([dx, dy], &mut got);
                    for row in 0..h {
                        assert_eq!(
                            got[row * 16..row * 16 + w],
                            want[row * 16..row * 16 + w],
                            "block {w}x{h} at ({x}, {y}), mv {mv:?}, row {row}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn grid_predictions_equal_the_decoders_interpolation() {
        let (pw, ph) = (64, 48);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..pw * ph).map(|_| rng(&mut seed) as u8).collect();
        check(&noise, pw, ph, &mut seed, 300);
        // Extremes: alternating 0/255 drives the 6-tap sums to both clipping ends.
        let stripes: Vec<u8> = (0..pw * ph)
            .map(|i| if (i % pw + i / pw) % 2 == 0 { 0 } else { 255 })
            .collect();
        check(&stripes, pw, ph, &mut seed, 100);
        let flat = vec![255u8; (pw * ph) as usize];
        check(&flat, pw, ph, &mut seed, 20);
    }
}
