//! PES packet headers: stream id, length, PTS and DTS.
//!
//! ```text
//!  00 00 01 │ stream_id │ PES_packet_length (16) │ flags │ PTS_DTS flags │ header_len │
//!  PTS (5 bytes)? DTS (5 bytes)? other fields … │ payload …
//! ```

/// The fields of a PES header the demuxer needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PesHeader {
    pub stream_id: u8,
    /// `PES_packet_length`: bytes after the length field, or 0 for an unbounded video PES.
    pub length: u16,
    /// Raw 33-bit PTS and DTS.
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    /// Offset of the payload from the start of the PES.
    pub payload_start: usize,
}

/// The total size of a PES whose first 6 bytes are `head`: `Some(0)` when unbounded,
/// `None` when `head` does not start with a PES start code.
#[inline]
pub fn declared_size(head: &[u8]) -> Option<usize> {
    if head.len() < 6 || head[0] != 0 || head[1] != 0 || head[2] != 1 {
        return None;
    }
    let len = u16::from_be_bytes([head[4], head[5]]) as usize;
    Some(if len == 0 { 0 } else { 6 + len })
}

/// Stream ids whose PES has no optional header (the payload follows the length).
fn has_no_optional_header(stream_id: u8) -> bool {
    matches!(stream_id, 0xBC | 0xBE | 0xBF | 0xF0 | 0xF1 | 0xF2 | 0xF8 | 0xFF)
}

/// Reads a 33-bit timestamp from its 5-byte field (marker bits are not checked, as
/// real muxers get them wrong).
fn timestamp(b: &[u8]) -> u64 {
    (((b[0] >> 1) & 7) as u64) << 30
        | (b[1] as u64) << 22
        | ((b[2] >> 1) as u64) << 15
        | (b[3] as u64) << 7
        | (b[4] >> 1) as u64
}

/// Parses the header at the start of a reassembled PES; `None` if it is not a PES or
/// its header runs past `pes`.
pub fn parse_header(pes: &[u8]) -> Option<PesHeader> {
    declared_size(pes)?;
    let stream_id = pes[3];
    let length = u16::from_be_bytes([pes[4], pes[5]]);
    if has_no_optional_header(stream_id) {
        return Some(PesHeader { stream_id, length, pts: None, dts: None, payload_start: 6 });
    }
    if pes.len() < 9 || pes[6] & 0xC0 != 0x80 {
        return None;
    }
    let flags = pes[7] >> 6;
    let header_len = pes[8] as usize;
    let payload_start = 9 + header_len;
    if payload_start > pes.len() {
        return None;
    }
    let fields = &pes[9..payload_start];
    let (pts, dts) = match flags {
        2 if fields.len() >= 5 => (Some(timestamp(&fields[..5])), None),
        3 if fields.len() >= 10 => (Some(timestamp(&fields[..5])), Some(timestamp(&fields[5..10]))),
        _ => (None, None),
    };
    Some(PesHeader { stream_id, length, pts, dts, payload_start })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pts_and_dts() {
        // The first video PES header of testdata/ts/h264_aac.ts: PTS 133200, DTS 126000.
        let h = [0, 0, 1, 0xE0, 0, 0, 0x80, 0xC0, 0x0A, 0x31, 0x00, 0x09, 0x10, 0xA1, 0x11, 0x00, 0x07, 0xD8, 0x61, 0xAA];
        let p = parse_header(&h).unwrap();
        assert_eq!((p.stream_id, p.length, p.payload_start), (0xE0, 0, 19));
        assert_eq!((p.pts, p.dts), (Some(133200), Some(126000)));
        assert_eq!(declared_size(&h), Some(0));
        assert_eq!(declared_size(&[0, 0, 1, 0xC0, 0x01, 0x00]), Some(262));
        assert!(parse_header(&h[..12]).is_none());
        assert!(parse_header(&[0, 0, 2, 0xE0, 0, 0, 0x80, 0, 0]).is_none());
    }

    #[test]
    fn full_33_bit_range() {
        let ts = (1u64 << 33) - 1;
        let b = [0x21 | (((ts >> 30) as u8 & 7) << 1), (ts >> 22) as u8, ((ts >> 14) as u8) | 1, (ts >> 7) as u8, ((ts << 1) as u8) | 1];
        assert_eq!(timestamp(&b), ts);
    }
}
