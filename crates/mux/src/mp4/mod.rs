//! MP4 muxer: progressive faststart (moov before mdat, planned in a first pass) and
//! fragmented (moov, then moof+mdat per fragment).
//!
//! # Progressive output
//!
//! ```text
//!  plan pass:  plan_packet ─► per track, O(1): sample, run, keyframe and chunk counts
//!                          └► per sample: a 20-byte record (track, size, dts delta,
//!                             composition offset, keyframe, Annex-B: where its last NAL
//!                             starts) to an unlinked temporary file, via 64 KiB
//!  begin:      ftyp │ moov │ mdat header (64-bit if > 4 GiB); the moov's size is known
//!              from the counts, its table entries (and final stco/co64 offsets) are
//!              streamed from the records, one sequential read per table and track
//!  write pass: write_packet ─► checks against the next record (read in order), then
//!              converted payload bytes only, through one large buffer
//! ```
//!
//! The plan's heap memory does not grow with the input: chunks are the runs of one
//! track in the record sequence, so nothing is kept per chunk either.
//!
//! Annex-B video is searched for start codes once per pass: the plan pass searches whole
//! access units and keeps where the last NAL unit (normally the slice, most of the bytes)
//! starts; the write pass searches only the units before it, and keeps their ranges in
//! one reused list so that measuring and writing a sample search once.
//!
//! The write pass must present the same packets in the same order as the plan pass; each
//! packet's converted size and track are checked against the plan and a difference is an
//! error (the offsets in the moov would be wrong otherwise).
//!
//! # Progressive output without a planning pass (encoded streams)
//!
//! An encoder's packets exist only once: there is no input to read twice. With
//! [`Mp4Options::spool_data`] the muxer plans each packet as it is written and appends
//! its converted payload to a second unlinked temporary file; [`Muxer::finish`] then
//! writes ftyp, moov (offsets computed for the data behind it) and the mdat header to
//! the output, and copies the spooled payload after them in one sequential pass. The
//! heap stays what the planned layout uses; the data costs its size once more on disk,
//! until the muxer is dropped.
//!
//! ```text
//!  write_packet ─► plan record ─► spill file      finish ─► ftyp │ moov │ mdat header
//!               └► payload ────► data file                  └► data file copied behind
//! ```
//!
//! # Fragmented output
//!
//! `ftyp` + `moov` (with `mvex`/`trex` and empty tables) once the first fragment is
//! complete, then one `moof` + `mdat` per fragment. A fragment starts at every keyframe
//! of the first video track (about every second for audio-only output) and early when
//! its payload would exceed [`Mp4Options::max_fragment_bytes`]. Only the current
//! fragment's samples are held in memory.
//!
//! # Timing
//!
//! Timestamps are rescaled to the track's timescale (the input's `1/N` time base for
//! video, so 90 kHz from TS; the sample rate for audio) with round-to-nearest. Sample
//! durations are the dts differences; the last sample of a track (of a fragment) takes
//! the packet's duration, else the previous delta. Each track's timeline starts at its
//! first dts; an edit list restores where it is presented: `media_time` = the first
//! sample's composition offset (the B-frame delay), preceded by an empty edit of (the
//! track's first pts − the earliest first pts of all tracks), in movie ticks (the movie
//! timescale is the first track's). Read back with edit lists applied (as FFmpeg and
//! `transcode_demux_bridge::mp4` do), every packet's pts and dts is the input's minus
//! the earliest first pts of the file.
#![forbid(unsafe_code)]

mod boxes;
mod frag;
mod moov;
mod spill;
mod track;

use std::io::{BufWriter, Seek, Write};

use crate::Muxer;
use boxes::{Head, Hole, Table};
use frag::Fragment;
use moov::{Edit, MoovTrack};
use spill::Spill;
use track::{Clock, Payload, Plan, Runs, TrackSetup, Units, NO_UNIT};
use transcode_core::{Error, MemoryConfig, PacketView, Result, StreamInfo, TimeBase};

/// Options of [`Mp4Muxer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mp4Options {
    /// Write a fragmented MP4 (moov, then moof+mdat pairs) instead of a progressive one.
    ///
    /// Default: `false`. Fragmented output needs no planning pass and can go to a pipe;
    /// progressive output plays more widely and has the index up front.
    pub fragmented: bool,
    /// Largest payload one fragment may buffer before it is written, in bytes.
    ///
    /// Default: `8 MiB` ([`MemoryConfig::max_packet_bytes_in_flight`]). Larger values
    /// allow longer fragments for high bit rates, at the cost of that much memory.
    pub max_fragment_bytes: u64,
    /// Most samples the plan of a progressive file may hold (20 bytes each in a
    /// temporary file; the moov's tables take up to about 44 bytes a sample).
    ///
    /// Default: `16 Mi` ([`MemoryConfig::max_table_entries`]). Larger values allow
    /// longer files, at the cost of temporary disk space and moov size.
    pub max_samples: u64,
    /// Size of the output buffer: payloads are written in pieces of about this size.
    ///
    /// Default: `512 KiB`. Larger values mean fewer `write` calls, at the cost of memory.
    pub write_buffer_size: usize,
    /// Progressive only: take packets without a planning pass, spooling their payload
    /// to a temporary file until [`Muxer::finish`] writes the moov in front of it.
    ///
    /// Default: `false`. For packets that cannot be produced twice (an encoder's); costs
    /// one more sequential write and read of the payload, and its size in temporary
    /// disk space while the muxer lives.
    pub spool_data: bool,
}

impl Default for Mp4Options {
    fn default() -> Self {
        Mp4Options::from_config(&MemoryConfig::default())
    }
}

impl Mp4Options {
    /// Options with the bounds of `config`, progressive.
    pub fn from_config(config: &MemoryConfig) -> Self {
        Mp4Options {
            fragmented: false,
            max_fragment_bytes: config.max_packet_bytes_in_flight,
            max_samples: config.max_table_entries,
            write_buffer_size: 512 << 10,
            spool_data: false,
        }
    }
}

/// Counts what goes through to the writer.
struct Counting {
    inner: Box<dyn Write + Send>,
    written: u64,
    writes: u64,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        self.writes += 1;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Planning,
    Writing,
    Finished,
}

/// Writes MP4. See the module documentation for the two layouts.
pub struct Mp4Muxer {
    out: BufWriter<Counting>,
    options: Mp4Options,
    phase: Phase,
    tracks: Vec<TrackSetup>,
    /// Input stream index → track index (None: stream dropped or unknown).
    track_of: Vec<Option<usize>>,
    clocks: Vec<Clock>,
    plans: Vec<Plan>,
    /// Progressive: one record per planned sample, in write order.
    spill: Spill,
    /// Progressive plan: the chunk being planned (track, samples).
    open_chunk: Option<(usize, u32)>,
    /// Track index at planning time (as in the records) → track index.
    rank: Vec<usize>,
    planned_samples: u64,
    /// Progressive write pass: per-track sample counters.
    written_samples: Vec<u32>,
    /// Fragmented state.
    frag: Fragment,
    moov_written: bool,
    /// Per track: first dts ever (track ticks), the origin of its output timeline.
    origin: Vec<Option<i64>>,
    lead: usize,
    frag_start: Option<i64>,
    movie_timescale: u32,
    scratch: Vec<u8>,
    /// The NAL units of the packet being written.
    units: Units,
    /// Spooled progressive output: the streams given to `begin`, and the payload file.
    spool_streams: Vec<StreamInfo>,
    data: Option<BufWriter<std::fs::File>>,
    data_bytes: u64,
}

impl std::fmt::Debug for Mp4Muxer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mp4Muxer")
            .field("options", &self.options)
            .field("phase", &self.phase)
            .field("tracks", &self.tracks.len())
            .field("bytes_written", &self.bytes_written())
            .finish()
    }
}

impl Mp4Muxer {
    /// A muxer writing to `writer` (wrapped in a buffer of `options.write_buffer_size`).
    pub fn new(writer: Box<dyn Write + Send>, options: Mp4Options) -> Self {
        let cap = options.write_buffer_size.max(4096);
        Mp4Muxer {
            out: BufWriter::with_capacity(cap, Counting { inner: writer, written: 0, writes: 0 }),
            options,
            phase: Phase::Planning,
            tracks: Vec::new(),
            track_of: Vec::new(),
            clocks: Vec::new(),
            plans: Vec::new(),
            spill: Spill::default(),
            open_chunk: None,
            rank: Vec::new(),
            planned_samples: 0,
            written_samples: Vec::new(),
            frag: Fragment::default(),
            moov_written: false,
            origin: Vec::new(),
            lead: 0,
            frag_start: None,
            movie_timescale: 1000,
            scratch: Vec::new(),
            units: Units::default(),
            spool_streams: Vec::new(),
            data: None,
            data_bytes: 0,
        }
    }

    /// Number of `write` calls made on the underlying writer so far.
    pub fn write_calls(&self) -> u64 {
        self.out.get_ref().writes
    }

    /// The track for input stream `info`, created on first sight.
    fn track_for(&mut self, info: &StreamInfo) -> Result<Option<usize>> {
        let s = info.index;
        if s < self.track_of.len() {
            if let Some(k) = self.track_of[s] {
                return Ok(Some(k));
            }
        }
        if self.track_of.len() <= s {
            Error::check_limit("mp4 input streams", s as u64 + 1, 4096)?;
            self.track_of.resize(s + 1, None);
        }
        let Some(setup) = TrackSetup::new(info, 0)? else { return Ok(None) };
        let k = self.tracks.len();
        self.tracks.push(setup);
        self.clocks.push(Clock::default());
        self.plans.push(Plan::default());
        self.track_of[s] = Some(k);
        Ok(Some(k))
    }

    /// Orders tracks by input stream index and numbers them from 1.
    fn number_tracks(&mut self) {
        let mut order: Vec<usize> = (0..self.tracks.len()).collect();
        order.sort_by_key(|&k| self.tracks[k].stream);
        let mut rank = vec![0usize; order.len()];
        for (new, &old) in order.iter().enumerate() {
            rank[old] = new;
        }
        reorder(&mut self.tracks, &rank);
        reorder(&mut self.clocks, &rank);
        reorder(&mut self.plans, &rank);
        if let Some(c) = &mut self.open_chunk {
            c.0 = rank[c.0];
        }
        for t in self.track_of.iter_mut().flatten() {
            *t = rank[*t];
        }
        for (i, t) in self.tracks.iter_mut().enumerate() {
            t.id = i as u32 + 1;
        }
        self.rank = rank;
        self.movie_timescale = self.tracks.first().map_or(1000, |t| t.timescale);
        self.lead = self.tracks.iter().position(|t| t.is_video()).unwrap_or(0);
    }

    /// Edit lists from each track's first sample: (first dts, first cts) in track ticks.
    fn edits(&self, firsts: &[Option<(i64, i64)>], durations: &[u64]) -> Vec<Option<Edit>> {
        let movie = TimeBase::new(1, self.movie_timescale);
        let first_pts: Vec<Option<i64>> = firsts
            .iter()
            .zip(&self.tracks)
            .map(|(f, t)| f.map(|(dts, cts)| TimeBase::new(1, t.timescale).rescale(dts + cts, movie)))
            .collect();
        let earliest = first_pts.iter().flatten().copied().min().unwrap_or(0);
        firsts
            .iter()
            .zip(&first_pts)
            .zip(&self.tracks)
            .zip(durations)
            .map(|(((f, pts), t), &dur)| {
                let (_, cts) = (*f)?;
                let delay = (pts.unwrap_or(earliest) - earliest).max(0) as u64;
                let media_time = cts.max(0);
                if delay == 0 && media_time == 0 {
                    return None;
                }
                // The media plays from media_time for as long as its samples last.
                let duration = TimeBase::new(1, t.timescale).rescale(dur as i64, movie).max(0) as u64;
                Some(Edit { delay, media_time, duration })
            })
            .collect()
    }

    fn begin_progressive(&mut self) -> Result<()> {
        if let Some((k, samples)) = self.open_chunk.take() {
            self.plans[k].add_chunk(samples);
        }
        for p in &mut self.plans {
            p.close();
        }
        let n = self.tracks.len();
        let firsts: Vec<Option<(i64, i64)>> =
            self.plans.iter().map(|p| (p.samples() > 0).then_some((p.first_dts, p.first_cts))).collect();
        let durations: Vec<u64> = self.plans.iter().map(Plan::duration).collect();
        let edits = self.edits(&firsts, &durations);
        let payload: u64 = self.plans.iter().map(|p| p.bytes).sum();
        let large = payload + 8 > u32::MAX as u64;
        let mut head = Head::default();
        for wide in [false, true] {
            head = Head::default();
            let setups: Vec<&TrackSetup> = self.tracks.iter().collect();
            moov::write_ftyp(&mut head, false, &setups);
            let mt: Vec<MoovTrack<'_>> = (0..n)
                .map(|k| MoovTrack { setup: &self.tracks[k], plan: Some(&self.plans[k]), edit: edits[k] })
                .collect();
            moov::write_moov(&mut head, &mt, self.movie_timescale, false, wide)?;
            let data_start = head.len() + if large { 16 } else { 8 };
            if wide || data_start + payload <= u32::MAX as u64 {
                break;
            }
        }
        let data_start = head.len() + if large { 16 } else { 8 };
        // The head with the table entries streamed from the plan file into its holes.
        let mut from = 0;
        for hole in &head.holes {
            self.out.write_all(&head.buf[from..hole.at])?;
            from = hole.at;
            if hole.len > 0 {
                self.write_hole(hole, data_start)?;
            }
        }
        self.out.write_all(&head.buf[from..])?;
        let mut mdat = [0u8; 16];
        let mdat = if large {
            mdat[..4].copy_from_slice(&1u32.to_be_bytes());
            mdat[4..8].copy_from_slice(b"mdat");
            mdat[8..].copy_from_slice(&(payload + 16).to_be_bytes());
            &mdat[..]
        } else {
            mdat[..4].copy_from_slice(&((payload + 8) as u32).to_be_bytes());
            mdat[4..8].copy_from_slice(b"mdat");
            &mdat[..8]
        };
        self.out.write_all(mdat)?;
        self.written_samples = vec![0; n];
        self.spill.rewind()?;
        Ok(())
    }

    /// Writes the entries of one sample table of one track from the plan file, in one
    /// sequential read of it. `data_start` is where the mdat payload starts (for the
    /// chunk offsets).
    fn write_hole(&mut self, hole: &Hole, data_start: u64) -> Result<()> {
        let k = hole.track;
        let plan = &self.plans[k];
        let out = &mut self.out;
        let mut written = 0u64;
        let mut put = |b: &[u8]| -> Result<()> {
            written += b.len() as u64;
            out.write_all(b).map_err(Error::from)
        };
        let run = |put: &mut dyn FnMut(&[u8]) -> Result<()>, r: Option<(u32, u32)>| -> Result<()> {
            match r {
                Some((n, v)) => {
                    put(&n.to_be_bytes())?;
                    put(&v.to_be_bytes())
                }
                None => Ok(()),
            }
        };
        self.spill.rewind()?;
        // Sample number in track k, and the chunk (track, samples) being read.
        let mut sample = 0u32;
        let mut chunk: Option<(usize, u32)> = None;
        let mut chunk_no = 0u32;
        let mut last_chunk: Option<u32> = None;
        let mut offset = data_start;
        let mut stts = Runs::<u32>::default();
        let mut ctts = Runs::<i32>::default();
        // One more step after the last record, to end the last chunk.
        loop {
            let rec = self.spill.next_record()?;
            let track = rec.map(|r| self.rank[r.track as usize]);
            // Chunks are the runs of one track in write order.
            let new_chunk = match (chunk, track) {
                (Some((t, _)), Some(now)) => t != now,
                (_, None) => true,
                (None, Some(_)) => true,
            };
            if new_chunk {
                if let Some((t, samples)) = chunk {
                    if t == k && hole.table == Table::Stsc {
                        chunk_no += 1;
                        if last_chunk != Some(samples) {
                            last_chunk = Some(samples);
                            put(&chunk_no.to_be_bytes())?;
                            put(&samples.to_be_bytes())?;
                            put(&1u32.to_be_bytes())?;
                        }
                    }
                }
                if let (Some(now), Table::Stco { wide }) = (track, hole.table) {
                    if now == k {
                        if wide {
                            put(&offset.to_be_bytes())?;
                        } else {
                            put(&(offset as u32).to_be_bytes())?;
                        }
                    }
                }
                chunk = track.map(|t| (t, 0));
            }
            let (Some(r), Some(t)) = (rec, track) else { break };
            if let Some(c) = &mut chunk {
                c.1 += 1;
            }
            offset += r.size as u64;
            if t != k {
                continue;
            }
            sample += 1;
            match hole.table {
                Table::Stts if sample > 1 => run(&mut put, stts.push(r.delta))?,
                Table::Ctts => run(&mut put, ctts.push(r.cts).map(|(n, v)| (n, v as u32)))?,
                Table::Stss if r.keyframe => put(&sample.to_be_bytes())?,
                Table::Stsz => put(&r.size.to_be_bytes())?,
                _ => {}
            }
        }
        match hole.table {
            Table::Stts => {
                run(&mut put, stts.push(plan.last_delta))?;
                run(&mut put, stts.finish())?;
            }
            Table::Ctts => run(&mut put, ctts.finish().map(|(n, v)| (n, v as u32)))?,
            _ => {}
        }
        if written != hole.len {
            return Err(Error::Io(std::io::Error::other(format!(
                "mp4 {:?} table of track {} has {written} bytes but its box has room for {} (the plan file does not match the plan)",
                hole.table, self.tracks[k].id, hole.len
            ))));
        }
        Ok(())
    }

    fn write_progressive(&mut self, k: usize, pkt: &PacketView<'_>) -> Result<()> {
        // A packet whose payload cannot be converted was refused (and so left out) by the
        // planning pass as well: refuse it again before any bookkeeping.
        let payload = self.tracks[k].payload;
        let i = self.written_samples[k] as usize;
        let next = self.spill.peek()?;
        let track = next.map(|r| self.rank[r.track as usize]);
        let hint = next.filter(|_| track == Some(k)).map(|r| r.last_unit).filter(|&at| at != NO_UNIT);
        let size = payload.measure(pkt.data, &mut self.units, hint)?;
        // Which track the plan has next.
        let (Some(rec), Some(track)) = (next, track) else {
            return Err(plan_mismatch(format!("packet of stream {} after the last planned packet", pkt.stream)));
        };
        if track != k {
            return Err(plan_mismatch(format!(
                "packet of stream {} where the plan has stream {}",
                pkt.stream, self.tracks[track].stream
            )));
        }
        let planned = rec.size;
        // Checked before writing, so a mismatch leaves no partial sample behind.
        if size != planned as usize {
            return Err(plan_mismatch(format!(
                "stream {} packet {i} converts to {size} bytes but the plan has {planned}",
                pkt.stream
            )));
        }
        self.spill.advance();
        let out = &mut self.out;
        payload.emit(pkt.data, &self.units, |b| out.write_all(b).map_err(Error::from))?;
        self.written_samples[k] += 1;
        Ok(())
    }

    fn write_fragmented(&mut self, k: usize, pkt: &PacketView<'_>) -> Result<()> {
        if self.frag.payload.len() != self.tracks.len() {
            self.frag = Fragment::new(self.tracks.len());
            self.origin = vec![None; self.tracks.len()];
        }
        if !self.moov_written {
            self.tracks[k].describe(pkt);
        }
        let t = self.clocks[k].time(&self.tracks[k], pkt);
        let origin = *self.origin[k].get_or_insert(t.dts);
        let dts = t.dts - origin;
        let setup = &self.tracks[k];
        let (payload, is_video, timescale) = (setup.payload, setup.is_video(), setup.timescale as i64);
        let size = payload.measure(pkt.data, &mut self.units, None)?;
        // Where a fragment ends: before a keyframe of the leading video track, after
        // about a second of an audio-only lead, or when the byte budget would overflow.
        let is_lead = k == self.lead;
        let boundary = is_lead
            && match self.frag_start {
                None => false,
                Some(start) if is_video => pkt.keyframe && dts > start,
                Some(start) => dts - start >= timescale,
            };
        if !self.frag.is_empty() && (boundary || self.frag.bytes + size as u64 > self.options.max_fragment_bytes) {
            self.flush_fragment()?;
        }
        if is_lead && (boundary || self.frag_start.is_none()) {
            self.frag_start = Some(dts);
        }
        self.frag.check(k, t, dts)?;
        let buf = &mut self.frag.payload[k];
        payload.emit(pkt.data, &self.units, |b| {
            buf.extend_from_slice(b);
            Ok(())
        })?;
        self.frag.push(k, t, dts, size)?;
        self.frag.set_keyframe(pkt.keyframe);
        Ok(())
    }

    fn write_header_fragmented(&mut self) -> Result<()> {
        let n = self.tracks.len();
        let mut firsts = vec![None; n];
        for s in &self.frag.samples {
            let f = &mut firsts[s.track as usize];
            if f.is_none() {
                // Back on the input's timeline, so that tracks can be compared.
                let origin = self.origin[s.track as usize].unwrap_or(0);
                *f = Some((origin + s.dts, s.cts as i64));
            }
        }
        let edits = self.edits(&firsts, &vec![0; n]);
        let mut head = Head { buf: std::mem::take(&mut self.scratch), holes: Vec::new() };
        head.buf.clear();
        let setups: Vec<&TrackSetup> = self.tracks.iter().collect();
        moov::write_ftyp(&mut head, true, &setups);
        let mt: Vec<MoovTrack<'_>> =
            (0..n).map(|k| MoovTrack { setup: &self.tracks[k], plan: None, edit: edits[k] }).collect();
        moov::write_moov(&mut head, &mt, self.movie_timescale, true, false)?;
        self.out.write_all(&head.buf)?;
        self.scratch = head.buf;
        self.moov_written = true;
        Ok(())
    }

    fn flush_fragment(&mut self) -> Result<()> {
        if !self.moov_written {
            self.write_header_fragmented()?;
        }
        if self.frag.is_empty() {
            return Ok(());
        }
        // The track lists live in the fragment and are refilled, not reallocated.
        let (mut ids, mut audio) = (std::mem::take(&mut self.frag.ids), std::mem::take(&mut self.frag.audio));
        ids.clear();
        ids.extend(self.tracks.iter().map(|t| t.id));
        audio.clear();
        audio.extend(self.tracks.iter().map(|t| !t.is_video()));
        let (moof, mdat, mdat_len) = self.frag.build(&ids, &audio);
        self.out.write_all(moof)?;
        self.out.write_all(&mdat[..mdat_len])?;
        for p in &self.frag.payload {
            self.out.write_all(p)?;
        }
        self.frag.clear();
        (self.frag.ids, self.frag.audio) = (ids, audio);
        Ok(())
    }

    /// Plans one packet of `stream`: its record goes to the spill file. Returns the
    /// track, or `None` for a stream the mp4 leaves out.
    fn plan_one(&mut self, stream: &StreamInfo, pkt: &PacketView<'_>) -> Result<Option<usize>> {
        let Some(k) = self.track_for(stream)? else { return Ok(None) };
        self.planned_samples += 1;
        Error::check_limit("mp4 samples", self.planned_samples, self.options.max_samples)?;
        let setup = &mut self.tracks[k];
        setup.describe(pkt);
        let size = setup.payload.measure(pkt.data, &mut self.units, None)?;
        let size = u32::try_from(size)
            .map_err(|_| Error::invalid(format!("sample of {size} bytes (expected under 4 GiB)")))?;
        let last_unit = (setup.payload == Payload::AnnexB).then(|| self.units.last_start().unwrap_or(NO_UNIT));
        let t = self.clocks[k].time(&self.tracks[k], pkt);
        let mut rec = self.plans[k].add(t, size, pkt.keyframe, last_unit)?;
        rec.track = k as u16;
        self.spill.push(&rec)?;
        // Chunks are the runs of one track; each is counted when it ends.
        match &mut self.open_chunk {
            Some((track, n)) if *track == k => *n += 1,
            open => {
                if let Some((track, n)) = open.replace((k, 1)) {
                    self.plans[track].add_chunk(n);
                }
            }
        }
        Ok(Some(k))
    }

    /// Spooled output: plans the packet and appends its payload to the data file.
    fn write_spooled(&mut self, pkt: &PacketView<'_>) -> Result<()> {
        let Some(stream) = self.spool_streams.get(pkt.stream).cloned() else {
            return Err(Error::invalid(format!(
                "packet of stream {} (expected one of the {} streams given to begin)",
                pkt.stream,
                self.spool_streams.len()
            )));
        };
        let Some(k) = self.plan_one(&stream, pkt)? else { return Ok(()) };
        let data = match &mut self.data {
            Some(d) => d,
            None => self.data.insert(BufWriter::with_capacity(self.options.write_buffer_size.max(4096), tempfile::tempfile()?)),
        };
        let mut n = 0u64;
        self.tracks[k].payload.emit(pkt.data, &self.units, |b| {
            n += b.len() as u64;
            data.write_all(b).map_err(Error::from)
        })?;
        self.data_bytes += n;
        Ok(())
    }

    /// Spooled output: the moov for everything written, then the spooled payload.
    fn finish_spooled(&mut self) -> Result<()> {
        for s in std::mem::take(&mut self.spool_streams) {
            if let Some(k) = self.track_of.get(s.index).copied().flatten() {
                self.tracks[k].refine(&s);
            }
        }
        self.number_tracks();
        if self.tracks.is_empty() {
            return Err(Error::invalid("no audio or video packet to put in the mp4"));
        }
        let payload: u64 = self.plans.iter().map(|p| p.bytes).sum();
        if payload != self.data_bytes {
            return Err(Error::Io(std::io::Error::other(format!(
                "mp4 spooled {} payload bytes but the plan has {payload}",
                self.data_bytes
            ))));
        }
        self.begin_progressive()?;
        if let Some(data) = self.data.take() {
            let mut file = data.into_inner().map_err(|e| Error::Io(e.into_error()))?;
            file.seek(std::io::SeekFrom::Start(0))?;
            let copied = std::io::copy(&mut file, &mut self.out)?;
            if copied != payload {
                return Err(Error::Io(std::io::Error::other(format!(
                    "mp4 spool file gave {copied} bytes back (expected {payload})"
                ))));
            }
        }
        Ok(())
    }
}

/// The write pass differs from the planning pass: the moov already written cannot be
/// made to match, so this is not a damaged packet to skip (`InvalidData`) but a failure
/// of the output, reported as an I/O error of kind `InvalidInput`.
fn plan_mismatch(what: String) -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("{what} (the write pass must repeat the planning pass)"),
    ))
}

/// Puts `v[old]` at position `rank[old]`.
fn reorder<T>(v: &mut Vec<T>, rank: &[usize]) {
    let mut items: Vec<(usize, T)> = std::mem::take(v).into_iter().enumerate().collect();
    items.sort_by_key(|(old, _)| rank[*old]);
    v.extend(items.into_iter().map(|(_, x)| x));
}

impl Muxer for Mp4Muxer {
    fn wants_plan_pass(&self) -> bool {
        !self.options.fragmented && !self.options.spool_data
    }

    fn plan_packet(&mut self, stream: &StreamInfo, pkt: &PacketView<'_>) -> Result<()> {
        if self.options.fragmented || self.options.spool_data || self.phase != Phase::Planning {
            return Err(Error::invalid("plan_packet outside the planning pass of a progressive mp4"));
        }
        self.plan_one(stream, pkt).map(|_| ())
    }

    fn begin(&mut self, streams: &[StreamInfo]) -> Result<()> {
        if self.phase != Phase::Planning {
            return Err(Error::invalid("begin called twice"));
        }
        if self.options.spool_data && !self.options.fragmented {
            // Tracks are made as packets come, as in a planning pass, and numbered at
            // the end.
            if streams.is_empty() {
                return Err(Error::invalid("no audio or video stream to put in the mp4"));
            }
            self.spool_streams = streams.to_vec();
            self.phase = Phase::Writing;
            return Ok(());
        }
        if self.options.fragmented {
            for s in streams {
                self.track_for(s)?;
            }
        } else {
            for s in streams {
                match self.track_of.get(s.index).copied().flatten() {
                    // What the demuxer learned after the stream's first packet (extradata,
                    // dimensions) completes the description; the timescale stays, since
                    // the plan's timestamps are in it.
                    Some(k) => self.tracks[k].refine(s),
                    // Streams that had no packets in the plan carry nothing: leave them out.
                    None => {
                        if TrackSetup::new(s, 0)?.is_some() {
                            tracing::warn!("stream {} has no packets; leaving it out of the mp4", s.index);
                        }
                    }
                }
            }
        }
        self.number_tracks();
        if self.tracks.is_empty() {
            return Err(Error::invalid("no audio or video stream to put in the mp4"));
        }
        self.phase = Phase::Writing;
        if !self.options.fragmented {
            self.begin_progressive()?;
        }
        Ok(())
    }

    fn write_packet(&mut self, pkt: &PacketView<'_>) -> Result<()> {
        if self.phase != Phase::Writing {
            return Err(Error::invalid("write_packet before begin or after finish"));
        }
        if self.options.spool_data && !self.options.fragmented {
            return self.write_spooled(pkt);
        }
        let Some(k) = self.track_of.get(pkt.stream).copied().flatten() else {
            return Ok(());
        };
        if self.options.fragmented {
            self.write_fragmented(k, pkt)
        } else {
            self.write_progressive(k, pkt)
        }
    }

    fn finish(&mut self) -> Result<()> {
        if self.phase != Phase::Writing {
            return Err(Error::invalid("finish before begin or called twice"));
        }
        if self.options.fragmented {
            self.flush_fragment()?;
        } else if self.options.spool_data {
            self.finish_spooled()?;
        } else {
            for (k, p) in self.plans.iter().enumerate() {
                if self.written_samples[k] != p.samples() {
                    return Err(Error::invalid(format!(
                        "stream {} got {} packets but the plan has {}",
                        self.tracks[k].stream,
                        self.written_samples[k],
                        p.samples()
                    )));
                }
            }
        }
        self.out.flush()?;
        self.phase = Phase::Finished;
        Ok(())
    }

    /// With [`Mp4Options::spool_data`], the payload spooled so far counts until
    /// `finish` copies it to the output.
    fn bytes_written(&self) -> u64 {
        let spooled = if self.phase == Phase::Writing && self.options.spool_data { self.data_bytes } else { 0 };
        self.out.get_ref().written + self.out.buffer().len() as u64 + spooled
    }
}
