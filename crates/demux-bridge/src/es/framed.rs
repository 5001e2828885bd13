//! The frame walk shared by the framed-audio demuxers (ADTS AAC, MPEG audio): frames
//! are self-delimiting (each header gives the frame's length), one packet per frame,
//! with a bounded search for the next plausible header after damage.

use crate::{DemuxStats, Input};
use transcode_core::{PacketView, Result};

/// How far one step of the search for the next frame header reads after a damaged one.
const RESYNC_WINDOW: usize = 64 * 1024;

/// What a framed-audio format tells the walk about the bytes at a position.
pub(crate) trait FrameFormat {
    /// Bytes read at a frame boundary for [`header`](Self::header) and
    /// [`trailer`](Self::trailer).
    const HEAD: usize;
    /// The fewest bytes a header can be parsed from.
    const MIN: usize;
    /// Length in bytes and duration in samples of the frame whose header starts `b`.
    fn header(&self, b: &[u8]) -> Option<(usize, i64)>;
    /// Whether a header starts `b` and is followed by a compatible one (or by the end
    /// of `b`), i.e. a place to resume after damage.
    fn plausible(&self, b: &[u8]) -> bool;
    /// Whether `b`, at a frame boundary, starts a trailing tag that ends the stream.
    fn trailer(&self, _b: &[u8]) -> bool {
        false
    }
}

/// Position, sample count and statistics of a walk through the frames of an input.
#[derive(Debug)]
pub(crate) struct FrameWalk {
    pub input: Input,
    pub pos: u64,
    samples: i64,
    pub stats: DemuxStats,
}

impl FrameWalk {
    /// Starts at `pos` (after any leading tag, which counts as read).
    pub fn new(input: Input, pos: u64) -> Self {
        FrameWalk {
            input,
            pos,
            samples: 0,
            stats: DemuxStats {
                bytes_read: pos,
                ..Default::default()
            },
        }
    }

    /// The next frame as a packet whose `pts` counts samples; `None` at the end, after a
    /// trailing tag, or when the rest of the input holds no whole frame (then
    /// `stats.truncated` is set).
    pub fn next<F: FrameFormat>(&mut self, format: &F) -> Result<Option<PacketView<'_>>> {
        let (len, dur) = loop {
            let head = self.input.get(self.pos, F::HEAD)?;
            if head.is_empty() || format.trailer(head) {
                return Ok(None);
            }
            if let Some(h) = format.header(head) {
                break h;
            }
            if head.len() < F::MIN || !self.resync(format)? {
                // A few stray bytes at the end: not a frame.
                self.stats.truncated = true;
                return Ok(None);
            }
        };
        let start = self.pos;
        let got = self.input.get(start, len)?.len();
        if got < len {
            // A frame cut short by the end of the input: counted, not delivered.
            self.stats.truncated = true;
            self.stats.cut_packets += 1;
            self.pos += got as u64;
            return Ok(None);
        }
        self.pos += len as u64;
        self.stats.bytes_read = self.pos;
        let pts = self.samples;
        self.samples += dur;
        self.input.release(start);
        let data = self.input.get(start, len)?;
        Ok(Some(PacketView {
            stream: 0,
            data,
            pts: Some(pts),
            dts: Some(pts),
            duration: Some(dur),
            keyframe: true,
            pos: Some(start),
        }))
    }

    /// Moves past damage to the next plausible header after `pos`; false when the
    /// input ends first. Only candidates whose header lies wholly inside the window
    /// are tried, the others wait for the next window, so the outcome does not depend
    /// on where windows end.
    fn resync<F: FrameFormat>(&mut self, format: &F) -> Result<bool> {
        loop {
            let buf = self.input.get(self.pos, RESYNC_WINDOW)?;
            if buf.len() < F::MIN {
                return Ok(false);
            }
            let last = buf.len() - F::MIN;
            let found = (1..=last).find(|&i| format.plausible(&buf[i..]));
            let step = found.unwrap_or(last + 1);
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
