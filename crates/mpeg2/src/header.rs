//! Parsing of the headers above the slice layer (6.2.2, 6.2.3): sequence header and
//! extensions, group of pictures, picture header and coding extension, quantiser
//! matrices, and the user data the decoder exports (A/53 captions, AFD).

use crate::bits::Bits;
use crate::vlc::{DEFAULT_INTRA, ZIGZAG};
use transcode_core::{Error, Result};

/// Chroma sampling of a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChromaFormat {
    /// 4:2:0 (MPEG-1, Main Profile).
    Yuv420,
    /// 4:2:2 (4:2:2 Profile).
    Yuv422,
}

/// A rational number (frame rate, aspect ratio).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rational {
    pub num: u32,
    pub den: u32,
}

impl Rational {
    fn reduced(num: u64, den: u64) -> Rational {
        fn gcd(a: u64, b: u64) -> u64 {
            if b == 0 {
                a
            } else {
                gcd(b, a % b)
            }
        }
        let g = gcd(num, den).max(1);
        Rational {
            num: (num / g) as u32,
            den: (den / g) as u32,
        }
    }
}

/// Colour description of the sequence display extension (ISO/IEC 13818-2 Table 6-7..6-9,
/// the same code points as ITU-T H.273). MPEG-2 video samples are limited range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ColourDescription {
    pub primaries: u8,
    pub transfer: u8,
    pub matrix: u8,
}

/// What the stream says about itself, readable after the first sequence header: what
/// a prober or a Y4M writer needs before the first frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceInfo {
    /// `false` for an MPEG-1 sequence (no sequence extension).
    pub mpeg2: bool,
    /// Displayed size (horizontal_size, vertical_size with their extensions).
    pub width: u32,
    pub height: u32,
    /// Frame rate including frame_rate_extension_n/d.
    pub frame_rate: Rational,
    /// Sample (pixel) aspect ratio.
    pub sar: Rational,
    /// Display aspect ratio (MPEG-2: as signalled; MPEG-1: derived from the SAR).
    pub dar: Rational,
    /// profile_and_level_indication (0 for MPEG-1); profile is bits 6..4 after the
    /// escape bit, level bits 3..0.
    pub profile_and_level: u8,
    pub chroma: ChromaFormat,
    pub progressive_sequence: bool,
    pub low_delay: bool,
    /// bit_rate in bits per second (400 bit units in the stream).
    pub bit_rate: u64,
    /// vbv_buffer_size in bytes.
    pub vbv_buffer_bytes: u64,
    /// From the sequence display extension, when present.
    pub colour: Option<ColourDescription>,
    /// video_format of the sequence display extension (5 = unspecified).
    pub video_format: u8,
    /// display_horizontal_size / display_vertical_size, when present.
    pub display_size: Option<(u32, u32)>,
    /// top_field_first of the first picture of the sequence (`None` before it).
    pub first_top_field_first: Option<bool>,
}

/// The sequence header fields the decoder keeps (before the extension).
#[derive(Debug, Clone)]
pub(crate) struct SeqHeader {
    pub width: u32,
    pub height: u32,
    pub aspect: u8,
    pub frame_rate_code: u8,
    pub bit_rate: u32,
    pub vbv: u32,
    pub intra: Option<[u8; 64]>,
    pub non_intra: Option<[u8; 64]>,
}

/// Reads a matrix sent in zigzag order into raster order.
fn matrix(b: &mut Bits<'_>) -> Result<[u8; 64]> {
    let mut m = [0u8; 64];
    for &z in ZIGZAG.iter() {
        let v = b.read(8) as u8;
        if v == 0 {
            return Err(Error::invalid(
                "quantiser matrix entry 0 (expected 1..=255)",
            ));
        }
        m[z as usize] = v;
    }
    Ok(m)
}

pub(crate) fn sequence_header(data: &[u8]) -> Result<SeqHeader> {
    let mut b = Bits::new(data);
    let width = b.read(12);
    let height = b.read(12);
    let aspect = b.read(4) as u8;
    let frame_rate_code = b.read(4) as u8;
    let bit_rate = b.read(18);
    b.skip(1);
    let vbv = b.read(10);
    b.skip(1);
    let intra = if b.bit() { Some(matrix(&mut b)?) } else { None };
    let non_intra = if b.bit() { Some(matrix(&mut b)?) } else { None };
    if b.overrun() {
        return Err(Error::invalid(
            "truncated sequence header (expected at least 12 bytes)",
        ));
    }
    if width == 0 || height == 0 {
        return Err(Error::invalid(format!(
            "invalid picture size {width}x{height} (expected non-zero)"
        )));
    }
    if !(1..=8).contains(&frame_rate_code) {
        return Err(Error::invalid(format!(
            "invalid frame_rate_code {frame_rate_code} (expected 1..=8)"
        )));
    }
    Ok(SeqHeader {
        width,
        height,
        aspect,
        frame_rate_code,
        bit_rate,
        vbv,
        intra,
        non_intra,
    })
}

/// Fields of the sequence extension.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeqExt {
    pub profile_and_level: u8,
    pub progressive: bool,
    pub chroma: u8,
    pub width_ext: u32,
    pub height_ext: u32,
    pub bit_rate_ext: u32,
    pub vbv_ext: u32,
    pub low_delay: bool,
    pub frn: u32,
    pub frd: u32,
}

pub(crate) fn sequence_extension(b: &mut Bits<'_>) -> SeqExt {
    let profile_and_level = b.read(8) as u8;
    let progressive = b.bit();
    let chroma = b.read(2) as u8;
    let width_ext = b.read(2);
    let height_ext = b.read(2);
    let bit_rate_ext = b.read(12);
    b.skip(1);
    let vbv_ext = b.read(8);
    let low_delay = b.bit();
    let frn = b.read(2);
    let frd = b.read(5);
    SeqExt {
        profile_and_level,
        progressive,
        chroma,
        width_ext,
        height_ext,
        bit_rate_ext,
        vbv_ext,
        low_delay,
        frn,
        frd,
    }
}

/// Sequence display extension: video format, colour description, display size.
pub(crate) fn sequence_display_extension(
    b: &mut Bits<'_>,
) -> (u8, Option<ColourDescription>, (u32, u32)) {
    let video_format = b.read(3) as u8;
    let colour = if b.bit() {
        Some(ColourDescription {
            primaries: b.read(8) as u8,
            transfer: b.read(8) as u8,
            matrix: b.read(8) as u8,
        })
    } else {
        None
    };
    let w = b.read(14);
    b.skip(1);
    let h = b.read(14);
    (video_format, colour, (w, h))
}

/// The four quantiser matrices in raster order: intra, non-intra, chroma intra,
/// chroma non-intra.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Matrices(pub [[u8; 64]; 4]);

impl Default for Matrices {
    fn default() -> Matrices {
        Matrices([DEFAULT_INTRA, [16; 64], DEFAULT_INTRA, [16; 64]])
    }
}

impl Matrices {
    /// After a sequence header: defaults unless loaded; chroma follows luma.
    pub(crate) fn from_sequence(h: &SeqHeader) -> Matrices {
        let intra = h.intra.unwrap_or(DEFAULT_INTRA);
        let non = h.non_intra.unwrap_or([16; 64]);
        Matrices([intra, non, intra, non])
    }

    /// Quant matrix extension: a loaded luma matrix also replaces its chroma matrix.
    pub(crate) fn extension(&mut self, b: &mut Bits<'_>) -> Result<()> {
        if b.bit() {
            let m = matrix(b)?;
            self.0[0] = m;
            self.0[2] = m;
        }
        if b.bit() {
            let m = matrix(b)?;
            self.0[1] = m;
            self.0[3] = m;
        }
        if b.bit() {
            self.0[2] = matrix(b)?;
        }
        if b.bit() {
            self.0[3] = matrix(b)?;
        }
        Ok(())
    }
}

/// Picture coding types (Table 6-12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PictureType {
    I,
    P,
    B,
    /// MPEG-1 DC-coded picture.
    D,
}

/// picture_structure (Table 6-14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PictureStructure {
    TopField,
    BottomField,
    Frame,
}

/// Picture header plus picture coding extension.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PicHeader {
    pub temporal_reference: u16,
    pub ptype: PictureType,
    /// f_code[s][t]; MPEG-1 sets both components from forward/backward_f_code.
    pub f_code: [[u8; 2]; 2],
    pub full_pel: [bool; 2],
    pub dc_prec: u8,
    pub structure: PictureStructure,
    pub top_field_first: bool,
    pub frame_pred_frame_dct: bool,
    pub concealment: bool,
    pub q_scale_type: bool,
    pub intra_vlc: bool,
    pub alternate_scan: bool,
    pub repeat_first_field: bool,
    pub progressive_frame: bool,
}

pub(crate) fn picture_header(data: &[u8]) -> Result<PicHeader> {
    let mut b = Bits::new(data);
    let temporal_reference = b.read(10) as u16;
    let ptype = match b.read(3) {
        1 => PictureType::I,
        2 => PictureType::P,
        3 => PictureType::B,
        4 => PictureType::D,
        t => {
            return Err(Error::invalid(format!(
                "invalid picture_coding_type {t} (expected 1..=4)"
            )))
        }
    };
    b.skip(16);
    let mut f_code = [[15u8; 2]; 2];
    let mut full_pel = [false; 2];
    if matches!(ptype, PictureType::P | PictureType::B) {
        full_pel[0] = b.bit();
        let f = b.read(3) as u8;
        f_code[0] = [f, f];
    }
    if ptype == PictureType::B {
        full_pel[1] = b.bit();
        let f = b.read(3) as u8;
        f_code[1] = [f, f];
    }
    if b.overrun() {
        return Err(Error::invalid("truncated picture header"));
    }
    Ok(PicHeader {
        temporal_reference,
        ptype,
        f_code,
        full_pel,
        dc_prec: 0,
        structure: PictureStructure::Frame,
        top_field_first: false,
        frame_pred_frame_dct: true,
        concealment: false,
        q_scale_type: false,
        intra_vlc: false,
        alternate_scan: false,
        repeat_first_field: false,
        progressive_frame: true,
    })
}

pub(crate) fn picture_coding_extension(h: &mut PicHeader, b: &mut Bits<'_>) -> Result<()> {
    for s in 0..2 {
        for t in 0..2 {
            h.f_code[s][t] = b.read(4) as u8;
        }
    }
    h.full_pel = [false; 2];
    h.dc_prec = b.read(2) as u8;
    h.structure = match b.read(2) {
        1 => PictureStructure::TopField,
        2 => PictureStructure::BottomField,
        3 => PictureStructure::Frame,
        _ => return Err(Error::invalid("picture_structure 0 (expected 1..=3)")),
    };
    h.top_field_first = b.bit();
    h.frame_pred_frame_dct = b.bit();
    h.concealment = b.bit();
    h.q_scale_type = b.bit();
    h.intra_vlc = b.bit();
    h.alternate_scan = b.bit();
    h.repeat_first_field = b.bit();
    b.skip(1); // chroma_420_type
    h.progressive_frame = b.bit();
    if b.overrun() {
        return Err(Error::invalid("truncated picture coding extension"));
    }
    if h.structure != PictureStructure::Frame {
        // Field pictures predict field by field.
        h.frame_pred_frame_dct = false;
    }
    Ok(())
}

/// User data the decoder exports with a picture: A/53 closed captions and AFD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserData {
    /// cc_data triplets (cc_valid/cc_type byte, two data bytes) of an ATSC A/53
    /// `GA94` user_data_type_code 3 structure, as FFmpeg exports them.
    cc: [u8; 93],
    cc_len: u8,
    /// active_format of an ETSI TS 101 154 `DTG1` structure.
    pub afd: Option<u8>,
}

impl Default for UserData {
    fn default() -> UserData {
        UserData {
            cc: [0; 93],
            cc_len: 0,
            afd: None,
        }
    }
}

impl UserData {
    /// The A/53 caption triplets (empty when the picture carried none).
    pub fn captions(&self) -> &[u8] {
        &self.cc[..self.cc_len as usize]
    }

    /// Parses one user_data() payload (after its start code).
    pub(crate) fn parse(&mut self, d: &[u8]) {
        if d.len() >= 6 && &d[..4] == b"GA94" && d[4] == 3 {
            let flags = d[5];
            let count = (flags & 0x1f) as usize;
            // process_cc_data_flag set; skip the em_data byte.
            if flags & 0x40 != 0 && d.len() >= 7 + count * 3 {
                let n = (count * 3).min(93);
                self.cc[..n].copy_from_slice(&d[7..7 + n]);
                self.cc_len = n as u8;
            }
        } else if d.len() >= 5 && &d[..4] == b"DTG1" && d[4] & 0x40 != 0 && d.len() >= 6 {
            self.afd = Some(d[5] & 0x0f);
        }
    }
}

/// Frame rate (Table 6-4) with the extension factors.
pub(crate) fn frame_rate(code: u8, frn: u32, frd: u32) -> Rational {
    let (n, d) = match code {
        1 => (24000, 1001),
        2 => (24, 1),
        3 => (25, 1),
        4 => (30000, 1001),
        5 => (30, 1),
        6 => (50, 1),
        7 => (60000, 1001),
        _ => (60, 1),
    };
    Rational::reduced(n as u64 * (frn as u64 + 1), d as u64 * (frd as u64 + 1))
}

/// Sample and display aspect ratios (Table 6-3; MPEG-1: Table 2-D.4 of 11172-2).
pub(crate) fn aspect(mpeg2: bool, code: u8, w: u32, h: u32) -> (Rational, Rational) {
    let (w, h) = (w.max(1) as u64, h.max(1) as u64);
    if mpeg2 {
        let dar = match code {
            2 => (4, 3),
            3 => (16, 9),
            4 => (221, 100),
            _ => (w, h),
        };
        let sar = Rational::reduced(dar.0 * h, dar.1 * w);
        (sar, Rational::reduced(dar.0, dar.1))
    } else {
        // Pel aspect ratio = height/width of a pel, in 1/10000.
        const PAR: [u64; 15] = [
            10000, 10000, 6735, 7031, 7615, 8055, 8437, 8935, 9157, 9815, 10255, 10695, 10950,
            11575, 12015,
        ];
        let par = PAR[(code as usize).min(14)];
        let sar = Rational::reduced(10000, par);
        (
            sar,
            Rational::reduced(sar.num as u64 * w, sar.den as u64 * h),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aspect_ratios_follow_the_tables() {
        let (sar, dar) = aspect(true, 2, 720, 576);
        assert_eq!((sar.num, sar.den), (16, 15));
        assert_eq!((dar.num, dar.den), (4, 3));
        let (sar, _) = aspect(true, 3, 1440, 1080);
        assert_eq!((sar.num, sar.den), (4, 3));
        let r = frame_rate(4, 0, 0);
        assert_eq!((r.num, r.den), (30000, 1001));
        let r = frame_rate(3, 1, 0);
        assert_eq!((r.num, r.den), (50, 1));
    }

    #[test]
    fn captions_and_afd_are_read_from_their_structures() {
        let mut u = UserData::default();
        u.parse(&[
            b'G',
            b'A',
            b'9',
            b'4',
            3,
            0x40 | 2,
            0xff,
            0xfc,
            0x94,
            0x2c,
            0xfd,
            0x80,
            0x80,
            0xff,
        ]);
        assert_eq!(u.captions(), &[0xfc, 0x94, 0x2c, 0xfd, 0x80, 0x80]);
        u.parse(&[b'D', b'T', b'G', b'1', 0x41, 0xf9]);
        assert_eq!(u.afd, Some(9));
    }
}
