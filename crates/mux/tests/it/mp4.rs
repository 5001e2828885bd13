//! MP4 muxer tests: remux every fixture that has an FFmpeg `F.to-mp4.packets` oracle to
//! progressive and to fragmented MP4, read the result back with `Mp4Demuxer`, and check:
//!
//! - per stream, every packet's size and MD5 equal the oracle's (FFmpeg's own `-c copy`
//!   remux to MP4, read back): the payload conversion (Annex-B to length-prefixed, ADTS
//!   header removal) is byte-exact;
//! - per stream, timestamps equal the input's: with `R` the rescale from the input's time
//!   base (`F.packets`' `#tb`) to the output track's, packet `i` read back has
//!   `dts_i - dts_0 = R(in_dts_i) - R(in_dts_0)` and `pts_i - dts_0 = R(in_pts_i) - R(in_dts_0)`
//!   (pts only where the input has one); the streams' first presentation times keep their
//!   offset to each other within a millisecond (the edit-list's empty edit is in movie
//!   ticks);
//! - the avcC/hvcC and AudioSpecificConfig read back equal FFmpeg's (`#extradata` lines
//!   of the oracle) and the input's;
//! - structure: progressive output is `ftyp`, `moov`, `mdat` in that order and every
//!   sample lies inside the mdat; fragmented output is `ftyp`, `moov`, then `moof`+`mdat`
//!   pairs, each fragment's video starting with a keyframe.

use std::io::Write;
use std::sync::{Arc, Mutex};

use transcode_core::{MemoryConfig, PacketView, StreamInfo, TimeBase};
use transcode_demux_bridge::mp4::Mp4Demuxer;
use transcode_demux_bridge::{open_demuxer, Demuxer, Input};
use transcode_mux::mp4::{Mp4Muxer, Mp4Options};
use transcode_mux::Muxer;
use transcode_testkit::{md5_hex, read_framemd5, testdata, testdata_dir, Oracle};

/// A writer whose bytes the test can read back after the muxer is done.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn open(rel: &str) -> Box<dyn Demuxer + Send> {
    let config = MemoryConfig::default();
    open_demuxer(Input::open(&testdata(rel), &config).unwrap(), &config).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every fixture with a to-mp4 oracle.
fn fixtures() -> Vec<String> {
    let mut out: Vec<String> = transcode_testkit::fixtures()
        .into_iter()
        .filter(|f| testdata_dir().join(format!("{f}.to-mp4.packets")).exists())
        .collect();
    out.sort();
    out
}

/// Remuxes `rel` to MP4 the way the pipeline driver does: a planning pass when the muxer
/// asks for one, then `begin` with the streams and the write pass.
fn remux_with(rel: &str, options: Mp4Options) -> (Vec<u8>, Vec<StreamInfo>, u64) {
    let out = Shared::default();
    let mut mux = Mp4Muxer::new(Box::new(out.clone()), options);
    // The streams, complete (a TS demuxer may find a stream late).
    let mut d = open(rel);
    while d.next_packet().unwrap().is_some() {}
    let streams = d.streams().to_vec();
    if mux.wants_plan_pass() {
        let mut d = open(rel);
        while let Some(p) = d.next_packet().unwrap() {
            let info = streams[p.stream].clone();
            mux.plan_packet(&info, &p).unwrap_or_else(|e| panic!("{rel}: plan: {e}"));
        }
    }
    mux.begin(&streams).unwrap_or_else(|e| panic!("{rel}: begin: {e}"));
    let mut d = open(rel);
    while let Some(p) = d.next_packet().unwrap() {
        mux.write_packet(&p).unwrap_or_else(|e| panic!("{rel}: write: {e}"));
    }
    mux.finish().unwrap();
    let calls = mux.write_calls();
    assert_eq!(mux.bytes_written(), out.0.lock().unwrap().len() as u64);
    let bytes = std::mem::take(&mut *out.0.lock().unwrap());
    (bytes, streams, calls)
}

fn remux(rel: &str, fragmented: bool) -> Vec<u8> {
    remux_with(rel, Mp4Options { fragmented, ..Default::default() }).0
}

#[derive(Debug, Clone)]
struct Got {
    stream: usize,
    size: usize,
    md5: String,
    dts: i64,
    pts: i64,
    keyframe: bool,
    pos: u64,
}

fn read_back(bytes: Vec<u8>) -> (Vec<StreamInfo>, Vec<Got>, bool) {
    let mut d = Mp4Demuxer::new(Input::from_bytes(bytes, "out.mp4"), &MemoryConfig::default()).unwrap();
    let mut got = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        got.push(Got {
            stream: p.stream,
            size: p.data.len(),
            md5: md5_hex(p.data),
            dts: p.dts.unwrap(),
            pts: p.pts.unwrap(),
            keyframe: p.keyframe,
            pos: p.pos.unwrap(),
        });
    }
    assert!(!d.stats().truncated);
    (d.streams().to_vec(), got, d.is_fragmented())
}

fn extradata_lines(path: &str) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(testdata(path)).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("#extradata "))
        .map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            (f[1].parse().unwrap(), f[2].to_string())
        })
        .collect()
}

fn check_against_oracles(rel: &str, fragmented: bool) {
    let ctx = format!("{rel} ({})", if fragmented { "fragmented" } else { "progressive" });
    let (bytes, in_streams, _) = remux_with(rel, Mp4Options { fragmented, ..Default::default() });
    let (streams, got, is_frag) = read_back(bytes);
    assert_eq!(is_frag, fragmented, "{ctx}");
    let remuxed: Oracle = read_framemd5(&testdata(&format!("{rel}.to-mp4.packets")));
    let input: Oracle = read_framemd5(&testdata(&format!("{rel}.packets")));
    assert_eq!(streams.len(), remuxed.time_bases.len(), "{ctx}: stream count");

    let extra = extradata_lines(&format!("{rel}.to-mp4.packets"));
    let mut first_pts_seconds = Vec::new();
    for (s, info) in streams.iter().enumerate() {
        let mine: Vec<&Got> = got.iter().filter(|g| g.stream == s).collect();
        let want = remuxed.stream(s);
        assert_eq!(mine.len(), want.len(), "{ctx}: stream {s} packet count");
        for (i, (g, w)) in mine.iter().zip(&want).enumerate() {
            assert_eq!((g.size, &g.md5), (w.size, &w.md5), "{ctx}: stream {s} packet {i}");
        }
        // Codec configuration: FFmpeg's and the input's.
        if let Some((len, md5)) = extra.get(s) {
            assert_eq!((info.extradata.len(), &md5_hex(&info.extradata)), (*len, md5), "{ctx}: stream {s} extradata");
        }
        assert_eq!(info.extradata, in_streams[s].extradata, "{ctx}: stream {s} extradata vs input");
        assert_eq!(info.codec, in_streams[s].codec, "{ctx}");

        // Timestamps, relative to the stream's first packet.
        let (n, d) = input.time_bases[s];
        let in_tb = TimeBase::new(n, d);
        let r = |t: i64| in_tb.rescale(t, info.time_base);
        let src = input.stream(s);
        assert_eq!(src.len(), mine.len(), "{ctx}: stream {s} input packet count");
        let (in_d0, out_d0) = (r(src[0].dts.unwrap()), mine[0].dts);
        for (i, (g, w)) in mine.iter().zip(&src).enumerate() {
            assert_eq!(g.dts - out_d0, r(w.dts.unwrap()) - in_d0, "{ctx}: stream {s} packet {i} dts");
            if let Some(p) = w.pts {
                assert_eq!(g.pts - out_d0, r(p) - in_d0, "{ctx}: stream {s} packet {i} pts");
            }
        }
        let in_first = src[0].pts.or(src[0].dts).unwrap();
        first_pts_seconds.push((in_tb.seconds(in_first), info.time_base.seconds(mine[0].pts)));
    }
    // The streams' start offsets against each other.
    for w in first_pts_seconds.windows(2) {
        let (a, b) = (w[0].0 - w[1].0, w[0].1 - w[1].1);
        assert!((a - b).abs() < 0.001, "{ctx}: start offset {b} s, input {a} s");
    }
    // Keyframes come where the input has them (video: first of each GOP).
    let keys = got.iter().filter(|g| g.stream == 0 && g.keyframe).count();
    assert!(keys >= 1, "{ctx}");
}

#[test]
fn remux_matches_ffmpeg_progressive() {
    let all = fixtures();
    assert!(all.len() >= 3, "{all:?}");
    for rel in &all {
        check_against_oracles(rel, false);
    }
}

#[test]
fn remux_matches_ffmpeg_fragmented() {
    for rel in &fixtures() {
        check_against_oracles(rel, true);
    }
}

/// (type, offset, size) of each top-level box.
fn top_level(bytes: &[u8]) -> Vec<([u8; 4], u64, u64)> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= bytes.len() {
        let mut size = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as u64;
        let typ: [u8; 4] = bytes[pos + 4..pos + 8].try_into().unwrap();
        if size == 1 {
            size = u64::from_be_bytes(bytes[pos + 8..pos + 16].try_into().unwrap());
        }
        assert!(size >= 8 && pos as u64 + size <= bytes.len() as u64, "box at {pos}");
        out.push((typ, pos as u64, size));
        pos += size as usize;
    }
    assert_eq!(pos, bytes.len(), "boxes cover the file exactly");
    out
}

#[test]
fn progressive_layout_is_faststart_with_offsets_inside_mdat() {
    for rel in ["mp4/h264_aac.mp4", "ts/h264_aac.ts"] {
        let bytes = remux(rel, false);
        let boxes = top_level(&bytes);
        let types: Vec<&[u8; 4]> = boxes.iter().map(|b| &b.0).collect();
        assert_eq!(types, [b"ftyp", b"moov", b"mdat"], "{rel}");
        let (_, mdat_at, mdat_size) = boxes[2];
        let (_, got, _) = read_back(bytes.clone());
        // Every sample (so every chunk offset) lies in the mdat body, and together the
        // samples fill it exactly: nothing else is in the mdat.
        let mut total = 0u64;
        for g in &got {
            assert!(g.pos >= mdat_at + 8 && g.pos + g.size as u64 <= mdat_at + mdat_size, "{rel}: sample at {}", g.pos);
            total += g.size as u64;
        }
        assert_eq!(total, mdat_size - 8, "{rel}");
        // stco entries: read them from the moov directly.
        let moov = &bytes[boxes[1].1 as usize..(boxes[1].1 + boxes[1].2) as usize];
        let mut n = 0;
        for at in moov.windows(4).enumerate().filter(|(_, w)| w == b"stco").map(|(i, _)| i) {
            let count = u32::from_be_bytes(moov[at + 8..at + 12].try_into().unwrap()) as usize;
            for c in 0..count {
                let o = u32::from_be_bytes(moov[at + 12 + c * 4..at + 16 + c * 4].try_into().unwrap()) as u64;
                assert!(o >= mdat_at + 8 && o < mdat_at + mdat_size, "{rel}: chunk offset {o}");
                n += 1;
            }
        }
        assert!(n >= 2, "{rel}: {n} chunk offsets");
    }
}

#[test]
fn fragmented_layout_has_a_fragment_per_gop() {
    let bytes = remux("mp4/h264_aac.mp4", true);
    let boxes = top_level(&bytes);
    let types: Vec<String> = boxes.iter().map(|b| String::from_utf8_lossy(&b.0).to_string()).collect();
    // Two GOPs of 25 frames: two fragments.
    assert_eq!(types, ["ftyp", "moov", "moof", "mdat", "moof", "mdat"]);
    let (_, got, _) = read_back(bytes);
    let video: Vec<&Got> = got.iter().filter(|g| g.stream == 0).collect();
    assert!(video[0].keyframe && video[25].keyframe);
    // The second fragment starts with that keyframe.
    let second_moof = boxes[4].1;
    let first_in_second = got.iter().filter(|g| g.stream == 0).find(|g| g.pos > second_moof).unwrap();
    assert!(first_in_second.keyframe);
}

#[test]
fn small_fragment_budget_splits_early() {
    let options = Mp4Options { fragmented: true, max_fragment_bytes: 8 << 10, ..Default::default() };
    let (bytes, _, _) = remux_with("mp4/h264_aac.mp4", options);
    let moofs = top_level(&bytes).iter().filter(|b| &b.0 == b"moof").count();
    assert!(moofs > 6, "{moofs} fragments");
    let (_, got, _) = read_back(bytes);
    let want = read_framemd5(&testdata("mp4/h264_aac.mp4.to-mp4.packets"));
    for s in 0..2 {
        let md5s: Vec<&str> = got.iter().filter(|g| g.stream == s).map(|g| g.md5.as_str()).collect();
        let w: Vec<&str> = want.stream(s).iter().map(|e| e.md5.as_str()).collect();
        assert_eq!(md5s, w);
    }
}

#[test]
fn payload_goes_out_in_few_large_writes() {
    let options = Mp4Options { write_buffer_size: 16 << 10, ..Default::default() };
    let (bytes, _, calls) = remux_with("ts/h264_aac.ts", options);
    // One write per full buffer, plus the header and the final flush.
    assert!(calls <= bytes.len() as u64 / (16 << 10) + 3, "{calls} writes for {} bytes", bytes.len());
}

#[test]
fn write_pass_must_repeat_the_plan() {
    let rel = "mp4/h264_aac.mp4";
    let mut d = open(rel);
    let streams = d.streams().to_vec();
    let mut mux = Mp4Muxer::new(Box::new(Shared::default()), Mp4Options::default());
    while let Some(p) = d.next_packet().unwrap() {
        mux.plan_packet(&streams[p.stream], &p).unwrap();
    }
    mux.begin(&streams).unwrap();
    let mut d = open(rel);
    let first = d.next_packet().unwrap().unwrap();
    // A packet of another size than planned is refused before anything is written.
    let short = &first.data[..first.data.len() - 1];
    let bad = PacketView { data: short, ..first };
    // It is an output failure (not a damaged packet a driver may skip).
    match mux.write_packet(&bad) {
        Err(transcode_core::Error::Io(e)) => {
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
            assert!(e.to_string().contains("but the plan has"), "{e}");
        }
        other => panic!("expected a plan mismatch, got {other:?}"),
    }
    // The right packet is still accepted after the refusal.
    mux.write_packet(&first).unwrap();
    // The audio packet where the plan has video is refused too.
    let mut d = open(rel);
    let _ = d.next_packet().unwrap();
    let _ = d.next_packet().unwrap();
    let audio = d.next_packet().unwrap().unwrap();
    assert_eq!(audio.stream, 1);
    let mut mux2 = Mp4Muxer::new(Box::new(Shared::default()), Mp4Options::default());
    let mut d2 = open(rel);
    while let Some(p) = d2.next_packet().unwrap() {
        mux2.plan_packet(&streams[p.stream], &p).unwrap();
    }
    mux2.begin(&streams).unwrap();
    assert!(mux2.write_packet(&audio).is_err());
    // Finishing early is an error: the moov promised more samples.
    assert!(mux2.finish().is_err());
}

#[test]
fn plan_memory_is_compact() {
    // 145 samples: sizes (4 bytes each) dominate; the moov is about 3 KB like FFmpeg's.
    let bytes = remux("mp4/h264_aac.mp4", false);
    let boxes = top_level(&bytes);
    let moov = boxes[1].2;
    assert!(moov < 4096, "moov of {moov} bytes");
}

/// A spooled progressive file (no planning pass: what an encoder's output needs) is
/// the planned one byte for byte: the same moov, offsets and payload.
#[test]
fn spooled_progressive_equals_planned() {
    let all = fixtures();
    assert!(all.len() >= 5, "expected the to-mp4 fixtures, found {all:?}");
    for rel in all {
        let planned = remux(&rel, false);
        let (spooled, _, _) = remux_with(&rel, Mp4Options { spool_data: true, ..Default::default() });
        assert!(!Mp4Muxer::new(Box::new(Shared::default()), Mp4Options { spool_data: true, ..Default::default() }).wants_plan_pass());
        assert_eq!(spooled.len(), planned.len(), "{rel}");
        assert!(spooled == planned, "{rel}: spooled output differs from the planned one");
    }
}
