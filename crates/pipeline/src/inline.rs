//! The caller-thread executor: a plan of copy and raw routes runs on the thread that
//! called the job, with no stage threads, so a remux stays as fast and as lean as a
//! packet loop can be. It holds the front end every job shares: open and detect the
//! input, describe (or plan, or stash) its streams in a first pass, route each stream
//! through a [`StreamMap`], leave out the streams with no whole packet, and say what
//! came too late. [`remux()`] (every route a copy) and [`decode()`] (one raw route)
//! are this executor under two policies.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use transcode_core::{Acquire, Budget, CodecId, Error, MediaType, MemoryConfig, MemoryStats, Packet, PacketView};
use transcode_demux_bridge::{open_demuxer_as, probe::detect, DemuxStats, Demuxer, Format, Input};
use transcode_frame_pool::{BytePool, BytePoolConfig};
use transcode_mux::Muxer;

use crate::job::{check_cancel, format_for_output, make_muxer, strict_damage, with_atomic_output, Mp4Layout, Paths};
use crate::output::OutputFormat;
use crate::raw::{RawRoute, RawStats};
use crate::routes::{described, Route, Routing, StreamMap, VideoRouting};
use crate::{JobError, Progress};

/// Which input streams to copy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StreamSelection {
    /// Every stream the output can hold (for an elementary-stream output: the first one).
    #[default]
    All,
    /// Video streams only.
    Video,
    /// Audio streams only.
    Audio,
    /// These input stream indices, as `transcode probe` numbers them.
    Indices(Vec<usize>),
}

/// Settings of a remux job.
#[derive(Debug, Clone)]
pub struct RemuxOptions {
    /// The output container.
    pub format: OutputFormat,
    /// Which streams to copy. Default: all that the output can hold.
    pub selection: StreamSelection,
    /// Memory bounds. Default: [`MemoryConfig::default`].
    pub memory: MemoryConfig,
    /// Treat damage as failure: a truncated input, lost packets or a damaged packet fail
    /// the job instead of being reported and skipped. Default: `false`.
    pub strict: bool,
    /// Set from another thread (a signal handler) to stop the job; the output is then
    /// removed and the job returns [`JobError::Interrupted`].
    pub cancel: Option<Arc<AtomicBool>>,
}

impl RemuxOptions {
    /// Options with defaults for everything but the format.
    pub fn new(format: OutputFormat) -> Self {
        RemuxOptions { format, selection: StreamSelection::All, memory: MemoryConfig::default(), strict: false, cancel: None }
    }
}

/// What one output stream received.
#[derive(Debug, Clone)]
pub struct StreamReport {
    pub input_index: usize,
    pub output_index: usize,
    pub codec: CodecId,
    pub packets: u64,
    pub bytes: u64,
}

/// The outcome of a remux.
#[derive(Debug, Clone)]
pub struct RemuxReport {
    pub input_format: &'static str,
    pub output_format: OutputFormat,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub streams: Vec<StreamReport>,
    /// Input streams not copied, with the reason.
    pub skipped: Vec<(usize, CodecId, String)>,
    /// Recoverable problems the demuxer counted.
    pub demux: DemuxStats,
    /// The job's budget and pools at the end: peak bytes reserved, per-pool figures.
    pub memory: MemoryStats,
}

/// The outcome of a decode.
#[derive(Debug, Clone)]
pub struct DecodeReport {
    pub input_format: &'static str,
    /// Index of the decoded stream in the input.
    pub stream: usize,
    pub frames: u64,
    /// Frames in which damaged macroblocks were concealed.
    pub concealed_frames: u64,
    /// Decoding errors that were concealed (broken slices, missing references).
    pub errors: u64,
    /// Pictures left out because their references were missing at the start of the
    /// stream (an MPEG-2 recording that starts mid-GOP), as FFmpeg leaves them out.
    pub dropped_pictures: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Bytes the decoder holds for pictures (its decoded picture buffer).
    pub decoder_bytes: usize,
    /// The job's budget at the end: peak bytes reserved by the decoder's pools.
    pub memory: MemoryStats,
    pub demux: DemuxStats,
}

/// Copies the selected streams of `input` into `output` in `options.format`.
///
/// `-` names standard input or standard output. `progress` is called every few hundred
/// packets. The output appears under its name only if the job succeeds.
pub fn remux(input: &Path, output: &Path, options: &RemuxOptions, progress: &mut dyn FnMut(Progress)) -> Result<RemuxReport, JobError> {
    let paths = Paths::new(input, output);
    let src = Input::open(input, &options.memory).map_err(|e| paths.in_err(e))?;
    let format = format_for_output(options.format, output);
    let routing = Routing::copy(format, options.selection.clone());
    with_atomic_output(&paths, |writer| Ok(run(src, writer, routing, options, None, &paths, progress)?.report))
}

/// Copies the selected streams of `src` into `writer`: the library form of [`remux`] for
/// callers that bring their own input and output. A progressive MP4 becomes fragmented
/// when `src` cannot be read twice (a pipe). The writer is flushed before returning.
pub fn remux_to_writer(
    src: Input,
    writer: Box<dyn std::io::Write + Send>,
    options: &RemuxOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<RemuxReport, JobError> {
    let paths = Paths { input: PathBuf::from(src.name()), output: PathBuf::from("output") };
    let routing = Routing::copy(options.format, options.selection.clone());
    Ok(run(src, writer, routing, options, None, &paths, progress)?.report)
}

/// Decodes the first video stream of `input` (H.264, MPEG-2 or MPEG-1 video) into the
/// Y4M file `output`, at most `max_frames` frames: the job with one raw route (an
/// uncompressed input stream is copied). Uses the memory, cancellation and strictness
/// settings of `options` (its format and selection are ignored).
pub fn decode(input: &Path, output: &Path, options: &RemuxOptions, max_frames: Option<u64>, progress: &mut dyn FnMut(Progress)) -> Result<DecodeReport, JobError> {
    let paths = Paths::new(input, output);
    let src = Input::open(input, &options.memory).map_err(|e| paths.in_err(e))?;
    let routing = Routing::raw(OutputFormat::Y4m);
    with_atomic_output(&paths, |writer| {
        let done = run(src, writer, routing, options, max_frames, &paths, progress)?;
        let r = done.report;
        let stream = r.streams.first().map_or(0, |s| s.input_index);
        let raw = done.raw.unwrap_or(RawStats { frames: r.streams.first().map_or(0, |s| s.packets), ..RawStats::default() });
        Ok(DecodeReport {
            input_format: r.input_format,
            stream,
            frames: raw.frames,
            concealed_frames: raw.concealed_frames,
            errors: raw.errors,
            dropped_pictures: raw.dropped_pictures,
            bytes_in: r.bytes_in,
            bytes_out: r.bytes_out,
            decoder_bytes: raw.decoder_bytes,
            memory: r.memory,
            demux: r.demux,
        })
    })
}

/// What a run of the executor gives.
struct Done {
    report: RemuxReport,
    /// The raw route's figures, when the plan had one.
    raw: Option<RawStats>,
}

fn run(
    mut src: Input,
    writer: Box<dyn std::io::Write + Send>,
    routing: Routing,
    options: &RemuxOptions,
    max_frames: Option<u64>,
    paths: &Paths,
    progress: &mut dyn FnMut(Progress),
) -> Result<Done, JobError> {
    let mut routing = routing;
    if let OutputFormat::Mp4 { fragmented: false } = routing.format {
        if !src.is_seekable() {
            tracing::info!("writing fragmented mp4: the input cannot be read twice");
            routing.format = OutputFormat::Mp4 { fragmented: true };
        }
    }
    let format_out = routing.format;
    let routing_raw = routing.video == VideoRouting::Raw;
    let format = detect(&mut src).map_err(|e| paths.in_err(e))?;
    options.memory.check_fits().map_err(|e| paths.in_err(e))?;
    let budget = Budget::from_config(&options.memory);
    let mut muxer = make_muxer(format_out, writer, &options.memory, Mp4Layout::Planned);
    let mut job = Job {
        paths: paths.clone(),
        options,
        map: StreamMap::new(routing),
        dropped: 0,
        first_pass: Vec::new(),
        raw: None,
        begun: false,
        max_frames,
        budget: &budget,
    };
    // Owned copies of packets (a pipe's stash, the first packet of a stream found on
    // the way), kept until the end so that the report shows the pool. A raw plan reads
    // once and needs none.
    let pool = if routing_raw { None } else { Some(BytePool::new(BytePoolConfig::new(&options.memory), &budget).map_err(|e| paths.in_err(e))?) };
    let (bytes_in, mut demux, input_format) = job.run(src, format, muxer.as_mut(), pool.as_ref(), progress)?;
    demux.dropped_packets += job.dropped;
    if options.strict {
        if let Some(e) = strict_damage(&demux) {
            return Err(paths.in_err(e));
        }
    }
    let report = RemuxReport {
        input_format,
        output_format: format_out,
        bytes_in,
        bytes_out: muxer.bytes_written(),
        streams: job.map.reports,
        skipped: job.map.skipped,
        demux,
        memory: budget.stats(),
    };
    Ok(Done { report, raw: job.raw.map(|(_, _, stats)| stats) })
}

struct Job<'a> {
    paths: Paths,
    options: &'a RemuxOptions,
    map: StreamMap,
    /// Packets the muxer refused as damaged.
    dropped: u64,
    /// Packets per output stream in the first pass (describe, plan or stash) that the
    /// muxer took or would take.
    first_pass: Vec<u64>,
    /// The raw route once made: its input stream, the route, and at the end its figures.
    raw: Option<(usize, RawRoute, RawStats)>,
    /// Whether the output's routes have started: a stream found later is left out.
    begun: bool,
    /// At most this many video frames (a raw route's pictures, or a copied
    /// uncompressed stream's packets).
    max_frames: Option<u64>,
    budget: &'a Budget,
}

impl Job<'_> {
    fn in_err(&self, source: Error) -> JobError {
        self.paths.in_err(source)
    }

    fn out_err(&self, source: Error) -> JobError {
        self.paths.out_err(source)
    }

    fn check_cancel(&self) -> Result<(), JobError> {
        check_cancel(self.options.cancel.as_deref())
    }

    fn no_streams(&self) -> JobError {
        JobError::NoStreams { path: self.paths.input.clone(), reason: self.map.no_streams_reason() }
    }

    fn all_described(&self, streams: &[transcode_core::StreamInfo]) -> bool {
        !self.map.reports.is_empty() && self.map.reports.iter().all(|r| streams.get(r.input_index).is_some_and(described))
    }

    /// Whether the frame limit is reached.
    fn full(&self) -> bool {
        let Some(limit) = self.max_frames else { return false };
        match &self.raw {
            Some((_, route, _)) => route.full(),
            None => self.map.reports.iter().zip(&self.map.out_streams).any(|(r, s)| s.media_type() == MediaType::Video && r.packets >= limit),
        }
    }

    /// Video frames written so far, for progress.
    fn frames(&self) -> u64 {
        match &self.raw {
            Some((_, route, _)) => route.frames(),
            None => self.map.reports.iter().zip(&self.map.out_streams).filter(|(_, s)| s.media_type() == MediaType::Video).map(|(r, _)| r.packets).next().unwrap_or(0),
        }
    }

    /// After the first pass: fails when the input has no stream at all. When the pass
    /// read the whole input: maps the streams that gave no packet in it too, fails when
    /// no selected stream had a whole packet, and otherwise, unless the output has been
    /// planned already (`leave_out` false), leaves out the streams that had none, with
    /// a warning.
    fn after_first_pass(&mut self, demux: &(dyn Demuxer + Send), reached_end: bool, leave_out: bool) -> Result<(), JobError> {
        let streams = demux.streams();
        if streams.is_empty() {
            return Err(JobError::NoMedia { path: self.paths.input.clone(), seen: demux.contents(), damage: demux.stats().summary() });
        }
        if !reached_end {
            // Every mapped stream is described (or the stash is full); a stream found
            // without a packet yet is decided when its first packet comes, as before.
            return Ok(());
        }
        self.map.update(streams, true);
        if self.map.reports.is_empty() {
            return Err(self.no_streams());
        }
        self.first_pass.resize(self.map.reports.len(), 0);
        if self.first_pass.iter().all(|&n| n == 0) {
            return Err(JobError::NoPackets { path: self.paths.input.clone(), damage: demux.stats().summary() });
        }
        if !leave_out {
            return Ok(());
        }
        let empty: Vec<usize> = (0..self.map.reports.len()).filter(|&k| self.first_pass[k] == 0).collect();
        if empty.is_empty() {
            return Ok(());
        }
        for &k in &empty {
            let r = &self.map.reports[k];
            tracing::warn!("{}: stream {} ({}) has no whole packet; leaving it out", self.paths.input.display(), r.input_index, r.codec.name());
        }
        self.map.leave_out(&empty);
        let counts = std::mem::take(&mut self.first_pass);
        self.first_pass = counts.into_iter().enumerate().filter(|(k, _)| !empty.contains(k)).map(|(_, n)| n).collect();
        self.map.refresh(streams);
        Ok(())
    }

    /// Runs the plan: with `pool`, a first pass and then the write pass; without (a raw
    /// plan), the write pass alone. Returns bytes read, demuxer statistics and the input
    /// format name.
    fn run(
        &mut self,
        src: Input,
        format: Format,
        muxer: &mut (dyn Muxer + Send),
        pool: Option<&BytePool>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(u64, DemuxStats, &'static str), JobError> {
        // A raw plan has no byte pool: it has no first pass to copy packets in.
        let Some(pool) = pool else { return self.run_raw(src, format, muxer, progress) };
        let mem = self.options.memory.clone();
        let total = src.len();
        let plan = muxer.wants_plan_pass();
        let passes = if plan { 2 } else { 1 };
        let mut stash = VecDeque::new();
        let mut demux = match src.try_clone() {
            Some(second) => {
                // A mapped input can be read twice at no memory cost: a first pass plans a
                // faststart MP4, or only reads far enough to describe the streams.
                let mut first = open_demuxer_as(second, format, &mem).map_err(|e| self.in_err(e))?;
                let mode = if plan { Mode::Plan } else { Mode::Describe };
                let reached_end = self.pass(first.as_mut(), muxer, mode, (1, passes), total, Some(pool), progress)?;
                // A planned muxer has numbered its tracks already; it leaves the empty
                // ones out itself.
                self.after_first_pass(first.as_ref(), reached_end, mode == Mode::Describe)?;
                self.map.refresh(first.streams());
                open_demuxer_as(src, format, &mem).map_err(|e| self.in_err(e))?
            }
            None => {
                let mut demux = open_demuxer_as(src, format, &mem).map_err(|e| self.in_err(e))?;
                let reached_end = self.stash_until_described(demux.as_mut(), &mut stash, pool)?;
                self.after_first_pass(demux.as_ref(), reached_end, true)?;
                self.map.refresh(demux.streams());
                demux
            }
        };
        if self.map.reports.is_empty() {
            return Err(self.no_streams());
        }
        muxer.begin(&self.map.out_streams).map_err(|e| self.out_err(e))?;
        self.begun = true;
        for pkt in stash.drain(..) {
            self.handle(&pkt.view(), Mode::Write, muxer)?;
        }
        self.pass(demux.as_mut(), muxer, Mode::Write, (passes, passes), total, Some(pool), progress)?;
        self.end(demux.as_ref(), muxer)
    }

    /// A plan of one raw route needs no first pass: its output starts at the first
    /// picture, described by the stream as it is then, so the stream is routed (and its
    /// decoder made) when its first packet comes, and the input is read once.
    fn run_raw(
        &mut self,
        src: Input,
        format: Format,
        muxer: &mut (dyn Muxer + Send),
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(u64, DemuxStats, &'static str), JobError> {
        let total = src.len();
        let mut demux = open_demuxer_as(src, format, &self.options.memory).map_err(|e| self.in_err(e))?;
        self.pass(demux.as_mut(), muxer, Mode::Write, (1, 1), total, None, progress)?;
        if demux.streams().is_empty() {
            return Err(JobError::NoMedia { path: self.paths.input.clone(), seen: demux.contents(), damage: demux.stats().summary() });
        }
        // A video stream listed but without one whole packet is routed now, so that the
        // job fails for the packets it lacks rather than for a stream it lacks.
        self.map.update(demux.streams(), true);
        if self.map.reports.is_empty() {
            return Err(self.no_streams());
        }
        self.end(demux.as_ref(), muxer)
    }

    /// After the write pass: fails when nothing useful was written, ends the raw route
    /// and finishes the output.
    fn end(&mut self, demux: &(dyn Demuxer + Send), muxer: &mut (dyn Muxer + Send)) -> Result<(u64, DemuxStats, &'static str), JobError> {
        if self.map.reports.iter().all(|r| r.packets == 0) {
            // Whatever was learnt on the way (a pipe read once, packets the muxer
            // refused): nothing useful would be written.
            let mut stats = demux.stats();
            stats.dropped_packets += self.dropped;
            return Err(JobError::NoPackets { path: self.paths.input.clone(), damage: stats.summary() });
        }
        if let Some((_, route, stats)) = self.raw.as_mut() {
            *stats = route.finish(muxer, &self.paths, demux.stats().summary())?;
        }
        muxer.finish().map_err(|e| self.out_err(e))?;
        let stats = demux.stats();
        Ok((stats.bytes_read, stats, demux.format_name()))
    }

    /// Starts the route of output stream `out` at its first packet in a plan that
    /// routes streams as they come (a raw route's plan): a raw route makes its decoder
    /// and starts the output at its first picture; a copy starts the output now.
    fn start(&mut self, out: usize, input: usize, muxer: &mut (dyn Muxer + Send)) -> Result<(), JobError> {
        if self.map.routes[out] == Route::Raw {
            let info = &self.map.out_streams[out];
            let route = RawRoute::new(info, self.max_frames, &self.options.memory, self.budget).map_err(|e| self.in_err(e))?;
            self.raw = Some((input, route, RawStats::default()));
        } else {
            muxer.begin(&self.map.out_streams).map_err(|e| self.out_err(e))?;
        }
        self.begun = true;
        Ok(())
    }

    /// One pass over the demuxer. Returns whether it read to the end of the input (a
    /// describe pass stops once every stream is described).
    #[allow(clippy::too_many_arguments)]
    fn pass(
        &mut self,
        demux: &mut (dyn Demuxer + Send),
        muxer: &mut (dyn Muxer + Send),
        mode: Mode,
        (pass, passes): (u8, u8),
        total: Option<u64>,
        pool: Option<&BytePool>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<bool, JobError> {
        // Decoding costs far more per packet than copying: report more often. The raw
        // route's checks stay out of a copy's per-packet path.
        let raw = mode == Mode::Write && self.map.routing.video == VideoRouting::Raw;
        let every = if raw { 3 } else { 511 };
        let mut n = 0u64;
        loop {
            if n & 63 == 0 {
                self.check_cancel()?;
            }
            if mode == Mode::Describe && self.all_described(demux.streams()) {
                return Ok(false);
            }
            if raw {
                if self.full() {
                    return Ok(false);
                }
                if let Some((input, route, _)) = self.raw.as_mut() {
                    if route.wants_description() {
                        route.describe(demux.streams().get(*input));
                    }
                }
            }
            let known = demux.streams().len().min(self.map.map.len());
            let pkt = match demux.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => return Err(self.in_err(e)),
            };
            n += 1;
            if n & every == 0 {
                let bytes_out = muxer.bytes_written();
                progress(Progress { bytes_done: pkt.pos.unwrap_or(0), bytes_total: total, pass, passes, frames: self.frames(), out_time_us: 0, bytes_out });
            }
            if pkt.stream < known {
                self.handle(&pkt, mode, muxer)?;
            } else {
                // The first packet of a stream the demuxer just discovered: the view borrows
                // the demuxer, so copy this one packet (into the byte pool) to look at the
                // stream list.
                let owned = match pool {
                    Some(pool) => pkt.with_data(pool.copy(pkt.data).map_err(|e| self.in_err(e))?),
                    None => pkt.to_packet(),
                };
                self.map.update(demux.streams(), !self.begun);
                self.handle(&owned.view(), mode, muxer)?;
            }
        }
        if let Some(t) = total {
            progress(Progress { bytes_done: t, bytes_total: total, pass, passes, frames: self.frames(), out_time_us: 0, bytes_out: muxer.bytes_written() });
        }
        Ok(true)
    }

    fn handle(&mut self, pkt: &PacketView<'_>, mode: Mode, muxer: &mut (dyn Muxer + Send)) -> Result<(), JobError> {
        let Some(out) = self.map.output(pkt.stream) else {
            return Ok(());
        };
        if mode == Mode::Write && !self.begun {
            self.start(out, pkt.stream, muxer)?;
        }
        let view = PacketView { stream: out, ..*pkt };
        let result = match mode {
            Mode::Describe => {
                self.count_first(out);
                return Ok(());
            }
            Mode::Plan => muxer.plan_packet(&self.map.out_streams[out], &view),
            Mode::Write if self.raw.is_some() => {
                self.raw_packet(pkt.data, muxer)?;
                Ok(())
            }
            Mode::Write => muxer.write_packet(&view),
        };
        match result {
            Ok(()) => {
                if mode == Mode::Write {
                    let r = &mut self.map.reports[out];
                    r.packets += 1;
                    r.bytes += pkt.data.len() as u64;
                } else {
                    self.count_first(out);
                }
                Ok(())
            }
            // A damaged packet (a NAL length past its end, say) is dropped and counted,
            // unless the job is strict. Both passes see the same bytes, so a faststart
            // plan and its write pass drop the same packets.
            Err(Error::InvalidData { reason, .. }) if !self.options.strict => {
                if mode == Mode::Write {
                    self.dropped += 1;
                    if self.dropped <= 5 {
                        tracing::warn!("{}: dropped a damaged packet of stream {} at byte {}: {reason}", self.paths.input.display(), pkt.stream, pkt.pos.unwrap_or(0));
                    }
                }
                Ok(())
            }
            Err(e) => Err(self.out_err(e)),
        }
    }

    /// A packet for the raw route: its errors end the job (damage is concealed inside).
    #[inline(never)]
    fn raw_packet(&mut self, data: &[u8], muxer: &mut (dyn Muxer + Send)) -> Result<(), JobError> {
        let Some((_, route, _)) = self.raw.as_mut() else { return Ok(()) };
        route.packet(data, muxer, self.options.strict, &self.paths)
    }

    fn count_first(&mut self, out: usize) {
        if self.first_pass.len() <= out {
            self.first_pass.resize(out + 1, 0);
        }
        self.first_pass[out] += 1;
    }

    /// For inputs that can be read only once: keeps owned copies of the first packets in
    /// the byte pool (bounded by `max_packet_bytes_in_flight`) until every selected stream
    /// is described, or the pool is full. Returns whether the input ended first.
    fn stash_until_described(
        &mut self,
        demux: &mut (dyn Demuxer + Send),
        stash: &mut VecDeque<Packet>,
        pool: &BytePool,
    ) -> Result<bool, JobError> {
        loop {
            self.check_cancel()?;
            if self.all_described(demux.streams()) {
                return Ok(false);
            }
            let known = demux.streams().len().min(self.map.map.len());
            let pkt = match demux.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(true),
                Err(e) => return Err(self.in_err(e)),
            };
            let data = match pool.try_copy(pkt.data).map_err(|e| self.in_err(e))? {
                Acquire::Ready(data) => data,
                Acquire::Full => {
                    tracing::warn!("streams still not described after {} bytes of packets; starting the output anyway", pool.bytes_in_flight());
                    // This packet is lost to the stash; keep it by copying outside the
                    // pool once rather than dropping data.
                    let stream = pkt.stream;
                    stash.push_back(pkt.to_packet());
                    if stream >= known {
                        self.map.update(demux.streams(), true);
                    }
                    if let Some(out) = self.map.output(stream) {
                        self.count_first(out);
                    }
                    return Ok(false);
                }
            };
            let pkt = pkt.with_data(data);
            if pkt.stream >= known {
                self.map.update(demux.streams(), true);
            }
            if let Some(out) = self.map.output(pkt.stream) {
                self.count_first(out);
                stash.push_back(pkt);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Describe,
    Plan,
    Write,
}
