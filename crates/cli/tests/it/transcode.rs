//! `transcode convert` with encoding options: a deinterlaced, scaled H.264 MP4 with
//! the audio copied, FFmpeg `-progress` blocks, the memory plan against
//! `--max-memory`, and usage errors.

use crate::{path_str, scratch, transcode};
use transcode_testkit::testdata;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn deinterlaced_scaled_mp4_with_progress_blocks() {
    let dir = scratch("transcode-progress");
    let out = dir.join("out.mp4");
    let progress = dir.join("progress.txt");
    let input = testdata("ts/mpeg2_576i_mp2.ts");
    let args = [
        "convert",
        path_str(&input),
        path_str(&out),
        "--video-codec",
        "h264",
        "--qp",
        "32",
        "--deinterlace",
        "bwdif:frame",
        "--scale",
        "-2:144",
        "--audio-codec",
        "copy",
        "--progress",
        path_str(&progress),
    ];
    let r = transcode(&args);
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(std::fs::metadata(&out).unwrap().len() > 0);
    let text = std::fs::read_to_string(&progress).unwrap();
    // Blocks of key=value lines, each ending with progress=; the last says end and
    // counts every frame.
    let blocks: Vec<&str> = text.split_inclusive("progress=continue\n").collect();
    let last = text.rsplit("progress=continue\n").next().unwrap();
    assert!(last.ends_with("progress=end\n"), "{text}");
    assert!(last.lines().any(|l| l == "frame=20"), "{last}");
    for key in ["fps=", "bitrate=", "total_size=", "out_time_us=", "out_time=", "speed="] {
        assert!(last.lines().any(|l| l.starts_with(key)), "{key} missing in {last}");
    }
    let size: u64 = last.lines().find_map(|l| l.strip_prefix("total_size=")).unwrap().parse().unwrap();
    assert!(size > 0 && size <= std::fs::metadata(&out).unwrap().len());
    assert!(!blocks.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_1080i_recording_transcodes_to_720p_within_256_mib() {
    // Issue 12: a small box's budget. Both 1080i broadcast shapes (ISDB MPEG-2 with
    // AAC, DVB H.264 MBAFF with MP2) are deinterlaced, scaled to 720 lines and encoded
    // with every frame kept, and the job's own budget report stays under the limit.
    let dir = scratch("transcode-256m");
    for (name, frames) in [("ts/mpeg2_1440x1080i_aac.ts", "ts/mpeg2_1440x1080i_aac.ts.frames"), ("transcode/h264_1080i_mbaff_mp2.ts", "transcode/h264_1080i_mbaff_mp2.ts.frames")] {
        let out = dir.join("out.mp4");
        let input = testdata(name);
        let r = transcode(&["convert", path_str(&input), path_str(&out), "--deinterlace", "--scale", "-2:720", "--max-memory", "256M", "--stats"]);
        assert!(r.status.success(), "{name}: {}", stderr(&r));
        let err = stderr(&r);
        let peak = err
            .lines()
            .find_map(|l| l.trim().strip_prefix("budget:  limit 256.0 MiB, peak reserved "))
            .and_then(|v| v.strip_suffix(" MiB"))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name}: no budget line in {err}"));
        assert!(peak > 16.0 && peak < 256.0, "{name}: peak reserved {peak} MiB");
        // One output frame per input frame (bwdif at frame rate): the video lines of
        // FFmpeg's frame table of the input.
        let expected = std::fs::read_to_string(testdata(frames)).unwrap().lines().filter(|l| l.starts_with("0,")).count();
        let video = err.lines().find(|l| l.starts_with("video:")).unwrap_or_else(|| panic!("{name}: no video line in {err}"));
        assert!(video.contains(&format!(" {expected} frames decoded, {expected} encoded,")), "{name}: {video}");
        // The plan made before the first frame is what --max-memory was checked against.
        let planned: f64 = err
            .lines()
            .find_map(|l| l.strip_prefix("memory:  planned "))
            .and_then(|v| v.split(" MiB").next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name}: no memory line in {err}"));
        assert!(planned >= peak && planned < 256.0, "{name}: planned {planned} MiB, peak reserved {peak} MiB");
        std::fs::remove_file(&out).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_memory_bound_too_small_for_the_job_fails_before_it_starts() {
    let dir = scratch("transcode-memory");
    let out = dir.join("out.mp4");
    let input = testdata("ts/mpeg2_1440x1080i_aac.ts");
    let r = transcode(&["convert", path_str(&input), path_str(&out), "--deinterlace", "--scale", "-2:720", "--max-memory", "24M"]);
    assert_eq!(r.status.code(), Some(3), "{}", stderr(&r));
    let err = stderr(&r);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("transcode: error: "), "{err}");
    assert!(err.contains("the transcode job") && err.contains("but --max-memory is 24.0 MiB"), "{err}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "no output left behind");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn encoding_options_that_do_not_go_together_are_usage_errors() {
    let dir = scratch("transcode-usage");
    let input = testdata("ts/mpeg2_576i_mp2.ts");
    let out = dir.join("out.mp4");
    for (args, wanted) in [
        (vec!["--video-codec", "copy", "--scale", "-2:144"], "need --video-codec h264"),
        (vec!["--video-codec", "vp9"], "unknown video codec"),
        (vec!["--deinterlace", "bob"], "unknown \"bob\""),
        (vec!["--scale", "-2:-2"], "one of width and height"),
        (vec!["--fps", "0"], "expected a rate"),
        (vec!["--audio-codec", "aac"], "expected copy or none"),
        (vec!["--crf", "60"], "--crf 60: expected 0 to 51"),
        (vec!["--crf", "23", "--qp", "20"], "cannot be used with"),
        (vec!["--bitrate", "600k", "--qp", "20"], "cannot be used with"),
        (vec!["--bitrate", "fast"], "--bitrate fast: expected 1 to 1000000 kbit/s"),
        (vec!["--bitrate", "600k", "--maxrate", "1M"], "--maxrate needs --bufsize"),
        (vec!["--crf", "23", "--bufsize", "1M"], "--bufsize needs --maxrate"),
        (vec!["--maxrate", "1M", "--bufsize", "1M"], "--maxrate needs --crf or --bitrate"),
        (vec!["--bitrate", "2M", "--maxrate", "1M", "--bufsize", "1M"], "--maxrate 1M: expected at least --bitrate"),
        (vec!["--progress", "-", "--format", "mp4"], "--progress applies to encoding"),
        (vec!["--threads", "2"], "--threads applies to encoding"),
        (vec!["--scale", "-2:144", "--threads", "0"], "--threads"),
    ] {
        let mut all = vec!["convert", path_str(&input), path_str(&out)];
        all.extend(args.iter().copied());
        let r = transcode(&all);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {}", stderr(&r));
        assert!(stderr(&r).contains(wanted), "{args:?}: {}", stderr(&r));
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_higher_rate_factor_gives_a_smaller_file() {
    let dir = scratch("transcode-crf");
    let input = testdata("ts/mpeg2_576i_mp2.ts");
    let size = |crf: &str| {
        let out = dir.join(format!("crf{crf}.mp4"));
        let r = transcode(&["convert", path_str(&input), path_str(&out), "--deinterlace", "--scale", "-2:288", "--crf", crf]);
        assert!(r.status.success(), "{}", stderr(&r));
        std::fs::metadata(&out).unwrap().len()
    };
    let (fine, coarse) = (size("18"), size("34"));
    assert!(coarse < fine, "crf 34 gave {coarse} bytes, crf 18 {fine}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_lower_average_bitrate_gives_a_smaller_file_and_vbv_runs() {
    let dir = scratch("transcode-abr");
    let input = testdata("ts/mpeg2_576i_mp2.ts");
    let size = |name: &str, rate: &[&str]| {
        let out = dir.join(format!("{name}.mp4"));
        let mut args = vec!["convert", path_str(&input), path_str(&out), "--deinterlace", "--scale", "-2:288"];
        args.extend_from_slice(rate);
        let r = transcode(&args);
        assert!(r.status.success(), "{rate:?}: {}", stderr(&r));
        std::fs::metadata(&out).unwrap().len()
    };
    let low = size("low", &["--bitrate", "150k"]);
    let high = size("high", &["--bitrate", "1.5M"]);
    assert!(low < high, "150 kbit/s gave {low} bytes, 1.5 Mbit/s {high}");
    let capped = size("capped", &["--crf", "10", "--maxrate", "300k", "--bufsize", "300k"]);
    let free = size("free", &["--crf", "10"]);
    assert!(capped < free, "crf 10 capped at 300 kbit/s gave {capped} bytes, uncapped {free}");
    std::fs::remove_dir_all(&dir).unwrap();
}
