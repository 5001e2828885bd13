//! The progress display on a terminal (indicatif), and memory sampling for `--stats`.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use transcode_pipeline::Progress;

/// A bar on stderr when it is a terminal (`42%  420.3 MiB / 1.00 GiB  812 MiB/s  ETA
/// 0:01`), redrawn at most ten times a second by indicatif; nothing otherwise. Also
/// samples heap and anonymous RSS on every update, for `--stats`.
pub struct ProgressLine {
    bar: ProgressBar,
    start: Instant,
    last_rss: Option<Instant>,
    pub peak_heap: usize,
    pub peak_rss_anon: u64,
}

impl ProgressLine {
    pub fn new() -> Self {
        ProgressLine::with_template("{percent:>3}%  {bytes} / {total_bytes}  {bytes_per_sec}  ETA {eta}  {msg}")
    }

    /// A display drawn with an indicatif `template`; the job's figures go into `{msg}`.
    pub fn with_template(template: &str) -> Self {
        // indicatif draws nothing when stderr is not a terminal.
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        ProgressLine { bar, start: Instant::now(), last_rss: None, peak_heap: 0, peak_rss_anon: 0 }
    }

    pub fn bar(&self) -> &ProgressBar {
        &self.bar
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Records current memory figures.
    pub fn sample(&mut self) {
        self.peak_heap = self.peak_heap.max(crate::heap_allocated());
        if let Some(r) = rss_anon() {
            self.peak_rss_anon = self.peak_rss_anon.max(r);
        }
        self.last_rss = Some(Instant::now());
    }

    /// Samples memory without drawing: the heap counter is one atomic load; /proc is
    /// read at most every 10 ms.
    pub fn sample_cheap(&mut self) {
        self.peak_heap = self.peak_heap.max(crate::heap_allocated());
        if self.last_rss.is_none_or(|t| t.elapsed() >= Duration::from_millis(10)) {
            self.sample();
        }
    }

    pub fn update(&mut self, p: Progress) {
        self.sample_cheap();
        if self.bar.is_hidden() {
            return;
        }
        // Position and length over both passes when a faststart MP4 plans first: a pass
        // covers the whole input, so speed and ETA are for the whole job.
        match p.bytes_total {
            Some(t) if t > 0 => {
                self.bar.set_length(p.passes as u64 * t);
                self.bar.set_position((p.pass as u64 - 1) * t + p.bytes_done);
            }
            _ => self.bar.set_position(p.bytes_done),
        }
        if p.passes > 1 {
            self.bar.set_message(format!("pass {}/{}", p.pass, p.passes));
        }
    }

    /// Clears the display so that later messages start on a clean line.
    pub fn finish(&mut self) {
        self.sample();
        self.bar.finish_and_clear();
    }
}

/// The process's anonymous resident memory (`RssAnon` in /proc/self/status), in bytes.
/// File-backed pages of the mapped input are not counted: they are the page cache's.
pub fn rss_anon() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
