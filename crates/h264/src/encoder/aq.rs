//! Per-macroblock QP: the QP each macroblock is coded at (the picture's QP plus an
//! offset from adaptive quantisation or a debug pattern), the macroblock
//! parameters of every QP (built once, so choosing a QP per macroblock allocates
//! nothing), and the mb_qp_delta bookkeeping of 7.4.5: a macroblock codes its QP as
//! a difference from the previous macroblock's QPY in decoding order, and only when
//! it has residual or is Intra 16x16; the others (skipped ones too) keep the
//! predicted QP, which is then also their QP for the deblocking filter.

use super::cabac::CabacWriter;
use super::mb::MbParams;

/// The per-QP parameters and the current picture's per-macroblock offsets,
/// reserved in [`super::Encoder::new`].
#[derive(Debug)]
pub struct MbQp {
    /// Macroblock parameters of QP 0..=51, with the configured tools.
    params: Vec<MbParams>,
    /// QP offset of each macroblock of the picture being coded, in raster order.
    offsets: Vec<i8>,
    /// Whether any offset of the current picture is non-zero.
    active: bool,
}

/// Adaptive quantisation's offsets are kept within this many QP of the picture's:
/// beyond it, flat areas would get near-lossless QPs and busy ones lose their
/// structure.
const AQ_LIMIT: f32 = 8.0;

impl MbQp {
    /// Heap bytes of the tables for `mbs` macroblocks.
    pub fn bytes_for(mbs: usize) -> usize {
        52 * std::mem::size_of::<MbParams>() + mbs
    }

    /// Tables for `mbs` macroblocks; `template` gives the tools and the chroma QP
    /// offset (its own QP does not matter).
    pub fn new(template: &MbParams, chroma_offset: i32, mbs: usize) -> MbQp {
        let p = template;
        let params = (0..52)
            .map(|qp| MbParams::new(qp, chroma_offset, p.intra4x4, p.partitions, p.me_range, p.max_vmv).with_8x8(p.t8x8, p.cabac).with_search(p.search))
            .collect();
        MbQp {
            params,
            offsets: vec![0; mbs],
            active: false,
        }
    }

    /// Parameters of macroblock `addr` in a picture of QP `pic_qp`.
    pub fn params(&self, addr: usize, pic_qp: i32) -> &MbParams {
        let off = if self.active { self.offsets[addr] as i32 } else { 0 };
        &self.params[(pic_qp + off).clamp(0, 51) as usize]
    }

    /// No offsets for the next picture: every macroblock at the picture's QP.
    pub fn clear(&mut self) {
        self.active = false;
    }

    /// A debug pattern of offsets in -`amplitude`..=`amplitude` that changes from
    /// one macroblock to the next and from picture to picture (`seed`), so that
    /// every kind of macroblock meets large positive and negative mb_qp_delta
    /// values, and the QP range's ends.
    pub fn pattern(&mut self, amplitude: u8, seed: u32) {
        let n = 2 * amplitude as u32 + 1;
        for (addr, o) in self.offsets.iter_mut().enumerate() {
            *o = (((addr as u32).wrapping_mul(7).wrapping_add(seed.wrapping_mul(3))) % n) as i8 - amplitude as i8;
        }
        self.active = amplitude > 0;
    }

    /// Adds `extra` (per macroblock, raster order) to the offsets, rounded.
    pub fn add(&mut self, extra: &[f32]) {
        if !self.active {
            self.offsets.iter_mut().for_each(|o| *o = 0);
        }
        for (o, &e) in self.offsets.iter_mut().zip(extra) {
            *o = (*o as f32 + e).round().clamp(-51.0, 51.0) as i8;
        }
        self.active = true;
    }

    /// Variance adaptive quantisation: each macroblock's offset is `strength`
    /// times the log2 of its luma AC energy (sum of squared deviations from its
    /// mean) less the picture's mean of that log2, so busy macroblocks, where
    /// quantisation noise is masked, get coarser QPs and flat ones finer, with the
    /// picture's mean QP about unchanged. `y` is the source luma (stride `stride`,
    /// `width` x `height` visible; macroblocks past the edge repeat its samples).
    pub fn variance_aq(&mut self, strength: f32, y: &[u8], stride: usize, width: usize, height: usize, mb_w: usize) {
        if strength <= 0.0 || self.offsets.is_empty() {
            self.active = false;
            return;
        }
        let mb_h = self.offsets.len() / mb_w;
        // The energies are computed twice (for the mean, then for the offsets)
        // rather than stored: one more pass over the luma is cheap next to coding
        // the picture, and it needs no table.
        let log_energy = |mx: usize, my: usize| -> f32 {
            let (mut sum, mut sq) = (0u64, 0u64);
            for r in 0..16 {
                let row = (my * 16 + r).min(height - 1) * stride;
                for c in 0..16 {
                    let v = y[row + (mx * 16 + c).min(width - 1)] as u64;
                    sum += v;
                    sq += v * v;
                }
            }
            let energy = sq - sum * sum / 256;
            // At least a variance of 1 per sample: below it, noise of the source
            // decides, and a picture with many exactly flat macroblocks would
            // otherwise pull the mean down and push all others far coarser.
            (energy.max(256) as f32).log2()
        };
        let mut mean = 0.0f64;
        for my in 0..mb_h {
            for mx in 0..mb_w {
                mean += log_energy(mx, my) as f64;
            }
        }
        let mean = (mean / self.offsets.len() as f64) as f32;
        for my in 0..mb_h {
            for mx in 0..mb_w {
                let off = (strength * (log_energy(mx, my) - mean)).clamp(-AQ_LIMIT, AQ_LIMIT);
                self.offsets[my * mb_w + mx] = off.round() as i8;
            }
        }
        self.active = true;
    }
}

/// mb_qp_delta of the macroblocks of one slice, in decoding order.
#[derive(Debug, Clone, Copy)]
pub struct QpPredictor {
    /// QPY,PRED: the previous macroblock's QPY (SliceQPY for the first).
    pred: i32,
    /// Whether the previous macroblock coded a non-zero mb_qp_delta (the ctxIdxInc
    /// of its first bin with CABAC).
    last_nonzero: bool,
}

impl QpPredictor {
    pub fn new(slice_qp: i32) -> QpPredictor {
        QpPredictor {
            pred: slice_qp,
            last_nonzero: false,
        }
    }

    /// The next macroblock, coded at `qp`, with or without mb_qp_delta (`coded`:
    /// it has residual or is Intra 16x16). Returns its QPY (`qp`, or the predicted
    /// QP when it codes no delta) and the delta to write, in -26..=25 (the QP
    /// wraps modulo 52, 7.4.5).
    pub fn next(&mut self, qp: i32, coded: bool) -> (i32, i32) {
        if !coded {
            self.last_nonzero = false;
            return (self.pred, 0);
        }
        let mut d = qp - self.pred;
        if d > 25 {
            d -= 52;
        } else if d < -26 {
            d += 52;
        }
        self.pred = qp;
        self.last_nonzero = d != 0;
        (qp, d)
    }

    /// ctxIdxInc of the first bin of the next mb_qp_delta: whether the previous
    /// macroblock's was non-zero (before [`QpPredictor::next`] for it).
    pub fn ctx_inc(&self) -> usize {
        self.last_nonzero as usize
    }
}

/// Writes mb_qp_delta `d` with CABAC (9.3.2.7 and Table 9-39): mapped to
/// 2|d| - 1 for positive and 2|d| for other values, unary, the first bin in context
/// 60 + `ctx_inc`, the second in 62 and the others in 63.
pub fn write_cabac_qp_delta(cw: &mut CabacWriter<'_, '_>, d: i32, ctx_inc: usize) {
    let v = if d > 0 { 2 * d - 1 } else { -2 * d } as u32;
    cw.decision(60 + ctx_inc, v > 0);
    for i in 1..=v {
        cw.decision(if i == 1 { 62 } else { 63 }, i < v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncoded_macroblocks_keep_the_predicted_qp_and_deltas_wrap() {
        let mut p = QpPredictor::new(26);
        assert_eq!(p.next(30, true), (30, 4));
        assert_eq!(p.ctx_inc(), 1);
        // A skipped macroblock: QPY stays 30, and the next context is 0.
        assert_eq!(p.next(10, false), (30, 0));
        assert_eq!(p.ctx_inc(), 0);
        assert_eq!(p.next(30, true), (30, 0));
        assert_eq!(p.ctx_inc(), 0);
        // 30 to 0 is -30: out of -26..=25, so coded as +22 (modulo 52).
        assert_eq!(p.next(0, true), (0, 22));
        assert_eq!(p.next(51, true), (51, -1));
        assert_eq!(p.next(25, true), (25, -26));
        assert_eq!(p.next(50, true), (50, 25));
    }

    #[test]
    fn variance_aq_is_finer_on_flat_and_coarser_on_busy_macroblocks() {
        let template = MbParams::new(26, 0, true, true, 16, 512);
        let mut q = MbQp::new(&template, 0, 4);
        // Four macroblocks in a row: flat, gentle ramp, texture, noise.
        let (w, h) = (64usize, 16usize);
        let mut y = vec![0u8; w * h];
        for r in 0..h {
            for c in 0..w {
                y[r * w + c] = match c / 16 {
                    0 => 100,
                    1 => 100 + (c % 16) as u8,
                    2 => 100 + 20 * ((c + r) % 3) as u8,
                    _ => ((c * 131 + r * 71) % 251) as u8,
                };
            }
        }
        q.variance_aq(1.0, &y, w, w, h, 4);
        let qps: Vec<i32> = (0..4).map(|a| q.params(a, 26).qp).collect();
        assert!(qps.windows(2).all(|p| p[0] < p[1]), "{qps:?}");
        assert!(qps.iter().all(|&v| (26 - 8..=26 + 8).contains(&v)), "{qps:?}");
        q.variance_aq(0.0, &y, w, w, h, 4);
        assert!((0..4).all(|a| q.params(a, 26).qp == 26));
        // The pattern stays within its amplitude and the QP range.
        q.pattern(30, 1);
        assert!((0..4).all(|a| (0..=51).contains(&q.params(a, 50).qp)));
        assert!((0..4).any(|a| q.params(a, 26).qp != 26));
    }
}
