//! `cargo xtask bench transcode [--seconds N]`: the recorder job, broadcast MPEG-2
//! 1440x1080i with AAC and H.264 1080i MBAFF with MP2 to deinterlaced 720p H.264 MP4
//! with the audio copied, run by transcode and by FFmpeg+x264 (`-vf
//! bwdif=0:-1:0,scale=-2:720 -c:v libx264 -preset veryfast -crf 23 -c:a copy`) in the
//! same run. Records fps, CPU use (cores), peak anonymous RSS, output size and PSNR of
//! both outputs against the same reference (the source deinterlaced and scaled by
//! FFmpeg), the job's stage figures, and the pipeline overhead (the job against its
//! stages run alone) in `docs/benchmarks.md`.

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
    stderr: String,
}

/// Runs `cmd`, polling its CPU time and RssAnon every 5 ms.
fn measure(cmd: &mut Command) -> Result<Sample> {
    let p = crate::util::run_polled(cmd, Duration::from_millis(5))?;
    if !p.status.success() {
        bail!("{cmd:?} failed: {}", p.stderr.trim());
    }
    Ok(Sample { wall: p.wall, cpu: p.cpu, rss_anon_kib: p.rss_anon_kib, stderr: p.stderr })
}

/// One job input: what it is, how the bench's prep step makes it with FFmpeg, and the
/// scale that gives both transcoders the same output geometry.
struct Source {
    name: &'static str,
    describe: &'static str,
    /// Frame rate as (num, den).
    rate: (u32, u32),
    /// FFmpeg's encoding options after the two lavfi inputs.
    ffmpeg: &'static [&'static str],
    size: &'static str,
    /// transcode's `--scale` (FFmpeg's `scale=-2:720` keeps the input's SAR, which
    /// transcode's `-2:720` would make square: an exact size keeps it too).
    scale: &'static str,
}

const SOURCES: &[Source] = &[
    Source {
        name: "1440x1080i",
        describe: "1440x1080i MPEG-2 at 29.97 fps (top field first, 16:9, 15 Mb/s, `testsrc2` with `noise=alls=6`) with AAC (ISDB)",
        rate: (30000, 1001),
        ffmpeg: &[
            "-c:v", "mpeg2video", "-flags", "+ildct+ilme", "-top", "1", "-aspect", "16:9", "-g", "15", "-bf", "2", "-b:v", "15M",
            "-maxrate", "18M", "-bufsize", "9M", "-c:a", "aac", "-b:a", "192k",
        ],
        size: "1440x1080",
        scale: "960:720",
    },
    Source {
        name: "h264-1080i",
        describe: "1920x1080i H.264 at 25 fps (x264 veryfast through FFmpeg's libx264, interlaced: MBAFF, top field first, 10 Mb/s, `testsrc2` with `noise=alls=6`) with MP2 (DVB)",
        rate: (25, 1),
        ffmpeg: &[
            "-c:v", "libx264", "-preset", "veryfast", "-flags", "+ildct+ilme", "-top", "1", "-g", "25", "-b:v", "10M",
            "-maxrate", "12M", "-bufsize", "6M", "-c:a", "mp2", "-b:a", "192k",
        ],
        size: "1920x1080",
        scale: "-2:720",
    },
];

/// The source `src`, `seconds` long, in a TS, natural enough for an encoder (a moving
/// pattern with noise); made once and kept under `target/bench`.
fn source(dir: &Path, src: &Source, seconds: u32) -> Result<PathBuf> {
    let path = dir.join(format!("transcode-{}-{seconds}s.ts", src.name));
    if path.exists() {
        return Ok(path);
    }
    let tmp = dir.join("transcode-source.part.ts");
    let (v, a) = (
        format!("testsrc2=size={}:rate={}/{}:duration={seconds},noise=alls=6:allf=t", src.size, src.rate.0, src.rate.1),
        format!("sine=frequency=440:sample_rate=48000:duration={seconds}"),
    );
    let mut args = vec!["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", &v, "-f", "lavfi", "-i", &a, "-ac", "2"];
    args.extend_from_slice(src.ffmpeg);
    args.extend_from_slice(&["-f", "mpegts", tmp.to_str().unwrap()]);
    crate::util::run("ffmpeg", &args)?;
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
fn psnr(out: &Path, source: &Path, rate: (u32, u32)) -> Result<f64> {
    let size = crate::util::output("ffprobe", &["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0:s=x", out.to_str().unwrap()])?;
    let size = size.split_whitespace().next().unwrap_or_default().to_string();
    let (w, h) = size.split_once('x').context("output size")?;
    let scale = format!("bwdif=0:-1:0,scale={w}:{h}:flags=lanczos+accurate_rnd+full_chroma_int");
    let fps = rate.0 as f64 / rate.1 as f64;
    let pairings = [
        format!("[0:v]setpts=PTS-STARTPTS[out];[1:v]{scale},setpts=PTS-STARTPTS[ref];[out][ref]psnr"),
        format!("[0:v]setpts=N/({fps}*TB)[out];[1:v]{scale},setpts=N/({fps}*TB)[ref];[out][ref]psnr"),
        format!("[0:v]trim=start_frame=1,setpts=N/({fps}*TB)[out];[1:v]{scale},setpts=N/({fps}*TB)[ref];[out][ref]psnr"),
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

/// One source's figures.
struct Job {
    ours: Sample,
    theirs: Sample,
    frames: u64,
    sizes: (u64, u64),
    psnr: (f64, f64),
    /// The job's `--stats` stage lines.
    stages: Vec<String>,
    alone: Alone,
}

/// The job's stages run alone on the same frames, one process each (see [`alone`]).
struct Alone {
    decode: Sample,
    filters: Sample,
    encode: Sample,
}

fn run_source(src: &Source, seconds: u32, dir: &Path, threads: usize) -> Result<Job> {
    let bin = target_dir().join("release/transcode");
    let input = source(dir, src, seconds)?;
    let in_frames = frames(&input)?;
    let ours = dir.join(format!("transcode-{}-ours.mp4", src.name));
    let theirs = dir.join(format!("transcode-{}-ffmpeg.mp4", src.name));
    let _ = std::fs::remove_file(&ours);
    let _ = std::fs::remove_file(&theirs);
    let ours_args = ["--deinterlace", "bwdif", "--scale", src.scale, "--qp", "26", "--audio-codec", "copy", "--stats"];
    println!("{}: transcode ...", src.name);
    let a = measure(Command::new(&bin).arg("convert").arg(&input).arg(&ours).args(ours_args))?;
    let stages = a.stderr.lines().filter(|l| l.trim_start().starts_with("stage ")).map(|l| l.trim().to_string()).collect();
    println!("{}: ffmpeg ...", src.name);
    let b = measure(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
            .arg(&input)
            .args(["-vf", "bwdif=0:-1:0,scale=-2:720", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-c:a", "copy"])
            .arg(&theirs),
    )?;
    let (fa, fb) = (frames(&ours)?, frames(&theirs)?);
    // FFmpeg's constant-frame-rate MP4 output may repeat the last frame.
    if fa != in_frames || fb.abs_diff(in_frames) > 1 {
        bail!("{}: frame counts: source {in_frames}, transcode {fa}, ffmpeg {fb}", src.name);
    }
    let psnr = (psnr(&ours, &input, src.rate)?, psnr(&theirs, &input, src.rate)?);
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let sizes = (size(&ours), size(&theirs));
    println!("{}: stages alone ...", src.name);
    let alone = alone(&bin, &input, src, dir, threads)?;
    Ok(Job { ours: a, theirs: b, frames: in_frames, sizes, psnr, stages, alone })
}

/// The job's three stages run alone, one process each, on the same frames: decoding
/// (`transcode convert IN - --format y4m`, output discarded), the filters (the
/// `filter_y4m` example on our decoded Y4M) and the encoder (the `h264_encode` example
/// on the filtered Y4M, with the job's settings: QP 26, CABAC, 3 B-frames, as many
/// slices and threads as the job). Each also pays for Y4M I/O the job does not have,
/// so the sum errs high and the overhead computed from it errs low.
fn alone(bin: &Path, input: &Path, src: &Source, dir: &Path, threads: usize) -> Result<Alone> {
    let examples = target_dir().join("release/examples");
    let decode = measure(Command::new(bin).arg("convert").arg(input).args(["-", "--format", "y4m"]))?;
    let decoded = dir.join("transcode-alone-decoded.y4m");
    let filtered = dir.join("transcode-alone-filtered.y4m");
    let encoded = dir.join("transcode-alone.264");
    let result = (|| -> Result<Alone> {
        crate::util::run(bin.to_str().unwrap(), &["convert", input.to_str().unwrap(), decoded.to_str().unwrap()])?;
        let filter = examples.join("filter_y4m");
        let filters = measure(Command::new(&filter).arg(src.scale).stdin(std::fs::File::open(&decoded)?))?;
        let st = Command::new(&filter)
            .arg(src.scale)
            .stdin(std::fs::File::open(&decoded)?)
            .stdout(std::fs::File::create(&filtered)?)
            .status()?;
        if !st.success() {
            bail!("filter_y4m failed ({st})");
        }
        let _ = std::fs::remove_file(&decoded);
        let n = threads.to_string();
        let encode = measure(
            Command::new(examples.join("h264_encode"))
                .arg(&filtered)
                .arg(&encoded)
                .args(["--qp", "26", "--cabac", "--bframes", "3", "--threads", &n, "--slices", &n]),
        )?;
        Ok(Alone { decode, filters, encode })
    })();
    for f in [&decoded, &filtered, &encoded] {
        let _ = std::fs::remove_file(f);
    }
    result
}

pub fn run(args: &[String]) -> Result<()> {
    let seconds: u32 = args.iter().position(|a| a == "--seconds").and_then(|i| args.get(i + 1)).and_then(|s| s.parse().ok()).unwrap_or(10);
    run_cmd_build()?;
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut jobs = Vec::new();
    for src in SOURCES {
        jobs.push(run_source(src, seconds, &dir, cores)?);
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let mut t = String::new();
    writeln!(t, "- Sources, {seconds} s each, made by the bench (`target/bench/transcode-NAME-{seconds}s.ts`):")?;
    for (src, job) in SOURCES.iter().zip(&jobs) {
        writeln!(t, "  - `{}`: {}, {} frames", src.name, src.describe, job.frames)?;
    }
    writeln!(t, "- transcode: `transcode convert IN OUT.mp4 --deinterlace bwdif --scale S --qp 26 --audio-codec copy` with S `960:720` for 1440x1080 (SAR 4:3 kept, as FFmpeg's `-2:720` does) and `-2:720` for 1920x1080 (constant QP 26 and the encoding defaults, CABAC with 3 B-frames, threads: the cores; our `--crf` scale is not calibrated to x264's, so the two are compared by size and PSNR)")?;
    writeln!(t, "- FFmpeg: `ffmpeg -i IN -vf bwdif=0:-1:0,scale=-2:720 -c:v libx264 -preset veryfast -crf 23 -c:a copy OUT.mp4`")?;
    writeln!(t, "- PSNR: average of Y, Cb, Cr against the source through FFmpeg's `bwdif=0:-1:0` and a Lanczos scale to the output size, frames paired by timestamp or by index, whichever matches best (FFmpeg's output repeats a frame)")?;
    writeln!(t)?;
    writeln!(t, "Machine: {cores} cores shared with other jobs, load average {} at the end of the run. CPU use is user + system CPU time over wall time, in cores.", load.join(" "))?;
    writeln!(t)?;
    writeln!(t, "| source | job | fps | wall s | CPU use (cores) | peak RssAnon | output | kb/s | PSNR dB |")?;
    writeln!(t, "|---|---|---:|---:|---:|---:|---:|---:|---:|")?;
    for (src, job) in SOURCES.iter().zip(&jobs) {
        let secs = job.frames as f64 * src.rate.1 as f64 / src.rate.0 as f64;
        for (name, s, bytes, p) in [("transcode", &job.ours, job.sizes.0, job.psnr.0), ("ffmpeg + x264 veryfast", &job.theirs, job.sizes.1, job.psnr.1)] {
            writeln!(
                t,
                "| {} | {name} | {:.1} | {:.2} | {:.2} | {:.1} MiB | {:.2} MiB | {:.0} | {:.2} |",
                src.name,
                job.frames as f64 / s.wall,
                s.wall,
                s.cpu / s.wall,
                s.rss_anon_kib as f64 / 1024.0,
                bytes as f64 / (1 << 20) as f64,
                bytes as f64 * 8.0 / 1000.0 / secs,
                p
            )?;
        }
    }
    writeln!(t)?;
    writeln!(t, "Pipeline overhead: the job's CPU time over the sum of its stages run alone on the same frames (decode: `transcode convert IN - --format y4m`; filters: the `filter_y4m` example on that Y4M; encoder: the `h264_encode` example on the filtered Y4M at the job's settings and {cores} threads), and the job's wall fps over the encoder's alone (its own timer, which leaves out loading the Y4M). The stages alone also read, parse and copy Y4M (about 2.3 MiB a frame at 1440x1080, 3 MiB at 1920x1080), which the job does not, so the CPU overhead errs low and can come out negative; the fps ratio is the stricter figure: in the job the encoder shares the cores with decoding and filtering.")?;
    writeln!(t)?;
    writeln!(t, "| source | decode CPU s | filters CPU s | encode CPU s (fps alone) | sum | job CPU s | overhead | job fps / encoder fps |")?;
    // The encoder's own fps (its timer runs from the first frame sent, after the
    // example has loaded its Y4M), so that loading the file does not count against it.
    let encoder_fps = |a: &Alone| a.encode.stderr.lines().rev().find_map(|l| l.split(" fps ").nth(1)?.trim().parse::<f64>().ok());
    writeln!(t, "|---|---:|---:|---:|---:|---:|---:|---:|")?;
    for (src, job) in SOURCES.iter().zip(&jobs) {
        let a = &job.alone;
        let sum = a.decode.cpu + a.filters.cpu + a.encode.cpu;
        writeln!(
            t,
            "| {} | {:.2} | {:.2} | {:.2} ({:.1}) | {:.2} | {:.2} | {:+.1}% | {:.2} |",
            src.name,
            a.decode.cpu,
            a.filters.cpu,
            a.encode.cpu,
            encoder_fps(a).unwrap_or(job.frames as f64 / a.encode.wall),
            sum,
            job.ours.cpu,
            (job.ours.cpu / sum - 1.0) * 100.0,
            job.frames as f64 / job.ours.wall / encoder_fps(a).unwrap_or(job.frames as f64 / a.encode.wall)
        )?;
    }
    writeln!(t)?;
    writeln!(t, "The job's stages (`--stats`: busy is time working, without waiting for input or for room downstream):")?;
    writeln!(t)?;
    for (src, job) in SOURCES.iter().zip(&jobs) {
        // The stages' CPU against the process's: the rest is the mux (the calling
        // thread) and the filters' row stripes on rayon's pool.
        let staged: f64 = job.stages.iter().filter_map(|l| l.split(", cpu ").nth(1)?.split(' ').next()?.parse::<f64>().ok()).sum();
        writeln!(t, "- `{}`: {}; other threads (mux, filter stripes on rayon) {:.2} s CPU", src.name, job.stages.join("; "), job.ours.cpu - staged)?;
    }
    let commit = crate::util::output("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_default();
    writeln!(t)?;
    writeln!(t, "Measured at commit {}. Regenerate with `cargo xtask bench transcode`.", commit.trim())?;
    print!("{t}");
    replace_section(&project_root().join("docs/benchmarks.md"), "transcode", &t)?;
    Ok(())
}

fn run_cmd_build() -> Result<()> {
    crate::util::run("cargo", &["build", "--release", "--quiet", "-p", "transcode-cli"])?;
    crate::util::run("cargo", &["build", "--release", "--quiet", "-p", "transcode-filters", "--example", "filter_y4m", "-p", "transcode-h264", "--example", "h264_encode"])
}
