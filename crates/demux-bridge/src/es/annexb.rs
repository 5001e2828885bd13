//! H.264 / H.265 Annex-B elementary streams, split into access units the way FFmpeg's
//! h264 and hevc parsers do.

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
/// H.265 with the unit before it).
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
    /// End of an access unit already found (by the constructor's look at the first one).
    pending_end: Option<u64>,
    /// Input ended.
    eof: bool,
    described: bool,
    index: i64,
    frame_duration: i64,
    stats: DemuxStats,
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
            pending_end: None,
            eof: false,
            described: false,
            index: 0,
            frame_duration: 3600,
            stats: DemuxStats::default(),
        };
        if let Some(end) = d.find_au_end()? {
            d.pending_end = Some(end);
            let len = (end - d.au_start) as usize;
            let data = d.input.get(d.au_start, len)?;
            d.described = describe(&mut d.streams[0], data);
            d.update_rate();
        }
        Ok(d)
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
        let end = match self.pending_end.take() {
            Some(e) => e,
            None => {
                if self.eof && self.scan <= self.au_start {
                    return Ok(None);
                }
                match self.find_au_end()? {
                    Some(e) => e,
                    None => return Ok(None),
                }
            }
        };
        let start = self.au_start;
        self.au_start = end;
        let len = (end - start) as usize;
        if !self.described {
            let data = self.input.get(start, len)?;
            self.described = describe(&mut self.streams[0], data);
            self.update_rate();
        }
        self.stats.bytes_read = end;
        let ts = self.index * self.frame_duration;
        self.index += 1;
        self.input.release(start);
        let data = self.input.get(start, len)?;
        let keyframe = is_keyframe(&self.streams[0], data);
        Ok(Some(PacketView {
            stream: 0,
            data,
            pts: Some(ts),
            dts: Some(ts),
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
