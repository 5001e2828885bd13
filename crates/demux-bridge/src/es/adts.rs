//! AAC in ADTS frames (`.aac`): one packet per frame, header included.

use super::id3v2_len;
use crate::{DemuxStats, Demuxer, Input};
use transcode_codec::aac::AdtsHeader;
use transcode_codec::describe;
use transcode_core::{BitstreamFormat, CodecId, Error, MemoryConfig, PacketView, Result, StreamInfo, TimeBase};

/// How far the demuxer searches for the next frame header after a damaged one.
const RESYNC_WINDOW: usize = 64 * 1024;

/// One packet per ADTS frame (format [`BitstreamFormat::Adts`]), with `pts` counting
/// samples in a `1/sample_rate` time base.
#[derive(Debug)]
pub struct AdtsDemuxer {
    input: Input,
    streams: Vec<StreamInfo>,
    pos: u64,
    samples: i64,
    stats: DemuxStats,
}

/// Whether `b` starts with a header whose frame is followed by another header (or the
/// end of `b`'s data), for resynchronisation.
fn plausible(b: &[u8]) -> bool {
    match AdtsHeader::parse(b) {
        Some(h) => {
            let n = h.frame_len as usize;
            b.len() <= n || AdtsHeader::parse(&b[n..]).is_some() || b.len() < n + 7
        }
        None => false,
    }
}

impl AdtsDemuxer {
    /// Opens the stream (an ID3v2 tag at the start is skipped) and reads the first header.
    pub fn new(mut input: Input, _config: &MemoryConfig) -> Result<Self> {
        let pos = id3v2_len(&mut input, 0)?;
        let head = input.get(pos, 16)?;
        let h = AdtsHeader::parse(head)
            .ok_or_else(|| Error::invalid_at(pos, "no adts header (expected the sync word 0xfff)"))?;
        let mut info = StreamInfo::new(0, 1, CodecId::Aac, BitstreamFormat::Adts, TimeBase::new(1, h.sample_rate));
        describe(&mut info, head);
        Ok(AdtsDemuxer {
            input,
            streams: vec![info],
            pos,
            samples: 0,
            stats: DemuxStats { bytes_read: pos, ..Default::default() },
        })
    }

    /// Finds the next plausible header at or after `self.pos`.
    fn resync(&mut self) -> Result<bool> {
        loop {
            let buf = self.input.get(self.pos, RESYNC_WINDOW)?;
            if buf.len() < 7 {
                return Ok(false);
            }
            let found =
                (1..buf.len() - 1).find(|&i| buf[i] == 0xFF && buf[i + 1] & 0xF6 == 0xF0 && plausible(&buf[i..]));
            let step = match found {
                Some(i) => i,
                None => buf.len() - 1,
            };
            self.stats.bytes_skipped += step as u64;
            self.pos += step as u64;
            self.input.release(self.pos);
            if found.is_some() {
                self.stats.resyncs += 1;
                return Ok(true);
            }
        }
    }
}

impl Demuxer for AdtsDemuxer {
    fn streams(&self) -> &[StreamInfo] {
        &self.streams
    }

    fn next_packet(&mut self) -> Result<Option<PacketView<'_>>> {
        let h = loop {
            let head = self.input.get(self.pos, 9)?;
            if head.is_empty() {
                return Ok(None);
            }
            if let Some(h) = AdtsHeader::parse(head) {
                break h;
            }
            if head.len() < 7 || !self.resync()? {
                // A few stray bytes at the end: not a frame.
                self.stats.truncated = true;
                return Ok(None);
            }
        };
        let start = self.pos;
        let len = h.frame_len as usize;
        let data_len = self.input.get(start, len)?.len();
        if data_len < len {
            self.stats.truncated = true;
            self.pos += data_len as u64;
            return Ok(None);
        }
        self.pos += len as u64;
        self.stats.bytes_read = self.pos;
        let pts = self.samples;
        let dur = 1024 * h.raw_blocks as i64;
        self.samples += dur;
        self.input.release(start);
        let data = self.input.get(start, len)?;
        Ok(Some(PacketView {
            stream: 0,
            data,
            pts: Some(pts),
            dts: Some(pts),
            duration: Some(dur),
            keyframe: true,
            pos: Some(start),
        }))
    }

    fn stats(&self) -> DemuxStats {
        self.stats.clone()
    }

    fn format_name(&self) -> &'static str {
        "aac"
    }

    fn input_len(&self) -> Option<u64> {
        self.input.len()
    }
}
