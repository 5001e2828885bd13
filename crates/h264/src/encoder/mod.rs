//! A pure-Rust H.264 encoder on pooled frames: push frames in, pull Annex-B access
//! units out, rav1e style, with backpressure as a status and an explicit flush.
//!
//! # Design
//!
//! - **One kernel, one place.** Analysis adds only what an encoder needs: forward
//!   transform, quantisation, mode decision and motion search. Prediction (intra and
//!   inter), scaling, inverse transforms and the deblocking filter are the decoder's
//!   own functions, run on the encoder's reconstruction, so the reconstruction is the
//!   decoder's output by construction; the tests decode every output with
//!   [`crate::Decoder`] and compare frame by frame.
//! - **Bounded memory, reserved up front.** [`Encoder::new`] reserves against the
//!   job's [`Budget`] everything it will hold: the reconstruction pool (reference
//!   frames + 1), the macroblock and motion tables, the slice buffers, each slice
//!   thread's tables and reconstruction band, and the output buffer grows against
//!   the budget up to [`MemoryConfig::max_packet_size`]. Source frames are
//!   [`SharedFrame`] handles, never copied. After the first frames nothing is
//!   allocated per frame, on any thread.
//! - **Threads without changing the output.** A picture is `slices` bands of whole
//!   macroblock rows, balanced by the coded cost of the previous picture of the same
//!   type (never by timing); the bands are coded in parallel by `threads` threads
//!   (started once, see `threads.rs`) and deblocked across the slice edges
//!   (`disable_deblocking_filter_idc` 0) in row order, band 0 while the others are
//!   still coded; the slices are written in order. The stream depends on `slices`,
//!   never on `threads`.
//! - **Settings are data.** [`EncoderConfig`] has public documented fields; invalid
//!   ones are errors naming the field and its range.
//!
//! # What it codes (this version)
//!
//! I (IDR every `keyint` frames), P and B pictures (up to `bframes` between two
//! anchors, a fixed pattern or placed adaptively with `b_adapt`, closed GOPs; the
//! middle B of a group a reference picture with `b_pyramid`), CAVLC or CABAC, one
//! reference frame for P pictures and the nearest reference picture on each side
//! for B pictures, Intra 16x16 /
//! Intra 4x4 / P 16x16..8x8 / P_Skip / B_Skip / B_Direct_16x16 (spatial) / B 16x16
//! macroblocks, constant QP (B pictures `b_qp_offset` coarser, I pictures
//! `i_qp_offset` finer) or a constant rate factor (a QP per picture from the
//! scene-cut thumbnails' costs, see [`RateControl::Crf`]) or an average bitrate
//! ([`RateControl::Abr`]: the same model with a rate factor learnt from the bits
//! spent), optionally under a VBV (`vbv_maxrate_kbps`, `vbv_bufsize_kbits`: a
//! leaky-bucket model that raises a picture's QP before coding it and codes it
//! again coarser when it would underflow the buffer, see `vbv.rs`); one slice QP
//! per picture (adaptive quantisation and mb-tree offset macroblocks from it); one
//! or several slices per picture, each a band of macroblock rows.
//!
//! # Frame order
//!
//! With `bframes = n`, frames wait in the lookahead until `n + 1` are queued; then
//! the last of them is coded first as the anchor (P, or I at an IDR point) and the
//! `n` before it follow as B pictures predicted from the previous anchor (list 0)
//! and this one (list 1). With `b_adapt` the group may be shorter (see `gop.rs`).
//!
//! With B-pyramid (`b_pyramid`, 2 or more B pictures in the group) the B picture
//! `n / 2` is coded right after the anchor as a reference picture (nal_ref_idc 1,
//! sliding window marking), and the others follow in display order, each
//! predicting from the nearest reference on each side: the B pictures before it
//! from the previous anchor and it, those after it from it and the new anchor
//! (default list order by POC, one reference per list, no modification). The
//! next P picture finds the reference B first in its frame_num-ordered list 0, so
//! one list modification names the anchor instead, and its memory management
//! operations mark the reference B and the older anchor unused: the DPB always
//! holds the two anchors when a reference B comes, and three pictures at most
//! (`max_dec_frame_buffering` 3, `max_num_reorder_frames` 2).
//!
//! ```text
//!   display  I0  B1  B2  B3  P4  B5  B6  B7  P8
//!   coded    I0  P4  B2r B1  B3  P8  B6r B5  B7      (r: reference B)
//!   B1: L0 I0, L1 B2r   B3: L0 B2r, L1 P4   P8: L0 P4 (modified), marks B2r, I0 unused
//! ```
//!
//! An IDR picture comes every `keyint` frames and at scene
//! cuts (`scenecut`, detected on 1/8-size thumbnails as frames are sent); it is
//! never the future anchor of B pictures (the group before it is cut short and ends
//! in a P picture), so every GOP is closed.
//!
//! ```text
//!   send_frame(&SharedFrame) ─► Lookahead (handles) ─► receive_packet():
//!        analyse + code each macroblock ─► recon frame (FramePool, refs + 1)
//!        slice RBSP (reserved Vec) ─► NAL framing ─► OutputBuffer (reused)
//!        deblock recon ─► becomes the reference; the old one returns to the pool
//! ```
//!
//! ```
//! use transcode_h264::encoder::{Encoder, EncoderConfig, EncoderStatus, Received};
//! use transcode_frame_pool::{FrameLayout, FramePool, FramePoolConfig, PixelFormat};
//! let memory = transcode_core::MemoryConfig::default();
//! let budget = transcode_core::Budget::from_config(&memory);
//! let layout = FrameLayout::new(PixelFormat::Yuv420p, 64, 48).unwrap();
//! let pool = FramePool::new(FramePoolConfig::new(layout, &memory), &budget).unwrap();
//! let mut enc = Encoder::new(EncoderConfig::new(64, 48), &budget, &memory).unwrap();
//! let mut bytes = 0;
//! for i in 0..3u8 {
//!     let mut f = pool.acquire();
//!     for p in 0..3 {
//!         f.plane_mut(p).fill(40 * i + 16 * p as u8);
//!     }
//!     f.props_mut().pts = Some(i as i64);
//!     assert_eq!(enc.send_frame(&f.into_shared()).unwrap(), EncoderStatus::Accepted);
//!     while let Received::Packet(p) = enc.receive_packet().unwrap() {
//!         bytes += p.data.len();
//!     }
//! }
//! enc.flush();
//! while let Received::Packet(p) = enc.receive_packet().unwrap() {
//!     bytes += p.data.len();
//! }
//! assert!(bytes > 0);
//! ```

mod aq;
mod bits;
mod cabac;
mod cavlc;
mod config;
mod gop;
mod headers;
mod mb;
mod mbtree;
mod me;
mod preset;
mod quant;
mod ratecontrol;
mod scenecut;
mod sei;
mod subpel;
mod threads;
mod vbv;

pub use config::{parse_kilobits, ColourDescription, EncoderConfig, Entropy, MeMethod, Profile, RateControl};
pub use preset::{EncoderPreset, Tune};

use crate::deblock;
use crate::mb::{MbState, SliceDeblock};
use bits::{BitSink, BitWriter};
use mb::{MbCoder, MbParams, RefPic};
use transcode_core::{Error, MemoryConfig, Result};
use transcode_decoder_buffers::{Lookahead, OutputBuffer, Push};
use transcode_frame_pool::{
    Acquire, Budget, FrameData, FrameLayout, FramePool, FramePoolConfig, PixelFormat,
    Reservation, SharedFrame,
};

/// Backpressure and progress, as values (not errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncoderStatus {
    /// The frame was queued.
    Accepted,
    /// The lookahead is full: take packets with [`Encoder::receive_packet`] first,
    /// then send the same frame again.
    EnoughData,
}

/// What [`Encoder::receive_packet`] hands out.
#[derive(Debug)]
pub enum Received<'a> {
    /// One access unit.
    Packet(EncodedPacket<'a>),
    /// Send more frames (or [`Encoder::flush`]) before the next packet.
    NeedMoreData,
    /// Flushed and drained: every frame sent has been returned as a packet.
    Done,
}

/// Picture type of an access unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameType {
    Idr,
    P,
    /// A B picture: non-reference, or the reference B of a B-pyramid group.
    B,
}

/// One Annex-B access unit, borrowed from the encoder's reused output buffer until
/// the next call.
///
/// # Timing
///
/// `pts` is the sent frame's [`transcode_frame_pool::FrameProps::pts`]. Without
/// B-frames `dts` equals it. With B-frames packets come in decoding order and `dts`
/// is shifted by `d` frames, the stream's `max_num_reorder_frames` (1, or 2 with
/// B-pyramid), as x264 and FFmpeg do: packet `n < d` gets the first `pts` minus
/// `d - n` frame durations (the frame's `duration`, else the difference of the first
/// two `pts`, else 1), and packet `n >= d` gets the `pts` of display frame `n - d`.
/// So `dts` increases and never exceeds `pts` (for increasing source `pts`).
#[derive(Debug)]
pub struct EncodedPacket<'a> {
    pub data: &'a [u8],
    pub pts: Option<i64>,
    pub dts: Option<i64>,
    pub duration: Option<i64>,
    pub keyframe: bool,
    pub frame_type: FrameType,
    /// Index of the frame in the order it was sent, from 0.
    pub frame_number: u64,
    /// The picture's QP (SliceQPY), 0..=51: `qp` and its offsets at constant QP,
    /// the rate control's choice with [`RateControl::Crf`] or
    /// [`RateControl::Abr`] (raised by the VBV if it had to).
    pub qp: u8,
}

/// The encoder. See the module documentation.
pub struct Encoder {
    cfg: EncoderConfig,
    seq: headers::Sequence,
    params: MbParams,
    lookahead: Lookahead<SharedFrame>,
    flushing: bool,
    pool: FramePool,
    /// The latest anchor's reconstruction: the reference of P pictures and list 1 of
    /// B pictures.
    reference: Option<SharedFrame>,
    /// The anchor before it: list 0 of B pictures.
    past: Option<SharedFrame>,
    /// frame_num of `reference` and `past` (for reference list modifications and
    /// memory management operations).
    reference_fn: u32,
    past_fn: u32,
    /// The reference B picture of the current B-pyramid group, once coded: its
    /// reconstruction, display index and frame_num.
    bref: Option<(SharedFrame, u32, u32)>,
    /// The last B picture's reconstruction (a handle on `bref` for the reference B).
    last_b: Option<SharedFrame>,
    st: MbState,
    /// Motion of the latest anchor (the co-located picture of the B pictures after
    /// it), of the reference B picture (co-located for those before it) and of the
    /// B picture being coded.
    motion: threads::MotionTables,
    bparams: MbParams,
    /// The reference B picture's parameters at constant QP (between P and B).
    brparams: MbParams,
    iparams: MbParams,
    /// Source frames of B pictures whose future anchor is coded, in coding order
    /// (the reference B first, then the others in display order), with their
    /// display index since the IDR picture and whether each is the reference B.
    bq: std::collections::VecDeque<(SharedFrame, u32, bool)>,
    /// `pts` of frames taken from the lookahead, in display order, for the `dts` of
    /// the packets (B-frames only).
    pts_fifo: std::collections::VecDeque<Option<i64>>,
    /// Scene-cut detection (also the complexity measure of the rate factor), and
    /// whether each queued frame starts a new scene with its thumbnail cost (in
    /// lookahead order).
    scenecut: Option<scenecut::SceneCut>,
    cuts: std::collections::VecDeque<(bool, u64)>,
    /// Adaptive B-frame placement on the queued frames' thumbnails, and its
    /// reservation.
    badapt: Option<gop::BAdapt>,
    _badapt: Option<Reservation>,
    /// Rate control state (rate factor or average bitrate), and the parameters of
    /// the picture being coded at the QP it chose.
    rc: Option<ratecontrol::Rate>,
    /// The VBV buffer model, with `vbv_maxrate_kbps` (see `vbv.rs`).
    vbv: Option<vbv::Vbv>,
    rcparams: MbParams,
    /// Each macroblock's QP (adaptive quantisation) and the parameters of every QP.
    /// Per-macroblock QPs of the picture being coded; the slice threads read it
    /// while they code, and it is written only between pictures, when none is.
    mbqp: std::sync::Arc<std::sync::RwLock<aq::MbQp>>,
    /// Macroblock-tree analysis of the queued frames (with a rate factor).
    mbtree: Option<mbtree::MbTree>,
    /// frame_num of the next picture: reference pictures since the IDR picture.
    frame_num: u32,
    /// Frames taken from the lookahead, and how many of them came before the last
    /// IDR picture (for the packets' frame_number).
    frames_taken: u64,
    idr_base: u64,
    /// One slice buffer per slice of a picture, in order.
    rbsp: Vec<Vec<u8>>,
    /// The macroblock rows of each slice of the picture being coded, and the row
    /// costs of the last I, P and B picture they are balanced by (see
    /// [`threads::balance_bands`]).
    bands: Vec<std::ops::Range<usize>>,
    row_cost: [Vec<u32>; 3],
    /// The bands of the picture each motion table (by [`threads::MotionSlot`]) was
    /// last written by: which rows each worker's own table holds.
    slot_bands: [Vec<std::ops::Range<usize>>; 3],
    out: OutputBuffer,
    headers_annexb: Vec<u8>,
    avcc: Vec<u8>,
    frames_in: u64,
    frames_out: u64,
    since_idr: u32,
    idr_count: u32,
    _tables: Reservation,
    /// Slice threads beyond the calling one (`threads - 1`, at most `slices - 1`);
    /// band `k` of a picture is coded by thread `k % (workers + 1)`, 0 being the
    /// caller's.
    workers: Vec<threads::Worker>,
    _worker_tables: Option<Reservation>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("width", &self.cfg.width)
            .field("height", &self.cfg.height)
            .field("level", &self.seq.level)
            .field("frames_in", &self.frames_in)
            .field("frames_out", &self.frames_out)
            .finish()
    }
}

impl Encoder {
    /// Heap bytes of the tables and the slice buffer for a `mb_w` x `mb_h` picture
    /// (the reconstruction frames are the pool's, reserved by the pool).
    fn table_bytes(mb_w: usize, mb_h: usize, slices: usize, threads: usize, motion_tables: usize) -> usize {
        let n = mb_w * mb_h;
        scenecut::SceneCut::bytes_for(mb_w * 16, mb_h * 16)
            + MbState::bytes_for(mb_w, mb_h)
            + threads::MotionTables::bytes_for(mb_w, mb_h, motion_tables)
            + slices.div_ceil(threads) * Self::rbsp_bytes(threads::max_band_rows(mb_h, slices) * mb_w)
            + slices * (std::mem::size_of::<Vec<u8>>() + 4 * std::mem::size_of::<std::ops::Range<usize>>())
            + 3 * mb_h * std::mem::size_of::<u32>()
            + aq::MbQp::bytes_for(n)
    }

    /// Slice buffer capacity. With levels clamped to [`quant::MAX_LEVEL`], a CAVLC
    /// macroblock is at most about 1.4 KB (24 blocks of at most 16 escaped levels of 28
    /// bits plus their tokens); binary 0/255 noise at QP 0, the worst content tried,
    /// averages 0.8 KB, and CABAC stays below CAVLC. 1600 bytes per macroblock plus the
    /// headers; should a slice still not fit, encoding fails with
    /// [`Error::LimitExceeded`] rather than growing the buffer.
    fn rbsp_bytes(mbs: usize) -> usize {
        mbs * 1600 + 4096
    }

    /// Validates `cfg`, chooses the level, and reserves against `budget` every buffer
    /// the encoder will hold.
    pub fn new(cfg: EncoderConfig, budget: &Budget, memory: &MemoryConfig) -> Result<Encoder> {
        cfg.validate()?;
        let level = headers::choose_level(&cfg)?;
        let (mb_w, mb_h) = (cfg.width.div_ceil(16), cfg.height.div_ceil(16));
        // pic_init_qp: the constant QP, or the rate factor's (slices differ from it
        // by slice_qp_delta).
        let init_qp = match cfg.rate_control {
            RateControl::ConstantQp => cfg.qp as i32,
            RateControl::Crf(crf) => (crf.round() as i32).clamp(0, 51),
            RateControl::Abr { .. } => 26,
        };
        let seq = headers::Sequence {
            mb_w,
            mb_h,
            level,
            qp: init_qp,
        };
        let limits = headers::level_limits(level).ok_or_else(|| Error::invalid("unknown level"))?;
        // Each picture type's parameters differ only in their QP.
        let at_qp = |qp: i32| {
            MbParams::new(
                qp,
                cfg.chroma_qp_offset as i32,
                cfg.intra4x4,
                cfg.partitions,
                cfg.me_range as i32,
                limits.max_vmv_quarter,
            )
            .with_8x8(cfg.uses_8x8_transform(), cfg.entropy == Entropy::Cabac)
            .with_search(mb::SearchParams::of(&cfg))
        };
        let params = at_qp(cfg.qp as i32);
        let brparams = at_qp((cfg.qp as i32 + cfg.b_qp_offset as i32 / 2).min(51));
        let bparams = at_qp((cfg.qp as i32 + cfg.b_qp_offset as i32).min(51));
        let iparams = at_qp((cfg.qp as i32 - cfg.i_qp_offset as i32).max(0));
        let (mbw, mbh) = (mb_w as usize, mb_h as usize);
        // At most one slice per macroblock row.
        let nslices = (cfg.slices as usize).min(mbh);
        let motion_tables = 2 + cfg.uses_b_pyramid() as usize;
        let nthreads = cfg.threads.min(nslices);
        let tables = budget.reserve("encoder tables", Self::table_bytes(mbw, mbh, nslices, nthreads, motion_tables) as u64)?;
        let layout = FrameLayout::new(PixelFormat::Yuv420p, mb_w * 16, mb_h * 16)?;
        let mut pcfg = FramePoolConfig::new(layout, memory);
        pcfg.name = "encoder reconstruction";
        // One frame per reference (with B-frames, the second anchor too) plus the
        // picture being coded.
        pcfg.capacity = headers::dpb_frames(&cfg) + 1;
        // Allocated (and reserved) now, so that a budget too small for them fails
        // here rather than at the frame that first needs the last one.
        pcfg.preallocate = transcode_frame_pool::Preallocate::All;
        let pool = FramePool::new(pcfg, budget)?;
        let mut st = MbState::default();
        st.alloc(mbw, mbh);
        st.slices.push(SliceDeblock::default());
        st.slices.push(SliceDeblock {
            disable: if cfg.deblock { 0 } else { 1 },
            alpha: 0,
            beta: 0,
            chroma_qp_offset: [cfg.chroma_qp_offset as i32; 2],
        });
        let strides = [layout.plane(0).stride, layout.plane(1).stride, layout.plane(2).stride];
        // B pictures' motion table: the anchor's must survive them, being their
        // co-located picture; and the reference B picture's, the co-located picture
        // of the B pictures before it.
        let motion = threads::MotionTables::new(
            mbw,
            mbh,
            strides,
            1 + (cfg.bframes > 0) as usize + cfg.uses_b_pyramid() as usize,
        );
        let delay = cfg.queued_frames();
        let samples = scenecut::SceneCut::new_samples(cfg.width as usize, cfg.height as usize);
        let pixels = cfg.width as usize * cfg.height as usize;
        let fps = cfg.frame_rate.0 as f64 / cfg.frame_rate.1 as f64;
        // Adaptive placement needs somewhere to choose: at least 1 B-frame.
        let b_adapt = cfg.b_adapt && cfg.bframes > 0;
        let (tw, th) = ((cfg.width as usize / 8).max(1), (cfg.height as usize / 8).max(1));
        let _badapt = b_adapt
            .then(|| budget.reserve("encoder b-adapt thumbnails", gop::BAdapt::bytes_for(tw * th, delay) as u64))
            .transpose()?;
        let badapt = b_adapt.then(|| gop::BAdapt::new(tw, th, delay));
        let rc = match cfg.rate_control {
            RateControl::ConstantQp => None,
            RateControl::Crf(crf) => Some(ratecontrol::Rate::Crf(ratecontrol::Crf::new(crf as f64, samples))),
            RateControl::Abr { kbps } => {
                Some(ratecontrol::Rate::Abr(ratecontrol::Abr::new(kbps, fps, pixels, samples)))
            }
        };
        let vbv = cfg
            .vbv()
            .map(|(max, size)| vbv::Vbv::new(max, size, cfg.vbv_init, fps, pixels, samples));
        let mut headers_annexb = Vec::with_capacity(256);
        let mut scratch = Vec::with_capacity(256);
        {
            let mut w = BitWriter::new(&mut scratch);
            headers::write_sps(&mut w, &cfg, &seq);
            w.trailing_bits();
        }
        bits::write_nal(&mut headers_annexb, 3, 7, &scratch);
        {
            let mut w = BitWriter::new(&mut scratch);
            headers::write_pps(&mut w, &cfg, &seq);
            w.trailing_bits();
        }
        bits::write_nal(&mut headers_annexb, 3, 8, &scratch);
        let avcc = transcode_codec::h264::AvcC::from_annexb(&headers_annexb)
            .map(|a| a.to_bytes())
            .ok_or_else(|| Error::invalid("encoder parameter sets do not form an avcC record"))?;
        let out = OutputBuffer::new(memory.max_packet_size as usize, budget)?;
        // Slice threads, each with its tables, a reconstruction buffer and the slice
        // buffers of its bands, reserved before they are allocated.
        let plane_len: [usize; 3] = std::array::from_fn(|p| layout.plane(p).stride * layout.plane(p).rows);
        // Bands move with their costs: each slice buffer holds the largest band.
        let band_bytes = |_: usize| Self::rbsp_bytes(threads::max_band_rows(mbh, nslices) * mbw);
        let mut worker_bytes = 0;
        for j in 1..nthreads {
            let rbsp: usize = (j..nslices).step_by(nthreads).map(band_bytes).sum();
            worker_bytes += threads::SliceWork::bytes_for(mbw, mbh, motion_tables, plane_len.iter().sum(), rbsp);
        }
        let worker_tables = (nthreads > 1)
            .then(|| budget.reserve("encoder slice threads", worker_bytes as u64))
            .transpose()?;
        let mut workers = Vec::with_capacity(nthreads.saturating_sub(1));
        for j in 1..nthreads {
            let caps: Vec<usize> = (j..nslices).step_by(nthreads).map(band_bytes).collect();
            let mut wst = MbState::default();
            wst.alloc(mbw, mbh);
            let work = threads::SliceWork::new(wst, mbw, mbh, motion_tables, strides, plane_len, &caps);
            workers.push(threads::Worker::start(work, caps.len())?);
        }
        Ok(Encoder {
            workers,
            _worker_tables: worker_tables,
            lookahead: Lookahead::new(delay)?,
            bq: std::collections::VecDeque::with_capacity(delay),
            pts_fifo: std::collections::VecDeque::with_capacity(delay + 2),
            scenecut: (cfg.scenecut || rc.is_some() || b_adapt)
                .then(|| scenecut::SceneCut::new(cfg.width as usize, cfg.height as usize)),
            badapt,
            _badapt,
            rc,
            vbv,
            rcparams: params.clone(),
            mbqp: std::sync::Arc::new(std::sync::RwLock::new(aq::MbQp::new(&params, cfg.chroma_qp_offset as i32, mbw * mbh))),
            mbtree: match (cfg.rate_control, cfg.mbtree) {
                (RateControl::Crf(_) | RateControl::Abr { .. }, true) => Some(mbtree::MbTree::new(mbw, mbh, delay, budget)?),
                _ => None,
            },
            cuts: std::collections::VecDeque::with_capacity(delay),
            frame_num: 0,
            frames_taken: 0,
            idr_base: 0,
            cfg,
            seq,
            params,
            bparams,
            iparams,
            flushing: false,
            pool,
            reference: None,
            past: None,
            reference_fn: 0,
            past_fn: 0,
            bref: None,
            last_b: None,
            st,
            motion,
            brparams,
            // This thread's bands only: the NAL units of the others are written
            // from their workers' buffers.
            rbsp: (0..nslices)
                .map(|k| match k % nthreads {
                    0 => Vec::with_capacity(Self::rbsp_bytes(threads::max_band_rows(mbh, nslices) * mbw)),
                    _ => Vec::new(),
                })
                .collect(),
            bands: vec![0..0; nslices],
            slot_bands: std::array::from_fn(|_| vec![0..0; nslices]),
            row_cost: std::array::from_fn(|_| vec![0; mbh]),
            out,
            headers_annexb,
            avcc,
            frames_in: 0,
            frames_out: 0,
            since_idr: 0,
            idr_count: 0,
            _tables: tables,
        })
    }

    pub fn config(&self) -> &EncoderConfig {
        &self.cfg
    }

    /// The level_idc written in the SPS.
    pub fn level(&self) -> u8 {
        self.seq.level
    }

    /// The SPS and PPS as Annex-B NAL units (each after a 4-byte start code).
    pub fn headers(&self) -> &[u8] {
        &self.headers_annexb
    }

    /// The SPS and PPS as an `avcC` record, the MP4 sample entry's extradata.
    pub fn avcc(&self) -> &[u8] {
        &self.avcc
    }

    /// Queues `frame` (a handle: the pixels are not copied). Frames must be yuv420p
    /// of the configured size; their `pts` is carried to the packet.
    pub fn send_frame(&mut self, frame: &SharedFrame) -> Result<EncoderStatus> {
        if self.flushing {
            return Err(Error::invalid("frame sent after flush (expected no more frames)"));
        }
        if frame.format() != PixelFormat::Yuv420p {
            return Err(Error::unsupported(format!(
                "frame format {} (expected yuv420p)",
                frame.format().name()
            )));
        }
        if (frame.width(), frame.height()) != (self.cfg.width, self.cfg.height) {
            return Err(Error::invalid(format!(
                "frame size {}x{} (expected the configured {}x{})",
                frame.width(),
                frame.height(),
                self.cfg.width,
                self.cfg.height
            )));
        }
        // The B pictures of a coded anchor count against the lookahead's depth too, so
        // that the encoder never holds more than `queued_frames` source frames.
        if self.lookahead.len() + self.bq.len() >= self.lookahead.depth() {
            return Ok(EncoderStatus::EnoughData);
        }
        let cut = match self.scenecut.as_mut() {
            Some(sc) => (sc.push(frame.plane(0), frame.stride(0)) && self.cfg.scenecut, sc.cost()),
            None => (false, 0),
        };
        match self.lookahead.push(frame.clone()) {
            Push::Accepted => {
                self.cuts.push_back(cut);
                if let (Some(b), Some(sc)) = (self.badapt.as_mut(), self.scenecut.as_ref()) {
                    b.push(sc.thumbnail());
                }
                if let Some(t) = self.mbtree.as_mut() {
                    t.push(frame, self.cfg.width as usize, self.cfg.height as usize);
                }
                self.frames_in += 1;
                Ok(EncoderStatus::Accepted)
            }
            Push::Full(_) => Ok(EncoderStatus::EnoughData),
        }
    }

    /// No more frames: the queued ones are encoded by the next
    /// [`Encoder::receive_packet`] calls, then it answers [`Received::Done`].
    pub fn flush(&mut self) {
        self.flushing = true;
    }

    /// Encodes the next picture in decoding order, if the lookahead has enough
    /// frames queued.
    pub fn receive_packet(&mut self) -> Result<Received<'_>> {
        let (src, kind, disp, is_bref) = if let Some((src, disp, is_bref)) = self.bq.pop_front() {
            (src, headers::SliceKind::B, disp, is_bref)
        } else {
            // A group is coded once the lookahead is full, or, after a flush, while
            // any frame is left.
            let ready = self.lookahead.is_full() || (self.flushing && !self.lookahead.is_empty());
            if !ready {
                return Ok(if self.flushing {
                    Received::Done
                } else {
                    Received::NeedMoreData
                });
            }
            let idr = self.since_idr == 0 || self.since_idr >= self.cfg.keyint || self.cuts.front().is_some_and(|c| c.0);
            if idr {
                self.since_idr = 0;
            }
            // B pictures before the anchor: as many as configured and queued, with
            // the anchor still before the next IDR point and the next scene cut.
            let next_cut = self.cuts.iter().skip(1).position(|c| c.0).unwrap_or(usize::MAX);
            let mut nb = if idr {
                0
            } else {
                (self.cfg.bframes as usize)
                    .min(self.lookahead.len() - 1)
                    .min((self.cfg.keyint - 1 - self.since_idr) as usize)
                    .min(next_cut)
            };
            if let Some(b) = self.badapt.as_ref() {
                nb = b.decide(nb);
            }
            for k in 0..nb {
                if let Some(b) = self.badapt.as_mut() {
                    b.pop(false);
                }
                self.cuts.pop_front();
                if let Some(t) = self.mbtree.as_mut() {
                    t.pop();
                }
                let Some(f) = self.lookahead.pop() else { break };
                self.pts_fifo.push_back(f.props().pts);
                self.bq.push_back((f, self.since_idr + k as u32, false));
            }
            // B-pyramid: the middle B picture is a reference, coded first.
            if self.cfg.uses_b_pyramid() && self.bq.len() >= 2 {
                let mid = self.bq.len() / 2;
                if let Some(mut f) = self.bq.remove(mid) {
                    f.2 = true;
                    self.bq.push_front(f);
                }
            }
            let (cut, mut cost) = self.cuts.pop_front().unwrap_or((false, 0));
            if let Some(t) = self.mbtree.as_mut() {
                // The frames after the anchor up to the next scene cut reuse it.
                t.anchor_offsets(self.cuts.iter().position(|c| c.0).unwrap_or(self.cuts.len()));
                t.pop();
            }
            // An IDR picture's P-equivalent complexity, which its QP follows: the
            // next queued frame's cost (predicted from this one) when it is of the
            // same scene; else, for the first frame and at a cut, where only the
            // intra cost is known, a quarter of it (about a P picture's share on
            // ordinary content).
            if idr {
                cost = match self.cuts.front() {
                    Some(&(false, next)) => next,
                    _ if cut || self.frames_taken == 0 => cost / ratecontrol::INTRA_PER_INTER,
                    _ => cost,
                };
            }
            let Some(src) = self.lookahead.pop() else {
                return Ok(Received::Done);
            };
            if let Some(b) = self.badapt.as_mut() {
                b.pop(true);
            }
            self.pts_fifo.push_back(src.props().pts);
            let disp = self.since_idr + nb as u32;
            self.since_idr += nb as u32 + 1;
            if idr {
                self.idr_base = self.frames_taken;
            }
            self.frames_taken += nb as u64 + 1;
            if let (Some(rc), Some(sc)) = (self.rc.as_mut(), self.scenecut.as_ref()) {
                let qp = rc.anchor_qp(cost, sc.samples(), idr);
                self.rcparams = self.frame_params(qp);
            }
            (src, if idr { headers::SliceKind::I } else { headers::SliceKind::P }, disp, false)
        };
        if kind == headers::SliceKind::B {
            if let Some(rc) = self.rc.as_ref() {
                // The reference B picture about half way between the anchors' and
                // the B pictures' QP (pbratio 1.3 is 2.3 QP).
                let qp = if is_bref { (rc.b_qp() - 1).max(0) } else { rc.b_qp() };
                self.rcparams = self.frame_params(qp);
            }
        }
        let idr = kind == headers::SliceKind::I;
        let qp = self.code_picture(&src, kind, disp, is_bref)?;
        let number = self.idr_base + disp as u64;
        self.frames_out += 1;
        if idr {
            self.idr_count += 1;
        }
        let props = *src.props();
        let delay = headers::reorder_frames(&self.cfg) as u64;
        let dts = if self.cfg.bframes == 0 {
            self.pts_fifo.clear();
            props.pts
        } else if self.frames_out <= delay {
            // One frame before the first pts, or with B-pyramid two frames and then
            // one (see Timing).
            let first = self.pts_fifo.front().copied().flatten();
            let second = self.pts_fifo.get(1).copied().flatten().or_else(|| self.lookahead.peek(0).and_then(|f| f.props().pts));
            let step = props
                .duration
                .or_else(|| second.zip(first).map(|(b, a)| b - a))
                .filter(|&d| d > 0)
                .unwrap_or(1);
            first.map(|p| p - (delay + 1 - self.frames_out) as i64 * step)
        } else {
            self.pts_fifo.pop_front().flatten()
        };
        Ok(Received::Packet(EncodedPacket {
            data: self.out.as_slice(),
            pts: props.pts,
            dts,
            duration: props.duration,
            keyframe: idr,
            frame_type: match kind {
                headers::SliceKind::I => FrameType::Idr,
                headers::SliceKind::P => FrameType::P,
                headers::SliceKind::B => FrameType::B,
            },
            frame_number: number,
            qp: qp as u8,
        }))
    }

    /// The reconstruction of the last encoded picture: what a decoder outputs for it
    /// (coded size, a multiple of 16; the visible picture is its top-left
    /// `width` x `height`).
    pub fn reconstruction(&self) -> Option<&FrameData> {
        self.last_b.as_deref().or(self.reference.as_deref())
    }

    /// Appends the visible part of [`Encoder::reconstruction`] as tightly packed
    /// planes (Y, Cb, Cr): the bytes FFmpeg's `framemd5` hashes for the decoded frame.
    pub fn write_reconstruction(&self, out: &mut Vec<u8>) {
        let Some(f) = self.reconstruction() else {
            return;
        };
        let (w, h) = (self.cfg.width as usize, self.cfg.height as usize);
        for p in 0..3 {
            let (pw, ph) = if p == 0 { (w, h) } else { (w / 2, h / 2) };
            let (plane, stride) = (f.plane(p), f.stride(p));
            for y in 0..ph {
                out.extend_from_slice(&plane[y * stride..y * stride + pw]);
            }
        }
    }

    /// Macroblock parameters at `qp` with the configured tools (no allocation).
    fn frame_params(&self, qp: i32) -> MbParams {
        let p = &self.params;
        MbParams::new(qp, self.cfg.chroma_qp_offset as i32, p.intra4x4, p.partitions, p.me_range, p.max_vmv)
            .with_8x8(p.t8x8, p.cabac)
            .with_search(p.search)
    }

    /// The macroblock QP offsets of the next picture: the debug pattern, or
    /// adaptive quantisation with a rate factor, else none.
    fn set_mb_qp_offsets(&mut self, src: &SharedFrame, kind: headers::SliceKind) -> Result<()> {
        let (w, h) = (self.cfg.width as usize, self.cfg.height as usize);
        let mut mbqp = self.mbqp.write().map_err(|_| threads::stopped())?;
        if self.cfg.mb_qp_pattern > 0 {
            mbqp.pattern(self.cfg.mb_qp_pattern, self.frames_out as u32);
        } else if self.rc.is_some() && self.cfg.aq_strength > 0.0 {
            let mb_w = self.seq.mb_w as usize;
            mbqp.variance_aq(self.cfg.aq_strength, src.plane(0), src.stride(0), w, h, mb_w);
        } else {
            mbqp.clear();
        }
        if let Some(t) = self.mbtree.as_ref().filter(|_| kind != headers::SliceKind::B) {
            mbqp.add(t.offsets());
        }
        Ok(())
    }

    /// Codes one picture into the output buffer and returns its QP.
    fn encode_picture(&mut self, src: &SharedFrame, kind: headers::SliceKind, disp: u32, is_bref: bool) -> Result<i32> {
        use headers::SliceKind;
        use threads::MotionSlot;
        let idr = kind == SliceKind::I;
        let b = kind == SliceKind::B;
        // nal_ref_idc > 0: anchors and the reference B picture.
        let is_ref = !b || is_bref;
        if idr {
            self.frame_num = 0;
        }
        let cur_fn = self.frame_num % (1 << headers::LOG2_MAX_FRAME_NUM);
        let pic_diff = |f: u32| (cur_fn + (1 << headers::LOG2_MAX_FRAME_NUM) - f - 1) % (1 << headers::LOG2_MAX_FRAME_NUM);
        // A P picture after a reference B picture: list 0 by frame_num starts with
        // the reference B, so one modification names the anchor. And with B-pyramid
        // an anchor marks every other reference unused (the past anchor and the
        // reference B), so that the DPB holds the two anchors when the next
        // reference B comes, which the sliding window then keeps.
        let (mut l0_modification, mut mmco_unused, mut num_mmco) = (None, [0u32; 2], 0);
        if kind == SliceKind::P {
            if self.bref.is_some() {
                l0_modification = Some(pic_diff(self.reference_fn));
            }
            if self.cfg.uses_b_pyramid() {
                if let Some(bref) = self.bref.as_ref() {
                    mmco_unused[num_mmco] = pic_diff(bref.2);
                    num_mmco += 1;
                }
                if self.past.is_some() {
                    mmco_unused[num_mmco] = pic_diff(self.past_fn);
                    num_mmco += 1;
                }
            }
        }
        // Frames nothing will read again go back to the pool first: the last B
        // picture, and for a new anchor the older anchor and the reference B (and
        // all of them at IDR).
        self.last_b = None;
        if !b {
            self.past = None;
            self.bref = None;
            if idr {
                self.reference = None;
            }
        }
        let mut recon = match self.pool.try_acquire() {
            Acquire::Ready(f) => f,
            Acquire::Full => {
                let cap = headers::dpb_frames(&self.cfg) as u64 + 1;
                return Err(Error::LimitExceeded {
                    what: "encoder reconstruction frames",
                    requested: cap + 1,
                    limit: cap,
                });
            }
        };
        recon.props_mut().pts = src.props().pts;
        recon.props_mut().keyframe = idr;
        let strides = [recon.stride(0), recon.stride(1), recon.stride(2)];
        let (mb_w, mb_h) = (self.seq.mb_w as usize, self.seq.mb_h as usize);
        self.set_mb_qp_offsets(src, kind)?;
        let params = match kind {
            _ if self.rc.is_some() => &self.rcparams,
            SliceKind::I => &self.iparams,
            SliceKind::P => &self.params,
            SliceKind::B if is_bref => &self.brparams,
            SliceKind::B => &self.bparams,
        };
        let info = headers::SliceInfo {
            kind,
            idr,
            idr_pic_id: self.idr_count % 2,
            frame_num: cur_fn,
            poc_lsb: (2 * disp) % (1 << headers::LOG2_MAX_POC_LSB),
            deblock: self.cfg.deblock,
            cabac: self.cfg.entropy == Entropy::Cabac,
            qp_delta: params.qp - self.seq.qp,
            first_mb: 0,
            reference: is_ref,
            l0_modification,
            mmco_unused,
            num_mmco,
        };
        if is_ref {
            // Reference pictures advance frame_num; the non-reference B pictures
            // after one share the next value (7.4.3).
            self.frame_num += 1;
        }
        // A B picture predicts from the nearest reference picture before it (list
        // 0) and after it (list 1), whose motion is the co-located one: the two
        // anchors, or in a B-pyramid group an anchor and the reference B.
        let bref = self.bref.as_ref().map(|r| (&r.0, r.1));
        let (reference, reference1, dst, colslot) = match kind {
            SliceKind::I => (None, None, MotionSlot::Anchor, None),
            SliceKind::P => (self.reference.as_ref(), None, MotionSlot::Anchor, None),
            SliceKind::B => match bref {
                Some((r, d)) if disp < d => (self.past.as_ref(), Some(r), MotionSlot::B, Some(MotionSlot::RefB)),
                Some((r, _)) => (Some(r), self.reference.as_ref(), MotionSlot::B, Some(MotionSlot::Anchor)),
                None => (
                    self.past.as_ref(),
                    self.reference.as_ref(),
                    if is_bref { MotionSlot::RefB } else { MotionSlot::B },
                    Some(MotionSlot::Anchor),
                ),
            },
        };
        let nslices = self.rbsp.len();
        let nthreads = self.workers.len() + 1;
        let size = (self.cfg.width as usize, self.cfg.height as usize);
        let kind_idx = kind as usize;
        threads::balance_bands(&self.row_cost[kind_idx], mb_w, &mut self.bands);
        // A worker's co-located rows are those it coded in that picture; rows of its
        // bands that another thread coded then come from this thread's table.
        if let Some(c) = colslot {
            for k in (0..nslices).filter(|k| k % nthreads != 0) {
                let rows = self.bands[k].clone();
                let had = &self.slot_bands[c as usize][k];
                if had.start <= rows.start && rows.end <= had.end {
                    continue;
                }
                let mut work = self.workers[k % nthreads - 1].work()?;
                threads::copy_motion(self.motion.get(c), work.motion.get_mut(c), mb_w, rows);
            }
        }
        let (motion, col) = self.motion.split(dst, colslot);
        // The other threads' bands first, so that they work while this one codes its
        // own.
        for k in (0..nslices).filter(|k| k % nthreads != 0) {
            let rows = self.bands[k].clone();
            self.workers[k % nthreads - 1].send(threads::Job {
                src: src.clone(),
                reference: reference.cloned(),
                reference1: reference1.cloned(),
                params: params.clone(),
                info: headers::SliceInfo {
                    first_mb: (rows.start * mb_w) as u32,
                    ..info
                },
                dst,
                col: colslot,
                rows,
                slot: k / nthreads,
                mbqp: std::sync::Arc::clone(&self.mbqp),
                mb_w,
                mb_h,
                size,
            })?;
        }
        let mut overflow = None;
        {
            let src_planes = [src.plane(0), src.plane(1), src.plane(2)];
            let src_strides = [src.stride(0), src.stride(1), src.stride(2)];
            let mbqp = self.mbqp.read().map_err(|_| threads::stopped())?;
            let [y, u, v] = recon.planes_mut();
            let mut coder = MbCoder {
                p: params,
                st: &mut self.st,
                motion: &mut *motion,
                planes: [y, u, v],
                strides,
                reference: reference.map(RefPic::of),
                reference1: reference1.map(RefPic::of),
                col,
                slice: kind,
                mb_w,
                mb_h,
                row0: 0,
                mx: 0,
                my: 0,
                src_y: [0; 256],
                src_c: [[0; 64]; 2],
                cur: Default::default(),
                done4: 0,
                dqp: 0,
                dqp_ctx: 0,
            };
            for (k, rbsp) in self.rbsp.iter_mut().enumerate().step_by(nthreads) {
                let rows = self.bands[k].clone();
                let info = headers::SliceInfo {
                    first_mb: (rows.start * mb_w) as u32,
                    ..info
                };
                coder.p = params;
                if code_slice(&mut coder, rbsp, &info, src_planes, src_strides, size, rows, &mbqp) {
                    overflow = Some(rbsp.capacity());
                }
            }
        }
        // In-loop filter over the rows no macroblock will read unfiltered any more:
        // band 0 (every band with one thread) while the other threads still code
        // theirs, the rest below once they are copied back. Rows are filtered in
        // order either way, so the result is the whole picture's.
        let deblocked = if nthreads == 1 { mb_h } else { self.bands[0].end };
        motion.strides = strides;
        {
            let [y, u, v] = recon.planes_mut();
            deblock::deblock_rows(motion, &mut [y, u, v], &self.st, mb_w, 0..deblocked);
        }
        // The other threads' bands into this picture's tables and reconstruction, in
        // the order they were sent.
        for (j, worker) in self.workers.iter().enumerate() {
            let bands = (j + 1..nslices).step_by(nthreads);
            for _ in bands.clone() {
                if worker.wait()? {
                    overflow = Some(self.rbsp[0].capacity());
                }
            }
            let work = worker.work()?;
            let motion = self.motion.get_mut(dst);
            let [y, u, v] = recon.planes_mut();
            let mut planes = [y, u, v];
            for k in bands {
                let rows = self.bands[k].clone();
                threads::copy_band(&work, dst, &mut self.st, motion, &mut planes, strides, mb_w, rows);
            }
        }
        if let Some(cap) = overflow {
            return Err(Error::LimitExceeded {
                what: "encoder slice buffer",
                requested: cap as u64 + 1,
                limit: cap as u64,
            });
        }
        {
            let motion = self.motion.get_mut(dst);
            let [y, u, v] = recon.planes_mut();
            deblock::deblock_rows(motion, &mut [y, u, v], &self.st, mb_w, deblocked..mb_h);
        }
        if nslices > 1 {
            threads::row_costs(&self.st, mb_w, kind == SliceKind::I, &mut self.row_cost[kind_idx]);
            self.slot_bands[dst as usize].clone_from_slice(&self.bands);
        }
        self.out.clear();
        // The picture's closed captions, in its own access unit (so they stay with it
        // through B-picture reordering), as a caption SEI before its slices.
        let mut sei_rbsp = [0u8; sei::MAX_RBSP];
        let sei_len = sei::a53_captions(src.props().captions.triplets(), &mut sei_rbsp);
        let sei_rbsp = &sei_rbsp[..sei_len];
        // The access unit's exact size (start codes, headers, emulation prevention
        // bytes); when the buffer must grow, it grows by a quarter more, so that later
        // access units of similar size fit without growing it again.
        let need = self.headers_annexb.len()
            + if sei_len > 0 { 5 + sei_len + emulation_bytes(sei_rbsp) } else { 0 }
            + {
                let mut bytes = 0;
                for k in 0..nslices {
                    with_slice(&self.rbsp, &self.workers, k, |r| bytes += 5 + r.len() + emulation_bytes(r))?;
                }
                bytes
            };
        if need > self.out.capacity() {
            self.out.reserve(need + need / 4)?;
        }
        if idr && (self.cfg.repeat_headers || self.frames_out == 0) {
            self.out.extend_from_slice(&self.headers_annexb)?;
        }
        // nal_ref_idc: 3 for IDR, 2 for P, 1 for the reference B picture and 0 for
        // the other B pictures.
        let ref_idc = match kind {
            SliceKind::I => 3,
            SliceKind::P => 2,
            SliceKind::B => is_bref as u8,
        };
        if sei_len > 0 {
            write_nal_into(&mut self.out, 0, sei::NAL_TYPE, sei_rbsp)?;
        }
        for k in 0..nslices {
            let out = &mut self.out;
            with_slice(&self.rbsp, &self.workers, k, |rbsp| write_nal_into(out, ref_idc, if idr { 5 } else { 1 }, rbsp))??;
        }
        if is_bref {
            let f = recon.into_shared();
            self.last_b = Some(f.clone());
            self.bref = Some((f, disp, cur_fn));
        } else if b {
            self.last_b = Some(recon.into_shared());
        } else {
            // The new reconstruction becomes the reference, the previous one the
            // past anchor of the B pictures that follow.
            self.past = self.reference.take();
            self.past_fn = self.reference_fn;
            self.reference = Some(recon.into_shared());
            self.reference_fn = cur_fn;
        }
        Ok(params.qp)
    }
}

/// Codes the macroblock rows `rows` of a picture as one slice (header and data) into
/// `rbsp` with `coder`, whose tables and reconstruction cover those rows; returns
/// whether `rbsp` overflowed. `coder.p` is the slice's parameters on entry; each
/// macroblock is coded with its own from `mbqp`, and the QP prediction starts again
/// at the slice QP, as a slice's mb_qp_delta chain does (7.4.5).
#[allow(clippy::too_many_arguments)]
pub(crate) fn code_slice<'a>(
    coder: &mut MbCoder<'a>,
    rbsp: &mut Vec<u8>,
    info: &headers::SliceInfo,
    src_planes: [&[u8]; 3],
    src_strides: [usize; 3],
    (w, h): (usize, usize),
    rows: std::ops::Range<usize>,
    mbqp: &'a aq::MbQp,
) -> bool {
    use headers::SliceKind;
    let mb_w = coder.mb_w;
    let kind = info.kind;
    let slice_qp = coder.p.qp;
    let mut qpred = aq::QpPredictor::new(slice_qp);
    coder.row0 = rows.start;
    let mut bw = BitWriter::new(rbsp);
    headers::write_slice_header(&mut bw, info);
    if info.cabac {
        // cabac_alignment_one_bit, then the arithmetic coder to the end of the
        // slice; its flush writes the rbsp_stop_one_bit.
        bw.align_with_ones();
        let table = if kind == SliceKind::I { 0 } else { 1 };
        let mut cw = cabac::CabacWriter::new(&mut bw, table, slice_qp);
        let (first, last) = (rows.start * mb_w, rows.end * mb_w - 1);
        for addr in first..=last {
            coder.mx = addr % mb_w;
            coder.my = addr / mb_w;
            coder.p = mbqp.params(addr, slice_qp);
            coder.load_source(src_planes, src_strides, w, h);
            coder.code_mb();
            code_qp(coder, &mut qpred, addr);
            coder.write_cabac(&mut cw, kind);
            cw.terminate(addr == last);
        }
        bw.align_with_zeros();
    } else {
        let mut skip_run = 0u32;
        for my in rows {
            for mx in 0..mb_w {
                coder.mx = mx;
                coder.my = my;
                coder.p = mbqp.params(my * mb_w + mx, slice_qp);
                coder.load_source(src_planes, src_strides, w, h);
                coder.code_mb();
                code_qp(coder, &mut qpred, my * mb_w + mx);
                if coder.cur.kind.is_skip() {
                    skip_run += 1;
                    continue;
                }
                if kind != SliceKind::I {
                    bw.ue(skip_run);
                    skip_run = 0;
                }
                coder.write(&mut bw, kind);
            }
        }
        if skip_run > 0 {
            bw.ue(skip_run);
        }
        bw.trailing_bits();
    }
    bw.overflowed()
}

/// Runs `f` on slice `k` of the picture just coded: in the encoder's buffer
/// (`rbsp`), or in the buffer of the worker that coded it (idle until the next
/// picture), so that no slice is copied before it is written out.
fn with_slice<R>(rbsp: &[Vec<u8>], workers: &[threads::Worker], k: usize, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
    match k % (workers.len() + 1) {
        0 => Ok(f(&rbsp[k])),
        j => Ok(f(&workers[j - 1].work()?.rbsp[k / (workers.len() + 1)])),
    }
}

/// The coded macroblock's QPY and mb_qp_delta (7.4.5): its own QP when it codes
/// a delta, else the predicted one, which the deblocking filter then uses too.
fn code_qp(coder: &mut MbCoder<'_>, qpred: &mut aq::QpPredictor, addr: usize) {
    coder.dqp_ctx = qpred.ctx_inc();
    let (qp, d) = qpred.next(coder.p.qp, coder.codes_qp_delta());
    coder.dqp = d;
    coder.st.mbs[addr].qp = qp as u8;
}

/// Emulation prevention bytes [`write_nal_into`] inserts into `rbsp`.
fn emulation_bytes(rbsp: &[u8]) -> usize {
    let (mut zeros, mut n) = (0, 0);
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            n += 1;
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    n
}

/// Appends a NAL unit (start code, header, RBSP with emulation prevention) to `out`,
/// copying runs between inserted bytes in one piece.
fn write_nal_into(out: &mut OutputBuffer, nal_ref_idc: u8, nal_type: u8, rbsp: &[u8]) -> Result<()> {
    out.extend_from_slice(&[0, 0, 0, 1, (nal_ref_idc << 5) | nal_type])?;
    let mut zeros = 0;
    let mut start = 0;
    for (i, &b) in rbsp.iter().enumerate() {
        if zeros >= 2 && b <= 3 {
            out.extend_from_slice(&rbsp[start..i])?;
            out.extend_from_slice(&[3])?;
            start = i;
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    out.extend_from_slice(&rbsp[start..])
}
