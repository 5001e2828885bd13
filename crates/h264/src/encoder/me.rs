//! Motion estimation of a block: candidate vectors (predictor, zero, P_Skip,
//! neighbours), an integer search on full samples by SAD + lambda x mvd bits (a
//! diamond, a hexagon with a square refinement, or UMH's cross and hexagonal rings
//! before them: [`MeMethod`]), then half- and quarter-sample refinement by SATD on
//! the decoder's own interpolation (`crate::inter::luma`) at one of the
//! `subpel_refine` levels, so the chosen prediction is the decoded one.

use super::config::MeMethod;
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
    /// Integer search pattern ([`MeMethod::Umh`] only for searches that are not
    /// `fast`; they use the hexagon).
    pub method: MeMethod,
    /// Sub-sample refinement level (`EncoderConfig::subpel_refine`).
    pub subpel: u8,
}

const HEX: [(i32, i32); 6] = [(-2, 0), (-1, -2), (1, -2), (2, 0), (1, 2), (-1, 2)];
const DIAMOND: [(i32, i32); 4] = [(0, -1), (-1, 0), (1, 0), (0, 1)];
/// One step of the sub-sample refinement: (step in quarter samples, pattern, most
/// rounds).
type RefineStep = (i32, &'static [(i32, i32)], usize);

/// A hexagonal ring of radius 4 (16 points), scaled for UMH's wider rings.
const HEX16: [(i32, i32); 16] = [
    (0, -4),
    (2, -3),
    (4, -2),
    (4, -1),
    (4, 0),
    (4, 1),
    (4, 2),
    (2, 3),
    (0, 4),
    (-2, 3),
    (-4, 2),
    (-4, 1),
    (-4, 0),
    (-4, -1),
    (-4, -2),
    (-2, -3),
];
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

    /// Moves the best vector by `pattern` until its centre wins (at most `range`
    /// moves), keeping within the search bounds and `range` of `start`.
    fn descend(&self, pattern: &[(i32, i32)], bounds: (i32, i32, i32, i32), start: (i32, i32), best: &mut (i32, i32), best_cost: &mut u32) {
        let (x0, x1, y0, y1) = bounds;
        for _ in 0..self.range {
            let mut moved = None;
            for &(dx, dy) in pattern {
                let (mx, my) = (best.0 + dx, best.1 + dy);
                if mx < x0 || mx > x1 || my < y0 || my > y1 {
                    continue;
                }
                if (mx - start.0).abs() > self.range || (my - start.1).abs() > self.range {
                    continue;
                }
                let cost = self.cost_full(mx, my);
                if cost < *best_cost {
                    *best_cost = cost;
                    moved = Some((mx, my));
                }
            }
            match moved {
                Some(m) => *best = m,
                None => break,
            }
        }
    }

    /// Tries each of `points` (absolute full-sample vectors) that lies within the
    /// bounds and `range` of `start`.
    fn try_points(
        &self,
        points: impl Iterator<Item = (i32, i32)>,
        bounds: (i32, i32, i32, i32),
        start: (i32, i32),
        best: &mut (i32, i32),
        best_cost: &mut u32,
    ) {
        let (x0, x1, y0, y1) = bounds;
        for (mx, my) in points {
            if mx < x0 || mx > x1 || my < y0 || my > y1 {
                continue;
            }
            if (mx - start.0).abs() > self.range || (my - start.1).abs() > self.range {
                continue;
            }
            let cost = self.cost_full(mx, my);
            if cost < *best_cost {
                *best_cost = cost;
                *best = (mx, my);
            }
        }
    }

    /// Runs the search from `cands` (quarter-sample vectors); returns the best vector
    /// and its SATD + lambda x bits cost, with its prediction in `pred` (stride 16).
    pub fn run(&self, cands: &[[i16; 2]], pred: &mut [u8; 256]) -> ([i16; 2], u32) {
        let bounds = self.bounds();
        let (x0, x1, y0, y1) = bounds;
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
        let method = if self.fast && self.method == MeMethod::Umh { MeMethod::Hexagon } else { self.method };
        match method {
            MeMethod::Diamond => self.descend(&DIAMOND, bounds, start, &mut best, &mut best_cost),
            MeMethod::Hexagon | MeMethod::Umh => {
                if method == MeMethod::Umh {
                    // A cross over the range (motion is mostly horizontal, so half
                    // the range vertically), then hexagonal rings around its winner.
                    let r = self.range;
                    let cross = (1..=r / 2).flat_map(|k| [(start.0 - 2 * k, start.1), (start.0 + 2 * k, start.1)]);
                    self.try_points(cross, bounds, start, &mut best, &mut best_cost);
                    let cross = (1..=r / 4).flat_map(|k| [(start.0, start.1 - 2 * k), (start.0, start.1 + 2 * k)]);
                    self.try_points(cross, bounds, start, &mut best, &mut best_cost);
                    let c = best;
                    let rings = (1..=r / 4).flat_map(|k| HEX16.iter().map(move |&(dx, dy)| (c.0 + dx * k, c.1 + dy * k)));
                    self.try_points(rings, bounds, start, &mut best, &mut best_cost);
                }
                // Hexagon: move to the best of six points until the centre wins.
                self.descend(&HEX, bounds, start, &mut best, &mut best_cost);
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
            }
        }
        if self.subpel == 0 {
            // Full samples only: the SATD of the winner, for the mode decision.
            let mv = [(best.0 * 4) as i16, (best.1 * 4) as i16];
            inter::luma(self.reference, self.x, self.y, mv, self.w, self.h, pred, 16);
            let satd = if self.w == 16 && self.h == 16 {
                quant::satd16(pred, self.src)
            } else {
                quant::satd_at(pred, &self.src[self.by * 16 + self.bx..], self.w, self.h)
            };
            return (mv, satd + self.lambda * mvd_bits([best.0 * 4, best.1 * 4], self.mvp));
        }
        // Sub-sample refinement by SATD: half, then quarter samples, every candidate
        // formed from one grid of half samples around the full-sample winner.
        let grid = Grid::new(self.reference, self.x, self.y, best, self.w, self.h);
        let mut d = [0i32; 2];
        let mut scratch = [0u8; 256];
        let mut cost = self.cost_sub(&grid, best, d, pred);
        let vlim = self.max_vmv;
        // (step, pattern, rounds) per level: diamonds, then squares, then the
        // quarter-sample square repeated while it moves.
        let plan: &[RefineStep] = match self.subpel {
            1 => &[(2, &DIAMOND, 1)],
            2 => &[(2, &DIAMOND, 1), (1, &DIAMOND, 1)],
            3 => &[(2, &SQUARE, 1), (1, &SQUARE, 1)],
            _ => &[(2, &SQUARE, 1), (1, &SQUARE, 3)],
        };
        for &(step, pattern, rounds) in plan {
            for _ in 0..rounds {
                let centre = d;
                for &(dx, dy) in pattern {
                    let cand = [centre[0] + dx * step, centre[1] + dy * step];
                    // The grid holds offsets of up to three quarter samples.
                    if cand[0].abs() > 3 || cand[1].abs() > 3 {
                        continue;
                    }
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
                if d == centre {
                    break;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An isotropic, non-repeating texture of `w` x `h`: noise blurred over 5x5, so
    /// that the SAD falls towards the true vector from a few samples away in every
    /// direction (a texture of plane waves would have valleys along its fronts).
    fn texture(w: usize, h: usize) -> Vec<u8> {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<i32> = (0..w * h)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed % 256) as i32
            })
            .collect();
        (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as i32, (i / w) as i32);
                let mut s = 0;
                for dy in -2..=2 {
                    for dx in -2..=2 {
                        let (xx, yy) = ((x + dx).clamp(0, w as i32 - 1), (y + dy).clamp(0, h as i32 - 1));
                        s += noise[yy as usize * w + xx as usize];
                    }
                }
                // Stretch the blurred noise's narrow range back over 0..=255.
                ((s / 25 - 128) * 4 + 128).clamp(0, 255) as u8
            })
            .collect()
    }

    /// The 16x16 source at `(x, y)` moved by `mv` (quarter samples) in `r`.
    fn moved(r: RefPlane<'_>, x: i32, y: i32, mv: [i16; 2]) -> [u8; 256] {
        let mut src = [0u8; 256];
        inter::luma(r, x, y, mv, 16, 16, &mut src, 16);
        src
    }

    fn search<'a>(src: &'a [u8; 256], r: RefPlane<'a>, method: MeMethod, subpel: u8) -> Search<'a> {
        Search {
            src,
            bx: 0,
            by: 0,
            w: 16,
            h: 16,
            reference: r,
            x: 48,
            y: 48,
            mvp: [0, 0],
            lambda: 4,
            range: 16,
            max_vmv: 2048,
            fast: false,
            method,
            subpel,
        }
    }

    #[test]
    fn every_method_and_level_returns_the_decoders_prediction_of_its_vector() {
        let (w, h) = (128, 128);
        let data = texture(w, h);
        let r = RefPlane { data: &data, stride: w, width: w as i32, height: h as i32 };
        for true_mv in [[8i16, -4], [13, 6], [-22, 9], [40, -36]] {
            let src = moved(r, 48, 48, true_mv);
            for method in MeMethod::ALL {
                for subpel in 0..=4 {
                    let s = search(&src, r, method, subpel);
                    let mut pred = [0u8; 256];
                    let (mv, cost) = s.run(&[[0, 0]], &mut pred);
                    let want = moved(r, 48, 48, mv);
                    assert_eq!(pred, want, "{method:?} subpel {subpel} from {true_mv:?}: prediction of {mv:?}");
                    let satd = quant::satd16(&pred, &src);
                    assert_eq!(cost, satd + 4 * mvd_bits([mv[0] as i32, mv[1] as i32], [0, 0]));
                    if subpel == 0 {
                        assert!(mv[0] % 4 == 0 && mv[1] % 4 == 0, "{method:?} level 0 gave {mv:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn small_motion_is_found_exactly_and_higher_levels_reach_quarter_samples() {
        let (w, h) = (128, 128);
        let data = texture(w, h);
        let r = RefPlane { data: &data, stride: w, width: w as i32, height: h as i32 };
        // A perfect candidate is kept, and a one-sample move from zero is found, by
        // every method at every level.
        for (true_mv, cands) in [([8i16, -8], [[0i16, 0], [8, -8]]), ([4, 0], [[0, 0], [0, 0]])] {
            let src = moved(r, 48, 48, true_mv);
            for method in MeMethod::ALL {
                for subpel in 0..=4 {
                    let mut pred = [0u8; 256];
                    let (mv, _) = search(&src, r, method, subpel).run(&cands, &mut pred);
                    assert_eq!(mv, true_mv, "{method:?} subpel {subpel} cost {}", quant::satd16(&pred, &src));
                }
            }
        }
        // Quarter-sample vectors: level 0 stops at a full sample, level 1 at a half
        // sample, level 2's diamonds reach a quarter sample on one axis, and the
        // squares of levels 3 and 4 diagonal ones too.
        for (target, exact_from) in [([9i16, -8], 2), ([9, -7], 3)] {
            let src = moved(r, 48, 48, target);
            for subpel in 0..=4 {
                let mut pred = [0u8; 256];
                let (mv, cost) = search(&src, r, MeMethod::Hexagon, subpel).run(&[[0, 0]], &mut pred);
                match subpel {
                    0 => assert!(mv[0] % 4 == 0 && mv[1] % 4 == 0),
                    1 => assert!(mv[0] % 2 == 0 && mv[1] % 2 == 0),
                    _ if subpel >= exact_from => {
                        assert_eq!((mv, quant::satd16(&pred, &src)), (target, 0), "subpel {subpel} cost {cost}")
                    }
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn umh_finds_motion_the_hexagon_misses_from_a_poor_start() {
        // Far beyond the texture's correlation length (a few samples) the SAD is
        // flat, so a local search from zero stops early; UMH's cross and rings land
        // near the true vector and its refinement reaches it.
        let (w, h) = (160, 128);
        let data = texture(w, h);
        let r = RefPlane { data: &data, stride: w, width: w as i32, height: h as i32 };
        let mut hex_found = 0;
        for true_mv in [[56i16, 0], [-60, 4], [48, -8], [-52, 12], [36, 36]] {
            let src = moved(r, 48, 48, true_mv);
            let mut pred = [0u8; 256];
            let (hex_mv, hex_cost) = search(&src, r, MeMethod::Hexagon, 2).run(&[[0, 0]], &mut pred);
            let (umh_mv, umh_cost) = search(&src, r, MeMethod::Umh, 2).run(&[[0, 0]], &mut pred);
            assert_eq!(umh_mv, true_mv, "umh cost {umh_cost}, hexagon {hex_mv:?} {hex_cost}");
            assert!(umh_cost <= hex_cost);
            hex_found += usize::from(hex_mv == true_mv);
        }
        assert!(hex_found < 5, "the hexagon alone found every long vector: the test shows nothing");
    }
}
