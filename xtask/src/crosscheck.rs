//! `cargo xtask crosscheck`: converts every fixture to every container that can hold its
//! streams with the release `transcode` binary, then asks FFmpeg whether the output is
//! right: it must decode without errors to the same video frames (MD5 per frame) as the
//! input, the audio packets must keep their payloads and timestamp spacing, and a video
//! stream's colour description (range, matrix, transfer, primaries, as ffprobe reads
//! them), field order and sample aspect ratio must be what ffprobe reads from the input:
//! a full-range stream comes back as `yuvj420p`/`pc` from MP4, TS and Annex-B, and as
//! `pc` from Y4M (`XCOLORRANGE=FULL`); an interlaced MPEG-2 stream decoded to Y4M comes
//! back `tt` or `bb` with its SAR (`It`/`Ib`, `A`).
//!
//! `cargo xtask crosscheck transcode` checks the transcode job instead (see
//! `crosscheck_transcode.rs`).

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

use crate::util::output;

#[path = "crosscheck_transcode.rs"]
mod transcode;
use transcode_testkit::{fixtures, parse_framemd5, read_framemd5, testdata, Oracle};

/// Output extensions to try for a fixture.
fn targets(fixture: &str) -> &'static [&'static str] {
    // H.264 and MPEG-1/2 video sources are also decoded to Y4M by transcode's own
    // decoders.
    let decodable = fixture.contains("h264") || fixture.contains("mpeg2") || fixture.contains("mpeg1");
    match fixture.rsplit('.').next().unwrap_or_default() {
        "ts" | "m2ts" | "mp4" if decodable => &["mp4", "ts", "m2ts", "y4m"],
        "ts" | "m2ts" | "mp4" => &["mp4", "ts", "m2ts"],
        "h264" => &["mp4", "ts", "h264", "y4m"],
        "h265" => &["mp4", "ts", "h265"],
        "aac" => &["mp4", "ts", "aac"],
        "mp2" => &["ts", "mp2"],
        "vob" | "mpg" => &["mp4", "ts", "m2ts", "y4m"],
        "y4m" => &["y4m"],
        _ => &[],
    }
}

pub fn run(args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) == Some("transcode") {
        return transcode::run(&args[1..]);
    }
    // `cargo xtask crosscheck ps/` checks only the fixtures under that prefix.
    let only = args.first().map(String::as_str).unwrap_or("");
    crate::util::run("cargo", &["build", "--release", "--quiet", "-p", "transcode-cli"])?;
    let bin = crate::util::target_dir().join("release/transcode");
    let tmp = std::env::temp_dir().join(format!("transcode-crosscheck-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let mut failures = Vec::new();
    let mut checks = 0;
    for fx in fixtures().into_iter().filter(|f| f.starts_with(only)) {
        let input = testdata(&fx);
        for ext in targets(&fx) {
            let out = tmp.join(format!("{}.{ext}", fx.replace('/', "_")));
            checks += 1;
            match check_one(&bin, &input, &out, &fx, ext) {
                Ok(()) => println!("ok    {fx} -> {ext}"),
                Err(e) => {
                    println!("FAIL  {fx} -> {ext}: {e:#}");
                    failures.push(format!("{fx} -> {ext}"));
                }
            }
            let _ = std::fs::remove_file(&out);
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    println!("crosscheck: {} passed, {} failed", checks - failures.len(), failures.len());
    if !failures.is_empty() {
        bail!("crosscheck failed for: {}", failures.join(", "));
    }
    Ok(())
}

fn check_one(bin: &Path, input: &Path, out: &Path, fx: &str, ext: &str) -> Result<()> {
    let st = Command::new(bin).arg("convert").arg(input).arg(out).output().context("run transcode")?;
    if !st.status.success() {
        bail!("transcode failed: {}", String::from_utf8_lossy(&st.stderr).trim());
    }
    let o = out.to_str().unwrap();
    // 1. FFmpeg decodes every stream without an error message.
    let dec = Command::new("ffmpeg").args(["-hide_banner", "-v", "error", "-threads", "1", "-i", o, "-f", "null", "-"]).output()?;
    let errs = String::from_utf8_lossy(&dec.stderr);
    if !dec.status.success() || !errs.trim().is_empty() {
        bail!("ffmpeg reports errors decoding the output: {}", errs.trim());
    }
    // 2. The same video frames as the input, in the pixel format of its oracle (a
    //    full-range stream's samples are not converted).
    let frames_oracle = testdata(&format!("{fx}.frames"));
    let probe = std::fs::read_to_string(testdata(&format!("{fx}.ffprobe.json"))).unwrap_or_default();
    if frames_oracle.exists() {
        let want = read_framemd5(&frames_oracle);
        let pix_fmt = crate::testdata::frames_pix_fmt(&probe);
        let got = parse_framemd5(&output(
            "ffmpeg",
            &["-hide_banner", "-loglevel", "error", "-threads", "1", "-i", o, "-map", "0:v:0", "-flags", "unaligned", "-pix_fmt", pix_fmt, "-f", "framemd5", "-"],
        )?);
        compare_hashes("video frame", &want, 0, &got, 0)?;
        compare_colour(&probe, o, ext)?;
    }
    // 3. Audio packets: same payloads as FFmpeg's own remux to this container family, and
    //    the same spacing of timestamps as the input's own packets.
    let family = match ext {
        "mp4" => "mp4",
        "y4m" => return Ok(()),
        _ => "ts",
    };
    let remux_oracle = testdata(&format!("{fx}.to-{family}.packets"));
    if remux_oracle.exists() {
        let want = read_framemd5(&remux_oracle);
        let got = parse_framemd5(&output("ffmpeg", &["-hide_banner", "-loglevel", "error", "-copyts", "-i", o, "-map", "0", "-c", "copy", "-f", "framemd5", "-"])?);
        for (ws, codec) in want.codecs.iter().enumerate() {
            if !matches!(codec.as_str(), "aac" | "mp2" | "mp3") {
                continue;
            }
            let Some(gs) = got.codecs.iter().position(|c| c == codec) else { bail!("the output has no {codec} stream") };
            compare_hashes("audio packet", &want, ws, &got, gs)?;
            let input = read_framemd5(&testdata(&format!("{fx}.packets")));
            // FFmpeg may name MPEG audio differently after a remux (mp2 read back as mp3).
            let is = input.codecs.iter().position(|c| matches!(c.as_str(), "aac" | "mp2" | "mp3")).context("input oracle lacks the audio stream")?;
            compare_spacing(&input, is, &got, gs)?;
        }
    }
    Ok(())
}

/// The first video stream of ffprobe's JSON output.
fn first_video(json: &str) -> Option<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v["streams"].as_array()?.iter().find(|s| s["codec_type"] == "video").cloned()
}

/// The colour description ffprobe reads from the output is the input's. Y4M carries
/// only the range (`XCOLORRANGE`), and FFmpeg reads it as `yuv420p` with that range.
fn compare_colour(input_probe: &str, out: &str, ext: &str) -> Result<()> {
    let Some(want) = first_video(input_probe) else { return Ok(()) };
    if !matches!(want["codec_name"].as_str(), Some("h264" | "hevc" | "mpeg2video" | "mpeg1video")) {
        return Ok(());
    }
    let got = first_video(&output("ffprobe", &["-v", "error", "-show_streams", "-of", "json", out])?).context("no video stream in the output")?;
    // Y4M carries the range, the field order and the sample aspect ratio; a remux keeps
    // the whole description in the bitstream.
    let keys: &[&str] = if ext == "y4m" {
        &["color_range", "field_order", "sample_aspect_ratio"]
    } else {
        &["pix_fmt", "color_range", "color_space", "color_transfer", "color_primaries", "field_order", "sample_aspect_ratio"]
    };
    for key in keys {
        // Y4M always has an `I` tag while MPEG-1 says nothing, and FFmpeg reads no field
        // order from MP4 (no `fiel` box), not even from its own remux: compare the field
        // order where both sides can state it.
        if *key == "field_order" && (want.get(*key).is_none() || ext == "mp4") {
            continue;
        }
        if got.get(*key) != want.get(*key) {
            bail!("{key} is {} in the output, {} in the input", got.get(*key).unwrap_or(&serde_json::Value::Null), want.get(*key).unwrap_or(&serde_json::Value::Null));
        }
    }
    Ok(())
}

fn compare_hashes(what: &str, want: &Oracle, ws: usize, got: &Oracle, gs: usize) -> Result<()> {
    let w: Vec<&str> = want.stream(ws).iter().map(|e| e.md5.as_str()).collect();
    let g: Vec<&str> = got.stream(gs).iter().map(|e| e.md5.as_str()).collect();
    if w.len() != g.len() {
        bail!("{} {what}s expected, {} found", w.len(), g.len());
    }
    if let Some(i) = w.iter().zip(&g).position(|(a, b)| a != b) {
        bail!("{what} {i} differs: expected {}, found {}", w[i], g[i]);
    }
    Ok(())
}

/// Timestamps relative to the stream's first, in seconds, must match to within one tick
/// of the coarser time base.
fn compare_spacing(want: &Oracle, ws: usize, got: &Oracle, gs: usize) -> Result<()> {
    let rel = |o: &Oracle, s: usize| -> Vec<f64> {
        let (n, d) = o.time_bases[s];
        let entries = o.stream(s);
        let first = entries.first().and_then(|e| e.pts).unwrap_or(0);
        entries.iter().map(|e| (e.pts.unwrap_or(0) - first) as f64 * n as f64 / d as f64).collect()
    };
    let (w, g) = (rel(want, ws), rel(got, gs));
    let tick = [want.time_bases[ws], got.time_bases[gs]].iter().map(|(n, d)| *n as f64 / *d as f64).fold(0.0, f64::max);
    if let Some(i) = w.iter().zip(&g).position(|(a, b)| (a - b).abs() > tick * 1.01) {
        bail!("audio packet {i} is at {:.6} s relative to the first, expected {:.6} s", g[i], w[i]);
    }
    Ok(())
}
