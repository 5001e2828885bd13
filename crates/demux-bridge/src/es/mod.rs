//! Elementary-stream demuxers: Annex-B H.264/H.265, MPEG-1/2 video, ADTS AAC, MPEG audio,
//! Y4M.
//!
//! # Design
//!
//! Every packet is a slice of the input (`input.get`), zero-copy on a mapped file. On a
//! pipe the demuxers only move forward and [`Input::release`](crate::Input::release)
//! what they have returned, so the read buffer stays bounded by the largest packet
//! (checked against [`MemoryConfig::max_packet_size`](transcode_core::MemoryConfig)).
//!
//! # Timing
//!
//! Elementary streams carry no timestamps. Annex-B video packets are timed in a 1/90000
//! time base with the frame duration from the SPS (25 fps when the stream does not
//! say): `dts = (index - reorder depth) × duration` and `pts = display slot × duration`,
//! the slot coming from the picture order count (see `order`), so that B-frames keep
//! their display order. Y4M frames get `dts = pts = index` in `1/fps` ticks; audio
//! packets count samples in a `1/sample_rate` time base.

mod adts;
mod annexb;
mod framed;
mod mpega;
mod mpegvideo;
mod order;
mod y4m;

pub use adts::AdtsDemuxer;
pub use annexb::AnnexBDemuxer;
pub use mpega::MpegAudioDemuxer;
pub use mpegvideo::MpegVideoDemuxer;
pub use y4m::Y4mDemuxer;

use crate::Input;
use transcode_core::Result;

/// Length of an ID3v2 tag at `pos` (header, body and optional footer), 0 if none.
pub(crate) fn id3v2_len(input: &mut Input, pos: u64) -> Result<u64> {
    let h = input.get(pos, 10)?;
    if h.len() < 10 || &h[..3] != b"ID3" || h[6..10].iter().any(|b| b & 0x80 != 0) {
        return Ok(0);
    }
    let size = h[6..10].iter().fold(0u64, |a, &b| (a << 7) | (b & 0x7F) as u64);
    let footer = if h[5] & 0x10 != 0 { 10 } else { 0 };
    Ok(10 + size + footer)
}
