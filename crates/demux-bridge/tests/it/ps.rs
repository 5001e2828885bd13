//! ps demuxer tests: every program-stream fixture's packets against FFmpeg's oracle
//! table, through a map and through pipes with different windows, and damaged copies
//! (garbage first, lost bytes, bit flips, truncation, a PTS wrap, an oversized access
//! unit).

use transcode_core::{CodecId, MemoryConfig};
use transcode_demux_bridge::ps::PsDemuxer;
use transcode_demux_bridge::{detect, DemuxStats, Demuxer, Format, Input};
use transcode_testkit::{md5_hex, read_framemd5, testdata, Oracle};

const FIXTURES: [&str; 3] = ["ps/mpeg2_mp2.vob", "ps/mpeg1_mp2.mpg", "ps/mpeg2_ac3.vob"];

/// One demuxed packet, in the oracle's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    stream: usize,
    dts: Option<i64>,
    pts: Option<i64>,
    duration: Option<i64>,
    size: usize,
    md5: String,
}

fn demux_all(d: &mut PsDemuxer) -> Vec<Row> {
    let mut rows = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        rows.push(Row { stream: p.stream, dts: p.dts, pts: p.pts, duration: p.duration, size: p.data.len(), md5: md5_hex(p.data) });
    }
    rows
}

fn demux_bytes(bytes: Vec<u8>) -> (Vec<Row>, DemuxStats, PsDemuxer) {
    let mut d = PsDemuxer::new(Input::from_bytes(bytes, "mem"), &MemoryConfig::default()).unwrap();
    let rows = demux_all(&mut d);
    let stats = d.stats();
    (rows, stats, d)
}

fn per_stream(rows: &[Row], n: usize) -> Vec<Vec<Row>> {
    (0..n).map(|s| rows.iter().filter(|r| r.stream == s).cloned().collect()).collect()
}

/// The oracle's rows per stream; durations only for audio (video durations are FFmpeg's
/// guess from the frame rate, which the demuxer does not fill).
fn oracle_rows(o: &Oracle) -> Vec<Vec<Row>> {
    (0..o.codecs.len())
        .map(|s| {
            o.stream(s)
                .into_iter()
                .map(|e| Row {
                    stream: s,
                    dts: e.dts,
                    pts: e.pts,
                    duration: (s == 1).then_some(e.duration),
                    size: e.size,
                    md5: e.md5.clone(),
                })
                .collect()
        })
        .collect()
}

fn oracle(name: &str) -> Oracle {
    read_framemd5(&testdata(&format!("{name}.packets")))
}

fn assert_rows_eq(name: &str, got: &[Vec<Row>], want: &[Vec<Row>]) {
    assert_eq!(got.len(), want.len(), "{name}: streams");
    for s in 0..want.len() {
        for (i, (g, w)) in got[s].iter().zip(&want[s]).enumerate() {
            assert_eq!(g, w, "{name}: stream {s} packet {i}");
        }
        assert_eq!(got[s].len(), want[s].len(), "{name}: packets of stream {s}");
    }
}

fn assert_matches_oracle(name: &str, rows: &[Row], d: &PsDemuxer) {
    let o = oracle(name);
    let codecs: Vec<CodecId> = d.streams().iter().map(|s| s.codec).collect();
    assert_eq!(codecs.len(), o.codecs.len(), "{name}: stream count");
    for (c, want) in codecs.iter().zip(&o.codecs) {
        assert_eq!(c.name(), want, "{name}: codec");
    }
    assert_rows_eq(name, &per_stream(rows, o.codecs.len()), &oracle_rows(&o));
    assert_eq!(rows.len(), o.entries.len());
}

#[test]
fn fixtures_match_ffmpeg_packets() {
    for name in FIXTURES {
        let path = testdata(name);
        let len = std::fs::metadata(&path).unwrap().len();
        let config = MemoryConfig::default();
        let mut input = Input::open(&path, &config).unwrap();
        assert_eq!(detect(&mut input).unwrap(), Format::MpegPs, "{name}");
        let mut d = PsDemuxer::new(input, &config).unwrap();
        // The head walk finds both streams before the first packet.
        assert_eq!(d.streams().len(), 2, "{name}");
        let rows = demux_all(&mut d);
        assert_matches_oracle(name, &rows, &d);
        assert_eq!(d.stats(), DemuxStats { bytes_read: len, ..Default::default() }, "{name}");
        assert_eq!(d.format_name(), "mpeg");
    }
}

#[test]
fn streams_are_described() {
    let (_, _, d) = demux_bytes(std::fs::read(testdata("ps/mpeg2_ac3.vob")).unwrap());
    let s = d.streams();
    assert_eq!((s[0].id, s[0].codec), (0x1E0, CodecId::Mpeg2Video));
    assert_eq!((s[1].id, s[1].codec), (0x80, CodecId::Ac3));
    let v = s[0].video.unwrap();
    assert_eq!((v.width, v.height, v.frame_rate), (320, 180, Some((25, 1))));
    let a = s[1].audio.unwrap();
    assert_eq!((a.sample_rate, a.channels, a.frame_samples), (48000, 2, 1536));
    // The sequence header (and extension) as extradata, as FFmpeg's 22 bytes.
    assert_eq!(s[0].extradata.len(), 22);
    let (_, _, d) = demux_bytes(std::fs::read(testdata("ps/mpeg1_mp2.mpg")).unwrap());
    assert_eq!(d.streams()[0].codec, CodecId::Mpeg1Video);
    assert_eq!(d.streams()[0].extradata.len(), 12);
    assert_eq!(d.streams()[1].codec, CodecId::Mp2);
}

#[test]
fn keyframes_are_the_i_pictures() {
    let mut d =
        PsDemuxer::new(Input::from_bytes(std::fs::read(testdata("ps/mpeg2_mp2.vob")).unwrap(), "mem"), &MemoryConfig::default()).unwrap();
    let mut keys = Vec::new();
    let mut n = 0;
    while let Some(p) = d.next_packet().unwrap() {
        if p.stream == 0 {
            if p.keyframe {
                keys.push(n);
            }
            n += 1;
        }
    }
    // -g 12 over 50 pictures, in coding order.
    assert_eq!(keys, vec![0, 10, 22, 34, 46]);
}

#[test]
fn pipe_input_gives_the_same_packets_whatever_the_window() {
    for name in FIXTURES {
        let bytes = std::fs::read(testdata(name)).unwrap();
        for read in [4096usize, 65536] {
            let config = MemoryConfig { read_buffer_size: read, max_packet_size: 256 << 10, ..Default::default() };
            let input = Input::from_reader(Box::new(std::io::Cursor::new(bytes.clone())), "pipe", &config);
            let mut d = PsDemuxer::new(input, &config).unwrap();
            let rows = demux_all(&mut d);
            assert_matches_oracle(name, &rows, &d);
            assert_eq!(d.stats().bytes_read, bytes.len() as u64);
            assert_eq!(d.input_len(), None);
        }
    }
}

#[test]
fn garbage_before_the_stream_is_skipped() {
    for name in FIXTURES {
        let mut bytes = vec![0, 0, 1, 0xB3, 0x47, 0x00, 0x00, 0x01];
        bytes.extend((0..1000u32).map(|i| (i * 7 % 251) as u8));
        let garbage = bytes.len() as u64;
        bytes.extend(std::fs::read(testdata(name)).unwrap());
        let (rows, stats, d) = demux_bytes(bytes);
        assert_matches_oracle(name, &rows, &d);
        assert_eq!((stats.resyncs, stats.bytes_skipped), (1, garbage), "{name}");
    }
}

/// How many oracle rows of each stream are matched neither by the head nor by the tail
/// of `got`.
fn unmatched(want: &[Vec<Row>], got: &[Vec<Row>]) -> Vec<usize> {
    want.iter()
        .zip(got)
        .map(|(w, g)| {
            let head = w.iter().zip(g).take_while(|(a, b)| a == b).count();
            let tail = w.iter().rev().zip(g.iter().rev()).take_while(|(a, b)| a == b).count();
            w.len().saturating_sub(head + tail)
        })
        .collect()
}

#[test]
fn lost_bytes_in_the_middle_are_resynced() {
    for name in FIXTURES {
        let orig = std::fs::read(testdata(name)).unwrap();
        let want = oracle_rows(&oracle(name));
        // Remove 100 bytes from inside the 40th pack (DVD packs are 2048 bytes).
        let cut = 2048 * 40 + 600;
        let mut bytes = orig[..cut].to_vec();
        bytes.extend_from_slice(&orig[cut + 100..]);
        let (rows, stats, _) = demux_bytes(bytes);
        assert_eq!(stats.resyncs, 1, "{name}");
        // The PES the bytes were cut from is not followed by a start code where its
        // length says: it is skipped, up to the next pack header.
        let pes = (0..cut).rev().find(|&p| orig[p..p + 3] == [0, 0, 1] && matches!(orig[p + 3], 0xBD | 0xC0..=0xEF)).unwrap();
        assert_eq!(stats.bytes_skipped, (2048 * 41 - 100 - pes) as u64, "{name}");
        let missing = unmatched(&want, &per_stream(&rows, 2));
        // One PES lost: at most the access unit (or the few audio frames) it held, and
        // the one after it that loses its timestamp.
        assert!(missing.iter().sum::<usize>() <= 5, "{name}: {missing:?}");
    }
}

#[test]
fn bit_flips_never_stop_the_demuxer() {
    for name in FIXTURES {
        let orig = std::fs::read(testdata(name)).unwrap();
        let want = oracle_rows(&oracle(name));
        // Flip a bit in the headers of a few packs: a pack start code, a PES length, a
        // marker bit, a PTS; and in payload bytes.
        let mut bytes = orig.clone();
        for (pack, off, bit) in [(10usize, 2usize, 0u8), (20, 18, 3), (30, 4, 6), (40, 24, 1), (50, 700, 5), (60, 1500, 7)] {
            bytes[pack * 2048 + off] ^= 1 << bit;
        }
        let (rows, stats, _) = demux_bytes(bytes);
        assert!(stats.resyncs >= 1, "{name}: {stats:?}");
        let missing = unmatched(&want, &per_stream(&rows, 2));
        // The damage is spread over the file, so most packets survive.
        let total: usize = want.iter().map(Vec::len).sum();
        let got: usize = rows.len();
        assert!(got * 10 >= total * 8, "{name}: {got} of {total} packets");
        assert!(missing.iter().sum::<usize>() < total, "{name}: {missing:?}");
    }
}

#[test]
fn truncated_input_delivers_what_is_complete() {
    for name in FIXTURES {
        let orig = std::fs::read(testdata(name)).unwrap();
        let want = oracle_rows(&oracle(name));
        // Cut inside a PES packet.
        let bytes = orig[..orig.len() * 2 / 3 + 77].to_vec();
        let (rows, stats, _) = demux_bytes(bytes);
        assert!(stats.truncated, "{name}");
        let got = per_stream(&rows, 2);
        for s in 0..2 {
            assert!(got[s].len() > want[s].len() / 3, "{name}: stream {s}");
            // Everything delivered is a prefix of the oracle: the access unit and the
            // audio frame cut off by the end are not delivered.
            assert_eq!(got[s][..], want[s][..got[s].len()], "{name}: stream {s}");
        }
    }
}

/// Rewrites every PTS and DTS (and SCR base) of a program stream by adding `shift`
/// modulo 2^33; the file's units are walked by their lengths.
fn shift_timestamps(bytes: &mut [u8], shift: u64) {
    let wrap = |v: u64| (v + shift) & ((1 << 33) - 1);
    let read = |b: &[u8]| -> u64 {
        (((b[0] >> 1) & 7) as u64) << 30 | (b[1] as u64) << 22 | ((b[2] >> 1) as u64) << 15 | (b[3] as u64) << 7 | (b[4] >> 1) as u64
    };
    let write = |b: &mut [u8], v: u64| {
        b[0] = (b[0] & 0xF1) | (((v >> 30) as u8 & 7) << 1);
        b[1] = (v >> 22) as u8;
        b[2] = ((v >> 14) as u8 & 0xFE) | 1;
        b[3] = (v >> 7) as u8;
        b[4] = ((v << 1) as u8) | 1;
    };
    let mut i = 0;
    while i + 6 <= bytes.len() {
        assert_eq!(bytes[i..i + 3], [0, 0, 1], "unit at {i}");
        let id = bytes[i + 3];
        if id == 0xBA {
            i += if bytes[i + 4] >> 6 == 1 { 14 + (bytes[i + 13] & 7) as usize } else { 12 };
            continue;
        }
        let len = u16::from_be_bytes([bytes[i + 4], bytes[i + 5]]) as usize;
        if matches!(id, 0xC0..=0xEF | 0xBD) {
            let pes = &mut bytes[i..];
            if pes[6] >> 6 == 2 {
                let flags = pes[7] >> 6;
                if flags & 2 != 0 {
                    let v = wrap(read(&pes[9..14]));
                    write(&mut pes[9..14], v);
                }
                if flags == 3 {
                    let v = wrap(read(&pes[14..19]));
                    write(&mut pes[14..19], v);
                }
            } else {
                let mut j = 6;
                while pes[j] == 0xFF {
                    j += 1;
                }
                if pes[j] >> 6 == 1 {
                    j += 2;
                }
                let n = match pes[j] >> 4 {
                    2 => 1,
                    3 => 2,
                    _ => 0,
                };
                for k in 0..n {
                    let at = j + 5 * k;
                    let v = wrap(read(&pes[at..at + 5]));
                    write(&mut pes[at..at + 5], v);
                }
            }
        }
        i += 6 + len;
    }
}

#[test]
fn timestamps_keep_increasing_across_the_33_bit_wrap() {
    for name in FIXTURES {
        let mut bytes = std::fs::read(testdata(name)).unwrap();
        // Put the wrap one second into the file.
        let shift = (1u64 << 33) - 45_000 - 90_000;
        shift_timestamps(&mut bytes, shift);
        let (rows, _, _) = demux_bytes(bytes);
        let mut want = oracle_rows(&oracle(name));
        for r in want.iter_mut().flatten() {
            r.dts = r.dts.map(|t| t + shift as i64);
            r.pts = r.pts.map(|t| t + shift as i64);
        }
        let got = per_stream(&rows, 2);
        assert_rows_eq(name, &got, &want);
        assert!(got[0].iter().any(|r| r.dts.unwrap() >= 1 << 33));
        assert!(got[0].iter().any(|r| r.dts.unwrap() < 1 << 33));
    }
}

#[test]
fn oversized_access_unit_is_dropped_and_counted() {
    let name = FIXTURES[0];
    let bytes = std::fs::read(testdata(name)).unwrap();
    let o = oracle(name);
    let limit = 9000;
    let big = o.stream(0).iter().filter(|e| e.size > limit).count();
    assert!(big > 0);
    let config = MemoryConfig { max_packet_size: limit as u64, ..Default::default() };
    let mut d = PsDemuxer::new(Input::from_bytes(bytes, "mem"), &config).unwrap();
    let rows = demux_all(&mut d);
    let want = oracle_rows(&o);
    let got = per_stream(&rows, 2);
    // Every access unit that fits is delivered intact; the others are counted.
    assert_eq!(got[0].len(), want[0].len() - big);
    assert!(got[0].iter().all(|r| want[0].contains(r)));
    assert_eq!(d.stats().dropped_packets, big as u64);
    assert_eq!(got[1], want[1]);
}

#[test]
fn random_data_is_not_a_program_stream() {
    // A pack start code alone is not enough: marker bits and the next unit must agree.
    let mut fake = vec![0, 0, 1, 0xBA];
    fake.extend((0..200u32).map(|i| (i * 37 % 256) as u8));
    assert_eq!(transcode_demux_bridge::probe::detect_bytes(&fake), None);
    let head = std::fs::read(testdata("ps/mpeg1_mp2.mpg")).unwrap();
    assert_eq!(transcode_demux_bridge::probe::detect_bytes(&head[..4096]), Some(Format::MpegPs));
    // A pack with a broken marker bit is junk: detection starts at the next pack, and
    // does not take the MPEG video inside the first pack's PES for an elementary stream.
    let mut bad_marker = head.clone();
    bad_marker[4] &= !1;
    assert_eq!(transcode_demux_bridge::probe::detect_bytes(&bad_marker[..4096]), None);
    let next_pack = (4..bad_marker.len() - 3).find(|&i| bad_marker[i..i + 4] == [0, 0, 1, 0xBA]).unwrap();
    assert!(next_pack > 4096);
    assert_eq!(transcode_demux_bridge::probe::detect_head(&bad_marker, true), Some((Format::MpegPs, next_pack)));
}

#[test]
fn streams_found_late_are_added_when_they_first_appear() {
    // A packet limit just under one PES unit leaves no room for the head walk: streams
    // are then found as their first PES arrives, in the same order, with the same codecs.
    for name in FIXTURES {
        let bytes = std::fs::read(testdata(name)).unwrap();
        let config = MemoryConfig { max_packet_size: 65_000, ..Default::default() };
        let mut d = PsDemuxer::new(Input::from_bytes(bytes, "mem"), &config).unwrap();
        assert!(d.streams().is_empty(), "{name}");
        let rows = demux_all(&mut d);
        assert_matches_oracle(name, &rows, &d);
    }
}
