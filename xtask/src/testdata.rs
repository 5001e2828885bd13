//! `cargo xtask testdata`: regenerates the fixtures in `testdata/` with FFmpeg and writes
//! the oracle tables beside them.
//!
//! Every fixture is made from FFmpeg's synthetic sources with bit-exact flags and
//! single-threaded encoders, so the same FFmpeg version makes the same bytes. For each
//! fixture `F` the oracles are:
//!
//! - `F.packets`: `ffmpeg -copyts -i F -map 0 -c copy -f framemd5 -`, one line per demuxed
//!   packet (stream, dts, pts, duration, size, MD5 of the payload);
//! - `F.frames`: per decoded video frame MD5s (`-threads 1 -flags unaligned -pix_fmt yuv420p`;
//!   a full-range stream keeps the decoder's `yuvj420p`, the same planes, whose samples a
//!   conversion to `yuv420p` would change);
//! - `F.ffprobe.json`: `ffprobe -count_packets -show_streams -show_format`;
//! - `F.to-mp4.packets` / `F.to-ts.packets`: the packets of FFmpeg's own stream-copy remux
//!   of `F` to that container, read back: what a lossless remux must contain.

use anyhow::Result;
use std::fmt::Write as _;
use std::fs;

use crate::util::{self, output, project_root, words};

const BITEXACT: &str = "-fflags +bitexact -flags:v +bitexact -flags:a +bitexact -map_metadata -1";
const X264: &str = "-c:v libx264 -threads 1 -preset fast -g 25 -bf 3 -pix_fmt yuv420p";
const X265: &str = "-c:v libx265 -threads 1 -preset fast -g 25 -pix_fmt yuv420p -x265-params pools=none:frame-threads=1:wpp=0:log-level=error";
const VIDEO: &str = "-f lavfi -i testsrc2=size=320x180:rate=25:duration=2";
const AUDIO: &str = "-f lavfi -i sine=frequency=440:sample_rate=48000:duration=2";

/// A fixture: its path under `testdata/`, the FFmpeg arguments that make it (before the
/// output name), and which oracle remuxes apply.
struct Fixture {
    path: &'static str,
    args: String,
    to_mp4: bool,
    to_ts: bool,
}

fn fixtures() -> Vec<Fixture> {
    let av = |v: &str, a: &str, fmt: &str| format!("{VIDEO} {AUDIO} -ac 2 {BITEXACT} {v} {a} {fmt}");
    let aac = "-c:a aac -b:a 96k";
    vec![
        Fixture { path: "ts/h264_aac.ts", args: av(X264, aac, "-f mpegts"), to_mp4: true, to_ts: true },
        Fixture { path: "ts/h264_aac.m2ts", args: av(X264, aac, "-f mpegts -mpegts_m2ts_mode 1"), to_mp4: true, to_ts: true },
        Fixture { path: "ts/h265_aac.ts", args: av(X265, aac, "-f mpegts"), to_mp4: true, to_ts: true },
        Fixture {
            path: "ts/mpeg2_mp2.ts",
            args: av("-c:v mpeg2video -threads 1 -g 12 -bf 2 -b:v 800k", "-c:a mp2 -b:a 192k", "-f mpegts"),
            to_mp4: true,
            to_ts: true,
        },
        // Broadcast-shaped interlaced MPEG-2: ISDB's 1440x1080i (16:9 display, so 4:3
        // samples) with AAC, top field first; and SD DVB's 720x576i (4:3 display, 16:15
        // samples) with MP2, bottom field first. Short and at low rates to stay small.
        Fixture {
            path: "ts/mpeg2_1440x1080i_aac.ts",
            args: format!(
                "-f lavfi -i testsrc2=size=1440x1080:rate=30000/1001:duration=0.4 -f lavfi -i sine=frequency=440:sample_rate=48000:duration=0.4 \
                 -ac 2 {BITEXACT} -c:v mpeg2video -threads 1 -flags +ildct+ilme -top 1 -aspect 16:9 -g 15 -bf 2 -q:v 12 {aac} -f mpegts"
            ),
            to_mp4: true,
            to_ts: true,
        },
        Fixture {
            path: "ts/mpeg2_576i_mp2.ts",
            args: format!(
                "-f lavfi -i testsrc2=size=720x576:rate=25:duration=0.8 -f lavfi -i sine=frequency=440:sample_rate=48000:duration=0.8 \
                 -ac 2 {BITEXACT} -c:v mpeg2video -threads 1 -flags +ildct+ilme -top 0 -aspect 4:3 -g 12 -bf 2 -q:v 10 -c:a mp2 -b:a 192k -f mpegts"
            ),
            to_mp4: true,
            to_ts: true,
        },
        Fixture {
            path: "ps/mpeg2_mp2.vob",
            args: av("-c:v mpeg2video -threads 1 -g 12 -bf 2 -b:v 800k", "-c:a mp2 -b:a 192k", "-f vob"),
            to_mp4: true,
            to_ts: true,
        },
        Fixture {
            path: "ps/mpeg1_mp2.mpg",
            args: av("-c:v mpeg1video -threads 1 -g 12 -bf 2 -b:v 800k", "-c:a mp2 -b:a 192k", "-f mpeg"),
            to_mp4: true,
            to_ts: true,
        },
        Fixture {
            path: "ps/mpeg2_ac3.vob",
            args: av("-c:v mpeg2video -threads 1 -g 12 -bf 2 -b:v 800k", "-c:a ac3 -b:a 192k", "-f vob"),
            to_mp4: false,
            to_ts: true,
        },
        Fixture { path: "mp4/h264_aac.mp4", args: av(X264, aac, "-f mp4"), to_mp4: true, to_ts: true },
        Fixture { path: "mp4/h264_aac_faststart.mp4", args: av(X264, aac, "-f mp4 -movflags +faststart"), to_mp4: true, to_ts: true },
        Fixture {
            path: "mp4/h264_aac_frag.mp4",
            args: av(X264, aac, "-f mp4 -movflags frag_keyframe+empty_moov+default_base_moof"),
            to_mp4: true,
            to_ts: true,
        },
        Fixture { path: "es/h264.h264", args: format!("{VIDEO} {BITEXACT} {X264} -f h264"), to_mp4: true, to_ts: false },
        Fixture { path: "es/h265.h265", args: format!("{VIDEO} {BITEXACT} {X265} -f hevc"), to_mp4: true, to_ts: false },
        // Full range with a complete colour description (three distinct codes: BT.709
        // primaries, sRGB transfer, BT.601 matrix), small and short.
        Fixture {
            path: "es/h264_fullrange.h264",
            args: format!(
                "-f lavfi -i testsrc2=size=176x144:rate=25:duration=0.4 {BITEXACT} -c:v libx264 -threads 1 -preset fast -g 25 -bf 3 \
                 -pix_fmt yuvj420p -color_primaries bt709 -color_trc iec61966-2-1 -colorspace smpte170m -f h264"
            ),
            to_mp4: true,
            to_ts: false,
        },
        Fixture { path: "es/aac.aac", args: format!("{AUDIO} -ac 2 {BITEXACT} {aac} -f adts"), to_mp4: true, to_ts: true },
        Fixture { path: "es/mp2.mp2", args: format!("{AUDIO} -ac 2 {BITEXACT} -c:a mp2 -b:a 192k -f mp2"), to_mp4: false, to_ts: true },
        Fixture {
            path: "y4m/small.y4m",
            args: "-f lavfi -i testsrc2=size=160x90:rate=25:duration=0.4 -fflags +bitexact -pix_fmt yuv420p -f yuv4mpegpipe".into(),
            to_mp4: false,
            to_ts: false,
        },
    ]
}

/// The pixel format the frames oracle asks for: `yuv420p`, except for a full-range
/// stream (`yuvj420p`), whose samples a conversion would change.
pub fn frames_pix_fmt(ffprobe_json: &str) -> &'static str {
    let v: serde_json::Value = serde_json::from_str(ffprobe_json).unwrap_or_default();
    let video = v["streams"].as_array().and_then(|s| s.iter().find(|s| s["codec_type"] == "video"));
    match video.and_then(|s| s["pix_fmt"].as_str()) {
        Some("yuvj420p") => "yuvj420p",
        _ => "yuv420p",
    }
}

/// `cargo xtask testdata [PREFIX | --only PATH]`: makes every fixture (or those whose
/// path under `testdata/` starts with `PREFIX`) and its oracles, and rewrites
/// `testdata/README.md`. `cargo xtask testdata mpeg2-synth [--check]` writes the
/// synthetic MPEG-2 streams instead (`m2v_synth`).
pub fn run(args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) == Some("mpeg2-synth") {
        return crate::m2v_synth::run(&args[1..]);
    }
    // `cargo xtask testdata ps/` remakes only the fixtures under that prefix; the README
    // still lists every command.
    let only = match args {
        [] => "",
        [flag, path] if flag == "--only" => path.as_str(),
        [prefix] if !prefix.starts_with('-') => prefix.as_str(),
        _ => anyhow::bail!("usage: cargo xtask testdata [PREFIX | --only PATH | mpeg2-synth [--check]]"),
    };
    if !fixtures().iter().any(|f| f.path.starts_with(only)) {
        anyhow::bail!("no fixture path starts with {only:?} (see xtask/src/testdata.rs)");
    }
    let root = project_root().join("testdata");
    let mut readme = String::from(
        "# Test fixtures\n\nMade by `cargo xtask testdata` (see `xtask/src/testdata.rs`) with Debian's FFmpeg; \
         every fixture is deterministic for a given FFmpeg version. The exact commands:\n\n",
    );
    let version = output("ffmpeg", &["-version"])?;
    let version = version.lines().next().unwrap_or_default().to_string();
    writeln!(readme, "FFmpeg: `{version}`\n")?;
    for fx in fixtures() {
        let path = root.join(fx.path);
        fs::create_dir_all(path.parent().unwrap())?;
        let p = path.to_str().unwrap();
        writeln!(readme, "- `{}`:\n  `ffmpeg {} {}`", fx.path, fx.args, fx.path)?;
        if !fx.path.starts_with(only) {
            continue;
        }
        let mut args = vec!["-hide_banner".to_string(), "-loglevel".into(), "error".into(), "-y".into()];
        args.extend(words(&fx.args));
        args.push(p.to_string());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        util::run("ffmpeg", &argv)?;

        let probe = output("ffprobe", &["-v", "error", "-count_packets", "-show_streams", "-show_format", "-of", "json", p])?;
        let packets = output("ffmpeg", &["-hide_banner", "-loglevel", "error", "-copyts", "-i", p, "-map", "0", "-c", "copy", "-f", "framemd5", "-"])?;
        fs::write(format!("{p}.packets"), packets)?;
        let has_video = !fx.path.ends_with(".aac") && !fx.path.ends_with(".mp2");
        if has_video {
            let pix_fmt = frames_pix_fmt(&probe);
            let frames = if probe.contains("\"codec_name\": \"mpeg2video\"") {
                // MPEG-2's oracle: FFmpeg's bit-exact simple IDCT, every coded frame, the
                // native pixel format.
                output(
                    "ffmpeg",
                    &["-hide_banner", "-loglevel", "error", "-threads", "1", "-flags", "+bitexact", "-idct", "simple", "-i", p, "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "framemd5", "-"],
                )?
            } else {
                output(
                    "ffmpeg",
                    &["-hide_banner", "-loglevel", "error", "-threads", "1", "-i", p, "-map", "0:v:0", "-flags", "unaligned", "-pix_fmt", pix_fmt, "-f", "framemd5", "-"],
                )?
            };
            fs::write(format!("{p}.frames"), frames)?;
        }
        fs::write(format!("{p}.ffprobe.json"), probe)?;
        for (enabled, ext, fmt) in [(fx.to_mp4, "mp4", "mp4"), (fx.to_ts, "ts", "mpegts")] {
            if !enabled {
                continue;
            }
            let tmp = std::env::temp_dir().join(format!("xtask-remux.{ext}"));
            let t = tmp.to_str().unwrap();
            util::run("ffmpeg", &["-hide_banner", "-loglevel", "error", "-y", "-i", p, "-map", "0", "-c", "copy", "-fflags", "+bitexact", "-f", fmt, t])?;
            let packets = output("ffmpeg", &["-hide_banner", "-loglevel", "error", "-copyts", "-i", t, "-map", "0", "-c", "copy", "-f", "framemd5", "-"])?;
            fs::write(format!("{p}.to-{ext}.packets"), packets)?;
            fs::remove_file(&tmp)?;
        }
        println!("made {}", fx.path);
    }
    readme.push_str(
        "\nBeside each fixture `F`: `F.packets` (demuxed packets, `ffmpeg -copyts -i F -map 0 -c copy -f framemd5`), \
         `F.frames` (decoded video frames, `ffmpeg -threads 1 -i F -map 0:v:0 -flags unaligned -pix_fmt yuv420p -f framemd5`; \
         `-pix_fmt yuvj420p` for a full-range stream, whose samples a conversion would change; for MPEG-2 video \
         `ffmpeg -threads 1 -flags +bitexact -idct simple -i F -map 0:v:0 -fps_mode passthrough -f framemd5`, in its own pixel format), \
         `F.ffprobe.json` (`ffprobe -v error -count_packets -show_streams -show_format -of json F`), and \
         `F.to-mp4.packets` / `F.to-ts.packets` (the packets of FFmpeg's own `-c copy` remux to that container, read back).\n\n\
         `h264/` holds the H.264 decoder's streams (`h264/make.sh`), `mpeg2/` the MPEG-2 decoder's (`mpeg2/make.sh`, \
         `mpeg2/README.md`), `mpeg2-synth/` MPEG-2 video streams with field pictures, field, 16x8 and dual-prime motion \
         that no encoder writes, made by `cargo xtask testdata mpeg2-synth` (see `mpeg2-synth/README.md`), `filters/` the \
         deinterlace, scale and conversion sources and oracles (`filters/make.sh`), and `encode/` the encoder's sources \
         and the oracle table `cargo xtask encode-check` keeps (`encode/README.md`), `h264-interlaced/` the JVT field-picture \
         conformance streams (`h264-interlaced/README.md`), and `transcode/` the transcode job's recording with a late \
         second audio and timestamp jumps (`transcode/make.sh`).\n",
    );
    fs::write(root.join("README.md"), readme)?;
    Ok(())
}
