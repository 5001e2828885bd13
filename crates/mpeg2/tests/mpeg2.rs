//! Integration tests of the MPEG-1/MPEG-2 video decoder: every fixture against its
//! FFmpeg framemd5 table, fed whole and in odd chunks, plus damaged input.

use std::path::{Path, PathBuf};
use transcode_core::{Error, MemoryConfig};
use transcode_mpeg2::{DecodeStatus, Decoder};
use transcode_testkit::{md5_hex, read_framemd5, testdata};

/// Decodes `data` sent in pieces of `chunk` bytes, returning frame MD5s in output
/// order and the errors met.
fn decode_md5s(data: &[u8], chunk: usize) -> (Vec<String>, Vec<Error>) {
    let mut dec = Decoder::new(&MemoryConfig::default());
    let mut md5s = Vec::new();
    let mut errors = Vec::new();
    let mut buf = Vec::new();
    let mut drain = |dec: &mut Decoder, md5s: &mut Vec<String>| {
        while let Some(f) = dec.next_frame() {
            buf.clear();
            f.write_planar(&mut buf);
            md5s.push(md5_hex(&buf));
        }
    };
    for piece in data.chunks(chunk.max(1)) {
        let mut rest = piece;
        loop {
            match dec.send(rest) {
                Ok(DecodeStatus::Done) => break,
                Ok(DecodeStatus::NeedsOutput { consumed }) => {
                    rest = &rest[consumed..];
                    drain(&mut dec, &mut md5s);
                }
                Err(e) => {
                    errors.push(e);
                    break;
                }
            }
        }
        drain(&mut dec, &mut md5s);
    }
    dec.flush();
    drain(&mut dec, &mut md5s);
    (md5s, errors)
}

/// Every stream with a `.frames` oracle in `testdata/mpeg2/` and `testdata/mpeg2-synth/`.
fn fixtures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["mpeg2", "mpeg2-synth"] {
        let Ok(rd) = std::fs::read_dir(testdata(dir)) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with(".frames") {
                out.push(p.with_file_name(name.trim_end_matches(".frames")));
            }
        }
    }
    out.sort();
    out
}

fn oracle(path: &Path) -> Vec<String> {
    let o = read_framemd5(&path.with_file_name(format!("{}.frames", path.file_name().unwrap().to_string_lossy())));
    o.entries.iter().map(|e| e.md5.clone()).collect()
}

mod conformance {
    use super::*;

    fn check(chunk: usize) {
        let mut failures = Vec::new();
        let all = fixtures();
        assert!(all.len() >= 20, "fixtures missing: {all:?}");
        for path in &all {
            let data = std::fs::read(path).unwrap();
            let want = oracle(path);
            let (got, errors) = decode_md5s(&data, chunk);
            let name = path.file_name().unwrap().to_string_lossy();
            if !errors.is_empty() {
                failures.push(format!("{name}: errors {errors:?}"));
            }
            if want != got {
                let first = (0..want.len().max(got.len())).find(|&i| want.get(i) != got.get(i));
                failures.push(format!("{name}: {} frames vs {} expected, first mismatch at frame {first:?}", got.len(), want.len()));
            }
        }
        assert!(failures.is_empty(), "chunk {chunk}:\n{}", failures.join("\n"));
    }

    #[test]
    fn every_fixture_matches_ffmpeg_whole() {
        check(usize::MAX);
    }

    #[test]
    fn every_fixture_matches_ffmpeg_in_ts_payload_sized_chunks() {
        check(184);
    }

    #[test]
    fn every_fixture_matches_ffmpeg_in_seven_byte_chunks() {
        check(7);
    }
}
