//! The decoder front end: start-code units from arbitrarily chunked input, header
//! state, picture and field-pair management, reference frames, mid-stream starts,
//! sequence changes and output in display order.

use crate::header::{self, *};
use crate::kernels::{Isa, Kernels};
use crate::slice::{self, PicCtx, Refs, Scratch, SliceDecoder};
use std::collections::VecDeque;
use transcode_core::{Acquire, Budget, Error, MemoryConfig, Reservation, Result};
use transcode_frame_pool::{
    Frame as PoolFrame, FrameLayout, FramePool, FramePoolConfig, PixelFormat, SharedFrame,
};

/// Frames the picture pool holds beyond the two reference frames and the picture
/// being decoded: room for the output queue and frames the caller holds. The pool
/// holds `3 + OUTPUT_FRAMES` frames, the decoder's whole picture memory.
pub const OUTPUT_FRAMES: u32 = 2;

/// Input is copied into the unit buffer this many bytes at a time, so a whole file
/// sent at once needs no buffer of its size.
const CHUNK: usize = 64 << 10;

/// What [`Decoder::send`] did with the data it was given.
#[must_use = "a decoder that needs output has not decoded all of the data"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeStatus {
    /// Everything was taken.
    Done,
    /// Backpressure, not an error: the picture pool is full of frames that wait in the
    /// output queue or that the caller still holds, so the next picture cannot start.
    /// The first `consumed` bytes were taken (some may wait inside the decoder). Take
    /// frames with [`Decoder::next_frame`] or [`Decoder::next_picture`] (and drop held
    /// [`DecodedPicture`]s), then send `&data[consumed..]` again.
    NeedsOutput { consumed: usize },
}

/// How a frame was coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PictureCoding {
    /// One frame picture.
    Frame,
    /// Two field pictures joined into one frame; `top_first` says which came first.
    FieldPair { top_first: bool },
    /// A field picture whose other field never came (the missing field is concealed).
    SingleField { top: bool },
}

/// Per-frame properties, carried with every output frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PictureInfo {
    /// Coding type of the frame (of its first field for a field pair).
    pub picture_type: PictureType,
    pub coding: PictureCoding,
    pub top_field_first: bool,
    pub repeat_first_field: bool,
    pub progressive_frame: bool,
    pub temporal_reference: u16,
    /// Display duration in fields: 2, 3 with repeat_first_field; in a progressive
    /// sequence repeat_first_field repeats whole frames (4 or 6 fields).
    pub duration_fields: u8,
    /// Macroblocks concealed in this frame because the stream was damaged.
    pub concealed_macroblocks: u32,
    /// The first frame after a sequence change (size or chroma format): a writer
    /// of a fixed-format output should stop here with an error.
    pub format_changed: bool,
    /// Closed captions and AFD sent with the picture.
    pub user_data: UserData,
}

/// A decoded frame, borrowed from the decoder's picture pool until the next call that
/// needs `&mut Decoder`.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Displayed size (horizontal_size x vertical_size).
    pub width: usize,
    pub height: usize,
    /// `Yuv420p` or `Yuv422p`.
    pub format: PixelFormat,
    /// Y, Cb, Cr planes, starting at the top-left sample.
    pub planes: [&'a [u8]; 3],
    pub strides: [usize; 3],
    pub info: PictureInfo,
}

/// A decoded picture the caller owns: a shared handle to the pooled frame (no pixels
/// are copied) plus its properties. Its buffer returns to the pool when the last handle
/// is dropped; holding many of them makes [`Decoder::send`] answer
/// [`DecodeStatus::NeedsOutput`].
#[derive(Debug, Clone)]
pub struct DecodedPicture {
    frame: SharedFrame,
    pub width: usize,
    pub height: usize,
    pub format: PixelFormat,
    pub info: PictureInfo,
}

impl DecodedPicture {
    /// The picture as a borrowed [`Frame`].
    pub fn frame(&self) -> Frame<'_> {
        let f = &self.frame;
        Frame {
            width: self.width,
            height: self.height,
            format: self.format,
            planes: [f.plane(0), f.plane(1), f.plane(2)],
            strides: [f.stride(0), f.stride(1), f.stride(2)],
            info: self.info,
        }
    }

    /// The pooled frame with its coded (macroblock-aligned) size.
    pub fn shared_frame(&self) -> &SharedFrame {
        &self.frame
    }
}

impl Frame<'_> {
    /// Appends the visible picture as planar YUV without padding (Y rows, then Cb, then
    /// Cr), the layout FFmpeg's framemd5 hashes.
    pub fn write_planar(&self, out: &mut Vec<u8>) {
        let (cw, ch) = match self.format {
            PixelFormat::Yuv422p => (self.width.div_ceil(2), self.height),
            _ => (self.width.div_ceil(2), self.height.div_ceil(2)),
        };
        for (p, plane) in self.planes.iter().enumerate() {
            let (w, h) = if p == 0 {
                (self.width, self.height)
            } else {
                (cw, ch)
            };
            for y in 0..h {
                let row = y * self.strides[p];
                out.extend_from_slice(&plane[row..row + w]);
            }
        }
    }
}

/// A reference frame and whether it went to the output queue yet.
#[derive(Debug)]
struct RefPic {
    pic: DecodedPicture,
    shown: bool,
}

/// The frame being decoded (one frame picture, or the fields of a pair).
#[derive(Debug)]
struct CurPic {
    frame: PoolFrame,
    ctx: PicCtx,
    info: PictureInfo,
    /// Field pictures: parity of the first field, and whether the second has started.
    first_parity: Option<usize>,
    second: bool,
    /// The first field is complete and the frame waits for the second.
    awaiting_second: bool,
    slices: u32,
}

/// The sequence as the slice layer needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geometry {
    mb_w: usize,
    mb_h: usize,
    width: u32,
    height: u32,
    chroma: ChromaFormat,
}

/// The MPEG-1/MPEG-2 video decoder. See the crate documentation.
#[derive(Debug)]
pub struct Decoder {
    config: MemoryConfig,
    budget: Budget,
    /// Budget held for the unit buffer and the macroblock map.
    tables: Reservation,
    /// Unread input: the unit being assembled starts at `unit_start`.
    buf: Vec<u8>,
    /// Where the search for the next start code resumes in `buf`.
    scan: usize,
    seq_hdr: Option<SeqHeader>,
    seq_ext: Option<SeqExt>,
    info: Option<SequenceInfo>,
    matrices: Matrices,
    geometry: Option<Geometry>,
    pool: Option<FramePool>,
    format_changed: bool,
    pic_hdr: Option<PicHeader>,
    user_data: UserData,
    closed_gop: bool,
    /// An I picture has been seen: P pictures may be decoded (FFmpeg's `sync`).
    sync: bool,
    /// The current picture is being dropped (its slices are skipped).
    skipping: bool,
    /// The first field of a skipped pair was dropped, so drop its second field too.
    skip_second: bool,
    cur: Option<CurPic>,
    prev: Option<RefPic>,
    last: Option<RefPic>,
    done: Vec<u8>,
    scratch: Box<Scratch>,
    output: VecDeque<DecodedPicture>,
    lent: Option<DecodedPicture>,
    pending_error: Option<Error>,
    concealed_total: u64,
    dropped_pictures: u64,
    kernels: Kernels,
    /// `kernels` resolved for this CPU.
    isa: Isa,
}

impl Decoder {
    /// A decoder whose picture pool and buffers are bounded by `config`.
    pub fn new(config: &MemoryConfig) -> Decoder {
        Decoder::with_budget(config, &Budget::from_config(config))
    }

    /// A decoder whose picture pool and buffers reserve their memory against
    /// `budget`, the job's shared budget, before allocating it.
    pub fn with_budget(config: &MemoryConfig, budget: &Budget) -> Decoder {
        Decoder {
            config: config.clone(),
            budget: budget.clone(),
            tables: budget.empty_reservation(),
            buf: Vec::new(),
            scan: 0,
            seq_hdr: None,
            seq_ext: None,
            info: None,
            matrices: Matrices::default(),
            geometry: None,
            pool: None,
            format_changed: false,
            pic_hdr: None,
            user_data: UserData::default(),
            closed_gop: false,
            sync: false,
            skipping: false,
            skip_second: false,
            cur: None,
            prev: None,
            last: None,
            done: Vec::new(),
            kernels: Kernels::default(),
            isa: Kernels::default().isa(),
            scratch: Box::default(),
            output: VecDeque::with_capacity((3 + OUTPUT_FRAMES) as usize),
            lent: None,
            pending_error: None,
            concealed_total: 0,
            dropped_pictures: 0,
        }
    }

    /// Chooses the pixel kernels for the pictures that follow. Default:
    /// [`Kernels::Native`], the SIMD ones where the target has them; the output is the
    /// same either way, [`Kernels::Portable`] is for testing and comparison.
    pub fn set_kernels(&mut self, kernels: Kernels) {
        self.kernels = kernels;
        self.isa = kernels.isa();
    }

    /// The pixel kernels in use (see [`Decoder::set_kernels`]).
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// The stream as its last sequence header (and extensions) describe it; `None`
    /// before the first sequence header.
    pub fn sequence_info(&self) -> Option<&SequenceInfo> {
        self.info.as_ref()
    }

    /// Macroblocks concealed so far because slices were missing or broken.
    pub fn concealed_macroblocks(&self) -> u64 {
        self.concealed_total
    }

    /// Pictures dropped so far because their references were missing (a stream that
    /// starts inside a group of pictures), as FFmpeg drops them.
    pub fn dropped_pictures(&self) -> u64 {
        self.dropped_pictures
    }

    /// The pool the decoder takes its frames from (`None` before the first picture):
    /// `3 + OUTPUT_FRAMES` frames, allocated on demand.
    pub fn frame_pool(&self) -> Option<&FramePool> {
        self.pool.as_ref()
    }

    /// Bytes held by picture buffers, the input unit buffer and the macroblock map.
    pub fn memory_bytes(&self) -> usize {
        let frames = self.pool.as_ref().map_or(0, |p| p.stats().bytes as usize);
        frames + self.buf.capacity() + self.done.capacity() + std::mem::size_of::<Scratch>()
    }

    /// Takes video elementary stream data in pieces of any size (start codes may be
    /// split between calls) and decodes every picture it completes, as far as the
    /// picture pool allows. A picture's last slice is decoded when the next start
    /// code arrives (or at [`Decoder::flush`]).
    ///
    /// Errors: unsupported features and limits stop decoding at once. Damage in a
    /// slice is concealed and reported as an error after the rest of the data has
    /// been decoded (or by the next call, when this one ends with `NeedsOutput`).
    pub fn send(&mut self, data: &[u8]) -> Result<DecodeStatus> {
        self.release_lent();
        let mut first_err = self.pending_error.take();
        let mut consumed = 0;
        loop {
            match self.drain_units(false, &mut first_err) {
                Ok(true) => {}
                Ok(false) => {
                    self.pending_error = first_err;
                    return Ok(DecodeStatus::NeedsOutput { consumed });
                }
                Err(e) => return Err(e),
            }
            if consumed == data.len() {
                break;
            }
            let n = CHUNK.min(data.len() - consumed);
            self.append(&data[consumed..consumed + n])?;
            consumed += n;
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(DecodeStatus::Done),
        }
    }

    /// Like [`Decoder::send`], for callers that take every frame after each call (the
    /// pool then never fills); a full pool is [`Error::LimitExceeded`].
    pub fn decode(&mut self, data: &[u8]) -> Result<()> {
        match self.send(data)? {
            DecodeStatus::Done => Ok(()),
            DecodeStatus::NeedsOutput { .. } => Err(self.pool_full_error()),
        }
    }

    fn pool_full_error(&self) -> Error {
        let cap = self.pool.as_ref().map_or(0, |p| p.capacity()) as u64;
        Error::LimitExceeded {
            what: "mpeg2 frames not taken from the output queue",
            requested: cap + 1,
            limit: cap,
        }
    }

    /// Decodes data of any length, handing every frame to `on_frame` as soon as it is
    /// ready (so the picture pool never fills up). Returns the first error, after
    /// decoding everything that could be decoded.
    pub fn decode_with(&mut self, data: &[u8], mut on_frame: impl FnMut(&Frame<'_>)) -> Result<()> {
        let mut rest = data;
        let mut first_err = None;
        loop {
            let res = self.send(rest);
            let mut taken = 0usize;
            while let Some(f) = self.next_frame() {
                on_frame(&f);
                taken += 1;
            }
            match res {
                Ok(DecodeStatus::Done) => break,
                Ok(DecodeStatus::NeedsOutput { consumed }) => {
                    if consumed == 0 && taken == 0 {
                        return Err(self.pool_full_error());
                    }
                    rest = &rest[consumed..];
                }
                Err(e @ (Error::Unsupported(_) | Error::LimitExceeded { .. })) => return Err(e),
                Err(e) => {
                    // Damage was concealed and everything sent was taken.
                    first_err.get_or_insert(e);
                    break;
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Ends the stream: decodes what is buffered, finishes the current picture and
    /// queues every remaining picture for output. Take the frames waiting in the
    /// output queue first, or a last picture that finds the pool full is dropped.
    pub fn flush(&mut self) {
        self.release_lent();
        let mut err = self.pending_error.take();
        let _ = self.drain_units(true, &mut err);
        self.buf.clear();
        self.scan = 0;
        self.finish_picture(true);
        self.show_last();
        self.pic_hdr = None;
    }

    /// The next frame in display order, if one is ready, lent until the next call
    /// that needs `&mut Decoder`.
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        self.release_lent();
        let pic = self.output.pop_front()?;
        Some(self.lent.insert(pic).frame())
    }

    /// The next picture in display order, for the caller to keep (a shared handle to
    /// the pooled frame, no copy).
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

    /// Appends input to the unit buffer, within `max_packet_size` for one unit.
    fn append(&mut self, data: &[u8]) -> Result<()> {
        let limit = self.config.max_packet_size as usize + CHUNK;
        if self.buf.len() + data.len() > limit {
            // One unit larger than any packet may be: drop it and resync at the next
            // start code.
            let len = self.buf.len();
            self.buf.clear();
            self.scan = 0;
            Error::check_limit(
                "mpeg2 start code unit bytes",
                (len + data.len()) as u64,
                limit as u64,
            )?;
        }
        let want = self.buf.len() + data.len();
        if want > self.buf.capacity() {
            let new_cap = want
                .next_power_of_two()
                .clamp(CHUNK * 2, limit.next_power_of_two());
            let extra = (new_cap - self.buf.capacity()) as u64;
            match self.tables.try_grow("mpeg2 unit buffer", extra)? {
                Acquire::Ready(()) => {}
                Acquire::Full => {
                    return Err(Error::LimitExceeded {
                        what: "mpeg2 unit buffer",
                        requested: extra,
                        limit: self.budget.available(),
                    })
                }
            }
            self.buf.reserve_exact(new_cap - self.buf.len());
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// Decodes every complete unit in the buffer (and, at the end of the stream, the
    /// last one). `Ok(false)`: a picture needs a frame and the pool is full.
    fn drain_units(&mut self, end: bool, first_err: &mut Option<Error>) -> Result<bool> {
        let mut start = match find_start(&self.buf, 0) {
            Some(s) => s,
            None => {
                // Junk before the first start code: keep two bytes that may begin one.
                let keep = self.buf.len().min(2);
                self.buf.drain(..self.buf.len() - keep);
                self.scan = 0;
                return Ok(true);
            }
        };
        let mut ok = true;
        loop {
            let from = self.scan.max(start + 4);
            let next = find_start(&self.buf, from);
            let stop = match next {
                Some(n) => n,
                None if end && self.buf.len() >= start + 4 => self.buf.len(),
                None => {
                    self.scan = self.buf.len().saturating_sub(2).max(start + 4) - start;
                    break;
                }
            };
            let code = self.buf[start + 3];
            // The unit is taken out of the buffer for the call and put back after it.
            let buf = std::mem::take(&mut self.buf);
            let res = self.unit(code, &buf[start + 4..stop]);
            self.buf = buf;
            match res {
                Ok(true) => {}
                Ok(false) => {
                    ok = false;
                    self.scan = 0;
                    break;
                }
                Err(e @ (Error::Unsupported(_) | Error::LimitExceeded { .. })) => {
                    self.buf.drain(..stop);
                    self.scan = 0;
                    return Err(e);
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
            start = stop;
            self.scan = 0;
            if start >= self.buf.len() {
                break;
            }
        }
        let start = start.min(self.buf.len());
        self.buf.drain(..start);
        Ok(ok)
    }

    /// One start-code unit. `Ok(false)`: needs a free frame; nothing was changed.
    fn unit(&mut self, code: u8, body: &[u8]) -> Result<bool> {
        if (0x01..=0xaf).contains(&code) {
            return self.slice(code, body);
        }
        if code > 0xb8 {
            // System start codes in an elementary stream: not video data.
            return Ok(true);
        }
        // Only a picture, sequence or GOP header (or a sequence end) ends the picture
        // being decoded. A reserved or sequence_error start code inside a picture (a
        // damaged stream) is skipped: ending the picture there would start a second one
        // from the same picture header at the next slice, one frame too many.
        if matches!(code, 0xb0 | 0xb1 | 0xb4 | 0xb6) {
            return Ok(true);
        }
        if code != 0xb2 && code != 0xb5 {
            self.finish_picture(false);
        }
        match code {
            0x00 => {
                self.pic_hdr = None;
                self.user_data = UserData::default();
                let h = picture_header(body)?;
                self.pic_hdr = Some(h);
            }
            0xb3 => {
                self.pic_hdr = None;
                let h = sequence_header(body)?;
                self.matrices = Matrices::from_sequence(&h);
                self.seq_hdr = Some(h);
                self.seq_ext = None;
                self.update_info(None);
            }
            0xb5 => self.extension(body)?,
            0xb8 => {
                let mut b = crate::bits::Bits::new(body);
                b.skip(25);
                self.closed_gop = b.bit();
                let broken_link = b.bit();
                let _ = broken_link;
                self.pic_hdr = None;
            }
            0xb7 => {
                self.pic_hdr = None;
                self.show_last();
            }
            // User data after a picture header belongs to that picture.
            0xb2 if self.pic_hdr.is_some() => self.user_data.parse(body),
            _ => {}
        }
        Ok(true)
    }

    fn extension(&mut self, body: &[u8]) -> Result<()> {
        let mut b = crate::bits::Bits::new(body);
        let id = b.read(4);
        match id {
            1 if self.seq_hdr.is_some() => {
                let e = sequence_extension(&mut b);
                if e.chroma != 1 && e.chroma != 2 {
                    return Err(Error::unsupported(format!(
                        "mpeg2 chroma_format {} (expected 1 for 4:2:0 or 2 for 4:2:2)",
                        e.chroma
                    )));
                }
                self.seq_ext = Some(e);
                self.update_info(None);
            }
            2 if self.info.is_some() => {
                let d = sequence_display_extension(&mut b);
                self.update_info(Some(d));
            }
            3 => self.matrices.extension(&mut b)?,
            8 => {
                if let Some(h) = self.pic_hdr.as_mut() {
                    picture_coding_extension(h, &mut b)?;
                }
            }
            5 | 9 | 10 => return Err(Error::unsupported("mpeg2 scalable extensions")),
            _ => {}
        }
        Ok(())
    }

    fn update_info(&mut self, display: Option<(u8, Option<ColourDescription>, (u32, u32))>) {
        let Some(h) = &self.seq_hdr else { return };
        let e = self.seq_ext;
        let mpeg2 = e.is_some();
        let width = h.width | e.map_or(0, |e| e.width_ext << 12);
        let height = h.height | e.map_or(0, |e| e.height_ext << 12);
        let (sar, dar) = header::aspect(mpeg2, h.aspect, width, height);
        let old = self.info.take();
        let (video_format, colour, display_size) = match display {
            Some((f, c, s)) => (f, c, Some(s)),
            None => match &old {
                // A display extension always follows the sequence extension: keep the
                // last one only until then.
                Some(o) if mpeg2 && e.is_some() && o.mpeg2 => {
                    (o.video_format, o.colour, o.display_size)
                }
                _ => (5, None, None),
            },
        };
        self.info = Some(SequenceInfo {
            mpeg2,
            width,
            height,
            frame_rate: header::frame_rate(
                h.frame_rate_code,
                e.map_or(0, |e| e.frn),
                e.map_or(0, |e| e.frd),
            ),
            sar,
            dar,
            profile_and_level: e.map_or(0, |e| e.profile_and_level),
            chroma: if e.map_or(1, |e| e.chroma) == 2 {
                ChromaFormat::Yuv422
            } else {
                ChromaFormat::Yuv420
            },
            progressive_sequence: e.map_or(true, |e| e.progressive),
            low_delay: e.is_some_and(|e| e.low_delay),
            bit_rate: (h.bit_rate as u64 | e.map_or(0, |e| (e.bit_rate_ext as u64) << 18)) * 400,
            vbv_buffer_bytes: (h.vbv as u64 | e.map_or(0, |e| (e.vbv_ext as u64) << 10)) * 2048,
            colour,
            video_format,
            display_size,
            first_top_field_first: old.as_ref().and_then(|o| o.first_top_field_first),
        });
    }

    /// Makes the frame pool and tables match the sequence; a change flushes the
    /// references and marks the next frame.
    fn activate(&mut self) -> Result<Geometry> {
        let info = self
            .info
            .as_ref()
            .ok_or_else(|| Error::invalid("picture before any sequence header"))?;
        let mb_w = (info.width as usize).div_ceil(16);
        let mb_h = if info.mpeg2 && !info.progressive_sequence {
            2 * (info.height as usize).div_ceil(32)
        } else {
            (info.height as usize).div_ceil(16)
        };
        let g = Geometry {
            mb_w,
            mb_h,
            width: info.width,
            height: info.height,
            chroma: info.chroma,
        };
        if self.geometry == Some(g) && self.pool.is_some() {
            return Ok(g);
        }
        if self.geometry.is_some() {
            // Sequence change: what was decoded so far goes out first.
            self.finish_picture(true);
            self.show_last();
            self.prev = None;
            self.last = None;
            self.format_changed = true;
        }
        self.pool = None;
        self.geometry = None;
        let format = match g.chroma {
            ChromaFormat::Yuv420 => PixelFormat::Yuv420p,
            ChromaFormat::Yuv422 => PixelFormat::Yuv422p,
        };
        let layout = FrameLayout::new(format, (mb_w * 16) as u32, (mb_h * 16) as u32)?;
        let frames = 3 + OUTPUT_FRAMES;
        let need = layout.buffer_len() as u64 * frames as u64;
        Error::check_limit("mpeg2 picture memory", need, self.config.max_memory)?;
        let map = mb_w * mb_h;
        if map > self.done.capacity() {
            match self
                .tables
                .try_grow("mpeg2 macroblock map", (map - self.done.capacity()) as u64)?
            {
                Acquire::Ready(()) => {}
                Acquire::Full => {
                    return Err(Error::LimitExceeded {
                        what: "mpeg2 macroblock map",
                        requested: map as u64,
                        limit: self.budget.available(),
                    })
                }
            }
            self.done.reserve_exact(map - self.done.len());
        }
        self.done.clear();
        self.done.resize(map, 0);
        let pool = FramePool::new(
            FramePoolConfig {
                name: "mpeg2 pictures",
                capacity: frames,
                ..FramePoolConfig::new(layout, &self.config)
            },
            &self.budget,
        )?;
        self.pool = Some(pool);
        self.geometry = Some(g);
        Ok(g)
    }

    /// Queues the newest reference frame for output if it was not yet.
    fn show_last(&mut self) {
        if let Some(r) = &mut self.last {
            if !r.shown {
                r.shown = true;
                self.output.push_back(r.pic.clone());
            }
        }
    }

    fn slice(&mut self, code: u8, body: &[u8]) -> Result<bool> {
        if self.skipping {
            return Ok(true);
        }
        if self.cur.as_ref().map_or(true, |c| c.awaiting_second) {
            let Some(h) = self.pic_hdr else {
                return Ok(true);
            };
            if self.info.is_none() {
                // A stream cut before its first sequence header: nothing can be
                // decoded until one arrives.
                self.dropped_pictures += 1;
                self.pic_hdr = None;
                return Ok(true);
            }
            if !self.start_picture(h)? {
                return Ok(false);
            }
            if self.skipping {
                return Ok(true);
            }
        }
        let Some(cur) = self.cur.as_mut() else {
            return Ok(true);
        };
        cur.slices += 1;
        let (fwd, bwd) = match cur.ctx.ptype {
            PictureType::P => (self.prev.as_ref(), None),
            PictureType::B => (self.prev.as_ref(), self.last.as_ref()),
            _ => (None, None),
        };
        let refs = Refs {
            fwd: fwd.map(|r| &**r.pic.shared_frame()),
            bwd: bwd.map(|r| &**r.pic.shared_frame()),
        };
        let base = if cur.second && cur.ctx.structure != PictureStructure::Frame {
            self.done.len() / 2
        } else {
            0
        };
        let n = cur.ctx.mb_w * cur.ctx.mb_h;
        let done = &mut self.done[base..base + n];
        let mut sd = SliceDecoder::new(&cur.ctx, &mut cur.frame, refs, &mut self.scratch, done);
        sd.slice(code, body).map(|_| true)
    }

    /// Starts a picture at its first slice. `Ok(false)`: no free frame (nothing was
    /// changed, the slice is retried later).
    fn start_picture(&mut self, h: PicHeader) -> Result<bool> {
        let g = self.activate()?;
        let info = self.info.clone().expect("activated");
        let field = h.structure != PictureStructure::Frame;
        let parity = (h.structure == PictureStructure::BottomField) as usize;
        // The second field of a pair continues the frame of the first.
        if field {
            let pairs = self
                .cur
                .as_ref()
                .is_some_and(|c| c.awaiting_second && c.first_parity == Some(1 - parity));
            if pairs {
                let ctx = self.pic_ctx(&h, g, &info, true);
                let c = self.cur.as_mut().expect("checked");
                c.second = true;
                c.awaiting_second = false;
                c.slices = 0;
                c.ctx = ctx;
                let half = self.done.len() / 2;
                self.done[half..].fill(0);
                return Ok(true);
            }
            if self.skip_second {
                self.skip_second = false;
                self.skipping = true;
                return Ok(true);
            }
        }
        if !field {
            self.skip_second = false;
        }
        self.finish_picture(true);
        // Pictures whose references are missing are dropped, as FFmpeg drops them.
        let drop = match h.ptype {
            PictureType::B => self.prev.is_none() && !self.closed_gop,
            PictureType::P => self.prev.is_none() && self.last.is_none() && !self.sync,
            _ => false,
        };
        if drop {
            self.dropped_pictures += 1;
            self.skipping = true;
            self.skip_second = field;
            return Ok(true);
        }
        let pool = self.pool.as_ref().expect("activated");
        let frame = match pool.try_acquire() {
            Acquire::Ready(f) => f,
            Acquire::Full => return Ok(false),
        };
        if matches!(h.ptype, PictureType::I | PictureType::D) {
            self.sync = true;
        }
        if let Some(i) = self.info.as_mut() {
            i.first_top_field_first.get_or_insert(if field {
                parity == 0
            } else {
                h.top_field_first
            });
        }
        if h.ptype != PictureType::B {
            self.show_last();
            self.prev = self.last.take();
        }
        let ctx = self.pic_ctx(&h, g, &info, false);
        let fields = if info.progressive_sequence {
            2 * (1 + h.repeat_first_field as u8 + (h.repeat_first_field && h.top_field_first) as u8)
        } else {
            2 + h.repeat_first_field as u8
        };
        let pinfo = PictureInfo {
            picture_type: h.ptype,
            coding: if field {
                PictureCoding::SingleField { top: parity == 0 }
            } else {
                PictureCoding::Frame
            },
            top_field_first: if field {
                parity == 0
            } else {
                h.top_field_first
            },
            repeat_first_field: h.repeat_first_field,
            progressive_frame: h.progressive_frame,
            temporal_reference: h.temporal_reference,
            duration_fields: if field { 2 } else { fields },
            concealed_macroblocks: 0,
            format_changed: std::mem::take(&mut self.format_changed),
            user_data: self.user_data,
        };
        self.done.fill(0);
        self.cur = Some(CurPic {
            frame,
            ctx,
            info: pinfo,
            first_parity: field.then_some(parity),
            second: false,
            awaiting_second: false,
            slices: 0,
        });
        Ok(true)
    }

    fn pic_ctx(&self, h: &PicHeader, g: Geometry, info: &SequenceInfo, second: bool) -> PicCtx {
        let field = h.structure != PictureStructure::Frame;
        PicCtx {
            mpeg2: info.mpeg2,
            ptype: h.ptype,
            structure: h.structure,
            f_code: h.f_code,
            full_pel: h.full_pel,
            dc_prec: h.dc_prec,
            fpfd: h.frame_pred_frame_dct,
            concealment: h.concealment,
            q_scale_type: h.q_scale_type,
            intra_vlc: h.intra_vlc,
            alternate_scan: h.alternate_scan,
            tff: h.top_field_first,
            second_field: second,
            chroma422: g.chroma == ChromaFormat::Yuv422,
            mb_w: g.mb_w,
            mb_h: if field { g.mb_h / 2 } else { g.mb_h },
            vertical_size: info.height,
            matrices: self.matrices,
            isa: self.isa,
        }
    }

    /// Ends the picture being decoded: conceals what no slice covered and, when the
    /// frame is complete (or `force`), makes it a reference or queues it for output.
    fn finish_picture(&mut self, force: bool) {
        self.skipping = false;
        let Some(mut c) = self.cur.take() else { return };
        if c.awaiting_second && !force {
            self.cur = Some(c);
            return;
        }
        let conceal_src = self
            .last
            .as_ref()
            .or(self.prev.as_ref())
            .map(|r| r.pic.shared_frame().clone());
        let half = self.done.len() / 2;
        let mut concealed = 0;
        match c.first_parity {
            None => {
                concealed +=
                    slice::conceal(&c.ctx, &mut c.frame, conceal_src.as_deref(), &self.done)
            }
            Some(first) => {
                let field_ctx = |par: usize| {
                    let mut ctx = c.ctx.clone();
                    ctx.structure = if par == 0 {
                        PictureStructure::TopField
                    } else {
                        PictureStructure::BottomField
                    };
                    ctx
                };
                if !c.second && !c.awaiting_second {
                    let ctx = field_ctx(first);
                    concealed += slice::conceal(
                        &ctx,
                        &mut c.frame,
                        conceal_src.as_deref(),
                        &self.done[..half],
                    );
                    if !force {
                        c.awaiting_second = true;
                        c.info.concealed_macroblocks += concealed as u32;
                        self.concealed_total += concealed as u64;
                        self.cur = Some(c);
                        return;
                    }
                }
                // The second field, which may never have come.
                if !c.second {
                    self.done[half..].fill(0);
                }
                let ctx = field_ctx(1 - first);
                concealed += slice::conceal(
                    &ctx,
                    &mut c.frame,
                    conceal_src.as_deref(),
                    &self.done[half..],
                );
                c.info.coding = if c.second {
                    PictureCoding::FieldPair {
                        top_first: first == 0,
                    }
                } else {
                    PictureCoding::SingleField { top: first == 0 }
                };
            }
        }
        c.info.concealed_macroblocks += concealed as u32;
        self.concealed_total += concealed as u64;
        let g = self.geometry.expect("a picture implies a sequence");
        let pic = DecodedPicture {
            frame: c.frame.into_shared(),
            width: g.width as usize,
            height: g.height as usize,
            format: match g.chroma {
                ChromaFormat::Yuv420 => PixelFormat::Yuv420p,
                ChromaFormat::Yuv422 => PixelFormat::Yuv422p,
            },
            info: c.info,
        };
        if c.info.picture_type == PictureType::B {
            self.output.push_back(pic);
        } else {
            self.last = Some(RefPic { pic, shown: false });
        }
    }
}

/// Position of the next `00 00 01` at or after `from`.
fn find_start(d: &[u8], from: usize) -> Option<usize> {
    // Seven bytes at a time while the eight from `i` hold no two adjacent zero bytes:
    // a start code beginning at any of the first seven would need such a pair. Pairs
    // are rare in coded data (single zeros are not), so this loop seldom stops, and
    // when it does the byte rule below scans past the pair, then words again. The
    // flags are exact: a byte's top bit is set where the byte is zero (adding 0x7f to
    // its low seven bits carries into the top bit unless they are all zero).
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let mut i = from;
    loop {
        while let Some(w) = d.get(i..i + 8) {
            let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            let zero = !(((w & LOW7) + LOW7) | w | LOW7);
            if zero & (zero >> 8) != 0 {
                break;
            }
            i += 7;
        }
        // The byte rule: look at the third byte of a candidate; above one, no start
        // code begins at any of the three.
        let word_end = i + 8;
        while i < word_end {
            let c = match d.get(i + 2) {
                Some(&c) => c,
                None => return None,
            };
            if c > 1 {
                i += 3;
            } else if c == 0 {
                i += 1;
            } else {
                if d[i] == 0 && d[i + 1] == 0 {
                    return Some(i);
                }
                i += 3;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::find_start;

    #[test]
    fn start_codes_are_found_at_every_alignment() {
        for pad in 0..5 {
            let mut d = vec![7u8; pad];
            d.extend_from_slice(&[0, 0, 0, 1, 0xb3]);
            assert_eq!(find_start(&d, 0), Some(pad + 1));
        }
        assert_eq!(find_start(&[0, 0, 2, 0, 0], 0), None);
    }

    #[test]
    fn the_word_scan_finds_what_a_byte_by_byte_search_finds() {
        // Bytes drawn from a small alphabet so that zeros, near misses (`00 01`,
        // `00 00 00`) and start codes fall at every offset of the eight-byte words:
        // dense zeros (most words stop the word loop), then sparse ones (most words are
        // skipped, as in coded data).
        for (alphabet, min_found) in [
            (&[0u8, 0, 1, 0x55, 0x55, 0x55, 0x55, 0x55][..], 3000),
            (
                &[
                    0u8, 1, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
                    0x55, 0x55,
                ][..],
                20,
            ),
        ] {
            let mut x = 0x2545_f491_4f6c_dd1du64;
            let d: Vec<u8> = (0..4000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    alphabet[(x >> 40) as usize % alphabet.len()]
                })
                .collect();
            let naive =
                |from: usize| (from..d.len().saturating_sub(2)).find(|&i| d[i..i + 3] == [0, 0, 1]);
            let mut found = 0;
            for from in 0..d.len() {
                assert_eq!(find_start(&d, from), naive(from), "from {from}");
                found += naive(from).is_some() as usize;
            }
            assert!(
                found > min_found,
                "the data holds start codes to find ({found})"
            );
        }
    }
}
