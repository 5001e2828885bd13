//! Format detection from content.
//!
//! Every format has a detector in [`FORMATS`]: a function that looks at the head of the
//! input (its first [`PROBE_LEN`] bytes) and says where that format's data starts, if it
//! is there. [`detect`] asks them all and takes the format whose data starts first; of
//! two that start at the same offset, the one listed first. Most formats must start the
//! input (Y4M, MP4); some are also found after junk, where their syntax makes a search
//! safe:
//!
//! - MPEG-TS and M2TS: a run of sync bytes at a 188- or 192-byte stride anywhere in the
//!   head, confirmed over [`TS_CONFIRM`] packets as the demuxer confirms its first packet
//!   (capture tools write headers or partial buffers first, files get cut anywhere);
//! - Annex-B H.264/H.265: a start code after junk, when its unit is one a stream starts
//!   with and parameter sets and a picture follow;
//! - ADTS and MPEG audio: after an ID3v2 tag.
//!
//! - MPEG program streams: a pack header after junk (the next pack after a damaged one).
//!
//! MPEG-1/2 video elementary streams start with a plausible sequence header, or with the
//! cut pictures of a recording cut mid-GOP before it.
//!
//! Random bytes match nothing: a false TS needs five sync bytes in a row at the stride
//! (about one chance in 10^12 per offset), a false Annex-B stream a parsable SPS.

use crate::Input;
use transcode_codec::nal::find_start_code;
use transcode_codec::{h264, h265, mpega::FrameHeader};
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
    /// MPEG-1/2 video elementary stream (`.m2v`, `.m1v`).
    MpegVideo,
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
            Format::MpegVideo => "mpegvideo",
        }
    }
}

/// How many bytes detection looks at: the first MiB (less from a pipe whose read-ahead
/// is smaller).
pub const PROBE_LEN: usize = 1 << 20;

/// Consecutive packets whose sync bytes confirm a transport stream found after junk
/// (fewer when the input ends first; at least [`TS_MIN_PACKETS`]).
pub const TS_CONFIRM: usize = crate::ts::FIRST_SYNC_CONFIRM;

/// The fewest packets a whole transport stream may have and still be recognised.
pub const TS_MIN_PACKETS: usize = 3;

/// A format's detector: given the head of the input (all of it when `at_end`), the
/// offset at which the format's data starts, or `None` when it is not there.
pub type Detector = fn(head: &[u8], at_end: bool) -> Option<usize>;

/// Every format transcode reads, with its detector, in order of preference for data
/// that starts at the same offset. **A new format is registered here** (one line), and
/// opened in [`crate::open_demuxer_as`].
pub const FORMATS: &[(Format, Detector)] = &[
    (Format::Y4m, y4m),
    (Format::Mp4, mp4),
    (Format::MpegPs, mpeg_ps),
    (Format::MpegTs { packet_size: 188 }, ts188),
    (Format::MpegTs { packet_size: 192 }, ts192),
    (Format::Adts, adts),
    (Format::H264, annexb_h264),
    (Format::H265, annexb_h265),
    (Format::MpegAudio, mpeg_audio),
    (Format::MpegVideo, mpeg_video),
];

/// Detects the format of `input` from its first bytes. Does not consume the input.
pub fn detect(input: &mut Input) -> Result<Format> {
    detect_at(input).map(|(format, _)| format)
}

/// [`detect`], with the offset at which the format's data starts (after junk or a tag).
pub fn detect_at(input: &mut Input) -> Result<(Format, u64)> {
    let want = PROBE_LEN.min(input.read_ahead_limit());
    let head = input.get(0, want)?;
    if head.is_empty() {
        return Err(Error::invalid("the input is empty"));
    }
    let at_end = head.len() < want;
    detect_head(head, at_end).map(|(f, at)| (f, at as u64)).ok_or(Error::UnknownFormat)
}

/// Detection over a byte prefix; `None` when nothing matches. A `head` shorter than
/// [`PROBE_LEN`] is taken to be the whole input.
pub fn detect_bytes(head: &[u8]) -> Option<Format> {
    detect_head(head, head.len() < PROBE_LEN).map(|(f, _)| f)
}

/// Detection over the head of an input (all of it when `at_end`): the format whose
/// data starts first, and where.
pub fn detect_head(head: &[u8], at_end: bool) -> Option<(Format, usize)> {
    let mut best: Option<(Format, usize)> = None;
    for &(format, detector) in FORMATS {
        if best.is_some_and(|(_, at)| at == 0) {
            break;
        }
        match (detector(head, at_end), best) {
            (Some(at), Some((_, b))) if at >= b => {}
            (Some(at), _) => best = Some((format, at)),
            (None, _) => {}
        }
    }
    best
}

/// An MPEG-1/2 video elementary stream: a plausible sequence header (valid size,
/// aspect ratio and frame rate codes, the marker bit after the bit rate) followed by a
/// picture start code, at the start, or after the cut pictures of a recording cut
/// mid-GOP (the head starts with a picture or GOP start code and its first sequence
/// header comes later). Not after junk: a sequence header inside the PES packets of a
/// damaged program or transport stream would be taken for an elementary stream.
fn mpeg_video(head: &[u8], _at_end: bool) -> Option<usize> {
    let plausible = |b: &[u8]| {
        b.len() >= 12
            && b[..4] == [0, 0, 1, 0xB3]
            && (b[4] as u32) << 4 | (b[5] as u32) >> 4 != 0
            && ((b[5] & 0xF) as u32) << 8 | b[6] as u32 != 0
            && (1..=14).contains(&(b[7] >> 4))
            && (1..=8).contains(&(b[7] & 0xF))
            && b[10] & 0x20 != 0
    };
    let followed_by_picture = |sc: usize| {
        let window = &head[sc + 4..head.len().min(sc + 4096)];
        (0..window.len().saturating_sub(3)).any(|i| window[i..i + 4] == [0, 0, 1, 0])
    };
    match head.get(..4)? {
        [0, 0, 1, 0xB3] => (plausible(head) && followed_by_picture(0)).then_some(0),
        [0, 0, 1, 0x00 | 0xB8] => {
            // Only picture-layer units may come before the first sequence header.
            let mut pos = 0;
            while let Some(sc) = find_start_code(head, pos) {
                match head.get(sc + 3)? {
                    0xB3 if plausible(&head[sc..]) && followed_by_picture(sc) => return Some(0),
                    0x00..=0xAF | 0xB2 | 0xB5 | 0xB8 => {}
                    _ => return None,
                }
                pos = sc + 3;
            }
            None
        }
        _ => None,
    }
}

/// An MPEG program stream: a pack header (MPEG-1 or MPEG-2 form, its marker bits and
/// what follows it checked by [`crate::ps::probe`]), at the start or after junk.
fn mpeg_ps(head: &[u8], _at_end: bool) -> Option<usize> {
    let mut pos = 0;
    while let Some(sc) = find_start_code(head, pos) {
        if head.get(sc + 3) == Some(&0xBA) && crate::ps::probe(&head[sc..]) {
            return Some(sc);
        }
        pos = sc + 3;
    }
    None
}

fn y4m(head: &[u8], _at_end: bool) -> Option<usize> {
    head.starts_with(b"YUV4MPEG2").then_some(0)
}

fn mp4(head: &[u8], _at_end: bool) -> Option<usize> {
    let typ = head.get(4..8)?;
    [b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"moof", b"styp", b"sidx"]
        .iter()
        .any(|t| typ == *t)
        .then_some(0)
}

fn ts188(head: &[u8], at_end: bool) -> Option<usize> {
    ts_start(head, at_end, 188, 0)
}

fn ts192(head: &[u8], at_end: bool) -> Option<usize> {
    ts_start(head, at_end, 192, 4)
}

/// The first offset from which packets of `size` bytes line up (sync byte at `so`):
/// [`TS_CONFIRM`] of them, or every packet left when the input ends before (at least
/// [`TS_MIN_PACKETS`]).
fn ts_start(head: &[u8], at_end: bool, size: usize, so: usize) -> Option<usize> {
    let mut from = 0;
    while from + so < head.len() {
        let rel = head[from + so..].iter().position(|&b| b == crate::ts::packet::SYNC_BYTE)?;
        let cand = from + rel;
        let in_head = (0..TS_CONFIRM).take_while(|k| cand + k * size + so < head.len()).count();
        let synced = (0..in_head).take_while(|k| head[cand + k * size + so] == crate::ts::packet::SYNC_BYTE).count();
        let enough = synced == TS_CONFIRM || (at_end && synced == in_head && synced >= TS_MIN_PACKETS);
        if enough {
            return Some(cand);
        }
        if !at_end && synced == in_head {
            // The confirmations run past the head: nothing later can be decided either.
            return None;
        }
        from = cand + 1;
    }
    None
}

/// Length of an ID3v2 tag at the start of `head` (header, body and optional footer),
/// 0 if there is none.
fn id3v2_len(head: &[u8]) -> usize {
    match head.get(..10) {
        Some(h) if &h[..3] == b"ID3" && h[6..10].iter().all(|b| b & 0x80 == 0) => {
            let size = h[6..10].iter().fold(0usize, |a, &b| (a << 7) | (b & 0x7F) as usize);
            10 + size + if h[5] & 0x10 != 0 { 10 } else { 0 }
        }
        _ => 0,
    }
}

/// ADTS frames from the start, or after an ID3v2 tag: up to three chained headers.
fn adts(head: &[u8], _at_end: bool) -> Option<usize> {
    let start = id3v2_len(head);
    let mut pos = start;
    let mut frames = 0;
    while frames < 3 {
        let Some(h) = head.get(pos..pos + 7) else { break };
        if h[0] != 0xFF || h[1] & 0xF6 != 0xF0 {
            return None;
        }
        let len = (((h[3] & 3) as usize) << 11) | ((h[4] as usize) << 3) | ((h[5] as usize) >> 5);
        if len < 7 {
            return None;
        }
        pos += len;
        frames += 1;
    }
    (frames >= 1).then_some(start)
}

/// MPEG audio frames from the start, or after an ID3v2 tag: three chained headers (two
/// when the input ends first).
fn mpeg_audio(head: &[u8], _at_end: bool) -> Option<usize> {
    let start = id3v2_len(head);
    let mut pos = start;
    let mut frames = 0;
    while frames < 3 {
        let Some(h) = head.get(pos..pos + 4) else { return (frames >= 2).then_some(start) };
        let fh = FrameHeader::parse(h)?;
        pos += fh.frame_len as usize;
        frames += 1;
    }
    Some(start)
}

fn annexb_h264(head: &[u8], at_end: bool) -> Option<usize> {
    annexb(head, at_end).filter(|(f, _)| *f == Format::H264).map(|(_, at)| at)
}

fn annexb_h265(head: &[u8], at_end: bool) -> Option<usize> {
    annexb(head, at_end).filter(|(f, _)| *f == Format::H265).map(|(_, at)| at)
}

/// How far past a start code found after junk the search for parameter sets and a
/// picture reaches.
const ANNEXB_CONFIRM_LEN: usize = 64 << 10;
/// How many start codes after junk are tried: a stream's first unit confirms at once,
/// so data with many plausible but unconfirmed ones is not an elementary stream (and a
/// search through it stays bounded).
const ANNEXB_CANDIDATES: usize = 16;

/// An Annex-B stream: a start code at the start (after zero bytes) whose unit reads as
/// H.264 or H.265; or, after junk, the first start code whose unit is one a stream
/// starts with (an access unit delimiter or a parameter set) and after which a
/// parsable SPS, a PPS and a picture follow.
fn annexb(head: &[u8], _at_end: bool) -> Option<(Format, usize)> {
    let lead = head.iter().take_while(|&&b| b == 0).count();
    if lead >= 2 && head.get(lead) == Some(&1) {
        return annexb_kind(head, lead + 1).map(|f| (f, 0));
    }
    let mut from = 0;
    let mut tried = 0;
    while let Some(sc) = find_start_code(head, from) {
        from = sc + 1;
        let Some(kind) = annexb_first_unit(head, sc + 3) else { continue };
        tried += 1;
        if tried > ANNEXB_CANDIDATES {
            return None;
        }
        let end = (sc + ANNEXB_CONFIRM_LEN).min(head.len());
        if annexb_confirmed(kind, &head[sc..end]) {
            // The zero bytes before the start code belong to the stream.
            let start = head[..sc].iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            return Some((kind, start));
        }
    }
    None
}

/// What the unit at `nal` (just after a start code at the start of the input) reads as.
fn annexb_kind(head: &[u8], nal: usize) -> Option<Format> {
    let b0 = *head.get(nal)?;
    let h264 = b0 & 0x80 == 0 && matches!(b0 & 0x1F, 1 | 5 | 6 | 7 | 8 | 9);
    let h265 = b0 & 0x81 == 0
        && head.get(nal + 1).is_some_and(|b| b & 0xF8 == 0 && b & 7 != 0)
        && matches!((b0 >> 1) & 0x3F, 32..=35 | 39 | 16..=21);
    match (h264, h265) {
        // H.264 AUD (0x09) and SPS (0x67, 0x27) read as H.265 type 4/19 with a zero
        // temporal id byte only by accident; prefer H.264 unless the H.265 reading is a
        // VPS/SPS/PPS/AUD, which are the usual first units of an H.265 stream.
        (true, true) => Some(if matches!((b0 >> 1) & 0x3F, 32..=35) { Format::H265 } else { Format::H264 }),
        (true, false) => Some(Format::H264),
        (false, true) => Some(Format::H265),
        _ => None,
    }
}

/// Whether the unit at `nal` is one a stream starts with after junk: an H.264 AUD or
/// SPS (`nal_ref_idc` non-zero, as an SPS must have), an H.265 VPS, SPS or AUD.
fn annexb_first_unit(head: &[u8], nal: usize) -> Option<Format> {
    let b0 = *head.get(nal)?;
    let b1 = *head.get(nal + 1)?;
    if b0 == 0x09 || (b0 & 0x9F == 0x07 && b0 & 0x60 != 0) {
        return Some(Format::H264);
    }
    let h265_header = b0 & 0x81 == 0 && b1 & 0xF8 == 0 && b1 & 7 != 0;
    (h265_header && matches!((b0 >> 1) & 0x3F, 32 | 33 | 35)).then_some(Format::H265)
}

/// Whether `data` (from a start code on) holds a parsable SPS, a PPS and a picture of
/// the `kind` of stream.
fn annexb_confirmed(kind: Format, data: &[u8]) -> bool {
    let (mut sps, mut pps, mut vcl) = (false, false, false);
    for nal in transcode_codec::nal::split_annexb(data) {
        match kind {
            Format::H264 => match h264::nal_type(nal) {
                h264::nal_type::SPS => sps |= h264::parse_sps(nal).is_ok(),
                h264::nal_type::PPS => pps |= sps,
                h264::nal_type::SLICE | h264::nal_type::IDR => vcl |= pps,
                _ => {}
            },
            _ => match h265::nal_type(nal) {
                h265::nal_type::SPS => sps |= h265::parse_sps(nal).is_ok(),
                h265::nal_type::PPS => pps |= sps,
                0..=21 => vcl |= pps,
                _ => {}
            },
        }
        if vcl {
            return true;
        }
    }
    false
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
        assert_eq!(detect_head(&garbage_first, true), Some((Format::MpegTs { packet_size: 188 }, 7)));
        assert_eq!(detect_bytes(b"hello world, not media"), None);
    }

    #[test]
    fn ts_after_junk_needs_five_packets_unless_the_input_ends() {
        let mut data = vec![0x11u8; 5000];
        for k in 0..4 {
            data[1003 + k * 188] = 0x47;
        }
        // Four sync bytes in a row, then more data: not enough.
        assert_eq!(ts188(&data, true), None);
        data[1003 + 4 * 188] = 0x47;
        assert_eq!(ts188(&data, true), Some(1003));
        // Three packets that end the input are a (tiny) transport stream.
        let mut short = vec![0x11u8; 1003];
        short.extend((0..3).flat_map(|_| {
            let mut p = vec![0u8; 188];
            p[0] = 0x47;
            p
        }));
        assert_eq!(ts188(&short, true), Some(1003));
        // A head cut by the probe window, not by the end of the input, decides nothing
        // on packets past the window.
        assert_eq!(ts188(&short, false), None);
    }

    #[test]
    fn audio_after_an_id3_tag() {
        let mut tag = b"ID3\x04\x00\x00\x00\x00\x00\x05".to_vec();
        tag.extend_from_slice(&[0; 5]);
        // Three ADTS frames of 16 bytes (AAC LC, 48 kHz, stereo).
        let mut adts = tag.clone();
        for _ in 0..3 {
            let mut f = vec![0xFF, 0xF1, 0x4C, 0x80, 0x02, 0x1F, 0xFC];
            f.resize(16, 0);
            adts.extend_from_slice(&f);
        }
        assert_eq!(detect_head(&adts, true), Some((Format::Adts, 15)));
    }
}
