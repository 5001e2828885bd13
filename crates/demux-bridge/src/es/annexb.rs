//! H.264 / H.265 Annex-B elementary streams, split into access units the way FFmpeg's
//! h264 and hevc parsers do.

use super::order::{PocTracker, Reorder, MAX_DEPTH};
use crate::{DemuxStats, Demuxer, Input};
use transcode_codec::nal::find_start_code;
use transcode_codec::{describe, h264, h265, is_keyframe};
use transcode_core::{BitstreamFormat, CodecId, Error, MemoryConfig, PacketView, Result, StreamInfo, TimeBase};

/// How far past the current scan position each read reaches.
const SCAN_CHUNK: usize = 64 * 1024;
/// NAL bytes needed after a start code to classify the unit (header + first_mb_in_slice).
const NAL_PEEK: usize = 8;

/// Splits an Annex-B H.264 or H.265 stream into access units.
///
/// A new access unit starts at an access unit delimiter, at a parameter set or SEI (and
/// the other non-VCL units that may only precede a picture) once the current unit has a
/// picture, or at a slice that starts a picture (`first_mb_in_slice == 0`,
/// `first_slice_segment_in_pic_flag`) once the current unit has one. Packets tile the
/// file exactly like FFmpeg's: each spans from its first unit's start code to the next
/// packet's (for H.264 the zero of a 4-byte start code goes with the unit after it, for
/// H.265 with the unit before it). Bytes before the first start code, but for the zero
/// bytes right before it, are junk: skipped and counted in `bytes_skipped`.
#[derive(Debug)]
pub struct AnnexBDemuxer {
    input: Input,
    streams: Vec<StreamInfo>,
    codec: CodecId,
    max_packet: u64,
    /// Start of the access unit being assembled.
    au_start: u64,
    /// Where the start-code search resumes.
    scan: u64,
    /// Whether the current access unit has a VCL unit yet.
    seen_vcl: bool,
    /// Access units found but not returned yet, in decoding order: the lookahead that
    /// lets each wait for its display slot. `pending[(i % LOOKAHEAD)]` holds unit `i`.
    pending: [Pending; LOOKAHEAD],
    /// Decoding index of the oldest pending unit, and how many are pending.
    front: u64,
    count: usize,
    /// Input ended.
    eof: bool,
    /// An error met while looking ahead, returned once the units before it are out.
    failed: Option<Error>,
    described: bool,
    /// Packets returned so far.
    index: i64,
    frame_duration: i64,
    /// The last dts given out, so that dts strictly increases.
    last_dts: Option<i64>,
    pocs: PocTracker,
    reorder: Reorder,
    stats: DemuxStats,
}

/// How many access units the demuxer may look ahead: the deepest reorder buffer, the
/// unit waiting for its slot and the one that pushes it out.
const LOOKAHEAD: usize = MAX_DEPTH + 2;

#[derive(Debug, Clone, Copy, Default)]
struct Pending {
    start: u64,
    end: u64,
    /// Display slot, once the reorder model has given it.
    slot: Option<i64>,
}

impl AnnexBDemuxer {
    /// Opens the stream and reads its first access unit to describe it.
    pub fn new(input: Input, codec: CodecId, config: &MemoryConfig) -> Result<Self> {
        if !matches!(codec, CodecId::H264 | CodecId::H265) {
            return Err(Error::unsupported(format!("annex-b demuxing of {} (expected h264 or hevc)", codec.name())));
        }
        let mut d = AnnexBDemuxer {
            input,
            streams: vec![StreamInfo::new(0, 1, codec, BitstreamFormat::AnnexB, TimeBase::MPEG)],
            codec,
            max_packet: config.max_packet_size,
            au_start: 0,
            scan: 0,
            seen_vcl: false,
            pending: [Pending::default(); LOOKAHEAD],
            front: 0,
            count: 0,
            eof: false,
            failed: None,
            described: false,
            index: 0,
            frame_duration: 3600,
            last_dts: None,
            pocs: PocTracker::new(codec),
            reorder: Reorder::new(),
            stats: DemuxStats::default(),
        };
        d.skip_leading_junk()?;
        d.look_ahead()?;
        Ok(d)
    }

    /// Starts the stream at its first start code. What comes before it, up to the zero
    /// bytes that may precede a start code, is junk (a capture tool's header, a file cut
    /// in the middle of a unit): skipped and counted in `bytes_skipped`.
    fn skip_leading_junk(&mut self) -> Result<()> {
        let mut pos = 0u64;
        loop {
            let buf = self.input.get(pos, SCAN_CHUNK)?;
            let eof = buf.len() < SCAN_CHUNK;
            let start = match find_start_code(buf, 0) {
                Some(sc) => pos + buf[..sc].iter().rposition(|&b| b != 0).map_or(0, |i| i + 1) as u64,
                None if eof => pos + buf.len() as u64,
                None => {
                    // Keep two bytes: a start code may straddle the windows.
                    pos += (buf.len() - 2) as u64;
                    self.input.release(pos);
                    continue;
                }
            };
            self.au_start = start;
            self.scan = start;
            self.stats.bytes_skipped = start;
            self.stats.bytes_read = start;
            self.input.release(start);
            return Ok(());
        }
    }

    /// Finds the next access unit, describes the stream from it if that is still to do,
    /// and feeds its picture to the reorder model. Returns false at the end of the input
    /// (after giving every waiting picture its slot).
    fn look_ahead(&mut self) -> Result<bool> {
        let Some(end) = (if self.eof && self.scan <= self.au_start { None } else { self.find_au_end()? }) else {
            let pending = &mut self.pending;
            self.reorder.flush(&mut |i, slot| pending[i as usize % LOOKAHEAD].slot = Some(slot));
            return Ok(false);
        };
        let start = self.au_start;
        self.au_start = end;
        let data = self.input.get(start, (end - start) as usize)?;
        let describing = !self.described;
        if describing {
            self.described = describe(&mut self.streams[0], data);
        }
        let order = self.pocs.access_unit(data);
        if describing {
            self.update_rate();
        }
        let index = self.front + self.count as u64;
        self.pending[index as usize % LOOKAHEAD] = Pending { start, end, slot: None };
        self.count += 1;
        let pending = &mut self.pending;
        self.reorder.push(index, order, |i, slot| pending[i as usize % LOOKAHEAD].slot = Some(slot));
        Ok(true)
    }

    /// Gives out slots in POC order until the oldest pending unit has one.
    fn force_front(&mut self) {
        let front = self.front;
        let pending = &mut self.pending;
        let mut out = |i: u64, slot| pending[i as usize % LOOKAHEAD].slot = Some(slot);
        while let Some(i) = self.reorder.pop(&mut out) {
            if i == front {
                break;
            }
        }
    }

    fn update_rate(&mut self) {
        if let Some((num, den)) = self.streams[0].video.and_then(|v| v.frame_rate) {
            let dur = 90_000i64 * den as i64 / num.max(1) as i64;
            if dur > 0 {
                self.frame_duration = dur;
            }
        }
    }

    /// Whether a unit with this header starts a new access unit, given whether the
    /// current one has a picture. Sets `seen_vcl` for picture units.
    fn starts_au(codec: CodecId, seen_vcl: &mut bool, nal: &[u8]) -> bool {
        let (vcl, first_of_pic, prefix) = match codec {
            CodecId::H264 => {
                let t = h264::nal_type(nal);
                let vcl = matches!(t, 1 | 5);
                let first = vcl && h264::first_mb_in_slice(nal).ok() == Some(0);
                (vcl, first, matches!(t, 6 | 7 | 8 | 9 | 14..=18))
            }
            _ => {
                let t = h265::nal_type(nal);
                let vcl = t < 32;
                let first = vcl && h265::first_slice_segment_in_pic(nal);
                (vcl, first, matches!(t, 32..=35 | 39 | 41..=44 | 48..=55))
            }
        };
        let new = *seen_vcl && (prefix || first_of_pic);
        if new {
            *seen_vcl = false;
        }
        if vcl {
            *seen_vcl = true;
        }
        new
    }

    /// Scans forward from `scan` until the end of the access unit starting at
    /// `au_start`; `None` at the end of the input with nothing left.
    fn find_au_end(&mut self) -> Result<Option<u64>> {
        loop {
            let done = self.scan - self.au_start;
            if done > self.max_packet {
                return Err(Error::LimitExceeded { what: "access unit", requested: done, limit: self.max_packet });
            }
            let want = done as usize + SCAN_CHUNK;
            let buf = self.input.get(self.au_start, want)?;
            let eof = buf.len() < want;
            let mut rel = done as usize;
            let mut boundary = None;
            while let Some(sc) = find_start_code(buf, rel) {
                if sc + 3 + NAL_PEEK > buf.len() && !eof {
                    break;
                }
                let nal = &buf[sc + 3..(sc + 3 + NAL_PEEK).min(buf.len())];
                rel = sc + 3;
                // The unit at the very start of the access unit never ends it.
                let at_start = buf[..sc].iter().all(|&b| b == 0);
                let new = Self::starts_au(self.codec, &mut self.seen_vcl, nal);
                if new && !at_start {
                    // FFmpeg's h264 parser gives the zero of a 4-byte start code to the
                    // next access unit, its hevc parser to the previous one.
                    let cut = if self.codec == CodecId::H264 && sc > 0 && buf[sc - 1] == 0 { sc - 1 } else { sc };
                    boundary = Some((cut as u64, sc as u64 + 3));
                    break;
                }
            }
            let found = boundary.map(|(cut, _)| cut).or(eof.then_some(buf.len() as u64));
            if let Some(len) = found.filter(|&l| l > self.max_packet) {
                return Err(Error::LimitExceeded { what: "access unit", requested: len, limit: self.max_packet });
            }
            if let Some((cut, resume)) = boundary {
                // `starts_au` has already counted the unit that begins the next access
                // unit; the search resumes after its start code.
                let end = self.au_start + cut;
                self.scan = self.au_start + resume;
                return Ok(Some(end));
            }
            if eof {
                self.eof = true;
                let end = self.au_start + buf.len() as u64;
                self.scan = end;
                return Ok((end > self.au_start).then_some(end));
            }
            // Resume just before the end so a start code across the boundary is found.
            self.scan = self.au_start + (rel.max(buf.len().saturating_sub(2 + 3 + NAL_PEEK))) as u64;
        }
    }
}

impl Demuxer for AnnexBDemuxer {
    fn streams(&self) -> &[StreamInfo] {
        &self.streams
    }

    fn next_packet(&mut self) -> Result<Option<PacketView<'_>>> {
        // Look ahead until the oldest unit has its display slot. A stream that reorders
        // more than its SPS says (or more than the pipe read-ahead allows) makes the
        // model give out slots early: the order may then be wrong, the invariants hold.
        let lookahead_bytes = self.max_packet / 2;
        loop {
            if self.count > 0 {
                let p = self.pending[self.front as usize % LOOKAHEAD];
                if p.slot.is_some() {
                    break;
                }
                // After an error the units before it go out first, in display order.
                if self.failed.is_some() || self.count == LOOKAHEAD || self.au_start - p.start > lookahead_bytes {
                    self.force_front();
                    break;
                }
            } else if let Some(e) = self.failed.take() {
                return Err(e);
            }
            match self.look_ahead() {
                Ok(true) => {}
                Ok(false) if self.count == 0 => return Ok(None),
                Ok(false) => break,
                Err(e) if self.count == 0 => return Err(e),
                Err(e) => self.failed = Some(e),
            }
        }
        let p = self.pending[self.front as usize % LOOKAHEAD];
        self.front += 1;
        self.count -= 1;
        let (start, end) = (p.start, p.end);
        let len = (end - start) as usize;
        self.stats.bytes_read = end;
        let delay = self.reorder.delay() as i64;
        // The frame rate and the reorder delay may be learnt late (a recording cut
        // before its first SPS); dts never goes back, and pts never precedes it.
        let mut dts = (self.index - delay) * self.frame_duration;
        if let Some(last) = self.last_dts {
            dts = dts.max(last + 1);
        }
        self.last_dts = Some(dts);
        let pts = (p.slot.unwrap_or(self.index) * self.frame_duration).max(dts);
        self.index += 1;
        self.input.release(start);
        let data = self.input.get(start, len)?;
        let keyframe = is_keyframe(&self.streams[0], data);
        Ok(Some(PacketView {
            stream: 0,
            data,
            pts: Some(pts),
            dts: Some(dts),
            duration: Some(self.frame_duration),
            keyframe,
            pos: Some(start),
        }))
    }

    fn stats(&self) -> DemuxStats {
        self.stats.clone()
    }

    fn format_name(&self) -> &'static str {
        match self.codec {
            CodecId::H264 => "h264",
            _ => "hevc",
        }
    }

    fn input_len(&self) -> Option<u64> {
        self.input.len()
    }
}
