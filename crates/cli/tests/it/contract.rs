//! The real-world input contract of `transcode`, on inputs built from the committed
//! fixtures: junk before the first packet works, inputs without streams and without a
//! whole packet fail with exit 3 and one line on stderr (and no output file), warnings
//! of a successful run are kept, and the colour range survives Y4M and MP4 output.

use std::path::Path;
use std::process::Output;

use transcode_testkit::{md5_hex, read_framemd5, testdata};

use crate::{path_str, scratch, transcode};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A failure must print exactly one line on stderr: the error, naming the file.
fn assert_one_error_line(out: &Output, file: &Path, wanted: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {err:?}");
    let name = file.file_name().unwrap().to_str().unwrap();
    assert!(lines[0].starts_with("transcode: error: ") && lines[0].contains(name), "{err}");
    assert!(lines[0].contains(wanted), "{err:?} should say {wanted:?}");
}

fn offsets_past_the_end(mut data: Vec<u8>) -> Vec<u8> {
    let len = data.len() as u32;
    let mut from = 0;
    while let Some(i) = data[from..].windows(4).position(|w| w == b"stco").map(|i| i + from) {
        let n = u32::from_be_bytes(data[i + 8..i + 12].try_into().unwrap()) as usize;
        for k in 0..n {
            let at = i + 12 + 4 * k;
            data[at..at + 4].copy_from_slice(&(len + 1000 + k as u32).to_be_bytes());
        }
        from = i + 4;
    }
    data
}

fn zero_moov_payload(mut data: Vec<u8>) -> Vec<u8> {
    let i = data.windows(4).position(|w| w == b"moov").unwrap() - 4;
    let size = u32::from_be_bytes(data[i..i + 4].try_into().unwrap()) as usize;
    data[i + 8..i + size].fill(0);
    data
}

fn null_ts() -> Vec<u8> {
    (0..2000u32)
        .flat_map(|i| {
            let mut p = vec![0x47, 0x1F, 0xFF, 0x10 | (i & 0xF) as u8];
            p.resize(188, 0xFF);
            p
        })
        .collect()
}

#[test]
fn inputs_without_streams_fail_with_one_line_and_say_what_they_hold() {
    let dir = scratch("nomedia");
    let cases: [(&str, Vec<u8>, &str); 2] = [
        ("null.ts", null_ts(), "no media streams found (2000 TS packets, no PAT/PMT)"),
        (
            "zeroed.mp4",
            zero_moov_payload(std::fs::read(testdata("mp4/h264_aac_faststart.mp4")).unwrap()),
            "no media streams found (moov without tracks)",
        ),
    ];
    for (name, data, wanted) in cases {
        let input = dir.join(name);
        std::fs::write(&input, data).unwrap();
        let out = transcode(&["probe", path_str(&input)]);
        assert_one_error_line(&out, &input, wanted);
        assert!(out.stdout.is_empty(), "{name}: text probe prints nothing for no media");
        // --json still prints what was found, then fails.
        let out = transcode(&["probe", "--json", path_str(&input)]);
        assert_one_error_line(&out, &input, wanted);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["streams"].as_array().map(Vec::len), Some(0), "{name}");
        assert_eq!(v["format"]["size"], std::fs::metadata(&input).unwrap().len(), "{name}");
        for ext in ["mp4", "ts", "y4m"] {
            let output = dir.join(format!("out.{ext}"));
            let out = transcode(&["convert", path_str(&input), path_str(&output)]);
            assert_one_error_line(&out, &input, wanted);
            assert!(!output.exists(), "{name} -> {ext}: output left behind");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn nothing_useless_is_written_and_the_warnings_go_into_the_error() {
    let dir = scratch("nopackets");
    let ts = std::fs::read(testdata("ts/h264_aac.ts")).unwrap();
    let cases: [(&str, Vec<u8>, &str); 2] = [
        // One access unit, cut short: it used to become an MP4 of duration 0.
        ("head.ts", ts[..1000].to_vec(), "no complete packet in any stream; 1 packet cut short by the end of the input"),
        // Used to print a WARN line before the error.
        (
            "past.mp4",
            offsets_past_the_end(std::fs::read(testdata("mp4/h264_aac_faststart.mp4")).unwrap()),
            "no complete packet in any stream; 1 sample pointed past the end of the file",
        ),
    ];
    for (name, data, wanted) in cases {
        let input = dir.join(name);
        std::fs::write(&input, data).unwrap();
        for ext in ["mp4", "ts", "m2ts", "y4m", "h264"] {
            let output = dir.join(format!("out.{ext}"));
            let out = transcode(&["convert", path_str(&input), path_str(&output)]);
            assert_one_error_line(&out, &input, wanted);
            assert!(!output.exists(), "{name} -> {ext}: output left behind");
            // From a pipe too (read once: the check comes after the write pass).
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_transcode"))
                .args(["convert", "-", path_str(&output)])
                .stdin(std::fs::File::open(&input).unwrap())
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(3), "{name} -> {ext} from a pipe: {}", stderr(&out));
            assert_eq!(stderr(&out).lines().count(), 1, "{name} -> {ext} from a pipe: {}", stderr(&out));
            assert!(stderr(&out).contains("no complete packet in any stream"), "{}", stderr(&out));
            assert!(!output.exists(), "{name} -> {ext} from a pipe: output left behind");
        }
        // With -v the warnings are shown as they happen, and the error is the last line.
        let out = transcode(&["-v", "convert", path_str(&input), path_str(&dir.join("v.mp4"))]);
        assert_eq!(out.status.code(), Some(3));
        assert!(stderr(&out).lines().last().unwrap().contains(wanted), "{}", stderr(&out));
    }
    // probe of the cut TS: its two streams are listed, but nothing is known of them.
    let out = transcode(&["probe", path_str(&dir.join("head.ts"))]);
    assert_one_error_line(&out, &dir.join("head.ts"), "no media streams found (5 TS packets, 2 streams in the PMT, none with a whole packet)");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Per-stream payload MD5s of a file, read back with transcode's own probe path.
fn payloads(path: &Path) -> Vec<Vec<String>> {
    use transcode_core::MemoryConfig;
    use transcode_demux_bridge::{open_demuxer, Input};
    let config = MemoryConfig::default();
    let mut d = open_demuxer(Input::open(path, &config).unwrap(), &config).unwrap();
    let mut out: Vec<Vec<String>> = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        if out.len() <= p.stream {
            out.resize(p.stream + 1, Vec::new());
        }
        out[p.stream].push(md5_hex(p.data));
    }
    out
}

#[test]
fn junk_before_a_transport_stream_is_skipped_and_reported() {
    let dir = scratch("junk");
    for fixture in ["ts/h264_aac.ts", "ts/h264_aac.m2ts"] {
        let clean = dir.join("clean.mp4");
        let out = transcode(&["convert", path_str(&testdata(fixture)), path_str(&clean)]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(out.stderr.is_empty(), "a clean run warns of nothing: {}", stderr(&out));
        for n in [188usize, 1003, 65_536] {
            let mut data: Vec<u8> = (0..n).map(|i| (i * 131 % 251) as u8 ^ 0x5A).collect();
            data.extend(std::fs::read(testdata(fixture)).unwrap());
            let input = dir.join(format!("junk-{n}.{}", fixture.rsplit('.').next().unwrap()));
            std::fs::write(&input, data).unwrap();
            let out = transcode(&["probe", "--json", path_str(&input)]);
            assert!(out.status.success(), "{fixture} after {n}: {}", stderr(&out));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["problems"]["bytes_skipped"], n as u64, "{fixture} after {n}");
            assert_eq!(v["problems"]["resyncs"], 0, "{fixture} after {n}");
            assert_eq!(v["streams"].as_array().map(Vec::len), Some(2));
            let mp4 = dir.join("junk.mp4");
            let out = transcode(&["convert", path_str(&input), path_str(&mp4)]);
            assert!(out.status.success(), "{fixture} after {n}: {}", stderr(&out));
            // A successful run keeps its warnings.
            assert!(stderr(&out).contains(&format!("{n} bytes skipped before the first packet")), "{}", stderr(&out));
            assert_eq!(payloads(&mp4), payloads(&clean), "{fixture} after {n}: the same packets");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The header line and the frames' picture bytes of a Y4M file.
fn y4m(data: &[u8]) -> (String, Vec<&[u8]>) {
    let end = data.iter().position(|&b| b == b'\n').unwrap();
    let header = String::from_utf8(data[..end].to_vec()).unwrap();
    let dim = |tag: char| -> usize { header.split(' ').find_map(|w| w.strip_prefix(tag)).unwrap().parse().unwrap() };
    let size = dim('W') * dim('H') * 3 / 2;
    let mut frames = Vec::new();
    let mut pos = end + 1;
    while pos < data.len() {
        let line = pos + data[pos..].iter().position(|&b| b == b'\n').unwrap() + 1;
        frames.push(&data[line..line + size]);
        pos = line + size;
    }
    (header, frames)
}

#[test]
fn the_colour_description_of_a_full_range_stream_is_carried() {
    let dir = scratch("fullrange");
    let fixture = "es/h264_fullrange.h264";
    // Y4M: FFmpeg's header line, XCOLORRANGE=FULL included, and FFmpeg's frames.
    let out_path = dir.join("out.y4m");
    let out = transcode(&["convert", path_str(&testdata(fixture)), path_str(&out_path)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let data = std::fs::read(&out_path).unwrap();
    let (header, frames) = y4m(&data);
    assert_eq!(header, "YUV4MPEG2 W176 H144 F25:1 Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE=FULL");
    let want: Vec<String> = read_framemd5(&testdata(&format!("{fixture}.frames"))).entries.into_iter().map(|e| e.md5).collect();
    assert_eq!(frames.iter().map(|f| md5_hex(f)).collect::<Vec<_>>(), want);
    // Y4M to Y4M keeps the tag (the source's header line is reused).
    let again = dir.join("again.y4m");
    assert!(transcode(&["convert", path_str(&out_path), path_str(&again)]).status.success());
    assert_eq!(y4m(&std::fs::read(&again).unwrap()).0, header);
    // The other fixtures say nothing of their range: no tag.
    let plain = dir.join("plain.y4m");
    assert!(transcode(&["convert", path_str(&testdata("es/h264.h264")), path_str(&plain), "--frames", "1"]).status.success());
    assert!(!y4m(&std::fs::read(&plain).unwrap()).0.contains("XCOLORRANGE"));

    // MP4: the colr box FFmpeg writes for this stream (`ffmpeg -i F -c copy F.mp4`):
    // nclx, primaries 1 (bt709), transfer 13 (iec61966-2-1), matrix 6 (smpte170m), full.
    let colr = [0, 0, 0, 19, b'c', b'o', b'l', b'r', b'n', b'c', b'l', b'x', 0, 1, 0, 13, 0, 6, 0x80];
    let mp4 = dir.join("out.mp4");
    assert!(transcode(&["convert", path_str(&testdata(fixture)), path_str(&mp4)]).status.success());
    let bytes = std::fs::read(&mp4).unwrap();
    assert!(bytes.windows(colr.len()).any(|w| w == colr), "no FFmpeg-equal colr box");
    // ... read back by transcode's probe, and kept by MP4 to MP4.
    let out = transcode(&["probe", "--json", path_str(&mp4)]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["streams"][0]["color_range"], "pc");
    assert_eq!(v["streams"][0]["color_transfer"], "iec61966-2-1");
    let mp4b = dir.join("again.mp4");
    assert!(transcode(&["convert", path_str(&mp4), path_str(&mp4b)]).status.success());
    assert!(std::fs::read(&mp4b).unwrap().windows(colr.len()).any(|w| w == colr));
    // Streams without a colour description get no colr box, as from FFmpeg.
    let plain = dir.join("plain.mp4");
    assert!(transcode(&["convert", path_str(&testdata("es/h264.h264")), path_str(&plain)]).status.success());
    assert!(!std::fs::read(&plain).unwrap().windows(4).any(|w| w == b"colr"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_stream_without_a_whole_packet_is_left_out_with_a_warning() {
    let dir = scratch("leftout");
    // The fixture without its audio packets: the PMT still lists the AAC stream.
    let ts = std::fs::read(testdata("ts/h264_aac.ts")).unwrap();
    let video_only: Vec<u8> = ts.chunks(188).filter(|p| (u16::from(p[1] & 0x1F) << 8 | u16::from(p[2])) != 0x101).flatten().copied().collect();
    let input = dir.join("no-audio.ts");
    std::fs::write(&input, video_only).unwrap();
    for (ext, warning) in [("ts", "stream 1 (aac) has no whole packet; leaving it out"), ("mp4", "stream 1 has no packets; leaving it out of the mp4")] {
        let output = dir.join(format!("out.{ext}"));
        let out = transcode(&["convert", path_str(&input), path_str(&output)]);
        assert!(out.status.success(), "{ext}: {}", stderr(&out));
        assert!(stderr(&out).contains(warning), "{ext}: {}", stderr(&out));
        let out = transcode(&["probe", "--json", path_str(&output)]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["streams"].as_array().map(Vec::len), Some(1), "{ext}: only the video stream is written");
        assert_eq!(v["streams"][0]["nb_read_packets"], 50, "{ext}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
