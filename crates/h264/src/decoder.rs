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
use transcode_core::{
    Acquire, Budget, ColorDescription, Error, FieldOrder, MemoryConfig, Reservation, Result,
};
use transcode_decoder_buffers::DpbConfig;
use transcode_frame_pool::{
    Frame as PoolFrame, FrameLayout, FramePool, FramePoolConfig, PixelFormat, SharedFrame,
};

/// Frames the picture pool holds beyond the decoded picture buffer and the picture
/// being decoded: room for the output queue and the frames the caller holds. With
/// them the pool holds `DPB size + 3` frames, the decoder's whole picture memory.
pub const OUTPUT_FRAMES: u32 = 2;

/// What [`Decoder::send`] did with the data it was given.
#[must_use = "a decoder that needs output has not decoded all of the data"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeStatus {
    /// Everything was decoded.
    Done,
    /// Backpressure, not an error: the picture pool is full of frames that wait in the
    /// output queue or that the caller still holds, so the next picture cannot start.
    /// The first `consumed` bytes were decoded. Take frames with
    /// [`Decoder::next_frame`] or [`Decoder::next_picture`] (and drop held
    /// [`DecodedPicture`]s), then send `&data[consumed..]` again.
    NeedsOutput { consumed: usize },
}

/// Internal answer of the NAL-level steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Done,
    NeedsOutput,
}

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
    /// Colour range, primaries, transfer and matrix, from the SPS's VUI.
    pub color: ColorDescription,
    /// `chroma_sample_loc_type_top_field` from the SPS's VUI (0..=5); 0 for a VUI
    /// without it, `None` for an SPS without a VUI. FFmpeg names the 4:2:0 siting of
    /// its Y4M output after it.
    pub chroma_loc: Option<u8>,
    /// Progressive for frame pictures; for a pair of field pictures, the field shown
    /// first (the one with the smaller POC, or the one decoded first when they tie).
    pub field_order: FieldOrder,
}

/// A decoded picture the caller owns: a shared handle to the pooled frame (no pixels
/// are copied) plus its geometry. Its buffer returns to the decoder's pool when the
/// last handle is dropped; holding many of them makes [`Decoder::send`] answer
/// [`DecodeStatus::NeedsOutput`].
#[derive(Debug, Clone)]
pub struct DecodedPicture {
    frame: SharedFrame,
    /// Width after cropping.
    pub width: usize,
    /// Height after cropping.
    pub height: usize,
    /// Offset of the top-left visible sample in each plane.
    offsets: [usize; 3],
    /// Picture order count (display order key).
    pub poc: i32,
    /// Whether some macroblocks were concealed because the stream was damaged.
    pub concealed: bool,
    /// Colour range, primaries, transfer and matrix, from the SPS's VUI.
    pub color: ColorDescription,
    /// See [`Frame::chroma_loc`].
    pub chroma_loc: Option<u8>,
    /// See [`Frame::field_order`]; also on the pooled frame's `FrameProps`.
    pub field_order: FieldOrder,
}

impl DecodedPicture {
    /// The picture as a borrowed [`Frame`].
    pub fn frame(&self) -> Frame<'_> {
        let f = &self.frame;
        Frame {
            width: self.width,
            height: self.height,
            planes: [
                &f.plane(0)[self.offsets[0]..],
                &f.plane(1)[self.offsets[1]..],
                &f.plane(2)[self.offsets[2]..],
            ],
            strides: [f.stride(0), f.stride(1), f.stride(2)],
            poc: self.poc,
            concealed: self.concealed,
            color: self.color,
            chroma_loc: self.chroma_loc,
            field_order: self.field_order,
        }
    }

    /// The pooled frame with its coded size (the visible picture is cropped from it).
    pub fn shared_frame(&self) -> &SharedFrame {
        &self.frame
    }
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
    /// The job's memory budget: the picture pool and the tables reserve against it.
    budget: Budget,
    /// Budget held for the motion tables, macroblock tables and RBSP buffer.
    tables: Reservation,
    /// Frames of the active sequence; `None` before the first SPS is activated.
    pool: Option<FramePool>,
    dpb_config: Option<DpbConfig>,
    dpb: Vec<Picture>,
    /// The picture being decoded, taken out of its slot `cur_slot`.
    pic: Picture,
    /// The pixels of the picture being decoded: the unique handle, shared once done.
    cur_frame: Option<PoolFrame>,
    /// Per-4x4 reference indices and ids, lent to the picture being decoded.
    work_ref_idx: [Vec<i8>; 2],
    work_ref_uid: [Vec<i32>; 2],
    cur_slot: Option<usize>,
    cur_header: Option<SliceHeader>,
    /// The slot of a finished first field whose second field may follow (its frame
    /// is still `cur_frame`).
    pending_pair: Option<usize>,
    mbs: MbState,
    output: VecDeque<DecodedPicture>,
    rbsp: Vec<u8>,
    /// A damage error met before a [`DecodeStatus::NeedsOutput`], reported by the next
    /// call so the status can carry the consumed length.
    pending_error: Option<Error>,
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
    /// Macroblock rows of the current picture already deblocked.
    deblocked_rows: usize,
    concealed_total: u64,
    /// Picture handed out by the last `next_frame` call, released on the next call.
    lent: Option<DecodedPicture>,
}

impl Decoder {
    /// A decoder whose picture buffers are bounded by `config.max_dpb_frames` and
    /// `config.max_memory`. Buffers are allocated when the first sequence parameter set
    /// is activated.
    pub fn new(config: &MemoryConfig) -> Decoder {
        Decoder::with_budget(config, &Budget::from_config(config))
    }

    /// A decoder whose picture pool and tables reserve their memory against `budget`,
    /// the job's shared budget, before allocating it.
    pub fn with_budget(config: &MemoryConfig, budget: &Budget) -> Decoder {
        crate::cavlc::init();
        Decoder {
            config: config.clone(),
            budget: budget.clone(),
            tables: budget.empty_reservation(),
            pool: None,
            dpb_config: None,
            cur_frame: None,
            work_ref_idx: Default::default(),
            work_ref_uid: Default::default(),
            pending_error: None,

            sps: vec![None; 32],
            pps: vec![None; 256],
            active: Active::default(),
            dpb: Vec::new(),
            pic: Picture::default(),
            cur_slot: None,
            cur_header: None,
            pending_pair: None,
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
            deblocked_rows: 0,
            concealed_total: 0,
            lent: None,
        }
    }

    /// Macroblocks concealed so far because slices were missing or broken.
    pub fn concealed_macroblocks(&self) -> u64 {
        self.concealed_total
    }

    /// Bytes held by picture buffers (the pool's allocated frames) and per-macroblock
    /// tables.
    pub fn memory_bytes(&self) -> usize {
        let frames = self.pool.as_ref().map_or(0, |p| p.stats().bytes as usize);
        frames
            + self.dpb.iter().map(|p| p.bytes()).sum::<usize>()
            + self.pic.bytes()
            + self
                .work_ref_idx
                .iter()
                .map(|v| v.capacity())
                .sum::<usize>()
            + self
                .work_ref_uid
                .iter()
                .map(|v| v.capacity() * 4)
                .sum::<usize>()
            + self.mbs.bytes()
            + self.rbsp.capacity()
    }

    /// The sizes of the decoded picture buffer of the active sequence, from the level
    /// limits and the VUI, bounded by [`MemoryConfig::max_dpb_frames`].
    pub fn dpb_config(&self) -> Option<DpbConfig> {
        self.dpb_config
    }

    /// The pool the decoder takes its frames from (`None` before the first sequence
    /// starts): `DPB size + 1 + OUTPUT_FRAMES` frames, allocated on demand.
    pub fn frame_pool(&self) -> Option<&FramePool> {
        self.pool.as_ref()
    }

    /// Decodes Annex-B data (access units or single NAL units) as far as the picture
    /// pool allows.
    ///
    /// Decoded frames occupy the pool until the caller takes them with
    /// [`Decoder::next_frame`] / [`Decoder::next_picture`] (and drops the pictures it
    /// keeps). When a new picture finds the pool full, decoding stops before it and
    /// the answer is [`DecodeStatus::NeedsOutput`] with the bytes consumed: backpressure,
    /// not an error. Take frames and send the rest again.
    ///
    /// Errors: unsupported features and limits stop decoding at once. Damage in a slice
    /// is concealed and reported as an error after the rest of the data has been
    /// decoded (or by the next call, when this one ends with `NeedsOutput`).
    pub fn send(&mut self, data: &[u8]) -> Result<DecodeStatus> {
        self.release_lent();
        let mut first_err = self.pending_error.take();
        for nal in split_annexb(data) {
            match self.decode_nal(nal) {
                Ok(Flow::Done) => {}
                Ok(Flow::NeedsOutput) => {
                    // Resume at this unit's start code (00 00 01 just before it).
                    let at = (nal.as_ptr() as usize - data.as_ptr() as usize).saturating_sub(3);
                    self.pending_error = first_err;
                    return Ok(DecodeStatus::NeedsOutput { consumed: at });
                }
                // Unsupported features and limits stop decoding; damage is concealed.
                Err(e @ (Error::Unsupported(_) | Error::LimitExceeded { .. })) => return Err(e),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(DecodeStatus::Done),
        }
    }

    /// Decodes Annex-B data: one access unit or single NAL units, like
    /// [`Decoder::send`], for callers that take every frame after each access unit
    /// (the pool then never fills).
    ///
    /// When the pool is full of frames nobody has taken, this returns
    /// [`Error::LimitExceeded`]; use [`Decoder::send`] to get
    /// [`DecodeStatus::NeedsOutput`] and resume instead.
    pub fn decode(&mut self, data: &[u8]) -> Result<()> {
        match self.send(data)? {
            DecodeStatus::Done => Ok(()),
            DecodeStatus::NeedsOutput { .. } => Err(self.pool_full_error()),
        }
    }

    fn pool_full_error(&self) -> Error {
        let cap = self.pool.as_ref().map_or(0, |p| p.capacity()) as u64;
        Error::LimitExceeded {
            what: "h264 frames not taken from the output queue",
            requested: cap + 1,
            limit: cap,
        }
    }

    /// Decodes Annex-B data of any length, handing every frame that becomes ready to
    /// `on_frame` as soon as it is ready (so the picture pool never fills up).
    /// Returns the first error, after decoding everything that could be decoded.
    pub fn decode_with(&mut self, data: &[u8], mut on_frame: impl FnMut(&Frame<'_>)) -> Result<()> {
        let mut rest = data;
        loop {
            let res = self.send(rest);
            let mut taken = 0usize;
            while let Some(f) = self.next_frame() {
                on_frame(&f);
                taken += 1;
            }
            match res? {
                DecodeStatus::Done => return Ok(()),
                DecodeStatus::NeedsOutput { consumed } => {
                    if consumed == 0 && taken == 0 {
                        // Nothing was output, so nothing can free a frame.
                        return Err(self.pool_full_error());
                    }
                    rest = &rest[consumed..];
                }
            }
        }
    }

    /// Ends the stream: finishes the current picture and queues every remaining
    /// picture for output.
    pub fn flush(&mut self) {
        self.release_lent();
        self.finish_picture();
        self.close_pending_pair();
        self.bump_all();
    }

    /// The next frame in display order, if one is ready, lent until the next call
    /// that needs `&mut Decoder`.
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        self.release_lent();
        let pic = self.output.pop_front()?;
        Some(self.lent.insert(pic).frame())
    }

    /// The next picture in display order, if one is ready, for the caller to keep (a
    /// shared handle to the pooled frame, no copy). Kept pictures hold pool frames:
    /// drop them to let decoding continue.
    pub fn next_picture(&mut self) -> Option<DecodedPicture> {
        self.release_lent();
        self.output.pop_front()
    }

    /// Number of decoded pictures waiting in the output queue.
    pub fn pending_frames(&self) -> usize {
        self.output.len()
    }

    fn release_lent(&mut self) {
        self.lent = None;
    }

    fn decode_nal(&mut self, nal: &[u8]) -> Result<Flow> {
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
                    .max(Self::rbsp_capacity(self.active.mb_w, self.active.mb_h));
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
                Ok(Flow::Done)
            }
            8 => {
                self.rbsp.clear();
                unescape_rbsp(&nal[1..], &mut self.rbsp);
                let pps = Pps::parse(&self.rbsp, &self.sps)?;
                let id = pps.id as usize;
                self.pps[id] = Some(pps);
                Ok(Flow::Done)
            }
            11 => {
                // End of stream: later pictures start a new sequence.
                self.finish_picture();
                self.close_pending_pair();
                self.bump_all();
                Ok(Flow::Done)
            }
            // SEI, AUD, end of sequence, filler, and the SVC/MVC extension units
            // (prefix, subset SPS, extension slices) whose base layer is decoded here.
            _ => Ok(Flow::Done),
        }
    }

    /// Activates an SPS: (re)allocates the picture pool when the geometry changes.
    ///
    /// On failure no sequence is active: the stored SPS under that id may be the one
    /// that failed (a second SPS with the same id, too large for the budget), and the
    /// slices after it must not be decoded against it into the old sequence's buffers,
    /// nor cropped as it says; each later slice tries the activation again instead.
    fn activate_sps(&mut self, sps_id: u32) -> Result<()> {
        let res = self.try_activate_sps(sps_id);
        if res.is_err() {
            self.active.sps_id = None;
        }
        res
    }

    fn try_activate_sps(&mut self, sps_id: u32) -> Result<()> {
        let sps = self.sps[sps_id as usize]
            .as_ref()
            .ok_or_else(|| Error::invalid("missing sps"))?;
        let (mb_w, mb_h) = (sps.mb_width as usize, sps.mb_height as usize);
        let mbaff = sps.mbaff;
        // The DPB size: the level's limit (Table A-1), tightened by the VUI, bounded by
        // the configuration. A stream that needs more reference frames than its own
        // level allows is still decoded (as FFmpeg does) when the configuration allows.
        let refs = sps.max_num_ref_frames.max(1);
        let vui = sps
            .max_dec_frame_buffering
            .map(|m| (m, sps.num_reorder_frames.unwrap_or(m)));
        let (w, h) = ((mb_w * 16) as u32, (mb_h * 16) as u32);
        let dpb_config = match DpbConfig::for_stream(&self.config, sps.level_idc, w, h, refs, vui) {
            Ok(c) => c,
            Err(e) => {
                Error::check_limit(
                    "h264 reference frames",
                    u64::from(refs),
                    u64::from(self.config.max_dpb_frames),
                )
                .map_err(|_| e)?;
                DpbConfig {
                    capacity: refs,
                    max_num_reorder: vui.map_or(refs, |v| v.1.min(refs)),
                    max_num_ref_frames: refs,
                }
            }
        };
        let dpb_frames = dpb_config.capacity as usize;
        let reorder = dpb_config.max_num_reorder as usize;
        let slots = dpb_frames + 1;
        let same = self.active.sps_id.is_some()
            && self.active.mb_w == mb_w
            && self.active.mb_h == mb_h
            && self.dpb.len() == slots;
        let crop = sps.crop;
        if !same || self.active.crop != crop {
            // Pictures waiting for output are cropped as the sequence they belong to
            // says: output them before the new SPS replaces the geometry and cropping
            // (queued pictures keep their own frames and sizes).
            self.bump_all();
        }
        if same {
            self.active.sps_id = Some(sps_id);
            self.active.crop = crop;
            self.active.reorder = reorder;
            self.active.max_refs = refs as usize;
            self.dpb_config = Some(dpb_config);
            for p in &mut self.dpb {
                p.set_mbaff(mb_w, mb_h, mbaff);
            }
            return Ok(());
        }
        // The old sequence ends here whether or not the new one fits: its pictures
        // have gone out above, and its buffers are about to be replaced.
        self.active.sps_id = None;
        // New geometry: size the pool and tables, budget first.
        let layout = FrameLayout::new(PixelFormat::Yuv420p, w, h)?;
        let pool_frames = dpb_config.capacity + 1 + OUTPUT_FRAMES;
        let table_bytes = (Picture::slot_bytes(mb_w, mb_h) + mbaff as usize * mb_w * mb_h) * slots
            + Picture::work_bytes(mb_w, mb_h)
            + MbState::bytes_for(mb_w, mb_h)
            + Self::rbsp_capacity(mb_w, mb_h);
        let frame_bytes = layout.buffer_len() as u64 * u64::from(pool_frames);
        // The whole bound must fit the budget's limit; frames are then reserved one by
        // one by the pool as it allocates them.
        Error::check_limit(
            "h264 picture buffers (bytes)",
            frame_bytes + table_bytes as u64,
            self.budget.limit(),
        )?;
        self.tables.shrink(self.tables.bytes());
        match self
            .tables
            .try_grow("h264 decoder tables", table_bytes as u64)?
        {
            Acquire::Ready(()) => {}
            Acquire::Full => {
                return Err(Error::LimitExceeded {
                    what: "h264 decoder tables",
                    requested: table_bytes as u64,
                    limit: self.budget.available(),
                })
            }
        }
        self.pool = None;
        let pool = FramePool::new(
            FramePoolConfig {
                name: "h264 pictures",
                capacity: pool_frames,
                ..FramePoolConfig::new(layout, &self.config)
            },
            &self.budget,
        )?;
        let strides = [
            layout.plane(0).stride,
            layout.plane(1).stride,
            layout.plane(2).stride,
        ];
        self.lent = None;
        self.dpb.resize_with(slots, Picture::default);
        self.dpb.truncate(slots);
        self.dpb.shrink_to_fit();
        for p in &mut self.dpb {
            p.alloc(mb_w, mb_h, strides);
            p.set_mbaff(mb_w, mb_h, mbaff);
        }
        let n4 = mb_w * mb_h * 16;
        for l in 0..2 {
            crate::picture::resize_exact(&mut self.work_ref_idx[l], n4, -1);
            crate::picture::resize_exact(&mut self.work_ref_uid[l], n4, -1);
        }
        if self.output.capacity() < pool_frames as usize {
            self.output
                .reserve(pool_frames as usize - self.output.len());
        }
        self.mbs.alloc(mb_w, mb_h);
        self.pool = Some(pool);

        // Only now that the buffers match it does the new sequence become active, its
        // cropping with it.
        self.active = Active {
            sps_id: Some(sps_id),
            mb_w,
            mb_h,
            crop,
            reorder,
            max_refs: refs as usize,
        };
        self.dpb_config = Some(dpb_config);
        Ok(())
    }

    /// Room for the largest slice a conforming stream can carry (3200 bits per
    /// macroblock, A.3.1), so the RBSP buffer is sized once, not per slice.
    fn rbsp_capacity(mb_w: usize, mb_h: usize) -> usize {
        mb_w * mb_h * 400 + 1024
    }

    fn decode_slice(&mut self, nal_type: u8, nal_ref_idc: u8) -> Result<Flow> {
        let rbsp = std::mem::take(&mut self.rbsp);
        let res = self.decode_slice_inner(&rbsp, nal_type, nal_ref_idc);
        self.rbsp = rbsp;
        res
    }

    fn decode_slice_inner(&mut self, rbsp: &[u8], nal_type: u8, nal_ref_idc: u8) -> Result<Flow> {
        let hdr = SliceHeader::parse(rbsp, nal_type, nal_ref_idc, &self.sps, &self.pps)?;
        if hdr.redundant_pic_cnt > 0 {
            return Ok(Flow::Done);
        }
        let pps_sps = self.pps[hdr.pps_id as usize]
            .as_ref()
            .map(|p| p.sps_id)
            .unwrap_or(0);
        // Which neighbours constrained intra prediction leaves to an intra macroblock
        // beside a pair of the other structure is not implemented: refuse it before the
        // picture starts rather than predict from the wrong samples.
        let mbaff_frame = !hdr.field_pic
            && self.sps.get(pps_sps as usize).and_then(|s| s.as_ref()).is_some_and(|s| s.mbaff);
        let constrained = self.pps[hdr.pps_id as usize]
            .as_ref()
            .is_some_and(|p| p.constrained_intra_pred);
        if mbaff_frame && constrained {
            return Err(Error::unsupported(
                "h264 mbaff with constrained intra prediction",
            ));
        }
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
                    || c.field_pic != hdr.field_pic
                    || c.bottom_field != hdr.bottom_field
            }
        };
        if new_pic {
            self.finish_picture();
            // The second field of a frame goes into the first one's buffer (its pair:
            // opposite parity, same frame_num, right after it in decoding order).
            let second = self.pending_pair.filter(|&slot| {
                let first = &self.dpb[slot];
                let bit = if hdr.bottom_field { 2 } else { 1 };
                hdr.field_pic
                    && first.fields == 3 - bit
                    && first.frame_num == hdr.frame_num
                    && self.active.sps_id == Some(pps_sps)
            });
            match second {
                Some(slot) => self.start_second_field(&hdr, slot)?,
                None => {
                    self.close_pending_pair();
                    if self.active.sps_id != Some(pps_sps) || hdr.idr {
                        self.activate_sps(pps_sps)?;
                    }
                    if self.start_picture(&hdr)? == Flow::NeedsOutput {
                        return Ok(Flow::NeedsOutput);
                    }
                }
            }
        }
        self.slices_in_pic += 1;
        let sps = self.sps[pps_sps as usize]
            .as_ref()
            .ok_or_else(|| Error::invalid("missing sps"))?;
        let pps = self.pps[hdr.pps_id as usize]
            .as_ref()
            .ok_or_else(|| Error::invalid("missing pps"))?;
        let own = self.cur_slot.map(|s| (s, &self.pic));
        let refs = build_ref_lists(&hdr, sps, &self.dpb, own, self.pic.poc, self.pic.frame_num)?;
        let Some(frame) = self.cur_frame.as_mut() else {
            return Err(Error::invalid("slice without a picture to decode into"));
        };
        let field = field_of(&hdr);
        let base = field_base(&self.pic, field);
        // Field macroblocks of an MBAFF frame reference fields: each frame of the
        // lists split into its field of the macroblock's parity, then the other.
        let mbaff = self.pic.mbaff;
        let field_refs = if mbaff {
            mbaff_field_refs(&refs, &self.dpb)?
        } else {
            Default::default()
        };
        let field_pocs = self.pic.field_poc;
        let mut sd = SliceDecoder::new(
            sps,
            pps,
            &hdr,
            &mut self.pic,
            frame.planes_mut(),
            &self.dpb,
            &mut self.mbs,
            &refs,
        );
        sd.field = field;
        sd.base = base;
        if mbaff {
            sd.mbaff = true;
            sd.field_refs = Some(&field_refs);
            if hdr.slice_type == SliceType::B && pps.weighted_bipred_idc == 2 {
                for p in 0..2 {
                    sd.implicit_w[1 + p] =
                        crate::mb::implicit_weights(&field_refs[p], field_pocs[p]);
                }
            }
        }
        if field != 0 {
            sd.scan4 = &crate::tables::FIELD_SCAN4;
            sd.scan8 = &crate::tables::FIELD_SCAN8;
        }
        let res = sd.decode(rbsp);
        let n = sd.decoded_mbs();
        self.decoded_mbs += n;
        // Deblock the rows this slice completed (each once the row below it is
        // decoded) while they are likely still in cache; the rest waits for the end of
        // the picture.
        // MBAFF frames are filtered when the picture ends.
        if !mbaff {
            let mut planes = field_planes(frame.planes_mut(), base);
            deblock::deblock_ready_rows(
                &self.pic,
                &mut planes,
                &self.mbs,
                self.active.mb_w,
                self.mbs.mb_h,
                &mut self.deblocked_rows,
            );
        }
        if self.decoded_mbs >= self.active.mb_w * self.mbs.mb_h && res.is_ok() {
            self.finish_picture();
        }
        res.map(|()| Flow::Done)
    }

    fn start_picture(&mut self, hdr: &SliceHeader) -> Result<Flow> {
        // Borrow the SPS by taking it out of its slot for the duration (no clone).
        let sps_id = self.active.sps_id.unwrap_or(0) as usize;
        let sps = self.sps[sps_id]
            .take()
            .ok_or_else(|| Error::invalid("missing sps"))?;
        let res = self.start_picture_with(hdr, &sps);
        self.sps[sps_id] = Some(sps);
        res
    }

    /// Starts a picture: a free DPB slot (bumping as C.4.5.3 does when there is none)
    /// and a frame from the pool. Everything before the frame is taken may run again
    /// when the pool is full and the caller resends the slice.
    fn start_picture_with(&mut self, hdr: &SliceHeader, sps: &Sps) -> Result<Flow> {
        if hdr.idr {
            // No output of prior pictures is ignored: everything decoded is shown.
            for p in &mut self.dpb {
                p.state = RefState::Unused;
            }
            self.bump_all();
        }
        let slot = loop {
            if let Some(s) = self.free_slot() {
                break s;
            }
            if !self.bump_one() {
                return Err(Error::LimitExceeded {
                    what: "h264 reference frames in the decoded picture buffer",
                    requested: self.dpb.len() as u64,
                    limit: self.dpb.len().saturating_sub(1) as u64,
                });
            }
        };
        // Frames of slots that are neither references nor waiting go back to the pool
        // (unless the output queue or the caller still holds them).
        for p in &mut self.dpb {
            if p.is_free() {
                p.pixels = None;
            }
        }
        let Some(pool) = &self.pool else {
            return Err(Error::invalid("picture before any sequence parameter set"));
        };
        let mut frame = match pool.try_acquire() {
            Acquire::Ready(f) => f,
            Acquire::Full => return Ok(Flow::NeedsOutput),
        };
        if sps.monochrome {
            // 4:0:0 frames go out as 4:2:0 with neutral chroma, as FFmpeg 5.1 outputs
            // them; nothing in the stream writes chroma, so it is set here, once.
            let [_, cb, cr] = frame.planes_mut();
            cb.fill(128);
            cr.fill(128);
        }
        let [top, bottom] = self.compute_poc(hdr, sps);
        let mut pic = std::mem::take(&mut self.dpb[slot]);
        // The empty placeholder left in the slot must not look free.
        self.dpb[slot].decoding = true;
        self.cur_frame = Some(frame);
        for l in 0..2 {
            std::mem::swap(&mut pic.ref_idx[l], &mut self.work_ref_idx[l]);
            std::mem::swap(&mut pic.ref_uid[l], &mut self.work_ref_uid[l]);
        }
        pic.decoding = true;
        let field = field_of(hdr);
        match field {
            0 => {
                pic.field_poc = [top, bottom];
                pic.fields = 3;
            }
            f => {
                let par = f as usize - 1;
                pic.field_poc = [i32::MAX; 2];
                pic.field_poc[par] = if par == 0 { top } else { bottom };
                pic.fields = 1 << par;
            }
        }
        pic.poc = pic.field_poc[0].min(pic.field_poc[1]);
        pic.coded_fields = field != 0;
        pic.first_field_top = field == 1;
        pic.field_order = FieldOrder::Progressive;
        pic.field_pic = field != 0;
        pic.mbaff = sps.mbaff && field == 0;
        pic.field_half = [0; 2];
        pic.ref_fields = 0;
        pic.pending_pair = false;
        if field != 0 {
            for s in &mut pic.strides {
                *s *= 2;
            }
        }
        pic.frame_num = hdr.frame_num;
        // Frame ids step by 4: the fields of frame `uid` are `uid + 1` (top) and
        // `uid + 2` (bottom), so motion data can name fields and frames apart.
        pic.uid = self.next_uid;
        pic.concealed = false;
        pic.color = sps.color;
        pic.chroma_loc = sps.chroma_loc;
        pic.state = RefState::Unused;
        self.next_uid = self.next_uid.wrapping_add(4);
        self.pic = pic;
        self.cur_slot = Some(slot);
        self.cur_header = Some(hdr.clone());
        self.slices_in_pic = 0;
        self.decoded_mbs = 0;
        self.deblocked_rows = 0;
        self.mbs.reset();
        self.mbs.mb_h = if field != 0 {
            self.active.mb_h / 2
        } else {
            self.active.mb_h
        };
        self.update_frame_num_wrap(hdr, sps);
        Ok(Flow::Done)
    }

    /// Frame numbers of short-term references relative to the current picture
    /// (8.2.4.1).
    fn update_frame_num_wrap(&mut self, hdr: &SliceHeader, sps: &Sps) {
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
    }

    /// Starts the second field of the frame in `slot`: same pixels, the first
    /// field's motion moved to the second half of the motion arrays.
    fn start_second_field(&mut self, hdr: &SliceHeader, slot: usize) -> Result<()> {
        let sps_id = self.active.sps_id.unwrap_or(0) as usize;
        let sps = self.sps[sps_id]
            .take()
            .ok_or_else(|| Error::invalid("missing sps"))?;
        self.pending_pair = None;
        let mut pic = std::mem::take(&mut self.dpb[slot]);
        self.dpb[slot].decoding = true;
        pic.pending_pair = false;
        for l in 0..2 {
            std::mem::swap(&mut pic.ref_idx[l], &mut self.work_ref_idx[l]);
            std::mem::swap(&mut pic.ref_uid[l], &mut self.work_ref_uid[l]);
        }
        pic.swap_field_halves();
        let [top, bottom] = self.compute_poc(hdr, &sps);
        let par = hdr.bottom_field as usize;
        pic.field_half[par] = 0;
        pic.field_half[1 - par] = 1;
        pic.field_poc[par] = if par == 0 { top } else { bottom };
        pic.fields = 3;
        // While the field is decoded, `poc` is its own (prediction weights and
        // direct prediction need it); the frame's is set when it is finished.
        pic.poc = pic.field_poc[par];
        pic.decoding = true;
        pic.field_pic = true;
        for s in &mut pic.strides {
            *s *= 2;
        }
        self.pic = pic;
        self.cur_slot = Some(slot);
        self.cur_header = Some(hdr.clone());
        self.slices_in_pic = 0;
        self.decoded_mbs = 0;
        self.deblocked_rows = 0;
        self.mbs.reset();
        self.mbs.mb_h = self.active.mb_h / 2;
        self.update_frame_num_wrap(hdr, &sps);
        self.sps[sps_id] = Some(sps);
        Ok(())
    }

    /// Ends a field pair that will get no second field: the frame becomes a stored
    /// picture with the one field decoded.
    fn close_pending_pair(&mut self) {
        let Some(slot) = self.pending_pair.take() else {
            return;
        };
        let p = &mut self.dpb[slot];
        p.pending_pair = false;
        // The missing field repeats the decoded one's rows, so that the frame shows
        // the one field rather than whatever the pool buffer held before.
        let order = if p.fields & 1 != 0 {
            FieldOrder::TopFirst
        } else {
            FieldOrder::BottomFirst
        };
        p.field_order = order;
        if let Some(f) = self.cur_frame.as_mut() {
            let have_top = p.fields & 1 != 0;
            let strides = p.strides;
            for (plane, stride) in f.planes_mut().into_iter().zip(strides) {
                if stride == 0 {
                    continue;
                }
                let rows = plane.len() / stride;
                for pair in 0..rows / 2 {
                    let (from, to) = if have_top {
                        (2 * pair, 2 * pair + 1)
                    } else {
                        (2 * pair + 1, 2 * pair)
                    };
                    plane.copy_within(from * stride..(from + 1) * stride, to * stride);
                }
            }
            f.props_mut().field_order = order;
        }
        p.pixels = self.cur_frame.take().map(PoolFrame::into_shared);
        p.waiting_output = true;
        while self.dpb.iter().filter(|p| p.waiting_output).count() > self.active.reorder {
            self.bump_one();
        }
    }

    fn free_slot(&self) -> Option<usize> {
        self.dpb.iter().position(|p| p.is_free())
    }

    /// Top and bottom field order counts (8.2.1); for a field picture both are the
    /// field's.
    fn compute_poc(&mut self, hdr: &SliceHeader, sps: &Sps) -> [i32; 2] {
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
                let bottom = if hdr.field_pic {
                    top
                } else {
                    top + hdr.delta_poc_bottom
                };
                if hdr.nal_ref_idc != 0 {
                    if self.cur_mmco5 {
                        self.prev_poc_msb = 0;
                        self.prev_poc_lsb = if hdr.field_pic {
                            0
                        } else {
                            top - top.min(bottom)
                        };
                    } else {
                        self.prev_poc_msb = msb;
                        self.prev_poc_lsb = lsb;
                    }
                }
                [top, bottom]
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
                if hdr.field_pic {
                    if hdr.bottom_field {
                        let b = expected
                            .wrapping_add(sps.offset_for_top_to_bottom_field)
                            .wrapping_add(hdr.delta_poc[0]);
                        [b, b]
                    } else {
                        [top, top]
                    }
                } else {
                    let bottom = top
                        .wrapping_add(sps.offset_for_top_to_bottom_field)
                        .wrapping_add(hdr.delta_poc[1]);
                    [top, bottom]
                }
            }
            _ => {
                let p = if hdr.idr {
                    0
                } else if hdr.nal_ref_idc == 0 {
                    2 * (frame_num_offset + hdr.frame_num as i32) - 1
                } else {
                    2 * (frame_num_offset + hdr.frame_num as i32)
                };
                [p, p]
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
                self.cur_frame = None;
                self.return_work_buffers();
                self.dpb[slot] = std::mem::take(&mut self.pic);
            }
        }
    }

    /// Gives the per-4x4 reference buffers of the finished picture back to the
    /// decoder, after keeping their per-8x8 summary in the picture.
    fn return_work_buffers(&mut self) {
        self.pic.keep_col_refs(self.mbs.mb_h * 4);
        for l in 0..2 {
            std::mem::swap(&mut self.pic.ref_idx[l], &mut self.work_ref_idx[l]);
            std::mem::swap(&mut self.pic.ref_uid[l], &mut self.work_ref_uid[l]);
        }
    }

    fn finish_picture_with(&mut self, slot: usize, hdr: &SliceHeader, sps: &Sps) {
        let field = field_of(hdr);
        let base = field_base(&self.pic, field);
        let total = self.active.mb_w * self.mbs.mb_h;
        if let Some(frame) = self.cur_frame.as_mut() {
            let mut planes = field_planes(frame.planes_mut(), base);
            let missing = self
                .mbs
                .conceal_missing(&mut self.pic, &mut planes, &self.dpb, total, base);
            if missing > 0 {
                self.concealed_total += missing as u64;
                self.pic.concealed = true;
            }
        }
        if let Some(frame) = self.cur_frame.as_mut() {
            let mut planes = field_planes(frame.planes_mut(), base);
            deblock::deblock_rows(
                &self.pic,
                &mut planes,
                &self.mbs,
                self.active.mb_w,
                self.deblocked_rows..self.mbs.mb_h,
            );
        }
        self.pic.decoding = false;
        // Direct prediction of later pictures reads which macroblocks were fields.
        if self.pic.mbaff {
            for (d, &f) in self.pic.mb_field.iter_mut().zip(&self.mbs.mb_field) {
                *d = f;
            }
        } else {
            self.pic.mb_field.fill(false);
        }
        if field != 0 {
            for s in &mut self.pic.strides {
                *s /= 2;
            }
            self.pic.field_pic = false;
        }
        let complete = self.pic.fields == 3;
        if complete {
            self.pic.field_order = field_order_of(&self.pic);
            let order = self.pic.field_order;
            self.pic.pixels = self.cur_frame.take().map(|mut f| {
                f.props_mut().field_order = order;
                f.into_shared()
            });
        }
        self.return_work_buffers();
        let mut pic = std::mem::take(&mut self.pic);
        pic.poc = pic.field_poc[0].min(pic.field_poc[1]);
        let bit = match field {
            0 => 3,
            1 => 1,
            _ => 2,
        };
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
                // The second field of a reference field pair joins its first field's
                // marking without a sliding window (8.2.5.3).
                let pair_ref = field != 0 && pic.ref_fields != 0;
                if hdr.adaptive_marking {
                    self.apply_mmco(hdr, sps, &mut pic, field);
                } else if !pair_ref {
                    self.sliding_window();
                }
                if pic.state == RefState::Unused {
                    pic.state = RefState::Short;
                }
            }
            pic.ref_fields |= bit;
        }
        if self.cur_mmco5 {
            // The picture acts like an IDR for later ones: frame_num 0, POC relative.
            pic.frame_num = 0;
            let m = pic.poc;
            for p in &mut pic.field_poc {
                if *p != i32::MAX {
                    *p -= m;
                }
            }
            pic.poc = 0;
            self.close_pending_pair();
            self.bump_all();
        }
        self.prev_ref_has_mmco5 = self.cur_mmco5;
        self.prev_frame_num = if self.cur_mmco5 { 0 } else { hdr.frame_num };
        self.prev_frame_num_offset = self.cur_frame_num_offset;
        if !complete {
            // A first field: its frame waits for the second field.
            pic.pending_pair = true;
            self.dpb[slot] = pic;
            self.pending_pair = Some(slot);
            return;
        }
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
                self.dpb[i].ref_fields = 0;
            }
        }
    }

    fn apply_mmco(
        &mut self,
        hdr: &SliceHeader,
        sps: &Sps,
        cur: &mut crate::picture::Picture,
        field: u8,
    ) {
        if field != 0 {
            self.apply_field_mmco(hdr, cur, field);
            return;
        }
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

    /// Memory management operations of a field (8.2.5.4): picture numbers name
    /// fields, `2 * FrameNumWrap + 1` for the current parity and `2 * FrameNumWrap`
    /// for the other; a frame stays a reference while one of its fields is.
    fn apply_field_mmco(&mut self, hdr: &SliceHeader, cur: &mut Picture, field: u8) {
        let curr_pic_num = 2 * hdr.frame_num as i32 + 1;
        let same = field - 1;
        // The field (slot, bit) with short-term picture number `pn`.
        let find_short = |dpb: &[Picture], pn: i32| -> Option<(usize, u8)> {
            dpb.iter().enumerate().find_map(|(i, p)| {
                if p.state != RefState::Short {
                    return None;
                }
                (0..2u8).find_map(|par| {
                    let n = 2 * p.frame_num_wrap + (par == same) as i32;
                    (p.ref_fields & (1 << par) != 0 && n == pn).then_some((i, 1 << par))
                })
            })
        };
        let find_long = |dpb: &[Picture], pn: u32| -> Option<(usize, u8)> {
            dpb.iter().enumerate().find_map(|(i, p)| {
                if p.state != RefState::Long {
                    return None;
                }
                (0..2u8).find_map(|par| {
                    let n = 2 * p.long_term_idx + (par == same) as u32;
                    (p.ref_fields & (1 << par) != 0 && n == pn).then_some((i, 1 << par))
                })
            })
        };
        let unmark = |p: &mut Picture, bit: u8| {
            p.ref_fields &= !bit;
            if p.ref_fields == 0 {
                p.state = RefState::Unused;
            }
        };
        for m in &hdr.mmco[..hdr.num_mmco] {
            match m.op {
                1 => {
                    let pn = curr_pic_num - (m.diff_pic_nums as i32 + 1);
                    if let Some((i, bit)) = find_short(&self.dpb, pn) {
                        unmark(&mut self.dpb[i], bit);
                    }
                }
                2 => {
                    if let Some((i, bit)) = find_long(&self.dpb, m.long_term_pic_num) {
                        unmark(&mut self.dpb[i], bit);
                    }
                }
                3 => {
                    let pn = curr_pic_num - (m.diff_pic_nums as i32 + 1);
                    if let Some((i, _)) = find_short(&self.dpb, pn) {
                        // The index moves to this frame: any other frame holding it
                        // loses it.
                        for (k, p) in self.dpb.iter_mut().enumerate() {
                            if k != i
                                && p.state == RefState::Long
                                && p.long_term_idx == m.long_term_idx
                            {
                                p.state = RefState::Unused;
                                p.ref_fields = 0;
                            }
                        }
                        self.dpb[i].state = RefState::Long;
                        self.dpb[i].long_term_idx = m.long_term_idx;
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
                            p.ref_fields = 0;
                        }
                    }
                }
                5 => {
                    for p in &mut self.dpb {
                        p.state = RefState::Unused;
                        p.ref_fields = 0;
                    }
                    self.max_long_term_idx = None;
                }
                6 => {
                    for p in &mut self.dpb {
                        if p.state == RefState::Long && p.long_term_idx == m.long_term_idx {
                            p.state = RefState::Unused;
                            p.ref_fields = 0;
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
                let p = &mut self.dpb[i];
                p.waiting_output = false;
                if let Some(frame) = &p.pixels {
                    let a = &self.active;
                    let (cl, ct) = (a.crop[0] as usize, a.crop[2] as usize);
                    self.output.push_back(DecodedPicture {
                        width: a.mb_w * 16 - (a.crop[0] + a.crop[1]) as usize,
                        height: a.mb_h * 16 - (a.crop[2] + a.crop[3]) as usize,
                        offsets: [
                            ct * frame.stride(0) + cl,
                            (ct / 2) * frame.stride(1) + cl / 2,
                            (ct / 2) * frame.stride(2) + cl / 2,
                        ],
                        poc: p.poc,
                        concealed: p.concealed,
                        color: p.color,
                        chroma_loc: p.chroma_loc,
                        field_order: p.field_order,
                        frame: frame.clone(),
                    });
                }
                true
            }
            None => false,
        }
    }

    fn bump_all(&mut self) {
        while self.bump_one() {}
    }
}

/// The field order of a finished frame: progressive for a frame picture; for a
/// field pair, the field with the smaller POC first, or the first decoded on a tie
/// (as FFmpeg derives `top_field_first` without picture timing SEI).
fn field_order_of(pic: &Picture) -> FieldOrder {
    if !pic.coded_fields && !pic.mbaff {
        return FieldOrder::Progressive;
    }
    let [top, bottom] = pic.field_poc;
    let top_first = match top.cmp(&bottom) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => pic.first_field_top,
    };
    if top_first {
        FieldOrder::TopFirst
    } else {
        FieldOrder::BottomFirst
    }
}

/// The reference lists of the field macroblocks of an MBAFF frame (8.4.2.1), for top
/// and bottom field macroblocks: entry `2i` is the field of frame entry `i` with the
/// macroblock's parity, `2i + 1` its other field.
fn mbaff_field_refs(refs: &SliceRefs, dpb: &[Picture]) -> Result<[SliceRefs; 2]> {
    let mut out: [SliceRefs; 2] = Default::default();
    for (p, f) in out.iter_mut().enumerate() {
        for l in 0..2 {
            if refs.count[l] > 16 {
                return Err(Error::unsupported(
                    "h264 mbaff with more than 16 reference frames in a list",
                ));
            }
            for i in 0..refs.count[l] {
                let slot = refs.slot[l][i];
                let pic = dpb
                    .get(slot)
                    .ok_or_else(|| Error::invalid("reference outside the dpb"))?;
                for (k, par) in [(2 * i, 1 + p as u8), (2 * i + 1, 2 - p as u8)] {
                    f.slot[l][k] = slot;
                    f.parity[l][k] = par;
                    f.own[l][k] = false;
                    f.poc[l][k] = pic.field_poc[par as usize - 1];
                    f.uid[l][k] = refs.uid[l][i].wrapping_add(par as i32);
                    f.long[l][k] = refs.long[l][i];
                }
            }
            f.count[l] = 2 * refs.count[l];
        }
    }
    Ok(out)
}

/// The picture structure of a slice: 0 frame, 1 top field, 2 bottom field.
fn field_of(hdr: &SliceHeader) -> u8 {
    match (hdr.field_pic, hdr.bottom_field) {
        (false, _) => 0,
        (true, false) => 1,
        (true, true) => 2,
    }
}

/// Offsets of the first sample of the field in each plane (one frame row for the
/// bottom field; `pic.strides` are then the doubled field strides).
fn field_base(pic: &Picture, field: u8) -> [usize; 3] {
    if field == 2 {
        pic.strides.map(|s| s / 2)
    } else {
        [0; 3]
    }
}

/// The planes of a field: from its first row on (every other row is its own, by the
/// doubled strides).
fn field_planes(planes: [&mut [u8]; 3], base: [usize; 3]) -> [&mut [u8]; 3] {
    fn cut(p: &mut [u8], o: usize) -> &mut [u8] {
        let o = o.min(p.len());
        &mut p[o..]
    }
    let [a, b, c] = planes;
    [cut(a, base[0]), cut(b, base[1]), cut(c, base[2])]
}

/// Builds the reference picture lists of a slice (8.2.4.2 and 8.2.4.3). `own` is the
/// picture being decoded and its slot: the first field of its frame may be a
/// reference of the second.
fn build_ref_lists(
    hdr: &SliceHeader,
    sps: &Sps,
    dpb: &[Picture],
    own: Option<(usize, &Picture)>,
    cur_poc: i32,
    cur_frame_num: u32,
) -> Result<SliceRefs> {
    let mut refs = SliceRefs::default();
    if hdr.slice_type == SliceType::I {
        return Ok(refs);
    }
    if hdr.field_pic {
        return build_field_ref_lists(hdr, sps, dpb, own, cur_poc, cur_frame_num);
    }
    let mut short: [usize; 32] = [0; 32];
    let mut ns = 0;
    let mut long: [usize; 32] = [0; 32];
    let mut nl = 0;
    for (i, p) in dpb.iter().enumerate() {
        // A frame predicts from frames whose two fields are both references.
        if p.pixels.is_none() || p.ref_fields != 3 {
            continue;
        }
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
                dpb.iter().position(|p| {
                    p.pixels.is_some()
                        && p.ref_fields == 3
                        && p.state == RefState::Short
                        && p.frame_num_wrap == pic_num
                })
            } else {
                dpb.iter().position(|p| {
                    p.pixels.is_some()
                        && p.ref_fields == 3
                        && p.state == RefState::Long
                        && p.long_term_idx == v
                })
            };
            let Some(t) = target else {
                return Err(Error::invalid(
                    "reference list modification names a missing picture",
                ));
            };
            insert_modified(&mut list, idx, n, t);
        }
        fill_missing(&mut list[..n], "p or b slice without any reference picture")?;
        for i in 0..n {
            refs.slot[l][i] = list[i];
            refs.poc[l][i] = dpb[list[i]].poc;
            refs.uid[l][i] = dpb[list[i]].uid;
            refs.long[l][i] = dpb[list[i]].state == RefState::Long;
        }
        refs.count[l] = n;
    }
    Ok(refs)
}

/// Puts `t` at `list[idx]` and removes its later copy from `list[idx + 1..=n]`, as one
/// reference picture list modification does (8.2.4.3.1/8.2.4.3.2, the same for frame
/// and field lists). `list` has room for `n + 1` entries.
fn insert_modified(list: &mut [usize], idx: usize, n: usize, t: usize) {
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

/// Points missing entries (a damaged stream, or one starting without an IDR) at the
/// first available reference, which conceals rather than fails; a list with none at
/// all is an error.
fn fill_missing(list: &mut [usize], none: &'static str) -> Result<()> {
    let Some(fallback) = list.iter().copied().find(|&s| s != usize::MAX) else {
        return if list.is_empty() { Ok(()) } else { Err(Error::invalid(none)) };
    };
    for e in list.iter_mut().filter(|e| **e == usize::MAX) {
        *e = fallback;
    }
    Ok(())
}

/// Appends the fields of `frames` (slots, in order) to `out`, alternating parity and
/// starting with `same` (1 top, 2 bottom); once one parity runs out, the rest of the
/// other follows in order (8.2.4.2.5). Entries are `slot * 4 + parity`.
fn split_fields<'p>(
    frames: &[usize],
    get: &dyn Fn(usize) -> Option<&'p Picture>,
    same: u8,
    out: &mut [usize; 64],
    n: &mut usize,
) {
    let has =
        |slot: usize, par: u8| get(slot).is_some_and(|p| p.ref_fields & (1 << (par - 1)) != 0);
    let mut next = [0usize; 3];
    let mut par = same;
    loop {
        let i = &mut next[par as usize];
        while *i < frames.len() && !has(frames[*i], par) {
            *i += 1;
        }
        if *i < frames.len() {
            if *n < out.len() {
                out[*n] = frames[*i] * 4 + par as usize;
                *n += 1;
            }
            *i += 1;
            par = 3 - par;
            continue;
        }
        let other = 3 - par;
        for &f in &frames[next[other as usize]..] {
            if has(f, other) && *n < out.len() {
                out[*n] = f * 4 + other as usize;
                *n += 1;
            }
        }
        return;
    }
}

/// Reference lists of a field (8.2.4.2.2, 8.2.4.2.4 and 8.2.4.2.5): reference frames
/// ordered as for a frame, then split into their reference fields, alternating
/// parity from the current field's; modification with field picture numbers.
fn build_field_ref_lists(
    hdr: &SliceHeader,
    sps: &Sps,
    dpb: &[Picture],
    own: Option<(usize, &Picture)>,
    cur_poc: i32,
    cur_frame_num: u32,
) -> Result<SliceRefs> {
    let mut refs = SliceRefs::default();
    let same: u8 = if hdr.bottom_field { 2 } else { 1 };
    let own_slot = own.map(|(s, _)| s);
    let get = |slot: usize| -> Option<&Picture> {
        match own {
            Some((s, p)) if s == slot => Some(p),
            _ => dpb.get(slot),
        }
    };
    let usable = |slot: usize| {
        get(slot).is_some_and(|p| {
            p.ref_fields != 0
                && p.state != RefState::Unused
                && (p.pixels.is_some() || Some(slot) == own_slot)
        })
    };
    let max_frame_num = 1i32 << sps.log2_max_frame_num;
    let wrap = |p: &Picture| -> i32 {
        if p.frame_num > cur_frame_num {
            p.frame_num as i32 - max_frame_num
        } else {
            p.frame_num as i32
        }
    };
    // The POC of a reference entry: of its reference fields.
    let entry_poc = |p: &Picture| -> i32 {
        let mut v = i32::MAX;
        for par in 0..2 {
            if p.ref_fields & (1 << par) != 0 {
                v = v.min(p.field_poc[par]);
            }
        }
        v
    };
    let mut short = [0usize; 33];
    let mut ns = 0;
    let mut long = [0usize; 33];
    let mut nl = 0;
    for slot in 0..dpb.len() {
        if !usable(slot) {
            continue;
        }
        let Some(p) = get(slot) else { continue };
        match p.state {
            RefState::Short if ns < 33 => {
                short[ns] = slot;
                ns += 1;
            }
            RefState::Long if nl < 33 => {
                long[nl] = slot;
                nl += 1;
            }
            _ => {}
        }
    }
    let pic = |slot: usize| get(slot).unwrap_or(&dpb[0]);
    let long = &mut long[..nl];
    long.sort_by_key(|&i| pic(i).long_term_idx);
    let short = &mut short[..ns];
    let mut init = [[0usize; 64]; 2];
    let mut init_len = [0usize; 2];
    let lists = if hdr.slice_type == SliceType::B { 2 } else { 1 };
    if hdr.slice_type == SliceType::P {
        short.sort_by_key(|&i| std::cmp::Reverse(wrap(pic(i))));
        split_fields(short, &get, same, &mut init[0], &mut init_len[0]);
        split_fields(long, &get, same, &mut init[0], &mut init_len[0]);
    } else {
        short.sort_by_key(|&i| entry_poc(pic(i)));
        for l in 0..2 {
            let mut frames = [0usize; 33];
            let mut n = 0;
            let lower = short
                .iter()
                .rev()
                .filter(|&&i| entry_poc(pic(i)) <= cur_poc);
            let upper = short.iter().filter(|&&i| entry_poc(pic(i)) > cur_poc);
            if l == 0 {
                for &i in lower.chain(upper) {
                    frames[n] = i;
                    n += 1;
                }
            } else {
                for &i in upper.chain(lower) {
                    frames[n] = i;
                    n += 1;
                }
            }
            split_fields(&frames[..n], &get, same, &mut init[l], &mut init_len[l]);
            split_fields(long, &get, same, &mut init[l], &mut init_len[l]);
        }
        if init_len[1] > 1
            && init_len[0] == init_len[1]
            && init[0][..init_len[0]] == init[1][..init_len[1]]
        {
            init[1].swap(0, 1);
        }
    }
    let max_pic_num = 2 * max_frame_num;
    let curr_pic_num = 2 * cur_frame_num as i32 + 1;
    for l in 0..lists {
        let n = hdr.num_ref_idx[l] as usize;
        let mut list = [usize::MAX; 33];
        let m = n.min(init_len[l]);
        list[..m].copy_from_slice(&init[l][..m]);
        let mut pred = curr_pic_num;
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
                    no_wrap += max_pic_num;
                } else if no_wrap >= max_pic_num {
                    no_wrap -= max_pic_num;
                }
                pred = no_wrap;
                let pic_num = if no_wrap > curr_pic_num {
                    no_wrap - max_pic_num
                } else {
                    no_wrap
                };
                short.iter().find_map(|&slot| {
                    let p = pic(slot);
                    (1..=2u8).find_map(|par| {
                        let pn = 2 * wrap(p) + (par == same) as i32;
                        (p.ref_fields & (1 << (par - 1)) != 0 && pn == pic_num)
                            .then_some(slot * 4 + par as usize)
                    })
                })
            } else {
                long.iter().find_map(|&slot| {
                    let p = pic(slot);
                    (1..=2u8).find_map(|par| {
                        let pn = 2 * p.long_term_idx + (par == same) as u32;
                        (p.ref_fields & (1 << (par - 1)) != 0 && pn == v)
                            .then_some(slot * 4 + par as usize)
                    })
                })
            };
            let Some(t) = target else {
                return Err(Error::invalid(
                    "reference list modification names a missing field",
                ));
            };
            insert_modified(&mut list, idx, n, t);
        }
        fill_missing(&mut list[..n], "p or b field without any reference field")?;
        for i in 0..n {
            let (slot, par) = (list[i] / 4, (list[i] % 4) as u8);
            let p = pic(slot);
            refs.slot[l][i] = slot;
            refs.parity[l][i] = par;
            refs.own[l][i] = Some(slot) == own_slot;
            refs.poc[l][i] = p.field_poc[par as usize - 1];
            refs.uid[l][i] = p.uid.wrapping_add(par as i32);
            refs.long[l][i] = p.state == RefState::Long;
        }
        refs.count[l] = n;
    }
    Ok(refs)
}
