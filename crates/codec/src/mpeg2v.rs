//! MPEG-1/2 video (ISO/IEC 13818-2): sequence header and extension, picture type.

use crate::nal::find_start_code;

/// Start code values (the byte after `00 00 01`).
pub mod start_code {
    pub const PICTURE: u8 = 0x00;
    pub const SEQUENCE_HEADER: u8 = 0xB3;
    pub const EXTENSION: u8 = 0xB5;
    pub const SEQUENCE_END: u8 = 0xB7;
    pub const GOP: u8 = 0xB8;
}

/// The sequence header, with the sequence extension's fields folded in when present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceHeader {
    pub width: u32,
    pub height: u32,
    /// `aspect_ratio_information` (1 square samples, 2 4:3, 3 16:9, 4 2.21:1 display).
    pub aspect_ratio_code: u8,
    pub frame_rate_code: u8,
    /// Frames per second with the extension's multiplier applied, when the code is valid.
    pub frame_rate: Option<(u32, u32)>,
    /// Bits per second (in units of 400 bit/s in the stream).
    pub bit_rate: u32,
    /// `profile_and_level_indication` from the sequence extension (0 for MPEG-1).
    pub profile_and_level: u8,
    pub progressive: bool,
    /// 1 4:2:0, 2 4:2:2, 3 4:4:4.
    pub chroma_format: u8,
}

const FRAME_RATES: [(u32, u32); 9] =
    [(0, 0), (24000, 1001), (24, 1), (25, 1), (30000, 1001), (30, 1), (50, 1), (60000, 1001), (60, 1)];

/// I, P or B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PictureType {
    I,
    P,
    B,
    /// D pictures (MPEG-1) and reserved values.
    Other(u8),
}

/// Finds the sequence header in `data` (a picture packet or a stream prefix) and parses
/// it together with a following sequence extension.
pub fn parse_sequence_header(data: &[u8]) -> Option<SequenceHeader> {
    let mut pos = 0;
    let mut seq: Option<SequenceHeader> = None;
    while let Some(sc) = find_start_code(data, pos) {
        let code = *data.get(sc + 3)?;
        let body = &data[sc + 4..];
        match code {
            start_code::SEQUENCE_HEADER if seq.is_none() => {
                if body.len() < 8 {
                    return None;
                }
                let width = ((body[0] as u32) << 4) | (body[1] as u32 >> 4);
                let height = (((body[1] & 0xF) as u32) << 8) | body[2] as u32;
                let aspect = body[3] >> 4;
                let frc = body[3] & 0xF;
                let bit_rate = ((body[4] as u32) << 10) | ((body[5] as u32) << 2) | (body[6] as u32 >> 6);
                if width == 0 || height == 0 {
                    return None;
                }
                seq = Some(SequenceHeader {
                    width,
                    height,
                    aspect_ratio_code: aspect,
                    frame_rate_code: frc,
                    frame_rate: FRAME_RATES.get(frc as usize).copied().filter(|r| r.0 != 0),
                    bit_rate: bit_rate.saturating_mul(400),
                    profile_and_level: 0,
                    progressive: true,
                    chroma_format: 1,
                });
            }
            start_code::EXTENSION => {
                if let (Some(s), true) = (seq.as_mut(), body.len() >= 6 && body[0] >> 4 == 1) {
                    s.profile_and_level = (body[0] << 4) | (body[1] >> 4);
                    s.progressive = body[1] & 0x08 != 0;
                    s.chroma_format = (body[1] >> 1) & 3;
                    s.width |= (((body[1] & 1) << 1 | body[2] >> 7) as u32) << 12;
                    s.height |= (((body[2] >> 5) & 3) as u32) << 12;
                    let n = ((body[5] >> 5) & 3) as u32 + 1;
                    let d = (body[5] & 0x1F) as u32 + 1;
                    s.frame_rate = s
                        .frame_rate
                        .and_then(|(fn_, fd)| crate::h264::reduce(fn_ as u64 * n as u64, fd as u64 * d as u64));
                }
                return seq;
            }
            start_code::PICTURE | start_code::GOP if seq.is_some() => return seq,
            _ => {}
        }
        pos = sc + 3;
    }
    seq
}

/// The bytes of the sequence header and the extensions following it, up to the next
/// GOP or picture start code: what MPEG-2 `extradata` holds.
pub fn sequence_header_bytes(data: &[u8]) -> Option<&[u8]> {
    let mut pos = 0;
    let mut start = None;
    while let Some(sc) = find_start_code(data, pos) {
        let code = *data.get(sc + 3)?;
        match (start, code) {
            (None, start_code::SEQUENCE_HEADER) => start = Some(sc),
            (Some(s), c) if c != start_code::EXTENSION && c != start_code::SEQUENCE_HEADER => {
                return Some(&data[s..sc])
            }
            _ => {}
        }
        pos = sc + 3;
    }
    start.map(|s| &data[s..])
}

/// The coding type of the first picture in `data`.
pub fn picture_type(data: &[u8]) -> Option<PictureType> {
    let mut pos = 0;
    while let Some(sc) = find_start_code(data, pos) {
        if data.get(sc + 3) == Some(&start_code::PICTURE) {
            let b = data.get(sc + 5)?;
            return Some(match (b >> 3) & 7 {
                1 => PictureType::I,
                2 => PictureType::P,
                3 => PictureType::B,
                t => PictureType::Other(t),
            });
        }
        pos = sc + 3;
    }
    None
}

/// Whether a picture packet is a keyframe: an I picture.
pub fn is_keyframe(data: &[u8]) -> bool {
    picture_type(data) == Some(PictureType::I)
}
