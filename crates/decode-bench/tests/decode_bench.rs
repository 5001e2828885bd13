//! Runs the benchmark binary with `--framemd5` on the committed H.264 fixtures and
//! checks every decoder's pictures, in display order, against FFmpeg's framemd5 tables,
//! so the benchmark's frame counts and its correctness pass can be trusted.
#![forbid(unsafe_code)]

use std::process::Command;
use transcode_testkit::{read_framemd5, testdata};

/// The decoders in this build (the other two are behind cargo features, on by default).
fn decoders() -> Vec<&'static str> {
    let mut d = vec!["transcode"];
    if cfg!(feature = "rust_h264") {
        d.push("rust_h264");
    }
    if cfg!(feature = "rusty_h264") {
        d.push("rusty_h264");
    }
    d
}

struct Output {
    code: Option<i32>,
    md5s: Vec<String>,
    summary: String,
    stderr: String,
}

fn bench(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_transcode-decode-bench")).args(args).output().expect("run transcode-decode-bench");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    Output {
        code: out.status.code(),
        md5s: stdout.lines().filter_map(|l| l.strip_prefix("md5 ")).map(str::to_string).collect(),
        summary: stdout.lines().find(|l| l.starts_with("decoder=")).unwrap_or("").to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn field<'a>(summary: &'a str, key: &str) -> &'a str {
    summary.split_whitespace().find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')).unwrap_or_else(|| panic!("no {key}= in {summary:?}"))
}

/// Fixtures only transcode's decoder is checked on: the other decoders have no
/// interlaced (MBAFF) support (rusty_h264 refuses it, rust_h264 decodes it wrongly).
const TRANSCODE_ONLY: &[&str] = &["p_interlaced.h264"];

/// The fixtures of `testdata/h264/expected.txt`, with what transcode's decoder must do
/// with them: `ok`, or the start of its error.
fn expected() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(testdata("h264/expected.txt")).expect("testdata/h264/expected.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, what) = l.split_once(' ').expect("name and expectation");
            (name.to_string(), what.trim().to_string())
        })
        .collect()
}

#[test]
fn every_decoder_matches_ffmpeg_on_supported_fixtures() {
    let mut checked = 0;
    for (name, what) in expected() {
        if what != "ok" {
            continue;
        }
        let path = testdata(&format!("h264/{name}"));
        let oracle: Vec<String> = read_framemd5(&path.with_file_name(format!("{}.frames", path.file_name().unwrap().to_string_lossy()))).stream(0).iter().map(|e| e.md5.clone()).collect();
        assert!(!oracle.is_empty(), "{name}: empty oracle");
        for dec in decoders() {
            if dec != "transcode" && TRANSCODE_ONLY.contains(&name.as_str()) {
                continue;
            }
            let out = bench(&[dec, path.to_str().unwrap(), "--framemd5"]);
            assert_eq!(out.code, Some(0), "{dec} on {name}: {}", out.stderr);
            assert_eq!(out.md5s, oracle, "{dec} on {name}: frames differ from ffmpeg's");
            assert_eq!(field(&out.summary, "frames"), oracle.len().to_string(), "{dec} on {name}");
            assert_eq!(field(&out.summary, "errors"), "0", "{dec} on {name}");
            checked += 1;
        }
    }
    assert!(checked >= decoders().len() * 15, "only {checked} decoder runs checked");
}

#[test]
fn unsupported_streams_fail_with_the_decoders_error() {
    let mut checked = 0;
    for (name, what) in expected() {
        if what == "ok" {
            continue;
        }
        let out = bench(&["transcode", testdata(&format!("h264/{name}")).to_str().unwrap()]);
        assert_eq!(out.code, Some(1), "{name}: {}", out.stderr);
        assert_ne!(field(&out.summary, "errors"), "0", "{name}");
        let message = what.strip_prefix("unsupported: ").unwrap_or_else(|| panic!("{name}: unexpected expectation {what:?}"));
        assert!(out.stderr.contains(message), "{name}: expected {message:?}, got {:?}", out.stderr);
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} unsupported fixtures checked");
}

#[test]
fn usage_errors_exit_with_status_2() {
    let fixture = testdata("h264/c_baseline_p.h264");
    assert_eq!(bench(&["ffmpeg", fixture.to_str().unwrap()]).code, Some(2));
    assert_eq!(bench(&["transcode"]).code, Some(2));
    assert_eq!(bench(&["transcode", "/nonexistent/file.h264"]).code, Some(2));
}
