//! MPEG transport stream muxer (188-byte TS and 192-byte M2TS packets).
//!
//! # Design
//!
//! One program; PAT and PMT at the start and again every [`TsOptions::psi_interval_ms`];
//! one PES per packet; transport packets are written into one reused buffer that goes to
//! the writer in large writes ([`TsOptions::flush_size`]). Payloads that need no
//! conversion (TS → TS, ADTS, MPEG audio, MPEG-2 video) are copied once, from the
//! packet straight into the output buffer; converted payloads go through one reused
//! scratch buffer first.
//!
//! Conversions, by the framing the packets arrive in:
//!
//! | input                          | written as                                          |
//! |--------------------------------|-----------------------------------------------------|
//! | length-prefixed H.264/H.265    | Annex-B, parameter sets from `extradata` before keyframes (FFmpeg's `*_mp4toannexb` rules) |
//! | Annex-B H.264/H.265            | as is; parameter sets inserted before a keyframe that lacks them |
//! | (both)                         | an access unit delimiter first where there is none, as FFmpeg writes |
//! | raw AAC (`extradata` = ASC)    | ADTS frames                                          |
//! | ADTS, MPEG audio, MPEG-2, other| as is                                                |
//!
//! # Timing
//!
//! PTS and DTS are rescaled to 90 kHz and otherwise kept: a stream that starts at DTS
//! 126000 is written with DTS 126000. If the first timestamp is negative (an MP4 with
//! an edit list), every stream is shifted by the same amount so that it becomes 0;
//! [`TsOptions::ts_offset`] adds a constant on top. Values are written modulo 2^33.
//! The PCR (on the first video stream, or the first stream) runs
//! [`TsOptions::pcr_delay_ms`] behind the DTS (never below 0). It is carried in the
//! first transport packet of the PCR stream's PES whenever
//! [`TsOptions::pcr_interval_ms`] of that stream's time has passed, so its spacing is
//! the frame interval (40 ms at 25 fps), as FFmpeg writes it for variable-rate output;
//! there is no mux rate from which to interpolate inside a frame. When the PCR stream
//! falls silent for longer than the PCR delay while other streams go on, PCR-only
//! packets keep the clock going. M2TS arrival timestamps follow the PCR.

mod packetize;
mod psi;

use std::io::Write;

use packetize::PacketWriter;
use transcode_codec::aac::{self, AudioSpecificConfig};
use transcode_codec::nal::{find_start_code, lp_units, split_annexb, Mp4ToAnnexB};
use transcode_codec::{h264, h265};
use transcode_core::{BitstreamFormat, CodecId, Error, MediaType, PacketView, Result, StreamInfo, TimeBase};

use crate::Muxer;

/// Options of [`TsMuxer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsOptions {
    /// Write 192-byte M2TS (BDAV) packets: a 4-byte arrival timestamp before each
    /// transport packet.
    ///
    /// Default: `false`. M2TS is what Blu-ray tools and some cameras expect; plain TS is
    /// what everything else reads.
    pub m2ts: bool,
    /// PID of the PMT.
    ///
    /// Default: `0x1000`, as FFmpeg writes.
    pub pmt_pid: u16,
    /// PID of the first elementary stream; stream `i` gets `first_pid + i`.
    ///
    /// Default: `0x100`, as FFmpeg writes.
    pub first_pid: u16,
    /// Program number in the PAT and PMT.
    ///
    /// Default: `1`.
    pub program_number: u16,
    /// `transport_stream_id` in the PAT.
    ///
    /// Default: `1`.
    pub transport_stream_id: u16,
    /// How often PAT and PMT are repeated, in milliseconds of stream time.
    ///
    /// Default: `100`. Shorter lets a receiver tune in sooner, at the cost of 376 bytes
    /// per repetition.
    pub psi_interval_ms: u32,
    /// Largest gap between PCRs on the PCR stream, in milliseconds of stream time.
    ///
    /// Default: `20`. The standard allows 100; DVB asks for 40.
    pub pcr_interval_ms: u32,
    /// How far the PCR runs behind the DTS, in milliseconds: the decoder's buffering time.
    ///
    /// Default: `700` (FFmpeg's `max_delay`). Smaller values risk decoder buffer
    /// underflow in hardware players; the value does not change PTS or DTS.
    pub pcr_delay_ms: u32,
    /// Added to every PTS and DTS, in 90 kHz ticks, after the shift that makes the first
    /// timestamp non-negative.
    ///
    /// Default: `0` (timestamps kept). FFmpeg adds `126000` (1.4 s) so that the PCR can
    /// start below the first DTS.
    pub ts_offset: i64,
    /// Output is handed to the writer in writes of at least this many bytes.
    ///
    /// Default: `64 KiB`. Larger means fewer system calls, at the cost of memory.
    pub flush_size: usize,
}

impl Default for TsOptions {
    fn default() -> Self {
        TsOptions {
            m2ts: false,
            pmt_pid: 0x1000,
            first_pid: 0x100,
            program_number: 1,
            transport_stream_id: 1,
            psi_interval_ms: 100,
            pcr_interval_ms: 20,
            pcr_delay_ms: 700,
            ts_offset: 0,
            flush_size: 64 << 10,
        }
    }
}

/// Writes MPEG-TS or M2TS.
///
/// Packets may arrive in any framing listed in the module docs; streams are described
/// by the [`StreamInfo`]s given to [`Muxer::begin`] (their `extradata` is needed for
/// length-prefixed H.264/H.265 and raw AAC).
pub struct TsMuxer {
    writer: Box<dyn Write + Send>,
    opts: TsOptions,
    w: PacketWriter,
    streams: Vec<MuxStream>,
    pcr_stream: usize,
    begun: bool,
    finished: bool,
    /// Bytes already handed to the writer.
    flushed: u64,
    /// Added to every 90 kHz timestamp; fixed by the first timestamp seen.
    shift: Option<i64>,
    /// Stream time (90 kHz, shifted) of the last PCR and of the last PAT/PMT.
    last_pcr_clock: Option<i64>,
    last_psi_clock: Option<i64>,
    /// Stream time of the last PCR-only packet.
    last_fill_clock: Option<i64>,
    /// The last PCR written, 27 MHz.
    last_pcr: u64,
    pat_cc: u8,
    pmt_cc: u8,
    pat: Vec<u8>,
    pmt: Vec<u8>,
    /// Converted payloads.
    scratch: Vec<u8>,
}

impl std::fmt::Debug for TsMuxer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsMuxer").field("opts", &self.opts).field("streams", &self.streams.len()).finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct MuxStream {
    pid: u16,
    stream_id: u8,
    time_base: TimeBase,
    cc: u8,
    conv: Conversion,
}

#[derive(Debug)]
enum Conversion {
    /// Written as it comes.
    None,
    /// Length-prefixed to Annex-B, then as [`Conversion::AnnexB`].
    LengthPrefixed { to_annexb: Box<Mp4ToAnnexB>, nal: NalKind, len_size: u8 },
    /// Annex-B: an AUD where missing, parameter sets before keyframes that lack them.
    AnnexB { nal: NalKind, param_sets: Vec<u8> },
    /// Raw AAC frames to ADTS.
    Adts(AudioSpecificConfig),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NalKind {
    H264,
    H265,
}

impl NalKind {
    fn is_aud(self, header: u8) -> bool {
        match self {
            NalKind::H264 => header & 0x1F == 9,
            NalKind::H265 => (header >> 1) & 0x3F == 35,
        }
    }

    fn aud(self) -> &'static [u8] {
        match self {
            NalKind::H264 => &[0, 0, 0, 1, 0x09, 0xF0],
            NalKind::H265 => &[0, 0, 0, 1, 0x46, 0x01, 0x50],
        }
    }
}

impl TsMuxer {
    /// A muxer writing to `writer`.
    pub fn new(writer: Box<dyn Write + Send>, options: TsOptions) -> Self {
        let m2ts = options.m2ts;
        TsMuxer {
            writer,
            opts: options,
            w: PacketWriter { out: Vec::new(), m2ts, ats: 0 },
            streams: Vec::new(),
            pcr_stream: 0,
            begun: false,
            finished: false,
            flushed: 0,
            shift: None,
            last_pcr_clock: None,
            last_psi_clock: None,
            last_fill_clock: None,
            last_pcr: 0,
            pat_cc: 0,
            pmt_cc: 0,
            pat: Vec::new(),
            pmt: Vec::new(),
            scratch: Vec::new(),
        }
    }

    fn write_psi(&mut self) {
        self.w.section(0, &mut self.pat_cc, &self.pat);
        self.w.section(self.opts.pmt_pid, &mut self.pmt_cc, &self.pmt);
    }

    fn flush_if_full(&mut self) -> Result<()> {
        if self.w.out.len() >= self.opts.flush_size {
            self.flush_buffer()?;
        }
        Ok(())
    }

    fn flush_buffer(&mut self) -> Result<()> {
        if !self.w.out.is_empty() {
            self.writer.write_all(&self.w.out)?;
            self.flushed += self.w.out.len() as u64;
            self.w.out.clear();
        }
        Ok(())
    }
}

/// The stream type, PES stream id and registration descriptor for a codec.
fn stream_kind(s: &StreamInfo) -> Result<(u8, u8, Option<[u8; 4]>)> {
    Ok(match s.codec {
        CodecId::H264 => (0x1B, 0xE0, None),
        CodecId::H265 => (0x24, 0xE0, None),
        CodecId::Mpeg1Video => (0x01, 0xE0, None),
        CodecId::Mpeg2Video => (0x02, 0xE0, None),
        CodecId::Aac => (0x0F, 0xC0, None),
        CodecId::Mp2 | CodecId::Mp3 => {
            // MPEG-2 audio (the lower sampling rates) has its own stream type.
            let low = s.audio.is_some_and(|a| a.sample_rate > 0 && a.sample_rate < 32000);
            (if low { 0x04 } else { 0x03 }, 0xC0, None)
        }
        CodecId::Ac3 => (0x81, 0xBD, Some(*b"AC-3")),
        CodecId::Unknown(t) => (t, 0xBD, None),
        other => return Err(Error::unsupported(format!("{} in mpeg-ts", other.name()))),
    })
}

fn conversion(s: &StreamInfo) -> Result<Conversion> {
    let nal = match s.codec {
        CodecId::H264 => Some(NalKind::H264),
        CodecId::H265 => Some(NalKind::H265),
        _ => None,
    };
    Ok(match (nal, s.format) {
        (Some(nal), BitstreamFormat::LengthPrefixed { len_size }) => {
            let to_annexb = match nal {
                NalKind::H264 => {
                    let mut rec = h264::AvcC::parse(&s.extradata)
                        .map_err(|e| Error::invalid(format!("stream {}: h264 avcC record: {e}", s.index)))?;
                    rec.len_size = len_size;
                    Mp4ToAnnexB::h264(&rec)
                }
                NalKind::H265 => {
                    let mut rec = h265::HvcC::parse(&s.extradata)
                        .map_err(|e| Error::invalid(format!("stream {}: hevc hvcC record: {e}", s.index)))?;
                    rec.len_size = len_size;
                    Mp4ToAnnexB::h265(&rec)
                }
            };
            Conversion::LengthPrefixed { to_annexb: Box::new(to_annexb), nal, len_size }
        }
        (Some(nal), _) => {
            // The record may be missing for an Annex-B source; parameter sets are then
            // learned from the stream itself.
            let param_sets = match nal {
                NalKind::H264 => h264::AvcC::parse(&s.extradata).map(|r| r.to_annexb()).unwrap_or_default(),
                NalKind::H265 => h265::HvcC::parse(&s.extradata).map(|r| r.to_annexb()).unwrap_or_default(),
            };
            Conversion::AnnexB { nal, param_sets }
        }
        (None, BitstreamFormat::Raw) if s.codec == CodecId::Aac => {
            let asc = AudioSpecificConfig::parse(&s.extradata)
                .map_err(|e| Error::invalid(format!("stream {}: aac needs its audio specific config for adts: {e}", s.index)))?;
            Conversion::Adts(asc)
        }
        _ => Conversion::None,
    })
}

/// What an Annex-B access unit holds before its first picture data.
struct AuScan {
    /// Offset where the first unit after a leading AUD starts (its start code), or 0
    /// when the access unit does not start with an AUD.
    after_aud: usize,
    has_aud: bool,
    has_param_sets: bool,
    keyframe: bool,
}

fn scan_au(nal: NalKind, data: &[u8]) -> AuScan {
    let mut scan = AuScan { after_aud: 0, has_aud: false, has_param_sets: false, keyframe: false };
    // Only the unit headers matter, and only up to the first picture unit: look at
    // start codes, never scan a unit to its end (a slice is most of the access unit).
    let mut pos = 0;
    let mut first = true;
    while let Some(sc) = find_start_code(data, pos) {
        pos = sc + 3;
        let Some(&b) = data.get(pos) else { break };
        let aud = nal.is_aud(b);
        let (ps, vcl, key) = match nal {
            NalKind::H264 => {
                let t = b & 0x1F;
                (t == 7, (1..=5).contains(&t), t == 5)
            }
            NalKind::H265 => {
                let t = (b >> 1) & 0x3F;
                (t == 32 || t == 33, t < 32, (16..=23).contains(&t))
            }
        };
        if first && aud {
            scan.has_aud = true;
            let mut next = find_start_code(data, pos).unwrap_or(data.len());
            while next > pos && data[next - 1] == 0 {
                next -= 1;
            }
            scan.after_aud = next;
        }
        first = false;
        scan.has_param_sets |= ps;
        if vcl {
            scan.keyframe = key;
            break;
        }
    }
    scan
}

/// Remembers the parameter sets of an access unit (in Annex-B form) when none are known.
fn learn_param_sets(nal: NalKind, data: &[u8], param_sets: &mut Vec<u8>) {
    for unit in split_annexb(data) {
        let Some(&b) = unit.first() else { continue };
        let keep = match nal {
            NalKind::H264 => matches!(b & 0x1F, 7 | 8),
            NalKind::H265 => matches!((b >> 1) & 0x3F, 32..=34),
        };
        if keep {
            param_sets.extend_from_slice(&[0, 0, 0, 1]);
            param_sets.extend_from_slice(unit);
        }
    }
}

/// Writes `data` into `out` with an AUD first (where missing) and `param_sets` before a
/// keyframe that lacks them; returns false when `data` can be used as it is.
fn fix_annexb(nal: NalKind, data: &[u8], param_sets: &mut Vec<u8>, out: &mut Vec<u8>) -> bool {
    let scan = scan_au(nal, data);
    if param_sets.is_empty() && scan.has_param_sets {
        learn_param_sets(nal, data, param_sets);
    }
    let insert_ps = scan.keyframe && !scan.has_param_sets && !param_sets.is_empty();
    if scan.has_aud && !insert_ps {
        return false;
    }
    let split = if scan.has_aud { scan.after_aud } else { 0 };
    out.clear();
    out.reserve(data.len() + nal.aud().len() + param_sets.len());
    if !scan.has_aud {
        out.extend_from_slice(nal.aud());
    }
    out.extend_from_slice(&data[..split]);
    if insert_ps {
        out.extend_from_slice(param_sets);
    }
    out.extend_from_slice(&data[split..]);
    true
}

impl Muxer for TsMuxer {
    fn begin(&mut self, streams: &[StreamInfo]) -> Result<()> {
        if self.begun {
            return Err(Error::invalid("the ts muxer was already begun"));
        }
        if streams.is_empty() {
            return Err(Error::invalid("no streams to mux (expected at least one)"));
        }
        let max = 0x1FFE - self.opts.first_pid as usize;
        if streams.len() > max.min(64) {
            return Err(Error::LimitExceeded { what: "ts streams", requested: streams.len() as u64, limit: max.min(64) as u64 });
        }
        let mut entries = Vec::with_capacity(streams.len());
        for (i, s) in streams.iter().enumerate() {
            let (stream_type, stream_id, registration) = stream_kind(s)?;
            let pid = self.opts.first_pid + i as u16;
            if pid == self.opts.pmt_pid {
                return Err(Error::invalid(format!("stream pid {pid:#x} collides with the pmt pid")));
            }
            entries.push(psi::PmtEntry { stream_type, pid, language: s.language, registration });
            self.streams.push(MuxStream { pid, stream_id, time_base: s.time_base, cc: 0, conv: conversion(s)? });
        }
        self.pcr_stream = streams.iter().position(|s| s.media_type() == MediaType::Video).unwrap_or(0);
        psi::pat(&mut self.pat, self.opts.transport_stream_id, self.opts.program_number, self.opts.pmt_pid);
        psi::pmt(&mut self.pmt, self.opts.program_number, self.streams[self.pcr_stream].pid, &entries);
        self.write_psi();
        self.begun = true;
        Ok(())
    }

    fn write_packet(&mut self, pkt: &PacketView<'_>) -> Result<()> {
        if !self.begun || self.finished {
            return Err(Error::invalid("ts packets must be written between begin and finish"));
        }
        let idx = pkt.stream;
        let Some(s) = self.streams.get(idx) else {
            return Err(Error::invalid(format!("packet for stream {idx} but the muxer has {} streams", self.streams.len())));
        };
        let tb = s.time_base;
        let to90 = |t: i64| if tb == TimeBase::MPEG { t } else { tb.rescale(t, TimeBase::MPEG) };
        let pts = pkt.pts.map(to90);
        let dts = pkt.dts.map(to90).or(pts);
        let pts = pts.or(dts);
        if self.shift.is_none() {
            if let Some(first) = dts {
                self.shift = Some(self.opts.ts_offset.saturating_add(first.saturating_neg().max(0)));
            }
        }
        let shift = self.shift.unwrap_or(self.opts.ts_offset);
        let (pts, dts) = (pts.map(|t| t.saturating_add(shift)), dts.map(|t| t.saturating_add(shift)));

        // PSI and PCR on the stream clock.
        let mut pcr = None;
        if let Some(clock) = dts {
            let psi_due = self.last_psi_clock.is_some_and(|t| clock.saturating_sub(t) >= self.opts.psi_interval_ms as i64 * 90);
            if self.last_psi_clock.is_none() {
                self.last_psi_clock = Some(clock);
            } else if psi_due {
                self.write_psi();
                self.last_psi_clock = Some(clock);
            }
            let interval = self.opts.pcr_interval_ms as i64 * 90;
            let delay = self.opts.pcr_delay_ms as i64 * 90;
            let value = (clock.saturating_sub(delay).max(0) as u64).saturating_mul(300).max(self.last_pcr);
            if idx == self.pcr_stream {
                if !matches!(self.last_pcr_clock, Some(t) if clock.saturating_sub(t) < interval) {
                    pcr = Some(value);
                    self.last_pcr = value;
                    self.last_pcr_clock = Some(clock);
                }
            } else {
                // Other streams run ahead of the PCR stream in file order (a whole audio
                // PES at once); only when the PCR stream has been silent for longer than
                // the decoder's buffer (or has not started) does a PCR-only packet
                // keep the clock going.
                let reference = self.last_pcr_clock.max(self.last_fill_clock);
                if !matches!(reference, Some(t) if clock.saturating_sub(t) < delay.max(2 * interval)) {
                    let p = &self.streams[self.pcr_stream];
                    self.w.ats = value;
                    self.w.pcr_only(p.pid, p.cc, value);
                    self.last_pcr = value;
                    self.last_fill_clock = Some(clock);
                }
            }
            self.w.ats = self.last_pcr;
        }

        // The payload, converted where needed.
        let s = &mut self.streams[idx];
        let scratch = &mut self.scratch;
        let payload: &[u8] = match &mut s.conv {
            Conversion::None => pkt.data,
            Conversion::LengthPrefixed { to_annexb, nal, len_size } => {
                scratch.clear();
                let first = lp_units(pkt.data, *len_size).next().and_then(|u| u.ok()).and_then(|u| u.first().copied());
                if !first.is_some_and(|b| nal.is_aud(b)) {
                    scratch.extend_from_slice(nal.aud());
                }
                to_annexb.convert(pkt.data, scratch).map_err(|e| Error::invalid(format!("stream {idx}: {e}")))?;
                &scratch[..]
            }
            Conversion::AnnexB { nal, param_sets } => {
                if fix_annexb(*nal, pkt.data, param_sets, scratch) {
                    &scratch[..]
                } else {
                    pkt.data
                }
            }
            Conversion::Adts(asc) => {
                let header = aac::write_adts_header(asc, pkt.data.len()).map_err(|e| Error::invalid(format!("stream {idx}: {e}")))?;
                scratch.clear();
                scratch.extend_from_slice(&header);
                scratch.extend_from_slice(pkt.data);
                &scratch[..]
            }
        };
        let mut head = [0u8; 19];
        let to33 = |t: i64| t.rem_euclid(1 << 33) as u64;
        let head_len = packetize::pes_header(&mut head, s.stream_id, pts.map(to33), dts.map(to33), payload.len());
        self.w.pes(s.pid, &mut s.cc, &head[..head_len], payload, pcr, pkt.keyframe);
        self.flush_if_full()
    }

    fn finish(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        self.flush_buffer()?;
        self.writer.flush()?;
        Ok(())
    }

    fn bytes_written(&self) -> u64 {
        self.flushed + self.w.out.len() as u64
    }
}
