//! The progress line on a terminal, and memory sampling for `--stats`.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use transcode_pipeline::Progress;

use crate::size::human;

/// Draws `42.1%  420.3 MiB / 1.00 GiB  812 MiB/s  ETA 0:01` on stderr when it is a
/// terminal, at most ten times a second; draws nothing otherwise. Also samples heap and
/// anonymous RSS on every update, for `--stats`.
pub struct ProgressLine {
    enabled: bool,
    start: Instant,
    last: Option<Instant>,
    drawn: bool,
    last_rss: Option<Instant>,
    pub peak_heap: usize,
    pub peak_rss_anon: u64,
}

impl ProgressLine {
    pub fn new() -> Self {
        ProgressLine {
            enabled: std::io::stderr().is_terminal(),
            start: Instant::now(),
            last: None,
            drawn: false,
            last_rss: None,
            peak_heap: 0,
            peak_rss_anon: 0,
        }
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
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if self.last.is_some_and(|l| now - l < Duration::from_millis(100)) {
            return;
        }
        self.last = Some(now);
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        let pass = if p.passes > 1 { format!("pass {}/{}  ", p.pass, p.passes) } else { String::new() };
        let line = match p.bytes_total {
            Some(t) if t > 0 => {
                // Speed and ETA over both passes: a pass covers the whole input.
                let done_all = (p.pass as u64 - 1) * t + p.bytes_done;
                let total_all = p.passes as u64 * t;
                let speed = done_all as f64 / secs;
                let eta = if speed > 0.0 { (total_all.saturating_sub(done_all)) as f64 / speed } else { 0.0 };
                format!(
                    "{pass}{:5.1}%  {} / {}  {}/s  ETA {}:{:02}",
                    100.0 * p.bytes_done as f64 / t as f64,
                    human(p.bytes_done),
                    human(t),
                    human(speed as u64),
                    eta as u64 / 60,
                    eta as u64 % 60
                )
            }
            _ => format!("{pass}{}  {}/s", human(p.bytes_done), human((p.bytes_done as f64 / secs) as u64)),
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        self.drawn = true;
    }

    /// Clears the line so that later messages start on a clean line.
    pub fn finish(&mut self) {
        self.sample();
        if self.drawn {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            self.drawn = false;
        }
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
