//! Motion estimation of a 16x16 block: candidate vectors (predictor, zero, P_Skip,
//! neighbours), a hexagon search on full samples by SAD + lambda x mvd bits, a square
//! refinement, then half- and quarter-sample refinement by SATD on the decoder's own
//! interpolation (`crate::inter::luma`), so the chosen prediction is the decoded one.

use super::mb::mvd_bits;
use super::quant;
use super::subpel::Grid;
use crate::inter::{self, RefPlane};

/// One block's search: a `w` x `h` partition at `(bx, by)` (samples) inside the
/// macroblock.
pub struct Search<'a> {
    /// Source macroblock, stride 16.
    pub src: &'a [u8; 256],
    pub bx: usize,
    pub by: usize,
    pub w: usize,
    pub h: usize,
    pub reference: RefPlane<'a>,
    /// Block position in the picture.
    pub x: i32,
    pub y: i32,
    /// Motion vector predictor (quarter samples): mvd costs are measured from it.
    pub mvp: [i16; 2],
    pub lambda: u32,
    /// Full-sample search range around the best candidate.
    pub range: i32,
    /// Vertical vector limit of the level (quarter samples).
    pub max_vmv: i32,
    /// Refine with diamonds instead of squares (partitions, whose candidates already
    /// come from a finished search).
    pub fast: bool,
}

const HEX: [(i32, i32); 6] = [(-2, 0), (-1, -2), (1, -2), (2, 0), (1, 2), (-1, 2)];
const DIAMOND: [(i32, i32); 4] = [(0, -1), (-1, 0), (1, 0), (0, 1)];
const SQUARE: [(i32, i32); 8] = [(-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1)];

impl Search<'_> {
    /// Limits of full-sample vectors: the block may reach one macroblock beyond the
    /// picture (the reference's edges repeat), and must keep the level's vertical
    /// range with room for the quarter-sample refinement.
    fn bounds(&self) -> (i32, i32, i32, i32) {
        let r = self.reference;
        let vmax = self.max_vmv / 4 - 1;
        // Horizontal vectors stay within -2048..2047.75 samples (Table A-1), so that
        // they fit the i16 quarter-sample vectors with room for refinement.
        let hmax = 2047 - 1;
        let (w, h) = (self.w as i32, self.h as i32);
        (
            (-self.x - w).max(-hmax),
            (r.width - self.x).min(hmax),
            (-self.y - h).max(-vmax),
            (r.height - self.y).min(vmax),
        )
    }

    fn sad_full(&self, mx: i32, my: i32) -> u32 {
        let r = self.reference;
        let (w, h) = (self.w, self.h);
        let (px, py) = (self.x + mx, self.y + my);
        let src_at = self.by * 16 + self.bx;
        if px >= 0 && py >= 0 && px + w as i32 <= r.width && py + h as i32 <= r.height {
            let base = py as usize * r.stride + px as usize;
            match w {
                16 => sad_rows::<16>(&r.data[base..], r.stride, &self.src[src_at..], h),
                8 => sad_rows::<8>(&r.data[base..], r.stride, &self.src[src_at..], h),
                _ => sad_rows::<4>(&r.data[base..], r.stride, &self.src[src_at..], h),
            }
        } else {
            // Partly outside: the decoder's edge-repeating prediction.
            let mut p = [0u8; 256];
            inter::luma(r, self.x, self.y, [(mx * 4) as i16, (my * 4) as i16], w, h, &mut p, 16);
            let mut s = 0u32;
            for yy in 0..h {
                for x in 0..w {
                    s += (p[yy * 16 + x] as i32 - self.src[src_at + yy * 16 + x] as i32).unsigned_abs();
                }
            }
            s
        }
    }

    fn cost_full(&self, mx: i32, my: i32) -> u32 {
        self.sad_full(mx, my) + self.lambda * mvd_bits([mx * 4, my * 4], self.mvp)
    }

    /// SATD + lambda x bits of the vector `centre * 4 + d`, predicted from `grid`.
    fn cost_sub(&self, grid: &Grid, centre: (i32, i32), d: [i32; 2], pred: &mut [u8; 256]) -> u32 {
        grid.predict(d, pred);
        let satd = if self.w == 16 && self.h == 16 {
            quant::satd16(pred, self.src)
        } else {
            quant::satd_at(pred, &self.src[self.by * 16 + self.bx..], self.w, self.h)
        };
        let mv = [centre.0 * 4 + d[0], centre.1 * 4 + d[1]];
        satd + self.lambda * mvd_bits(mv, self.mvp)
    }

    /// Runs the search from `cands` (quarter-sample vectors); returns the best vector
    /// and its SATD + lambda x bits cost, with its prediction in `pred` (stride 16).
    pub fn run(&self, cands: &[[i16; 2]], pred: &mut [u8; 256]) -> ([i16; 2], u32) {
        let (x0, x1, y0, y1) = self.bounds();
        let clampv = |mx: i32, my: i32| (mx.clamp(x0, x1), my.clamp(y0, y1));
        let mut best = (0, 0);
        let mut best_cost = u32::MAX;
        for c in cands {
            // Round to full samples.
            let (mx, my) = clampv((c[0] as i32 + 2) >> 2, (c[1] as i32 + 2) >> 2);
            let cost = self.cost_full(mx, my);
            if cost < best_cost {
                best_cost = cost;
                best = (mx, my);
            }
        }
        let start = best;
        // Hexagon: move to the best of six points until the centre wins.
        for _ in 0..self.range {
            let mut moved = None;
            for (dx, dy) in HEX {
                let (mx, my) = (best.0 + dx, best.1 + dy);
                if mx < x0 || mx > x1 || my < y0 || my > y1 {
                    continue;
                }
                if (mx - start.0).abs() > self.range || (my - start.1).abs() > self.range {
                    continue;
                }
                let cost = self.cost_full(mx, my);
                if cost < best_cost {
                    best_cost = cost;
                    moved = Some((mx, my));
                }
            }
            match moved {
                Some(m) => best = m,
                None => break,
            }
        }
        let centre = best;
        let ring: &[(i32, i32)] = if self.fast { &DIAMOND } else { &SQUARE };
        for &(dx, dy) in ring {
            let (mx, my) = (centre.0 + dx, centre.1 + dy);
            if mx < x0 || mx > x1 || my < y0 || my > y1 {
                continue;
            }
            let cost = self.cost_full(mx, my);
            if cost < best_cost {
                best_cost = cost;
                best = (mx, my);
            }
        }
        // Sub-sample refinement by SATD: half, then quarter samples, every candidate
        // formed from one grid of half samples around the full-sample winner.
        let grid = Grid::new(self.reference, self.x, self.y, best, self.w, self.h);
        let mut d = [0i32; 2];
        let mut scratch = [0u8; 256];
        let mut cost = self.cost_sub(&grid, best, d, pred);
        let vlim = self.max_vmv;
        for step in [2, 1] {
            let centre = d;
            for &(dx, dy) in &DIAMOND {
                let cand = [centre[0] + dx * step, centre[1] + dy * step];
                let v = best.1 * 4 + cand[1];
                if v < -vlim || v >= vlim {
                    continue;
                }
                let c = self.cost_sub(&grid, best, cand, &mut scratch);
                if c < cost {
                    cost = c;
                    d = cand;
                    *pred = scratch;
                }
            }
        }
        let mv = [best.0 * 4 + d[0], best.1 * 4 + d[1]];
        ([mv[0] as i16, mv[1] as i16], cost)
    }
}

/// Sum of absolute differences of an `W`-wide block of `h` rows: `a` with row stride
/// `stride`, `b` with stride 16. Fixed-width rows let the compiler vectorise the sum.
#[inline(always)]
fn sad_rows<const W: usize>(a: &[u8], stride: usize, b: &[u8], h: usize) -> u32 {
    let mut s = 0u32;
    for yy in 0..h {
        let ra: &[u8; W] = a[yy * stride..yy * stride + W].try_into().expect("W samples");
        let rb: &[u8; W] = b[yy * 16..yy * 16 + W].try_into().expect("W samples");
        let mut row = 0u16;
        for x in 0..W {
            row += ra[x].abs_diff(rb[x]) as u16;
        }
        s += row as u32;
    }
    s
}
