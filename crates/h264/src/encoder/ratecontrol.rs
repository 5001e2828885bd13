//! Constant rate factor: a QP per picture from a cheap complexity measure, x264's
//! published model. Each anchor (I or P picture) brings the cost of its 1/8-size
//! luma thumbnail predicted from the previous frame (the scene-cut search's own
//! measure, no second thumbnail), blurred over recent anchors with a decay of one
//! half; the P-equivalent quantiser scale is
//! `blurred_complexity^(1 - qcomp) / rate_factor` with `qcomp = 0.6`, and
//! `rate_factor` puts content of [`BASE_COST`] per thumbnail sample at exactly the
//! `crf` value. I pictures are `IP_FACTOR` finer, B pictures `PB_FACTOR` coarser than
//! the mean of their two anchors. All of it is f64 arithmetic on the frames' costs
//! alone (no time, no threads), so one input always gives the same QPs.

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
fn qscale(qp: f64) -> f64 {
    0.85 * ((qp - 12.0) / 6.0).exp2()
}

fn qp_of(qscale: f64) -> f64 {
    12.0 + 6.0 * (qscale / 0.85).log2()
}

/// The state of the rate control between pictures.
#[derive(Debug, Clone)]
pub struct Crf {
    rate_factor: f64,
    /// Decayed sums of the anchors' costs and of their count.
    cplx_sum: f64,
    cplx_count: f64,
    /// P-equivalent QP (unrounded) of the latest anchor and of the one before it.
    last: Option<f64>,
    prev: Option<f64>,
}

impl Crf {
    /// For a picture of `samples` thumbnail samples at rate factor `crf` (0..=51).
    pub fn new(crf: f64, samples: usize) -> Crf {
        let base = BASE_COST * samples.max(1) as f64;
        Crf {
            rate_factor: base.powf(1.0 - QCOMP) / qscale(crf),
            cplx_sum: 0.0,
            cplx_count: 0.0,
            last: None,
            prev: None,
        }
    }

    /// QP of the next anchor, of thumbnail cost `cost`; `intra` for an I picture.
    pub fn anchor_qp(&mut self, cost: u64, samples: usize, intra: bool) -> i32 {
        // A floor of a quarter level per sample, so that a still picture (cost 0)
        // gets a finite scale rather than QP 0.
        let cost = (cost as f64).max(samples.max(1) as f64 / 4.0);
        self.cplx_sum = self.cplx_sum * 0.5 + cost;
        self.cplx_count = self.cplx_count * 0.5 + 1.0;
        let blurred = self.cplx_sum / self.cplx_count;
        let mut qp = qp_of(blurred.powf(1.0 - QCOMP) / self.rate_factor);
        if let Some(last) = self.last {
            qp = qp.clamp(last - QP_STEP, last + QP_STEP);
        }
        qp = qp.clamp(0.0, 51.0);
        self.prev = self.last;
        self.last = Some(qp);
        let q = if intra { qp_of(qscale(qp) / IP_FACTOR) } else { qp };
        round_qp(q)
    }

    /// QP of a B picture between the latest anchor and the one before it.
    pub fn b_qp(&self) -> i32 {
        let last = self.last.unwrap_or(26.0);
        let mean = (last + self.prev.unwrap_or(last)) / 2.0;
        round_qp(qp_of(qscale(mean) * PB_FACTOR))
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
