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
//!   frames + 1), the macroblock and motion tables, the slice buffer, and the output
//!   buffer grows against the budget up to [`MemoryConfig::max_packet_size`]. Source
//!   frames are [`SharedFrame`] handles, never copied. After the first frames nothing
//!   is allocated per frame.
//! - **Settings are data.** [`EncoderConfig`] has public documented fields; invalid
//!   ones are errors naming the field and its range.
//!
//! # What it codes (this version)
//!
//! Single-slice I (IDR every `keyint` frames) and P pictures, CAVLC, one reference
//! frame, Intra 16x16 / Intra 4x4 / P 16x16 / P_Skip macroblocks, constant QP.
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

mod bits;
mod cabac;
mod cavlc;
mod config;
mod headers;
mod mb;
mod me;
mod quant;

pub use config::{ColourDescription, EncoderConfig, Entropy, Profile};

use crate::deblock;
use crate::mb::{MbState, SliceDeblock};
use crate::picture::{resize_exact, Picture};
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
}

/// One Annex-B access unit, borrowed from the encoder's reused output buffer until
/// the next call.
///
/// # Timing
///
/// `pts` is the sent frame's [`transcode_frame_pool::FrameProps::pts`]; `dts` equals
/// it, since pictures are coded in display order (no B-frames yet).
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
}

/// The encoder. See the module documentation.
pub struct Encoder {
    cfg: EncoderConfig,
    seq: headers::Sequence,
    params: MbParams,
    lookahead: Lookahead<SharedFrame>,
    flushing: bool,
    pool: FramePool,
    reference: Option<SharedFrame>,
    /// The last picture's reconstruction (also the reference).
    st: MbState,
    motion: Picture,
    rbsp: Vec<u8>,
    out: OutputBuffer,
    headers_annexb: Vec<u8>,
    avcc: Vec<u8>,
    frames_in: u64,
    frames_out: u64,
    since_idr: u32,
    idr_count: u32,
    _tables: Reservation,
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
    fn table_bytes(mb_w: usize, mb_h: usize) -> usize {
        let n = mb_w * mb_h;
        MbState::bytes_for(mb_w, mb_h) + Picture::slot_bytes(mb_w, mb_h) + Picture::work_bytes(mb_w, mb_h) + Self::rbsp_bytes(n)
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
        let seq = headers::Sequence {
            mb_w,
            mb_h,
            level,
            qp: cfg.qp as i32,
        };
        let limits = headers::level_limits(level).ok_or_else(|| Error::invalid("unknown level"))?;
        let params = MbParams::new(
            cfg.qp as i32,
            cfg.chroma_qp_offset as i32,
            cfg.intra4x4,
            cfg.partitions,
            cfg.me_range as i32,
            limits.max_vmv_quarter,
        );
        let (mbw, mbh) = (mb_w as usize, mb_h as usize);
        let tables = budget.reserve("encoder tables", Self::table_bytes(mbw, mbh) as u64)?;
        let layout = FrameLayout::new(PixelFormat::Yuv420p, mb_w * 16, mb_h * 16)?;
        let mut pcfg = FramePoolConfig::new(layout, memory);
        pcfg.name = "encoder reconstruction";
        // One frame per reference plus the picture being coded.
        pcfg.capacity = cfg.ref_frames as u32 + 1;
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
        let mut motion = Picture::default();
        let strides = [layout.plane(0).stride, layout.plane(1).stride, layout.plane(2).stride];
        motion.alloc(mbw, mbh, strides);
        let n4 = mbw * mbh * 16;
        for l in 0..2 {
            resize_exact(&mut motion.ref_idx[l], n4, -1);
            resize_exact(&mut motion.ref_uid[l], n4, -1);
        }
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
        Ok(Encoder {
            lookahead: Lookahead::new(cfg.lookahead)?,
            cfg,
            seq,
            params,
            flushing: false,
            pool,
            reference: None,
            st,
            motion,
            rbsp: Vec::with_capacity(Self::rbsp_bytes(mbw * mbh)),
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
        match self.lookahead.push(frame.clone()) {
            Push::Accepted => {
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

    /// Encodes the next queued frame, if the lookahead has enough of them.
    pub fn receive_packet(&mut self) -> Result<Received<'_>> {
        // A frame is coded once the lookahead is full, or, after a flush, while any
        // is left.
        let ready = self.lookahead.is_full() || (self.flushing && !self.lookahead.is_empty());
        if !ready {
            return Ok(if self.flushing {
                Received::Done
            } else {
                Received::NeedMoreData
            });
        }
        let Some(src) = self.lookahead.pop() else {
            return Ok(Received::Done);
        };
        let idr = self.since_idr == 0 || self.since_idr >= self.cfg.keyint;
        if idr {
            self.since_idr = 0;
        }
        self.encode_picture(&src, idr)?;
        let number = self.frames_out;
        self.frames_out += 1;
        self.since_idr += 1;
        if idr {
            self.idr_count += 1;
        }
        let props = *src.props();
        Ok(Received::Packet(EncodedPacket {
            data: self.out.as_slice(),
            pts: props.pts,
            dts: props.pts,
            duration: props.duration,
            keyframe: idr,
            frame_type: if idr { FrameType::Idr } else { FrameType::P },
            frame_number: number,
        }))
    }

    /// The reconstruction of the last encoded picture: what a decoder outputs for it
    /// (coded size, a multiple of 16; the visible picture is its top-left
    /// `width` x `height`).
    pub fn reconstruction(&self) -> Option<&FrameData> {
        self.reference.as_deref()
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

    fn encode_picture(&mut self, src: &SharedFrame, idr: bool) -> Result<()> {
        let mut recon = match self.pool.try_acquire() {
            Acquire::Ready(f) => f,
            Acquire::Full => {
                return Err(Error::LimitExceeded {
                    what: "encoder reconstruction frames",
                    requested: self.cfg.ref_frames as u64 + 2,
                    limit: self.cfg.ref_frames as u64 + 1,
                })
            }
        };
        recon.props_mut().pts = src.props().pts;
        recon.props_mut().keyframe = idr;
        let strides = [recon.stride(0), recon.stride(1), recon.stride(2)];
        let (mb_w, mb_h) = (self.seq.mb_w as usize, self.seq.mb_h as usize);
        let info = headers::SliceInfo {
            idr,
            idr_pic_id: self.idr_count % 2,
            frame_num: self.since_idr % (1 << headers::LOG2_MAX_FRAME_NUM),
            poc_lsb: (2 * self.since_idr) % (1 << headers::LOG2_MAX_POC_LSB),
            deblock: self.cfg.deblock,
            cabac: self.cfg.entropy == Entropy::Cabac,
        };
        let reference = if idr { None } else { self.reference.as_ref() };
        let overflow;
        {
            let src_planes = [src.plane(0), src.plane(1), src.plane(2)];
            let src_strides = [src.stride(0), src.stride(1), src.stride(2)];
            let (w, h) = (self.cfg.width as usize, self.cfg.height as usize);
            let mut bw = BitWriter::new(&mut self.rbsp);
            headers::write_slice_header(&mut bw, &info);
            let [y, u, v] = recon.planes_mut();
            let mut coder = MbCoder {
                p: &self.params,
                st: &mut self.st,
                motion: &mut self.motion,
                planes: [y, u, v],
                strides,
                reference: reference.map(|r| RefPic {
                    planes: [r.plane(0), r.plane(1), r.plane(2)],
                    strides: [r.stride(0), r.stride(1), r.stride(2)],
                }),
                mb_w,
                mb_h,
                mx: 0,
                my: 0,
                src_y: [0; 256],
                src_c: [[0; 64]; 2],
                cur: Default::default(),
                done4: 0,
            };
            let p_slice = reference.is_some();
            if info.cabac {
                // cabac_alignment_one_bit, then the arithmetic coder to the end of the
                // slice; its flush writes the rbsp_stop_one_bit.
                bw.align_with_ones();
                let table = if p_slice { 1 } else { 0 };
                let mut cw = cabac::CabacWriter::new(&mut bw, table, self.params.qp);
                let last = mb_w * mb_h - 1;
                for addr in 0..=last {
                    coder.mx = addr % mb_w;
                    coder.my = addr / mb_w;
                    coder.load_source(src_planes, src_strides, w, h);
                    coder.code_mb();
                    coder.write_cabac(&mut cw, p_slice);
                    cw.terminate(addr == last);
                }
                bw.align_with_zeros();
            } else {
                let mut skip_run = 0u32;
                for my in 0..mb_h {
                    for mx in 0..mb_w {
                        coder.mx = mx;
                        coder.my = my;
                        coder.load_source(src_planes, src_strides, w, h);
                        coder.code_mb();
                        if coder.cur.kind == crate::mb::MbKind::PSkip {
                            skip_run += 1;
                            continue;
                        }
                        if p_slice {
                            bw.ue(skip_run);
                            skip_run = 0;
                        }
                        coder.write(&mut bw, p_slice);
                    }
                }
                if skip_run > 0 {
                    bw.ue(skip_run);
                }
                bw.trailing_bits();
            }
            overflow = bw.overflowed();
        }
        if overflow {
            return Err(Error::LimitExceeded {
                what: "encoder slice buffer",
                requested: self.rbsp.capacity() as u64 + 1,
                limit: self.rbsp.capacity() as u64,
            });
        }
        // In-loop filter over the whole picture, now that no macroblock will read
        // unfiltered samples any more.
        {
            self.motion.strides = strides;
            let [y, u, v] = recon.planes_mut();
            let mut planes = [y, u, v];
            deblock::deblock_rows(&self.motion, &mut planes, &self.st, mb_w, 0..mb_h);
        }
        self.out.clear();
        // The access unit's exact size (start codes, headers, emulation prevention
        // bytes); when the buffer must grow, it grows by a quarter more, so that later
        // access units of similar size fit without growing it again.
        let need = self.headers_annexb.len() + 5 + self.rbsp.len() + emulation_bytes(&self.rbsp);
        if need > self.out.capacity() {
            self.out.reserve(need + need / 4)?;
        }
        if idr && (self.cfg.repeat_headers || self.frames_out == 0) {
            self.out.extend_from_slice(&self.headers_annexb)?;
        }
        write_nal_into(&mut self.out, if idr { 3 } else { 2 }, if idr { 5 } else { 1 }, &self.rbsp)?;
        // The new reconstruction becomes the reference; the old one goes back to
        // the pool.
        self.reference = Some(recon.into_shared());
        Ok(())
    }
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
