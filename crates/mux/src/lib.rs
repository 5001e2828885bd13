//! Muxers: packets in, container bytes out.
//!
//! # Design principles
//!
//! - A muxer receives [`PacketView`]s in the framing the demuxer delivered (see
//!   [`StreamInfo::format`]) and converts to what its container needs (Annex-B to
//!   length-prefixed for MP4, raw AAC to ADTS for TS, and so on) using `transcode-codec`.
//! - Timestamps are preserved exactly: composition offsets for B-frames, an edit list
//!   where the first presentation time is not zero.
//! - A muxer never buffers payloads beyond one MP4 fragment: bytes go to the writer as
//!   packets arrive. No heap state grows with the input: a progressive MP4's per-sample
//!   records go to an unlinked temporary file and are streamed into the moov.
//! - Faststart MP4 (moov before mdat) needs every sample's size before the first byte of
//!   data is written. Such a muxer says so with [`Muxer::wants_plan_pass`]; the driver then
//!   demuxes the (memory-mapped) input twice: once calling [`Muxer::plan_packet`], once
//!   calling [`Muxer::write_packet`] with the same packets in the same order.

#![forbid(unsafe_code)]

use transcode_core::{PacketView, Result, StreamInfo};

pub mod es;
pub mod mp4;
pub mod ts;

/// A container writer.
///
/// Call order: (`plan_packet`* if `wants_plan_pass`), `begin`, `write_packet`*, `finish`.
/// Packets refer to streams by their index in the slice given to `begin` (and, during
/// planning, carry the same indices).
pub trait Muxer {
    /// Whether the muxer needs every packet's size and timing before writing.
    fn wants_plan_pass(&self) -> bool {
        false
    }
    /// Records one packet's size and timing in the planning pass; no data is written.
    fn plan_packet(&mut self, _stream: &StreamInfo, _pkt: &PacketView<'_>) -> Result<()> {
        Ok(())
    }
    /// Starts the output with the full list of streams.
    fn begin(&mut self, streams: &[StreamInfo]) -> Result<()>;
    /// Writes one packet.
    fn write_packet(&mut self, pkt: &PacketView<'_>) -> Result<()>;
    /// Writes trailers and flushes. Nothing may be written after.
    fn finish(&mut self) -> Result<()>;
    /// Bytes written so far.
    fn bytes_written(&self) -> u64;
}
