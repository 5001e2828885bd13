//! Bytes to packet views.
//!
//! # Design principles
//!
//! - The input is memory-mapped ([`Input::open`]) so that a packet of an MP4 or an
//!   elementary stream is a slice of the map: no read into a buffer, no copy.
//! - Pipes and files that cannot be mapped go through the same demuxer code, fed from a
//!   bounded read buffer ([`Input`]'s streaming form); only forward access is possible.
//! - The format is found from the content ([`probe::detect`]), never from the name.
//! - Demuxers implement [`Demuxer`]: a lending iterator whose [`PacketView`]s borrow the
//!   demuxer until the next call. [`bridge`] turns views into owned [`Packet`]s where a
//!   stage needs ownership, slicing the shared map instead of copying where it can.
//!
//! [`PacketView`]: transcode_core::PacketView
//! [`Packet`]: transcode_core::Packet
//!
//! ```
//! use transcode_demux_bridge::{open_demuxer, Input};
//! use transcode_core::MemoryConfig;
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/ts/h264_aac.ts");
//! let input = Input::open(path.as_ref(), &MemoryConfig::default()).unwrap();
//! let mut demux = open_demuxer(input, &MemoryConfig::default()).unwrap();
//! let mut packets = 0;
//! while let Some(pkt) = demux.next_packet().unwrap() {
//!     assert!(!pkt.data.is_empty());
//!     packets += 1;
//! }
//! assert!(packets > 0);
//! assert_eq!(demux.streams().len(), 2);
//! ```

pub mod bridge;
pub mod es;
pub mod input;
pub mod mp4;
pub mod probe;
pub mod ps;
pub mod ts;

pub use input::Input;
pub use probe::{detect, Format};

use transcode_core::{MemoryConfig, PacketView, Result, StreamInfo};

/// Counters of recoverable problems a demuxer met. None of them stops demuxing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemuxStats {
    /// Bytes of input consumed.
    pub bytes_read: u64,
    /// Times sync was lost and found again (TS), with the bytes skipped. Bytes before
    /// the first packet (junk a capture tool wrote first, a file cut mid-packet) are
    /// skipped and counted in `bytes_skipped`, but are no resync.
    pub resyncs: u64,
    pub bytes_skipped: u64,
    /// MPEG-TS continuity-counter errors (a packet lost or duplicated).
    pub cc_errors: u64,
    /// MPEG-TS discontinuity indicators seen.
    pub discontinuities: u64,
    /// PSI sections whose CRC did not match.
    pub crc_errors: u64,
    /// Packets dropped as unusable (a PES without a header, a frame with a bad header).
    pub dropped_packets: u64,
    /// Packets cut short by the end of the input, not delivered: a PES short of its
    /// declared length (or without one, when the input ends inside a transport
    /// packet), a frame or sample that runs past the end.
    pub cut_packets: u64,
    /// MP4 samples whose data starts past the end of the file (an index that does not
    /// belong to this file, or a file cut before its media data). Demuxing stops at the
    /// first.
    pub samples_past_end: u64,
    /// Whether the input ended in the middle of a structure (a truncated file).
    pub truncated: bool,
}

impl DemuxStats {
    /// What went wrong, in a few words for an error message: `"1 sample pointed past
    /// the end of the file"`, `"the input ends inside a packet; 1 packet cut short"`;
    /// `None` when nothing did. Leading bytes skipped before the first packet are
    /// mentioned too: they explain a file that is not what its name says.
    pub fn summary(&self) -> Option<String> {
        fn n(count: u64, one: &str, many: &str) -> String {
            format!("{count} {}", if count == 1 { one } else { many })
        }
        let mut parts = Vec::new();
        if self.resyncs > 0 {
            parts.push(format!("{} ({} bytes skipped)", n(self.resyncs, "resync", "resyncs"), self.bytes_skipped));
        } else if self.bytes_skipped > 0 {
            parts.push(format!("{} bytes skipped before the first packet", self.bytes_skipped));
        }
        if self.cc_errors > 0 {
            parts.push(n(self.cc_errors, "continuity error", "continuity errors"));
        }
        if self.crc_errors > 0 {
            parts.push(n(self.crc_errors, "table with a bad CRC", "tables with a bad CRC"));
        }
        if self.dropped_packets > 0 {
            parts.push(n(self.dropped_packets, "damaged packet dropped", "damaged packets dropped"));
        }
        if self.samples_past_end > 0 {
            parts.push(n(self.samples_past_end, "sample pointed past the end of the file", "samples pointed past the end of the file"));
        }
        if self.cut_packets > 0 {
            parts.push(n(self.cut_packets, "packet cut short by the end of the input", "packets cut short by the end of the input"));
        } else if self.truncated && self.samples_past_end == 0 {
            parts.push("the input is cut short".to_string());
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// A container or elementary-stream reader.
///
/// `next_packet` lends a view that borrows the demuxer; it is valid until the next call.
/// Streams may be discovered lazily (an MPEG-TS audio stream can first appear megabytes
/// into a file): `streams()` only grows, and every packet's `stream` indexes it.
pub trait Demuxer {
    /// The streams found so far.
    fn streams(&self) -> &[StreamInfo];
    /// The next packet in file order, or `None` at the end of the input.
    fn next_packet(&mut self) -> Result<Option<PacketView<'_>>>;
    /// Counters of what went wrong without stopping the demuxer.
    fn stats(&self) -> DemuxStats;
    /// The container's name, e.g. `"mpegts"`.
    fn format_name(&self) -> &'static str;
    /// Total input length in bytes, if known (for progress).
    fn input_len(&self) -> Option<u64>;
    /// What the input held so far, in a few words, for the error that says no stream
    /// was found in it: `"2000 TS packets, no PAT/PMT"`, `"moov without tracks"`.
    /// Empty when there is nothing to add.
    fn contents(&self) -> String {
        String::new()
    }
}

/// Detects the input's format and opens the matching demuxer.
pub fn open_demuxer(mut input: Input, config: &MemoryConfig) -> Result<Box<dyn Demuxer + Send>> {
    let format = probe::detect(&mut input)?;
    open_demuxer_as(input, format, config)
}

/// Opens a demuxer for a known format.
pub fn open_demuxer_as(input: Input, format: Format, config: &MemoryConfig) -> Result<Box<dyn Demuxer + Send>> {
    Ok(match format {
        Format::MpegTs { packet_size } => Box::new(ts::TsDemuxer::new(input, packet_size, config)?),
        Format::Mp4 => Box::new(mp4::Mp4Demuxer::new(input, config)?),
        Format::MpegPs => Box::new(ps::PsDemuxer::new(input, config)?),
        Format::H264 => Box::new(es::AnnexBDemuxer::new(input, transcode_core::CodecId::H264, config)?),
        Format::H265 => Box::new(es::AnnexBDemuxer::new(input, transcode_core::CodecId::H265, config)?),
        Format::Adts => Box::new(es::AdtsDemuxer::new(input, config)?),
        Format::MpegAudio => Box::new(es::MpegAudioDemuxer::new(input, config)?),
        Format::Y4m => Box::new(es::Y4mDemuxer::new(input, config)?),
        Format::MpegVideo => Box::new(es::MpegVideoDemuxer::new(input, config)?),
    })
}
