//! The transcode job end to end: committed broadcast-style TS in, deinterlaced and
//! scaled H.264 MP4 out, audio copied. Checked against the fixtures' FFmpeg tables:
//!
//! - the copied audio's payloads are FFmpeg's own `-c copy` remux to MP4
//!   (`F.to-mp4.packets`), packet for packet;
//! - the video has as many frames as the deinterlace mode gives (one per frame, or one
//!   per field), each lasting one output frame, and transcode's own H.264 decoder
//!   decodes the output to exactly the encoder's frame count;
//! - the first video pts minus the first audio pts equals the input's (from
//!   `F.packets`) within one frame;
//! - a memory bound too small for the job is refused before anything is written, and a
//!   job stopped midway leaves no output.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use transcode_core::{MediaType, MemoryConfig, StreamInfo};
use transcode_demux_bridge::{open_demuxer, Input};
use transcode_filters::{DeinterlaceConfig, Rate, ScaleConfig, Size};
use transcode_h264::encoder::EncoderConfig;
use transcode_pipeline::{decode, transcode, JobError, OutputFormat, RemuxOptions, Route, TranscodeOptions, VideoEncode};
use transcode_testkit::{md5_hex, read_framemd5, testdata};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pipeline-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn bwdif_scale(rate: Rate, height: u32) -> VideoEncode {
    let mut encoder = EncoderConfig::new(16, 16);
    encoder.qp = 30;
    VideoEncode {
        deinterlace: Some(DeinterlaceConfig { rate, ..DeinterlaceConfig::default() }),
        scale: Some(ScaleConfig::new(Size::Height(height))),
        encoder,
        ..VideoEncode::default()
    }
}

/// One packet read back: pts, dts, duration, payload MD5.
type ReadPacket = (Option<i64>, Option<i64>, Option<i64>, String);

struct Read {
    streams: Vec<StreamInfo>,
    /// Per stream, in file order.
    packets: Vec<Vec<ReadPacket>>,
}

fn read_back(path: &Path) -> Read {
    let mem = MemoryConfig::default();
    let mut d = open_demuxer(Input::open(path, &mem).unwrap(), &mem).unwrap();
    let mut packets: Vec<Vec<_>> = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        if packets.len() <= p.stream {
            packets.resize(p.stream + 1, Vec::new());
        }
        packets[p.stream].push((p.pts, p.dts, p.duration, md5_hex(p.data)));
    }
    Read { streams: d.streams().to_vec(), packets }
}

/// First pts of the input's video and audio streams, in seconds, from the oracle.
fn input_offset(fixture: &str) -> f64 {
    let o = read_framemd5(&testdata(&format!("{fixture}.packets")));
    let first = |k: usize| {
        let (n, d) = o.time_bases[k];
        let pts = o.stream(k).iter().filter_map(|e| e.pts).min().unwrap();
        pts as f64 * n as f64 / d as f64
    };
    first(0) - first(1)
}

/// Transcodes `fixture` and checks everything the module documentation lists.
fn check(fixture: &str, video: VideoEncode, in_frames: u64, frames_per_frame: u64, size: (u32, u32)) {
    let dir = scratch(&fixture.replace('/', "_"));
    let out = dir.join("out.mp4");
    let options = TranscodeOptions::new(OutputFormat::Mp4 { fragmented: false }, video);
    let mut calls = 0u64;
    let report = transcode(&testdata(fixture), &out, &options, &mut |_| calls += 1).unwrap_or_else(|e| panic!("{fixture}: {e}"));
    assert_eq!(report.routes, vec![Route::Encode, Route::Copy]);
    assert_eq!(report.frames_decoded, in_frames, "{fixture}: decoded frames");
    assert_eq!(report.frames_encoded, in_frames * frames_per_frame, "{fixture}: encoded frames");
    assert_eq!(report.streams[0].packets, report.frames_encoded);
    assert_eq!(calls, report.frames_encoded, "one progress call per video packet written");
    assert!(report.memory.peak_reserved <= report.memory_plan.total(), "{fixture}: reserved {} past the plan {}", report.memory.peak_reserved, report.memory_plan.total());
    assert_eq!(report.stages.iter().map(|s| s.name).collect::<Vec<_>>(), ["demux", "decode", "filter", "encode"]);

    // Faststart: ftyp, then moov, then mdat.
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[4..8], b"ftyp");
    let ftyp = u32::from_be_bytes(bytes[0..4].try_into().unwrap()) as usize;
    assert_eq!(&bytes[ftyp + 4..ftyp + 8], b"moov", "{fixture}: moov right after ftyp");

    let back = read_back(&out);
    assert_eq!(back.streams.len(), 2);
    let v = &back.streams[0];
    assert_eq!(v.media_type(), MediaType::Video);
    let vp = v.video.unwrap();
    assert_eq!((vp.width, vp.height), size, "{fixture}: output size");
    let video = &back.packets[0];
    assert_eq!(video.len() as u64, in_frames * frames_per_frame);
    // Every frame lasts one output frame: the input's rate times frames_per_frame.
    let in_rate = read_framemd5(&testdata(&format!("{fixture}.packets")));
    let frame_s = {
        let e = in_rate.stream(0);
        let (n, d) = in_rate.time_bases[0];
        e[0].duration as f64 * n as f64 / d as f64 / frames_per_frame as f64
    };
    let vtb = v.time_base;
    let mut pts: Vec<i64> = video.iter().map(|p| p.0.unwrap()).collect();
    pts.sort_unstable();
    for w in pts.windows(2) {
        let step = vtb.seconds(w[1] - w[0]);
        assert!((step - frame_s).abs() < 1e-3, "{fixture}: frame step {step} s (expected {frame_s} s)");
    }
    let video_duration = vtb.seconds(pts[pts.len() - 1] - pts[0]) + frame_s;
    assert!((video_duration - frame_s * video.len() as f64).abs() < 1e-3);

    // Audio: FFmpeg's remux of the same input to MP4, payload for payload.
    let oracle = read_framemd5(&testdata(&format!("{fixture}.to-mp4.packets")));
    let want: Vec<&str> = oracle.stream(1).iter().map(|e| e.md5.as_str()).collect();
    let got: Vec<&str> = back.packets[1].iter().map(|p| p.3.as_str()).collect();
    assert_eq!(got, want, "{fixture}: copied audio payloads");
    assert_eq!(report.streams[1].packets as usize, want.len());

    // A/V offset within one frame of the input's.
    let a = &back.streams[1];
    let first_a = a.time_base.seconds(back.packets[1].iter().filter_map(|p| p.0).min().unwrap());
    let offset = vtb.seconds(pts[0]) - first_a;
    let want_offset = input_offset(fixture);
    assert!((offset - want_offset).abs() <= frame_s, "{fixture}: a/v offset {offset} s (input {want_offset} s)");

    // transcode's own decoder reads every encoded frame back.
    let y4m = dir.join("back.y4m");
    let d = decode(&out, &y4m, &RemuxOptions::new(OutputFormat::Y4m), None, &mut |_| {}).unwrap();
    assert_eq!(d.frames, report.frames_encoded, "{fixture}: frames decoded back");
    assert_eq!(d.errors, 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mpeg2_576i_mp2_bwdif_frame_rate_scaled() {
    // 720x576 at SAR 16:15 to height 144: 192x144 square pixels; 20 frames stay 20.
    check("ts/mpeg2_576i_mp2.ts", bwdif_scale(Rate::FrameRate, 144), 20, 1, (192, 144));
}

#[test]
fn h264_aac_bwdif_field_rate_scaled() {
    // 320x180 progressive marked, deinterlaced anyway (deint=all) at field rate: 50
    // frames become 100 at 50 fps; height 90 gives 160x90.
    check("ts/h264_aac.ts", bwdif_scale(Rate::FieldRate, 90), 50, 2, (160, 90));
}

#[test]
fn h264_1080i_mbaff_mp2_bwdif_scaled() {
    // A DVB-style recording: H.264 1080i coded MBAFF, with MP2. 25 frames stay 25;
    // 1920x1080 square pixels to height 360 gives 640x360.
    check("transcode/h264_1080i_mbaff_mp2.ts", bwdif_scale(Rate::FrameRate, 360), 25, 1, (640, 360));
}

#[test]
fn memory_bound_is_checked_before_the_first_frame() {
    let dir = scratch("memory");
    let out = dir.join("out.mp4");
    let mut options = TranscodeOptions::new(OutputFormat::Mp4 { fragmented: false }, bwdif_scale(Rate::FrameRate, 144));
    // Enough for a remux (the smallest job), not for 1440x1080 pictures and queues.
    options.memory = MemoryConfig::with_max_memory(24 << 20);
    assert!(options.memory.check_fits().is_ok());
    let mut calls = 0;
    let err = transcode(&testdata("ts/mpeg2_1440x1080i_aac.ts"), &out, &options, &mut |_| calls += 1).unwrap_err();
    match &err {
        JobError::Input { source: transcode_core::Error::LimitExceeded { what, requested, limit }, .. } => {
            assert!(what.starts_with("the transcode job"), "{what}");
            assert_eq!(*limit, 24 << 20);
            assert!(*requested > *limit);
        }
        other => panic!("expected a limit error, got {other}"),
    }
    assert!(err.to_string().contains("the transcode job"), "{err}");
    assert_eq!(calls, 0, "nothing was written before the check");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "no output left behind");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_job_stopped_midway_leaves_no_output() {
    let dir = scratch("cancel");
    let out = dir.join("out.mp4");
    let mut options = TranscodeOptions::new(OutputFormat::Mp4 { fragmented: false }, bwdif_scale(Rate::FrameRate, 144));
    let cancel = Arc::new(AtomicBool::new(false));
    options.cancel = Some(cancel.clone());
    let mut calls = 0;
    // Stop after the third frame is written: every stage is running by then.
    let err = transcode(&testdata("ts/mpeg2_576i_mp2.ts"), &out, &options, &mut |_| {
        calls += 1;
        if calls == 3 {
            cancel.store(true, Ordering::Relaxed);
        }
    })
    .unwrap_err();
    assert!(matches!(err, JobError::Interrupted), "{err}");
    assert!(calls >= 3);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "no output or temporary file left");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_encoder_error_fails_the_job_with_one_error_and_no_output() {
    let dir = scratch("odd");
    let out = dir.join("out.mp4");
    // An odd height cannot be 4:2:0 H.264: refused before the job starts, naming it.
    let mut video = bwdif_scale(Rate::FrameRate, 144);
    video.scale = Some(ScaleConfig::new(Size::Exact { width: 190, height: 143 }));
    let options = TranscodeOptions::new(OutputFormat::Mp4 { fragmented: false }, video);
    let err = transcode(&testdata("ts/mpeg2_576i_mp2.ts"), &out, &options, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("190x143"), "{err}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pts_discontinuities_are_closed_and_every_audio_packet_is_kept() {
    let fixture = "transcode/discontinuity.ts";
    let dir = scratch("discontinuity");
    let out = dir.join("out.mp4");
    let options = TranscodeOptions::new(OutputFormat::Mp4 { fragmented: false }, bwdif_scale(Rate::FrameRate, 144));
    let report = transcode(&testdata(fixture), &out, &options, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.routes, vec![Route::Encode, Route::Copy, Route::Copy], "the late second audio is declared from the start");
    assert_eq!(report.frames_encoded, 27);

    let oracle = read_framemd5(&testdata(&format!("{fixture}.demux.framemd5")));
    let back = read_back(&out);
    assert_eq!(back.streams.len(), 3);
    // Every audio packet of both streams, payloads unchanged, in order.
    for k in [1, 2] {
        let want: Vec<&str> = oracle.stream(k).iter().map(|e| e.md5.as_str()).collect();
        let got: Vec<&str> = back.packets[k].iter().map(|p| p.3.as_str()).collect();
        assert_eq!(got, want, "audio stream {k}");
    }
    // The video timeline is closed: one frame after another, 40 ms apart.
    let vtb = back.streams[0].time_base;
    let mut vpts: Vec<i64> = back.packets[0].iter().map(|p| p.0.unwrap()).collect();
    vpts.sort_unstable();
    for w in vpts.windows(2) {
        assert!((vtb.seconds(w[1] - w[0]) - 0.04).abs() < 1e-3, "video step {} s", vtb.seconds(w[1] - w[0]));
    }
    // Each audio segment starts where it did relative to its segment's video, within a
    // frame, across both jumps. The three segments are copies of one (the second moved
    // by 30 s), so each stream's packets split in three equal runs, and every segment
    // has the first one's offset. (The oracle's own timestamps past the backward jump
    // are FFmpeg's clamped ones, so only the first segment's are read.)
    let first_pts = |k: usize, n: usize| {
        let (num, den) = oracle.time_bases[k];
        let e = oracle.stream(k);
        e[..n].iter().filter_map(|e| e.pts).min().unwrap() as f64 * num as f64 / den as f64
    };
    let per_segment = |k: usize| {
        let n = oracle.stream(k).len();
        assert_eq!(n % 3, 0, "stream {k}: {n} packets in three equal segments");
        n / 3
    };
    let nv = per_segment(0);
    assert_eq!(nv, 9);
    for k in [1, 2] {
        let na = per_segment(k);
        let want = first_pts(k, na) - first_pts(0, nv);
        let atb = back.streams[k].time_base;
        for seg in 0..3 {
            let a_out = back.packets[k][na * seg..na * (seg + 1)].iter().filter_map(|p| p.0).min().unwrap();
            let got = atb.seconds(a_out) - vtb.seconds(vpts[nv * seg]);
            assert!((got - want).abs() <= 0.04, "stream {k} segment {seg}: a/v offset {got:.3} s (input {want:.3} s)");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// FFmpeg's caption triplets of `testdata/transcode/captions.m2v`, frame by frame in
/// display order (`captions.m2v.cc.hex`, from lavfi's `subcc`), and their FNV-1a.
fn ffmpeg_captions() -> (Vec<Vec<u8>>, u64) {
    let text = std::fs::read_to_string(testdata("transcode/captions.m2v.cc.hex")).unwrap();
    let mut digest = 0xcbf2_9ce4_8422_2325u64;
    let mut frames = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let bytes: Vec<u8> = (0..line.len()).step_by(2).map(|k| u8::from_str_radix(&line[k..k + 2], 16).unwrap()).collect();
        for &b in &bytes {
            digest = (digest ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        frames.push(bytes);
    }
    (frames, digest)
}

/// The `cc_data` triplets of the A/53 caption SEI (`user_data_registered_itu_t_t35`,
/// country 0xB5, provider 0x0031, `GA94`, type 3) in one MP4 sample of 4-byte
/// length-prefixed NAL units; empty when it has none. Written from H.264 D.1 and
/// A/53 Part 4, independently of the encoder's writer.
fn sei_captions(sample: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = sample;
    while rest.len() >= 4 {
        let n = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let (nal, tail) = rest[4..].split_at(n);
        rest = tail;
        if nal[0] & 0x1f != 6 {
            continue;
        }
        // Emulation prevention bytes out.
        let mut rbsp = Vec::new();
        for &b in &nal[1..] {
            if b == 3 && rbsp.ends_with(&[0, 0]) {
                continue;
            }
            rbsp.push(b);
        }
        let mut i = 0;
        // sei_message()s until the rbsp_trailing_bits.
        while i < rbsp.len() && rbsp[i] != 0x80 {
            let (mut kind, mut size) = (0usize, 0usize);
            while rbsp[i] == 0xff {
                kind += 255;
                i += 1;
            }
            kind += rbsp[i] as usize;
            i += 1;
            while rbsp[i] == 0xff {
                size += 255;
                i += 1;
            }
            size += rbsp[i] as usize;
            i += 1;
            let p = &rbsp[i..i + size];
            i += size;
            if kind == 4 && p.len() >= 11 && p[..10] == [0xb5, 0, 0x31, b'G', b'A', b'9', b'4', 3, p[8], p[9]][..] && p[7] == 3 {
                assert_eq!(p[8] & 0x40, 0x40, "process_cc_data_flag");
                let count = (p[8] & 0x1f) as usize;
                assert_eq!(p.len(), 11 + 3 * count, "payload size for cc_count {count}");
                assert_eq!(p[10 + 3 * count], 0xff, "marker_bits");
                out.extend_from_slice(&p[10..10 + 3 * count]);
            }
        }
    }
    out
}

/// Issue 12's captions: the A/53 captions of an MPEG-2 recording travel on their
/// frames through the filters and come out as caption SEI in the H.264 output, each
/// picture's once (on the first of the two frames bwdif makes of it at field rate),
/// in display order with FFmpeg's bytes, across the encoder's B-picture reordering.
#[test]
fn a53_captions_are_written_as_sei_once_per_picture_in_display_order() {
    let (want, want_digest) = ffmpeg_captions();
    assert_eq!(want.len(), 12, "the fixture's oracle");
    let dir = scratch("captions");
    let input = testdata("transcode/captions.m2v");
    for (rate, frames_out) in [(Rate::FrameRate, 12), (Rate::FieldRate, 24)] {
        let out = dir.join("out.mp4");
        let mut video = bwdif_scale(rate, 144);
        // The CLI's default: the captions must survive reordering.
        video.encoder.bframes = 3;
        let opts = TranscodeOptions::new(OutputFormat::Mp4 { fragmented: false }, video);
        let r = transcode(&input, &out, &opts, &mut |_| {}).unwrap();
        assert_eq!(r.frames_encoded, frames_out, "{rate:?}");
        assert_eq!(r.captions_seen, want.len() as u64, "{rate:?}");
        assert_eq!(r.captions_kept, want.len() as u64, "{rate:?}: each picture's captions once");
        assert_eq!(r.captions_digest, want_digest, "{rate:?}: FFmpeg's triplets in its order");
        // Read back: the samples in display order, each one's caption SEI.
        let mem = MemoryConfig::default();
        let mut d = open_demuxer(Input::open(&out, &mem).unwrap(), &mem).unwrap();
        let mut samples = Vec::new();
        let mut reordered = false;
        while let Some(p) = d.next_packet().unwrap() {
            assert_eq!(p.stream, 0, "video only");
            reordered |= p.pts != p.dts;
            samples.push((p.pts.unwrap(), sei_captions(p.data)));
        }
        assert!(reordered, "{rate:?}: B pictures");
        assert_eq!(samples.len() as u64, frames_out);
        samples.sort_by_key(|s| s.0);
        let got: Vec<Vec<u8>> = samples.iter().map(|s| s.1.clone()).filter(|c| !c.is_empty()).collect();
        assert_eq!(got, want, "{rate:?}: the captions in display order");
        if rate == Rate::FieldRate {
            // On the first frame of each picture, the top field's (tff).
            assert!(samples.iter().step_by(2).all(|s| !s.1.is_empty()) && samples.iter().skip(1).step_by(2).all(|s| s.1.is_empty()));
        }
    }
    // A stream without captions has none to count.
    let plain = testdata("ts/mpeg2_576i_mp2.ts");
    let out = dir.join("plain.mp4");
    let r = transcode(&plain, &out, &TranscodeOptions::new(OutputFormat::Mp4 { fragmented: false }, bwdif_scale(Rate::FrameRate, 144)), &mut |_| {}).unwrap();
    assert_eq!((r.captions_seen, r.captions_kept), (0, 0));
    std::fs::remove_dir_all(&dir).unwrap();
}
