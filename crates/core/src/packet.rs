//! Packets: borrowed views and owned copies.

use bytes::Bytes;

/// One compressed frame (an access unit, an audio frame), borrowing its bytes.
///
/// ```text
///   input map / reassembly buffer
///   ┌───────────────────────────────────────────┐
///   │ ... │ packet bytes │ ...                    │
///   └───────▲──────────────▲─────────────────────┘
///           └── data ──────┘  (&'a [u8], no copy)
/// ```
///
/// Where the bytes are contiguous in the input (an MP4 sample, an elementary-stream
/// frame) `data` points straight into the memory map. Where they are not (a PES spread
/// over many 188-byte TS packets) the demuxer reassembles them into a buffer it owns and
/// reuses, and `data` borrows that buffer until the next call to the demuxer.
///
/// # Timing
///
/// `pts` and `dts` count ticks of the stream's [`crate::TimeBase`], already unwrapped
/// onto a monotonic 64-bit timeline (see [`crate::Unwrap33`]). `None` means the
/// container gave no value for this packet. `dts <= pts` for every packet of a valid
/// stream; they differ for pictures that are decoded before they are shown (B-frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketView<'a> {
    /// Index into the demuxer's stream list.
    pub stream: usize,
    pub data: &'a [u8],
    pub pts: Option<i64>,
    pub dts: Option<i64>,
    /// Duration in time-base ticks, when known.
    pub duration: Option<i64>,
    /// A random-access point: an IDR or I picture with what it needs, or any audio frame.
    pub keyframe: bool,
    /// Byte offset in the input where the packet (or its first piece) starts.
    pub pos: Option<u64>,
}

impl<'a> PacketView<'a> {
    /// Copies the view into an owned [`Packet`] with a fresh allocation. Pipelines that
    /// care about allocations use `transcode_demux_bridge`'s bridge instead, which slices
    /// the shared map without copying or copies into a pooled buffer.
    pub fn to_packet(&self) -> Packet {
        self.with_data(Bytes::copy_from_slice(self.data))
    }

    /// An owned packet with this view's metadata and the given bytes.
    pub fn with_data(&self, data: Bytes) -> Packet {
        Packet {
            stream: self.stream,
            data,
            pts: self.pts,
            dts: self.dts,
            duration: self.duration,
            keyframe: self.keyframe,
            pos: self.pos,
        }
    }
}

/// An owned packet: the same fields as [`PacketView`] with reference-counted bytes.
///
/// `Bytes` lets the owner be a slice of a shared memory map (no copy), a pooled buffer
/// that returns to its pool when the last reference drops, or a plain allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub stream: usize,
    pub data: Bytes,
    pub pts: Option<i64>,
    pub dts: Option<i64>,
    pub duration: Option<i64>,
    pub keyframe: bool,
    pub pos: Option<u64>,
}

impl Packet {
    /// A borrowed view of this packet.
    pub fn view(&self) -> PacketView<'_> {
        PacketView {
            stream: self.stream,
            data: &self.data,
            pts: self.pts,
            dts: self.dts,
            duration: self.duration,
            keyframe: self.keyframe,
            pos: self.pos,
        }
    }
}
