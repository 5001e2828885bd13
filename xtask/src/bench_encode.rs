//! `cargo xtask bench encode [--frames N] [--size 720p|1080p|both] [--only NAME,...]`:
//! transcode's H.264 encoder presets (ultrafast, superfast, veryfast, medium, all
//! `--tune psnr`) against x264 (`--preset ultrafast`, `veryfast` and
//! `medium`, `--tune psnr --threads 1`) and rusty_h264-encoder (Fast and Balanced
//! presets) at four constant QPs on natural content at 720p and 1080p, recorded in
//! `docs/benchmarks.md`.
//!
//! The sources are photographs from Debian's `mate-backgrounds` package, panned and
//! zoomed by FFmpeg (`zoompan`, and `crop` with moving offsets on a doubled picture,
//! then a Lanczos downscale, so the motion has sub-pixel phase), four scenes of
//! equal length joined by hard cuts, with light temporal grain. They are made once
//! under `target/bench/` (`apt-get download mate-backgrounds` the first time). Every
//! stream is decoded by FFmpeg and compared with the source by `psnr` (the "average"
//! PSNR of Y, Cb and Cr weighted 4:1:1, and Y alone) and `ssim` (all planes, in dB:
//! −10·log10(1 − SSIM)); transcode's streams are also checked to decode to its
//! reconstruction. Speed is frames per second of one thread, from the process's
//! user CPU time (`/usr/bin/time`), which a shared machine disturbs less than
//! wall-clock time; wall-clock fps is given beside it. A last row per size gives
//! the wall-clock fps of x264 veryfast with all threads.
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
    /// SSIM of all planes in dB, as FFmpeg's `ssim` filter prints it in brackets.
    ssim_db: f64,
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

/// FFmpeg's `psnr` and `ssim` of `stream` against `source`: (PSNR average, PSNR Y,
/// SSIM all in dB).
fn quality(stream: &Path, source: &Path) -> Result<(f64, f64, f64)> {
    // `-r 30`: the raw H.264 demuxer would otherwise time the stream at 25 fps and
    // the filters would pair frames by time, not by number.
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-r", "30", "-i"])
        .arg(stream)
        .arg("-i")
        .arg(source)
        .args(["-lavfi", "[0:v]split[a][b];[1:v]split[c][d];[a][c]psnr;[b][d]ssim", "-f", "null", "-"])
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.contains("PSNR y:")).context("no PSNR line")?;
    let field = |line: &str, name: &str| -> Result<f64> {
        let at = line.find(name).context("quality field")? + name.len();
        Ok(line[at..].split_whitespace().next().unwrap_or("0").trim_matches(|c| c == '(' || c == ')').parse()?)
    };
    let ssim = err.lines().find(|l| l.contains("SSIM Y:")).context("no SSIM line")?;
    // "... All:0.981234 (17.263914)": the dB figure is the bracketed word after All.
    let all = &ssim[ssim.find("All:").context("SSIM All")?..];
    let db = all.split_whitespace().nth(1).context("SSIM dB")?.trim_matches(|c| c == '(' || c == ')').parse()?;
    Ok((field(line, "average:")?, field(line, "y:")?, db))
}

/// Bjøntegaard delta rate of `test` against `anchor`, in percent (negative: `test`
/// needs fewer bits for the same quality), with quality measured by `q`.
fn bd_rate(anchor: &[Point], test: &[Point], q: fn(&Point) -> f64) -> Option<f64> {
    // Cubic least-squares fit of log10(rate) as a function of quality.
    let fit = |p: &[Point]| -> Option<[f64; 4]> {
        let mut a = [[0f64; 5]; 4];
        for pt in p {
            let x = q(pt);
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
    };
    let integral = |k: &[f64; 4], lo: f64, hi: f64| {
        let f = |x: f64| k[0] * x + k[1] * x * x / 2.0 + k[2] * x.powi(3) / 3.0 + k[3] * x.powi(4) / 4.0;
        f(hi) - f(lo)
    };
    let (ka, kt) = (fit(anchor)?, fit(test)?);
    let range = |p: &[Point]| {
        let v: Vec<f64> = p.iter().map(q).collect();
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

/// How a contender is run.
#[derive(Clone, Copy)]
enum Tool {
    /// transcode's `h264_encode` example with these options.
    Ours(&'static [&'static str]),
    /// `x264 --preset P --tune psnr`.
    X264(&'static str),
    /// rusty_h264-encoder through `transcode-encode-bench`, by preset name.
    Rusty(&'static str),
}

const CONTENDERS: [(&str, Tool); 9] = [
    ("transcode ultrafast", Tool::Ours(&["--preset", "ultrafast", "--tune", "psnr"])),
    ("transcode superfast", Tool::Ours(&["--preset", "superfast", "--tune", "psnr"])),
    ("transcode veryfast", Tool::Ours(&["--preset", "veryfast", "--tune", "psnr"])),
    ("transcode medium", Tool::Ours(&["--preset", "medium", "--tune", "psnr"])),
    ("rusty_h264 Fast", Tool::Rusty("rusty-fast")),
    ("rusty_h264 Balanced", Tool::Rusty("rusty-balanced")),
    ("x264 ultrafast", Tool::X264("ultrafast")),
    ("x264 veryfast", Tool::X264("veryfast")),
    ("x264 medium", Tool::X264("medium")),
];

/// Debian's `mate-backgrounds` photographs used for the scenes, and how each is moved.
const SCENES: [&str; 4] = ["nature/LadyBird.jpg", "nature/Dune.jpg", "nature/RainDrops.jpg", "nature/Wood.jpg"];

/// Makes (once) `frames` frames of panned and zoomed photographs at `w`x`h`.
fn natural_source(dir: &Path, w: u32, h: u32, frames: usize) -> Result<std::path::PathBuf> {
    let source = dir.join(format!("encode-natural3-{w}x{h}-{frames}.y4m"));
    if source.exists() {
        return Ok(source);
    }
    let photos = dir.join("mate-backgrounds");
    let root = photos.join("usr/share/backgrounds/mate");
    if !root.join(SCENES[0]).exists() {
        std::fs::create_dir_all(&photos)?;
        println!("bench encode: fetching Debian's mate-backgrounds photographs (about 47 MB)");
        let st = Command::new("apt-get").args(["download", "mate-backgrounds"]).current_dir(&photos).status().context("run apt-get download")?;
        let deb = std::fs::read_dir(&photos)?.filter_map(|e| e.ok()).map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "deb"));
        let Some(deb) = deb.filter(|_| st.success()) else { bail!("apt-get download mate-backgrounds failed") };
        crate::util::run("dpkg", &["-x", &deb.to_string_lossy(), &photos.to_string_lossy()])?;
    }
    let per = frames.div_ceil(SCENES.len());
    let end = format!("trim=end_frame={per},setpts=PTS-STARTPTS,setsar=1,format=yuv420p");
    // Four moves, at the same speed in picture widths at every size: zoom in, pan
    // down-right, zoom out, pan down-left. The pans crop a picture of twice the
    // output size and scale it down, so each step has a sub-pixel phase. Speeds, in
    // output pixels per frame at 1920 wide: pans of 3 and 2, then 4 and 3; zooms of
    // 0.6% a frame.
    let (w2, h2) = (2 * w, 2 * h);
    let px = |v: f64| 2.0 * v * w as f64 / 1920.0;
    // Wide enough for the faster pan; the photographs are 16:10 or 4:3, so a picture
    // scaled to this width is tall enough for it too.
    let pw = w2 + (px(4.0) * per as f64).ceil() as u32 + 2;
    let graph = format!(
        "[0:v]crop=2560:1440,zoompan=z='1+0.006*on':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=1:s={w}x{h}:fps=30,{end}[a];\
         [1:v]scale={pw}:-2,crop={w2}:{h2}:x='n*{bx:.3}':y='n*{by:.3}',scale={w}:{h}:flags=lanczos,{end}[b];\
         [2:v]crop=1920:1080,scale={w2}:{h2},zoompan=z='1.5-0.006*on':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=1:s={w}x{h}:fps=30,{end}[c];\
         [3:v]scale={pw}:-2,crop={w2}:{h2}:x='{x0}-n*{dx:.3}':y='n*{dy:.3}',scale={w}:{h}:flags=lanczos,{end}[d];\
         [a][b][c][d]concat=n=4:v=1:a=0[out]",
        bx = px(3.0),
        by = px(2.0),
        dx = px(4.0),
        dy = px(3.0),
        x0 = pw - w2 - 1,
    );
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y"]);
    for scene in SCENES {
        cmd.args(["-loop", "1", "-framerate", "30", "-i"]).arg(root.join(scene));
    }
    let tmp = source.with_extension("y4m.part");
    let st = cmd.args(["-filter_complex", &graph, "-map", "[out]", "-frames:v", &frames.to_string(), "-f", "yuv4mpegpipe"]).arg(&tmp).status()?;
    if !st.success() {
        bail!("ffmpeg could not make the {w}x{h} source");
    }
    std::fs::rename(&tmp, &source)?;
    Ok(source)
}

/// Encodes `source` with `tool` at `qp` into `out`, returning (user, wall) seconds.
fn encode(tool: Tool, source: &Path, out: &Path, qp: u8, threads: Option<&str>, dir: &Path) -> Result<(f64, f64)> {
    let root = target_dir().join("release");
    match tool {
        Tool::Ours(opts) => {
            let md5 = dir.join("encode-transcode.md5");
            let mut cmd = Command::new(root.join("examples/h264_encode"));
            cmd.arg(source).arg(out).arg("--qp").arg(qp.to_string()).arg("--recon-md5").arg(&md5).args(opts);
            let r = timed(&mut cmd)?;
            // The stream must decode to the reconstruction.
            let ff = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(out).args(["-f", "framemd5", "-"]).output()?;
            let decoded: Vec<String> = transcode_testkit::parse_framemd5(&String::from_utf8_lossy(&ff.stdout)).entries.into_iter().map(|e| e.md5).collect();
            let recon: Vec<String> = std::fs::read_to_string(&md5)?.lines().map(str::to_string).collect();
            if decoded != recon || !ff.stderr.is_empty() {
                bail!("FFmpeg does not decode transcode's qp {qp} stream to its reconstruction");
            }
            Ok(r)
        }
        Tool::X264(preset) => timed(
            Command::new("x264")
                .args(["--preset", preset, "--tune", "psnr", "--threads", threads.unwrap_or("1"), "--quiet", "--qp", &qp.to_string(), "-o"])
                .arg(out)
                .arg(source),
        ),
        Tool::Rusty(which) => timed(Command::new(root.join("transcode-encode-bench")).arg(which).arg(source).arg(out).arg("--qp").arg(qp.to_string())),
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
    let frames: usize = flag("--frames").and_then(|s| s.parse().ok()).unwrap_or(300);
    let sizes: Vec<(u32, u32)> = match flag("--size").map(String::as_str).unwrap_or("both") {
        "720p" => vec![(1280, 720)],
        "1080p" => vec![(1920, 1080)],
        "both" => vec![(1280, 720), (1920, 1080)],
        other => bail!("--size {other:?}: expected 720p, 1080p or both"),
    };
    let only: Option<Vec<&str>> = flag("--only").map(|s| s.split(',').collect());
    let contenders: Vec<(&str, Tool)> =
        CONTENDERS.iter().copied().filter(|(n, _)| match &only { None => true, Some(o) => o.iter().any(|w| n.contains(w)) }).collect();
    // Two builds: with `--example`, cargo builds only that example, not the other
    // package's binary (a fresh checkout would have no rusty_h264 contender).
    crate::util::run("cargo", &["build", "--release", "--quiet", "-p", "transcode-h264", "--example", "h264_encode"])?;
    crate::util::run("cargo", &["build", "--release", "--quiet", "-p", "transcode-encode-bench"])?;
    let dir = project_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let secs = frames as f64 / 30.0;
    let mut md = String::new();
    writeln!(md, "- Sources: Debian `mate-backgrounds` photographs ({}), one scene each, zoomed in, panned, zoomed out and panned, joined by cuts; pans of 2–4 pixels (at 1920 wide) and zooms of 0.6% a frame; {frames} frames at 30 fps; made by `cargo xtask bench encode` under `target/bench/`", SCENES.join(", "))?;
    writeln!(md, "- transcode: `h264_encode --preset P --tune psnr --qp N` (the presets of `transcode_h264::encoder::EncoderPreset`: ultrafast is CAVLC, Main, no B, diamond search with quarter samples, 16x16 and Intra 4x4/16x16; superfast CABAC, High with the 8x8 transform, 3 non-reference B pictures, the same search; veryfast adds the hexagon search, quarter samples and P partitions with an early exit; medium UMH, repeated quarter-sample squares and every partition); one reference; every stream checked to decode (FFmpeg) to its reconstruction")?;
    writeln!(md, "- rusty_h264-encoder 0.17 (`default-features = false`, `std` and `asm`): `Preset::Fast` / `Preset::Balanced`, constant QP, GOP 250, through `crates/encode-bench`")?;
    writeln!(md, "- x264: `x264 --preset P --tune psnr --threads 1 --qp N`\n")?;
    for (w, h) in sizes {
        let source = natural_source(&dir, w, h, frames)?;
        let mut results: Vec<Vec<Point>> = Vec::new();
        for &(name, tool) in &contenders {
            let mut points = Vec::new();
            for qp in QPS {
                let out = dir.join(format!("encode-{h}p-{}-qp{qp}.264", name.replace(' ', "-")));
                let (user, wall) = encode(tool, &source, &out, qp, None, &dir)?;
                let bytes = std::fs::metadata(&out)?.len() as f64;
                let (psnr_avg, psnr_y, ssim_db) = quality(&out, &source)?;
                let p = Point { kbps: bytes * 8.0 / secs / 1000.0, psnr_avg, psnr_y, ssim_db, cpu_fps: frames as f64 / user.max(1e-3), wall_fps: frames as f64 / wall.max(1e-3) };
                println!("{h}p {name:20} qp {qp}: {:8.0} kb/s  PSNR {:.3} dB (Y {:.3})  SSIM {:.3} dB  {:.1} fps CPU, {:.1} fps wall", p.kbps, p.psnr_avg, p.psnr_y, p.ssim_db, p.cpu_fps, p.wall_fps);
                points.push(p);
            }
            results.push(points);
        }
        // All threads, at the ladder's second QP.
        let out = dir.join(format!("encode-{h}p-x264-veryfast-threads.264"));
        let threads = if contenders.iter().any(|c| c.0 == "x264 veryfast") { Some(encode(Tool::X264("veryfast"), &source, &out, QPS[1], Some("auto"), &dir)?.1) } else { None };
        // Ours on both cores: two slices on two slice threads.
        let out = dir.join(format!("encode-{h}p-transcode-veryfast-threads.264"));
        let ours_threads = if contenders.iter().any(|c| c.0 == "transcode veryfast") {
            let tool = Tool::Ours(&["--preset", "veryfast", "--tune", "psnr", "--slices", "2", "--threads", "2"]);
            Some(encode(tool, &source, &out, QPS[1], None, &dir)?.1)
        } else {
            None
        };
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        writeln!(md, "**{w}x{h}**, one thread each; fps from user CPU time (wall-clock in brackets); load average {} at the end. PSNR: average of Y, Cb, Cr (Y alone in brackets). SSIM: all planes, dB.\n", load.join(" "))?;
        writeln!(md, "| encoder | QP | kb/s | PSNR dB | SSIM dB | fps |")?;
        writeln!(md, "|---|---:|---:|---:|---:|---:|")?;
        for ((name, _), points) in contenders.iter().zip(&results) {
            for (qp, p) in QPS.iter().zip(points) {
                writeln!(md, "| {name} | {qp} | {:.0} | {:.2} ({:.2}) | {:.2} | {:.1} ({:.1}) |", p.kbps, p.psnr_avg, p.psnr_y, p.ssim_db, p.cpu_fps, p.wall_fps)?;
            }
        }
        if let Some(wall) = threads {
            writeln!(md, "| x264 veryfast, `--threads auto` | {} | | | | ({:.1}) |", QPS[1], frames as f64 / wall.max(1e-3))?;
        }
        if let Some(wall) = ours_threads {
            writeln!(md, "| transcode veryfast, `--slices 2 --threads 2` | {} | | | | ({:.1}) |", QPS[1], frames as f64 / wall.max(1e-3))?;
        }
        writeln!(md)?;
        writeln!(md, "| BD-rate (PSNR / SSIM) | {} |", contenders.iter().filter(|c| matches!(c.1, Tool::X264(_))).map(|c| format!("vs {}", c.0)).collect::<Vec<_>>().join(" | "))?;
        writeln!(md, "|---|{}", "---:|".repeat(contenders.iter().filter(|c| matches!(c.1, Tool::X264(_))).count()))?;
        for (t, (name, tool)) in contenders.iter().enumerate() {
            if matches!(tool, Tool::X264(_)) {
                continue;
            }
            let mut row = format!("| {name} |");
            for (a, _) in contenders.iter().enumerate().filter(|(_, c)| matches!(c.1, Tool::X264(_))) {
                let f = |v: Option<f64>| v.map_or("no overlap".to_string(), |v| format!("{v:+.1}%"));
                write!(row, " {} / {} |", f(bd_rate(&results[a], &results[t], |p| p.psnr_avg)), f(bd_rate(&results[a], &results[t], |p| p.ssim_db)))?;
            }
            writeln!(md, "{row}")?;
        }
        writeln!(md)?;
    }
    let commit = crate::util::output("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_default();
    writeln!(md, "transcode-h264 measured at commit {}. Regenerate with `cargo xtask bench encode`.", commit.trim())?;
    if only.is_none() {
        crate::util::replace_section(&project_root().join("docs/benchmarks.md"), "encode", &md)?;
    }
    println!("{md}");
    Ok(())
}
