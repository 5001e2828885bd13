//! `cargo xtask bench encode [--frames N]`: transcode's H.264 encoder against x264
//! (`--preset ultrafast` and `--preset veryfast`, `--tune psnr --threads 1`) at four
//! constant QPs on a natural-looking 720p source, recorded in `docs/benchmarks.md`.
//!
//! The source is made once under `target/bench/` from a blend of FFmpeg's `mandelbrot`
//! (zooming detail) and `testsrc2` (moving objects) with light temporal noise. Every
//! stream is decoded by FFmpeg and compared with the source by `-lavfi psnr` (the
//! "average" PSNR of Y, Cb and Cr weighted 4:1:1, and Y alone); transcode's streams
//! are also checked to decode to its reconstruction. Speed is frames per second of
//! one thread, from the process's user CPU time (`/usr/bin/time`), which a shared
//! machine disturbs less than wall-clock time; wall-clock fps is given beside it.
//!
//! x264's `--qp` also sets I pictures `--ipratio` (1.4, about 3 QP) finer, so equal QPs
//! are not equal quantisers; the Bjøntegaard delta rate (average bitrate difference at
//! equal PSNR over the overlapping range, cubic fit of log-rate against PSNR) compares
//! the curves instead.

use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::util::{project_root, target_dir};

const QPS: [u8; 4] = [22, 26, 30, 34];

struct Point {
    kbps: f64,
    psnr_avg: f64,
    psnr_y: f64,
    cpu_fps: f64,
    wall_fps: f64,
}

/// Runs `cmd` under `/usr/bin/time`, returning (user seconds, wall seconds).
fn timed(cmd: &mut Command) -> Result<(f64, f64)> {
    let mut t = Command::new("/usr/bin/time");
    t.arg("-f").arg("TIME %U %e").arg(cmd.get_program()).args(cmd.get_args());
    let out = t.output().context("run /usr/bin/time")?;
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("{:?} failed: {err}", cmd.get_program());
    }
    let line = err.lines().rev().find(|l| l.starts_with("TIME ")).context("no time output")?;
    let v: Vec<f64> = line[5..].split_whitespace().map(|s| s.parse().unwrap_or(0.0)).collect();
    Ok((v[0], v[1]))
}

/// `ffmpeg -lavfi psnr` of `stream` against `source`: (average, Y).
fn psnr(stream: &Path, source: &Path) -> Result<(f64, f64)> {
    // `-r 30`: the raw H.264 demuxer would otherwise time the stream at 25 fps and
    // the filter would pair frames by time, not by number.
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-r", "30", "-i"])
        .arg(stream)
        .arg("-i")
        .arg(source)
        .args(["-lavfi", "psnr", "-f", "null", "-"])
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.contains("PSNR y:")).context("no PSNR line")?;
    let field = |name: &str| -> Result<f64> {
        let at = line.find(name).context("PSNR field")? + name.len();
        Ok(line[at..].split_whitespace().next().unwrap_or("0").parse()?)
    };
    Ok((field("average:")?, field("y:")?))
}

/// Bjøntegaard delta rate of `test` against `anchor`, in percent (negative: `test`
/// needs fewer bits for the same PSNR).
fn bd_rate(anchor: &[Point], test: &[Point]) -> Option<f64> {
    // Cubic least-squares fit of log10(rate) as a function of PSNR.
    fn fit(p: &[Point]) -> Option<[f64; 4]> {
        let mut a = [[0f64; 5]; 4];
        for pt in p {
            let x = pt.psnr_avg;
            let y = pt.kbps.log10();
            let pow = [1.0, x, x * x, x * x * x];
            for r in 0..4 {
                for c in 0..4 {
                    a[r][c] += pow[r] * pow[c];
                }
                a[r][4] += pow[r] * y;
            }
        }
        // Gaussian elimination with partial pivoting.
        for i in 0..4 {
            let piv = (i..4).max_by(|&x, &y| a[x][i].abs().total_cmp(&a[y][i].abs()))?;
            a.swap(i, piv);
            if a[i][i].abs() < 1e-12 {
                return None;
            }
            let pivot_row = a[i];
            for (r, row) in a.iter_mut().enumerate() {
                if r != i {
                    let f = row[i] / pivot_row[i];
                    for (v, p) in row.iter_mut().zip(&pivot_row).skip(i) {
                        *v -= f * p;
                    }
                }
            }
        }
        Some(std::array::from_fn(|i| a[i][4] / a[i][i]))
    }
    let integral = |k: &[f64; 4], lo: f64, hi: f64| {
        let f = |x: f64| k[0] * x + k[1] * x * x / 2.0 + k[2] * x.powi(3) / 3.0 + k[3] * x.powi(4) / 4.0;
        f(hi) - f(lo)
    };
    let (ka, kt) = (fit(anchor)?, fit(test)?);
    let range = |p: &[Point]| {
        let v: Vec<f64> = p.iter().map(|p| p.psnr_avg).collect();
        (v.iter().cloned().fold(f64::MAX, f64::min), v.iter().cloned().fold(f64::MIN, f64::max))
    };
    let ((a0, a1), (t0, t1)) = (range(anchor), range(test));
    let (lo, hi) = (a0.max(t0), a1.min(t1));
    if hi <= lo {
        return None;
    }
    let diff = (integral(&kt, lo, hi) - integral(&ka, lo, hi)) / (hi - lo);
    Some((10f64.powf(diff) - 1.0) * 100.0)
}

pub fn run(args: &[String]) -> Result<()> {
    let frames: usize = args.iter().position(|a| a == "--frames").and_then(|i| args.get(i + 1)).and_then(|s| s.parse().ok()).unwrap_or(60);
    crate::util::run("cargo", &["build", "--release", "--quiet", "-p", "transcode-h264", "--example", "h264_encode"])?;
    let bin = target_dir().join("release/examples/h264_encode");
    let dir = project_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let source = dir.join(format!("encode-720p-blend-{frames}.y4m"));
    let filter = "[0:v][1:v]blend=all_mode=average,noise=alls=4:allf=t:all_seed=7,format=yuv420p";
    if !source.exists() {
        let st = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "mandelbrot=size=1280x720:rate=30"])
            .args(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-filter_complex", filter])
            .args(["-frames:v", &frames.to_string(), "-f", "yuv4mpegpipe"])
            .arg(&source)
            .status()?;
        if !st.success() {
            bail!("ffmpeg could not make the source");
        }
    }
    let secs = frames as f64 / 30.0;
    // transcode's contenders first (name, h264_encode options), then x264's presets.
    // A name ending in "crf" runs the ladder's values as `--crf` instead of `--qp`.
    let ours: [(&str, &[&str]); 5] = [
        ("transcode CAVLC", &[]),
        ("transcode CABAC", &["--cabac"]),
        ("transcode CABAC+3B", &["--cabac", "--bframes", "3"]),
        // x264 veryfast's analysis does not try P 16x8/8x16/8x8 partitions either.
        ("transcode CABAC+3B-part", &["--cabac", "--bframes", "3", "--no-partitions"]),
        ("transcode CABAC+3B crf", &["--cabac", "--bframes", "3"]),
    ];
    let contenders = [ours[0].0, ours[1].0, ours[2].0, ours[3].0, ours[4].0, "x264 ultrafast", "x264 veryfast"];
    let mut results: Vec<Vec<Point>> = Vec::new();
    for name in contenders {
        let mut points = Vec::new();
        for qp in QPS {
            let out = dir.join(format!("encode-{}-qp{qp}.264", name.replace(' ', "-")));
            let (user, wall) = if name.starts_with("transcode") {
                let md5 = dir.join("encode-transcode.md5");
                let mut cmd = Command::new(&bin);
                let rc = if name.ends_with("crf") { "--crf" } else { "--qp" };
                cmd.arg(&source).arg(&out).arg(rc).arg(qp.to_string()).arg("--recon-md5").arg(&md5);
                if let Some((_, opts)) = ours.iter().find(|o| o.0 == name) {
                    cmd.args(*opts);
                }
                let r = timed(&mut cmd)?;
                // The stream must decode to the reconstruction.
                let ff = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&out).args(["-f", "framemd5", "-"]).output()?;
                let decoded: Vec<String> = transcode_testkit::parse_framemd5(&String::from_utf8_lossy(&ff.stdout)).entries.into_iter().map(|e| e.md5).collect();
                let recon: Vec<String> = std::fs::read_to_string(&md5)?.lines().map(str::to_string).collect();
                if decoded != recon || !ff.stderr.is_empty() {
                    bail!("FFmpeg does not decode transcode's qp {qp} stream to its reconstruction");
                }
                r
            } else {
                let preset = name.split(' ').nth(1).unwrap_or("veryfast");
                timed(Command::new("x264").args(["--preset", preset, "--tune", "psnr", "--threads", "1", "--quiet", "--qp", &qp.to_string(), "-o"]).arg(&out).arg(&source))?
            };
            let bytes = std::fs::metadata(&out)?.len() as f64;
            let (psnr_avg, psnr_y) = psnr(&out, &source)?;
            let p = Point { kbps: bytes * 8.0 / secs / 1000.0, psnr_avg, psnr_y, cpu_fps: frames as f64 / user.max(1e-3), wall_fps: frames as f64 / wall.max(1e-3) };
            println!("{name:23} qp {qp}: {:8.0} kb/s  PSNR {:.3} dB (Y {:.3})  {:.1} fps CPU, {:.1} fps wall", p.kbps, p.psnr_avg, p.psnr_y, p.cpu_fps, p.wall_fps);
            points.push(p);
        }
        results.push(points);
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let commit = crate::util::output("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_default();
    let mut md = String::new();
    writeln!(md, "- Source: 1280x720, {frames} frames at 30 fps, `mandelbrot` and `testsrc2` blended, `noise=alls=4:allf=t` (`{}`)", source.strip_prefix(project_root()).unwrap_or(&source).display())?;
    writeln!(md, "- transcode: I and P pictures, one reference, Intra 16x16/4x4, P 16x16/16x8/8x16/8x8 and P_Skip, hexagon search with quarter-sample refinement, decimation, deblocking; CAVLC or CABAC (Main profile); +3B: three non-reference B pictures between anchors (fixed pattern, spatial direct B_Skip/B_Direct_16x16, B 16x16 L0/L1/Bi, QP + 2); -part: without the P 16x8/8x16/8x8 partitions; crf: `--crf N` (the QP column is the rate factor) instead of `--qp N`; every stream checked to decode (FFmpeg) to its reconstruction")?;
    writeln!(md, "- x264: `x264 --preset P --tune psnr --threads 1 --qp N` (ultrafast: CAVLC, no deblocking, no sub-sample search; veryfast: CABAC, 3 B-frames, 8x8 transform, all partitions, weighted P)\n")?;
    writeln!(md, "One thread each. fps from user CPU time (wall-clock in brackets). Machine: 2 cores shared with other jobs, load average {} at the end of the run. PSNR: FFmpeg `-lavfi psnr`, average of Y, Cb, Cr (Y alone in brackets).\n", load.join(" "))?;
    writeln!(md, "| encoder | QP | kb/s | PSNR dB | fps |")?;
    writeln!(md, "|---|---:|---:|---:|---:|")?;
    for (name, points) in contenders.iter().zip(&results) {
        for (qp, p) in QPS.iter().zip(points) {
            writeln!(md, "| {name} | {qp} | {:.0} | {:.2} ({:.2}) | {:.1} ({:.1}) |", p.kbps, p.psnr_avg, p.psnr_y, p.cpu_fps, p.wall_fps)?;
        }
    }
    writeln!(md)?;
    for t in 0..ours.len() {
        for a in ours.len()..contenders.len() {
            match bd_rate(&results[a], &results[t]) {
                Some(bd) => writeln!(md, "- BD-rate of {} against {}: {bd:+.1}% (bits for the same PSNR)", contenders[t], contenders[a])?,
                None => writeln!(md, "- BD-rate of {} against {}: curves do not overlap", contenders[t], contenders[a])?,
            }
        }
    }
    // The rate factor against the same encoder at constant QP.
    let (crf, cqp) = (ours.len() - 1, 2);
    match bd_rate(&results[cqp], &results[crf]) {
        Some(bd) => writeln!(md, "- BD-rate of {} against {}: {bd:+.1}%", contenders[crf], contenders[cqp])?,
        None => writeln!(md, "- BD-rate of {} against {}: curves do not overlap", contenders[crf], contenders[cqp])?,
    }
    writeln!(md, "\ntranscode-h264 measured at commit {}. Regenerate with `cargo xtask bench encode`.", commit.trim())?;
    crate::util::replace_section(&project_root().join("docs/benchmarks.md"), "encode", &md)?;
    println!("{md}");
    Ok(())
}
