//! MPEG transport stream demuxer (188-byte TS and 192-byte M2TS packets).

use crate::{DemuxStats, Demuxer, Input};
use transcode_core::{Error, MemoryConfig, PacketView, Result, StreamInfo};

/// Demuxes MPEG-TS and M2TS.
#[derive(Debug)]
pub struct TsDemuxer {
    streams: Vec<StreamInfo>,
}

impl TsDemuxer {
    pub fn new(_input: Input, _packet_size: usize, _config: &MemoryConfig) -> Result<Self> {
        Err(Error::unsupported("mpeg-ts demuxing is not built yet"))
    }
}

impl Demuxer for TsDemuxer {
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
        "mpegts"
    }
    fn input_len(&self) -> Option<u64> {
        None
    }
}
