//! Format detection from content.

use crate::Input;
use transcode_core::{Error, Result};

/// A container or elementary-stream format transcode can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// MPEG transport stream with 188-byte packets, or 192-byte (M2TS/BDAV: a 4-byte
    /// timecode before each packet).
    MpegTs { packet_size: usize },
    /// ISO base media (MP4, MOV, fragmented MP4).
    Mp4,
    /// MPEG program stream or MPEG-1 system stream (`.mpg`, `.vob`).
    MpegPs,
    /// H.264 Annex-B elementary stream.
    H264,
    /// H.265 Annex-B elementary stream.
    H265,
    /// AAC in ADTS frames.
    Adts,
    /// MPEG-1/2 audio layers I-III.
    MpegAudio,
    /// YUV4MPEG2.
    Y4m,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::MpegTs { packet_size: 192 } => "m2ts",
            Format::MpegTs { .. } => "mpegts",
            Format::Mp4 => "mp4",
            Format::MpegPs => "mpeg",
            Format::H264 => "h264",
            Format::H265 => "hevc",
            Format::Adts => "aac",
            Format::MpegAudio => "mp3",
            Format::Y4m => "yuv4mpegpipe",
        }
    }
}

/// How many bytes detection looks at.
const PROBE_LEN: usize = 64 * 1024;

/// Detects the format of `input` from its first bytes. Does not consume the input.
pub fn detect(input: &mut Input) -> Result<Format> {
    let head = input.get(0, PROBE_LEN)?;
    if head.is_empty() {
        return Err(Error::invalid("the input is empty"));
    }
    detect_bytes(head).ok_or(Error::UnknownFormat)
}

/// Detection over a byte prefix; `None` when nothing matches.
pub fn detect_bytes(head: &[u8]) -> Option<Format> {
    if head.starts_with(b"YUV4MPEG2") {
        return Some(Format::Y4m);
    }
    if is_mp4(head) {
        return Some(Format::Mp4);
    }
    // Transport streams: the sync byte repeats at the packet size. Try a few starting
    // offsets so leading garbage does not hide a stream.
    for (size, first) in [(188usize, 0usize), (192, 4)] {
        for start in 0..size.min(head.len()) {
            let at = start + first;
            let needed = 5.min((head.len().saturating_sub(at)) / size);
            if needed >= 3 && (0..needed).all(|i| head.get(at + i * size) == Some(&0x47)) {
                return Some(Format::MpegTs { packet_size: size });
            }
        }
    }
    if crate::ps::probe(head) {
        return Some(Format::MpegPs);
    }
    if head.len() >= 2 && head[0] == 0xFF && head[1] & 0xF6 == 0xF0 && adts_chain(head) {
        return Some(Format::Adts);
    }
    if let Some(f) = annexb_kind(head) {
        return Some(f);
    }
    if mpeg_audio_chain(head) {
        return Some(Format::MpegAudio);
    }
    None
}

fn is_mp4(head: &[u8]) -> bool {
    if head.len() < 8 {
        return false;
    }
    let typ = &head[4..8];
    [b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"moof", b"styp", b"sidx"]
        .iter()
        .any(|t| typ == *t)
}

fn adts_chain(head: &[u8]) -> bool {
    let mut pos = 0;
    let mut frames = 0;
    while pos + 7 <= head.len() && frames < 3 {
        let h = &head[pos..];
        if h[0] != 0xFF || h[1] & 0xF6 != 0xF0 {
            return false;
        }
        let len = (((h[3] & 3) as usize) << 11) | ((h[4] as usize) << 3) | ((h[5] as usize) >> 5);
        if len < 7 {
            return false;
        }
        pos += len;
        frames += 1;
    }
    frames >= 1
}

fn annexb_kind(head: &[u8]) -> Option<Format> {
    // Must start with a start code (after optional zero bytes).
    let lead = head.iter().take_while(|&&b| b == 0).count();
    if lead < 2 || head.get(lead) != Some(&1) {
        return None;
    }
    let nal = *head.get(lead + 1)?;
    let h264 = nal & 0x80 == 0 && matches!(nal & 0x1F, 1 | 5 | 6 | 7 | 8 | 9);
    let h265 = nal & 0x81 == 0 && head.get(lead + 2).is_some_and(|b| b & 0xF8 == 0 && b & 7 != 0)
        && matches!((nal >> 1) & 0x3F, 32..=35 | 39 | 16..=21);
    match (h264, h265) {
        // H.264 AUD (0x09) and SPS (0x67, 0x27) read as H.265 type 4/19 with a zero
        // temporal id byte only by accident; prefer H.264 unless the H.265 reading is a
        // VPS/SPS/PPS/AUD, which are the usual first units of an H.265 stream.
        (true, true) => Some(if matches!((nal >> 1) & 0x3F, 32..=35) { Format::H265 } else { Format::H264 }),
        (true, false) => Some(Format::H264),
        (false, true) => Some(Format::H265),
        _ => None,
    }
}

fn mpeg_audio_chain(head: &[u8]) -> bool {
    // ID3v2 tags precede many MP3 files.
    let mut pos = 0;
    if head.starts_with(b"ID3") && head.len() >= 10 {
        let sz = head[6..10].iter().fold(0usize, |a, &b| (a << 7) | (b & 0x7F) as usize);
        pos = 10 + sz;
    }
    let mut frames = 0;
    while frames < 3 {
        let Some(h) = head.get(pos..pos + 4) else { return frames >= 2 };
        match transcode_codec::mpega::FrameHeader::parse(h) {
            Some(fh) => {
                pos += fh.frame_len as usize;
                frames += 1;
            }
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_content() {
        assert_eq!(detect_bytes(b"YUV4MPEG2 W2 H2"), Some(Format::Y4m));
        assert_eq!(detect_bytes(b"\0\0\0\x18ftypisom"), Some(Format::Mp4));
        assert_eq!(detect_bytes(&[0, 0, 0, 1, 0x67, 0x64]), Some(Format::H264));
        assert_eq!(detect_bytes(&[0, 0, 0, 1, 0x40, 0x01, 0x0c]), Some(Format::H265));
        let mut ts = vec![0u8; 188 * 5];
        for i in 0..5 {
            ts[i * 188] = 0x47;
        }
        assert_eq!(detect_bytes(&ts), Some(Format::MpegTs { packet_size: 188 }));
        let mut garbage_first = vec![0x11u8; 7];
        garbage_first.extend_from_slice(&ts);
        assert_eq!(detect_bytes(&garbage_first), Some(Format::MpegTs { packet_size: 188 }));
        assert_eq!(detect_bytes(b"hello world, not media"), None);
    }
}
