//! The probe job: what is inside a file.

use std::path::Path;

use transcode_core::{Error, MemoryConfig, StreamInfo};
use transcode_demux_bridge::{open_demuxer, DemuxStats, Input};

use crate::JobError;

/// One stream as probe reports it.
#[derive(Debug, Clone)]
pub struct ProbeStream {
    pub info: StreamInfo,
    pub packets: u64,
    pub bytes: u64,
    /// Lowest presentation time seen, in time-base ticks.
    pub start: Option<i64>,
    /// Presentation span from the first to the end of the last packet, in ticks.
    pub duration: Option<i64>,
    pub keyframes: u64,
}

impl ProbeStream {
    /// Whether anything is known of the stream beyond its listing in the container: a
    /// whole packet, or codec parameters from the container.
    pub fn is_described(&self) -> bool {
        let i = &self.info;
        self.packets > 0 || i.video.is_some() || i.audio.is_some() || !i.extradata.is_empty()
    }
}

/// What [`probe`] found.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    pub path: std::path::PathBuf,
    pub format: &'static str,
    pub size: Option<u64>,
    pub streams: Vec<ProbeStream>,
    pub stats: DemuxStats,
    /// What the demuxer saw, in a few words ([`Demuxer::contents`]), for the error when
    /// no stream is described.
    ///
    /// [`Demuxer::contents`]: transcode_demux_bridge::Demuxer::contents
    pub seen: String,
}

impl ProbeReport {
    /// [`JobError::NoMedia`] when no stream can be described (none is listed, or none
    /// has a packet or parameters): the file is not media a script should take as such.
    pub fn check(&self) -> Result<(), JobError> {
        if self.streams.iter().any(ProbeStream::is_described) {
            return Ok(());
        }
        let mut seen = self.seen.clone();
        if !self.streams.is_empty() {
            // Listed, but nothing is known of them.
            let n = self.streams.len();
            let listed = format!("{n} {} listed", if n == 1 { "stream" } else { "streams" });
            seen = if seen.is_empty() { listed } else { seen };
            seen += ", none with a whole packet";
        }
        Err(JobError::NoMedia { path: self.path.clone(), seen, damage: self.stats.summary() })
    }

    /// The longest stream duration, in seconds.
    pub fn duration_seconds(&self) -> Option<f64> {
        self.streams
            .iter()
            .filter_map(|s| s.duration.map(|d| s.info.time_base.seconds(d)))
            .fold(None, |a: Option<f64>, d| Some(a.map_or(d, |a| a.max(d))))
    }
}

/// Reads `path` to the end and reports its streams, packet counts and problems. Fails
/// with [`JobError::NoMedia`] when no stream can be described ([`ProbeReport::check`]).
pub fn probe(path: &Path, memory: &MemoryConfig) -> Result<ProbeReport, JobError> {
    let report = probe_report(path, memory)?;
    report.check()?;
    Ok(report)
}

/// [`probe`] without the final check: the report of what was found even when no stream
/// can be described, for a caller that shows it before the error.
pub fn probe_report(path: &Path, memory: &MemoryConfig) -> Result<ProbeReport, JobError> {
    let err = |source: Error| JobError::Input { path: path.to_path_buf(), source };
    let input = Input::open(path, memory).map_err(err)?;
    let size = input.len();
    let mut demux = open_demuxer(input, memory).map_err(err)?;
    // Per stream: packets, bytes, lowest pts, highest end, keyframes.
    type Acc = (u64, u64, Option<i64>, Option<i64>, u64);
    let mut acc: Vec<Acc> = Vec::new();
    while let Some(p) = demux.next_packet().map_err(err)? {
        if acc.len() <= p.stream {
            acc.resize(p.stream + 1, (0, 0, None, None, 0));
        }
        let a = &mut acc[p.stream];
        a.0 += 1;
        a.1 += p.data.len() as u64;
        if let Some(pts) = p.pts.or(p.dts) {
            a.2 = Some(a.2.map_or(pts, |s: i64| s.min(pts)));
            let end = pts + p.duration.unwrap_or(0);
            a.3 = Some(a.3.map_or(end, |e: i64| e.max(end)));
        }
        a.4 += p.keyframe as u64;
    }
    let streams = demux
        .streams()
        .iter()
        .map(|info| {
            let (packets, bytes, start, end, keyframes) = acc.get(info.index).copied().unwrap_or((0, 0, None, None, 0));
            let duration = info.duration.or(match (start, end) {
                (Some(s), Some(e)) => Some(e - s),
                _ => None,
            });
            ProbeStream { info: info.clone(), packets, bytes, start, duration, keyframes }
        })
        .collect();
    Ok(ProbeReport {
        path: path.to_path_buf(),
        format: demux.format_name(),
        size,
        streams,
        stats: demux.stats(),
        seen: demux.contents(),
    })
}
