//! ISO base media (MP4, MOV, fragmented MP4) demuxer.
//!
//! # Design
//!
//! - Only box *headers* are read while walking the top level; `mdat` is skipped by its
//!   size, never read. The `moov` is kept as one [`Bytes`]: a slice of the memory map
//!   (no copy) or, on a pipe, one owned copy bounded by [`MemoryConfig::max_memory`].
//! - The sample tables are not expanded. Each track keeps a small cursor over its `stts`,
//!   `ctts`, `stss`, `stsz`/`stz2`, `stsc` and `stco`/`co64` entries in the moov bytes,
//!   so a 5-million-sample track costs the same few hundred bytes as a 50-sample one.
//!   Every entry count is checked against its box size and
//!   [`MemoryConfig::max_table_entries`] when the moov is parsed.
//! - Packets come in file-offset order across tracks (as the file interleaves them),
//!   each [`PacketView::data`] a slice of the input: `input.get(offset, size)`, zero-copy
//!   on a mapped file. A sample that ends past the end of the file ends demuxing with
//!   [`DemuxStats::truncated`] set, counted in [`DemuxStats::samples_past_end`] when it
//!   starts there too (an index that points elsewhere) and in
//!   [`DemuxStats::cut_packets`] otherwise (a file cut short).
//! - Fragmented files (`moov` with `mvex`, then `moof`+`mdat` pairs) are read one
//!   fragment at a time: the moof is copied into a reused buffer, its `trun`s become runs
//!   that yield samples in place.
//! - On a pipe, moov-first progressive files and fragmented files work (samples are
//!   requested in increasing offset order and the input is released behind them);
//!   a moov after the mdat is [`Error::Unsupported`].
//!
//! # Timing
//!
//! Timestamps count ticks of the track's media timescale (`mdhd`), which is the stream's
//! [`TimeBase`](transcode_core::TimeBase) `1/timescale`. The decode time is the sum of
//! the `stts` (or `trun`/`tfhd`/`trex`) durations from the track start (or from the
//! fragment's `tfdt`), the presentation time adds the `ctts`/`trun` composition offset.
//!
//! **Edit lists are applied as a shift, the way FFmpeg does** (so the committed
//! `-copyts` oracle tables match): every dts and pts of a track is moved by
//! [`Mp4Demuxer::edit_shift`] = (the duration of the leading empty edits, in track ticks)
//! − (the first real edit's `media_time`). The usual B-frame edit list of FFmpeg and x264
//! output (`media_time` = first composition offset) thus gives a first pts of 0 and a
//! negative first dts; AAC priming (`media_time` = 1024) gives a first dts of −1024.
//! No sample is dropped and later edits are ignored. The raw table time of a packet is
//! `dts - edit_shift(stream)`.
//!
//! [`Bytes`]: bytes::Bytes
//! [`MemoryConfig::max_memory`]: transcode_core::MemoryConfig::max_memory
//! [`MemoryConfig::max_table_entries`]: transcode_core::MemoryConfig::max_table_entries
//! [`PacketView::data`]: transcode_core::PacketView::data
#![forbid(unsafe_code)]

mod boxes;
mod frag;
mod moov;
mod stsd;
mod tables;

use bytes::Bytes;

use crate::{DemuxStats, Demuxer, Input};
use boxes::BoxHeader;
use frag::{FragState, Run};
use moov::Track;
use tables::{Sample, SampleCursor};
use transcode_core::{CodecId, Error, MemoryConfig, PacketView, Result, StreamInfo};

/// One track's reading state.
#[derive(Debug)]
struct TrackState {
    cursor: SampleCursor,
    peek: Option<Sample>,
}

/// Demuxes MP4, MOV and fragmented MP4.
#[derive(Debug)]
pub struct Mp4Demuxer {
    input: Input,
    len: Option<u64>,
    max_packet: u64,
    config: MemoryConfig,
    streams: Vec<StreamInfo>,
    tracks: Vec<Track>,
    states: Vec<TrackState>,
    /// The moov box, from its first header byte.
    moov: Bytes,
    /// Movie fragments follow the moov.
    fragmented: bool,
    /// The current moof and its runs.
    moof: Vec<u8>,
    runs: Vec<Run>,
    frag_state: FragState,
    /// Next top-level box to look at for fragments.
    walk_pos: u64,
    walk_done: bool,
    done: bool,
    stats: DemuxStats,
    /// `trak` boxes the moov declares, including those not read.
    declared_tracks: u64,
}

impl Mp4Demuxer {
    /// Opens an MP4 input: walks the top-level boxes (headers only) up to the moov and
    /// parses it. Fails on a file without a moov, on a moov larger than
    /// `config.max_memory`, on malformed boxes and tables, and on a pipe whose moov comes
    /// after its mdat.
    pub fn new(mut input: Input, config: &MemoryConfig) -> Result<Self> {
        let len = input.len();
        let end = len.unwrap_or(u64::MAX);
        let mut pos = 0u64;
        let (moov, moov_header) = loop {
            let head = input.get(pos, 16)?;
            let Some(h) = BoxHeader::parse(head, pos)? else {
                return Err(Error::invalid(format!(
                    "no moov box in the {pos} bytes of the file (expected an mp4 movie header)"
                )));
            };
            let box_end = h.end(end);
            match &h.typ {
                b"moov" => {
                    let Some(size) = h.size else {
                        return Err(Error::unsupported("a moov box that extends to the end of the file"));
                    };
                    Error::check_limit("moov box bytes", size, config.max_memory)?;
                    if let Some(l) = len {
                        if box_end > l {
                            return Err(Error::invalid_at(
                                pos,
                                format!("moov box of {size} bytes ends past the end of the file ({l} bytes)"),
                            ));
                        }
                    }
                    let bytes = match input.shared() {
                        Some(map) => map.slice(pos as usize..box_end as usize),
                        None => {
                            let got = input.get(pos, size as usize)?;
                            if (got.len() as u64) < size {
                                return Err(Error::invalid_at(pos, format!("moov box of {size} bytes is cut short")));
                            }
                            Bytes::copy_from_slice(got)
                        }
                    };
                    break (bytes, h.header_len as usize);
                }
                b"mdat" if !input.is_seekable() => {
                    return Err(Error::unsupported(
                        "this mp4 has its moov after the media data, which a pipe cannot reach; give it as a file or remux it with faststart",
                    ));
                }
                b"moof" => {
                    return Err(Error::invalid_at(pos, "movie fragment before the moov box"));
                }
                _ => {}
            }
            if h.size.is_none() || box_end >= end {
                return Err(Error::invalid(format!("no moov box in the file (the last box ends at byte {box_end})")));
            }
            pos = box_end;
        };
        let moov_end = pos + moov.len() as u64;
        let movie = moov::parse_moov(&moov, moov_header, pos, config)?;
        let mut tracks = movie.tracks;
        let mut streams = Vec::with_capacity(tracks.len());
        let mut states = Vec::with_capacity(tracks.len());
        for (i, t) in tracks.iter_mut().enumerate() {
            t.info.index = i;
            let mut cursor = SampleCursor::default();
            let peek = cursor.next(&moov, &t.tables);
            states.push(TrackState { cursor, peek });
        }
        let mut demux = Mp4Demuxer {
            input,
            len,
            max_packet: config.max_packet_size,
            config: config.clone(),
            streams,
            frag_state: FragState { next_dts: vec![0; tracks.len()] },
            tracks,
            states,
            moov,
            fragmented: movie.fragmented,
            moof: Vec::new(),
            runs: Vec::new(),
            walk_pos: moov_end,
            walk_done: !movie.fragmented,
            done: false,
            stats: DemuxStats::default(),
            declared_tracks: movie.declared_tracks,
        };
        demux.tell_mpeg_audio_layers()?;
        streams = demux.tracks.iter().map(|t| t.info.clone()).collect();
        demux.streams = streams;
        Ok(demux)
    }

    /// The edit-list shift of `stream` in its time-base ticks: what was added to every
    /// dts and pts of the stream's packets (see the module's Timing section). 0 without
    /// an edit list.
    pub fn edit_shift(&self, stream: usize) -> i64 {
        self.tracks.get(stream).map_or(0, |t| t.shift)
    }

    /// Whether the file is fragmented (samples in `moof` boxes).
    pub fn is_fragmented(&self) -> bool {
        self.fragmented
    }

    /// MPEG audio sample entries do not say the layer; the first frame does.
    fn tell_mpeg_audio_layers(&mut self) -> Result<()> {
        for i in 0..self.tracks.len() {
            if !self.tracks[i].probe_layer {
                continue;
            }
            let mut first = self.states[i].peek;
            if first.is_none() && self.fragmented {
                // The first sample is in the first fragment: load it now (next_packet
                // would anyway) and look at the track's first run.
                if self.runs.is_empty() && !self.load_fragment()? {
                    continue;
                }
                first = self.runs.iter().find(|r| r.track == i).and_then(|r| r.peek);
            }
            let Some(s) = first else { continue };
            let head = self.input.get(s.offset, 4)?;
            if let Some(h) = transcode_codec::mpega::FrameHeader::parse(head) {
                let t = &mut self.tracks[i];
                t.info.codec = if h.layer == 3 { CodecId::Mp3 } else { CodecId::Mp2 };
                if let Some(a) = t.info.audio.as_mut() {
                    a.frame_samples = h.samples;
                }
            }
        }
        Ok(())
    }

    /// Reads top-level boxes from `walk_pos` until the next moof has been parsed into
    /// runs. Returns false at the end of the file.
    fn load_fragment(&mut self) -> Result<bool> {
        let end = self.len.unwrap_or(u64::MAX);
        while !self.walk_done {
            let pos = self.walk_pos;
            let head = self.input.get(pos, 16)?;
            let Some(h) = BoxHeader::parse(head, pos)? else {
                if !head.is_empty() {
                    self.stats.truncated = true;
                }
                self.walk_done = true;
                break;
            };
            let box_end = h.end(end);
            if h.size.is_none() {
                self.walk_done = true;
            }
            if box_end > end {
                // A box (usually the last mdat, or the mfra) cut short: whatever samples
                // it still holds are delivered, then demuxing stops there.
                self.stats.truncated = true;
            }
            self.walk_pos = box_end;
            if &h.typ != b"moof" {
                continue;
            }
            let Some(size) = h.size else {
                return Err(Error::invalid_at(pos, "moof box without a size"));
            };
            Error::check_limit("moof box bytes", size, self.config.max_memory)?;
            let got = self.input.get(pos, size as usize)?;
            if (got.len() as u64) < size {
                self.stats.truncated = true;
                self.walk_done = true;
                break;
            }
            self.moof.clear();
            self.moof.extend_from_slice(got);
            frag::parse_moof(
                &self.moof,
                h.header_len as usize,
                pos,
                &self.tracks,
                &mut self.frag_state,
                &mut self.runs,
                &self.config,
            )?;
            // Step over the mdat that follows now, so that on a pipe its header is not
            // needed again once the samples inside it have been released.
            let head = self.input.get(box_end, 16)?;
            if let Some(next) = BoxHeader::parse(head, box_end)? {
                if &next.typ == b"mdat" {
                    self.walk_pos = next.end(end);
                    if next.size.is_none() {
                        self.walk_done = true;
                    }
                }
            }
            return Ok(true);
        }
        Ok(false)
    }

    /// The next sample in file order: the progressive tracks' samples, then those of the
    /// current fragment's runs. Returns the stream index with it.
    fn next_sample(&mut self) -> Option<(usize, Sample)> {
        let mut best: Option<(usize, u64)> = None;
        for (i, s) in self.states.iter().enumerate() {
            if let Some(p) = &s.peek {
                if !matches!(best, Some((_, o)) if p.offset >= o) {
                    best = Some((i, p.offset));
                }
            }
        }
        if let Some((i, _)) = best {
            let st = &mut self.states[i];
            let s = st.peek.take()?;
            st.peek = st.cursor.next(&self.moov, &self.tracks[i].tables);
            return Some((i, s));
        }
        for (i, r) in self.runs.iter().enumerate() {
            if let Some(p) = &r.peek {
                if !matches!(best, Some((_, o)) if p.offset >= o) {
                    best = Some((i, p.offset));
                }
            }
        }
        let (i, _) = best?;
        let run = &mut self.runs[i];
        let s = run.peek?;
        run.advance(&self.moof);
        Some((run.track, s))
    }
}

impl Demuxer for Mp4Demuxer {
    fn streams(&self) -> &[StreamInfo] {
        &self.streams
    }

    fn next_packet(&mut self) -> Result<Option<PacketView<'_>>> {
        if self.done {
            return Ok(None);
        }
        let (stream, s) = loop {
            match self.next_sample() {
                Some(x) => break x,
                None => {
                    if !self.fragmented || !self.load_fragment()? {
                        self.done = true;
                        return Ok(None);
                    }
                }
            }
        };
        let size = s.size as u64;
        if size > self.max_packet {
            self.done = true;
            return Err(Error::LimitExceeded { what: "mp4 sample bytes", requested: size, limit: self.max_packet });
        }
        let sample_end = s.offset.saturating_add(size);
        if let Some(l) = self.len.filter(|&l| sample_end > l) {
            if s.offset >= l {
                tracing::warn!("sample at byte {} points past the end of the file ({l} bytes); stopping", s.offset);
                self.stats.samples_past_end += 1;
            } else {
                tracing::warn!("sample at byte {} of {size} bytes is cut short by the end of the file; stopping", s.offset);
                self.stats.cut_packets += 1;
            }
            self.stats.truncated = true;
            self.done = true;
            return Ok(None);
        }
        // Everything before this sample has been delivered; on a pipe it may go (but not
        // past a box header still to be read).
        let release = if self.walk_done { s.offset } else { s.offset.min(self.walk_pos) };
        self.input.release(release);
        let shift = self.tracks[stream].shift;
        // On a pipe the length is unknown: an empty sample must still lie inside the
        // input, so ask for at least one byte at its offset.
        let reach = if self.len.is_none() && size == 0 { 1 } else { size as usize };
        let data = self.input.get(s.offset, reach)?;
        if (data.len() as u64) < reach as u64 {
            // A pipe that ended before the sample did.
            if data.is_empty() {
                self.stats.samples_past_end += 1;
            } else {
                self.stats.cut_packets += 1;
            }
            self.stats.truncated = true;
            self.done = true;
            return Ok(None);
        }
        let data = &data[..size as usize];
        self.stats.bytes_read = self.stats.bytes_read.max(sample_end);
        let dts = s.dts.saturating_add(shift);
        Ok(Some(PacketView {
            stream,
            data,
            pts: Some(dts.saturating_add(s.cts)),
            dts: Some(dts),
            duration: Some(s.duration as i64),
            keyframe: s.keyframe,
            pos: Some(s.offset),
        }))
    }

    fn stats(&self) -> DemuxStats {
        self.stats.clone()
    }

    fn format_name(&self) -> &'static str {
        "mp4"
    }

    fn contents(&self) -> String {
        match (self.declared_tracks, self.tracks.len()) {
            (0, _) => "moov without tracks".to_string(),
            (n, 0) => format!("moov with {n} {}, none that transcode reads", if n == 1 { "track" } else { "tracks" }),
            _ => String::new(),
        }
    }

    fn input_len(&self) -> Option<u64> {
        self.len
    }
}
