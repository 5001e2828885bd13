//! AAC in ADTS frames (`.aac`): one packet per frame, header included.

use super::framed::{FrameFormat, FrameWalk};
use super::id3v2_len;
use crate::{DemuxStats, Demuxer, Input};
use transcode_codec::aac::AdtsHeader;
use transcode_codec::describe;
use transcode_core::{BitstreamFormat, CodecId, Error, MemoryConfig, PacketView, Result, StreamInfo, TimeBase};

/// One packet per ADTS frame (format [`BitstreamFormat::Adts`]), with `pts` counting
/// samples in a `1/sample_rate` time base.
#[derive(Debug)]
pub struct AdtsDemuxer {
    walk: FrameWalk,
    streams: Vec<StreamInfo>,
}

/// ADTS framing for [`FrameWalk`].
struct Adts;

impl FrameFormat for Adts {
    const HEAD: usize = 9;
    const MIN: usize = 7;

    fn header(&self, b: &[u8]) -> Option<(usize, i64)> {
        AdtsHeader::parse(b).map(|h| (h.frame_len as usize, 1024 * h.raw_blocks as i64))
    }

    fn plausible(&self, b: &[u8]) -> bool {
        // The sync word and layer 0 first: most bytes fail this cheaply.
        if b.len() < 2 || b[0] != 0xFF || b[1] & 0xF6 != 0xF0 {
            return false;
        }
        match AdtsHeader::parse(b) {
            Some(h) => {
                let n = h.frame_len as usize;
                b.len() < n + 7 || AdtsHeader::parse(&b[n..]).is_some()
            }
            None => false,
        }
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
        Ok(AdtsDemuxer { walk: FrameWalk::new(input, pos), streams: vec![info] })
    }
}

impl Demuxer for AdtsDemuxer {
    fn streams(&self) -> &[StreamInfo] {
        &self.streams
    }

    fn next_packet(&mut self) -> Result<Option<PacketView<'_>>> {
        self.walk.next(&Adts)
    }

    fn stats(&self) -> DemuxStats {
        self.walk.stats.clone()
    }

    fn format_name(&self) -> &'static str {
        "aac"
    }

    fn input_len(&self) -> Option<u64> {
        self.walk.input.len()
    }
}
