//! MPEG-1/2 audio layers II and III (`.mp2`, `.mp3`): one packet per frame.

use super::id3v2_len;
use crate::{DemuxStats, Demuxer, Input};
use transcode_codec::describe;
use transcode_codec::mpega::FrameHeader;
use transcode_core::{BitstreamFormat, CodecId, Error, MemoryConfig, PacketView, Result, StreamInfo, TimeBase};

/// How far the demuxer searches for the next frame header after a damaged one.
const RESYNC_WINDOW: usize = 64 * 1024;

/// One packet per frame, with `pts` counting samples in a `1/sample_rate` time base.
/// A leading ID3v2 tag is skipped, and so is a Xing/Info/VBRI header frame (it carries
/// no audio; FFmpeg does not return it either). A trailing ID3v1 or APE tag ends the
/// stream.
#[derive(Debug)]
pub struct MpegAudioDemuxer {
    input: Input,
    streams: Vec<StreamInfo>,
    pos: u64,
    samples: i64,
    /// Layer and rate of the first frame: a resynchronisation must find the same.
    layer: u8,
    sample_rate: u32,
    stats: DemuxStats,
}

/// Offset of the Xing/Info tag inside a layer III frame: after the side information.
fn xing_offset(h: &FrameHeader) -> usize {
    match (h.version, h.channels) {
        (1, 1) => 4 + 17,
        (1, _) => 4 + 32,
        (_, 1) => 4 + 9,
        _ => 4 + 17,
    }
}

fn compatible(a: &FrameHeader, b: &FrameHeader) -> bool {
    a.layer == b.layer && a.version == b.version && a.sample_rate == b.sample_rate
}

impl MpegAudioDemuxer {
    /// Opens the stream and reads the first frame header.
    pub fn new(mut input: Input, _config: &MemoryConfig) -> Result<Self> {
        let mut pos = id3v2_len(&mut input, 0)?;
        let head: [u8; 4] = input.get(pos, 4)?.try_into().unwrap_or([0; 4]);
        let h = FrameHeader::parse(&head)
            .ok_or_else(|| Error::invalid_at(pos, "no mpeg audio frame header (expected the sync word 0xffe)"))?;
        let codec = match h.layer {
            2 => CodecId::Mp2,
            3 => CodecId::Mp3,
            _ => return Err(Error::unsupported("mpeg audio layer i")),
        };
        if h.layer == 3 {
            let frame = input.get(pos, h.frame_len as usize)?;
            let off = xing_offset(&h);
            let tag = frame.get(off..off + 4);
            if matches!(tag, Some(b"Xing") | Some(b"Info")) || frame.get(36..40) == Some(b"VBRI") {
                pos += h.frame_len as u64;
            }
        }
        let mut info = StreamInfo::new(0, 1, codec, BitstreamFormat::Raw, TimeBase::new(1, h.sample_rate));
        describe(&mut info, &head);
        Ok(MpegAudioDemuxer {
            input,
            streams: vec![info],
            pos,
            samples: 0,
            layer: h.layer,
            sample_rate: h.sample_rate,
            stats: DemuxStats { bytes_read: pos, ..Default::default() },
        })
    }

    fn resync(&mut self) -> Result<bool> {
        loop {
            let buf = self.input.get(self.pos, RESYNC_WINDOW)?;
            if buf.len() < 4 {
                return Ok(false);
            }
            let found = (1..buf.len() - 3).find(|&i| {
                FrameHeader::parse(&buf[i..]).is_some_and(|h| {
                    h.layer == self.layer && h.sample_rate == self.sample_rate && {
                        let n = i + h.frame_len as usize;
                        buf.len() < n + 4 || FrameHeader::parse(&buf[n..]).is_some_and(|g| compatible(&h, &g))
                    }
                })
            });
            let step = found.unwrap_or(buf.len() - 3);
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

impl Demuxer for MpegAudioDemuxer {
    fn streams(&self) -> &[StreamInfo] {
        &self.streams
    }

    fn next_packet(&mut self) -> Result<Option<PacketView<'_>>> {
        let h = loop {
            let head = self.input.get(self.pos, 8)?;
            if head.is_empty() || head.starts_with(b"TAG") || head.starts_with(b"APETAGEX") {
                return Ok(None);
            }
            if let Some(h) = FrameHeader::parse(head) {
                break h;
            }
            if head.len() < 4 || !self.resync()? {
                self.stats.truncated = true;
                return Ok(None);
            }
        };
        let start = self.pos;
        let len = h.frame_len as usize;
        let got = self.input.get(start, len)?.len();
        if got < len {
            self.stats.truncated = true;
            self.pos += got as u64;
            return Ok(None);
        }
        self.pos += len as u64;
        self.stats.bytes_read = self.pos;
        let pts = self.samples;
        self.samples += h.samples as i64;
        self.input.release(start);
        let data = self.input.get(start, len)?;
        Ok(Some(PacketView {
            stream: 0,
            data,
            pts: Some(pts),
            dts: Some(pts),
            duration: Some(h.samples as i64),
            keyframe: true,
            pos: Some(start),
        }))
    }

    fn stats(&self) -> DemuxStats {
        self.stats.clone()
    }

    fn format_name(&self) -> &'static str {
        "mp3"
    }

    fn input_len(&self) -> Option<u64> {
        self.input.len()
    }
}
