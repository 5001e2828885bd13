//! AC-3 (ATSC A/52) sync frame headers: frame length, sample rate and channels, for
//! splitting a byte stream into frames and describing the stream.
//!
//! ```text
//!  syncword 0x0B77 │ crc1 (16) │ fscod (2) frmsizecod (6) │ bsid (5) bsmod (3) │ acmod (3) …
//! ```

/// Nominal bit rates in kbit/s by `frmsizecod / 2` (A/52 table 5.18).
const BITRATES: [u32; 19] = [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 576, 640];

/// Full-bandwidth channels by `acmod` (1+1 dual mono counts as two).
const CHANNELS: [u8; 8] = [2, 1, 2, 3, 3, 4, 4, 5];

/// The fields of an AC-3 frame header the demuxers and describe need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Whole frame length in bytes, sync word included.
    pub frame_len: u32,
    pub sample_rate: u32,
    /// Channels including the LFE channel.
    pub channels: u8,
    /// Samples per channel: always 1536 (six blocks of 256).
    pub samples: u32,
}

impl FrameHeader {
    /// The smallest number of bytes [`FrameHeader::parse`] needs.
    pub const MIN_LEN: usize = 7;

    /// Parses the header at the start of `b`; `None` when it is not an AC-3 frame
    /// header (E-AC-3, `bsid` above 10, is not AC-3 and is refused).
    pub fn parse(b: &[u8]) -> Option<FrameHeader> {
        if b.len() < Self::MIN_LEN || b[0] != 0x0B || b[1] != 0x77 {
            return None;
        }
        let fscod = b[4] >> 6;
        let frmsizecod = (b[4] & 0x3F) as usize;
        let bsid = b[5] >> 3;
        if fscod == 3 || frmsizecod >= 38 || bsid > 10 {
            return None;
        }
        let kbps = BITRATES[frmsizecod / 2];
        // 16-bit words per frame: 2 per kbit/s at 48 kHz, 3 at 32 kHz, and at 44.1 kHz
        // the 1536-sample duration rounded down, plus one word for odd codes.
        let words = match fscod {
            0 => kbps * 2,
            1 => kbps * 320 / 147 + (frmsizecod as u32 & 1),
            _ => kbps * 3,
        };
        let sample_rate = [48000, 44100, 32000][fscod as usize];
        let acmod = b[6] >> 5;
        // lfeon follows acmod and the mix levels present for this acmod.
        let mut bit = 3;
        if acmod & 1 != 0 && acmod != 1 {
            bit += 2;
        }
        if acmod & 4 != 0 {
            bit += 2;
        }
        if acmod == 2 {
            bit += 2;
        }
        let lfe = {
            let byte = 6 + bit / 8;
            let v = *b.get(byte)?;
            (v >> (7 - bit % 8)) & 1
        };
        Some(FrameHeader { frame_len: words * 2, sample_rate, channels: CHANNELS[acmod as usize] + lfe, samples: 1536 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_192k_48khz() {
        // The first frame header of testdata/ps/mpeg2_ac3.vob (FFmpeg's encoder, -b:a 192k).
        let h = FrameHeader::parse(&[0x0B, 0x77, 0xFE, 0x95, 0x14, 0x40, 0x43]).unwrap();
        assert_eq!(h, FrameHeader { frame_len: 768, sample_rate: 48000, channels: 2, samples: 1536 });
        // 44.1 kHz, 32 kbit/s: 69 words for the even code, 70 for the odd one.
        assert_eq!(FrameHeader::parse(&[0x0B, 0x77, 0, 0, 0x40, 0x08, 0x40]).unwrap().frame_len, 138);
        assert_eq!(FrameHeader::parse(&[0x0B, 0x77, 0, 0, 0x41, 0x08, 0x40]).unwrap().frame_len, 140);
        // 5.1: acmod 7 with cmixlev and surmixlev, then lfeon.
        assert_eq!(FrameHeader::parse(&[0x0B, 0x77, 0, 0, 0x14, 0x08, 0xE1]).unwrap().channels, 6);
        assert!(FrameHeader::parse(&[0x0B, 0x77, 0, 0, 0xC0, 0x08, 0x40]).is_none());
        assert!(FrameHeader::parse(&[0x0B, 0x77, 0, 0, 0x14, 0x80, 0x40]).is_none(), "E-AC-3");
    }
}
