//! MPEG-1/2 audio layers II and III (`.mp2`, `.mp3`): one packet per frame.

use super::framed::{FrameFormat, FrameWalk};
use super::id3v2_len;
use crate::{DemuxStats, Demuxer, Input};
use transcode_codec::describe;
use transcode_codec::mpega::FrameHeader;
use transcode_core::{BitstreamFormat, CodecId, Error, MemoryConfig, PacketView, Result, StreamInfo, TimeBase};

/// One packet per frame, with `pts` counting samples in a `1/sample_rate` time base.
/// A leading ID3v2 tag is skipped, and so is a Xing/Info/VBRI header frame (it carries
/// no audio; FFmpeg does not return it either). A trailing ID3v1 or APE tag ends the
/// stream.
#[derive(Debug)]
pub struct MpegAudioDemuxer {
    walk: FrameWalk,
    streams: Vec<StreamInfo>,
    format: MpegAudio,
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
            walk: FrameWalk::new(input, pos),
            streams: vec![info],
            format: MpegAudio { layer: h.layer, sample_rate: h.sample_rate },
        })
    }
}

/// MPEG audio framing for [`FrameWalk`], with the layer and rate of the first frame:
/// a resynchronisation must find the same.
#[derive(Debug)]
struct MpegAudio {
    layer: u8,
    sample_rate: u32,
}

impl FrameFormat for MpegAudio {
    const HEAD: usize = 8;
    const MIN: usize = 4;

    fn header(&self, b: &[u8]) -> Option<(usize, i64)> {
        FrameHeader::parse(b).map(|h| (h.frame_len as usize, h.samples as i64))
    }

    fn plausible(&self, b: &[u8]) -> bool {
        FrameHeader::parse(b).is_some_and(|h| {
            h.layer == self.layer && h.sample_rate == self.sample_rate && {
                let n = h.frame_len as usize;
                b.len() < n + 4 || FrameHeader::parse(&b[n..]).is_some_and(|g| compatible(&h, &g))
            }
        })
    }

    fn trailer(&self, b: &[u8]) -> bool {
        b.starts_with(b"TAG") || b.starts_with(b"APETAGEX")
    }
}

impl Demuxer for MpegAudioDemuxer {
    fn streams(&self) -> &[StreamInfo] {
        &self.streams
    }

    fn next_packet(&mut self) -> Result<Option<PacketView<'_>>> {
        self.walk.next(&self.format)
    }

    fn stats(&self) -> DemuxStats {
        self.walk.stats.clone()
    }

    fn format_name(&self) -> &'static str {
        "mp3"
    }

    fn input_len(&self) -> Option<u64> {
        self.walk.input.len()
    }
}
