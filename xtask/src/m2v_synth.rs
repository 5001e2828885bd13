//! `cargo xtask testdata mpeg2-synth [--check]`: writes the synthetic MPEG-2 streams of
//! `m2v_writer` to `testdata/mpeg2-synth/` and their FFmpeg frame oracles, checking that
//! FFmpeg (and libmpeg2, when installed) decode them without a complaint.
//!
//! `--check` only regenerates the streams in memory and compares them with the committed
//! bytes (no FFmpeg needed); the unit test in `m2v_writer` does the same.

use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;

use crate::m2v_writer::{streams, Image, CODED_HEIGHT, HEIGHT, WIDTH};
use crate::util::project_root;

/// The FFmpeg commands that make the two committed source frames.
const SOURCES: [(&str, &str); 2] = [
    ("testsrc2.yuv", "-f lavfi -i testsrc2=size=176x144:rate=25 -frames:v 1 -pix_fmt yuv420p -f rawvideo"),
    ("mandelbrot.yuv", "-f lavfi -i mandelbrot=size=176x144:rate=25 -frames:v 1 -pix_fmt yuv420p -f rawvideo"),
];

/// The decode that makes each `.frames` oracle (before the input and after the output name).
const FRAMES_ARGS: &str = "-v error -threads 1 -flags +bitexact -idct simple -i";
const FRAMES_TAIL: &str = "-map 0:v:0 -fps_mode passthrough -f framemd5";

/// Reads the committed source frames.
pub fn sources(dir: &Path) -> Result<(Image, Image)> {
    let load = |name: &str| -> Result<Image> {
        let data = fs::read(dir.join(name)).with_context(|| format!("cannot read {name}"))?;
        Image::from_yuv420p(&data, WIDTH, HEIGHT, CODED_HEIGHT).with_context(|| format!("{name} is shorter than one 176x144 frame"))
    };
    Ok((load(SOURCES[0].0)?, load(SOURCES[1].0)?))
}

pub fn run(args: &[String]) -> Result<()> {
    let dir = project_root().join("testdata/mpeg2-synth");
    let check = args.iter().any(|a| a == "--check");
    if check {
        let (t, m) = sources(&dir)?;
        for s in streams(&t, &m) {
            let committed = fs::read(dir.join(s.name)).with_context(|| format!("cannot read {}", s.name))?;
            if committed != s.data {
                bail!("{} differs from what the writer makes now (run cargo xtask testdata mpeg2-synth)", s.name);
            }
        }
        println!("mpeg2-synth: committed streams match the writer");
        return Ok(());
    }
    fs::create_dir_all(&dir)?;
    for (name, cmd) in SOURCES {
        let out = dir.join(name);
        let mut argv: Vec<String> = vec!["-hide_banner".into(), "-loglevel".into(), "error".into(), "-y".into()];
        argv.extend(crate::util::words(cmd));
        argv.push(out.to_str().unwrap().into());
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        crate::util::run("ffmpeg", &argv)?;
    }
    let (t, m) = sources(&dir)?;
    let mut table = String::new();
    for s in streams(&t, &m) {
        let path = dir.join(s.name);
        fs::write(&path, &s.data)?;
        let p = path.to_str().unwrap();
        let mut argv = crate::util::words(FRAMES_ARGS);
        argv.push(p.into());
        argv.extend(crate::util::words(FRAMES_TAIL));
        argv.push("-".into());
        let out = Command::new("ffmpeg").args(&argv).output().context("cannot run ffmpeg; is it installed?")?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || !stderr.trim().is_empty() {
            bail!("ffmpeg complains about {}:\n{stderr}", s.name);
        }
        let frames = String::from_utf8(out.stdout)?;
        let n = frames.lines().filter(|l| !l.starts_with('#')).count();
        if n != s.frames {
            bail!("ffmpeg decodes {} to {n} frames (expected {})", s.name, s.frames);
        }
        fs::write(format!("{p}.frames"), &frames)?;
        let libmpeg2 = libmpeg2_agreement(p, s.frames)?;
        println!("made mpeg2-synth/{} ({} bytes, {n} frames; libmpeg2: {libmpeg2})", s.name, s.data.len());
        writeln!(table, "| `{}` | {} | {} | {} | {} | {libmpeg2} |", s.name, s.frames, s.data.len(), s.source, s.about)?;
    }
    crate::util::replace_section(&dir.join("README.md"), "streams", &table)?;
    Ok(())
}

/// Decodes with libmpeg2 (`mpeg2dec -o pgmpipe`) and compares its frames with FFmpeg's
/// (`-f rawvideo`): a second, independent decoder agreeing within IDCT rounding says the
/// writer's syntax means what it is meant to. Returns a summary for the README.
fn libmpeg2_agreement(path: &str, frames: usize) -> Result<String> {
    let Ok(out) = Command::new("mpeg2dec").args(["-o", "pgmpipe", path]).output() else {
        return Ok("not installed".into());
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("mpeg2dec fails on {path}:\n{stderr}");
    }
    let ff = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-threads",
            "1",
            "-flags",
            "+bitexact",
            "-idct",
            "simple",
            "-i",
            path,
            "-map",
            "0:v:0",
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "-",
        ])
        .output()?;
    let ours = parse_pgms(&out.stdout)?;
    let frame_len = WIDTH * HEIGHT * 3 / 2;
    if ours.len() != frames || ff.stdout.len() != frames * frame_len {
        bail!("mpeg2dec gives {} frames of {path}, ffmpeg {} (expected {frames})", ours.len(), ff.stdout.len() / frame_len);
    }
    // libmpeg2's IDCT is not FFmpeg's simple IDCT, so agreement means a high PSNR, not
    // equal bytes; a frame far below that is a real disagreement, reported per frame.
    let mut worst = f64::INFINITY;
    let mut apart = Vec::new();
    for (i, yuv) in ours.iter().enumerate() {
        let theirs = &ff.stdout[i * frame_len..][..frame_len];
        let sse: f64 = yuv.iter().zip(theirs).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum();
        let psnr = if sse == 0.0 { 99.0 } else { 10.0 * (255.0f64.powi(2) * frame_len as f64 / sse).log10() };
        if psnr < 45.0 {
            apart.push(format!("{i} ({psnr:.1} dB)"));
        } else {
            worst = worst.min(psnr);
        }
    }
    Ok(match (apart.is_empty(), worst >= 99.0) {
        (true, true) => "identical".into(),
        (true, false) => format!("agrees (worst frame {worst:.1} dB)"),
        (false, _) => format!("**differs** from frame {}", apart.join(", ")),
    })
}

/// Splits libmpeg2's PGM stream (luma over the two chroma planes side by side) into
/// yuv420p frames at the display size.
fn parse_pgms(mut data: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut frames = Vec::new();
    while !data.is_empty() {
        let mut fields = Vec::new();
        let mut pos = 0;
        while fields.len() < 4 {
            while pos < data.len() && data[pos].is_ascii_whitespace() {
                pos += 1;
            }
            let start = pos;
            while pos < data.len() && !data[pos].is_ascii_whitespace() {
                pos += 1;
            }
            if start == pos {
                bail!("truncated PGM header from mpeg2dec");
            }
            fields.push(String::from_utf8_lossy(&data[start..pos]).to_string());
        }
        pos += 1;
        if fields[0] != "P5" {
            bail!("mpeg2dec wrote {:?}, expected a P5 PGM", fields[0]);
        }
        let w: usize = fields[1].parse()?;
        let h: usize = fields[2].parse()?;
        let img = data.get(pos..pos + w * h).context("truncated PGM from mpeg2dec")?;
        data = &data[pos + w * h..];
        // Luma is the top 2/3 of the picture, the chroma planes are side by side below.
        let lh = h * 2 / 3;
        let cw = w / 2;
        let mut yuv = Vec::with_capacity(WIDTH * HEIGHT * 3 / 2);
        for y in 0..HEIGHT {
            yuv.extend_from_slice(&img[y * w..][..WIDTH]);
        }
        for plane in 0..2 {
            for y in 0..HEIGHT / 2 {
                yuv.extend_from_slice(&img[(lh + y) * w + plane * cw..][..WIDTH / 2]);
            }
        }
        frames.push(yuv);
    }
    Ok(frames)
}
