//! Ready-made jobs built from transcode's crates: [`remux()`] (stream copy between
//! containers), [`decode()`] (video to Y4M), [`transcode()`] (decode → filters → H.264
//! encode with the other streams copied, every stage on its own thread) and
//! [`probe()`] (what is inside a file), with atomic output files.
//!
//! # Design principles
//!
//! - Remux, decode and transcode are one job: every output stream is a [`Route`]
//!   (copy, raw or encode), decided in one place for every job. A plan of copy and raw
//!   routes runs on the caller's thread; a plan that encodes runs its stages on
//!   threads. Every job reports the same [`Progress`] events.
//! - Data flows one way: mapped bytes → packet views → muxer. A packet is copied only
//!   where ownership is needed: the bounded stash that holds the first packets of a pipe
//!   while the streams are being described.
//! - A faststart MP4 needs every sample's size before its first data byte; on a mapped
//!   input the job demuxes twice (plan, then write) instead of buffering payloads.
//! - A transcode's stages are joined by bounded queues of pooled frames and packets; its
//!   memory is computed from the stream description and checked against
//!   `max_memory` before the first frame ([`MemoryPlan`]). Its faststart MP4 is
//!   spooled (data first, moov written in front at the end), since encoded packets
//!   cannot be produced twice.
//! - Output goes to a temporary file beside the destination and is renamed into place
//!   only when the job succeeded: a failed or interrupted job leaves nothing behind.
//!
//! ```
//! use transcode_pipeline::{remux, OutputFormat, RemuxOptions};
//! let input = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/ts/h264_aac.ts");
//! let dir = std::env::temp_dir().join(format!("pipeline-doctest-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let output = dir.join("out.mp4");
//! let opts = RemuxOptions::new(OutputFormat::from_extension("mp4").unwrap());
//! let report = remux(input.as_ref(), &output, &opts, &mut |_| {}).unwrap();
//! assert_eq!(report.streams.len(), 2);
//! assert!(std::fs::metadata(&output).unwrap().len() > 0);
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```
#![forbid(unsafe_code)]

mod inline;
mod job;
mod output;
mod probe;
mod raw;
mod routes;
mod transcode;
mod video;

pub use inline::{decode, remux, remux_to_writer, DecodeReport, RemuxOptions, RemuxReport, StreamReport, StreamSelection};
pub use job::Progress;
pub use output::{AtomicOutput, OutputFormat};
pub use probe::{probe, probe_report, ProbeReport, ProbeStream};
pub use routes::Route;
pub use transcode::{transcode, MemoryPlan, StageStats, TranscodeOptions, TranscodeReport, VideoEncode};

use std::fmt;
use std::path::PathBuf;

/// Why a job failed. Every variant names the file concerned.
#[derive(Debug)]
#[non_exhaustive]
pub enum JobError {
    /// The input could not be read or is not valid media.
    Input { path: PathBuf, source: transcode_core::Error },
    /// The output could not be written.
    Output { path: PathBuf, source: transcode_core::Error },
    /// The input has no stream the output can hold (or that the selection allows).
    NoStreams { path: PathBuf, reason: String },
    /// The input holds no stream that can be described: a TS of null packets, an MP4
    /// whose moov has no tracks. `seen` says what the demuxer found instead
    /// ([`Demuxer::contents`](transcode_demux_bridge::Demuxer::contents)), `damage`
    /// what went wrong on the way ([`DemuxStats::summary`](transcode_demux_bridge::DemuxStats::summary)).
    NoMedia { path: PathBuf, seen: String, damage: Option<String> },
    /// Streams were found, but not one whole packet in any of those to be written: a
    /// file cut before its first complete picture, an index whose samples all lie past
    /// the end of the file. Nothing is written.
    NoPackets { path: PathBuf, damage: Option<String> },
    /// The job was cancelled through [`RemuxOptions::cancel`].
    Interrupted,
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::Input { path, source } => write!(f, "{}: {source}", path.display()),
            JobError::Output { path, source } => write!(f, "{}: {source}", path.display()),
            JobError::NoStreams { path, reason } => write!(f, "{}: nothing to copy: {reason}", path.display()),
            JobError::NoMedia { path, seen, damage } => {
                write!(f, "{}: no media streams found", path.display())?;
                if !seen.is_empty() {
                    write!(f, " ({seen})")?;
                }
                if let Some(d) = damage {
                    write!(f, "; {d}")?;
                }
                Ok(())
            }
            JobError::NoPackets { path, damage } => {
                write!(f, "{}: no complete packet in any stream", path.display())?;
                if let Some(d) = damage {
                    write!(f, "; {d}")?;
                }
                Ok(())
            }
            JobError::Interrupted => write!(f, "interrupted"),
        }
    }
}

impl std::error::Error for JobError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JobError::Input { source, .. } | JobError::Output { source, .. } => Some(source),
            _ => None,
        }
    }
}
