//! The real-world input contract, from the committed fixtures changed in code: junk
//! before the first packet (found by the probe, skipped and counted, the same packets
//! delivered), inputs without streams (what was seen is said), packets cut short by the
//! end of the input (dropped and counted), MP4 indexes pointing past the end.

use std::time::{Duration, Instant};

use transcode_core::{Error, MemoryConfig};
use transcode_demux_bridge::probe::{detect, detect_at, Format};
use transcode_demux_bridge::ts::TsDemuxer;
use transcode_demux_bridge::{open_demuxer, DemuxStats, Demuxer, Input};
use transcode_testkit::{md5_hex, testdata};

/// Junk as a capture tool's header might look: pseudo-random bytes (sync bytes and
/// start-code-like zeros included), from a fixed seed.
fn junk(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Every 97th byte a sync byte, every 89th a zero: false candidates abound.
            match i {
                _ if i % 97 == 50 => 0x47,
                _ if i % 89 == 0 => 0,
                _ => (x >> 32) as u8,
            }
        })
        .collect()
}

/// Everything a consumer sees of a packet but its position: stream, timestamps,
/// duration, keyframe flag and the MD5 of its bytes.
type Row = (usize, Option<i64>, Option<i64>, Option<i64>, bool, String);

fn rows_of(mut d: Box<dyn Demuxer + Send>) -> (Vec<Row>, DemuxStats, Box<dyn Demuxer + Send>) {
    let mut rows = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        rows.push((p.stream, p.pts, p.dts, p.duration, p.keyframe, md5_hex(p.data)));
    }
    let stats = d.stats();
    (rows, stats, d)
}

/// Detects and demuxes `data` from a map and from a pipe; both must agree.
fn demux(data: &[u8]) -> (Format, Vec<Row>, DemuxStats) {
    let config = MemoryConfig::default();
    let mut mapped = Input::from_bytes(data.to_vec(), "mapped");
    let format = detect(&mut mapped).unwrap();
    let (rows, stats, _) = rows_of(open_demuxer(mapped, &config).unwrap());
    let piped = Input::from_reader(Box::new(std::io::Cursor::new(data.to_vec())), "pipe", &config);
    let (prows, pstats, _) = rows_of(open_demuxer(piped, &config).unwrap());
    assert_eq!(rows, prows, "map and pipe give the same packets");
    assert_eq!(stats, pstats, "map and pipe give the same counters");
    (format, rows, stats)
}

fn with_junk(fixture: &str, n: usize) -> Vec<u8> {
    let mut data = junk(n, n as u64 * 31 + fixture.len() as u64);
    data.extend(std::fs::read(testdata(fixture)).unwrap());
    data
}

#[test]
fn ts_and_m2ts_after_junk_give_the_same_packets() {
    for (fixture, format) in [
        ("ts/h264_aac.ts", Format::MpegTs { packet_size: 188 }),
        ("ts/h264_aac.m2ts", Format::MpegTs { packet_size: 192 }),
        ("ts/mpeg2_mp2.ts", Format::MpegTs { packet_size: 188 }),
    ] {
        let (f, clean, clean_stats) = demux(&std::fs::read(testdata(fixture)).unwrap());
        assert_eq!((f, clean_stats.bytes_skipped), (format, 0), "{fixture}");
        for n in [188, 1003, 65_536] {
            let data = with_junk(fixture, n);
            let mut input = Input::from_bytes(data.clone(), "junk");
            assert_eq!(detect_at(&mut input).unwrap(), (format, n as u64), "{fixture} after {n} bytes of junk");
            let (_, rows, stats) = demux(&data);
            assert_eq!(rows, clean, "{fixture} after {n} bytes of junk: packets");
            // The junk is skipped and counted; no sync was lost.
            assert_eq!((stats.bytes_skipped, stats.resyncs, stats.bytes_read), (n as u64, 0, data.len() as u64), "{fixture} after {n}");
            assert_eq!(stats.summary(), Some(format!("{n} bytes skipped before the first packet")));
        }
    }
}

#[test]
fn elementary_streams_after_junk_or_a_tag() {
    // Annex-B: the first start code after junk, confirmed by parameter sets and a picture.
    for (fixture, format) in [("es/h264.h264", Format::H264), ("es/h265.h265", Format::H265)] {
        let (_, clean, _) = demux(&std::fs::read(testdata(fixture)).unwrap());
        for n in [188, 1003, 65_536] {
            let data = with_junk(fixture, n);
            let (f, rows, stats) = demux(&data);
            assert_eq!(f, format, "{fixture} after {n} bytes of junk");
            assert_eq!(rows, clean, "{fixture} after {n} bytes of junk: packets");
            assert_eq!(stats.bytes_skipped, n as u64, "{fixture} after {n}");
        }
    }
    // ADTS and MPEG audio after an ID3v2 tag (a 300-byte body): the tag is read, not junk.
    let mut tag = b"ID3\x04\x00\x00\x00\x00\x02\x2C".to_vec();
    tag.extend(junk(300, 7));
    for (fixture, format) in [("es/aac.aac", Format::Adts), ("es/mp2.mp2", Format::MpegAudio)] {
        let (_, clean, _) = demux(&std::fs::read(testdata(fixture)).unwrap());
        let mut data = tag.clone();
        data.extend(std::fs::read(testdata(fixture)).unwrap());
        let (f, rows, stats) = demux(&data);
        assert_eq!(f, format, "{fixture} after an id3 tag");
        assert_eq!(rows.len(), clean.len(), "{fixture} after an id3 tag");
        assert!(rows.iter().zip(&clean).all(|(a, b)| a.5 == b.5), "{fixture} after an id3 tag: payloads");
        assert_eq!(stats.bytes_skipped, 0);
    }
}

#[test]
fn random_bytes_are_no_format_and_fail_quickly() {
    // Far more than the probe reads, with the sync bytes and zeros of `junk`.
    let data = junk(3 << 20, 12345);
    let start = Instant::now();
    let e = detect(&mut Input::from_bytes(data.clone(), "random")).unwrap_err();
    assert!(matches!(e, Error::UnknownFormat), "{e}");
    let e = open_demuxer(Input::from_bytes(data, "random"), &MemoryConfig::default()).err().unwrap();
    assert!(matches!(e, Error::UnknownFormat), "{e}");
    // Two passes over a MiB per detector, in a debug build on a shared machine.
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
}

/// 2000 null packets (PID 0x1FFF), continuity counters running.
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
fn a_ts_of_null_packets_has_no_stream_and_says_what_it_holds() {
    let (format, rows, stats) = demux(&null_ts());
    assert_eq!(format, Format::MpegTs { packet_size: 188 });
    assert!(rows.is_empty());
    assert_eq!(stats.summary(), None);
    let d = TsDemuxer::new(Input::from_bytes(null_ts(), "null"), 188, &MemoryConfig::default()).unwrap();
    let (_, _, d) = rows_of(Box::new(d));
    assert!(d.streams().is_empty());
    assert_eq!(d.contents(), "2000 TS packets, no PAT/PMT");
}

/// The first box of type `typ` in `data`: (offset of its size field, size).
fn find_box(data: &[u8], typ: &[u8; 4]) -> (usize, usize) {
    let i = data.windows(4).position(|w| w == typ).unwrap() - 4;
    (i, u32::from_be_bytes(data[i..i + 4].try_into().unwrap()) as usize)
}

#[test]
fn an_mp4_with_its_moov_payload_zeroed_has_no_track() {
    for fixture in ["mp4/h264_aac.mp4", "mp4/h264_aac_faststart.mp4"] {
        let mut data = std::fs::read(testdata(fixture)).unwrap();
        let (at, size) = find_box(&data, b"moov");
        data[at + 8..at + size].fill(0);
        // (A pipe cannot reach a moov after the media data: the map only.)
        assert_eq!(detect(&mut Input::from_bytes(data.clone(), "zeroed")).unwrap(), Format::Mp4);
        let d = open_demuxer(Input::from_bytes(data, "zeroed"), &MemoryConfig::default()).unwrap();
        let (rows, _, d) = rows_of(d);
        assert!(rows.is_empty() && d.streams().is_empty(), "{fixture}");
        assert_eq!(d.contents(), "moov without tracks", "{fixture}");
    }
}

/// `data` with every `stco` chunk offset moved past the end of the file.
pub fn offsets_past_the_end(mut data: Vec<u8>) -> Vec<u8> {
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

#[test]
fn an_mp4_whose_chunks_lie_past_the_end_gives_nothing_and_counts_it() {
    let data = offsets_past_the_end(std::fs::read(testdata("mp4/h264_aac_faststart.mp4")).unwrap());
    let (_, rows, stats) = demux(&data);
    assert!(rows.is_empty());
    assert_eq!((stats.samples_past_end, stats.cut_packets, stats.truncated), (1, 0, true));
    assert_eq!(stats.summary().as_deref(), Some("1 sample pointed past the end of the file"));
    // Cut inside the last sample instead: that sample is cut short, the others delivered.
    let full = std::fs::read(testdata("mp4/h264_aac_faststart.mp4")).unwrap();
    let (_, all, _) = demux(&full);
    let (_, rows, stats) = demux(&full[..full.len() - 10]);
    assert_eq!(rows[..], all[..all.len() - 1]);
    assert_eq!((stats.samples_past_end, stats.cut_packets), (0, 1));
}

#[test]
fn packets_cut_short_by_the_end_of_the_input_are_dropped_and_counted() {
    let ts = std::fs::read(testdata("ts/h264_aac.ts")).unwrap();
    // The first 1000 bytes: the PAT, the PMT and the start of the first picture.
    let (_, rows, stats) = demux(&ts[..1000]);
    assert!(rows.is_empty(), "{rows:?}");
    assert_eq!((stats.cut_packets, stats.truncated), (1, true));
    assert_eq!(stats.summary().as_deref(), Some("1 packet cut short by the end of the input"));
    let d = TsDemuxer::new(Input::from_bytes(ts[..1000].to_vec(), "head"), 188, &MemoryConfig::default()).unwrap();
    let (_, _, d) = rows_of(Box::new(d));
    assert_eq!((d.streams().len(), d.contents().as_str()), (2, "5 TS packets, 2 streams in the PMT"));

    // The whole file: its last picture has no declared length and ends with the input,
    // on a packet boundary: it is whole, as FFmpeg delivers it.
    let (_, all, stats) = demux(&ts);
    assert_eq!((stats.cut_packets, stats.truncated), (0, false));
    // Cut in the middle of a transport packet: the open picture is cut (not delivered),
    // everything delivered is what the whole file gives.
    for cut in [ts.len() / 2 + 77, ts.len() - 100] {
        let (_, rows, stats) = demux(&ts[..cut]);
        assert!(stats.cut_packets >= 1 && stats.truncated, "cut at {cut}");
        for s in 0..2 {
            let got: Vec<&Row> = rows.iter().filter(|r| r.0 == s).collect();
            let want: Vec<&Row> = all.iter().filter(|r| r.0 == s).collect();
            assert!(!got.is_empty() && got[..] == want[..got.len()], "cut at {cut}, stream {s}");
        }
    }
    // Cut on a packet boundary right after an audio PES that is complete by its
    // declared length (the first one after the middle): it counts as whole, all its
    // frames are delivered, nothing is cut.
    let pkts: Vec<&[u8]> = ts.chunks(188).collect();
    let is_audio_start = |i: usize| pid(pkts[i]) == 0x101 && pkts[i][1] & 0x40 != 0;
    let a = (pkts.len() / 2..pkts.len()).find(|&i| is_audio_start(i)).unwrap();
    let b = (a + 1..pkts.len()).find(|&i| is_audio_start(i)).unwrap();
    let last = (a..b).rev().find(|&i| pid(pkts[i]) == 0x101).unwrap();
    let mut d = open_demuxer(Input::from_bytes(ts.clone(), "whole"), &MemoryConfig::default()).unwrap();
    let mut want = 0;
    while let Some(p) = d.next_packet().unwrap() {
        want += usize::from(p.stream == 1 && p.pos.unwrap() <= (a * 188) as u64);
    }
    let (_, rows, stats) = demux(&ts[..(last + 1) * 188]);
    assert_eq!(rows.iter().filter(|r| r.0 == 1).count(), want, "the last audio PES is whole");
    assert_eq!((stats.cut_packets, stats.truncated), (0, false));
}

fn pid(pkt: &[u8]) -> u16 {
    u16::from(pkt[1] & 0x1F) << 8 | u16::from(pkt[2])
}

/// Two recordings joined end to end, where each PID's continuity counter happens to
/// repeat across the join: the repeated packet starts a PES and the one before it did
/// not, so it is not the duplicate the standard allows, and every packet of both copies
/// is delivered (as FFmpeg delivers them), with the counter error counted.
#[test]
fn a_join_that_repeats_the_continuity_counter_keeps_every_packet() {
    let one = std::fs::read(testdata("ts/h264_aac.ts")).unwrap();
    assert_eq!(one.len() % 188, 0);
    let cc_of = |p: &[u8]| p[3] & 0x0F;
    let pid_of = |p: &[u8]| u16::from(p[1] & 0x1F) << 8 | u16::from(p[2]);
    let has_payload = |p: &[u8]| p[3] & 0x10 != 0;
    // Last counter of each PID in the first copy, first counter in the second.
    let mut last = std::collections::HashMap::new();
    let mut first = std::collections::HashMap::new();
    for p in one.chunks(188).filter(|p| has_payload(p)) {
        last.insert(pid_of(p), cc_of(p));
        first.entry(pid_of(p)).or_insert(cc_of(p));
    }
    let mut second = one.clone();
    for p in second.chunks_mut(188) {
        let pid = pid_of(p);
        let shift = (last[&pid] + 16 - first[&pid]) & 0x0F;
        p[3] = (p[3] & 0xF0) | ((cc_of(p) + shift) & 0x0F);
    }
    let (_, single, _) = demux(&one);
    let mut joined = one.clone();
    joined.extend_from_slice(&second);
    let (_, rows, stats) = demux(&joined);
    for stream in 0..2 {
        let n = single.iter().filter(|r| r.0 == stream).count();
        assert!(n > 0);
        assert_eq!(rows.iter().filter(|r| r.0 == stream).count(), 2 * n, "stream {stream}");
    }
    assert!(stats.cc_errors > 0, "the repeated counters are counted: {stats:?}");
}
