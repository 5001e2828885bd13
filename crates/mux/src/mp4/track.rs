//! One output track: how its packets are converted, its timescale, and the compact
//! sample tables a progressive file is planned with.

use std::ops::Range;

use super::spill::Record;
use transcode_codec::aac::AdtsHeader;
use transcode_codec::nal;
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

    /// The sample size `data` converts to, keeping in `units` what [`Payload::emit`]
    /// needs (the NAL unit ranges of Annex-B input), so that the units are searched for
    /// once. `last_unit` is where an earlier measure of the same bytes found the last
    /// NAL unit ([`Units::last_start`]): the search then stops there instead of running
    /// through that unit, usually most of the access unit.
    pub fn measure(self, data: &[u8], units: &mut Units, last_unit: Option<u32>) -> Result<usize> {
        units.ranges.clear();
        units.overflow = false;
        units.last = None;
        units.hint = last_unit.map(|at| at as usize);
        units.skip = 0;
        Ok(match self {
            Payload::Copy => data.len(),
            Payload::AnnexB => {
                let mut n = 0;
                for r in units.search(data) {
                    n += 4 + r.len();
                    units.last = Some(r.start);
                    if units.ranges.len() < Units::MAX_KEPT {
                        units.ranges.push(r);
                    } else {
                        units.overflow = true;
                    }
                }
                n
            }
            Payload::Adts => {
                units.skip = adts_header_len(data)?;
                data.len() - units.skip
            }
        })
    }

    /// Writes the converted sample with `write` (called once per piece, no copy), from
    /// what [`Payload::measure`] found in the same `data`.
    pub fn emit(self, data: &[u8], units: &Units, mut write: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        let piece = |r: Range<usize>| {
            write(&(r.len() as u32).to_be_bytes())?;
            write(&data[r])
        };
        match self {
            Payload::Copy | Payload::Adts => write(&data[units.skip..]),
            Payload::AnnexB if units.overflow => units.search(data).try_for_each(piece),
            Payload::AnnexB => units.ranges.iter().cloned().try_for_each(piece),
        }
    }
}

/// Where the pieces of one converted sample are in its packet; reused from packet to
/// packet. At most [`Units::MAX_KEPT`] ranges are kept, so that a packet of a million
/// tiny NAL units cannot make it grow past 64 KiB: such a packet is searched again when
/// it is written.
#[derive(Debug, Clone, Default)]
pub(crate) struct Units {
    ranges: Vec<Range<usize>>,
    /// More units than [`Units::MAX_KEPT`]: `ranges` holds only the first ones.
    overflow: bool,
    /// Where the last unit starts.
    last: Option<usize>,
    /// Where an earlier pass found the last unit.
    hint: Option<usize>,
    /// Bytes of header to leave out (ADTS).
    skip: usize,
}

impl Units {
    /// Most unit ranges kept per packet (16 bytes each).
    const MAX_KEPT: usize = 4096;

    fn search<'a>(&self, data: &'a [u8]) -> nal::ExactRanges<'a> {
        let it = nal::unit_ranges_exact(data);
        match self.hint {
            Some(at) => it.with_last_unit_at(at),
            None => it,
        }
    }

    /// Where the last NAL unit of the measured packet starts, as a hint for measuring
    /// the same packet again; `None` without units or beyond 4 GiB.
    pub fn last_start(&self) -> Option<u32> {
        self.last.and_then(|at| u32::try_from(at).ok())
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
            CodecId::H264 | CodecId::H265 | CodecId::Mpeg1Video | CodecId::Mpeg2Video | CodecId::Aac | CodecId::Mp2 | CodecId::Mp3 => {}
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

/// [`Record::last_unit`] of a sample without NAL units (and of other than Annex-B
/// tracks).
pub(crate) const NO_UNIT: u32 = u32::MAX;

/// Run-length coding state: counts the runs of equal values and hands back each run
/// as it ends, so that a table can be both sized while planning and written later from
/// the same values without keeping them.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Runs<T> {
    /// Runs so far, the open one included.
    pub runs: u32,
    open: Option<(u32, T)>,
}

impl<T: PartialEq + Copy> Runs<T> {
    /// Adds one value; returns the (count, value) run it closes, if any.
    pub fn push(&mut self, v: T) -> Option<(u32, T)> {
        match &mut self.open {
            Some((n, last)) if *last == v && *n < u32::MAX => {
                *n += 1;
                None
            }
            open => {
                self.runs += 1;
                open.replace((1, v))
            }
        }
    }

    /// The value of the open run.
    pub fn last(&self) -> Option<T> {
        self.open.map(|r| r.1)
    }

    /// Closes the open run and returns it.
    pub fn finish(&mut self) -> Option<(u32, T)> {
        self.open.take()
    }
}

/// What the moov needs to size the sample tables of a planned progressive track: O(1)
/// memory whatever the number of samples. The samples themselves go to the plan file
/// ([`super::spill`]) as a [`Record`] each, and the tables are written from there.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    samples: u32,
    /// (count, delta) runs; the last sample's delta is added by [`Plan::close`].
    pub stts: Runs<u32>,
    /// (count, offset) runs.
    pub ctts: Runs<i32>,
    ctts_nonzero: bool,
    pub ctts_negative: bool,
    /// Sync samples.
    pub keyframes: u32,
    /// Chunks of this track and (first_chunk, samples) runs of them.
    pub chunks: u32,
    pub stsc_runs: u32,
    last_chunk: Option<u32>,
    pub first_dts: i64,
    pub first_cts: i64,
    last_dts: i64,
    last_duration: Option<i64>,
    /// The last sample's duration, set by [`Plan::close`].
    pub last_delta: u32,
    /// Sum of the deltas.
    duration: u64,
    pub bytes: u64,
    pub max_size: u32,
    closed: bool,
}

impl Plan {
    pub fn samples(&self) -> u32 {
        self.samples
    }

    /// Records one sample and returns its record for the plan file (track 0); `last_unit`
    /// is where its last NAL unit starts for Annex-B tracks (`Some(NO_UNIT)` when it has
    /// none), `None` for other tracks.
    pub fn add(&mut self, t: SampleTime, size: u32, keyframe: bool, last_unit: Option<u32>) -> Result<Record> {
        let n = self.samples;
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
            Some(d) => {
                self.stts.push(d);
                self.duration += d as u64;
            }
        }
        self.ctts.push(cts);
        self.ctts_nonzero |= cts != 0;
        self.ctts_negative |= cts < 0;
        self.keyframes += u32::from(keyframe);
        self.samples += 1;
        self.last_dts = t.dts;
        self.last_duration = t.duration;
        self.bytes += size as u64;
        self.max_size = self.max_size.max(size);
        Ok(Record { track: 0, keyframe, size, delta: delta.unwrap_or(0), cts, last_unit: last_unit.unwrap_or(NO_UNIT) })
    }

    /// Counts a chunk of `samples` samples of this track.
    pub fn add_chunk(&mut self, samples: u32) {
        self.chunks += 1;
        if self.last_chunk != Some(samples) {
            self.stsc_runs += 1;
            self.last_chunk = Some(samples);
        }
    }

    /// Adds the last sample's duration: the packet's own, else the previous delta.
    pub fn close(&mut self) {
        if self.closed || self.samples == 0 {
            return;
        }
        self.closed = true;
        let prev = self.stts.last().unwrap_or(0);
        let last = self.last_duration.and_then(|d| u32::try_from(d).ok()).unwrap_or(prev);
        self.stts.push(last);
        self.last_delta = last;
        self.duration += last as u64;
    }

    /// Sum of all deltas (after [`Plan::close`]).
    pub fn duration(&self) -> u64 {
        self.duration
    }

    pub fn all_keyframes(&self) -> bool {
        self.keyframes == self.samples
    }

    pub fn needs_ctts(&self) -> bool {
        self.ctts_nonzero
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annexb_samples_are_sized_like_ffmpeg() {
        let data = [0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 1, 0x65, 3, 0];
        let mut units = Units::default();
        assert_eq!(Payload::AnnexB.measure(&data, &mut units, None).unwrap(), 4 + 2 + 4 + 2 + 4 + 3);
        assert_eq!(units.last_start(), Some(15));
        assert_eq!(Payload::AnnexB.measure(&data, &mut units, Some(15)).unwrap(), 19);
        let mut out = Vec::new();
        Payload::AnnexB
            .emit(&data, &units, |b| {
                out.extend_from_slice(b);
                Ok(())
            })
            .unwrap();
        assert_eq!(out, [0, 0, 0, 2, 0x67, 1, 0, 0, 0, 2, 0x68, 2, 0, 0, 0, 3, 0x65, 3, 0]);
    }

    #[test]
    fn packets_of_many_units_keep_bounded_ranges() {
        let n = Units::MAX_KEPT + 10;
        let mut data = Vec::new();
        for i in 0..n {
            data.extend_from_slice(&[0, 0, 1, 0x41, i as u8 | 1]);
        }
        let mut units = Units::default();
        let size = Payload::AnnexB.measure(&data, &mut units, None).unwrap();
        assert_eq!(size, n * 6);
        assert_eq!(units.ranges.len(), Units::MAX_KEPT);
        assert_eq!(units.last_start(), Some(((n - 1) * 5 + 3) as u32));
        let mut out = Vec::new();
        Payload::AnnexB
            .emit(&data, &units, |b| {
                out.extend_from_slice(b);
                Ok(())
            })
            .unwrap();
        assert_eq!(out.len(), size);
        assert_eq!(&out[out.len() - 6..], &[0, 0, 0, 2, 0x41, (n - 1) as u8 | 1]);
    }
}
