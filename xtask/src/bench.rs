//! `cargo xtask bench remux`: remuxes a ~1 GB MPEG-TS to MP4 with transcode, with
//! `ffmpeg -c copy`, and copies it with `dd` (the physical limit), in the same run,
//! writing to /dev/shm so that disk writeback does not drown the comparison. Records wall
//! time, MB/s and peak anonymous RSS (RssAnon; the mapped input's page-cache pages are
//! not the program's memory) in `docs/benchmarks.md`.

use anyhow::{bail, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::{project_root, run};

/// One measured command.
struct Sample {
    secs: f64,
    /// User plus system CPU seconds, from the last /proc/PID/stat read before exit
    /// (10 ms resolution): comparable on a shared, loaded machine where wall time is not.
    cpu: f64,
    rss_anon_kb: u64,
}

/// Runs `cmd`, polling its RssAnon every millisecond, and returns wall time and the peak.
fn measure(cmd: &mut Command) -> Result<Sample> {
    let p = crate::util::run_polled(cmd, Duration::from_millis(1))?;
    if !p.status.success() {
        bail!("{cmd:?} failed: {}", p.stderr);
    }
    Ok(Sample { secs: p.wall, cpu: p.cpu, rss_anon_kb: p.rss_anon_kib })
}

/// Makes the large input once: a 10 s 720p segment looped by FFmpeg with continuous
/// timestamps until it is about `target` bytes.
fn big_input(dir: &Path, target: u64) -> Result<PathBuf> {
    let path = dir.join(format!("remux-{}M.ts", target >> 20));
    if path.exists() {
        return Ok(path);
    }
    let seg = dir.join("segment.ts");
    run(
        "ffmpeg",
        &[
            "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=10",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=10",
            "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "16M", "-g", "50", "-bf", "2",
            "-c:a", "aac", "-b:a", "128k", "-f", "mpegts", seg.to_str().unwrap(),
        ],
    )?;
    let seg_len = std::fs::metadata(&seg)?.len().max(1);
    let loops = (target / seg_len).max(1).to_string();
    run(
        "ffmpeg",
        &["-hide_banner", "-loglevel", "error", "-y", "-stream_loop", &loops, "-i", seg.to_str().unwrap(), "-map", "0", "-c", "copy", "-f", "mpegts", path.to_str().unwrap()],
    )?;
    std::fs::remove_file(&seg)?;
    Ok(path)
}

fn median(mut v: Vec<Sample>) -> Sample {
    v.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    let peak = v.iter().map(|s| s.rss_anon_kb).max().unwrap_or(0);
    let mut cpus: Vec<f64> = v.iter().map(|s| s.cpu).collect();
    cpus.sort_by(f64::total_cmp);
    let cpu = cpus[cpus.len() / 2];
    let mid = v.swap_remove(v.len() / 2);
    Sample { secs: mid.secs, cpu, rss_anon_kb: peak }
}

pub fn run_bench(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("remux") | None => remux(args.get(1..).unwrap_or(&[])),
        Some("criterion") => run("cargo", &["bench", "-p", "transcode-pipeline", "--bench", "remux"]),
        Some("decode") => crate::bench_decode::run(args.get(1..).unwrap_or(&[])),
        Some("decode-mpeg2") => crate::bench_mpeg2::run(args.get(1..).unwrap_or(&[])),
        Some("encode") => crate::bench_encode::run(args.get(1..).unwrap_or(&[])),
        Some("transcode") => crate::bench_transcode::run(args.get(1..).unwrap_or(&[])),
        Some(other) => bail!("unknown benchmark {other:?} (expected remux, decode, decode-mpeg2, encode, transcode or criterion)"),
    }
}

fn remux(args: &[String]) -> Result<()> {
    let size_mb: u64 = args.iter().position(|a| a == "--size-mb").and_then(|i| args.get(i + 1)).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let root = project_root();
    run("cargo", &["build", "--release", "--quiet", "-p", "transcode-cli"])?;
    let bin = crate::util::target_dir().join("release/transcode");
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let input = big_input(&dir, size_mb << 20)?;
    let bytes = std::fs::metadata(&input)?.len();
    let shm = Path::new("/dev/shm");
    let out_dir = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    // Warm the page cache so every contender reads from memory.
    std::io::copy(&mut std::fs::File::open(&input)?, &mut std::io::sink())?;
    let i = input.to_str().unwrap();
    let out = |name: &str| out_dir.join(name).to_str().unwrap().to_string();
    let (dd_out, ff_out, tc_out) = (out("bench-dd.ts"), out("bench-ffmpeg.mp4"), out("bench-transcode.mp4"));
    let reps = 3;
    let mut results: Vec<(&str, Sample)> = Vec::new();
    type Contender<'a> = (&'a str, Box<dyn Fn() -> Command + 'a>);
    let contenders: Vec<Contender> = vec![
        ("dd (copy limit)", Box::new(|| {
            let mut c = Command::new("dd");
            c.args([format!("if={i}"), format!("of={dd_out}"), "bs=4M".into(), "status=none".into()]);
            c
        })),
        ("ffmpeg -c copy", Box::new(|| {
            let mut c = Command::new("ffmpeg");
            c.args(["-hide_banner", "-loglevel", "error", "-y", "-i", i, "-map", "0", "-c", "copy", "-f", "mp4", &ff_out]);
            c
        })),
        ("transcode convert", Box::new(|| {
            let mut c = Command::new(&bin);
            c.args(["convert", i, &tc_out]);
            c
        })),
    ];
    for (name, make) in &contenders {
        let mut samples = Vec::new();
        for _ in 0..reps {
            samples.push(measure(&mut make())?);
            for f in [&dd_out, &ff_out, &tc_out] {
                let _ = std::fs::remove_file(f);
            }
        }
        let m = median(samples);
        println!("{name:20} {:7.3} s {:8.1} MB/s  CPU {:6.3} s  peak RssAnon {:6.1} MiB", m.secs, bytes as f64 / 1e6 / m.secs, m.cpu, m.rss_anon_kb as f64 / 1024.0);
        results.push((name, m));
    }
    let (ff, ff_cpu) = (results[1].1.secs, results[1].1.cpu);
    let mut table = String::new();
    writeln!(table, "Input: {} MB MPEG-TS (720p H.264 16 Mb/s + AAC, `cargo xtask bench remux`), output on {}, median of {reps} runs, page cache warm.\n", bytes / 1_000_000, out_dir.display())?;
    writeln!(table, "| contender | wall time | throughput | vs ffmpeg (wall) | CPU time (user+sys) | vs ffmpeg (CPU) | peak RssAnon |")?;
    writeln!(table, "|---|---:|---:|---:|---:|---:|---:|")?;
    for (name, s) in &results {
        writeln!(
            table,
            "| {name} | {:.3} s | {:.0} MB/s | {:.2}x | {:.2} s | {:.2}x | {:.1} MiB |",
            s.secs,
            bytes as f64 / 1e6 / s.secs,
            ff / s.secs,
            s.cpu,
            ff_cpu / s.cpu.max(0.01),
            s.rss_anon_kb as f64 / 1024.0
        )?;
    }
    let nproc = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    writeln!(table, "\nMachine: {nproc} cores, load average {} at the end of the run. Regenerate with `cargo xtask bench remux`.", load.join(" "))?;
    crate::util::replace_section(&root.join("docs/benchmarks.md"), "remux", &table)?;
    println!("{table}");
    Ok(())
}
