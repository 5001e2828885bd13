//! MPEG-1/2 video (ISO/IEC 13818-2): sequence header and extension, picture type.

use crate::nal::find_start_code;
use transcode_core::{CodecId, ColorDescription, ColorRange};

/// Start code values (the byte after `00 00 01`).
pub mod start_code {
    pub const PICTURE: u8 = 0x00;
    pub const SEQUENCE_HEADER: u8 = 0xB3;
    pub const EXTENSION: u8 = 0xB5;
    pub const SEQUENCE_END: u8 = 0xB7;
    pub const GOP: u8 = 0xB8;
}

/// The sequence header, with the sequence extension's and the sequence display
/// extension's fields folded in when present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceHeader {
    pub width: u32,
    pub height: u32,
    /// `aspect_ratio_information` (MPEG-2: 1 square samples, 2 4:3, 3 16:9, 4 2.21:1
    /// display; MPEG-1: the pel aspect ratio code).
    pub aspect_ratio_code: u8,
    pub frame_rate_code: u8,
    /// Frames per second with the extension's multiplier applied, when the code is valid.
    pub frame_rate: Option<(u32, u32)>,
    /// Bits per second (in units of 400 bit/s in the stream).
    pub bit_rate: u32,
    /// `profile_and_level_indication` from the sequence extension (0 for MPEG-1).
    pub profile_and_level: u8,
    /// Whether a sequence extension was present: MPEG-2 rather than MPEG-1.
    pub mpeg2: bool,
    pub progressive: bool,
    /// The sequence extension's `low_delay`: no B pictures, so no reordering.
    pub low_delay: bool,
    /// 1 4:2:0, 2 4:2:2, 3 4:4:4.
    pub chroma_format: u8,
    /// The sequence display extension's `display_horizontal_size` and
    /// `display_vertical_size`, when present.
    pub display_size: Option<(u32, u32)>,
    /// MPEG-2 video is limited range; primaries, transfer and matrix come from the
    /// sequence display extension's colour description, unspecified without one.
    pub color: ColorDescription,
}

impl SequenceHeader {
    /// The sample aspect ratio, reduced: for MPEG-2 the display aspect ratio over the
    /// display size (the sequence display extension's, else the picture's), as 6.3.3 of
    /// ISO/IEC 13818-2 defines it; for MPEG-1 only square samples (code 1) are known.
    pub fn sar(&self) -> Option<(u32, u32)> {
        let dar: (u64, u64) = match (self.mpeg2, self.aspect_ratio_code) {
            (_, 1) => return Some((1, 1)),
            (true, 2) => (4, 3),
            (true, 3) => (16, 9),
            (true, 4) => (221, 100),
            _ => return None,
        };
        let (w, h) = self.display_size.filter(|&(w, h)| w > 0 && h > 0).unwrap_or((self.width, self.height));
        crate::h264::reduce(dar.0 * h as u64, dar.1 * w as u64)
    }
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
/// it together with the sequence extension and sequence display extension after it.
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
                    mpeg2: false,
                    progressive: true,
                    low_delay: false,
                    chroma_format: 1,
                    display_size: None,
                    color: ColorDescription::UNSPECIFIED,
                });
            }
            start_code::EXTENSION => {
                let s = seq.as_mut()?;
                match body.first().map(|b| b >> 4) {
                    // Sequence extension.
                    Some(1) if body.len() >= 6 && !s.mpeg2 => {
                        s.mpeg2 = true;
                        s.color.range = ColorRange::Limited;
                        s.profile_and_level = (body[0] << 4) | (body[1] >> 4);
                        s.progressive = body[1] & 0x08 != 0;
                        s.chroma_format = (body[1] >> 1) & 3;
                        s.width |= (((body[1] & 1) << 1 | body[2] >> 7) as u32) << 12;
                        s.height |= (((body[2] >> 5) & 3) as u32) << 12;
                        s.low_delay = body[5] & 0x80 != 0;
                        let n = ((body[5] >> 5) & 3) as u32 + 1;
                        let d = (body[5] & 0x1F) as u32 + 1;
                        s.frame_rate = s
                            .frame_rate
                            .and_then(|(fn_, fd)| crate::h264::reduce(fn_ as u64 * n as u64, fd as u64 * d as u64));
                    }
                    // Sequence display extension (6.2.2.4).
                    Some(2) if s.mpeg2 => {
                        let mut r = crate::bits::BitReader::new(body);
                        let _ = r.bits(4);
                        let _video_format = r.bits(3);
                        if r.bit().ok()? {
                            let (p, t, m) = (r.bits(8).ok()?, r.bits(8).ok()?, r.bits(8).ok()?);
                            s.color = ColorDescription::from_codes(ColorRange::Limited, p as u8, t as u8, m as u8);
                        }
                        let w = r.bits(14).ok()?;
                        let _marker = r.bit().ok()?;
                        let h = r.bits(14).ok()?;
                        s.display_size = Some((w, h));
                    }
                    _ => {}
                }
            }
            start_code::PICTURE | start_code::GOP if seq.is_some() => return seq,
            _ => {}
        }
        pos = sc + 3;
    }
    seq
}

/// How a picture is to be shown, from its picture coding extension (6.2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PictureCoding {
    /// 1 top field, 2 bottom field, 3 frame picture.
    pub picture_structure: u8,
    pub top_field_first: bool,
    pub repeat_first_field: bool,
    pub progressive_frame: bool,
}

/// The picture coding extension of the first picture in `data`, `None` when there is
/// no picture or it has no extension (MPEG-1).
pub fn parse_picture_coding(data: &[u8]) -> Option<PictureCoding> {
    let mut pos = 0;
    let mut in_picture = false;
    while let Some(sc) = find_start_code(data, pos) {
        let code = *data.get(sc + 3)?;
        match code {
            start_code::PICTURE if !in_picture => in_picture = true,
            start_code::EXTENSION if in_picture => {
                let body = data.get(sc + 4..sc + 9)?;
                if body[0] >> 4 == 8 {
                    return Some(PictureCoding {
                        picture_structure: body[2] & 3,
                        top_field_first: body[3] & 0x80 != 0,
                        repeat_first_field: body[3] & 0x02 != 0,
                        progressive_frame: body[4] & 0x80 != 0,
                    });
                }
            }
            // A slice or the next picture: this picture has no coding extension.
            _ if in_picture => return None,
            _ => {}
        }
        pos = sc + 3;
    }
    None
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

/// Whether the first sequence header in `data` starts an MPEG-2 sequence (a sequence
/// extension follows it) or an MPEG-1 one; `None` without a sequence header and the
/// start code after it.
pub fn video_codec(data: &[u8]) -> Option<CodecId> {
    let mut pos = 0;
    let mut after_seq = false;
    while let Some(sc) = find_start_code(data, pos) {
        let &code = data.get(sc + 3)?;
        if after_seq {
            let mpeg2 = code == start_code::EXTENSION && data.get(sc + 4).is_some_and(|b| b >> 4 == 1);
            return Some(if mpeg2 { CodecId::Mpeg2Video } else { CodecId::Mpeg1Video });
        }
        after_seq = code == start_code::SEQUENCE_HEADER;
        pos = sc + 3;
    }
    None
}
