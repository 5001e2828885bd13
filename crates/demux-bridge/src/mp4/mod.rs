//! ISO base media (MP4, MOV, fragmented MP4) demuxer.

use crate::{DemuxStats, Demuxer, Input};
use transcode_core::{Error, MemoryConfig, PacketView, Result, StreamInfo};

/// Demuxes MP4.
#[derive(Debug)]
pub struct Mp4Demuxer {
    streams: Vec<StreamInfo>,
}

impl Mp4Demuxer {
    pub fn new(_input: Input, _config: &MemoryConfig) -> Result<Self> {
        Err(Error::unsupported("mp4 demuxing is not built yet"))
    }
}

impl Demuxer for Mp4Demuxer {
    fn streams(&self) -> &[StreamInfo] {
        &self.streams
    }
    fn next_packet(&mut self) -> Result<Option<PacketView<'_>>> {
        Ok(None)
    }
    fn stats(&self) -> DemuxStats {
        DemuxStats::default()
    }
    fn format_name(&self) -> &'static str {
        "mp4"
    }
    fn input_len(&self) -> Option<u64> {
        None
    }
}
