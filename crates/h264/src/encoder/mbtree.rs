//! Macroblock-tree QP offsets (the algorithm Fiona Glaser published for x264): how
//! much of each macroblock's information later frames reuse, estimated on half-size
//! luma over the frames queued in the lookahead, lowers its QP.
//!
//! Each frame sent is shrunk to half size and each of its 8x8 half-size blocks (one
//! macroblock) gets an intra cost (its deviation from its mean), an inter cost and
//! a motion vector (a small search in the previous frame's half-size picture).
//! When an anchor is coded, the queued frames after it (up to the next scene cut)
//! are walked from the last back to the anchor: a block passes on to the blocks
//! its motion vector points at the share `1 - inter / intra` of its own intra cost
//! plus what it received, split by overlap. The anchor's macroblocks then get the
//! offset `-strength * log2((intra + propagated) / intra)`, with `strength = 5 *
//! (1 - qcomp) = 2`: a block that later frames copy from gets a finer QP, since
//! its errors would be copied too.

use transcode_frame_pool::{Budget, Reservation, SharedFrame};

/// x264's mb-tree strength: 5 * (1 - qcomp) with qcomp 0.6.
const STRENGTH: f32 = 2.0;
/// Most QP an offset lowers a macroblock by.
const MAX_OFFSET: f32 = 12.0;
/// Motion search range in half-size samples (64 picture samples).
const RANGE: i32 = 32;

/// The half-size analysis of one queued frame.
#[derive(Debug)]
struct Stats {
    intra: Vec<u32>,
    inter: Vec<u32>,
    /// Motion in half-size samples.
    mv: Vec<[i16; 2]>,
}

/// Half-size pictures, the queued frames' block costs and the propagation buffers,
/// all reserved in [`MbTree::new`].
#[derive(Debug)]
pub struct MbTree {
    mb_w: usize,
    mb_h: usize,
    /// Half-size luma of the last frame sent and of the one before it, `mb_w * 8`
    /// wide.
    cur: Vec<u8>,
    prev: Vec<u8>,
    have_prev: bool,
    /// A ring of one slot per frame the lookahead holds, in its order from `head`.
    slots: Vec<Stats>,
    head: usize,
    len: usize,
    /// Propagated amounts of the frame being walked and of the one before it, and
    /// the offsets of the last anchor.
    prop: Vec<f32>,
    dst: Vec<f32>,
    offsets: Vec<f32>,
    _reserved: Reservation,
}

impl MbTree {
    /// Bytes held for `frames` queued frames of `mb_w` x `mb_h` macroblocks.
    pub fn bytes_for(mb_w: usize, mb_h: usize, frames: usize) -> usize {
        let n = mb_w * mb_h;
        2 * n * 64 + frames * n * 12 + 3 * n * 4
    }

    /// Reserves against `budget` the tables for `frames` queued frames.
    pub fn new(mb_w: usize, mb_h: usize, frames: usize, budget: &Budget) -> transcode_core::Result<MbTree> {
        let reserved = budget.reserve("encoder mb-tree", Self::bytes_for(mb_w, mb_h, frames) as u64)?;
        let n = mb_w * mb_h;
        Ok(MbTree {
            mb_w,
            mb_h,
            cur: vec![0; n * 64],
            prev: vec![0; n * 64],
            have_prev: false,
            slots: (0..frames.max(1))
                .map(|_| Stats {
                    intra: vec![0; n],
                    inter: vec![0; n],
                    mv: vec![[0; 2]; n],
                })
                .collect(),
            head: 0,
            len: 0,
            prop: vec![0.0; n],
            dst: vec![0.0; n],
            offsets: vec![0.0; n],
            _reserved: reserved,
        })
    }

    /// Analyses a frame just queued (`width` x `height` visible luma); frames must
    /// be pushed and popped in the lookahead's order.
    pub fn push(&mut self, frame: &SharedFrame, width: usize, height: usize) {
        std::mem::swap(&mut self.cur, &mut self.prev);
        let (y, stride) = (frame.plane(0), frame.stride(0));
        let hw = self.mb_w * 8;
        for hy in 0..self.mb_h * 8 {
            let r0 = (2 * hy).min(height - 1) * stride;
            let r1 = (2 * hy + 1).min(height - 1) * stride;
            for hx in 0..hw {
                let (c0, c1) = ((2 * hx).min(width - 1), (2 * hx + 1).min(width - 1));
                let s = y[r0 + c0] as u32 + y[r0 + c1] as u32 + y[r1 + c0] as u32 + y[r1 + c1] as u32;
                self.cur[hy * hw + hx] = ((s + 2) >> 2) as u8;
            }
        }
        let had = self.have_prev;
        self.have_prev = true;
        let slot = (self.head + self.len) % self.slots.len();
        self.len = (self.len + 1).min(self.slots.len());
        let mut st = std::mem::replace(
            &mut self.slots[slot],
            Stats {
                intra: Vec::new(),
                inter: Vec::new(),
                mv: Vec::new(),
            },
        );
        for my in 0..self.mb_h {
            for mx in 0..self.mb_w {
                let b = my * self.mb_w + mx;
                let intra = self.intra_cost(mx, my);
                st.intra[b] = intra;
                if !had {
                    st.inter[b] = intra;
                    st.mv[b] = [0; 2];
                    continue;
                }
                let left = if mx > 0 { st.mv[b - 1] } else { [0; 2] };
                let top = if my > 0 { st.mv[b - self.mb_w] } else { [0; 2] };
                let (cost, mv) = self.search(mx, my, [[0, 0], left, top]);
                st.inter[b] = cost;
                st.mv[b] = mv;
            }
        }
        self.slots[slot] = st;
    }

    /// Forgets the oldest queued frame (taken from the lookahead).
    pub fn pop(&mut self) {
        if self.len > 0 {
            self.head = (self.head + 1) % self.slots.len();
            self.len -= 1;
        }
    }

    /// Sum of absolute deviations of the half-size block from its mean, plus a
    /// small cost for the mode, so that flat blocks cost more than nothing.
    fn intra_cost(&self, mx: usize, my: usize) -> u32 {
        let hw = self.mb_w * 8;
        let at = |i: usize| self.cur[(my * 8 + i / 8) * hw + mx * 8 + i % 8] as i32;
        let mean = ((0..64).map(at).sum::<i32>() + 32) >> 6;
        (0..64).map(|i| (at(i) - mean).unsigned_abs()).sum::<u32>() + 16
    }

    fn sad(&self, mx: usize, my: usize, mv: [i16; 2]) -> u32 {
        let hw = self.mb_w * 8;
        let (x0, y0) = ((mx * 8) as i32 + mv[0] as i32, (my * 8) as i32 + mv[1] as i32);
        let mut sad = 0;
        for r in 0..8 {
            let a = &self.cur[(my * 8 + r) * hw + mx * 8..][..8];
            let b = &self.prev[(y0 as usize + r) * hw + x0 as usize..][..8];
            sad += a.iter().zip(b).map(|(&a, &b)| (a as i32 - b as i32).unsigned_abs()).sum::<u32>();
        }
        sad
    }

    /// Whether the block at motion `mv` lies inside the previous half-size picture
    /// and the search range.
    fn inside(&self, mx: usize, my: usize, mv: [i16; 2]) -> bool {
        let (x0, y0) = ((mx * 8) as i32 + mv[0] as i32, (my * 8) as i32 + mv[1] as i32);
        mv[0].unsigned_abs() as i32 <= RANGE
            && mv[1].unsigned_abs() as i32 <= RANGE
            && x0 >= 0
            && y0 >= 0
            && x0 as usize + 8 <= self.mb_w * 8
            && y0 as usize + 8 <= self.mb_h * 8
    }

    /// The best of the candidates, refined by single steps while that helps.
    fn search(&self, mx: usize, my: usize, candidates: [[i16; 2]; 3]) -> (u32, [i16; 2]) {
        let mut best = (u32::MAX, [0i16; 2]);
        for c in candidates {
            if self.inside(mx, my, c) {
                let s = self.sad(mx, my, c);
                if s < best.0 {
                    best = (s, c);
                }
            }
        }
        for _ in 0..16 {
            let centre = best.1;
            for d in [[-1i16, 0], [1, 0], [0, -1], [0, 1]] {
                let c = [centre[0] + d[0], centre[1] + d[1]];
                if self.inside(mx, my, c) {
                    let s = self.sad(mx, my, c);
                    if s < best.0 {
                        best = (s, c);
                    }
                }
            }
            if best.1 == centre {
                break;
            }
        }
        best
    }

    /// The offsets of the last [`MbTree::anchor_offsets`].
    pub fn offsets(&self) -> &[f32] {
        &self.offsets
    }

    /// Computes the QP offsets of the oldest queued frame (the anchor about to be
    /// coded) from the `after` queued frames that follow it, and returns them
    /// (raster order, zero or negative).
    pub fn anchor_offsets(&mut self, after: usize) -> &[f32] {
        let after = after.min(self.len.saturating_sub(1));
        let n = self.mb_w * self.mb_h;
        self.prop.iter_mut().for_each(|p| *p = 0.0);
        let hw = (self.mb_w * 8) as i32;
        let hh = (self.mb_h * 8) as i32;
        for f in (1..=after).rev() {
            self.dst.iter_mut().for_each(|p| *p = 0.0);
            let st = &self.slots[(self.head + f) % self.slots.len()];
            for b in 0..n {
                let intra = st.intra[b].max(1) as f32;
                let inter = (st.inter[b] as f32).min(intra);
                let amount = (intra + self.prop[b]) * (intra - inter) / intra;
                if amount <= 0.0 {
                    continue;
                }
                // The referenced 8x8 area, split over the up to four blocks it
                // overlaps, in proportion to the overlap.
                let (mx, my) = ((b % self.mb_w) as i32, (b / self.mb_w) as i32);
                let x = (mx * 8 + st.mv[b][0] as i32).clamp(0, hw - 8);
                let y = (my * 8 + st.mv[b][1] as i32).clamp(0, hh - 8);
                let (bx, by, fx, fy) = (x / 8, y / 8, x % 8, y % 8);
                for (dx, wx) in [(0, 8 - fx), (1, fx)] {
                    for (dy, wy) in [(0, 8 - fy), (1, fy)] {
                        if wx == 0 || wy == 0 {
                            continue;
                        }
                        let t = ((by + dy) * self.mb_w as i32 + bx + dx) as usize;
                        self.dst[t] += amount * (wx * wy) as f32 / 64.0;
                    }
                }
            }
            std::mem::swap(&mut self.prop, &mut self.dst);
        }
        let st = &self.slots[self.head % self.slots.len()];
        for b in 0..n {
            let intra = st.intra[b].max(1) as f32;
            let off = -STRENGTH * ((intra + self.prop[b]) / intra).log2();
            self.offsets[b] = off.max(-MAX_OFFSET);
        }
        &self.offsets
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use transcode_core::MemoryConfig;
    use transcode_frame_pool::{FrameLayout, FramePool, FramePoolConfig, PixelFormat};

    fn frames(f: impl Fn(usize, usize, usize) -> u8, n: usize) -> Vec<SharedFrame> {
        let memory = MemoryConfig::default();
        let budget = Budget::from_config(&memory);
        let layout = FrameLayout::new(PixelFormat::Yuv420p, 64, 48).unwrap();
        let mut cfg = FramePoolConfig::new(layout, &memory);
        cfg.capacity = n as u32;
        let pool = FramePool::new(cfg, &budget).unwrap();
        (0..n)
            .map(|k| {
                let mut fr = pool.acquire();
                let stride = fr.stride(0);
                for y in 0..48 {
                    for x in 0..64 {
                        fr.plane_mut(0)[y * stride + x] = f(k, x, y);
                    }
                }
                fr.into_shared()
            })
            .collect()
    }

    fn texture(x: usize, y: usize) -> u8 {
        let (x, y) = (x as f64, y as f64);
        (128.0 + 60.0 * (x / 3.0).sin() + 50.0 * (y / 2.5 + x / 7.0).cos()) as u8
    }

    fn offsets_of(frames: &[SharedFrame]) -> Vec<f32> {
        let budget = Budget::from_config(&MemoryConfig::default());
        let mut t = MbTree::new(4, 3, frames.len(), &budget).unwrap();
        for f in frames {
            t.push(f, 64, 48);
        }
        t.anchor_offsets(frames.len() - 1).to_vec()
    }

    #[test]
    fn blocks_later_frames_copy_get_finer_and_unrelated_ones_keep_their_qp() {
        // A still picture: every later frame copies the anchor, so each of the
        // anchor's blocks gets (nearly) the same large negative offset, the larger
        // the more frames follow.
        let still = frames(|_, x, y| texture(x, y), 6);
        let off = offsets_of(&still);
        assert!(off.iter().all(|&o| (-MAX_OFFSET..-4.0).contains(&o)), "{off:?}");
        let fewer = offsets_of(&still[..3]);
        assert!(fewer.iter().zip(&off).all(|(a, b)| a > b), "{fewer:?} vs {off:?}");
        // Noise that changes completely from frame to frame: nothing is reused.
        let noise = frames(|k, x, y| ((x * 131 + y * 71 + k * 977) * 2654435761 % 251) as u8, 6);
        let off = offsets_of(&noise);
        assert!(off.iter().all(|&o| o > -1.0), "{off:?}");
        // Texture panning left by 2 samples a frame, with new noise coming in on
        // the right: the blocks on the left leave the picture, so they are reused
        // less than those on the right of the anchor.
        let pan = frames(|k, x, y| if x + 2 * k < 64 { texture(x + 2 * k, y) } else { ((x * y * 7 + k) % 97) as u8 }, 6);
        let off = offsets_of(&pan);
        for row in 0..3 {
            assert!(off[row * 4] > off[row * 4 + 2], "row {row}: {off:?}");
        }
        assert!(off.iter().all(|&o| (-MAX_OFFSET..=0.0).contains(&o)));
    }
}
