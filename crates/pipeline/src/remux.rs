//! The remux job: stream copy from any supported input to any output format.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use transcode_core::{Acquire, Budget, CodecId, Error, MediaType, MemoryConfig, MemoryStats, Packet, PacketView, StreamInfo};
use transcode_frame_pool::{BytePool, BytePoolConfig};
use transcode_demux_bridge::{open_demuxer_as, probe::detect, DemuxStats, Demuxer, Format, Input};
use transcode_mux::Muxer;

use crate::job::{check_cancel, copy_refusal, format_for_output, make_muxer, no_streams_reason, strict_damage, with_atomic_output, Mp4Layout, Paths};
use crate::output::OutputFormat;
use crate::JobError;

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

/// Where a job is, for progress displays.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Input bytes consumed in the current pass.
    pub bytes_done: u64,
    /// Input length, when known.
    pub bytes_total: Option<u64>,
    /// 1 for a single-pass job; 1 and then 2 when a faststart MP4 plans first.
    pub pass: u8,
    pub passes: u8,
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

/// Copies the selected streams of `input` into `output` in `options.format`.
///
/// `-` names standard input or standard output. `progress` is called every few hundred
/// packets. The output appears under its name only if the job succeeds.
pub fn remux(input: &Path, output: &Path, options: &RemuxOptions, progress: &mut dyn FnMut(Progress)) -> Result<RemuxReport, JobError> {
    let paths = Paths::new(input, output);
    let src = Input::open(input, &options.memory).map_err(|e| paths.in_err(e))?;
    let mut options = options.clone();
    options.format = format_for_output(options.format, output);
    with_atomic_output(&paths, |writer| run_remux(src, writer, &options, &paths, progress))
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
    run_remux(src, writer, options, &paths, progress)
}

fn run_remux(
    src: Input,
    writer: Box<dyn std::io::Write + Send>,
    options: &RemuxOptions,
    paths: &Paths,
    progress: &mut dyn FnMut(Progress),
) -> Result<RemuxReport, JobError> {
    let mut format_out = options.format;
    if let OutputFormat::Mp4 { fragmented: false } = format_out {
        if !src.is_seekable() {
            tracing::info!("writing fragmented mp4: the input cannot be read twice");
            format_out = OutputFormat::Mp4 { fragmented: true };
        }
    }
    let mut job = Job {
        paths: paths.clone(),
        options,
        format_out,
        map: Vec::new(),
        out_streams: Vec::new(),
        streams: Vec::new(),
        skipped: Vec::new(),
        dropped: 0,
        first_pass: Vec::new(),
    };
    let mut src = src;
    let format = detect(&mut src).map_err(|e| paths.in_err(e))?;
    options.memory.check_fits().map_err(|e| paths.in_err(e))?;
    let budget = Budget::from_config(&options.memory);
    let pool = BytePool::new(BytePoolConfig::new(&options.memory), &budget).map_err(|e| paths.in_err(e))?;
    let mut muxer = make_muxer(format_out, writer, &options.memory, Mp4Layout::Planned);
    let (bytes_in, mut demux, input_format) = job.run(src, format, muxer.as_mut(), &pool, progress)?;
    demux.dropped_packets += job.dropped;
    if options.strict {
        if let Some(e) = strict_damage(&demux) {
            return Err(paths.in_err(e));
        }
    }
    Ok(RemuxReport {
        input_format,
        output_format: format_out,
        bytes_in,
        bytes_out: muxer.bytes_written(),
        streams: job.streams,
        skipped: job.skipped,
        demux,
        memory: budget.stats(),
    })
}

/// Whether a stream's description is complete enough to start a muxer.
pub(crate) fn described(s: &StreamInfo) -> bool {
    match s.codec {
        CodecId::H264 | CodecId::H265 | CodecId::Aac => !s.extradata.is_empty(),
        CodecId::Mpeg1Video | CodecId::Mpeg2Video | CodecId::RawVideo => s.video.is_some(),
        CodecId::Ac3 => s.audio.is_some(),
        CodecId::Mp2 | CodecId::Mp3 => s.audio.is_some(),
        _ => true,
    }
}

struct Job<'a> {
    paths: Paths,
    options: &'a RemuxOptions,
    format_out: OutputFormat,
    /// Input stream index → output stream index (`None`: not copied). Grows as the
    /// demuxer discovers streams.
    map: Vec<Option<usize>>,
    /// Output stream descriptions, refreshed from the demuxer before `begin`.
    out_streams: Vec<StreamInfo>,
    streams: Vec<StreamReport>,
    skipped: Vec<(usize, CodecId, String)>,
    /// Packets the muxer refused as damaged.
    dropped: u64,
    /// Packets per output stream in the first pass (describe, plan or stash) that the
    /// muxer took or would take.
    first_pass: Vec<u64>,
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

    /// Decides for every newly discovered stream whether it is copied.
    fn update_map(&mut self, streams: &[StreamInfo], can_add: bool) {
        while self.map.len() < streams.len() {
            let s = &streams[self.map.len()];
            let wanted = match &self.options.selection {
                StreamSelection::All => true,
                StreamSelection::Video => s.media_type() == MediaType::Video,
                StreamSelection::Audio => s.media_type() == MediaType::Audio,
                StreamSelection::Indices(ix) => ix.contains(&s.index),
            };
            let reason = if !wanted {
                Some("not selected".to_string())
            } else if let Some(r) = copy_refusal(self.format_out, s.codec, self.streams.len()) {
                Some(r)
            } else if !can_add {
                Some("appeared after the output was started".to_string())
            } else {
                None
            };
            match reason {
                Some(r) => {
                    self.skipped.push((s.index, s.codec, r));
                    self.map.push(None);
                }
                None => {
                    let out = self.streams.len();
                    self.streams.push(StreamReport { input_index: s.index, output_index: out, codec: s.codec, packets: 0, bytes: 0 });
                    let mut info = s.clone();
                    info.index = out;
                    self.out_streams.push(info);
                    self.map.push(Some(out));
                }
            }
        }
    }

    fn refresh_out_streams(&mut self, streams: &[StreamInfo]) {
        self.out_streams = self
            .streams
            .iter()
            .map(|r| {
                let mut s = streams[r.input_index].clone();
                s.index = r.output_index;
                s
            })
            .collect();
    }

    fn no_streams(&self) -> JobError {
        JobError::NoStreams { path: self.paths.input.clone(), reason: no_streams_reason(&self.skipped) }
    }

    fn all_described(&self, streams: &[StreamInfo]) -> bool {
        !self.streams.is_empty() && self.streams.iter().all(|r| streams.get(r.input_index).is_some_and(described))
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
        let streams = streams.to_vec();
        self.update_map(&streams, true);
        if self.streams.is_empty() {
            return Err(self.no_streams());
        }
        self.first_pass.resize(self.streams.len(), 0);
        if self.first_pass.iter().all(|&n| n == 0) {
            return Err(JobError::NoPackets { path: self.paths.input.clone(), damage: demux.stats().summary() });
        }
        if !leave_out {
            return Ok(());
        }
        let empty: Vec<usize> = (0..self.streams.len()).filter(|&k| self.first_pass[k] == 0).collect();
        if empty.is_empty() {
            return Ok(());
        }
        let kept: Vec<StreamReport> = std::mem::take(&mut self.streams);
        let counts = std::mem::take(&mut self.first_pass);
        for (k, mut r) in kept.into_iter().enumerate() {
            if empty.contains(&k) {
                tracing::warn!("{}: stream {} ({}) has no whole packet; leaving it out", self.paths.input.display(), r.input_index, r.codec.name());
                self.skipped.push((r.input_index, r.codec, "no whole packet".into()));
                self.map[r.input_index] = None;
            } else {
                r.output_index = self.streams.len();
                self.map[r.input_index] = Some(r.output_index);
                self.streams.push(r);
                self.first_pass.push(counts[k]);
            }
        }
        self.refresh_out_streams(&streams);
        Ok(())
    }

    /// Returns bytes read, demuxer statistics and the input format name.
    fn run(
        &mut self,
        src: Input,
        format: Format,
        muxer: &mut (dyn Muxer + Send),
        pool: &BytePool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(u64, DemuxStats, &'static str), JobError> {
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
                let reached_end = self.pass(first.as_mut(), muxer, mode, (1, passes), total, pool, progress)?;
                // A planned muxer has numbered its tracks already; it leaves the empty
                // ones out itself.
                self.after_first_pass(first.as_ref(), reached_end, mode == Mode::Describe)?;
                self.refresh_out_streams(first.streams());
                open_demuxer_as(src, format, &mem).map_err(|e| self.in_err(e))?
            }
            None => {
                let mut demux = open_demuxer_as(src, format, &mem).map_err(|e| self.in_err(e))?;
                let reached_end = self.stash_until_described(demux.as_mut(), &mut stash, pool)?;
                self.after_first_pass(demux.as_ref(), reached_end, true)?;
                self.refresh_out_streams(demux.streams());
                demux
            }
        };
        if self.streams.is_empty() {
            return Err(self.no_streams());
        }
        muxer.begin(&self.out_streams).map_err(|e| self.out_err(e))?;
        for pkt in stash.drain(..) {
            self.handle(&pkt.view(), Mode::Write, muxer)?;
        }
        self.pass(demux.as_mut(), muxer, Mode::Write, (passes, passes), total, pool, progress)?;
        if self.streams.iter().all(|r| r.packets == 0) {
            // Whatever was learnt on the way (a pipe read once, packets the muxer
            // refused): nothing useful would be written.
            let mut stats = demux.stats();
            stats.dropped_packets += self.dropped;
            return Err(JobError::NoPackets { path: self.paths.input.clone(), damage: stats.summary() });
        }
        muxer.finish().map_err(|e| self.out_err(e))?;
        let stats = demux.stats();
        Ok((stats.bytes_read, stats, demux.format_name()))
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
        pool: &BytePool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<bool, JobError> {
        let mut n = 0u64;
        loop {
            if n & 63 == 0 {
                self.check_cancel()?;
            }
            if mode == Mode::Describe && self.all_described(demux.streams()) {
                return Ok(false);
            }
            let known = demux.streams().len().min(self.map.len());
            let pkt = match demux.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => return Err(self.in_err(e)),
            };
            n += 1;
            if n & 511 == 0 {
                progress(Progress { bytes_done: pkt.pos.unwrap_or(0), bytes_total: total, pass, passes });
            }
            if pkt.stream < known {
                self.handle(&pkt, mode, muxer)?;
            } else {
                // The first packet of a stream the demuxer just discovered: the view borrows
                // the demuxer, so copy this one packet (into the byte pool) to look at the
                // stream list.
                let owned = pkt.with_data(pool.copy(pkt.data).map_err(|e| self.in_err(e))?);
                let streams = demux.streams().to_vec();
                self.update_map(&streams, mode != Mode::Write);
                self.handle(&owned.view(), mode, muxer)?;
            }
        }
        if let Some(t) = total {
            progress(Progress { bytes_done: t, bytes_total: total, pass, passes });
        }
        Ok(true)
    }

    fn handle(&mut self, pkt: &PacketView<'_>, mode: Mode, muxer: &mut (dyn Muxer + Send)) -> Result<(), JobError> {
        let Some(out) = self.map.get(pkt.stream).copied().flatten() else {
            return Ok(());
        };
        let view = PacketView { stream: out, ..*pkt };
        let result = match mode {
            Mode::Describe => {
                self.count_first(out);
                return Ok(());
            }
            Mode::Plan => muxer.plan_packet(&self.out_streams[out], &view),
            Mode::Write => muxer.write_packet(&view),
        };
        match result {
            Ok(()) => {
                if mode == Mode::Write {
                    let r = &mut self.streams[out];
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
            let known = demux.streams().len().min(self.map.len());
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
                        let streams = demux.streams().to_vec();
                        self.update_map(&streams, true);
                    }
                    if let Some(out) = self.map.get(stream).copied().flatten() {
                        self.count_first(out);
                    }
                    return Ok(false);
                }
            };
            let pkt = pkt.with_data(data);
            if pkt.stream >= known {
                let streams = demux.streams().to_vec();
                self.update_map(&streams, true);
            }
            if let Some(out) = self.map.get(pkt.stream).copied().flatten() {
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
