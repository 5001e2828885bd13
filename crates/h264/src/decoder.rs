//! The decoder front end: NAL dispatch, parameter set activation, picture order
//! counts (8.2.1), reference marking (8.2.5), reference list construction (8.2.4) and
//! output in display order (C.4.5.3 "bumping").

use crate::bitreader::{split_annexb, unescape_rbsp};
use crate::deblock;
use crate::mb::{MbState, SliceDecoder, SliceRefs};
use crate::params::{Pps, Sps};
use crate::picture::{Picture, RefState};
use crate::slice::{SliceHeader, SliceType};
use std::collections::VecDeque;
use transcode_core::{Error, MemoryConfig, Result};

/// A decoded frame, borrowed from the decoder's picture pool until the next call that
/// needs `&mut Decoder`.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Width after cropping.
    pub width: usize,
    /// Height after cropping.
    pub height: usize,
    /// Y, Cb, Cr planes; each starts at the top-left visible sample.
    pub planes: [&'a [u8]; 3],
    /// Bytes between rows, per plane.
    pub strides: [usize; 3],
    /// Picture order count (display order key).
    pub poc: i32,
    /// Whether some macroblocks were concealed because the stream was damaged.
    pub concealed: bool,
}

impl Frame<'_> {
    /// Appends the visible picture as planar YUV 4:2:0 without padding (Y rows, then Cb,
    /// then Cr), the layout FFmpeg's framemd5 hashes.
    pub fn write_yuv420p(&self, out: &mut Vec<u8>) {
        for (p, plane) in self.planes.iter().enumerate() {
            let (w, h) = if p == 0 {
                (self.width, self.height)
            } else {
                (self.width.div_ceil(2), self.height.div_ceil(2))
            };
            for y in 0..h {
                let row = y * self.strides[p];
                out.extend_from_slice(&plane[row..row + w]);
            }
        }
    }
}

/// Dimensions and limits of the active sequence.
#[derive(Debug, Clone, Default)]
struct Active {
    sps_id: Option<u32>,
    mb_w: usize,
    mb_h: usize,
    crop: [u32; 4],
    reorder: usize,
    max_refs: usize,
}

/// The H.264 decoder. See the crate documentation.
#[derive(Debug)]
pub struct Decoder {
    config: MemoryConfig,
    sps: Vec<Option<Sps>>,
    pps: Vec<Option<Pps>>,
    active: Active,
    dpb: Vec<Picture>,
    /// The picture being decoded, taken out of its slot `cur_slot`.
    pic: Picture,
    cur_slot: Option<usize>,
    cur_header: Option<SliceHeader>,
    mbs: MbState,
    output: VecDeque<usize>,
    /// The slot most recently returned by `next_frame`.
    rbsp: Vec<u8>,
    next_uid: i32,
    // Picture order count state.
    prev_poc_msb: i32,
    prev_poc_lsb: i32,
    prev_frame_num: u32,
    prev_frame_num_offset: i32,
    prev_ref_has_mmco5: bool,
    cur_frame_num_offset: i32,
    cur_mmco5: bool,
    max_long_term_idx: Option<u32>,
    slices_in_pic: u32,
    decoded_mbs: usize,
    concealed_total: u64,
    /// Slot handed out by the last `next_frame` call, released on the next call.
    lent: Option<usize>,
}

impl Decoder {
    /// A decoder whose picture buffers are bounded by `config.max_dpb_frames` and
    /// `config.max_memory`. Buffers are allocated when the first sequence parameter set
    /// is activated.
    pub fn new(config: &MemoryConfig) -> Decoder {
        crate::cavlc::init();
        Decoder {
            config: config.clone(),
            sps: vec![None; 32],
            pps: vec![None; 256],
            active: Active::default(),
            dpb: Vec::new(),
            pic: Picture::default(),
            cur_slot: None,
            cur_header: None,
            mbs: MbState::default(),
            output: VecDeque::new(),
            rbsp: Vec::new(),
            next_uid: 0,
            prev_poc_msb: 0,
            prev_poc_lsb: 0,
            prev_frame_num: 0,
            prev_frame_num_offset: 0,
            prev_ref_has_mmco5: false,
            cur_frame_num_offset: 0,
            cur_mmco5: false,
            max_long_term_idx: None,
            slices_in_pic: 0,
            decoded_mbs: 0,
            concealed_total: 0,
            lent: None,
        }
    }

    /// Macroblocks concealed so far because slices were missing or broken.
    pub fn concealed_macroblocks(&self) -> u64 {
        self.concealed_total
    }

    /// Bytes held by picture buffers and per-macroblock tables.
    pub fn memory_bytes(&self) -> usize {
        self.dpb.iter().map(|p| p.bytes()).sum::<usize>() + self.mbs.bytes() + self.rbsp.capacity()
    }

    /// Decodes Annex-B data: one access unit or single NAL units. Errors in a slice are
    /// reported after the rest of the data has been decoded; the damaged macroblocks
    /// are concealed.
    ///
    /// Decoded frames occupy the picture pool until [`Decoder::next_frame`] returns
    /// them: call it after every access unit (or use [`Decoder::decode_with`]). When
    /// the pool is full of frames nobody has taken, decoding stops with
    /// [`Error::LimitExceeded`] rather than growing the pool.
    pub fn decode(&mut self, data: &[u8]) -> Result<()> {
        self.release_lent();
        let mut first_err = None;
        for nal in split_annexb(data) {
            if let Err(e) = self.decode_nal(nal) {
                // Unsupported features and limits stop decoding; damage is concealed.
                match e {
                    Error::Unsupported(_) | Error::LimitExceeded { .. } => return Err(e),
                    e => {
                        if first_err.is_none() {
                            first_err = Some(e);
                        }
                    }
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Decodes Annex-B data of any length, handing every frame that becomes ready to
    /// `on_frame` as soon as it is ready (so the picture pool never fills up).
    /// Returns the first error, after decoding everything that could be decoded.
    pub fn decode_with(&mut self, data: &[u8], mut on_frame: impl FnMut(&Frame<'_>)) -> Result<()> {
        let mut first_err = None;
        for nal in split_annexb(data) {
            self.release_lent();
            if let Err(e) = self.decode_nal(nal) {
                let stop = matches!(e, Error::Unsupported(_) | Error::LimitExceeded { .. });
                first_err.get_or_insert(e);
                if stop {
                    break;
                }
            }
            while let Some(f) = self.next_frame() {
                on_frame(&f);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Ends the stream: finishes the current picture and queues every remaining
    /// picture for output.
    pub fn flush(&mut self) {
        self.release_lent();
        self.finish_picture();
        self.bump_all();
    }

    /// The next frame in display order, if one is ready.
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        self.release_lent();
        let slot = self.output.pop_front()?;
        self.lent = Some(slot);
        let a = &self.active;
        let pic = &self.dpb[slot];
        let (w, cw) = (pic.strides[0], pic.strides[1]);
        let (cl, ct) = (a.crop[0] as usize, a.crop[2] as usize);
        let y0 = ct * w + cl;
        let c0 = (ct / 2) * cw + cl / 2;
        Some(Frame {
            width: a.mb_w * 16 - (a.crop[0] + a.crop[1]) as usize,
            height: a.mb_h * 16 - (a.crop[2] + a.crop[3]) as usize,
            planes: [
                &pic.planes[0][y0..],
                &pic.planes[1][c0..],
                &pic.planes[2][c0..],
            ],
            strides: [w, cw, cw],
            poc: pic.poc,
            concealed: pic.concealed,
        })
    }

    fn release_lent(&mut self) {
        if let Some(s) = self.lent.take() {
            self.dpb[s].queued = false;
        }
    }

    fn decode_nal(&mut self, nal: &[u8]) -> Result<()> {
        let header = nal[0];
        if header & 0x80 != 0 {
            return Err(Error::invalid("forbidden_zero_bit set in nal unit header"));
        }
        Error::check_limit(
            "h264 nal unit bytes",
            nal.len() as u64,
            self.config.max_packet_size,
        )?;
        let nal_ref_idc = (header >> 5) & 3;
        let nal_type = header & 0x1f;
        match nal_type {
            1 | 5 => {
                self.rbsp.clear();
                // Room for the largest slice a conforming stream can carry (3200 bits
                // per macroblock, A.3.1), so the buffer is sized once, not per slice.
                let want = nal
                    .len()
                    .max(self.active.mb_w * self.active.mb_h * 400 + 1024);
                self.rbsp.reserve(want);
                unescape_rbsp(&nal[1..], &mut self.rbsp);
                self.decode_slice(nal_type, nal_ref_idc)
            }
            2..=4 => Err(Error::unsupported("h264 data partitioning")),
            7 => {
                self.rbsp.clear();
                unescape_rbsp(&nal[1..], &mut self.rbsp);
                let sps = Sps::parse(&self.rbsp)?;
                let id = sps.id as usize;
                self.sps[id] = Some(sps);
                Ok(())
            }
            8 => {
                self.rbsp.clear();
                unescape_rbsp(&nal[1..], &mut self.rbsp);
                let pps = Pps::parse(&self.rbsp, &self.sps)?;
                let id = pps.id as usize;
                self.pps[id] = Some(pps);
                Ok(())
            }
            11 => {
                // End of stream: later pictures start a new sequence.
                self.finish_picture();
                self.bump_all();
                Ok(())
            }
            // SEI, AUD, end of sequence, filler, and the SVC/MVC extension units
            // (prefix, subset SPS, extension slices) whose base layer is decoded here.
            _ => Ok(()),
        }
    }

    /// Activates an SPS: (re)allocates the picture pool when the geometry changes.
    fn activate_sps(&mut self, sps_id: u32) -> Result<()> {
        let sps = self.sps[sps_id as usize]
            .as_ref()
            .ok_or_else(|| Error::invalid("missing sps"))?;
        let (mb_w, mb_h) = (sps.mb_width as usize, sps.mb_height as usize);
        let max_dpb_mbs: u32 = match sps.level_idc {
            0..=10 => 396,
            11 => 900,
            12 | 13 | 20 => 2376,
            21 => 4752,
            22 | 30 => 8100,
            31 => 18000,
            32 => 20480,
            40 | 41 => 32768,
            42 => 34816,
            50 => 110400,
            51 | 52 => 184320,
            _ => 696320,
        };
        let level_frames = (max_dpb_mbs / (sps.mb_width * sps.mb_height)).clamp(1, 16) as usize;
        // The stream's own bound (VUI, else the level), capped by the configuration;
        // the reference frames themselves must always fit.
        let refs = (sps.max_num_ref_frames as usize).max(1);
        Error::check_limit(
            "h264 reference frames",
            refs as u64,
            self.config.max_dpb_frames as u64,
        )?;
        let wanted = sps
            .max_dec_frame_buffering
            .map(|v| v as usize)
            .unwrap_or(level_frames)
            .max(refs);
        let dpb_frames = wanted.min(self.config.max_dpb_frames as usize).max(refs);
        let reorder = sps
            .num_reorder_frames
            .map(|v| v as usize)
            .unwrap_or(dpb_frames)
            .min(dpb_frames);
        let same = self.active.sps_id.is_some()
            && self.active.mb_w == mb_w
            && self.active.mb_h == mb_h
            && self.dpb.len() == dpb_frames + 2;
        self.active.sps_id = Some(sps_id);
        self.active.crop = sps.crop;
        self.active.reorder = reorder;
        self.active.max_refs = (sps.max_num_ref_frames as usize).max(1);
        if same {
            return Ok(());
        }
        // New geometry: output what is pending, then size the pool.
        self.bump_all();
        let slots = dpb_frames + 2;
        let frame_bytes =
            (mb_w * mb_h * 256 * 3 / 2 + mb_w * mb_h * 16 * 2 * (4 + 1 + 4) + mb_w * mb_h) as u64;
        let total = frame_bytes * slots as u64 + (mb_w * mb_h * 64) as u64;
        Error::check_limit(
            "h264 picture buffers (bytes)",
            total,
            self.config.max_memory,
        )?;
        if self.output.iter().any(|_| true) {
            // Frames still queued keep their old geometry; drop them rather than show
            // them with the new size.
            for s in self.output.drain(..) {
                self.dpb[s].queued = false;
            }
        }
        self.lent = None;
        self.dpb.resize_with(slots, Picture::default);
        self.dpb.truncate(slots);
        for p in &mut self.dpb {
            p.alloc(mb_w, mb_h);
        }
        self.output = VecDeque::with_capacity(slots);
        self.mbs.alloc(mb_w, mb_h);

        self.active.mb_w = mb_w;
        self.active.mb_h = mb_h;
        Ok(())
    }

    fn decode_slice(&mut self, nal_type: u8, nal_ref_idc: u8) -> Result<()> {
        let rbsp = std::mem::take(&mut self.rbsp);
        let res = self.decode_slice_inner(&rbsp, nal_type, nal_ref_idc);
        self.rbsp = rbsp;
        res
    }

    fn decode_slice_inner(&mut self, rbsp: &[u8], nal_type: u8, nal_ref_idc: u8) -> Result<()> {
        let hdr = SliceHeader::parse(rbsp, nal_type, nal_ref_idc, &self.sps, &self.pps)?;
        if hdr.redundant_pic_cnt > 0 {
            return Ok(());
        }
        let pps_sps = self.pps[hdr.pps_id as usize]
            .as_ref()
            .map(|p| p.sps_id)
            .unwrap_or(0);
        // A new picture starts at macroblock 0, or when the picture identity changes.
        let new_pic = match &self.cur_header {
            None => true,
            Some(c) => {
                hdr.first_mb == 0
                    || c.frame_num != hdr.frame_num
                    || c.pps_id != hdr.pps_id
                    || c.poc_lsb != hdr.poc_lsb
                    || c.idr != hdr.idr
                    || (c.nal_ref_idc == 0) != (hdr.nal_ref_idc == 0)
            }
        };
        if new_pic {
            self.finish_picture();
            if self.active.sps_id != Some(pps_sps) || hdr.idr {
                self.activate_sps(pps_sps)?;
            }
            self.start_picture(&hdr)?;
        }
        self.slices_in_pic += 1;
        let sps = self.sps[pps_sps as usize]
            .as_ref()
            .ok_or_else(|| Error::invalid("missing sps"))?;
        let pps = self.pps[hdr.pps_id as usize]
            .as_ref()
            .ok_or_else(|| Error::invalid("missing pps"))?;
        let refs = build_ref_lists(&hdr, sps, &self.dpb, self.pic.poc, self.pic.frame_num)?;
        let mut sd = SliceDecoder::new(
            sps,
            pps,
            &hdr,
            &mut self.pic,
            &self.dpb,
            &mut self.mbs,
            &refs,
        );
        let res = sd.decode(rbsp);
        let n = sd.decoded_mbs();
        self.decoded_mbs += n;
        if self.decoded_mbs >= self.active.mb_w * self.active.mb_h && res.is_ok() {
            self.finish_picture();
        }
        res
    }

    fn start_picture(&mut self, hdr: &SliceHeader) -> Result<()> {
        // Borrow the SPS by taking it out of its slot for the duration (no clone).
        let sps_id = self.active.sps_id.unwrap_or(0) as usize;
        let sps = self.sps[sps_id]
            .take()
            .ok_or_else(|| Error::invalid("missing sps"))?;
        let res = self.start_picture_with(hdr, &sps);
        self.sps[sps_id] = Some(sps);
        res
    }

    fn start_picture_with(&mut self, hdr: &SliceHeader, sps: &Sps) -> Result<()> {
        if hdr.idr {
            // No output of prior pictures is ignored: everything decoded is shown.
            for p in &mut self.dpb {
                p.state = RefState::Unused;
            }
            self.bump_all();
        }
        let slot = match self.free_slot() {
            Some(s) => s,
            None => {
                self.bump_one();
                self.free_slot().ok_or_else(|| Error::LimitExceeded {
                    what: "h264 frames waiting in the output queue",
                    requested: self.dpb.len() as u64 + 1,
                    limit: self.dpb.len() as u64,
                })?
            }
        };
        let poc = self.compute_poc(hdr, sps);
        let mut pic = std::mem::take(&mut self.dpb[slot]);
        // The empty placeholder left in the slot must not look free.
        self.dpb[slot].decoding = true;
        pic.decoding = true;
        pic.poc = poc;
        pic.frame_num = hdr.frame_num;
        pic.uid = self.next_uid;
        pic.concealed = false;
        pic.state = RefState::Unused;
        self.next_uid += 1;
        self.pic = pic;
        self.cur_slot = Some(slot);
        self.cur_header = Some(hdr.clone());
        self.slices_in_pic = 0;
        self.decoded_mbs = 0;
        self.mbs.reset();
        // Frame numbers of short-term references relative to this picture (8.2.4.1).
        let max_frame_num = 1i64 << sps.log2_max_frame_num;
        for p in &mut self.dpb {
            if p.state == RefState::Short {
                p.frame_num_wrap = if p.frame_num > hdr.frame_num {
                    (p.frame_num as i64 - max_frame_num) as i32
                } else {
                    p.frame_num as i32
                };
            }
        }
        Ok(())
    }

    fn free_slot(&self) -> Option<usize> {
        self.dpb.iter().position(|p| p.is_free())
    }

    fn compute_poc(&mut self, hdr: &SliceHeader, sps: &Sps) -> i32 {
        let max_frame_num = 1i32 << sps.log2_max_frame_num;
        self.cur_mmco5 = hdr.mmco[..hdr.num_mmco].iter().any(|m| m.op == 5);
        let frame_num_offset = if hdr.idr {
            0
        } else {
            let prev_offset = if self.prev_ref_has_mmco5 {
                0
            } else {
                self.prev_frame_num_offset
            };
            if self.prev_frame_num > hdr.frame_num {
                prev_offset + max_frame_num
            } else {
                prev_offset
            }
        };
        self.cur_frame_num_offset = frame_num_offset;
        match sps.poc_type {
            0 => {
                let (prev_msb, prev_lsb) = if hdr.idr {
                    (0, 0)
                } else {
                    (self.prev_poc_msb, self.prev_poc_lsb)
                };
                let max_lsb = 1i32 << sps.log2_max_poc_lsb;
                let lsb = hdr.poc_lsb as i32;
                let msb = if lsb < prev_lsb && prev_lsb - lsb >= max_lsb / 2 {
                    prev_msb + max_lsb
                } else if lsb > prev_lsb && lsb - prev_lsb > max_lsb / 2 {
                    prev_msb - max_lsb
                } else {
                    prev_msb
                };
                let top = msb + lsb;
                let bottom = top + hdr.delta_poc_bottom;
                if hdr.nal_ref_idc != 0 {
                    if self.cur_mmco5 {
                        self.prev_poc_msb = 0;
                        self.prev_poc_lsb = top - top.min(bottom);
                    } else {
                        self.prev_poc_msb = msb;
                        self.prev_poc_lsb = lsb;
                    }
                }
                top.min(bottom)
            }
            1 => {
                let n = sps.offset_for_ref_frame.len() as i32;
                let mut abs = if n != 0 {
                    frame_num_offset + hdr.frame_num as i32
                } else {
                    0
                };
                if hdr.nal_ref_idc == 0 && abs > 0 {
                    abs -= 1;
                }
                let mut expected = 0i32;
                if abs > 0 {
                    let per_cycle: i32 = sps.offset_for_ref_frame.iter().sum();
                    let cycle = (abs - 1) / n;
                    let in_cycle = (abs - 1) % n;
                    expected = cycle.wrapping_mul(per_cycle);
                    for i in 0..=in_cycle as usize {
                        expected = expected.wrapping_add(sps.offset_for_ref_frame[i]);
                    }
                }
                if hdr.nal_ref_idc == 0 {
                    expected = expected.wrapping_add(sps.offset_for_non_ref_pic);
                }
                let top = expected.wrapping_add(hdr.delta_poc[0]);
                let bottom = top
                    .wrapping_add(sps.offset_for_top_to_bottom_field)
                    .wrapping_add(hdr.delta_poc[1]);
                top.min(bottom)
            }
            _ => {
                if hdr.idr {
                    0
                } else if hdr.nal_ref_idc == 0 {
                    2 * (frame_num_offset + hdr.frame_num as i32) - 1
                } else {
                    2 * (frame_num_offset + hdr.frame_num as i32)
                }
            }
        }
    }

    /// Completes the current picture: conceals missing macroblocks, deblocks, marks
    /// references and queues it for output.
    fn finish_picture(&mut self) {
        let Some(slot) = self.cur_slot.take() else {
            return;
        };
        let Some(hdr) = self.cur_header.take() else {
            return;
        };
        match self
            .active
            .sps_id
            .and_then(|id| self.sps[id as usize].take().map(|s| (id, s)))
        {
            Some((id, sps)) => {
                self.finish_picture_with(slot, &hdr, &sps);
                self.sps[id as usize] = Some(sps);
            }
            None => {
                // Cannot happen with a parsed SPS; still never lose the slot's buffers.
                self.pic.decoding = false;
                self.dpb[slot] = std::mem::take(&mut self.pic);
            }
        }
    }

    fn finish_picture_with(&mut self, slot: usize, hdr: &SliceHeader, sps: &Sps) {
        let total = self.active.mb_w * self.active.mb_h;
        let missing = self.mbs.conceal_missing(&mut self.pic, &self.dpb, total);
        if missing > 0 {
            self.concealed_total += missing as u64;
            self.pic.concealed = true;
        }
        deblock::deblock_picture(
            &mut self.pic,
            &self.mbs,
            &self.pps,
            self.active.mb_w,
            self.active.mb_h,
        );
        self.pic.decoding = false;
        let mut pic = std::mem::take(&mut self.pic);
        // Reference marking.
        if hdr.nal_ref_idc != 0 {
            if hdr.idr {
                self.max_long_term_idx = if hdr.long_term_reference {
                    Some(0)
                } else {
                    None
                };
                pic.state = if hdr.long_term_reference {
                    RefState::Long
                } else {
                    RefState::Short
                };
                pic.long_term_idx = 0;
            } else {
                pic.state = RefState::Short;
                if hdr.adaptive_marking {
                    self.apply_mmco(hdr, sps, &mut pic);
                } else {
                    self.sliding_window();
                }
            }
        }
        if self.cur_mmco5 {
            // The picture acts like an IDR for later ones: frame_num 0, POC relative.
            pic.frame_num = 0;
            pic.poc = 0;
            self.bump_all();
        }
        self.prev_ref_has_mmco5 = self.cur_mmco5;
        self.prev_frame_num = if self.cur_mmco5 { 0 } else { hdr.frame_num };
        self.prev_frame_num_offset = self.cur_frame_num_offset;
        pic.waiting_output = true;
        self.dpb[slot] = pic;
        // Output: keep at most `reorder` pictures waiting.
        while self.dpb.iter().filter(|p| p.waiting_output).count() > self.active.reorder {
            self.bump_one();
        }
    }

    fn sliding_window(&mut self) {
        let refs = self
            .dpb
            .iter()
            .filter(|p| p.state != RefState::Unused)
            .count();
        if refs >= self.active.max_refs {
            if let Some(i) = (0..self.dpb.len())
                .filter(|&i| self.dpb[i].state == RefState::Short)
                .min_by_key(|&i| self.dpb[i].frame_num_wrap)
            {
                self.dpb[i].state = RefState::Unused;
            }
        }
    }

    fn apply_mmco(&mut self, hdr: &SliceHeader, sps: &Sps, cur: &mut crate::picture::Picture) {
        let curr_pic_num = hdr.frame_num as i32;
        let _ = sps;
        for m in &hdr.mmco[..hdr.num_mmco] {
            match m.op {
                1 => {
                    let pic_num = curr_pic_num - (m.diff_pic_nums as i32 + 1);
                    for p in &mut self.dpb {
                        if p.state == RefState::Short && p.frame_num_wrap == pic_num {
                            p.state = RefState::Unused;
                        }
                    }
                }
                2 => {
                    for p in &mut self.dpb {
                        if p.state == RefState::Long && p.long_term_idx == m.long_term_pic_num {
                            p.state = RefState::Unused;
                        }
                    }
                }
                3 => {
                    let pic_num = curr_pic_num - (m.diff_pic_nums as i32 + 1);
                    for p in &mut self.dpb {
                        if p.state == RefState::Long && p.long_term_idx == m.long_term_idx {
                            p.state = RefState::Unused;
                        }
                    }
                    for p in &mut self.dpb {
                        if p.state == RefState::Short && p.frame_num_wrap == pic_num {
                            p.state = RefState::Long;
                            p.long_term_idx = m.long_term_idx;
                        }
                    }
                }
                4 => {
                    self.max_long_term_idx = m.long_term_idx.checked_sub(1);
                    for p in &mut self.dpb {
                        if p.state == RefState::Long
                            && self
                                .max_long_term_idx
                                .map_or(true, |max| p.long_term_idx > max)
                        {
                            p.state = RefState::Unused;
                        }
                    }
                }
                5 => {
                    for p in &mut self.dpb {
                        p.state = RefState::Unused;
                    }
                    self.max_long_term_idx = None;
                }
                6 => {
                    for p in &mut self.dpb {
                        if p.state == RefState::Long && p.long_term_idx == m.long_term_idx {
                            p.state = RefState::Unused;
                        }
                    }
                    cur.state = RefState::Long;
                    cur.long_term_idx = m.long_term_idx;
                }
                _ => {}
            }
        }
    }

    /// Moves the waiting picture with the smallest POC to the output queue.
    fn bump_one(&mut self) -> bool {
        let best = (0..self.dpb.len())
            .filter(|&i| self.dpb[i].waiting_output)
            .min_by_key(|&i| (self.dpb[i].poc, self.dpb[i].uid));
        match best {
            Some(i) => {
                self.dpb[i].waiting_output = false;
                self.dpb[i].queued = true;
                self.output.push_back(i);
                true
            }
            None => false,
        }
    }

    fn bump_all(&mut self) {
        while self.bump_one() {}
    }
}

/// Builds the reference picture lists of a slice (8.2.4.2 and 8.2.4.3).
fn build_ref_lists(
    hdr: &SliceHeader,
    sps: &Sps,
    dpb: &[Picture],
    cur_poc: i32,
    cur_frame_num: u32,
) -> Result<SliceRefs> {
    let mut refs = SliceRefs::default();
    if hdr.slice_type == SliceType::I {
        return Ok(refs);
    }
    let mut short: [usize; 32] = [0; 32];
    let mut ns = 0;
    let mut long: [usize; 32] = [0; 32];
    let mut nl = 0;
    for (i, p) in dpb.iter().enumerate() {
        match p.state {
            RefState::Short if ns < 32 => {
                short[ns] = i;
                ns += 1;
            }
            RefState::Long if nl < 32 => {
                long[nl] = i;
                nl += 1;
            }
            _ => {}
        }
    }
    let long = &mut long[..nl];
    long.sort_by_key(|&i| dpb[i].long_term_idx);
    let short = &mut short[..ns];
    let mut init = [[0usize; 33]; 2];
    let mut init_len = [0usize; 2];
    if hdr.slice_type == SliceType::P {
        short.sort_by_key(|&i| std::cmp::Reverse(dpb[i].frame_num_wrap));
        for &i in short.iter().chain(long.iter()) {
            init[0][init_len[0]] = i;
            init_len[0] += 1;
        }
    } else {
        short.sort_by_key(|&i| dpb[i].poc);
        // list0: POC < cur descending, then POC > cur ascending; list1 the other way.
        for l in 0..2 {
            let mut n = 0;
            let lower = short.iter().rev().filter(|&&i| dpb[i].poc < cur_poc);
            let upper = short.iter().filter(|&&i| dpb[i].poc > cur_poc);
            if l == 0 {
                for &i in lower.chain(upper) {
                    init[l][n] = i;
                    n += 1;
                }
            } else {
                for &i in upper.chain(lower) {
                    init[l][n] = i;
                    n += 1;
                }
            }
            for &i in long.iter() {
                init[l][n] = i;
                n += 1;
            }
            init_len[l] = n;
        }
        if init_len[1] > 1
            && init_len[0] == init_len[1]
            && init[0][..init_len[0]] == init[1][..init_len[1]]
        {
            init[1].swap(0, 1);
        }
    }
    let max_frame_num = 1i32 << sps.log2_max_frame_num;
    let lists = if hdr.slice_type == SliceType::B { 2 } else { 1 };
    for l in 0..lists {
        let n = hdr.num_ref_idx[l] as usize;
        let mut list = [usize::MAX; 33];
        let m = n.min(init_len[l]);
        list[..m].copy_from_slice(&init[l][..m]);
        // Modification (8.2.4.3).
        let mut pred = cur_frame_num as i32;
        for (idx, &(idc, v)) in hdr.mods[l][..hdr.num_mods[l]].iter().enumerate() {
            if idx >= n {
                break;
            }
            let target = if idc < 2 {
                let abs_diff = v as i32 + 1;
                let mut no_wrap = if idc == 0 {
                    pred - abs_diff
                } else {
                    pred + abs_diff
                };
                if no_wrap < 0 {
                    no_wrap += max_frame_num;
                } else if no_wrap >= max_frame_num {
                    no_wrap -= max_frame_num;
                }
                pred = no_wrap;
                let pic_num = if no_wrap > cur_frame_num as i32 {
                    no_wrap - max_frame_num
                } else {
                    no_wrap
                };
                dpb.iter()
                    .position(|p| p.state == RefState::Short && p.frame_num_wrap == pic_num)
            } else {
                dpb.iter()
                    .position(|p| p.state == RefState::Long && p.long_term_idx == v)
            };
            let Some(t) = target else {
                return Err(Error::invalid(
                    "reference list modification names a missing picture",
                ));
            };
            for c in (idx + 1..=n).rev() {
                list[c] = list[c - 1];
            }
            list[idx] = t;
            let mut k = idx + 1;
            for c in idx + 1..=n {
                if list[c] != t {
                    list[k] = list[c];
                    k += 1;
                }
            }
        }
        // Missing entries (damaged stream or a stream starting without an IDR) point at
        // the first available reference, which conceals rather than fails.
        let fallback = (0..n).map(|i| list[i]).find(|&s| s != usize::MAX);
        for i in 0..n {
            if list[i] == usize::MAX {
                match fallback {
                    Some(f) => list[i] = f,
                    None => {
                        return Err(Error::invalid("p or b slice without any reference picture"))
                    }
                }
            }
            refs.slot[l][i] = list[i];
            refs.poc[l][i] = dpb[list[i]].poc;
            refs.uid[l][i] = dpb[list[i]].uid;
            refs.long[l][i] = dpb[list[i]].state == RefState::Long;
        }
        refs.count[l] = n;
    }
    Ok(refs)
}
