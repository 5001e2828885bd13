//! Elementary-stream demuxers: Annex-B H.264/H.265, ADTS AAC, MPEG audio, Y4M.

use crate::{DemuxStats, Demuxer, Input};
use transcode_core::{CodecId, Error, MemoryConfig, PacketView, Result, StreamInfo};

macro_rules! stub {
    ($name:ident, $fmt:expr, ($($arg:ident: $ty:ty),*)) => {
        #[derive(Debug)]
        pub struct $name { streams: Vec<StreamInfo> }
        impl $name {
            pub fn new(_input: Input, $($arg: $ty,)* _config: &MemoryConfig) -> Result<Self> {
                $(let _ = $arg;)*
                Err(Error::unsupported(concat!($fmt, " demuxing is not built yet")))
            }
        }
        impl Demuxer for $name {
            fn streams(&self) -> &[StreamInfo] { &self.streams }
            fn next_packet(&mut self) -> Result<Option<PacketView<'_>>> { Ok(None) }
            fn stats(&self) -> DemuxStats { DemuxStats::default() }
            fn format_name(&self) -> &'static str { $fmt }
            fn input_len(&self) -> Option<u64> { None }
        }
    };
}

stub!(AnnexBDemuxer, "annexb", (codec: CodecId));
stub!(AdtsDemuxer, "aac", ());
stub!(MpegAudioDemuxer, "mp3", ());
stub!(Y4mDemuxer, "yuv4mpegpipe", ());
