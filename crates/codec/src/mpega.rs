//! MPEG-1/2/2.5 audio (layers I, II, III) frame headers.

/// A parsed 4-byte MPEG audio frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// 1, 2 or 3.
    pub layer: u8,
    /// 1 for MPEG-1, 2 for MPEG-2, 25 for MPEG-2.5.
    pub version: u8,
    pub bitrate_kbps: u32,
    pub sample_rate: u32,
    pub channels: u8,
    /// Samples per channel in one frame.
    pub samples: u32,
    /// Whole frame length in bytes, header included.
    pub frame_len: u32,
}

const BITRATES: [[u32; 15]; 5] = [
    // MPEG-1 layer I, II, III
    [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
    [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
    [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
    // MPEG-2/2.5 layer I; layers II and III
    [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
];

impl FrameHeader {
    /// Parses a header from the first four bytes of `b`. Free-format frames (bitrate
    /// index 0) are not supported and give `None`, as does anything not a valid header.
    pub fn parse(b: &[u8]) -> Option<FrameHeader> {
        if b.len() < 4 || b[0] != 0xFF || b[1] & 0xE0 != 0xE0 {
            return None;
        }
        let version = match (b[1] >> 3) & 3 {
            0 => 25,
            2 => 2,
            3 => 1,
            _ => return None,
        };
        let layer = match (b[1] >> 1) & 3 {
            1 => 3,
            2 => 2,
            3 => 1,
            _ => return None,
        };
        let br_idx = (b[2] >> 4) as usize;
        let sr_idx = ((b[2] >> 2) & 3) as usize;
        if br_idx == 0 || br_idx == 15 || sr_idx == 3 {
            return None;
        }
        let padding = ((b[2] >> 1) & 1) as u32;
        let channels = if b[3] >> 6 == 3 { 1 } else { 2 };
        let table = match (version, layer) {
            (1, l) => l as usize - 1,
            (_, 1) => 3,
            _ => 4,
        };
        let bitrate_kbps = BITRATES[table][br_idx];
        let base_rate = [44100, 48000, 32000][sr_idx];
        let sample_rate = match version {
            1 => base_rate,
            2 => base_rate / 2,
            _ => base_rate / 4,
        };
        let samples = match (layer, version) {
            (1, _) => 384,
            (2, _) => 1152,
            (3, 1) => 1152,
            _ => 576,
        };
        let frame_len = if layer == 1 {
            (12 * bitrate_kbps * 1000 / sample_rate + padding) * 4
        } else {
            samples / 8 * bitrate_kbps * 1000 / sample_rate + padding
        };
        if frame_len < 4 {
            return None;
        }
        Some(FrameHeader { layer, version, bitrate_kbps, sample_rate, channels, samples, frame_len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mp2_48k_192k_stereo() {
        // MPEG-1 layer II, 192 kbps, 48 kHz, stereo, no padding.
        let h = FrameHeader::parse(&[0xFF, 0xFD, 0xA4, 0x00]).unwrap();
        assert_eq!((h.layer, h.version, h.bitrate_kbps, h.sample_rate, h.channels), (2, 1, 192, 48000, 2));
        assert_eq!(h.frame_len, 576);
        assert_eq!(h.samples, 1152);
        assert!(FrameHeader::parse(&[0xFF, 0xFD, 0xF4, 0x00]).is_none());
    }
}
