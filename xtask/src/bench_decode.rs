//! `cargo xtask bench decode`: single-thread H.264 decode speed of transcode's decoder,
//! `ffmpeg -threads 1`, rust_h264 and rusty_h264-decoder on 720p and 1080p High-profile
//! streams, a dense 1080p one at broadcast bitrates (x264 veryfast, CRF 18, a noisy
//! source, about 50 Mb/s) and a 1080i MBAFF one (x264 `--tff`, veryfast: transcode,
//! ffmpeg and rust_h264 decode it; rusty_h264-decoder has no interlaced support), in
//! the same run, recorded in `docs/benchmarks.md`.
//!
//! The streams are made once under `target/bench/` with x264 (`-preset medium
//! -profile:v high`, one thread so one slice per picture) from a blend of FFmpeg's
//! `mandelbrot` (zooming detail) and `testsrc2` (moving objects), which gives
//! realistic bitrates rather than the near-empty residuals of a test pattern alone.
//! Before timing, every decoder's frames are checked against `ffmpeg -f framemd5`.
//! Contenders are then run in turn, round-robin, `--reps` times (default 3) so that
//! load changes on a shared machine hit all of them alike; the table gives medians.
//! Wall-clock fps is what the issue asks for; CPU-time fps is given beside it because
//! on a loaded machine it is the steadier measure of one thread's work.

use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::project_root;

/// The Rust decoders, as named on the benchmark binary's command line, with the name
/// shown in the table.
const RUST_DECODERS: [(&str, &str); 3] =
    [("transcode", "transcode (transcode-h264)"), ("rust_h264", "rust_h264 0.6"), ("rusty_h264", "rusty_h264-decoder 0.17")];

/// One benchmark stream.
struct Stream {
    label: &'static str,
    width: u32,
    height: u32,
    /// How the stream is coded.
    kind: Kind,
    path: PathBuf,
    /// ffmpeg's per-frame MD5s, the reference for frame count and output.
    md5s: Vec<String>,
}

/// How a benchmark stream is coded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Progressive, x264 `-preset medium -profile:v high` at its default CRF.
    Medium,
    /// Progressive at broadcast bitrates: x264 `-preset veryfast -crf 18` on the source
    /// with temporal noise, where CABAC residual decoding dominates.
    Dense,
    /// MBAFF: x264 `-preset veryfast` with `interlaced=1:tff=1`.
    Mbaff,
}

/// One timed run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub(crate) frames: u64,
    pub(crate) wall_s: f64,
    pub(crate) cpu_s: f64,
    pub(crate) rss_anon_kib: u64,
}

/// What one contender did on one stream.
#[derive(Default)]
pub(crate) struct Outcome {
    pub(crate) samples: Vec<Sample>,
    /// Why the contender could not be measured, if it could not.
    pub(crate) failed: Option<String>,
    /// Result of the correctness pass against ffmpeg's frame MD5s.
    pub(crate) check: String,
}

impl Outcome {
    /// Median wall and CPU seconds (each taken separately) and the largest RssAnon.
    pub(crate) fn median(&self) -> Option<Sample> {
        if self.failed.is_some() || self.samples.is_empty() {
            return None;
        }
        let mid = |f: fn(&Sample) -> f64| {
            let mut v: Vec<f64> = self.samples.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        Some(Sample {
            frames: self.samples[0].frames,
            wall_s: mid(|s| s.wall_s),
            cpu_s: mid(|s| s.cpu_s),
            rss_anon_kib: self.samples.iter().map(|s| s.rss_anon_kib).max().unwrap_or(0),
        })
    }
}

/// The options both decode benchmarks take, `--reps N` (default 3) and `--frames N`
/// (default 300), and the folder their streams are made in (`target/bench`).
pub(crate) fn bench_args(args: &[String]) -> Result<(usize, usize, PathBuf)> {
    let opt = |name: &str, default: usize| -> Result<usize> {
        match args.iter().position(|a| a == name) {
            Some(i) => args.get(i + 1).and_then(|v| v.parse().ok()).with_context(|| format!("{name} needs a number")),
            None => Ok(default),
        }
    };
    let dir = project_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    Ok((opt("--reps", 3)?.max(1), opt("--frames", 300)?.max(1), dir))
}

/// `cargo xtask bench decode [--reps N] [--frames N]`.
pub fn run(args: &[String]) -> Result<()> {
    let (reps, frames, dir) = bench_args(args)?;
    let root = project_root();

    let mut streams = Vec::new();
    for (label, width, height, kind) in
        [("720p", 1280, 720, Kind::Medium), ("1080p", 1920, 1080, Kind::Medium), ("1080p dense", 1920, 1080, Kind::Dense), ("1080i", 1920, 1080, Kind::Mbaff)]
    {
        let path = make_stream(&dir, width, height, frames, kind)?;
        streams.push(Stream { label, width, height, kind, path, md5s: Vec::new() });
    }

    let (bin, left_out) = build_bench(&root)?;
    // Contender 0 is ffmpeg, the reference; then the Rust decoders.
    let names: Vec<&str> = std::iter::once("ffmpeg -threads 1").chain(RUST_DECODERS.iter().map(|d| d.1)).collect();
    let mut outcomes: Vec<Vec<Outcome>> = streams.iter().map(|_| names.iter().map(|_| Outcome::default()).collect()).collect();

    for o in outcomes.iter_mut() {
        for (d, (arg, _)) in RUST_DECODERS.iter().enumerate() {
            if let Some((_, why)) = left_out.iter().find(|(a, _)| a == arg) {
                o[d + 1].check = "not built".into();
                o[d + 1].failed = Some(format!("not built here: {why}"));
            }
        }
    }

    for (s, stream) in streams.iter_mut().enumerate() {
        let input = stream.path.to_str().context("non-UTF-8 path")?;
        let text = crate::util::output("ffmpeg", &["-hide_banner", "-loglevel", "error", "-threads", "1", "-i", input, "-f", "framemd5", "-"])?;
        stream.md5s = text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.rsplit(',').next()).map(|m| m.trim().to_string()).collect();
        outcomes[s][0].check = format!("{} (reference)", stream.md5s.len());
        for (d, (arg, _)) in RUST_DECODERS.iter().enumerate() {
            let o = &mut outcomes[s][d + 1];
            if o.failed.is_some() {
                continue;
            }
            match check(&bin, arg, &stream.path, &stream.md5s) {
                Ok(c) => o.check = c,
                Err(e) => {
                    o.check = "failed".into();
                    o.failed = Some(first_line(&format!("{e:#}")));
                }
            }
            println!("{} {}: {}", stream.label, arg, o.failed.as_deref().unwrap_or(&o.check));
        }
    }

    for rep in 0..reps {
        for (s, stream) in streams.iter().enumerate() {
            for c in 0..names.len() {
                let o = &mut outcomes[s][c];
                if o.failed.is_some() {
                    continue;
                }
                let r = if c == 0 { time_ffmpeg(&stream.path) } else { time_rust(&bin, RUST_DECODERS[c - 1].0, &stream.path) };
                match r {
                    Ok(sample) => {
                        println!(
                            "rep {}/{reps} {:5} {:28} {:4} frames {:7.3} s {:6.1} fps  cpu {:6.1} fps  RssAnon {:6.1} MiB",
                            rep + 1,
                            stream.label,
                            names[c],
                            sample.frames,
                            sample.wall_s,
                            sample.frames as f64 / sample.wall_s,
                            sample.frames as f64 / sample.cpu_s,
                            sample.rss_anon_kib as f64 / 1024.0
                        );
                        if sample.frames as usize != stream.md5s.len() {
                            o.check = format!("{}, ffmpeg {}", sample.frames, stream.md5s.len());
                        }
                        o.samples.push(sample);
                    }
                    Err(e) => o.failed = Some(first_line(&format!("{e:#}"))),
                }
            }
        }
    }

    let table = render(&streams, &names, &outcomes, reps)?;
    let doc = root.join("docs/benchmarks.md");
    // The first run adds a heading, in the style of the other sections, above the
    // generated part; later runs rewrite only the generated part.
    let mut text = std::fs::read_to_string(&doc).unwrap_or_default();
    if !text.contains("<!-- BEGIN decode -->") {
        // `replace_section` appends a missing section at the end of the file: keep an
        // empty place for the remux table under its own heading, or its first run
        // would put it under ours.
        if text.contains("cargo xtask bench remux") && !text.contains("<!-- BEGIN remux -->") {
            text = format!("{}\n\n<!-- BEGIN remux -->\n<!-- END remux -->\n", text.trim_end());
        }
        let heading = "\n## Decode: single-thread H.264, 720p and 1080p High, 1080i MBAFF\n\nMeasured by `cargo xtask bench decode`; the table below is rewritten by it.\n";
        std::fs::write(&doc, format!("{}\n{heading}", text.trim_end()))?;
    }
    crate::util::replace_section(&doc, "decode", &table)?;
    println!("\n{table}");
    Ok(())
}

/// The commit the working tree is at, and whether transcode's decoder has uncommitted
/// changes, so that a table can be traced to the code it measured.
fn source_state() -> String {
    let git = |args: &[&str]| Command::new("git").args(args).current_dir(project_root()).output().ok().filter(|o| o.status.success()).map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(head) => match git(&["status", "--porcelain", "--", "crates/h264"]) {
            Some(changes) if !changes.is_empty() => format!("commit {head} with uncommitted changes in crates/h264"),
            _ => format!("commit {head}"),
        },
        None => "an unknown commit (no git)".to_string(),
    }
}

/// Builds the benchmark binary in release mode with as many of the other decoders as
/// build here (each is behind a cargo feature), and says which were left out and why.
fn build_bench(root: &Path) -> Result<(PathBuf, Vec<(&'static str, String)>)> {
    const OTHERS: [&str; 2] = ["rust_h264", "rusty_h264"];
    let attempts: [&[&str]; 4] = [&OTHERS, &OTHERS[..1], &OTHERS[1..], &[]];
    let mut why = String::new();
    for features in attempts {
        println!("building transcode-decode-bench (release, features: {})", if features.is_empty() { "none".to_string() } else { features.join(", ") });
        let out = Command::new("cargo")
            .args(["build", "--release", "--quiet", "-p", "transcode-decode-bench", "--no-default-features", "--features", &features.join(",")])
            .current_dir(root)
            .output()
            .context("cannot run cargo")?;
        if out.status.success() {
            let left_out = OTHERS.iter().filter(|d| !features.contains(d)).map(|d| (*d, why.clone())).collect::<Vec<_>>();
            for (d, w) in &left_out {
                println!("{d} left out of the benchmark: {w}");
            }
            return Ok((crate::util::target_dir().join("release/transcode-decode-bench"), left_out));
        }
        let err = String::from_utf8_lossy(&out.stderr);
        eprintln!("{err}");
        if why.is_empty() {
            why = err.lines().find(|l| l.starts_with("error")).map(first_line).unwrap_or_else(|| first_line(&err));
        }
    }
    bail!("transcode-decode-bench does not build: {why}")
}

/// Makes `decode-<h>p-high.h264` once: `frames` pictures at 30 fps, x264 medium, High;
/// for [`Kind::Dense`], `decode-<h>p-dense.h264`: x264 veryfast at CRF 18 on the source
/// with temporal noise (`noise=alls=5:allf=t`), about 50 Mb/s at 1080p, the density of
/// a broadcast feed; for [`Kind::Mbaff`], `decode-<h>i-mbaff.h264`: x264 veryfast,
/// interlaced top field first (MBAFF), as broadcast encoders run it. The Rust
/// contenders other than transcode do not decode interlaced streams and are reported
/// as failing on it.
fn make_stream(dir: &Path, width: u32, height: u32, frames: usize, kind: Kind) -> Result<PathBuf> {
    let path = match kind {
        Kind::Medium => dir.join(format!("decode-{height}p-high-{frames}.h264")),
        Kind::Dense => dir.join(format!("decode-{height}p-dense-{frames}.h264")),
        Kind::Mbaff => dir.join(format!("decode-{height}i-mbaff-{frames}.h264")),
    };
    if path.exists() {
        return Ok(path);
    }
    let preset = if kind == Kind::Medium { "medium" } else { "veryfast" };
    println!("making {} (x264 -preset {preset}, one thread; takes a minute)", path.display());
    let tmp = path.with_extension("tmp.h264");
    let size = format!("{width}x{height}");
    let (src0, src1, count) = (format!("mandelbrot=size={size}:rate=30"), format!("testsrc2=size={size}:rate=30"), frames.to_string());
    let mut args = vec![
        "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", &src0,
        "-f", "lavfi", "-i", &src1,
        "-filter_complex",
        if kind == Kind::Dense { "[0][1]blend=all_mode=average,noise=alls=5:allf=t,format=yuv420p" } else { "[0][1]blend=all_mode=average,format=yuv420p" },
        "-frames:v", &count,
        "-c:v", "libx264", "-threads", "1", "-preset", preset, "-profile:v", "high",
    ];
    match kind {
        Kind::Medium => {}
        Kind::Dense => args.extend(["-crf", "18"]),
        Kind::Mbaff => args.extend(["-x264-params", "interlaced=1:tff=1"]),
    }
    args.extend(["-f", "h264", tmp.to_str().context("non-UTF-8 path")?]);
    crate::util::run("ffmpeg", &args)?;
    // Renamed only when complete, so an interrupted run does not leave a short stream.
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Decodes with `--framemd5` and compares with ffmpeg's MD5s.
pub(crate) fn check(bin: &Path, decoder: &str, path: &Path, reference: &[String]) -> Result<String> {
    let out = Command::new(bin).arg(decoder).arg(path).arg("--framemd5").output().with_context(|| format!("cannot run {}", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("{} {}", summary_field(&text, "errors").map(|e| format!("{e} decode errors:")).unwrap_or_default(), String::from_utf8_lossy(&out.stderr).trim());
    }
    let md5s: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("md5 ")).collect();
    if md5s.len() != reference.len() {
        return Ok(format!("{}, ffmpeg {}", md5s.len(), reference.len()));
    }
    let differ = md5s.iter().zip(reference).filter(|(a, b)| *a != b).count();
    Ok(if differ == 0 { format!("{}, bit-exact", md5s.len()) } else { format!("{}, {differ} differ from ffmpeg", md5s.len()) })
}

/// The value of `key=` in the benchmark binary's summary line.
pub(crate) fn summary_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let line = text.lines().rev().find(|l| l.starts_with("decoder="))?;
    line.split_whitespace().find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

pub(crate) fn first_line(s: &str) -> String {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().chars().take(160).collect()
}

/// Runs `cmd` to the end, polling its RssAnon every 5 ms (rarely enough not to steal
/// a core on a small machine), and returns stdout, stderr and the peak in KiB.
pub(crate) fn run_polled(cmd: &mut Command) -> Result<(String, String, u64)> {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().with_context(|| format!("cannot run {cmd:?}"))?;
    let status_path = format!("/proc/{}/status", child.id());
    // Both outputs are a few lines, well inside a pipe's buffer, so they can wait
    // until the process ends.
    let mut peak = 0;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = s.lines().find(|l| l.starts_with("RssAnon:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<u64>().ok()) {
                peak = peak.max(kb);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (mut out, mut err) = (String::new(), String::new());
    if let Some(mut o) = child.stdout.take() {
        o.read_to_string(&mut out)?;
    }
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut err)?;
    }
    if !status.success() {
        bail!("{} exited with {status}: {}", cmd.get_program().to_string_lossy(), err.trim());
    }
    Ok((out, err, peak))
}

/// Times one Rust decoder; the binary times its own decode loop (input already in
/// memory), and reports its own RssAnon peak besides ours.
pub(crate) fn time_rust(bin: &Path, decoder: &str, path: &Path) -> Result<Sample> {
    let (out, _, polled) = run_polled(Command::new(bin).arg(decoder).arg(path))?;
    let num = |k: &str| -> Result<f64> { summary_field(&out, k).and_then(|v| v.parse().ok()).with_context(|| format!("no {k}= in {out:?}")) };
    if num("threads")? > 1.0 {
        bail!("{decoder} ran on {} threads", num("threads")?);
    }
    Ok(Sample { frames: num("frames")? as u64, wall_s: num("wall_s")?, cpu_s: num("cpu_s")?, rss_anon_kib: polled.max(num("peak_rss_anon_kib")? as u64) })
}

/// Times `ffmpeg -threads 1 -i X -f null -` with its `-benchmark` report, which covers
/// the decoding loop (after probing the input): `bench: utime=1.088s stime=0.011s
/// rtime=2.759s`. The frame count comes from the final `frame=  300` report.
pub(crate) fn time_ffmpeg(path: &Path) -> Result<Sample> {
    let (_, err, rss) = run_polled(Command::new("ffmpeg").args(["-hide_banner", "-nostdin", "-nostats", "-benchmark", "-threads", "1", "-i"]).arg(path).args(["-an", "-f", "null", "-"]))?;
    let bench = err.lines().find(|l| l.starts_with("bench: utime=")).with_context(|| format!("no bench: line in ffmpeg's output:\n{err}"))?;
    let secs = |k: &str| -> Result<f64> {
        bench.split_whitespace().find_map(|kv| kv.strip_prefix(k)).and_then(|v| v.trim_end_matches('s').parse().ok()).with_context(|| format!("no {k} in {bench:?}"))
    };
    let frames = err
        .rsplit("frame=")
        .next()
        .filter(|_| err.contains("frame="))
        .and_then(|t| t.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no frame= in ffmpeg's output:\n{err}"))?;
    Ok(Sample { frames, wall_s: secs("rtime=")?, cpu_s: secs("utime=")? + secs("stime=")?, rss_anon_kib: rss })
}

fn render(streams: &[Stream], names: &[&str], outcomes: &[Vec<Outcome>], reps: usize) -> Result<String> {
    let medians: Vec<Vec<Option<Sample>>> = outcomes.iter().map(|o| o.iter().map(Outcome::median).collect()).collect();
    let fps = |s: &Option<Sample>, cpu: bool| s.map(|s| s.frames as f64 / if cpu { s.cpu_s } else { s.wall_s });
    let mut t = String::new();
    for s in streams {
        let bytes = std::fs::metadata(&s.path).map(|m| m.len()).unwrap_or(0) as f64;
        let kbps = bytes * 8.0 / 1000.0 / (s.md5s.len().max(1) as f64 / 30.0);
        writeln!(
            t,
            "- {}: {}x{}, {} frames at 30 fps, {:.0} kb/s, x264 {}, `target/bench/{}`",
            s.label,
            s.width,
            s.height,
            s.md5s.len(),
            kbps,
            match s.kind {
                Kind::Mbaff => "`-preset veryfast -profile:v high -x264-params interlaced=1:tff=1` (MBAFF, CABAC, 8x8 transform, 3 B-frames)",
                Kind::Dense => "`-preset veryfast -crf 18 -profile:v high` on the source with `noise=alls=5:allf=t` (CABAC, 8x8 transform, 3 B-frames)",
                Kind::Medium => "`-preset medium -profile:v high` (CABAC, 8x8 transform, 3 B-frames)",
            },
            s.path.file_name().and_then(|n| n.to_str()).unwrap_or("")
        )?;
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let nproc = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    writeln!(t, "\nOne thread per decoder, median of {reps} runs; fps = frames / seconds of the decode loop (input already in memory; ffmpeg: its `-benchmark` rtime and utime+stime). Machine: {nproc} cores, load average {} at the end of the run.\n", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "))?;
    let labels: Vec<&str> = streams.iter().map(|s| s.label).collect();
    write!(t, "| decoder |")?;
    for l in &labels {
        write!(t, " {l} fps (vs ffmpeg) |")?;
    }
    for l in &labels {
        write!(t, " {l} CPU-time fps (vs ffmpeg) |")?;
    }
    writeln!(t, " peak RssAnon ({0}) | frames, output vs ffmpeg ({0}) |", labels.join(" / "))?;
    writeln!(t, "|---|{}---|", "---:|".repeat(2 * labels.len() + 1))?;
    for (c, name) in names.iter().enumerate() {
        write!(t, "| {name} |")?;
        for cpu in [false, true] {
            for m in &medians {
                match (fps(&m[c], cpu), fps(&m[0], cpu)) {
                    (Some(f), Some(r)) => write!(t, " {f:.1} ({:.2}x) |", f / r)?,
                    (Some(f), None) => write!(t, " {f:.1} |")?,
                    (None, _) => write!(t, " n/a |")?,
                }
            }
        }
        let rss: Vec<String> = medians.iter().map(|m| m[c].map_or("-".to_string(), |s| format!("{:.1}", s.rss_anon_kib as f64 / 1024.0))).collect();
        write!(t, " {} MiB |", rss.join(" / "))?;
        let checks: Vec<&str> = outcomes.iter().map(|o| o[c].check.as_str()).collect();
        writeln!(t, " {} |", checks.join(" / "))?;
    }
    for (s, stream) in streams.iter().enumerate() {
        for (c, name) in names.iter().enumerate() {
            if let Some(why) = &outcomes[s][c].failed {
                writeln!(t, "\n{name} on {}: {why}", stream.label)?;
            }
        }
    }
    let input_mib: Vec<String> = streams.iter().map(|s| format!("{:.1}", std::fs::metadata(&s.path).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0)).collect();
    writeln!(t, "\nThe Rust contenders' RssAnon includes the input, read into memory before timing ({} MiB); ffmpeg reads through its own small buffer.", input_mib.join(" / "))?;
    writeln!(t, "transcode-h264 measured at {}.", source_state())?;
    writeln!(
        t,
        "\nrust_h264 runs its single-threaded `decoder::Decoder`; rusty_h264-decoder is built without default features (they install a global allocator), with `std` and `asm` (its SIMD kernels). Both pick SIMD kernels at run time; nothing is built with `-C target-cpu`. Regenerate with `cargo xtask bench decode`."
    )?;
    Ok(t)
}
