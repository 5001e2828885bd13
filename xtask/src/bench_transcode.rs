//! `cargo xtask bench transcode [--seconds N]`: the recorder job, broadcast MPEG-2
//! 1440x1080i with AAC to deinterlaced 720p H.264 MP4 with the audio copied, run by
//! transcode and by FFmpeg+x264 (`-vf bwdif=0:-1:0,scale=-2:720 -c:v libx264 -preset
//! veryfast -crf 23 -c:a copy`) in the same run. Records fps, CPU use (cores), peak
//! anonymous RSS, output size and PSNR of both outputs against the same reference (the
//! source deinterlaced and scaled by FFmpeg) in `docs/benchmarks.md`.

use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::{project_root, replace_section, target_dir};

struct Sample {
    wall: f64,
    cpu: f64,
    rss_anon_kib: u64,
}

/// Runs `cmd`, polling its CPU time and RssAnon every 5 ms.
fn measure(cmd: &mut Command) -> Result<Sample> {
    let p = crate::util::run_polled(cmd, Duration::from_millis(5))?;
    if !p.status.success() {
        bail!("{cmd:?} failed: {}", p.stderr.trim());
    }
    Ok(Sample { wall: p.wall, cpu: p.cpu, rss_anon_kib: p.rss_anon_kib })
}

/// The source: `seconds` of 1440x1080i MPEG-2 (top field first, 16:9, about 15 Mb/s)
/// with AAC in a TS, natural enough for an encoder (a moving pattern with noise).
fn source(dir: &Path, seconds: u32) -> Result<PathBuf> {
    let path = dir.join(format!("transcode-1440x1080i-{seconds}s.ts"));
    if path.exists() {
        return Ok(path);
    }
    let tmp = dir.join("transcode-source.part.ts");
    let (v, a) = (
        format!("testsrc2=size=1440x1080:rate=30000/1001:duration={seconds},noise=alls=6:allf=t"),
        format!("sine=frequency=440:sample_rate=48000:duration={seconds}"),
    );
    crate::util::run(
        "ffmpeg",
        &[
            "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", &v, "-f", "lavfi", "-i", &a, "-ac", "2",
            "-c:v", "mpeg2video", "-flags", "+ildct+ilme", "-top", "1", "-aspect", "16:9", "-g", "15", "-bf", "2",
            "-b:v", "15M", "-maxrate", "18M", "-bufsize", "9M", "-c:a", "aac", "-b:a", "192k", "-f", "mpegts",
            tmp.to_str().unwrap(),
        ],
    )?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

fn frames(file: &Path) -> Result<u64> {
    let t = crate::util::output("ffprobe", &["-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", file.to_str().unwrap()])?;
    let n = t.split(|c: char| !c.is_ascii_digit()).find(|w| !w.is_empty()).unwrap_or_default();
    n.parse().with_context(|| format!("packet count of {}: {t:?}", file.display()))
}

/// PSNR (average of Y, Cb, Cr) of `out` against the source deinterlaced by FFmpeg's
/// bwdif and scaled to the output's size with Lanczos, with frames paired by timestamp
/// (both from 0) or by index (from the output's first or second frame: FFmpeg's
/// constant-rate MP4 output repeats a frame), whichever pairing matches best: the
/// figure is the output's quality, not its timing (which the crosscheck checks).
fn psnr(out: &Path, source: &Path) -> Result<f64> {
    let size = crate::util::output("ffprobe", &["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0:s=x", out.to_str().unwrap()])?;
    let size = size.split_whitespace().next().unwrap_or_default().to_string();
    let (w, h) = size.split_once('x').context("output size")?;
    let scale = format!("bwdif=0:-1:0,scale={w}:{h}:flags=lanczos+accurate_rnd+full_chroma_int");
    let pairings = [
        format!("[0:v]setpts=PTS-STARTPTS[out];[1:v]{scale},setpts=PTS-STARTPTS[ref];[out][ref]psnr"),
        format!("[0:v]setpts=N/(30*TB)[out];[1:v]{scale},setpts=N/(30*TB)[ref];[out][ref]psnr"),
        format!("[0:v]trim=start_frame=1,setpts=N/(30*TB)[out];[1:v]{scale},setpts=N/(30*TB)[ref];[out][ref]psnr"),
    ];
    let mut best: Option<f64> = None;
    for graph in &pairings {
        let o = Command::new("ffmpeg")
            .args(["-hide_banner", "-nostats", "-i"])
            .arg(out)
            .arg("-i")
            .arg(source)
            .args(["-lavfi", graph, "-f", "null", "-"])
            .output()?;
        let err = String::from_utf8_lossy(&o.stderr);
        let avg = err
            .lines()
            .find_map(|l| l.split(" average:").nth(1))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .with_context(|| format!("no PSNR in ffmpeg's output: {}", err.lines().last().unwrap_or_default()))?;
        best = Some(best.map_or(avg, |b| b.max(avg)));
    }
    best.context("no pairing measured")
}

pub fn run(args: &[String]) -> Result<()> {
    let seconds: u32 = args.iter().position(|a| a == "--seconds").and_then(|i| args.get(i + 1)).and_then(|s| s.parse().ok()).unwrap_or(10);
    run_cmd_build()?;
    let bin = target_dir().join("release/transcode");
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir)?;
    let src = source(&dir, seconds)?;
    let in_frames = frames(&src)?;
    let ours = dir.join("transcode-ours.mp4");
    let theirs = dir.join("transcode-ffmpeg.mp4");
    let _ = std::fs::remove_file(&ours);
    let _ = std::fs::remove_file(&theirs);
    // The same geometry for both: FFmpeg's scale=-2:720 keeps the 4:3 SAR (960x720),
    // which transcode's --scale 960:720 does too.
    let ours_args = ["--deinterlace", "bwdif", "--scale", "960:720", "--qp", "26", "--audio-codec", "copy"];
    println!("transcode ...");
    let a = measure(Command::new(&bin).arg("convert").arg(&src).arg(&ours).args(ours_args))?;
    println!("ffmpeg ...");
    let b = measure(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
            .arg(&src)
            .args(["-vf", "bwdif=0:-1:0,scale=-2:720", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-c:a", "copy"])
            .arg(&theirs),
    )?;
    let (fa, fb) = (frames(&ours)?, frames(&theirs)?);
    // FFmpeg's constant-frame-rate MP4 output may repeat the last frame.
    if fa != in_frames || fb.abs_diff(in_frames) > 1 {
        bail!("frame counts: source {in_frames}, transcode {fa}, ffmpeg {fb}");
    }
    let (pa, pb) = (psnr(&ours, &src)?, psnr(&theirs, &src)?);
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let (sa, sb) = (size(&ours), size(&theirs));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut t = String::new();
    writeln!(t, "- Source: {seconds} s of 1440x1080i MPEG-2 at 29.97 fps (top field first, 16:9, 15 Mb/s, `testsrc2` with `noise=alls=6`) with AAC, {in_frames} frames, `{}`", src.strip_prefix(project_root()).unwrap_or(&src).display())?;
    writeln!(t, "- transcode: `transcode convert IN OUT.mp4 {}` (constant QP 26 and the encoding defaults, CABAC with 3 B-frames; our `--crf` scale is not calibrated to x264's, so the two are compared by size and PSNR)", ours_args.join(" "))?;
    writeln!(t, "- FFmpeg: `ffmpeg -i IN -vf bwdif=0:-1:0,scale=-2:720 -c:v libx264 -preset veryfast -crf 23 -c:a copy OUT.mp4` (960x720 at SAR 4:3, as transcode's)")?;
    writeln!(t, "- PSNR: average of Y, Cb, Cr against the source through FFmpeg's `bwdif=0:-1:0` and a Lanczos scale to the output size, frames paired by timestamp or by index, whichever matches best (FFmpeg's output repeats a frame)")?;
    writeln!(t)?;
    writeln!(t, "Machine: {cores} cores shared with other jobs, load average {} at the end of the run. CPU use is user + system CPU time over wall time, in cores.", load.join(" "))?;
    writeln!(t)?;
    writeln!(t, "| job | fps | wall s | CPU use (cores) | peak RssAnon | output | kb/s | PSNR dB |")?;
    writeln!(t, "|---|---:|---:|---:|---:|---:|---:|---:|")?;
    for (name, s, bytes, p) in [("transcode", &a, sa, pa), ("ffmpeg + x264 veryfast", &b, sb, pb)] {
        writeln!(
            t,
            "| {name} | {:.1} | {:.2} | {:.2} | {:.1} MiB | {:.2} MiB | {:.0} | {:.2} |",
            in_frames as f64 / s.wall,
            s.wall,
            s.cpu / s.wall,
            s.rss_anon_kib as f64 / 1024.0,
            bytes as f64 / (1 << 20) as f64,
            bytes as f64 * 8.0 / 1000.0 / (in_frames as f64 * 1001.0 / 30000.0),
            p
        )?;
    }
    let commit = crate::util::output("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_default();
    writeln!(t)?;
    writeln!(t, "Measured at commit {}. Regenerate with `cargo xtask bench transcode`.", commit.trim())?;
    print!("{t}");
    replace_section(&project_root().join("docs/benchmarks.md"), "transcode", &t)?;
    Ok(())
}

fn run_cmd_build() -> Result<()> {
    crate::util::run("cargo", &["build", "--release", "--quiet", "-p", "transcode-cli"])
}
