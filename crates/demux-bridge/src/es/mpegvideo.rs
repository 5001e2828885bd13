//! MPEG-1/MPEG-2 video elementary streams (`.m2v`, `.m1v`), split into one packet per
//! coded frame.

use crate::{DemuxStats, Demuxer, Input};
use transcode_codec::mpeg2v::{parse_picture_coding, start_code};
use transcode_codec::nal::find_start_code;
use transcode_codec::{describe, is_keyframe};
use transcode_core::{BitstreamFormat, CodecId, Error, MemoryConfig, PacketView, Result, StreamInfo, TimeBase};

/// First read of a packet; doubled until the packet's end is in the window.
const FIRST_WINDOW: usize = 256 * 1024;
/// Bytes after a picture start code that hold its header and coding extension.
const PICTURE_PEEK: usize = 64;

/// Splits an MPEG video elementary stream into coded frames.
///
/// A packet starts at a sequence header, GOP header or picture header that follows the
/// slices of the previous picture, so that sequence and GOP headers travel with the
/// picture after them; the two field pictures of a frame stay in one packet. A sequence
/// end code goes with the picture before it.
///
/// # Timing
///
/// The stream has no timestamps. Packets are timed in 1/90000 with the frame duration
/// of the sequence header (25 fps when it is not valid): `dts = index × duration`, and
/// `pts = (frames before the GOP + temporal_reference + delay) × duration`, the delay
/// being one frame unless the sequence says `low_delay` (no B pictures), so that pts
/// never precedes dts. `repeat_first_field` is not counted: pulldown material keeps its
/// coded frame rate.
#[derive(Debug)]
pub struct MpegVideoDemuxer {
    input: Input,
    streams: Vec<StreamInfo>,
    max_packet: u64,
    /// Start of the next packet.
    pos: u64,
    eof: bool,
    described: bool,
    index: i64,
    frame_duration: i64,
    delay: i64,
    /// Display index of temporal_reference 0 in the current GOP.
    gop_base: i64,
    last_pts_slot: i64,
    stats: DemuxStats,
}

/// What one scan found: where the packet ends and what its first picture says.
#[derive(Debug, Default, Clone, Copy)]
struct Unit {
    end: u64,
    gop: bool,
    temporal_reference: Option<i64>,
}

impl MpegVideoDemuxer {
    /// Opens the stream at its first sequence header (what precedes it is counted as
    /// skipped) and describes it from its first frame.
    pub fn new(mut input: Input, config: &MemoryConfig) -> Result<Self> {
        let head = input.get(0, FIRST_WINDOW)?;
        let start = (0..head.len().saturating_sub(3))
            .find(|&i| head[i..i + 4] == [0, 0, 1, start_code::SEQUENCE_HEADER])
            .ok_or_else(|| Error::invalid_at(0, "no mpeg video sequence header in the first 256 KiB"))?;
        // MPEG-2 when a sequence extension follows the sequence header, MPEG-1 otherwise.
        let codec = transcode_codec::mpeg2v::video_codec(&head[start..]).unwrap_or(CodecId::Mpeg2Video);
        let mut d = MpegVideoDemuxer {
            input,
            streams: vec![StreamInfo::new(0, 1, codec, BitstreamFormat::Raw, TimeBase::MPEG)],
            max_packet: config.max_packet_size,
            pos: start as u64,
            eof: false,
            described: false,
            index: 0,
            frame_duration: 3600,
            delay: 1,
            gop_base: 0,
            last_pts_slot: -1,
            stats: DemuxStats { bytes_skipped: start as u64, bytes_read: start as u64, ..Default::default() },
        };
        d.input.release(start as u64);
        Ok(d)
    }

    /// Finds the end of the packet that starts at `self.pos`.
    fn scan(&mut self) -> Result<Option<Unit>> {
        let mut window = FIRST_WINDOW;
        loop {
            let buf = self.input.get(self.pos, window)?;
            if buf.is_empty() {
                return Ok(None);
            }
            let at_end = buf.len() < window;
            if let Some(u) = cut(buf, at_end) {
                return Ok(Some(Unit { end: self.pos + u.end, ..u }));
            }
            if window as u64 > self.max_packet {
                return Err(Error::LimitExceeded { what: "mpeg video frame bytes", requested: window as u64, limit: self.max_packet });
            }
            window *= 2;
        }
    }
}

/// The frame duration in 1/90000 and the reorder delay in frames, from the sequence
/// header at the start of `data`, if there is one.
fn timing(data: &[u8]) -> Option<(i64, i64)> {
    let seq = transcode_codec::mpeg2v::parse_sequence_header(data)?;
    let (num, den) = seq.frame_rate?;
    let dur = 90_000i64 * den as i64 / num.max(1) as i64;
    let delay = if seq.low_delay { 0 } else { 1 };
    (dur > 0).then_some((dur, delay))
}

/// The packet boundary in `buf` (which starts at a packet's first start code), or
/// `None` when `buf` ends before it and is not the end of the input.
fn cut(buf: &[u8], at_end: bool) -> Option<Unit> {
    let mut unit = Unit::default();
    let mut seen_slice = false;
    // Field pictures of the current frame: the structure of the first, and how many.
    let mut fields = 0u8;
    let mut first_structure = 3u8;
    let mut pos = 0;
    while let Some(sc) = find_start_code(buf, pos) {
        let Some(&code) = buf.get(sc + 3) else { break };
        let first_unit = sc == 0;
        match code {
            start_code::SEQUENCE_END => return Some(Unit { end: (sc + 4) as u64, ..unit }),
            start_code::SEQUENCE_HEADER | start_code::GOP if seen_slice && !first_unit => {
                return Some(Unit { end: sc as u64, ..unit })
            }
            start_code::GOP => unit.gop = true,
            start_code::PICTURE => {
                let Some(peek) = buf.get(sc..(sc + PICTURE_PEEK).min(buf.len())) else { break };
                if peek.len() < PICTURE_PEEK && !at_end {
                    return None;
                }
                // 3, a frame, without a coding extension (MPEG-1).
                let structure = parse_picture_coding(peek).map_or(3, |p| p.picture_structure);
                if seen_slice {
                    // The second field of a frame stays with the first.
                    let second_field = fields == 1 && first_structure != 3 && structure != 3 && structure != first_structure;
                    if !second_field {
                        return Some(Unit { end: sc as u64, ..unit });
                    }
                    seen_slice = false;
                }
                if fields == 0 {
                    first_structure = structure;
                    unit.temporal_reference = peek.get(4..6).map(|b| ((b[0] as i64) << 2) | (b[1] as i64 >> 6));
                }
                fields += 1;
            }
            0x01..=0xAF => seen_slice = true,
            _ => {}
        }
        pos = sc + 3;
    }
    at_end.then_some(Unit { end: buf.len() as u64, ..unit })
}

impl Demuxer for MpegVideoDemuxer {
    fn streams(&self) -> &[StreamInfo] {
        &self.streams
    }

    fn next_packet(&mut self) -> Result<Option<PacketView<'_>>> {
        if self.eof {
            return Ok(None);
        }
        let Some(unit) = self.scan()? else {
            self.eof = true;
            return Ok(None);
        };
        let start = self.pos;
        let len = (unit.end - start) as usize;
        self.pos = unit.end;
        self.stats.bytes_read = unit.end;
        self.input.release(start);
        let data = self.input.get(start, len)?;
        if !self.described {
            self.described = describe(&mut self.streams[0], data);
            if let Some((dur, delay)) = timing(data) {
                (self.frame_duration, self.delay) = (dur, delay);
            }
        }
        if unit.gop {
            self.gop_base = self.index;
        }
        let dts = self.index * self.frame_duration;
        let slot = match unit.temporal_reference {
            Some(tr) => {
                let mut slot = self.gop_base + tr;
                // temporal_reference counts modulo 1024 between GOP headers.
                while slot + 512 < self.last_pts_slot {
                    self.gop_base += 1024;
                    slot += 1024;
                }
                slot
            }
            None => self.index,
        };
        self.last_pts_slot = slot;
        let pts = ((slot + self.delay) * self.frame_duration).max(dts);
        self.index += 1;
        let keyframe = is_keyframe(&self.streams[0], data);
        Ok(Some(PacketView { stream: 0, data, pts: Some(pts), dts: Some(dts), duration: Some(self.frame_duration), keyframe, pos: Some(start) }))
    }

    fn stats(&self) -> DemuxStats {
        self.stats.clone()
    }

    fn format_name(&self) -> &'static str {
        "mpegvideo"
    }

    fn input_len(&self) -> Option<u64> {
        self.input.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_pairs_are_one_packet_and_headers_go_with_the_next_picture() {
        // seq, gop, picture (top field), slice, picture (bottom field), slice,
        // picture (frame), slice.
        let field = |s: u8| [0, 0, 1, 0, 0, 0x08, 0, 0, 0, 0, 1, 0xB5, 0x8F, 0xFF, 0xF0 | s, 0x80, 0x80];
        let mut es = vec![0, 0, 1, 0xB3, 1, 2, 3, 4, 0, 0, 1, 0xB8, 0, 0, 0, 0];
        es.extend_from_slice(&field(1));
        es.extend_from_slice(&[0, 0, 1, 1, 9, 9]);
        let second = es.len();
        es.extend_from_slice(&field(2));
        es.extend_from_slice(&[0, 0, 1, 1, 9, 9]);
        let next = es.len();
        es.extend_from_slice(&field(3));
        es.extend_from_slice(&[0, 0, 1, 1, 9, 9]);
        let u = cut(&es, true).unwrap();
        assert!(u.end as usize == next && u.gop && second < next, "{u:?}");
        let u = cut(&es[next..], true).unwrap();
        assert_eq!(u.end as usize, es.len() - next);
        // A window that ends inside a picture header waits for more data.
        assert!(cut(&es[..next + 8], false).is_none());
    }
}
