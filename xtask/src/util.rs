//! Helpers shared by the xtask commands: paths and running programs.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Runs `program args...` with its output going to ours, failing if it exits non-zero.
pub fn run(program: &str, args: &[&str]) -> Result<()> {
    let status = Command::new(program)
        .args(args)
        .status()
        .with_context(|| format!("cannot run {program}; is it installed? (apt-get install ffmpeg)"))?;
    if !status.success() {
        bail!("{program} {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Runs `program args...` and returns its standard output; on failure the error carries
/// its standard error.
pub fn output(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {program}; is it installed? (apt-get install ffmpeg)"))?;
    if !out.status.success() {
        bail!("{program} {} failed:\n{}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Splits a command line written in the fixture table into arguments (no quoting needed).
pub fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// Replaces the text between `<!-- BEGIN name -->` and `<!-- END name -->` in `path`
/// (appending the section if it is missing), so generated tables can live inside
/// hand-written documents.
pub fn replace_section(path: &Path, name: &str, body: &str) -> Result<()> {
    let begin = format!("<!-- BEGIN {name} -->");
    let end = format!("<!-- END {name} -->");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let new = match (text.find(&begin), text.find(&end)) {
        (Some(b), Some(e)) if b < e => format!("{}{begin}\n{body}{}", &text[..b], &text[e..]),
        _ => format!("{text}\n{begin}\n{body}{end}\n"),
    };
    std::fs::write(path, new)?;
    Ok(())
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set, else `target/` in the workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| project_root().join("target"))
}

/// utime + stime of a live process, in seconds (fields 14 and 15 of /proc/PID/stat,
/// counted after the parenthesised command name).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
}

/// What [`run_polled`] saw of a process.
pub struct Polled {
    pub status: std::process::ExitStatus,
    /// Wall-clock seconds from spawn to exit.
    pub wall: f64,
    /// User plus system CPU seconds, from the last /proc/PID/stat read before exit
    /// (10 ms resolution; the wall time when the process ended before the first read):
    /// comparable on a shared, loaded machine where wall time is not.
    pub cpu: f64,
    /// Peak RssAnon in KiB (the mapped input's page-cache pages are not counted).
    pub rss_anon_kib: u64,
    /// Everything the process wrote on stderr.
    pub stderr: String,
}

/// Runs `cmd` with stdout discarded, polling its CPU time and RssAnon every `poll`.
/// Stderr is read on a thread, so a chatty process cannot block on a full pipe.
pub fn run_polled(cmd: &mut std::process::Command, poll: std::time::Duration) -> Result<Polled> {
    use std::io::Read;
    use std::process::Stdio;
    let start = std::time::Instant::now();
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
    let mut pipe = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut err = String::new();
        if let Some(e) = pipe.as_mut() {
            let _ = e.read_to_string(&mut err);
        }
        err
    });
    let status_path = format!("/proc/{}/status", child.id());
    let (mut peak, mut cpu) = (0u64, 0f64);
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if let Some(c) = cpu_seconds(child.id()) {
            cpu = cpu.max(c);
        }
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = s.lines().find(|l| l.starts_with("RssAnon:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<u64>().ok()) {
                peak = peak.max(kb);
            }
        }
        std::thread::sleep(poll);
    };
    let wall = start.elapsed().as_secs_f64();
    let stderr = reader.join().unwrap_or_default();
    Ok(Polled { status, wall, cpu: if cpu > 0.0 { cpu } else { wall }, rss_anon_kib: peak, stderr })
}
