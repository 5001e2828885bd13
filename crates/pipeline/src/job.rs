//! What every job (remux, decode, transcode) shares: the paths its errors name, the
//! muxer for an output format, the atomic output around a run, cancellation, the
//! strict damage check and the choice of which streams an output can hold.
//!
//! Each of these existed once per job before; keeping them here (and the routing in
//! `routes.rs`) means a job differs from another only in how its packets travel: on
//! the caller's thread (`inline.rs`), or through stage threads (`transcode.rs`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use transcode_core::{CodecId, Error, MemoryConfig};
use transcode_demux_bridge::DemuxStats;
use transcode_mux::Muxer;

use crate::output::{AtomicOutput, OutputFormat};
use crate::JobError;

/// Where a job is, for progress displays: the one progress event of every job.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Input bytes consumed in the current pass.
    pub bytes_done: u64,
    /// Input length, when known.
    pub bytes_total: Option<u64>,
    /// 1 for a single-pass job; 1 and then 2 when a faststart MP4 plans first.
    pub pass: u8,
    pub passes: u8,
    /// Video frames written: pictures decoded or encoded, or packets of the first
    /// copied video stream.
    pub frames: u64,
    /// Presentation time reached in the output, in microseconds from its first frame;
    /// followed by a transcode only (0 otherwise).
    pub out_time_us: i64,
    /// Output bytes so far (including what a spooled MP4 still holds back).
    pub bytes_out: u64,
}

impl Default for Progress {
    fn default() -> Self {
        Progress { bytes_done: 0, bytes_total: None, pass: 1, passes: 1, frames: 0, out_time_us: 0, bytes_out: 0 }
    }
}

/// The input and output a job names in its errors.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    pub input: PathBuf,
    pub output: PathBuf,
}

impl Paths {
    pub fn new(input: &Path, output: &Path) -> Paths {
        Paths { input: input.to_path_buf(), output: output.to_path_buf() }
    }

    pub fn in_err(&self, source: Error) -> JobError {
        JobError::Input { path: self.input.clone(), source }
    }

    /// An error from the muxer or the output file: an I/O error is the output's;
    /// anything else (a packet or a codec configuration the output cannot take) comes
    /// from the input's data.
    pub fn out_err(&self, source: Error) -> JobError {
        match source {
            Error::Io(_) => JobError::Output { path: self.output.clone(), source },
            other => JobError::Input { path: self.input.clone(), source: other },
        }
    }
}

/// Creates the output of `paths`, runs `job` with a writer into it, and renames it
/// into place only when `job` succeeded; on failure the temporary file is removed.
/// `job` must have dropped the writer (its muxer) before it returns.
pub(crate) fn with_atomic_output<R>(paths: &Paths, job: impl FnOnce(Box<dyn Write + Send>) -> Result<R, JobError>) -> Result<R, JobError> {
    let out_io = |e: std::io::Error| JobError::Output { path: paths.output.clone(), source: e.into() };
    let (atomic, writer) = AtomicOutput::create(&paths.output).map_err(out_io)?;
    match job(writer) {
        Ok(r) => {
            atomic.commit().map_err(out_io)?;
            Ok(r)
        }
        Err(e) => {
            atomic.abort();
            Err(e)
        }
    }
}

/// How a progressive (faststart) MP4 learns its sample table before its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mp4Layout {
    /// A planning pass over a mapped input: copied packets can be read twice.
    Planned,
    /// Payloads spooled to an unlinked temporary file and written behind the moov at
    /// the end: encoded packets exist once.
    Spooled,
}

/// The muxer for `format`, bounded by `memory`.
pub(crate) fn make_muxer(format: OutputFormat, writer: Box<dyn Write + Send>, memory: &MemoryConfig, layout: Mp4Layout) -> Box<dyn Muxer + Send> {
    use transcode_mux::{es, mp4, ts};
    match format {
        OutputFormat::Mp4 { fragmented } => Box::new(mp4::Mp4Muxer::new(
            writer,
            mp4::Mp4Options { fragmented, spool_data: !fragmented && layout == Mp4Layout::Spooled, ..mp4::Mp4Options::from_config(memory) },
        )),
        OutputFormat::MpegTs => Box::new(ts::TsMuxer::new(writer, ts::TsOptions { m2ts: false, ..Default::default() })),
        OutputFormat::M2ts => Box::new(ts::TsMuxer::new(writer, ts::TsOptions { m2ts: true, ..Default::default() })),
        OutputFormat::H264 => Box::new(es::EsMuxer::new(writer, es::EsKind::H264)),
        OutputFormat::H265 => Box::new(es::EsMuxer::new(writer, es::EsKind::H265)),
        OutputFormat::Aac => Box::new(es::EsMuxer::new(writer, es::EsKind::Adts)),
        OutputFormat::MpegAudio => Box::new(es::EsMuxer::new(writer, es::EsKind::MpegAudio)),
        OutputFormat::MpegVideo => Box::new(es::EsMuxer::new(writer, es::EsKind::Mpeg2Video)),
        OutputFormat::Y4m => Box::new(es::EsMuxer::new(writer, es::EsKind::Y4m)),
    }
}

/// A progressive MP4 cannot be written to standard output, which cannot be rewound:
/// the format a job writes there instead.
pub(crate) fn format_for_output(format: OutputFormat, output: &Path) -> OutputFormat {
    match format {
        OutputFormat::Mp4 { fragmented: false } if output.as_os_str() == "-" => {
            tracing::info!("writing fragmented mp4: standard output cannot be rewound");
            OutputFormat::Mp4 { fragmented: true }
        }
        f => f,
    }
}

/// `Err(Interrupted)` once `cancel` is set.
pub(crate) fn check_cancel(cancel: Option<&AtomicBool>) -> Result<(), JobError> {
    match cancel {
        Some(flag) if flag.load(Ordering::Relaxed) => Err(JobError::Interrupted),
        _ => Ok(()),
    }
}

/// The error of a strict job whose input was damaged, if it was.
pub(crate) fn strict_damage(d: &DemuxStats) -> Option<Error> {
    (d.truncated || d.dropped_packets > 0 || d.cc_errors > 0 || d.resyncs > 0).then(|| {
        Error::invalid(format!(
            "damaged input (--strict): {} dropped packets, {} continuity errors, {} resyncs{}",
            d.dropped_packets,
            d.cc_errors,
            d.resyncs,
            if d.truncated { ", truncated" } else { "" }
        ))
    })
}

/// Why a stream of `codec` cannot be copied into `format` that already holds `held`
/// streams, if it cannot.
pub(crate) fn copy_refusal(format: OutputFormat, codec: CodecId, held: usize) -> Option<String> {
    if !format.can_hold(codec) {
        Some(format!("{} cannot hold {}", format.name(), codec.name()))
    } else if format.is_elementary() && held > 0 {
        Some(format!("{} holds one stream", format.name()))
    } else {
        None
    }
}
