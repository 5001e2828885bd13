//! The routes every job shares: a remux (copy routes) and a decode (one raw route) run
//! the same front end on the caller's thread, so they agree on what the input holds,
//! and a strict job fails on demuxer damage whichever routes it has.

use std::path::PathBuf;

use transcode_pipeline::{decode, remux, JobError, OutputFormat, RemuxOptions, StreamSelection};
use transcode_testkit::testdata;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pipeline-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A decode writes one picture per copied video packet of a stream that starts on a
/// keyframe and has no B-frames held back at the end: both routes see the same packets.
#[test]
fn a_decode_and_a_video_remux_see_the_same_stream() {
    let dir = scratch("routes-agree");
    let input = testdata("ts/h264_aac.ts");
    let mut opts = RemuxOptions::new(OutputFormat::H264);
    opts.selection = StreamSelection::Video;
    let copy = remux(&input, &dir.join("v.h264"), &opts, &mut |_| {}).unwrap();
    let raw = decode(&input, &dir.join("v.y4m"), &RemuxOptions::new(OutputFormat::Y4m), None, &mut |_| {}).unwrap();
    assert_eq!(copy.streams.len(), 1);
    assert_eq!(raw.stream, copy.streams[0].input_index);
    assert_eq!(raw.frames, copy.streams[0].packets, "one picture per access unit");
    assert_eq!(raw.errors, 0);
    assert_eq!(raw.demux.bytes_read, copy.demux.bytes_read, "both read the whole input once in their write pass");
    // A frame limit stops the raw route's reading early.
    let few = decode(&input, &dir.join("few.y4m"), &RemuxOptions::new(OutputFormat::Y4m), Some(3), &mut |_| {}).unwrap();
    assert_eq!(few.frames, 3);
    assert!(few.demux.bytes_read < raw.demux.bytes_read);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Regression: a strict decode used to ignore the demuxer's damage (a remux failed on
/// it); both jobs now share the one strict check and leave nothing behind.
#[test]
fn a_strict_decode_fails_on_a_truncated_input_as_a_strict_remux_does() {
    let dir = scratch("routes-strict");
    let data = std::fs::read(testdata("ts/h264_aac.ts")).unwrap();
    let input = dir.join("cut.ts");
    std::fs::write(&input, &data[..data.len() * 2 / 3 + 100]).unwrap();
    let mut strict = RemuxOptions::new(OutputFormat::Y4m);
    strict.strict = true;
    for (name, run) in [
        ("y4m", decode(&input, &dir.join("out.y4m"), &strict, None, &mut |_| {}).map(|_| ())),
        ("ts", remux(&input, &dir.join("out.ts"), &RemuxOptions { format: OutputFormat::MpegTs, ..strict.clone() }, &mut |_| {}).map(|_| ())),
    ] {
        match run {
            Err(JobError::Input { source, .. }) => assert!(source.to_string().contains("damaged input (--strict)"), "{name}: {source}"),
            other => panic!("{name}: expected the strict damage error, got {other:?}"),
        }
        assert!(!dir.join(format!("out.{name}")).exists(), "{name}: output left behind");
    }
    // Without --strict the damage is reported and what was whole is kept.
    let r = decode(&input, &dir.join("out.y4m"), &RemuxOptions::new(OutputFormat::Y4m), None, &mut |_| {}).unwrap();
    assert!(r.frames > 0 && r.demux.summary().is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}
