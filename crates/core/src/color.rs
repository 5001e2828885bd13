//! Colour descriptions of video streams: range, primaries, transfer and matrix.

/// Whether luma and chroma use the whole sample range or leave head- and footroom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ColorRange {
    /// The stream does not say (decoders assume limited).
    #[default]
    Unspecified,
    /// Limited ("studio", "tv", MPEG) range: 16..=235 luma, 16..=240 chroma at 8 bits.
    Limited,
    /// Full ("pc", JPEG) range: 0..=255 at 8 bits.
    Full,
}

/// How a video stream's sample values map to colours, as its codec signals it: the
/// H.264/H.265 VUI video signal type, the MPEG-2 sequence display extension, an MP4
/// `colr` box, a Y4M `XCOLORRANGE` tag.
///
/// `primaries`, `transfer` and `matrix` are the code points of ITU-T H.273 (the same
/// tables as H.264 and H.265 Annex E and MPEG-2 video), 2 meaning unspecified. The
/// `*_name` methods give the names ffprobe prints for them (`color_primaries`,
/// `color_transfer`, `color_space`, `color_range`).
///
/// ```
/// use transcode_core::{ColorDescription, ColorRange};
/// let c = ColorDescription::from_codes(ColorRange::Full, 1, 13, 6);
/// assert_eq!(c.range_name(), Some("pc"));
/// assert_eq!((c.primaries_name(), c.transfer_name(), c.matrix_name()), (Some("bt709"), Some("iec61966-2-1"), Some("smpte170m")));
/// assert!(ColorDescription::default().is_unspecified());
/// // A code H.273 does not define is read as unspecified, as FFmpeg does.
/// assert_eq!(ColorDescription::from_codes(ColorRange::Unspecified, 200, 1, 1).primaries, 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ColorDescription {
    pub range: ColorRange,
    /// `colour_primaries`.
    pub primaries: u8,
    /// `transfer_characteristics`.
    pub transfer: u8,
    /// `matrix_coefficients`.
    pub matrix: u8,
}

/// The code point meaning "unspecified" in each H.273 table.
pub const COLOR_UNSPECIFIED: u8 = 2;

impl Default for ColorDescription {
    fn default() -> Self {
        ColorDescription::UNSPECIFIED
    }
}

// FFmpeg 5.1's names (libavutil/pixdesc.c), by code point; `None` where H.273 defines
// nothing (FFmpeg then reads the code as unspecified).
const PRIMARIES: [Option<&str>; 23] = [
    Some("reserved"),
    Some("bt709"),
    Some("unknown"),
    Some("reserved"),
    Some("bt470m"),
    Some("bt470bg"),
    Some("smpte170m"),
    Some("smpte240m"),
    Some("film"),
    Some("bt2020"),
    Some("smpte428"),
    Some("smpte431"),
    Some("smpte432"),
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    Some("ebu3213"),
];

const TRANSFER: [Option<&str>; 19] = [
    Some("reserved"),
    Some("bt709"),
    Some("unknown"),
    Some("reserved"),
    Some("bt470m"),
    Some("bt470bg"),
    Some("smpte170m"),
    Some("smpte240m"),
    Some("linear"),
    Some("log100"),
    Some("log316"),
    Some("iec61966-2-4"),
    Some("bt1361e"),
    Some("iec61966-2-1"),
    Some("bt2020-10"),
    Some("bt2020-12"),
    Some("smpte2084"),
    Some("smpte428"),
    Some("arib-std-b67"),
];

const MATRIX: [Option<&str>; 15] = [
    Some("gbr"),
    Some("bt709"),
    Some("unknown"),
    Some("reserved"),
    Some("fcc"),
    Some("bt470bg"),
    Some("smpte170m"),
    Some("smpte240m"),
    Some("ycgco"),
    Some("bt2020nc"),
    Some("bt2020c"),
    Some("smpte2085"),
    Some("chroma-derived-nc"),
    Some("chroma-derived-c"),
    Some("ictcp"),
];

fn name(table: &[Option<&'static str>], code: u8) -> Option<&'static str> {
    if code == COLOR_UNSPECIFIED {
        return None;
    }
    table.get(code as usize).copied().flatten()
}

fn known(table: &[Option<&'static str>], code: u8) -> u8 {
    if table.get(code as usize).copied().flatten().is_some() {
        code
    } else {
        COLOR_UNSPECIFIED
    }
}

impl ColorDescription {
    /// Nothing is known.
    pub const UNSPECIFIED: ColorDescription = ColorDescription {
        range: ColorRange::Unspecified,
        primaries: COLOR_UNSPECIFIED,
        transfer: COLOR_UNSPECIFIED,
        matrix: COLOR_UNSPECIFIED,
    };

    /// A description from the code points a bitstream carries; codes H.273 does not
    /// define become unspecified.
    pub fn from_codes(range: ColorRange, primaries: u8, transfer: u8, matrix: u8) -> Self {
        ColorDescription {
            range,
            primaries: known(&PRIMARIES, primaries),
            transfer: known(&TRANSFER, transfer),
            matrix: known(&MATRIX, matrix),
        }
    }

    /// What an H.264/H.265 VUI says: `video_full_range_flag` when the video signal type
    /// is present, and the three codes when the colour description is.
    pub fn from_vui(full_range: Option<bool>, codes: Option<(u8, u8, u8)>) -> Self {
        let range = match full_range {
            None => ColorRange::Unspecified,
            Some(false) => ColorRange::Limited,
            Some(true) => ColorRange::Full,
        };
        let (p, t, m) = codes.unwrap_or((COLOR_UNSPECIFIED, COLOR_UNSPECIFIED, COLOR_UNSPECIFIED));
        Self::from_codes(range, p, t, m)
    }

    /// Whether nothing at all is known.
    pub fn is_unspecified(&self) -> bool {
        *self == Self::UNSPECIFIED
    }

    /// Whether primaries, transfer and matrix are all given (what FFmpeg needs before it
    /// writes an MP4 `colr` box).
    pub fn has_all_codes(&self) -> bool {
        self.primaries != COLOR_UNSPECIFIED && self.transfer != COLOR_UNSPECIFIED && self.matrix != COLOR_UNSPECIFIED
    }

    /// ffprobe's `color_range`: `tv` or `pc`; `None` when unspecified.
    pub fn range_name(&self) -> Option<&'static str> {
        match self.range {
            ColorRange::Unspecified => None,
            ColorRange::Limited => Some("tv"),
            ColorRange::Full => Some("pc"),
        }
    }

    /// ffprobe's `color_primaries`; `None` when unspecified.
    pub fn primaries_name(&self) -> Option<&'static str> {
        name(&PRIMARIES, self.primaries)
    }

    /// ffprobe's `color_transfer`; `None` when unspecified.
    pub fn transfer_name(&self) -> Option<&'static str> {
        name(&TRANSFER, self.transfer)
    }

    /// ffprobe's `color_space` (the matrix); `None` when unspecified.
    pub fn matrix_name(&self) -> Option<&'static str> {
        name(&MATRIX, self.matrix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_ffprobe() {
        let c = ColorDescription::from_codes(ColorRange::Limited, 9, 16, 9);
        assert_eq!(c.range_name(), Some("tv"));
        assert_eq!(c.primaries_name(), Some("bt2020"));
        assert_eq!(c.transfer_name(), Some("smpte2084"));
        assert_eq!(c.matrix_name(), Some("bt2020nc"));
        assert!(c.has_all_codes());
        let c = ColorDescription::from_vui(Some(true), None);
        assert_eq!((c.range, c.primaries_name(), c.has_all_codes()), (ColorRange::Full, None, false));
        assert_eq!(ColorDescription::from_codes(ColorRange::Unspecified, 22, 19, 15).primaries_name(), Some("ebu3213"));
        assert_eq!(ColorDescription::from_codes(ColorRange::Unspecified, 22, 19, 15).transfer, 2);
        assert_eq!(ColorDescription::from_codes(ColorRange::Unspecified, 13, 0, 0).matrix_name(), Some("gbr"));
        assert_eq!(ColorDescription::from_codes(ColorRange::Unspecified, 13, 0, 0).primaries, 2);
        assert!(ColorDescription::from_vui(None, None).is_unspecified());
    }
}
