//! One output track: how its packets are converted, its timescale, and the compact
//! sample tables a progressive file is planned with.

use transcode_codec::aac::AdtsHeader;
use transcode_core::{BitstreamFormat, CodecId, Error, MediaType, PacketView, Result, StreamInfo, TimeBase};

/// How a packet's bytes become an MP4 sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Payload {
    /// The packet is the sample.
    Copy,
    /// Annex-B NAL units to 4-byte length prefixes.
    AnnexB,
    /// An ADTS frame without its header.
    Adts,
}

impl Payload {
    pub fn for_stream(info: &StreamInfo) -> Payload {
        match (info.codec, info.format) {
            (CodecId::H264 | CodecId::H265, BitstreamFormat::AnnexB) => Payload::AnnexB,
            (CodecId::Aac, BitstreamFormat::Adts) => Payload::Adts,
            _ => Payload::Copy,
        }
    }

    /// The sample size `data` converts to.
    pub fn converted_len(self, data: &[u8]) -> Result<usize> {
        Ok(match self {
            Payload::Copy => data.len(),
            Payload::AnnexB => AnnexBUnits::new(data).map(|n| n.len() + 4).sum(),
            Payload::Adts => data.len() - adts_header_len(data)?,
        })
    }

    /// Writes the converted sample with `write` (called once per piece, no copy);
    /// returns the number of bytes written.
    pub fn emit(self, data: &[u8], mut write: impl FnMut(&[u8]) -> Result<()>) -> Result<usize> {
        match self {
            Payload::Copy => {
                write(data)?;
                Ok(data.len())
            }
            Payload::Adts => {
                let body = &data[adts_header_len(data)?..];
                write(body)?;
                Ok(body.len())
            }
            Payload::AnnexB => {
                let mut n = 0;
                for nal in AnnexBUnits::new(data) {
                    write(&(nal.len() as u32).to_be_bytes())?;
                    write(nal)?;
                    n += 4 + nal.len();
                }
                Ok(n)
            }
        }
    }
}

/// Position of the next `00 00 01` at or after `from`: the same answer as
/// `transcode_codec::nal::find_start_code`, found a word at a time. Each 16-byte word is
/// turned into a mask of its zero bytes; a start code needs two adjacent zeros, so a
/// 16-byte word without an adjacent pair lets the scan move 15 bytes on (15, not 16, so a
/// pair straddling two words is seen in the next). This scan is the hot loop of Annex-B → MP4
/// remuxing (it runs once in each pass).
pub(crate) fn find_start_code(d: &[u8], from: usize) -> Option<usize> {
    const L7: u128 = 0x7F7F_7F7F_7F7F_7F7F_7F7F_7F7F_7F7F_7F7F;
    let n = d.len();
    let mut i = from;
    while i + 16 <= n {
        let w = u128::from_le_bytes(d[i..i + 16].try_into().expect("16 bytes"));
        // 0x80 in every byte of `w` that is zero, exactly (no carries between bytes).
        let zeros = !((w & L7).wrapping_add(L7) | w | L7);
        let pairs = zeros & (zeros >> 8);
        if pairs == 0 {
            i += 15;
            continue;
        }
        let p = i + (pairs.trailing_zeros() / 8) as usize;
        if p + 2 < n && d[p + 2] == 1 {
            return Some(p);
        }
        i = p + 1;
    }
    while i + 2 < n {
        if d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 1 {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The NAL units of an Annex-B buffer, delimited exactly as FFmpeg's MP4 muxer does
/// (`ff_avc_parse_nal_units`), so that converted samples are byte-identical to FFmpeg's:
/// a unit ends where the next start code begins, less one zero byte when that start code
/// has four bytes; zero bytes at the very end of the buffer stay in the last unit.
///
/// `transcode_codec::nal::split_annexb` trims every trailing zero instead (which the
/// standard allows, as trailing_zero_8bits), so a packet ending in a zero byte would
/// convert one byte shorter than FFmpeg's. Kept here until the codec crate offers an
/// FFmpeg-exact splitter.
#[derive(Debug, Clone)]
pub(crate) struct AnnexBUnits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> AnnexBUnits<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        AnnexBUnits { data, pos: Self::start_code(data, 0) }
    }

    /// Where the start code at or after `from` begins (including one leading zero of a
    /// 4-byte code), or the end of the buffer.
    fn start_code(data: &[u8], from: usize) -> usize {
        match find_start_code(data, from) {
            Some(p) if p > from && data[p - 1] == 0 => p - 1,
            Some(p) => p,
            None => data.len(),
        }
    }
}

impl<'a> Iterator for AnnexBUnits<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let d = self.data;
        // Step over the start code's zeros and its 01.
        while self.pos < d.len() && d[self.pos] == 0 {
            self.pos += 1;
        }
        if self.pos >= d.len() {
            return None;
        }
        self.pos += 1;
        if self.pos >= d.len() {
            return None;
        }
        let start = self.pos;
        let end = Self::start_code(d, start);
        self.pos = end;
        Some(&d[start..end])
    }
}

fn adts_header_len(data: &[u8]) -> Result<usize> {
    let h = AdtsHeader::parse(data)
        .ok_or_else(|| Error::invalid("aac packet without an adts header (expected adts framing)"))?;
    if h.raw_blocks != 1 {
        return Err(Error::unsupported(format!("adts frame with {} raw data blocks (expected 1)", h.raw_blocks)));
    }
    Ok(h.header_len as usize)
}

/// The fixed description of one output track.
#[derive(Debug, Clone)]
pub(crate) struct TrackSetup {
    /// The input stream this track carries.
    pub stream: usize,
    /// `track_ID`, from 1.
    pub id: u32,
    /// The input description, completed from the first packets where it lacked
    /// extradata or parameters.
    pub info: StreamInfo,
    pub payload: Payload,
    /// The media timescale: the input's `1/N` time base for video (90 kHz for TS), the
    /// sample rate for audio.
    pub timescale: u32,
    pub described: bool,
}

impl TrackSetup {
    /// Checks that the stream can go into MP4 and picks the timescale and conversion.
    /// `Ok(None)` for streams MP4 output drops (data streams).
    pub fn new(info: &StreamInfo, id: u32) -> Result<Option<TrackSetup>> {
        match info.codec {
            CodecId::H264 | CodecId::H265 | CodecId::Mpeg2Video | CodecId::Aac | CodecId::Mp2 | CodecId::Mp3 => {}
            c if c.media_type() == MediaType::Data => {
                tracing::warn!(
                    "dropping stream {} ({}): mp4 output carries only audio and video",
                    info.index,
                    c.name()
                );
                return Ok(None);
            }
            c => {
                return Err(Error::unsupported(format!(
                    "{} in mp4 output (expected h264, hevc, mpeg2video, aac, mp2 or mp3)",
                    c.name()
                )))
            }
        }
        let mut setup = TrackSetup {
            stream: info.index,
            id,
            info: info.clone(),
            payload: Payload::for_stream(info),
            timescale: 0,
            described: false,
        };
        setup.fix_timescale();
        Ok(Some(setup))
    }

    fn fix_timescale(&mut self) {
        let tb = self.info.time_base;
        self.timescale = match self.info.audio {
            Some(a) if a.sample_rate > 0 => a.sample_rate,
            _ if tb.num == 1 && tb.den >= 1000 => tb.den,
            _ => 90_000,
        };
    }

    /// Learns what the stream description lacks (avcC, ASC, dimensions) from a packet.
    pub fn describe(&mut self, pkt: &PacketView<'_>) {
        if self.described {
            return;
        }
        if self.info.codec.media_type() == MediaType::Video && !pkt.keyframe && self.info.extradata.is_empty() {
            return;
        }
        self.described = transcode_codec::describe::describe(&mut self.info, pkt.data);
        self.fix_timescale();
    }

    /// Takes what `later` (the same stream, described after more packets) knows that
    /// this description lacks. The time base and timescale are kept.
    pub fn refine(&mut self, later: &StreamInfo) {
        let info = &mut self.info;
        if info.extradata.is_empty() && !later.extradata.is_empty() {
            info.extradata = later.extradata.clone();
        }
        info.video = info.video.or(later.video);
        info.audio = info.audio.or(later.audio);
        info.language = info.language.or(later.language);
    }

    /// Ticks of the input time base to ticks of this track's timescale.
    pub fn rescale(&self, ts: i64) -> i64 {
        self.info.time_base.rescale(ts, TimeBase::new(1, self.timescale))
    }

    pub fn is_video(&self) -> bool {
        self.info.codec.media_type() == MediaType::Video
    }

    /// The codec configuration as the sample entry carries it. Annex-B input is written
    /// with 4-byte lengths, so its record must say so.
    pub fn config_record(&self) -> Result<Vec<u8>> {
        let mut rec = self.info.extradata.clone();
        match self.info.codec {
            CodecId::H264 | CodecId::H265 if rec.is_empty() => {
                return Err(Error::invalid(format!(
                    "stream {}: no {} parameter sets before the first keyframe (expected extradata or in-band sps/pps)",
                    self.stream,
                    self.info.codec.name()
                )))
            }
            CodecId::H264 if self.payload == Payload::AnnexB && rec.len() > 4 => rec[4] |= 3,
            CodecId::H265 if self.payload == Payload::AnnexB && rec.len() > 21 => rec[21] |= 3,
            CodecId::Aac if rec.is_empty() => {
                return Err(Error::invalid(format!("stream {}: aac without an audio specific config", self.stream)))
            }
            _ => {}
        }
        Ok(rec)
    }
}

/// Timing of one sample, already in track ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SampleTime {
    pub dts: i64,
    /// pts - dts.
    pub cts: i64,
    /// The packet's own duration, for the last sample.
    pub duration: Option<i64>,
}

/// Turns packet timestamps into monotonic track ticks: rescaled, a missing dts taken
/// from the pts or the previous sample, a dts that goes backwards clamped (with a
/// warning) as FFmpeg's command line does.
#[derive(Debug, Clone, Default)]
pub(crate) struct Clock {
    last_dts: Option<i64>,
    last_delta: i64,
    warned: bool,
}

impl Clock {
    pub fn time(&mut self, setup: &TrackSetup, pkt: &PacketView<'_>) -> SampleTime {
        let pts = pkt.pts.map(|t| setup.rescale(t));
        let duration = pkt.duration.filter(|d| *d > 0).map(|d| setup.rescale(d));
        let guess = self.last_dts.map(|l| l + duration.unwrap_or(self.last_delta));
        let mut dts = pkt.dts.map(|t| setup.rescale(t)).or(pts).or(guess).unwrap_or(0);
        if let Some(last) = self.last_dts {
            if dts < last {
                if !self.warned {
                    tracing::warn!("stream {}: dts goes back from {last} to {dts}; clamping", setup.stream);
                    self.warned = true;
                }
                dts = last;
            }
            self.last_delta = dts - last;
        }
        self.last_dts = Some(dts);
        let cts = pts.map_or(0, |p| p - dts);
        SampleTime { dts, cts, duration }
    }
}

/// The sample tables of a planned progressive track, run-length coded where the format
/// allows: 4 bytes per sample for sizes, a few bytes per timing change.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    pub sizes: Vec<u32>,
    /// (count, delta) runs; the last sample's delta is added by [`Plan::close`].
    pub stts: Vec<(u32, u32)>,
    /// (count, offset) runs.
    pub ctts: Vec<(u32, i32)>,
    /// 1-based numbers of sync samples.
    pub stss: Vec<u32>,
    pub first_dts: i64,
    pub first_cts: i64,
    last_dts: i64,
    last_duration: Option<i64>,
    pub bytes: u64,
    pub max_size: u32,
    closed: bool,
}

impl Plan {
    pub fn samples(&self) -> u32 {
        self.sizes.len() as u32
    }

    pub fn add(&mut self, t: SampleTime, size: u32, keyframe: bool) -> Result<()> {
        let n = self.sizes.len() as u32;
        // Validate everything before recording anything: a refused packet leaves no trace.
        let cts = i32::try_from(t.cts)
            .map_err(|_| Error::invalid(format!("composition offset {} (expected a 32-bit value)", t.cts)))?;
        let delta =
            if n == 0 {
                None
            } else {
                Some(u32::try_from(t.dts - self.last_dts).map_err(|_| {
                    Error::invalid(format!("sample delta {} (expected 0..2^32)", t.dts - self.last_dts))
                })?)
            };
        match delta {
            None => {
                self.first_dts = t.dts;
                self.first_cts = t.cts;
            }
            Some(d) => push_run(&mut self.stts, d),
        }
        push_run(&mut self.ctts, cts);
        if keyframe {
            self.stss.push(n + 1);
        }
        self.sizes.push(size);
        self.last_dts = t.dts;
        self.last_duration = t.duration;
        self.bytes += size as u64;
        self.max_size = self.max_size.max(size);
        Ok(())
    }

    /// Adds the last sample's duration: the packet's own, else the previous delta.
    pub fn close(&mut self) {
        if self.closed || self.sizes.is_empty() {
            return;
        }
        self.closed = true;
        let prev = self.stts.last().map_or(0, |r| r.1);
        let last = self.last_duration.and_then(|d| u32::try_from(d).ok()).unwrap_or(prev);
        push_run(&mut self.stts, last);
    }

    /// Sum of all deltas (after [`Plan::close`]).
    pub fn duration(&self) -> u64 {
        self.stts.iter().map(|&(n, d)| n as u64 * d as u64).sum()
    }

    pub fn all_keyframes(&self) -> bool {
        self.stss.len() == self.sizes.len()
    }

    pub fn needs_ctts(&self) -> bool {
        self.ctts.iter().any(|r| r.1 != 0)
    }
}

fn push_run<T: PartialEq + Copy>(runs: &mut Vec<(u32, T)>, v: T) {
    match runs.last_mut() {
        Some((n, last)) if *last == v && *n < u32::MAX => *n += 1,
        _ => runs.push((1, v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_split_like_ffmpeg() {
        let data = [0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 1, 0x65, 3, 0];
        let units: Vec<&[u8]> = AnnexBUnits::new(&data).collect();
        assert_eq!(units, [&[0x67, 1][..], &[0x68, 2], &[0x65, 3, 0]]);
        assert_eq!(Payload::AnnexB.converted_len(&data).unwrap(), 4 + 2 + 4 + 2 + 4 + 3);
        assert_eq!(AnnexBUnits::new(&[1, 2, 3]).count(), 0);
        assert_eq!(AnnexBUnits::new(&[0, 0, 1]).count(), 0);
    }

    #[test]
    fn word_scan_finds_what_the_byte_scan_finds() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for len in 0..300usize {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    // Mostly zeros and ones, so that start codes are frequent.
                    [0, 0, 0, 1, 2, 0x80, (seed >> 32) as u8][(seed % 7) as usize]
                })
                .collect();
            for from in 0..len.min(40) {
                assert_eq!(
                    find_start_code(&data, from),
                    transcode_codec::nal::find_start_code(&data, from),
                    "len {len} from {from}"
                );
            }
        }
    }
}
