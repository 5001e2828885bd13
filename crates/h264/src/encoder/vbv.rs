//! The video buffering verifier: a leaky-bucket model of the decoder's coded
//! picture buffer, which raises a picture's QP before it is coded when its
//! predicted size would drain the buffer too far, and asks for it to be coded
//! again, coarser, when its actual size would underflow the buffer.
//!
//! # The model
//!
//! The buffer holds `bufsize` bits and fills at `maxrate` while it is not full (a
//! variable-rate hypothetical reference decoder, cbr_flag 0). It starts `init`
//! full; each access unit (every byte of it: start codes, parameter sets, SEI and
//! slices) is taken out whole at its decoding time, one frame interval after the
//! one before it. An access unit bigger than the buffer's fill at that time is an
//! underflow: a decoder fed at `maxrate` would have to wait for it.
//!
//! ```text
//!   fill ─► fill - bits (never below 0) ─► min(bufsize, fill - bits + maxrate / fps)
//! ```
//!
//! # Planning
//!
//! A picture's size is predicted per picture type as `k * complexity / qscale`,
//! with `k` learnt from the pictures coded (decayed by a half) and complexity the
//! rate control's thumbnail cost. The QP chosen by the rate control is raised
//! until the prediction fits what the buffer allows the picture:
//!
//! - P and B pictures: the rate per frame plus the fill above half the buffer
//!   spread over a quarter of the buffer's duration (a deficit below half is paid
//!   back at that pace), so a long busy stretch settles at half full;
//! - I pictures: all but 40% of the fill, so the pictures after a large keyframe
//!   still find bits in the buffer;
//! - any picture: at most 90% of the fill, a margin for the prediction's error.
//!
//! A picture that came out bigger than the fill (or twice what it was allowed) is
//! coded again at a QP raised by its overshoot, at most [`MAX_RECODES`] times;
//! at QP 51 it stays as it is.

use super::headers::SliceKind;
use super::ratecontrol::{qscale, PicType};
use transcode_core::Result;
use transcode_frame_pool::SharedFrame;

/// Most times one picture is coded again to fit the buffer.
pub const MAX_RECODES: u32 = 4;

/// A per-type size predictor: bits = `k * complexity / qscale`.
#[derive(Debug, Clone, Copy)]
struct Predictor {
    k: f64,
    weight: f64,
}

impl Predictor {
    fn bits(&self, qp: i32, cplx: f64) -> f64 {
        self.k * cplx / qscale(qp as f64)
    }

    fn observe(&mut self, bits: f64, qp: i32, cplx: f64) {
        let k = bits * qscale(qp as f64) / cplx.max(1.0);
        self.weight = self.weight * 0.5 + 1.0;
        self.k += (k - self.k) / self.weight;
    }
}

/// The buffer model and its predictors. See the module documentation.
#[derive(Debug, Clone)]
pub struct Vbv {
    /// Buffer size and the bits that arrive per frame interval.
    size: f64,
    rate: f64,
    fill: f64,
    pred: [Predictor; 3],
    /// Lowest fill seen just after an access unit was taken out (bits), for the
    /// tests and the statistics.
    min_fill: f64,
    /// Pictures coded again so far.
    recodes: u64,
}

fn index(kind: PicType) -> usize {
    match kind {
        PicType::I => 0,
        PicType::P => 1,
        PicType::B => 2,
    }
}

impl Vbv {
    /// A buffer of `bufsize_kbits` filling at `maxrate_kbps`, `init` (0..=1) full at
    /// the first picture, for `fps` frames per second and pictures of `pixels`
    /// luma samples and `samples` thumbnail samples.
    pub fn new(
        maxrate_kbps: u32,
        bufsize_kbits: u32,
        init: f32,
        fps: f64,
        pixels: usize,
        samples: usize,
    ) -> Vbv {
        let size = bufsize_kbits as f64 * 1000.0;
        // Before a picture of a type is coded, its size is guessed high, at QP 26
        // on average content: 1.5, 0.5 and 0.25 bits per pixel for I, P and B.
        let per_bpp = pixels.max(1) as f64 * qscale(26.0) / samples.max(1) as f64;
        let guess = |bpp: f64| Predictor {
            k: bpp * per_bpp,
            weight: 0.0,
        };
        Vbv {
            size,
            rate: maxrate_kbps as f64 * 1000.0 / fps,
            fill: size * init as f64,
            pred: [guess(1.5), guess(0.5), guess(0.25)],
            min_fill: size,
            recodes: 0,
        }
    }

    /// Bits the next picture of type `kind` may take (see Planning).
    fn allowed(&self, kind: PicType) -> f64 {
        let soft = match kind {
            PicType::I => self.fill - 0.4 * self.size,
            _ => {
                let horizon = (0.25 * self.size / self.rate).max(1.0);
                self.rate + (self.fill - 0.5 * self.size) / horizon
            }
        };
        soft.min(0.9 * self.fill)
    }

    /// The QP to code the next picture with: `qp` or coarser, the finest whose
    /// predicted size at complexity `cplx` fits what the buffer allows.
    pub fn clip_qp(&self, qp: i32, cplx: f64, kind: PicType) -> i32 {
        let allowed = self.allowed(kind);
        let p = &self.pred[index(kind)];
        (qp..51)
            .find(|&q| p.bits(q, cplx) <= allowed)
            .unwrap_or(51.max(qp))
    }

    /// After coding a picture at `qp` into `bits`: the QP to code it again with, if
    /// it underflows the buffer or took more than twice what it was allowed (and
    /// can still be made smaller). The observation teaches the predictor either way.
    pub fn recode_qp(&mut self, bits: f64, qp: i32, cplx: f64, kind: PicType) -> Option<i32> {
        self.pred[index(kind)].observe(bits, qp, cplx);
        let allowed = self.allowed(kind).max(1.0);
        if qp >= 51 || (bits <= self.fill && bits <= 2.0 * allowed) {
            return None;
        }
        // Bits go about as 1 / qscale: 6 QP per halving, rounded up.
        let up = (6.0 * (bits / allowed).log2()).ceil().max(1.0) as i32;
        Some((qp + up).min(51))
    }

    /// Takes a coded access unit of `bits` (at `qp`, complexity `cplx`) out of the
    /// buffer and lets a frame interval's bits in.
    pub fn update(&mut self, bits: f64, qp: i32, cplx: f64, kind: PicType) {
        self.pred[index(kind)].observe(bits, qp, cplx);
        self.fill -= bits;
        self.min_fill = self.min_fill.min(self.fill);
        self.fill = (self.fill.max(0.0) + self.rate).min(self.size);
    }

    /// The lowest fill just after an access unit was taken out, in bits: negative
    /// if the buffer underflowed.
    pub fn min_fill(&self) -> f64 {
        self.min_fill
    }
}

impl PicType {
    fn of(kind: SliceKind) -> PicType {
        match kind {
            SliceKind::I => PicType::I,
            SliceKind::P => PicType::P,
            SliceKind::B => PicType::B,
        }
    }
}

/// What coding a picture changes in the encoder's references (see
/// `Encoder::ref_state`).
#[derive(Clone)]
struct RefState {
    reference: Option<SharedFrame>,
    reference_fn: u32,
    past: Option<SharedFrame>,
    past_fn: u32,
    bref: Option<(SharedFrame, u32, u32)>,
    frame_num: u32,
}

impl super::Encoder {
    /// Codes one picture: at the rate control's QP, raised by the VBV when the
    /// picture's predicted size does not fit the buffer, and coded again coarser
    /// while its actual size does not (see Planning); then tells the rate control
    /// and the buffer how big it came out. Returns its QP.
    pub(super) fn code_picture(
        &mut self,
        src: &SharedFrame,
        kind: SliceKind,
        disp: u32,
        is_bref: bool,
    ) -> Result<i32> {
        let Some(cplx) = self.rc.as_ref().map(|rc| rc.cplx()) else {
            return self.encode_picture(src, kind, disp, is_bref);
        };
        let pic = PicType::of(kind);
        if let Some(v) = self.vbv.as_ref() {
            let q = v.clip_qp(self.rcparams.qp, cplx, pic);
            if q != self.rcparams.qp {
                self.rcparams = self.frame_params(q);
            }
        }
        let mut recodes = 0;
        // Handles, not copies: the DPB's frames, which the pool holds besides the
        // one being coded. The last B picture's reconstruction is left out: coding
        // drops it before it takes a new frame, and a re-coding does not need it.
        let saved = self.vbv.is_some().then(|| self.ref_state(kind));
        loop {
            let qp = self.encode_picture(src, kind, disp, is_bref)?;
            let bits = self.out.as_slice().len() as f64 * 8.0;
            if let Some(v) = self.vbv.as_mut() {
                if let Some(q) = v
                    .recode_qp(bits, qp, cplx, pic)
                    .filter(|_| recodes < MAX_RECODES)
                {
                    v.recodes += 1;
                    if let Some(saved) = &saved {
                        self.restore_ref_state(saved.clone());
                    }
                    self.rcparams = self.frame_params(q);
                    recodes += 1;
                    continue;
                }
                v.update(bits, qp, cplx, pic);
            }
            if let Some(rc) = self.rc.as_mut() {
                rc.update(bits, qp, pic);
            }
            return Ok(qp);
        }
    }

    /// The references as they are before a picture is coded, so that it can be
    /// coded again from the same state (see [`RefState`]).
    fn ref_state(&self, kind: SliceKind) -> RefState {
        // An anchor drops the past anchor before it takes a frame, and reads it again
        // only to name it in a memory management operation (B-pyramid): without
        // one, keeping it would hold a frame more than the pool has.
        let past_needed = kind == SliceKind::B || self.cfg.uses_b_pyramid();
        RefState {
            reference: self.reference.clone(),
            reference_fn: self.reference_fn,
            past: self.past.clone().filter(|_| past_needed),
            past_fn: self.past_fn,
            bref: self.bref.clone(),
            frame_num: self.frame_num,
        }
    }

    /// Puts the references back as `Encoder::ref_state` found them: the
    /// reconstruction just made goes back to the pool, and an anchor gives back the
    /// frame_num it took and the older references (past anchor, reference B) it
    /// dropped, whose memory management operations the new coding must repeat.
    /// Everything else `encode_picture` touches (macroblock and motion tables, slice
    /// and output buffers, the macroblock QPs) it writes afresh for every picture.
    fn restore_ref_state(&mut self, s: RefState) {
        self.reference = s.reference;
        self.reference_fn = s.reference_fn;
        self.past = s.past;
        self.past_fn = s.past_fn;
        self.bref = s.bref;
        self.frame_num = s.frame_num;
    }

    /// The VBV buffer's lowest fill so far just after an access unit was taken
    /// out, in bits (negative after an underflow), or `None` without a VBV.
    pub fn vbv_min_fill(&self) -> Option<f64> {
        self.vbv.as_ref().map(Vbv::min_fill)
    }

    /// Pictures the VBV had coded again so far (each time counted), or `None`
    /// without a VBV.
    pub fn vbv_recodes(&self) -> Option<u64> {
        self.vbv.as_ref().map(|v| v.recodes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_prediction_raises_the_qp_and_an_underflow_asks_for_a_recode() {
        // 100 kbit buffer at 250 kbit/s and 25 fps (10 kbit a frame), full.
        let mut v = Vbv::new(250, 100, 1.0, 25.0, 64 * 100, 100);
        // Cheap content at QP 20 stays; the same content 100 times busier does not.
        let q = v.clip_qp(20, 1.0, PicType::P);
        assert_eq!(q, 20);
        let q = v.clip_qp(20, 1e6, PicType::P);
        assert!(q > 30, "{q}");
        // 150 kbit out of a 100 kbit fill: coded again, coarser by at least the
        // overshoot.
        let r = v.recode_qp(150_000.0, 30, 100.0, PicType::I).unwrap();
        assert!(r >= 30 + 6, "{r}");
        assert_eq!(v.recode_qp(150_000.0, 51, 100.0, PicType::I), None);
        // A fitting picture is kept; the buffer then refills at the rate.
        assert_eq!(v.recode_qp(5_000.0, 30, 100.0, PicType::P), None);
        v.update(50_000.0, 30, 100.0, PicType::P);
        assert_eq!(v.min_fill(), 50_000.0);
        assert_eq!(v.fill, 60_000.0);
        v.update(70_000.0, 30, 100.0, PicType::P);
        assert_eq!(v.min_fill(), -10_000.0);
        assert_eq!(v.fill, 10_000.0);
    }
}
