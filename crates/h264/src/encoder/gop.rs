//! Adaptive B-frame placement (`b_adapt`): how many B pictures the next group gets,
//! decided on the scene-cut thumbnails (1/8-size luma) of the queued frames, with no
//! analysis of its own beyond comparing them.
//!
//! # The decision
//!
//! Costs are sums of absolute differences on the thumbnails, per 4x4 block the
//! cheapest of its intra cost (deviation from its mean) and its prediction from
//! the reference thumbnail(s) with a full search of two thumbnail samples (16
//! picture samples) around zero and a half-sample refinement; for a B picture the prediction is the best of list
//! 0, list 1 and their average. With `a` the last anchor and `q0, q1, ...` the
//! queued frames:
//!
//! - `q0` becomes a B picture when coding it as B between `a` and `q1`, and `q1`
//!   as P from `a`, costs less than coding both as P pictures, each from the one
//!   before it: `B(q0 | a, q1) + P(q1 | a) < P(q0 | a) + P(q1 | q0)`.
//! - Each further frame `qj` joins the group by the same comparison with `qj+1` as
//!   the candidate anchor: `B(qj | a, qj+1) + P(qj+1 | a) < P(qj | a) + P(qj+1 | qj)`,
//!   until one fails or the group has `bframes` B pictures.
//!
//! Both sides of each comparison are costs of the same frames on the same
//! thumbnails, so the decision is a ratio: it does not depend on the picture size
//! (nor on how much detail a thumbnail sample holds), only on how well the frames
//! predict each other. Fast or erratic motion makes the far prediction
//! `P(qj+1 | a)` expensive and ends the group early; still or steadily moving
//! content keeps the full group.
//!
//! # Memory
//!
//! One thumbnail per frame the lookahead holds plus the last anchor's, reserved by
//! [`super::Encoder::new`] (`(queued + 1) * w * h / 64` bytes).

/// Block size, in thumbnail samples, of the costs.
const BLOCK: usize = 4;
/// Search range around zero motion, in thumbnail samples (16 picture samples).
const RANGE: isize = 2;

/// The queued frames' thumbnails and the last anchor's.
#[derive(Debug)]
pub struct BAdapt {
    w: usize,
    h: usize,
    /// One thumbnail per queued frame, a ring in lookahead order from `head`.
    ring: Vec<Vec<u8>>,
    head: usize,
    len: usize,
    anchor: Vec<u8>,
    have_anchor: bool,
}

impl BAdapt {
    /// Bytes held for `queued` frames of thumbnails of `samples` samples.
    pub fn bytes_for(samples: usize, queued: usize) -> usize {
        (queued + 1) * samples
    }

    pub fn new(w: usize, h: usize, queued: usize) -> BAdapt {
        BAdapt {
            w,
            h,
            ring: (0..queued.max(1)).map(|_| vec![0; w * h]).collect(),
            head: 0,
            len: 0,
            anchor: vec![0; w * h],
            have_anchor: false,
        }
    }

    /// A frame was queued, with this thumbnail (`w * h` samples).
    pub fn push(&mut self, thumb: &[u8]) {
        if self.len == self.ring.len() {
            return;
        }
        let slot = (self.head + self.len) % self.ring.len();
        let n = self.ring[slot].len().min(thumb.len());
        self.ring[slot][..n].copy_from_slice(&thumb[..n]);
        self.len += 1;
    }

    /// The oldest queued frame was taken from the lookahead; `anchor` when it is
    /// coded as an anchor (I or P), whose thumbnail the next decision starts from.
    pub fn pop(&mut self, anchor: bool) {
        if self.len == 0 {
            return;
        }
        if anchor {
            std::mem::swap(&mut self.anchor, &mut self.ring[self.head]);
            self.have_anchor = true;
        }
        self.head = (self.head + 1) % self.ring.len();
        self.len -= 1;
    }

    fn queued(&self, k: usize) -> &[u8] {
        &self.ring[(self.head + k) % self.ring.len()]
    }

    /// How many of the queued frames, at most `max`, to code as B pictures before
    /// the next anchor (see the module documentation).
    pub fn decide(&self, max: usize) -> usize {
        let max = max.min(self.len.saturating_sub(1));
        if max == 0 || !self.have_anchor {
            return max;
        }
        let a = &self.anchor[..];
        // P(qj | a) of the previous step is the next step's P(qj+1 | a).
        let mut p_far = self.p_cost(self.queued(0), a);
        for j in 0..max {
            let (cur, next) = (self.queued(j), self.queued(j + 1));
            let p_next_far = self.p_cost(next, a);
            let as_b = self.b_cost(cur, a, next) + p_next_far;
            let as_p = p_far + self.p_cost(next, cur);
            if as_b >= as_p {
                return j;
            }
            p_far = p_next_far;
        }
        max
    }

    /// Intra cost of the block at `(bx, by)` of size `bw` x `bh` of `cur`.
    fn intra(&self, cur: &[u8], bx: usize, by: usize, bw: usize, bh: usize) -> u64 {
        let w = self.w;
        let mut sum = 0u32;
        for y in by..by + bh {
            sum += cur[y * w + bx..y * w + bx + bw]
                .iter()
                .map(|&v| v as u32)
                .sum::<u32>();
        }
        let n = (bw * bh) as u32;
        let mean = ((sum + n / 2) / n) as i32;
        let mut c = 0u64;
        for y in by..by + bh {
            for &v in &cur[y * w + bx..y * w + bx + bw] {
                c += (v as i32 - mean).unsigned_abs() as u64;
            }
        }
        c
    }

    /// Sample of `r` at half-sample position `(hx, hy)` (the rounded average of the
    /// two or four samples around it).
    fn at_half(&self, r: &[u8], hx: usize, hy: usize) -> u32 {
        let (x, y, fx, fy) = (hx >> 1, hy >> 1, hx & 1, hy & 1);
        let w = self.w;
        (r[y * w + x] as u32
            + r[y * w + x + fx] as u32
            + r[(y + fy) * w + x] as u32
            + r[(y + fy) * w + x + fx] as u32
            + 2)
            >> 2
    }

    /// SAD of the block at `(bx, by)` against `r` at half-sample position
    /// `(hx, hy)` of its corner, or `None` outside `r`.
    #[allow(clippy::too_many_arguments)]
    fn sad_half(
        &self,
        cur: &[u8],
        r: &[u8],
        bx: usize,
        by: usize,
        bw: usize,
        bh: usize,
        hx: isize,
        hy: isize,
    ) -> Option<u64> {
        if hx < 0 || hy < 0 {
            return None;
        }
        let (hx, hy) = (hx as usize, hy as usize);
        if (hx >> 1) + bw - 1 + (hx & 1) >= self.w || (hy >> 1) + bh - 1 + (hy & 1) >= self.h {
            return None;
        }
        let mut sad = 0u64;
        for y in 0..bh {
            for x in 0..bw {
                let c = cur[(by + y) * self.w + bx + x] as i32;
                sad += (c - self.at_half(r, hx + 2 * x, hy + 2 * y) as i32).unsigned_abs() as u64;
            }
        }
        Some(sad)
    }

    /// The best motion and SAD of the block in `r`: a full search over whole
    /// samples, then the eight half-sample positions around the best (so that a
    /// pan by a fraction of a thumbnail sample, which depends on the picture size,
    /// predicts about as well as one by whole samples). The motion is the block's
    /// corner in `r` in half samples.
    fn search(
        &self,
        cur: &[u8],
        r: &[u8],
        bx: usize,
        by: usize,
        bw: usize,
        bh: usize,
    ) -> (u64, (usize, usize)) {
        let (w, h) = (self.w, self.h);
        let mut best = (u64::MAX, (2 * bx, 2 * by));
        for dy in -RANGE..=RANGE {
            for dx in -RANGE..=RANGE {
                let (x0, y0) = (bx as isize + dx, by as isize + dy);
                if x0 < 0 || y0 < 0 || x0 as usize + bw > w || y0 as usize + bh > h {
                    continue;
                }
                let (x0, y0) = (x0 as usize, y0 as usize);
                let mut sad = 0u64;
                for y in 0..bh {
                    let a = &cur[(by + y) * w + bx..][..bw];
                    let b = &r[(y0 + y) * w + x0..][..bw];
                    sad += a
                        .iter()
                        .zip(b)
                        .map(|(&a, &b)| (a as i32 - b as i32).unsigned_abs() as u64)
                        .sum::<u64>();
                }
                if sad < best.0 {
                    best = (sad, (2 * x0, 2 * y0));
                }
            }
        }
        let (cx, cy) = (best.1 .0 as isize, best.1 .1 as isize);
        for (dx, dy) in [
            (-1, -1),
            (0, -1),
            (1, -1),
            (-1, 0),
            (1, 0),
            (-1, 1),
            (0, 1),
            (1, 1),
        ] {
            if let Some(sad) = self.sad_half(cur, r, bx, by, bw, bh, cx + dx, cy + dy) {
                if sad < best.0 {
                    best = (sad, ((cx + dx) as usize, (cy + dy) as usize));
                }
            }
        }
        best
    }

    /// Cost of `cur` as a P picture from `r`.
    fn p_cost(&self, cur: &[u8], r: &[u8]) -> u64 {
        let mut total = 0;
        for by in (0..self.h).step_by(BLOCK) {
            for bx in (0..self.w).step_by(BLOCK) {
                let (bw, bh) = (BLOCK.min(self.w - bx), BLOCK.min(self.h - by));
                let intra = self.intra(cur, bx, by, bw, bh);
                total += intra.min(self.search(cur, r, bx, by, bw, bh).0);
            }
        }
        total
    }

    /// Cost of `cur` as a B picture between `r0` and `r1`: per block the best of
    /// intra, either list and their average at the two searches' motion.
    fn b_cost(&self, cur: &[u8], r0: &[u8], r1: &[u8]) -> u64 {
        let w = self.w;
        let mut total = 0;
        for by in (0..self.h).step_by(BLOCK) {
            for bx in (0..self.w).step_by(BLOCK) {
                let (bw, bh) = (BLOCK.min(self.w - bx), BLOCK.min(self.h - by));
                let intra = self.intra(cur, bx, by, bw, bh);
                let (s0, (x0, y0)) = self.search(cur, r0, bx, by, bw, bh);
                let (s1, (x1, y1)) = self.search(cur, r1, bx, by, bw, bh);
                let mut bi = 0u64;
                for y in 0..bh {
                    for x in 0..bw {
                        let c = cur[(by + y) * w + bx + x] as i32;
                        let p0 = self.at_half(r0, x0 + 2 * x, y0 + 2 * y);
                        let p1 = self.at_half(r1, x1 + 2 * x, y1 + 2 * y);
                        bi += (c - ((p0 + p1 + 1) >> 1) as i32).unsigned_abs() as u64;
                    }
                }
                total += intra.min(s0).min(s1).min(bi);
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 40x24 thumbnail of smooth detail moved by `dx` samples, plus `noise` (a
    /// hash of the position and `seed`, 0..noise).
    fn thumb(dx: usize, noise: u32, seed: u32) -> Vec<u8> {
        (0..40 * 24)
            .map(|i| {
                let (x, y) = ((i % 40 + dx) as f64, (i / 40) as f64);
                let v = 128.0 + 50.0 * (x / 3.0).sin() + 40.0 * (y / 2.5 + x / 7.0).cos();
                let h = (i as u32 ^ seed.wrapping_mul(0x9e37_79b9)).wrapping_mul(0x85eb_ca6b) >> 16;
                (v as u32 + if noise > 0 { h % noise } else { 0 }).min(255) as u8
            })
            .collect()
    }

    fn queue(frames: &[Vec<u8>]) -> BAdapt {
        let mut b = BAdapt::new(40, 24, frames.len());
        for f in frames {
            b.push(f);
        }
        b.pop(true);
        b
    }

    #[test]
    fn slow_motion_keeps_the_group_and_fast_motion_ends_it() {
        // A slow pan with grain: bi-prediction averages the grain away, and the far
        // prediction stays good, so every candidate becomes a B picture.
        let pan: Vec<Vec<u8>> = (0..5).map(|t| thumb(t / 2, 24, t as u32)).collect();
        assert_eq!(queue(&pan).decide(3), 3);
        // Motion of a thumbnail sample (8 picture samples) a frame: from three
        // frames on it is beyond the search range from the anchor, where the
        // neighbour still predicts well, so the group ends early.
        let fast: Vec<Vec<u8>> = (0..5).map(|t| thumb(3 * t / 2, 24, t as u32)).collect();
        let n = queue(&fast).decide(3);
        assert!(n < 3, "{n}");
        // Never more than asked for or than queued.
        assert_eq!(queue(&pan).decide(1), 1);
        assert!(queue(&pan[..2]).decide(3) <= 1);
    }

    #[test]
    fn the_decision_does_not_depend_on_the_picture_size() {
        // The same content at two thumbnail sizes (a picture and one with each
        // sample doubled both ways) gives the same group lengths.
        let frames: Vec<Vec<u8>> = (0..6).map(|t| thumb(t, 30, t as u32)).collect();
        let double = |f: &Vec<u8>| -> Vec<u8> {
            (0..80 * 48)
                .map(|i| f[(i / 80 / 2) * 40 + (i % 80) / 2])
                .collect()
        };
        let small = queue(&frames);
        let mut big = BAdapt::new(80, 48, frames.len());
        for f in &frames {
            big.push(&double(f));
        }
        big.pop(true);
        for max in 1..=4 {
            let (s, b) = (small.decide(max), big.decide(max));
            assert!(s.abs_diff(b) <= 1, "max {max}: {s} at 40x24, {b} at 80x48");
        }
    }
}
