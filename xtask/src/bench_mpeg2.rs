//! `cargo xtask bench decode-mpeg2`: single-thread MPEG-2 decode speed of transcode's
//! decoder against `ffmpeg -threads 1` and libmpeg2's `mpeg2dec` (with its SIMD and
//! as plain C), on interlaced broadcast-sized streams, in the same run, recorded in
//! `docs/benchmarks.md`.
//!
//! The streams are made once under `target/bench/` with FFmpeg's `mpeg2video` encoder
//! (interlaced DCT and motion, top field first, B-frames, a 15-picture GOP, a VBV
//! constrained bitrate as broadcasters use) from a blend of `mandelbrot` and `testsrc2`
//! with temporal noise, which keeps the bitrate at broadcast levels the way camera
//! noise does; test patterns alone code to almost nothing. Before timing, transcode's
//! frames are checked against `ffmpeg -flags +bitexact -idct simple -f framemd5`.
//! Contenders then run in turn, round-robin, `--reps` times (default 3); the table has
//! medians of wall-clock and CPU-time fps.

use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::bench_decode::{check, first_line, time_ffmpeg, time_rust, Outcome, Sample};
use crate::util::project_root;

/// One benchmark stream: label, width, height, bitrate in Mb/s.
const STREAMS: [(&str, u32, u32, u32); 2] = [("1440x1080i", 1440, 1080, 15), ("1920x1080i", 1920, 1080, 20)];

/// The contenders, in table order.
const CONTENDERS: [&str; 4] = ["ffmpeg -threads 1", "mpeg2dec (libmpeg2, SIMD)", "mpeg2dec -c (libmpeg2, plain C)", "transcode (transcode-mpeg2)"];

struct Stream {
    label: &'static str,
    mbps: u32,
    path: PathBuf,
    md5s: Vec<String>,
}

/// `cargo xtask bench decode-mpeg2 [--reps N] [--frames N]`.
pub fn run(args: &[String]) -> Result<()> {
    let (reps, frames, dir) = crate::bench_decode::bench_args(args)?;
    let root = project_root();

    let mut streams = Vec::new();
    for (label, w, h, mbps) in STREAMS {
        let path = make_stream(&dir, w, h, mbps, frames)?;
        streams.push(Stream { label, mbps, path, md5s: Vec::new() });
    }
    println!("building transcode-decode-bench (release)");
    crate::util::run("cargo", &["build", "--release", "--quiet", "-p", "transcode-decode-bench", "--no-default-features"])?;
    let bin = crate::util::target_dir().join("release/transcode-decode-bench");

    let mut outcomes: Vec<Vec<Outcome>> = streams.iter().map(|_| CONTENDERS.iter().map(|_| Outcome::default()).collect()).collect();
    for (s, stream) in streams.iter_mut().enumerate() {
        let input = stream.path.to_str().context("non-UTF-8 path")?;
        let text = crate::util::output(
            "ffmpeg",
            &["-hide_banner", "-loglevel", "error", "-threads", "1", "-flags", "+bitexact", "-idct", "simple", "-i", input, "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "framemd5", "-"],
        )?;
        stream.md5s = text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.rsplit(',').next()).map(|m| m.trim().to_string()).collect();
        outcomes[s][0].check = format!("{} (reference)", stream.md5s.len());
        outcomes[s][1].check = "not checked".into();
        outcomes[s][2].check = "not checked".into();
        let o = &mut outcomes[s][3];
        match check(&bin, "mpeg2", &stream.path, &stream.md5s) {
            Ok(c) => o.check = c,
            Err(e) => {
                o.check = "failed".into();
                o.failed = Some(first_line(&format!("{e:#}")));
            }
        }
        println!("{} transcode: {}", stream.label, o.failed.as_deref().unwrap_or(&o.check));
    }

    for rep in 0..reps {
        for (s, stream) in streams.iter().enumerate() {
            for (c, name) in CONTENDERS.iter().enumerate() {
                let o = &mut outcomes[s][c];
                if o.failed.is_some() {
                    continue;
                }
                let r = match c {
                    0 => time_ffmpeg(&stream.path),
                    1 => time_mpeg2dec(&stream.path, false),
                    2 => time_mpeg2dec(&stream.path, true),
                    _ => time_rust(&bin, "mpeg2", &stream.path),
                };
                match r {
                    Ok(sample) => {
                        println!(
                            "rep {}/{reps} {:10} {:32} {:4} frames {:7.3} s {:6.1} fps  cpu {:6.1} fps  RssAnon {:6.1} MiB",
                            rep + 1,
                            stream.label,
                            name,
                            sample.frames,
                            sample.wall_s,
                            sample.frames as f64 / sample.wall_s,
                            sample.frames as f64 / sample.cpu_s,
                            sample.rss_anon_kib as f64 / 1024.0
                        );
                        o.samples.push(sample);
                    }
                    Err(e) => o.failed = Some(first_line(&format!("{e:#}"))),
                }
            }
        }
    }

    let table = render(&streams, &outcomes, reps)?;
    let doc = root.join("docs/benchmarks.md");
    let text = std::fs::read_to_string(&doc).unwrap_or_default();
    if !text.contains("<!-- BEGIN decode-mpeg2 -->") {
        let heading = "\n## Decode: single-thread MPEG-2, 1080i broadcast bitrates\n\nMeasured by `cargo xtask bench decode-mpeg2`; the table below is rewritten by it.\n";
        std::fs::write(&doc, format!("{}\n{heading}", text.trim_end()))?;
    }
    crate::util::replace_section(&doc, "decode-mpeg2", &table)?;
    println!("\n{table}");
    Ok(())
}

/// Makes `decode-mpeg2-<w>x<h>i-<mbps>M-<frames>.m2v` once.
fn make_stream(dir: &Path, width: u32, height: u32, mbps: u32, frames: usize) -> Result<PathBuf> {
    let path = dir.join(format!("decode-mpeg2-{width}x{height}i-{mbps}M-{frames}.m2v"));
    if path.exists() {
        return Ok(path);
    }
    println!("making {} (mpeg2video, interlaced, {mbps} Mb/s)", path.display());
    let tmp = dir.join(format!("decode-mpeg2-{width}x{height}i-{mbps}M-{frames}.tmp.m2v"));
    let size = format!("{width}x{height}");
    let (rate, max, buf) = (format!("{mbps}M"), format!("{}M", mbps * 6 / 5), format!("{}M", mbps * 3 / 5));
    crate::util::run(
        "ffmpeg",
        &[
            "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", &format!("mandelbrot=size={size}:rate=30000/1001"),
            "-f", "lavfi", "-i", &format!("testsrc2=size={size}:rate=30000/1001"),
            "-filter_complex", "[0][1]blend=all_mode=average,noise=alls=12:allf=t,format=yuv420p",
            "-frames:v", &frames.to_string(),
            "-c:v", "mpeg2video", "-b:v", &rate, "-maxrate", &max, "-bufsize", &buf,
            "-g", "15", "-bf", "2", "-flags", "+ildct+ilme", "-top", "1",
            "-f", "mpeg2video", tmp.to_str().context("non-UTF-8 path")?,
        ],
    )?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Times `mpeg2dec -o null FILE` (with `-c`: without its SIMD kernels) as a whole
/// process, polling its CPU time and RssAnon; the frame count comes from its
/// `N frames decoded in` summary. Reading the (page-cached) file is included, which
/// costs libmpeg2 a little against the in-memory Rust runs.
fn time_mpeg2dec(path: &Path, plain_c: bool) -> Result<Sample> {
    let mut cmd = Command::new("mpeg2dec");
    if plain_c {
        cmd.arg("-c");
    }
    cmd.args(["-o", "null"]).arg(path);
    let p = crate::util::run_polled(&mut cmd, Duration::from_millis(2)).context("cannot run mpeg2dec; is it installed? (apt-get install mpeg2dec)")?;
    let (status, err) = (p.status, p.stderr);
    anyhow::ensure!(status.success(), "mpeg2dec exited with {status}: {}", first_line(&err));
    let frames = err
        .split(['\r', '\n'])
        .find_map(|l| l.split(" frames decoded in").next().filter(|_| l.contains(" frames decoded in")).and_then(|n| n.trim().parse().ok()))
        .with_context(|| format!("no 'frames decoded' in mpeg2dec's output: {}", first_line(&err)))?;
    Ok(Sample { frames, wall_s: p.wall, cpu_s: p.cpu, rss_anon_kib: p.rss_anon_kib })
}

fn render(streams: &[Stream], outcomes: &[Vec<Outcome>], reps: usize) -> Result<String> {
    let medians: Vec<Vec<Option<Sample>>> = outcomes.iter().map(|o| o.iter().map(Outcome::median).collect()).collect();
    let fps = |s: &Option<Sample>, cpu: bool| s.map(|s| s.frames as f64 / if cpu { s.cpu_s } else { s.wall_s });
    let mut t = String::new();
    for s in streams {
        let bytes = std::fs::metadata(&s.path).map(|m| m.len()).unwrap_or(0) as f64;
        let kbps = bytes * 8.0 / 1000.0 / (s.md5s.len().max(1) as f64 * 1001.0 / 30000.0);
        writeln!(
            t,
            "- {}: {} frames at 29.97 fps, {:.0} kb/s (target {} Mb/s), mpeg2video `-flags +ildct+ilme -top 1 -g 15 -bf 2`, `target/bench/{}`",
            s.label,
            s.md5s.len(),
            kbps,
            s.mbps,
            s.path.file_name().and_then(|n| n.to_str()).unwrap_or("")
        )?;
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let nproc = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    writeln!(
        t,
        "\nOne thread per decoder, median of {reps} runs. ffmpeg: its `-benchmark` rtime and utime+stime of the decode loop; mpeg2dec: the whole process (`-o null`); transcode: its decode loop with the input in memory. Machine: {nproc} cores, load average {} at the end of the run.\n",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    )?;
    write!(t, "| decoder |")?;
    for s in streams {
        write!(t, " {} fps (vs ffmpeg) |", s.label)?;
    }
    for s in streams {
        write!(t, " {} CPU-time fps (vs ffmpeg) |", s.label)?;
    }
    writeln!(t, " peak RssAnon | frames, output vs ffmpeg |")?;
    writeln!(t, "|---|{}---|", "---:|".repeat(2 * streams.len() + 1))?;
    for (c, name) in CONTENDERS.iter().enumerate() {
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
        let checks: Vec<String> = outcomes
            .iter()
            .zip(&medians)
            .map(|(o, m)| match (&o[c].check[..], m[c]) {
                ("not checked", Some(s)) => format!("{} frames", s.frames),
                (c, _) => c.to_string(),
            })
            .collect();
        writeln!(t, " {} MiB | {} |", rss.join(" / "), checks.join(" / "))?;
    }
    for (s, stream) in streams.iter().enumerate() {
        for (c, name) in CONTENDERS.iter().enumerate() {
            if let Some(why) = &outcomes[s][c].failed {
                writeln!(t, "\n{name} on {}: {why}", stream.label)?;
            }
        }
    }
    writeln!(t, "\nmpeg2dec (libmpeg2 0.5.1, Debian) stops before the last pictures of a stream that ends without a sequence end code (2 fewer here); its fps are its own frame count over its own time. transcode's RssAnon includes the input, read into memory before timing. Regenerate with `cargo xtask bench decode-mpeg2`.")?;
    Ok(t)
}
