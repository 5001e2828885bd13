//! `cargo xtask crosscheck transcode`: runs the transcode job (deinterlace, scale,
//! H.264 encode, audio copied) on the broadcast-style fixtures with the release binary
//! and has FFmpeg check each output: it decodes without an error message, has as many
//! video frames as the deinterlace mode gives (one per frame or one per field), lasts
//! as long as the input within one frame, keeps the input's A/V offset within one
//! frame, and its audio packets carry the input's payloads (compared with FFmpeg's own
//! `-c copy` remux of the input into the same container). An input with A/53 closed
//! captions must give FFmpeg the same caption bytes in the output, frame by frame in
//! display order (lavfi's `subcc`, which reads the H.264 caption SEI).

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

use crate::util::output;
use transcode_testkit::{parse_framemd5, testdata};

/// (fixture, extra options, output extension, output frames per input frame).
const CASES: &[(&str, &[&str], &str, u64)] = &[
    ("ts/mpeg2_1440x1080i_aac.ts", &["--deinterlace", "bwdif", "--scale", "-2:720"], "mp4", 1),
    ("ts/mpeg2_1440x1080i_aac.ts", &["--deinterlace", "bwdif:field", "--scale", "-2:720"], "mp4", 2),
    ("ts/mpeg2_1440x1080i_aac.ts", &["--deinterlace", "yadif", "--scale", "-2:720"], "ts", 1),
    ("ts/mpeg2_576i_mp2.ts", &["--deinterlace", "bwdif", "--scale", "-2:288"], "mp4", 1),
    ("ts/mpeg2_576i_mp2.ts", &["--deinterlace", "bwdif:field"], "mp4", 2),
    ("ts/h264_aac.ts", &["--scale", "-2:144", "--cabac"], "mp4", 1),
    ("ts/h264_aac.ts", &["--fragmented", "--qp", "30"], "mp4", 1),
    ("transcode/discontinuity.ts", &["--deinterlace", "bwdif", "--scale", "-2:288"], "mp4", 1),
    // H.264 1080i MBAFF with MP2, as DVB broadcasts it.
    ("transcode/h264_1080i_mbaff_mp2.ts", &["--deinterlace", "bwdif", "--scale", "-2:720"], "mp4", 1),
    ("transcode/h264_1080i_mbaff_mp2.ts", &["--deinterlace", "bwdif:field", "--scale", "-2:576"], "ts", 2),
    // A/53 captions from MPEG-2 user data into caption SEI, through B-picture
    // reordering, at frame and at field rate.
    ("transcode/captions.m2v", &["--deinterlace", "bwdif", "--scale", "-2:144"], "mp4", 1),
    ("transcode/captions.m2v", &["--deinterlace", "bwdif:field", "--scale", "-2:144"], "ts", 2),
];

pub fn run(_args: &[String]) -> Result<()> {
    crate::util::run("cargo", &["build", "--release", "--quiet", "-p", "transcode-cli"])?;
    let bin = crate::util::target_dir().join("release/transcode");
    let tmp = std::env::temp_dir().join(format!("transcode-crosscheck-job-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let mut failures = Vec::new();
    for (k, (fx, opts, ext, per_frame)) in CASES.iter().enumerate() {
        let out = tmp.join(format!("{k}.{ext}"));
        let what = format!("{fx} {} -> {ext}", opts.join(" "));
        match check(&bin, &testdata(fx), &out, opts, *per_frame, &tmp) {
            Ok(summary) => println!("ok    {what}: {summary}"),
            Err(e) => {
                println!("FAIL  {what}: {e:#}");
                failures.push(what);
            }
        }
        let _ = std::fs::remove_file(&out);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    println!("crosscheck transcode: {} passed, {} failed", CASES.len() - failures.len(), failures.len());
    if !failures.is_empty() {
        bail!("crosscheck transcode failed for: {}", failures.join("; "));
    }
    Ok(())
}

/// What ffprobe says of one stream.
#[derive(Debug, Default, Clone, Copy)]
struct Stream {
    start: f64,
    end: f64,
    frames: u64,
}

/// The first video and first audio stream: start (first pts), end (last pts plus
/// duration) and packet count, from every packet as ffprobe reads it.
fn streams(file: &str) -> Result<(Stream, Option<Stream>)> {
    let text = output("ffprobe", &["-v", "error", "-show_entries", "packet=stream_index,codec_type,pts_time,duration_time", "-of", "csv=p=0", file])?;
    let (mut v, mut a) = (None::<Stream>, None::<Stream>);
    let (mut video_index, mut audio_index) = (None, None);
    for line in text.lines() {
        // ffprobe prints the fields in its own order: codec_type, stream_index, pts, duration.
        let f: Vec<&str> = line.split(',').collect();
        let (Some(kind), Some(index), Some(pts)) = (f.first(), f.get(1), f.get(2).and_then(|p| p.parse::<f64>().ok())) else { continue };
        let dur = f.get(3).and_then(|d| d.parse::<f64>().ok());
        let slot = match *kind {
            "video" if *video_index.get_or_insert(*index) == *index => &mut v,
            "audio" if *audio_index.get_or_insert(*index) == *index => &mut a,
            _ => continue,
        };
        let s = slot.get_or_insert(Stream { start: pts, end: pts, frames: 0 });
        s.start = s.start.min(pts);
        s.end = s.end.max(pts + dur.unwrap_or(0.0));
        s.frames += 1;
    }
    Ok((v.context("no video stream")?, a))
}

/// Audio payload MD5s of `file`'s first audio stream.
fn audio_md5s(file: &str) -> Result<Vec<String>> {
    let o = parse_framemd5(&output("ffmpeg", &["-hide_banner", "-loglevel", "error", "-i", file, "-map", "0:a:0", "-c", "copy", "-f", "framemd5", "-"])?);
    Ok(o.entries.into_iter().map(|e| e.md5).collect())
}

/// The closed-caption bytes FFmpeg finds on `file`'s video frames in display order
/// (A/53 user data in MPEG-2, caption SEI in H.264): lavfi's `movie` source exports
/// them as a subtitle stream; empty when there are none.
fn captions(file: &str) -> Result<Vec<u8>> {
    let graph = format!("movie={}[out0+subcc]", file.replace('\\', "\\\\").replace(':', "\\:"));
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-f", "lavfi", "-i", &graph, "-map", "0:1?", "-c", "copy", "-f", "data", "-"])
        .output()
        .context("run ffmpeg for captions")?;
    if !out.status.success() {
        bail!("ffmpeg reading the captions of {file}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(out.stdout)
}

fn check(bin: &Path, input: &Path, out: &Path, opts: &[&str], per_frame: u64, tmp: &Path) -> Result<String> {
    let st = Command::new(bin).arg("convert").arg(input).arg(out).args(opts).output().context("run transcode")?;
    if !st.status.success() {
        bail!("transcode failed: {}", String::from_utf8_lossy(&st.stderr).trim());
    }
    let (i, o) = (input.to_str().unwrap(), out.to_str().unwrap());
    let dec = Command::new("ffmpeg").args(["-hide_banner", "-v", "error", "-i", o, "-f", "null", "-"]).output()?;
    let errs = String::from_utf8_lossy(&dec.stderr);
    if !dec.status.success() || !errs.trim().is_empty() {
        bail!("ffmpeg reports errors decoding the output: {}", errs.trim());
    }
    // Frames as FFmpeg decodes them, input and output.
    let count = |f: &str| -> Result<u64> {
        let t = output("ffprobe", &["-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", f])?;
        // A TS prints its program's streams and then the streams again: the first
        // number is the count.
        let n = t.split(|c: char| !c.is_ascii_digit()).find(|w| !w.is_empty()).unwrap_or_default();
        n.parse().with_context(|| format!("frame count of {f}: {t:?}"))
    };
    let (fin, fout) = (count(i)?, count(o)?);
    if fout != fin * per_frame {
        bail!("{fout} video frames (expected {} = {fin} x {per_frame})", fin * per_frame);
    }
    let (vin, ain) = streams(i)?;
    let (vout, aout) = streams(o)?;
    let rate = output("ffprobe", &["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=r_frame_rate", "-of", "csv=p=0", i])?;
    let rate = rate.split_whitespace().next().unwrap_or_default().trim_end_matches(',');
    let frame = match rate.split_once('/').map(|(n, d)| (n.parse::<f64>(), d.parse::<f64>())) {
        Some((Ok(n), Ok(d))) if n > 0.0 => d / n,
        _ => bail!("input frame rate {rate:?} (expected num/den)"),
    };
    let discontinuous = input.to_string_lossy().contains("discontinuity");
    // A joined recording's input timeline jumps; its length is what its frames last.
    // So is an elementary stream's, whose B pictures have no timestamp to read.
    let elementary = input.extension().is_some_and(|e| e == "m2v");
    let in_len = if discontinuous {
        frame * vin.frames as f64
    } else if elementary {
        frame * fin as f64
    } else {
        vin.end - vin.start
    };
    let out_len = vout.end - vout.start;
    if (out_len - in_len).abs() > frame + 1e-6 {
        bail!("video lasts {out_len:.3} s (input {in_len:.3} s, one frame {frame:.3} s)");
    }
    let mut summary = format!("{fout} frames, {out_len:.3} s");
    let want = captions(i)?;
    if !want.is_empty() {
        let got = captions(o)?;
        if got != want {
            let at = want.iter().zip(&got).position(|(a, b)| a != b).unwrap_or(want.len().min(got.len()));
            bail!("captions differ from the input's at byte {at} ({} vs {} bytes of cc_data)", got.len(), want.len());
        }
        summary += &format!(", {} caption triplets unchanged", got.len() / 3);
    }
    if let (Some(ain), Some(aout)) = (ain, aout) {
        let (off_in, off_out) = (vin.start - ain.start, vout.start - aout.start);
        if (off_in - off_out).abs() > frame + 1e-6 {
            bail!("a/v offset {off_out:.3} s (input {off_in:.3} s)");
        }
        if aout.frames != ain.frames {
            bail!("{} audio packets (input {})", aout.frames, ain.frames);
        }
        // FFmpeg's own copy of the input's audio into the same container family.
        let family = if o.ends_with(".ts") { "mpegts" } else { "mp4" };
        let reference = tmp.join(format!("reference.{}", if family == "mp4" { "mp4" } else { "ts" }));
        let r = reference.to_str().unwrap();
        crate::util::run("ffmpeg", &["-hide_banner", "-loglevel", "error", "-y", "-i", i, "-map", "0:a:0", "-c", "copy", "-f", family, r])?;
        let (want, got) = (audio_md5s(r)?, audio_md5s(o)?);
        let _ = std::fs::remove_file(&reference);
        if want != got {
            let at = want.iter().zip(&got).position(|(a, b)| a != b).unwrap_or(want.len().min(got.len()));
            bail!("audio payloads differ from ffmpeg's copy at packet {at} ({} vs {} packets)", got.len(), want.len());
        }
        summary += &format!(", a/v offset {off_out:+.3} s (input {off_in:+.3} s), {} audio packets unchanged", got.len());
    }
    Ok(summary)
}
