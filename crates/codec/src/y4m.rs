//! YUV4MPEG2 stream headers: the tags that describe raw planar pictures.

use transcode_core::{ColorRange, Error, FieldOrder, Result};

/// A parsed `YUV4MPEG2 ...` stream header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Y4mHeader {
    pub width: u32,
    pub height: u32,
    /// Frames per second as `(num, den)`; `25:1` when the header has no `F` tag.
    pub frame_rate: (u32, u32),
    /// The `C` tag's value; `420jpeg` when absent.
    pub colourspace: String,
    /// The `XCOLORRANGE` tag (`FULL` or `LIMITED`), which FFmpeg writes and reads;
    /// unspecified when absent.
    pub range: ColorRange,
    /// The `I` tag: `p` progressive, `t` top field first, `b` bottom field first;
    /// `None` for `m` (mixed, said per frame) or no tag.
    pub field_order: Option<FieldOrder>,
    /// The `A` tag (sample aspect ratio); `None` for `A0:0` (unknown) or no tag.
    pub sar: Option<(u32, u32)>,
}

fn ratio(v: &str) -> Option<(u32, u32)> {
    let (n, d) = v.split_once(':')?;
    Some((n.parse().ok()?, d.parse().ok()?))
}

impl Y4mHeader {
    /// Parses a header line (without its newline).
    pub fn parse(line: &[u8]) -> Result<Y4mHeader> {
        // Tags are split at their first byte, so only ASCII headers are accepted (a
        // multi-byte first character would otherwise split inside a character).
        if !line.is_ascii() {
            return Err(Error::invalid_at(0, "y4m header is not ascii"));
        }
        let text = std::str::from_utf8(line).map_err(|_| Error::invalid_at(0, "y4m header is not ascii"))?;
        let mut tags = text.split(' ');
        if tags.next() != Some("YUV4MPEG2") {
            return Err(Error::invalid_at(0, "not a y4m stream (expected YUV4MPEG2)"));
        }
        let mut h =
            Y4mHeader {
                width: 0,
                height: 0,
                frame_rate: (25, 1),
                colourspace: "420jpeg".into(),
                range: ColorRange::Unspecified,
                field_order: None,
                sar: None,
            };
        for t in tags.filter(|t| !t.is_empty()) {
            let (k, v) = t.split_at(1);
            match k {
                "W" => {
                    h.width =
                        v.parse().map_err(|_| Error::invalid_at(0, format!("y4m width {v:?} (expected a number)")))?
                }
                "H" => {
                    h.height =
                        v.parse().map_err(|_| Error::invalid_at(0, format!("y4m height {v:?} (expected a number)")))?
                }
                "F" => {
                    h.frame_rate = ratio(v)
                        .filter(|r| r.0 > 0 && r.1 > 0)
                        .ok_or_else(|| Error::invalid_at(0, format!("y4m frame rate {v:?} (expected n:d)")))?
                }
                "C" => h.colourspace = v.to_string(),
                "I" => {
                    h.field_order = match v {
                        "p" => Some(FieldOrder::Progressive),
                        "t" => Some(FieldOrder::TopFirst),
                        "b" => Some(FieldOrder::BottomFirst),
                        _ => None,
                    }
                }
                "A" => h.sar = ratio(v).filter(|r| r.0 > 0 && r.1 > 0),
                "X" => match v {
                    "COLORRANGE=FULL" => h.range = ColorRange::Full,
                    "COLORRANGE=LIMITED" => h.range = ColorRange::Limited,
                    _ => {}
                },
                _ => {}
            }
        }
        if !(1..=65536).contains(&h.width) || !(1..=65536).contains(&h.height) {
            return Err(Error::invalid_at(
                0,
                format!("y4m picture size {}x{} (expected 1..=65536 each)", h.width, h.height),
            ));
        }
        if h.frame_size().is_none() {
            return Err(Error::unsupported(format!("y4m colourspace {}", h.colourspace)));
        }
        Ok(h)
    }

    /// Bytes of one picture, `None` for an unknown colourspace.
    pub fn frame_size(&self) -> Option<u64> {
        frame_size(&self.colourspace, self.width, self.height)
    }

    /// The header line FFmpeg's `yuv4mpegpipe` muxer writes for this picture format
    /// (`Ip` when the field order is unknown, `A0:0` when the sample aspect ratio is,
    /// `XCOLORRANGE` when the range is known), without the newline.
    pub fn to_line(&self) -> String {
        let xyscss = match self.colourspace.as_str() {
            "420jpeg" | "420" => " XYSCSS=420JPEG",
            "420mpeg2" => " XYSCSS=420MPEG2",
            "420paldv" => " XYSCSS=420PALDV",
            "411" => " XYSCSS=411",
            "422" => " XYSCSS=422",
            "444" => " XYSCSS=444",
            _ => "",
        };
        let cs = if self.colourspace == "420" { "420jpeg" } else { &self.colourspace };
        let range = match self.range {
            ColorRange::Unspecified => "",
            ColorRange::Limited => " XCOLORRANGE=LIMITED",
            ColorRange::Full => " XCOLORRANGE=FULL",
        };
        let interlace = match self.field_order {
            Some(FieldOrder::TopFirst) => 't',
            Some(FieldOrder::BottomFirst) => 'b',
            Some(FieldOrder::Progressive) | None => 'p',
        };
        let (an, ad) = self.sar.unwrap_or((0, 0));
        format!(
            "YUV4MPEG2 W{} H{} F{}:{} I{interlace} A{an}:{ad} C{cs}{xyscss}{range}",
            self.width, self.height, self.frame_rate.0, self.frame_rate.1
        )
    }
}

/// Bytes of one picture for a Y4M colourspace tag, `None` if the tag is unknown.
pub fn frame_size(colourspace: &str, width: u32, height: u32) -> Option<u64> {
    let (w, h) = (width as u64, height as u64);
    let (cw2, ch2, cw4) = (w.div_ceil(2), h.div_ceil(2), w.div_ceil(4));
    // High bit depths: `420p10`, `444p16`, `mono16`, ...
    let (base, depth) = if let Some(d) = colourspace.strip_prefix("mono").filter(|d| !d.is_empty()) {
        ("mono", d.parse::<u32>().ok()?)
    } else if let Some((b, d)) = colourspace.split_once('p').filter(|(b, d)| {
        !d.is_empty() && b.chars().all(|c| c.is_ascii_digit()) && d.chars().all(|c| c.is_ascii_digit())
    }) {
        (b, d.parse::<u32>().ok()?)
    } else {
        (colourspace, 8)
    };
    if !(8..=16).contains(&depth) {
        return None;
    }
    let samples = match base {
        "420jpeg" | "420mpeg2" | "420paldv" | "420" => w * h + 2 * cw2 * ch2,
        "411" => w * h + 2 * cw4 * h,
        "422" => w * h + 2 * cw2 * h,
        "444" => 3 * w * h,
        "444alpha" => 4 * w * h,
        "mono" => w * h,
        _ => return None,
    };
    Some(samples * if depth > 8 { 2 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_header_lines() {
        let line = b"YUV4MPEG2 W160 H90 F25:1 Ip A1:1 C420jpeg XYSCSS=420JPEG";
        let h = Y4mHeader::parse(line).unwrap();
        assert_eq!((h.width, h.height, h.frame_rate), (160, 90, (25, 1)));
        assert_eq!(h.frame_size(), Some(21600));
        assert_eq!(h.to_line().as_bytes(), line);
        assert_eq!(h.range, ColorRange::Unspecified);
        // FFmpeg's line for a full-range (yuvj420p) stream.
        let full = b"YUV4MPEG2 W176 H144 F25:1 Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE=FULL";
        let h = Y4mHeader::parse(full).unwrap();
        assert_eq!(h.range, ColorRange::Full);
        assert_eq!(h.to_line().as_bytes(), full);
        let limited = Y4mHeader { range: ColorRange::Limited, ..h };
        assert!(limited.to_line().ends_with("XYSCSS=420JPEG XCOLORRANGE=LIMITED"));
        assert_eq!(Y4mHeader::parse(limited.to_line().as_bytes()).unwrap().range, ColorRange::Limited);
        assert_eq!(frame_size("420p10", 3, 3), Some(2 * (9 + 2 * 4)));
        assert_eq!(frame_size("mono16", 4, 4), Some(32));
        assert_eq!(frame_size("422", 5, 2), Some(10 + 2 * 3 * 2));
        assert_eq!(frame_size("bogus", 4, 4), None);
        assert_eq!(frame_size("420paldv", 4, 4), Some(24));
        assert_eq!(frame_size("444alpha", 2, 2), Some(16));
        // FFmpeg's line for interlaced MPEG-2 with non-square samples.
        let tff = b"YUV4MPEG2 W1440 H1080 F30000:1001 It A4:3 C420mpeg2 XYSCSS=420MPEG2 XCOLORRANGE=LIMITED";
        let h = Y4mHeader::parse(tff).unwrap();
        assert_eq!((h.field_order, h.sar), (Some(FieldOrder::TopFirst), Some((4, 3))));
        assert_eq!(h.to_line().as_bytes(), tff);
        let h = Y4mHeader::parse(b"YUV4MPEG2 W16 H16 Ib A0:0 C422").unwrap();
        assert_eq!((h.field_order, h.sar), (Some(FieldOrder::BottomFirst), None));
        assert_eq!(h.to_line(), "YUV4MPEG2 W16 H16 F25:1 Ib A0:0 C422 XYSCSS=422");
        assert!(Y4mHeader::parse(b"YUV4MPEG2 W0 H90").is_err());
        assert!(Y4mHeader::parse(b"YUV4MPEG2 W10 H10 Cxyz").is_err());
        assert!(Y4mHeader::parse(b"YUV4MPEG W10 H10").is_err());
    }
}
