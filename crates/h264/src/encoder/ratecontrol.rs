//! Rate control: a QP per picture from a cheap complexity measure, x264's published
//! model, either at a constant rate factor ([`Crf`]) or at an average bitrate
//! ([`Abr`]). Each anchor (I or P picture) brings the cost of its 1/8-size
//! luma thumbnail predicted from the previous frame (the scene-cut search's own
//! measure, no second thumbnail), blurred over recent anchors with a decay of one
//! half; the P-equivalent quantiser scale is
//! `blurred_complexity^(1 - qcomp) / rate_factor` with `qcomp = 0.6`. With a rate
//! factor, `rate_factor` puts content of [`BASE_COST`] per thumbnail sample at
//! exactly the `crf` value; at an average bitrate it is learnt from the bits the
//! coded pictures took (see [`Abr`]). I pictures are `IP_FACTOR` finer, B pictures
//! `PB_FACTOR` coarser than the mean of their two anchors. All of it is f64
//! arithmetic on the frames' costs and sizes alone (no time, no threads), so one
//! input always gives the same QPs.

/// x264's qcomp: the quantiser scale follows complexity^(1 - qcomp), so 1 is
/// constant QP and 0 scales the quantiser with complexity (about constant bits per
/// picture). 0.6 spends more bits on complex pictures, but less than in proportion.
const QCOMP: f64 = 0.6;
/// Quantiser scale ratios of P to I pictures and of B to P pictures (x264's
/// `--ipratio` and `--pbratio` defaults).
const IP_FACTOR: f64 = 1.4;
const PB_FACTOR: f64 = 1.3;
/// Largest change of the P-equivalent QP from one anchor to the next (x264's
/// `--qpstep`).
const QP_STEP: f64 = 4.0;
/// Thumbnail cost per sample (sum of absolute prediction errors of 8x8-sample
/// averages, per thumbnail sample) that counts as average content: with it, a P
/// picture gets QP `crf`. On the bench's 720p clip (`cargo xtask bench encode`) P
/// pictures cost about 1 per sample, so crf 26 gives P pictures QP 25 there; the
/// small committed sources, with more motion per thumbnail sample, get QPs 1 to 4
/// coarser than crf.
pub const BASE_COST: f64 = 1.0;

/// How many times its cost as a P picture a frame's intra thumbnail cost is taken to
/// be, when nothing predicts it (the first frame, a scene cut with no later frame of
/// the scene queued).
pub const INTRA_PER_INTER: u64 = 4;

/// x264's quantiser scale of a QP: 0.85 * 2^((qp - 12) / 6).
pub(crate) fn qscale(qp: f64) -> f64 {
    0.85 * ((qp - 12.0) / 6.0).exp2()
}

pub(crate) fn qp_of(qscale: f64) -> f64 {
    12.0 + 6.0 * (qscale / 0.85).log2()
}

/// The state of the rate control between pictures.
#[derive(Debug, Clone)]
pub struct Crf {
    rate_factor: f64,
    blur: Blur,
}

impl Crf {
    /// For a picture of `samples` thumbnail samples at rate factor `crf` (0..=51).
    pub fn new(crf: f64, samples: usize) -> Crf {
        let base = BASE_COST * samples.max(1) as f64;
        Crf {
            rate_factor: base.powf(1.0 - QCOMP) / qscale(crf),
            blur: Blur::default(),
        }
    }

    /// QP of the next anchor, of thumbnail cost `cost`; `intra` for an I picture.
    pub fn anchor_qp(&mut self, cost: u64, samples: usize, intra: bool) -> i32 {
        let blurred = self.blur.push(cost, samples);
        self.blur.anchor(qp_of(blurred.powf(1.0 - QCOMP) / self.rate_factor), intra)
    }

    /// QP of a B picture between the latest anchor and the one before it.
    pub fn b_qp(&self) -> i32 {
        self.blur.b_qp()
    }
}

/// Picture types as the rate control sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PicType {
    I,
    P,
    B,
}

impl PicType {
    /// The P-equivalent quantiser scale of a picture of this type coded at `qscale`:
    /// what its anchor would have had, undoing the I and B factors.
    fn p_equivalent(self, qscale: f64) -> f64 {
        match self {
            PicType::I => qscale * IP_FACTOR,
            PicType::P => qscale,
            PicType::B => qscale / PB_FACTOR,
        }
    }
}

/// One-pass average bitrate, in x264's manner (written from its published design,
/// not its code). The P-equivalent quantiser scale of an anchor is
/// `blurred_complexity^(1 - qcomp) / rate_factor` as with a rate factor, but
/// `rate_factor` is learnt: it is the bits wanted over the sum, for the recently
/// coded pictures (decayed by [`ABR_DECAY`] per picture), of
/// `bits * qscale / complexity^(1 - qcomp)` (its bits scaled to unit quantiser
/// scale and complexity, with I and B pictures' scales made P-equivalent), so a model in which bits go as
/// `complexity^(1 - qcomp) / qscale` would have spent exactly the target with it.
/// Then the error so far is compensated: the scale is multiplied by
/// `1 + (bits spent - bits wanted) / buffer`, within 0.5..=2, where the buffer is
/// [`ABR_BUFFER_SECONDS`] of the target rate (growing with the square root of the
/// time coded, so that a long encode is not steered by old errors more than
/// its average can absorb). Before the first picture the model holds one
/// imaginary picture of the target size at a QP guessed from the bits per pixel.
#[derive(Debug, Clone)]
pub struct Abr {
    /// Target bits per frame and per second.
    frame_bits: f64,
    second_bits: f64,
    fps: f64,
    /// Sums of wanted bits and of the coded pictures' normalised bits.
    wanted_window: f64,
    cplxr_sum: f64,
    /// Bits spent and wanted since the first picture, and pictures coded.
    spent: f64,
    wanted: f64,
    frames: u64,
    blur: Blur,
    /// `complexity^(1 - qcomp)` of the latest anchor, which the B pictures after it
    /// share.
    last_rceq: f64,
}

/// Seconds of the target rate the overflow compensation is measured against
/// (before its square-root growth): the scale doubles (at most) when this many
/// seconds' worth of bits have been spent beyond the target. On the tests' 30 s
/// clip (`tests/encode/rate.rs`), at 150 and 600 kbit/s, 1 s ends 0.5% and 2.6%
/// over the target, 0.5 s 0.3% and 1.6%.
pub const ABR_BUFFER_SECONDS: f64 = 0.5;

/// Decay per coded picture of the sums the rate factor is learnt from: about the
/// last 33 pictures count. Without it (x264's one-pass ABR) a large keyframe or a
/// change of content whose bits the thumbnail cost predicts badly steers the rate
/// factor for the rest of the encode, and the overflow compensation has to undo
/// it: on the tests' clip 5.4% and 4.2% over the target instead of 0.3% and 1.6%,
/// at 150 and 600 kbit/s. The price is more variation of the QP after keyframes.
pub const ABR_DECAY: f64 = 0.97;

impl Abr {
    /// For `kbps` kilobits per second at `fps` frames per second, pictures of
    /// `pixels` luma samples and `samples` thumbnail samples.
    pub fn new(kbps: u32, fps: f64, pixels: usize, samples: usize) -> Abr {
        let second_bits = kbps as f64 * 1000.0;
        let frame_bits = second_bits / fps;
        // A first guess from bits per pixel: about QP 29 at a quarter bit per pixel
        // on ordinary content, 6 QP per halving. Its weight is one picture, so the
        // first coded pictures correct it.
        let bpp = frame_bits / pixels.max(1) as f64;
        let qp0 = (29.0 - 6.0 * (bpp / 0.25).log2()).clamp(10.0, 45.0);
        let base = BASE_COST * samples.max(1) as f64;
        let rate_factor = base.powf(1.0 - QCOMP) / qscale(qp0);
        Abr {
            frame_bits,
            second_bits,
            fps,
            wanted_window: frame_bits,
            cplxr_sum: frame_bits / rate_factor,
            spent: 0.0,
            wanted: 0.0,
            frames: 0,
            blur: Blur::default(),
            last_rceq: base.powf(1.0 - QCOMP),
        }
    }

    /// QP of the next anchor, of thumbnail cost `cost`; `intra` for an I picture.
    pub fn anchor_qp(&mut self, cost: u64, samples: usize, intra: bool) -> i32 {
        let blurred = self.blur.push(cost, samples);
        let rceq = blurred.powf(1.0 - QCOMP);
        self.last_rceq = rceq;
        let mut q = rceq * self.cplxr_sum / self.wanted_window;
        if self.frames > 0 {
            let seconds = self.frames as f64 / self.fps;
            let buffer = ABR_BUFFER_SECONDS * self.second_bits * seconds.sqrt().max(1.0);
            q *= (1.0 + (self.spent - self.wanted) / buffer).clamp(0.5, 2.0);
        }
        self.blur.anchor(qp_of(q), intra)
    }

    /// QP of a B picture between the latest anchor and the one before it.
    pub fn b_qp(&self) -> i32 {
        self.blur.b_qp()
    }

    /// Learns from a coded picture: `bits` at QP `qp`.
    pub fn update(&mut self, bits: f64, qp: i32, kind: PicType) {
        let q = kind.p_equivalent(qscale(qp as f64));
        self.cplxr_sum = self.cplxr_sum * ABR_DECAY + bits * q / self.last_rceq;
        self.wanted_window = self.wanted_window * ABR_DECAY + self.frame_bits;
        self.spent += bits;
        self.wanted += self.frame_bits;
        self.frames += 1;
    }
}

/// The complexity blur and QP history shared by [`Crf`] and [`Abr`].
#[derive(Debug, Clone, Default)]
struct Blur {
    /// Decayed sums of the anchors' costs and of their count.
    cplx_sum: f64,
    cplx_count: f64,
    /// P-equivalent QP (unrounded) of the latest anchor and of the one before it.
    last: Option<f64>,
    prev: Option<f64>,
    /// The latest anchor's cost, floored, as [`Rate::cplx`] reports it.
    cost: f64,
}

impl Blur {
    /// Takes an anchor's cost into the blur and returns the blurred complexity.
    fn push(&mut self, cost: u64, samples: usize) -> f64 {
        // A floor of a quarter level per sample, so that a still picture (cost 0)
        // gets a finite scale rather than QP 0.
        let cost = (cost as f64).max(samples.max(1) as f64 / 4.0);
        self.cost = cost;
        self.cplx_sum = self.cplx_sum * 0.5 + cost;
        self.cplx_count = self.cplx_count * 0.5 + 1.0;
        self.cplx_sum / self.cplx_count
    }

    /// Records an anchor's P-equivalent QP `qp` (limited to the step from the last
    /// one and to 0..=51) and returns the QP to code it with.
    fn anchor(&mut self, mut qp: f64, intra: bool) -> i32 {
        if let Some(last) = self.last {
            qp = qp.clamp(last - QP_STEP, last + QP_STEP);
        }
        qp = qp.clamp(0.0, 51.0);
        self.prev = self.last;
        self.last = Some(qp);
        let q = if intra { qp_of(qscale(qp) / IP_FACTOR) } else { qp };
        round_qp(q)
    }

    fn b_qp(&self) -> i32 {
        let last = self.last.unwrap_or(26.0);
        let mean = (last + self.prev.unwrap_or(last)) / 2.0;
        round_qp(qp_of(qscale(mean) * PB_FACTOR))
    }
}

/// The rate control of an encoder with one: a rate factor or an average bitrate.
#[derive(Debug, Clone)]
pub enum Rate {
    Crf(Crf),
    Abr(Abr),
}

impl Rate {
    /// QP of the next anchor, of thumbnail cost `cost`; `intra` for an I picture.
    pub fn anchor_qp(&mut self, cost: u64, samples: usize, intra: bool) -> i32 {
        match self {
            Rate::Crf(c) => c.anchor_qp(cost, samples, intra),
            Rate::Abr(a) => a.anchor_qp(cost, samples, intra),
        }
    }

    /// QP of a B picture between the latest anchor and the one before it.
    pub fn b_qp(&self) -> i32 {
        match self {
            Rate::Crf(c) => c.b_qp(),
            Rate::Abr(a) => a.b_qp(),
        }
    }

    /// Learns from a coded picture (the rate factor needs nothing).
    pub fn update(&mut self, bits: f64, qp: i32, kind: PicType) {
        if let Rate::Abr(a) = self {
            a.update(bits, qp, kind);
        }
    }

    /// The latest anchor's thumbnail cost (floored as the QP model floors it): the
    /// complexity the VBV's size predictors scale with, for the anchor and the B
    /// pictures after it.
    pub fn cplx(&self) -> f64 {
        match self {
            Rate::Crf(c) => c.blur.cost,
            Rate::Abr(a) => a.blur.cost,
        }
    }
}

fn round_qp(qp: f64) -> i32 {
    (qp.round() as i32).clamp(0, 51)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_content_gets_the_crf_and_offsets_follow_the_factors() {
        let n = 1000;
        let average = (BASE_COST * n as f64) as u64;
        let mut rc = Crf::new(23.0, n);
        // An IDR picture of average cost: 6 log2(1.4) = 2.9 finer.
        assert_eq!(rc.anchor_qp(average, n, true), 20);
        assert_eq!(rc.anchor_qp(average, n, false), 23);
        // 6 log2(1.3) = 2.3 coarser.
        assert_eq!(rc.b_qp(), 25);
    }

    #[test]
    fn complexity_moves_the_qp_by_at_most_the_step_and_within_range() {
        let n = 100;
        let average = (BASE_COST * n as f64) as u64;
        let mut rc = Crf::new(30.0, n);
        assert_eq!(rc.anchor_qp(average, n, false), 30);
        // A thousand times the cost: 0.4 * 6 log2(1000) = 24 QP, limited to +4 per
        // anchor, and never above 51.
        let qps: Vec<i32> = (0..8).map(|_| rc.anchor_qp(average * 1000, n, false)).collect();
        assert_eq!(&qps[..5], &[34, 38, 42, 46, 50]);
        assert!(qps.iter().all(|&q| q <= 51));
        // Still pictures: the floor keeps the scale finite, and the QP falls step by
        // step.
        let mut rc = Crf::new(0.0, n);
        for _ in 0..20 {
            let q = rc.anchor_qp(0, n, false);
            assert!((0..=51).contains(&q));
        }
        assert_eq!(rc.anchor_qp(0, n, false), 0);
        let mut rc = Crf::new(51.0, n);
        assert_eq!(rc.anchor_qp(u64::MAX, n, false), 51);
        assert_eq!(rc.b_qp(), 51);
    }
}
