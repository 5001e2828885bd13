//! `transcode convert`: outputs read back with transcode's demuxers, errors, exit codes,
//! and atomic output.

use transcode_core::MemoryConfig;
use transcode_demux_bridge::{open_demuxer, Input};
use transcode_testkit::{md5_hex, testdata};

use crate::{path_str, scratch, transcode};

/// Per-stream payload MD5s of a file, read with transcode's demuxer.
fn packet_md5s(path: &std::path::Path) -> Vec<Vec<String>> {
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
fn ts_to_mp4_and_back_keeps_every_payload() {
    let dir = scratch("roundtrip");
    let mp4 = dir.join("a.mp4");
    let ts = dir.join("b.ts");
    let input = testdata("ts/h264_aac.ts");
    let out = transcode(&["convert", path_str(&input), path_str(&mp4)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = transcode(&["convert", path_str(&mp4), path_str(&ts)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Audio payloads survive both ways byte for byte (ADTS → raw → ADTS).
    let (a, b) = (packet_md5s(&input), packet_md5s(&ts));
    assert_eq!(a.len(), 2);
    assert_eq!(a[1], b[1], "audio payloads");
    assert_eq!(a[0].len(), b[0].len(), "video packet count");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stdout_needs_format_and_unknown_extension_is_usage_error() {
    let input = testdata("ts/h264_aac.ts");
    let out = transcode(&["convert", path_str(&input), "-"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--format"));
    let dir = scratch("ext");
    let out = transcode(&["convert", path_str(&input), path_str(&dir.join("x.webm"))]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pipe_in_and_out_gives_the_same_packets_as_files() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = scratch("pipe");
    let input = testdata("ts/h264_aac.ts");
    let mut child = Command::new(env!("CARGO_BIN_EXE_transcode"))
        .args(["convert", "-", "-", "--format", "ts"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let data = std::fs::read(&input).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success());
    let piped = dir.join("piped.ts");
    std::fs::write(&piped, &out.stdout).unwrap();
    assert_eq!(packet_md5s(&piped), packet_md5s(&input));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn errors_name_the_file_and_use_documented_exit_codes() {
    let dir = scratch("errors");
    let out_path = dir.join("out.mp4");
    let out = path_str(&out_path);
    // Missing input: I/O error.
    let r = transcode(&["convert", path_str(&dir.join("missing.ts")), out]);
    assert_eq!(r.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&r.stderr);
    assert!(msg.starts_with("transcode: error: ") && msg.contains("missing.ts"), "{msg}");
    assert_eq!(msg.lines().count(), 1, "{msg}");
    // A directory as input.
    let r = transcode(&["convert", path_str(&dir), out]);
    assert_eq!(r.status.code(), Some(1), "{}", String::from_utf8_lossy(&r.stderr));
    // Not media.
    let junk = dir.join("junk.bin");
    std::fs::write(&junk, b"this is plainly not a media file, just some words\n".repeat(50)).unwrap();
    let r = transcode(&["convert", path_str(&junk), out]);
    assert_eq!(r.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&r.stderr).contains("junk.bin"));
    // Empty file.
    let empty = dir.join("empty.ts");
    std::fs::write(&empty, b"").unwrap();
    let r = transcode(&["convert", path_str(&empty), out]);
    assert_eq!(r.status.code(), Some(3), "{}", String::from_utf8_lossy(&r.stderr));
    // A codec the output cannot hold: Y4M video into AAC.
    let r = transcode(&["convert", path_str(&testdata("y4m/small.y4m")), path_str(&dir.join("x.aac"))]);
    assert_eq!(r.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&r.stderr).contains("cannot hold"), "{}", String::from_utf8_lossy(&r.stderr));
    // Missing output directory.
    let r = transcode(&["convert", path_str(&testdata("ts/h264_aac.ts")), path_str(&dir.join("no/such/dir/out.mp4"))]);
    assert_eq!(r.status.code(), Some(1));
    // Nothing was left behind by any failure.
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 2, "only the two inputs we wrote remain: {left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Splits a Y4M file into its frames' picture bytes.
fn y4m_frames(data: &[u8]) -> Vec<&[u8]> {
    let header_end = data.iter().position(|&b| b == b'\n').unwrap() + 1;
    let header = std::str::from_utf8(&data[..header_end]).unwrap();
    let dim = |tag: char| -> usize { header.split_whitespace().find_map(|w| w.strip_prefix(tag)).unwrap().parse().unwrap() };
    let (w, h) = (dim('W'), dim('H'));
    let chroma_h = if header.contains(" C422") { h } else { h.div_ceil(2) };
    let size = w * h + 2 * (w.div_ceil(2) * chroma_h);
    let mut frames = Vec::new();
    let mut pos = header_end;
    while pos < data.len() {
        let line_end = pos + data[pos..].iter().position(|&b| b == b'\n').unwrap() + 1;
        assert!(data[pos..].starts_with(b"FRAME"));
        frames.push(&data[line_end..line_end + size]);
        pos = line_end + size;
    }
    frames
}

#[test]
fn decoding_h264_from_every_container_matches_ffmpeg_frames() {
    let dir = scratch("decode");
    for fx in ["ts/h264_aac.ts", "ts/h264_aac.m2ts", "mp4/h264_aac.mp4", "mp4/h264_aac_frag.mp4", "es/h264.h264", "es/h264_fullrange.h264"] {
        let out_path = dir.join("out.y4m");
        let r = transcode(&["convert", path_str(&testdata(fx)), path_str(&out_path)]);
        assert!(r.status.success(), "{fx}: {}", String::from_utf8_lossy(&r.stderr));
        let data = std::fs::read(&out_path).unwrap();
        let got: Vec<String> = y4m_frames(&data).iter().map(|f| md5_hex(f)).collect();
        let want: Vec<String> = transcode_testkit::read_framemd5(&testdata(&format!("{fx}.frames"))).entries.into_iter().map(|e| e.md5).collect();
        assert_eq!(got, want, "{fx}: decoded frames differ from FFmpeg's");
    }
    // --frames stops early.
    let out_path = dir.join("few.y4m");
    let r = transcode(&["convert", path_str(&testdata("es/h264.h264")), path_str(&out_path), "--frames", "7"]);
    assert!(r.status.success());
    assert_eq!(y4m_frames(&std::fs::read(&out_path).unwrap()).len(), 7);
    // A codec the decoder does not handle is a clear error and leaves nothing.
    let r = transcode(&["convert", path_str(&testdata("ts/h265_aac.ts")), path_str(&dir.join("no.y4m"))]);
    assert_eq!(r.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&r.stderr).contains("h264, mpeg2video and mpeg1video can be decoded"), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(!dir.join("no.y4m").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn decoding_mpeg_video_matches_ffmpeg_frames_and_y4m_header() {
    // FFmpeg's own Y4M header line for each (`ffmpeg -i F -f yuv4mpegpipe`): field
    // order, sample aspect ratio, chroma siting (MPEG-2 left, MPEG-1 centred), 4:2:2.
    let cases = [
        ("ts/mpeg2_mp2.ts", "YUV4MPEG2 W320 H180 F25:1 Ip A1:1 C420mpeg2 XYSCSS=420MPEG2 XCOLORRANGE=LIMITED"),
        ("ts/mpeg2_1440x1080i_aac.ts", "YUV4MPEG2 W1440 H1080 F30000:1001 It A4:3 C420mpeg2 XYSCSS=420MPEG2 XCOLORRANGE=LIMITED"),
        ("ts/mpeg2_576i_mp2.ts", "YUV4MPEG2 W720 H576 F25:1 Ib A16:15 C420mpeg2 XYSCSS=420MPEG2 XCOLORRANGE=LIMITED"),
        ("mpeg2/d_interlaced_tff.m2v", "YUV4MPEG2 W320 H240 F25:1 It A1:1 C420mpeg2 XYSCSS=420MPEG2 XCOLORRANGE=LIMITED"),
        ("mpeg2/l_yuv422.m2v", "YUV4MPEG2 W320 H240 F25:1 Ib A1:1 C422 XYSCSS=422 XCOLORRANGE=LIMITED"),
        ("mpeg2/m_mpeg1.m1v", "YUV4MPEG2 W176 H144 F25:1 Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE=LIMITED"),
        ("mpeg2/t_mpeg2enc_pulldown.m2v", "YUV4MPEG2 W352 H480 F30000:1001 Ip A20:11 C420mpeg2 XYSCSS=420MPEG2 XCOLORRANGE=LIMITED"),
        // Cut mid-GOP: found by content all the same, and the pictures without their
        // references are left out as FFmpeg leaves them out.
        ("mpeg2/r_cut_at_p.m2v", "YUV4MPEG2 W176 H144 F25:1 Ip A1:1 C420mpeg2 XYSCSS=420MPEG2 XCOLORRANGE=LIMITED"),
    ];
    let dir = scratch("decode-mpeg2");
    for (fx, header) in cases {
        let out_path = dir.join("out.y4m");
        let r = transcode(&["convert", path_str(&testdata(fx)), path_str(&out_path)]);
        assert!(r.status.success(), "{fx}: {}", String::from_utf8_lossy(&r.stderr));
        let data = std::fs::read(&out_path).unwrap();
        assert!(data.starts_with(format!("{header}\n").as_bytes()), "{fx}: {:?}", String::from_utf8_lossy(&data[..100]));
        let got: Vec<String> = y4m_frames(&data).iter().map(|f| md5_hex(f)).collect();
        let want: Vec<String> = transcode_testkit::read_framemd5(&testdata(&format!("{fx}.frames"))).entries.into_iter().map(|e| e.md5).collect();
        assert_eq!(got, want, "{fx}: decoded frames differ from FFmpeg's");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn interrupted_job_exits_130_and_leaves_no_output() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = scratch("sigint");
    let out_path = dir.join("out.ts");
    let data = std::fs::read(testdata("ts/h264_aac.ts")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_transcode"))
        .args(["convert", "-", path_str(&out_path)])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Half the input: the job is running and waiting for more.
    stdin.write_all(&data[..data.len() / 2]).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    std::thread::sleep(std::time::Duration::from_millis(100));
    // More input wakes the blocked read; the job sees the request and stops.
    let _ = stdin.write_all(&data[data.len() / 2..]);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn max_memory_bounds_the_job_or_refuses_it_up_front() {
    let dir = scratch("maxmem");
    let input = testdata("ts/h264_aac.ts");
    // 32M: succeeds, and the heap (capped by the allocator at that size) stays under it.
    let out = dir.join("ok.mp4");
    let r = transcode(&["convert", path_str(&input), path_str(&out), "--max-memory", "32M", "--stats"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let stats = String::from_utf8_lossy(&r.stderr);
    assert!(stats.contains("budget:  limit 32.0 MiB"), "{stats}");
    // 1M: refused before anything is written, naming the limit and what is needed.
    let out = dir.join("no.mp4");
    let r = transcode(&["convert", path_str(&input), path_str(&out), "--max-memory", "1M"]);
    assert_eq!(r.status.code(), Some(3));
    let msg = String::from_utf8_lossy(&r.stderr);
    assert!(msg.contains("--max-memory 1.0 MiB") && msg.contains("give at least"), "{msg}");
    assert!(!out.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn program_stream_to_m2v_is_ffmpegs_video_packets_end_to_end() {
    let dir = scratch("ps-m2v");
    for name in ["ps/mpeg2_mp2.vob", "ps/mpeg1_mp2.mpg"] {
        let out_path = dir.join("v.m2v");
        let out = transcode(&["convert", path_str(&testdata(name)), path_str(&out_path)]);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        // The elementary stream is FFmpeg's video packets one after the other: cut it at
        // the oracle's sizes and every piece has the oracle's MD5.
        let es = std::fs::read(&out_path).unwrap();
        let o = transcode_testkit::read_framemd5(&testdata(&format!("{name}.packets")));
        let mut at = 0;
        for e in o.stream(0) {
            assert_eq!(md5_hex(&es[at..at + e.size]), e.md5, "{name}: packet at byte {at}");
            at += e.size;
        }
        assert_eq!(at, es.len(), "{name}");
        std::fs::remove_file(&out_path).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
