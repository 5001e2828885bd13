//! Scene-cut detection on luma thumbnails: each frame sent is shrunk to 1/8 size
//! (8x8 averages), and compared with the previous frame's thumbnail by a small
//! motion search. A frame the previous one predicts worse than it predicts itself
//! (its own deviation from block means) starts a new scene. The cheaper of the two
//! costs is also the frame's complexity for the constant rate factor
//! ([`super::ratecontrol`]).

/// Thumbnail block size in thumbnail samples, and the search range around zero
/// motion (in thumbnail samples: 16 picture samples).
const BLOCK: usize = 8;
const RANGE: isize = 2;

/// The thumbnails of the last two frames sent, reserved once.
#[derive(Debug)]
pub struct SceneCut {
    w: usize,
    h: usize,
    cur: Vec<u8>,
    prev: Vec<u8>,
    have_prev: bool,
    /// The last frame's complexity: its thumbnail's cost as a P picture (the
    /// cheaper of intra and inter), or its intra cost for the first frame.
    cost: u64,
}

impl SceneCut {
    /// Thumbnail bytes for a `width` x `height` picture (two thumbnails).
    pub fn bytes_for(width: usize, height: usize) -> usize {
        2 * (width / 8).max(1) * (height / 8).max(1)
    }

    pub fn new(width: usize, height: usize) -> SceneCut {
        let (w, h) = ((width / 8).max(1), (height / 8).max(1));
        SceneCut {
            w,
            h,
            cur: vec![0; w * h],
            prev: vec![0; w * h],
            have_prev: false,
            cost: 0,
        }
    }

    /// Thumbnail samples of a `width` x `height` picture.
    pub fn new_samples(width: usize, height: usize) -> usize {
        (width / 8).max(1) * (height / 8).max(1)
    }

    /// Samples of the thumbnail, the scale of [`SceneCut::cost`].
    pub fn samples(&self) -> usize {
        self.w * self.h
    }

    /// The last frame's thumbnail (`width() * height()` samples, row by row).
    pub fn thumbnail(&self) -> &[u8] {
        &self.cur
    }

    /// Complexity of the last frame pushed, in thumbnail levels summed over the
    /// thumbnail.
    pub fn cost(&self) -> u64 {
        self.cost
    }

    /// Shrinks the luma plane `y` (stride `stride`, at least `8 * w` x `8 * h`
    /// visible samples) into the thumbnail and tells whether it starts a new scene.
    pub fn push(&mut self, y: &[u8], stride: usize) -> bool {
        std::mem::swap(&mut self.cur, &mut self.prev);
        for ty in 0..self.h {
            for tx in 0..self.w {
                let mut sum = 0u32;
                for r in 0..8 {
                    let at = (ty * 8 + r) * stride + tx * 8;
                    sum += y[at..at + 8].iter().map(|&v| v as u32).sum::<u32>();
                }
                self.cur[ty * self.w + tx] = ((sum + 32) >> 6) as u8;
            }
        }
        let had = self.have_prev;
        self.have_prev = true;
        let (intra, inter) = self.costs(had);
        self.cost = intra.min(inter);
        // A cut: the previous frame predicts this one worse than nine tenths of its
        // own deviation, and by more than two levels per thumbnail sample (so that
        // noise on flat pictures is no cut, while a cut between flat pictures is).
        let n = (self.w * self.h) as u64;
        had && inter * 10 > intra * 9 && inter > 2 * n
    }

    /// Intra cost (deviation from block means) and, with a previous frame, inter
    /// cost (best SAD in the search window) of the current thumbnail; the inter cost
    /// is `u64::MAX` without one.
    fn costs(&self, with_prev: bool) -> (u64, u64) {
        let (w, h) = (self.w, self.h);
        let (mut intra, mut inter) = (0u64, 0u64);
        for by in (0..h).step_by(BLOCK) {
            for bx in (0..w).step_by(BLOCK) {
                let (bw, bh) = (BLOCK.min(w - bx), BLOCK.min(h - by));
                let mut sum = 0u32;
                for y in by..by + bh {
                    sum += self.cur[y * w + bx..y * w + bx + bw].iter().map(|&v| v as u32).sum::<u32>();
                }
                let n = (bw * bh) as u32;
                let mean = ((sum + n / 2) / n) as i32;
                for y in by..by + bh {
                    for &v in &self.cur[y * w + bx..y * w + bx + bw] {
                        intra += (v as i32 - mean).unsigned_abs() as u64;
                    }
                }
                if !with_prev {
                    continue;
                }
                let mut best = u64::MAX;
                for dy in -RANGE..=RANGE {
                    for dx in -RANGE..=RANGE {
                        let (x0, y0) = (bx as isize + dx, by as isize + dy);
                        if x0 < 0 || y0 < 0 || x0 as usize + bw > w || y0 as usize + bh > h {
                            continue;
                        }
                        let mut sad = 0u64;
                        for y in 0..bh {
                            let a = &self.cur[(by + y) * w + bx..(by + y) * w + bx + bw];
                            let at = (y0 as usize + y) * w + x0 as usize;
                            let b = &self.prev[at..at + bw];
                            sad += a.iter().zip(b).map(|(&a, &b)| (a as i32 - b as i32).unsigned_abs() as u64).sum::<u64>();
                        }
                        best = best.min(sad);
                    }
                }
                inter += best;
            }
        }
        (intra, if with_prev { inter } else { u64::MAX })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(f: impl Fn(usize, usize) -> u8) -> Vec<u8> {
        (0..64 * 64).map(|i| f(i % 64, i / 64)).collect()
    }

    #[test]
    fn a_new_picture_is_a_cut_and_motion_or_noise_is_not() {
        let mut sc = SceneCut::new(64, 64);
        // Smooth detail, as photographs have (thumbnails keep it).
        let texture = |x: usize, y: usize| {
            let (x, y) = (x as f64, y as f64);
            (128.0 + 60.0 * (x / 9.0).sin() + 50.0 * (y / 7.0 + x / 23.0).cos()) as u8
        };
        assert!(!sc.push(&picture(texture), 64), "the first frame has nothing to compare with");
        // Panned by 5 samples, and a little noise: the same scene.
        assert!(!sc.push(&picture(|x, y| texture(x + 5, y)), 64));
        assert!(!sc.push(&picture(|x, y| texture(x + 5, y).saturating_add(((x * y) % 3) as u8)), 64));
        // Something else entirely.
        assert!(sc.push(&picture(|x, y| if (x / 16 + y / 16) % 2 == 0 { 230 } else { 20 }), 64));
        // Flat black after it: a cut too; flat black again is not.
        assert!(sc.push(&picture(|_, _| 16), 64));
        assert!(!sc.push(&picture(|_, _| 17), 64));
    }
}
