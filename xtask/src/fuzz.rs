//! `cargo xtask fuzz [--seconds N] [--target NAME]... [--build-only]`: builds the
//! cargo-fuzz targets in `fuzz/` and runs each for a time budget, one after another.
//!
//! The targets need nightly compiler features (`-Zsanitizer`, SanitizerCoverage flags);
//! on a stable toolchain this command sets `RUSTC_BOOTSTRAP=1` for the fuzz build, which
//! is what makes those flags available. It builds without a sanitizer (`-s none`: the
//! code under test is safe Rust, and a run is about twice as fast without ASan) and with
//! debug assertions (`-a`), so that an arithmetic overflow on hostile input is a crash
//! rather than a silently wrong value. The heap budget is enforced by the targets' own
//! counting allocator (see `fuzz/src/lib.rs`), the RSS by libFuzzer's `-rss_limit_mb`.
//!
//! Each target's corpus lives in `fuzz/corpus/<target>` (kept between runs, not in git);
//! seeds are the first 64 KiB of the matching `testdata/` fixtures (and, for `h264`, a
//! few inputs of its mutation mode), written to `fuzz/seeds/<target>`; inputs that once crashed a target live in
//! `fuzz/regressions/<target>` and are replayed by every run. Crashes land in
//! `fuzz/artifacts/<target>`; the command fails if any target crashed, hung or ran out
//! of memory, and prints executions per second and coverage of each run.
//!
//! Needs `cargo install cargo-fuzz --locked`.

use anyhow::{bail, Context, Result};
use std::fs;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::util::project_root;

/// The targets and the fixtures (paths under `testdata/`, a trailing `/` for every file of
/// a folder without a `.`-suffixed oracle table) that seed them.
const TARGETS: &[(&str, &[&str])] = &[
    ("ts", &["ts/"]),
    ("mp4", &["mp4/"]),
    ("ps", &["ps/"]),
    ("annexb", &["es/h264.h264", "es/h265.h265", "h264/"]),
    ("adts", &["es/aac.aac"]),
    ("mpega", &["es/mp2.mp2"]),
    ("y4m", &["y4m/"]),
    ("probe", &["ts/", "mp4/", "ps/", "es/", "y4m/"]),
    ("remux", &["ts/", "mp4/", "ps/", "es/", "y4m/"]),
    ("h264", &["h264/", "es/h264.h264", "h264-interlaced/"]),
    ("mpeg2", &["mpeg2/"]),
];

/// Longest input a run generates, and the size seeds are cut to.
const MAX_LEN: usize = 64 * 1024;

/// Flags shared by `cargo fuzz build` and `cargo fuzz run` (they must match, or `run`
/// rebuilds).
const BUILD_FLAGS: &[&str] = &["--sanitizer", "none", "--debug-assertions"];

struct Options {
    seconds: u64,
    targets: Vec<String>,
    build_only: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options { seconds: 60, targets: Vec::new(), build_only: false };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                let v = it.next().context("--seconds needs a number")?;
                o.seconds = v.parse().with_context(|| format!("--seconds {v:?} (expected a whole number)"))?;
            }
            "--target" => {
                let v = it.next().context("--target needs a name")?;
                if !TARGETS.iter().any(|(n, _)| n == v) {
                    bail!("unknown fuzz target {v:?} (expected one of {})", names());
                }
                o.targets.push(v.clone());
            }
            "--build-only" => o.build_only = true,
            other => bail!("unknown option {other:?} (expected --seconds N, --target NAME or --build-only)"),
        }
    }
    if o.targets.is_empty() {
        o.targets = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    }
    Ok(o)
}

/// The host's target triple, which cargo-fuzz builds for by default.
fn host_triple() -> Result<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().context("running rustc -vV")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|h| h.trim().to_string())
        .context("rustc -vV names no host triple")
}

fn names() -> String {
    TARGETS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

fn cargo_fuzz(fuzz_dir: &Path) -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(fuzz_dir).env("RUSTC_BOOTSTRAP", "1").arg("fuzz");
    // The workspace's own target dir setting must not leak into the fuzz build, which
    // uses different compiler flags.
    c.env_remove("CARGO_TARGET_DIR");
    c
}

/// Copies the first [`MAX_LEN`] bytes of each seed fixture into `fuzz/seeds/<target>`.
fn write_seeds(root: &Path, target: &str, sources: &[&str]) -> Result<PathBuf> {
    let dir = root.join("fuzz/seeds").join(target);
    fs::create_dir_all(&dir)?;
    for src in sources {
        let path = root.join("testdata").join(src);
        let files: Vec<PathBuf> = if src.ends_with('/') {
            let mut v: Vec<PathBuf> = fs::read_dir(&path)
                .with_context(|| format!("reading {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_media(p))
                .collect();
            v.sort();
            v
        } else {
            vec![path]
        };
        for f in files {
            let data = fs::read(&f).with_context(|| format!("reading {}", f.display()))?;
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            fs::write(dir.join(format!("seed-{name}")), &data[..data.len().min(MAX_LEN)])?;
        }
    }
    for (name, data) in extra_seeds(target) {
        fs::write(dir.join(name), data)?;
    }
    Ok(dir)
}

/// Seeds that are not fixtures: for `h264`, mutation-mode inputs (see
/// `fuzz/fuzz_targets/h264.rs`) without edits, one per way of feeding the decoder and
/// number of kept pictures: `[fixture, feed | keep << 2, slice units - 1]`.
fn extra_seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    match target {
        // mpeg2: mutation mode without edits, one per way of feeding the decoder.
        "mpeg2" => (0u8..6)
            .map(|k| (format!("seed-mutation-{k}"), vec![1 + 2 * k, k | (k % 4) << 3, 255]))
            .collect(),
        "h264" => (0u8..8)
            .map(|k| (format!("seed-mutation-{k}"), vec![1 + 2 * k, (k % 4) | ((k / 4) << 2), 15]))
            // The two field-picture fixtures, after the progressive ones in the target's list.
            .chain((0u8..2).map(|k| (format!("seed-mutation-paff-{k}"), vec![19 + k, k, 11])))
            // The six MBAFF fixtures that follow them, each fed a different way.
            .chain((0u8..6).map(|k| (format!("seed-mutation-mbaff-{k}"), vec![21 + k, k % 4, 11])))
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a fixture folder entry is media rather than an oracle table or a note.
fn is_media(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
    p.is_file()
        && !name.starts_with('.')
        && matches!(ext, "ts" | "m2ts" | "mp4" | "h264" | "264" | "h265" | "aac" | "mp2" | "y4m" | "m2v" | "m1v")
}

/// Figures of one run, from libFuzzer's output.
#[derive(Default)]
struct RunStats {
    execs: u64,
    exec_per_sec: u64,
    cov: u64,
    ft: u64,
    corpus: String,
    peak_rss_mb: u64,
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        if w == key {
            return words.next();
        }
    }
    None
}

fn scan(line: &str, s: &mut RunStats) {
    if let Some(v) = field(line, "cov:").and_then(|v| v.parse().ok()) {
        s.cov = v;
    }
    if let Some(v) = field(line, "ft:").and_then(|v| v.parse().ok()) {
        s.ft = v;
    }
    if let Some(v) = field(line, "corp:") {
        s.corpus = v.to_string();
    }
    if let Some(v) = line.strip_prefix("stat::number_of_executed_units:") {
        s.execs = v.trim().parse().unwrap_or(0);
    }
    if let Some(v) = line.strip_prefix("stat::average_exec_per_sec:") {
        s.exec_per_sec = v.trim().parse().unwrap_or(0);
    }
    if let Some(v) = line.strip_prefix("stat::peak_rss_mb:") {
        s.peak_rss_mb = v.trim().parse().unwrap_or(0);
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let root = project_root();
    let fuzz_dir = root.join("fuzz");
    let have = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !have {
        bail!("cargo-fuzz is not installed (expected `cargo install cargo-fuzz --locked`)");
    }

    eprintln!("== building fuzz targets ({})", names());
    let status = cargo_fuzz(&fuzz_dir).arg("build").args(BUILD_FLAGS).status().context("running cargo fuzz build")?;
    if !status.success() {
        bail!("cargo fuzz build failed");
    }
    if o.build_only {
        return Ok(());
    }

    let bin_dir = fuzz_dir.join("target").join(host_triple()?).join("release");
    let artifacts = fuzz_dir.join("artifacts");
    let logs = fuzz_dir.join("logs");
    fs::create_dir_all(&logs)?;
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for target in &o.targets {
        let sources = TARGETS.iter().find(|(n, _)| n == target).map(|(_, s)| *s).unwrap();
        let seeds = write_seeds(&root, target, sources)?;
        let corpus = fuzz_dir.join("corpus").join(target);
        fs::create_dir_all(&corpus)?;
        fs::create_dir_all(artifacts.join(target))?;
        let regressions = fuzz_dir.join("regressions").join(target);
        let mut dirs = vec![corpus, seeds];
        if regressions.is_dir() {
            dirs.push(regressions);
        }
        eprintln!("== fuzzing {target} for {} s", o.seconds);
        let log_path = logs.join(format!("{target}.log"));
        let mut log = fs::File::create(&log_path)?;
        let started = Instant::now();
        // The binaries built above run directly: `cargo fuzz run` would rebuild first,
        // and one build for all targets is enough.
        let mut child = Command::new(bin_dir.join(target))
            .current_dir(&fuzz_dir)
            .args(&dirs)
            .arg(format!("-artifact_prefix={}/", artifacts.join(target).display()))
            .arg(format!("-max_total_time={}", o.seconds))
            .arg(format!("-max_len={MAX_LEN}"))
            .args(["-rss_limit_mb=512", "-timeout=10", "-print_final_stats=1"])
            .env("RUST_BACKTRACE", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running {}", bin_dir.join(target).display()))?;
        let mut stats = RunStats::default();
        let mut show_next = false;
        for line in BufReader::new(child.stderr.take().unwrap()).lines() {
            let line = line?;
            scan(&line, &mut stats);
            writeln!(log, "{line}")?;
            // The panic message follows the "panicked at" line.
            let shown = line.contains("ERROR:") || line.starts_with("SUMMARY:") || line.contains("panicked at");
            if shown || show_next || line.starts_with("Test unit written to") {
                eprintln!("   {line}");
            }
            show_next = line.contains("panicked at");
        }
        let status = child.wait()?;
        let secs = started.elapsed().as_secs();
        let ok = status.success();
        if !ok {
            failed.push(format!("{target} (log: {})", log_path.display()));
        }
        eprintln!(
            "   {target}: {} in {secs} s, {} runs, {} exec/s, cov {}, ft {}, corpus {}, peak rss {} MB",
            if ok { "ok" } else { "FAILED" },
            stats.execs,
            stats.exec_per_sec,
            stats.cov,
            stats.ft,
            stats.corpus,
            stats.peak_rss_mb
        );
        rows.push((target.clone(), ok, secs, stats));
    }

    println!("| target | result | seconds | runs | exec/s | cov | ft | corpus | peak RSS MB |");
    println!("|---|---|---:|---:|---:|---:|---:|---|---:|");
    for (t, ok, secs, s) in &rows {
        println!(
            "| {t} | {} | {secs} | {} | {} | {} | {} | {} | {} |",
            if *ok { "ok" } else { "FAILED" },
            s.execs,
            s.exec_per_sec,
            s.cov,
            s.ft,
            s.corpus,
            s.peak_rss_mb
        );
    }
    if !failed.is_empty() {
        bail!(
            "fuzzing found problems in {}; the inputs are in fuzz/artifacts/<target> (replay one with \
             `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none -a <target> artifacts/<target>/<file>` in fuzz/)",
            failed.join(", ")
        );
    }
    Ok(())
}
