//! ts demuxer tests: every fixture's packets against FFmpeg's oracle table, through a
//! map and through a pipe, and damaged copies of the fixtures (garbage, lost bytes,
//! lost packets, a PTS wrap).

use transcode_core::{CodecId, Error, MemoryConfig};
use transcode_demux_bridge::ts::TsDemuxer;
use transcode_demux_bridge::{DemuxStats, Demuxer, Input};
use transcode_testkit::{md5_hex, read_framemd5, testdata, Oracle};

const FIXTURES: [(&str, usize); 4] =
    [("ts/h264_aac.ts", 188), ("ts/h264_aac.m2ts", 192), ("ts/h265_aac.ts", 188), ("ts/mpeg2_mp2.ts", 188)];

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

fn demux_all(demux: &mut TsDemuxer) -> Vec<Row> {
    let mut rows = Vec::new();
    while let Some(p) = demux.next_packet().unwrap() {
        rows.push(Row { stream: p.stream, dts: p.dts, pts: p.pts, duration: p.duration, size: p.data.len(), md5: md5_hex(p.data) });
    }
    rows
}

fn demux_bytes(bytes: Vec<u8>, packet_size: usize) -> (Vec<Row>, DemuxStats, TsDemuxer) {
    let mut d = TsDemuxer::new(Input::from_bytes(bytes, "mem"), packet_size, &MemoryConfig::default()).unwrap();
    let rows = demux_all(&mut d);
    let stats = d.stats();
    (rows, stats, d)
}

/// Per-stream rows: the oracle compares per stream, as FFmpeg interleaves its output by
/// DTS rather than in file order.
fn per_stream(rows: &[Row], n: usize) -> Vec<Vec<Row>> {
    (0..n).map(|s| rows.iter().filter(|r| r.stream == s).cloned().collect()).collect()
}

fn oracle_rows(o: &Oracle, with_duration: impl Fn(usize) -> bool) -> Vec<Vec<Row>> {
    (0..o.codecs.len())
        .map(|s| {
            o.stream(s)
                .into_iter()
                .map(|e| Row {
                    stream: s,
                    dts: e.dts,
                    pts: e.pts,
                    duration: with_duration(s).then_some(e.duration),
                    size: e.size,
                    md5: e.md5.clone(),
                })
                .collect()
        })
        .collect()
}

/// Checks rows against the oracle: streams, order within each stream, timestamps, sizes,
/// MD5s, and audio durations (video durations are FFmpeg's guess from the frame rate and
/// are not filled by the demuxer).
fn assert_matches_oracle(name: &str, rows: &[Row], codecs: &[CodecId]) {
    let o = read_framemd5(&testdata(&format!("{name}.packets")));
    assert_eq!(codecs.len(), o.codecs.len(), "{name}: stream count");
    for (c, want) in codecs.iter().zip(&o.codecs) {
        assert_eq!(c.name(), want, "{name}: codec");
    }
    let audio = |s: usize| codecs[s].media_type() == transcode_core::MediaType::Audio;
    let want = oracle_rows(&o, audio);
    assert_rows_eq(name, &per_stream(rows, o.codecs.len()), &want);
    assert_eq!(rows.len(), o.entries.len());
}

/// Per-stream rows equal, reporting the first difference only.
fn assert_rows_eq(name: &str, got: &[Vec<Row>], want: &[Vec<Row>]) {
    assert_eq!(got.len(), want.len(), "{name}: streams");
    for s in 0..want.len() {
        for (i, (g, w)) in got[s].iter().zip(&want[s]).enumerate() {
            assert_eq!(g, w, "{name}: stream {s} packet {i}");
        }
        assert_eq!(got[s].len(), want[s].len(), "{name}: packets of stream {s}");
    }
}

fn codecs(d: &TsDemuxer) -> Vec<CodecId> {
    d.streams().iter().map(|s| s.codec).collect()
}

#[test]
fn fixtures_match_ffmpeg_packets() {
    for (name, size) in FIXTURES {
        let bytes = std::fs::read(testdata(name)).unwrap();
        let len = bytes.len() as u64;
        let (rows, stats, d) = demux_bytes(bytes, size);
        assert_matches_oracle(name, &rows, &codecs(&d));
        assert_eq!(stats, DemuxStats { bytes_read: len, ..Default::default() }, "{name}");
        assert_eq!(d.format_name(), if size == 192 { "m2ts" } else { "mpegts" });
    }
}

#[test]
fn streams_are_known_before_the_first_packet() {
    let path = testdata("ts/h264_aac.ts");
    let d = TsDemuxer::new(Input::open(&path, &MemoryConfig::default()).unwrap(), 188, &MemoryConfig::default()).unwrap();
    let s = d.streams();
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].index, s[0].id, s[0].codec), (0, 0x100, CodecId::H264));
    assert_eq!((s[1].index, s[1].id, s[1].codec), (1, 0x101, CodecId::Aac));
    assert_eq!(s[0].format, transcode_core::BitstreamFormat::AnnexB);
    assert_eq!(s[1].format, transcode_core::BitstreamFormat::Adts);
}

#[test]
fn audio_is_described_and_video_keyframes_found() {
    let path = testdata("ts/h264_aac.ts");
    let mut d = TsDemuxer::new(Input::open(&path, &MemoryConfig::default()).unwrap(), 188, &MemoryConfig::default()).unwrap();
    let mut keys = Vec::new();
    let mut n = 0;
    while let Some(p) = d.next_packet().unwrap() {
        if p.stream == 0 {
            if p.keyframe {
                keys.push(n);
            }
            n += 1;
        } else {
            assert!(p.keyframe);
        }
    }
    // -g 25 at 25 fps over 2 s: IDR pictures at frames 0 and 25.
    assert_eq!(keys, vec![0, 25]);
    let a = d.streams()[1].audio.unwrap();
    assert_eq!((a.sample_rate, a.channels, a.frame_samples), (48000, 2, 1024));
    assert_eq!(d.streams()[1].extradata, vec![0x11, 0x90]);
    assert!(d.last_pcr().is_some());
}

#[test]
fn pipe_input_gives_the_same_packets() {
    for (name, size) in FIXTURES {
        let bytes = std::fs::read(testdata(name)).unwrap();
        // A small read buffer so the demuxer walks many windows.
        let config = MemoryConfig { read_buffer_size: 4096, max_packet_size: 64 << 10, ..Default::default() };
        let input = Input::from_reader(Box::new(std::io::Cursor::new(bytes.clone())), "pipe", &config);
        let mut d = TsDemuxer::new(input, size, &config).unwrap();
        let rows = demux_all(&mut d);
        assert_matches_oracle(name, &rows, &codecs(&d));
        assert_eq!(d.stats().bytes_read, bytes.len() as u64);
        assert_eq!(d.input_len(), None);
    }
}

#[test]
fn garbage_before_the_stream_is_skipped() {
    for (name, size) in FIXTURES {
        let mut bytes = vec![0x47u8, 0x00, 0x12, 0x47, 0x47, 0x33];
        bytes.extend((0..1000u32).map(|i| (i * 7 % 251) as u8));
        let garbage = bytes.len() as u64;
        bytes.extend(std::fs::read(testdata(name)).unwrap());
        let (rows, stats, d) = demux_bytes(bytes, size);
        assert_matches_oracle(name, &rows, &codecs(&d));
        // Bytes before the first packet are skipped and counted, but no sync was lost.
        assert_eq!((stats.resyncs, stats.bytes_skipped), (0, garbage), "{name}");
    }
}

/// Rows of `got` equal to the oracle, per stream, at the start and at the end: returns
/// how many oracle rows of each stream are not matched by either.
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
    for (name, size) in FIXTURES {
        let orig = std::fs::read(testdata(name)).unwrap();
        let o = read_framemd5(&testdata(&format!("{name}.packets")));
        let want = oracle_rows(&o, |s| s == 1);
        // Remove 100 bytes from the middle of packet 150.
        let cut = size * 150 + 40;
        let mut bytes = orig[..cut].to_vec();
        bytes.extend_from_slice(&orig[cut + 100..]);
        let (rows, stats, _) = demux_bytes(bytes, size);
        assert_eq!(stats.resyncs, 1, "{name}");
        // The rest of the damaged packet and the bytes up to the next sync are skipped.
        assert_eq!(stats.bytes_skipped, (size - 100) as u64, "{name}");
        let got = per_stream(&rows, 2);
        let missing = unmatched(&want, &got);
        // At most the one PES the damaged packet belonged to is wrong (an audio PES holds
        // up to 12 frames).
        assert!(missing.iter().sum::<usize>() <= 12, "{name}: {missing:?}");
        assert!(stats.cc_errors <= 1, "{name}");
    }
}

#[test]
fn dropped_packets_count_as_continuity_errors() {
    for (name, size) in FIXTURES {
        let orig = std::fs::read(testdata(name)).unwrap();
        let o = read_framemd5(&testdata(&format!("{name}.packets")));
        let want = oracle_rows(&o, |s| s == 1);
        // Drop three whole packets far apart: each is a gap on its PID.
        let drop = [100usize, 200, 300];
        let bytes: Vec<u8> =
            orig.chunks(size).enumerate().filter(|(i, _)| !drop.contains(i)).flat_map(|(_, c)| c.iter().copied()).collect();
        let (rows, stats, _) = demux_bytes(bytes, size);
        assert_eq!((stats.resyncs, stats.bytes_skipped), (0, 0), "{name}");
        let dropped_pids: Vec<u16> = drop
            .iter()
            .map(|&i| {
                let p = &orig[i * size + size - 188..];
                (((p[1] & 0x1F) as u16) << 8) | p[2] as u16
            })
            .collect();
        let counted = dropped_pids.iter().filter(|&&pid| pid != 0x1FFF).count() as u64;
        assert_eq!(stats.cc_errors, counted, "{name}: dropped from PIDs {dropped_pids:?}");
        let missing = unmatched(&want, &per_stream(&rows, 2));
        assert!(missing.iter().sum::<usize>() <= 3 * 12, "{name}: {missing:?}");
    }
}

/// Rewrites every PTS and DTS of a TS file (and every PCR) by adding `shift` modulo 2^33.
fn shift_timestamps(bytes: &mut [u8], size: usize, shift: u64) {
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
    for pkt in bytes.chunks_mut(size) {
        let pkt = &mut pkt[size - 188..];
        let pid = (((pkt[1] & 0x1F) as u16) << 8) | pkt[2] as u16;
        let mut off = 4;
        if pkt[3] & 0x20 != 0 {
            let len = pkt[4] as usize;
            if len >= 7 && pkt[5] & 0x10 != 0 {
                let base = (pkt[6] as u64) << 25 | (pkt[7] as u64) << 17 | (pkt[8] as u64) << 9 | (pkt[9] as u64) << 1 | (pkt[10] as u64) >> 7;
                let b = wrap(base);
                pkt[6] = (b >> 25) as u8;
                pkt[7] = (b >> 17) as u8;
                pkt[8] = (b >> 9) as u8;
                pkt[9] = (b >> 1) as u8;
                pkt[10] = (pkt[10] & 0x7F) | (((b & 1) as u8) << 7);
            }
            off = 5 + len;
        }
        if pid < 0x20 || pkt[1] & 0x40 == 0 || off + 19 > 188 {
            continue;
        }
        let pes = &mut pkt[off..];
        if pes[..3] != [0, 0, 1] || pes[3] < 0xC0 {
            continue;
        }
        let flags = pes[7] >> 6;
        if flags & 2 != 0 {
            let v = wrap(read(&pes[9..14]));
            write(&mut pes[9..14], v);
        }
        if flags == 3 {
            let v = wrap(read(&pes[14..19]));
            write(&mut pes[14..19], v);
        }
    }
}

#[test]
fn timestamps_keep_increasing_across_the_33_bit_wrap() {
    for (name, size) in FIXTURES {
        let mut bytes = std::fs::read(testdata(name)).unwrap();
        // Put the wrap one second into the file.
        let shift = (1u64 << 33) - 126_000 - 90_000;
        shift_timestamps(&mut bytes, size, shift);
        let o = read_framemd5(&testdata(&format!("{name}.packets")));
        let (rows, stats, _) = demux_bytes(bytes, size);
        assert_eq!(stats.crc_errors, 0);
        let mut want = oracle_rows(&o, |s| s == 1);
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
fn truncated_input_delivers_what_is_complete() {
    let (name, size) = FIXTURES[0];
    let orig = std::fs::read(testdata(name)).unwrap();
    let o = read_framemd5(&testdata(&format!("{name}.packets")));
    let want = oracle_rows(&o, |s| s == 1);
    let bytes = orig[..orig.len() * 2 / 3 + 77].to_vec();
    let (rows, stats, _) = demux_bytes(bytes, size);
    assert!(stats.truncated);
    let got = per_stream(&rows, 2);
    for s in 0..2 {
        assert!(!got[s].is_empty());
        // Everything delivered is a prefix of the oracle: the last video PES (without a
        // declared length) was open when the input ended inside a transport packet, so
        // it was cut, and is dropped rather than delivered short.
        let n = got[s].len();
        assert_eq!(got[s][..n], want[s][..n], "stream {s}");
    }
    assert_eq!(stats.cut_packets, 1);
}

#[test]
fn oversized_pes_is_dropped_and_counted() {
    let (name, size) = FIXTURES[0];
    let bytes = std::fs::read(testdata(name)).unwrap();
    let o = read_framemd5(&testdata(&format!("{name}.packets")));
    let big = o.stream(0).iter().filter(|e| e.size > 3000).count();
    let config = MemoryConfig { max_packet_size: 3000, ..Default::default() };
    let mut d = TsDemuxer::new(Input::from_bytes(bytes, "mem"), size, &config).unwrap();
    let rows = demux_all(&mut d);
    let video = rows.iter().filter(|r| r.stream == 0).count();
    assert!(big > 0);
    assert_eq!(video, o.stream(0).len() - big);
    assert_eq!(d.stats().dropped_packets, big as u64);
    assert!(rows.iter().all(|r| r.size <= 3000));
}

#[test]
fn bad_crc_and_bad_packet_size_are_reported() {
    let mut bytes = std::fs::read(testdata("ts/h264_aac.ts")).unwrap();
    // Corrupt the first PMT's CRC: the streams appear with the next PMT (or not at all
    // before it), and the bad section is counted.
    let pmt = bytes.chunks(188).position(|p| p[1] & 0x1F == 0x10 && p[2] == 0x00).unwrap();
    bytes[pmt * 188 + 10] ^= 0xFF;
    let (rows, stats, d) = demux_bytes(bytes, 188);
    assert_eq!(stats.crc_errors, 1);
    assert_eq!(d.streams().len(), 2);
    assert!(!rows.is_empty());
    let e = TsDemuxer::new(Input::from_bytes(vec![0u8; 10], "mem"), 200, &MemoryConfig::default()).unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e}");
    // Empty and garbage-only inputs give no packets and no panic.
    let (rows, stats, _) = demux_bytes(Vec::new(), 188);
    assert!(rows.is_empty() && !stats.truncated);
    let (rows, stats, _) = demux_bytes(vec![0x47; 5000], 188);
    assert!(rows.is_empty());
    assert_eq!(stats.bytes_read, 5000);
}

/// A long-form PSI section with its CRC.
fn section(table_id: u8, id: u16, version: u8, body: &[u8]) -> Vec<u8> {
    let len = 5 + body.len() + 4;
    let mut s = vec![table_id, 0xB0 | (len >> 8) as u8, len as u8, (id >> 8) as u8, id as u8, 0xC1 | (version << 1), 0, 0];
    s.extend_from_slice(body);
    let crc = transcode_demux_bridge::ts::psi::crc32(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}

/// A PMT body: PCR PID, then `(stream_type, pid)` entries without descriptors.
fn pmt_body(pcr: u16, streams: &[(u8, u16)]) -> Vec<u8> {
    let mut b = vec![0xE0 | (pcr >> 8) as u8, pcr as u8, 0xF0, 0];
    for &(t, pid) in streams {
        b.extend_from_slice(&[t, 0xE0 | (pid >> 8) as u8, pid as u8, 0xF0, 0]);
    }
    b
}

/// `pkt` with its payload replaced by `section` (pointer field 0, 0xFF stuffing), keeping
/// its header (PID, continuity counter) unless `pid` is given.
fn with_section(pkt: &[u8], pid: Option<u16>, section: &[u8]) -> Vec<u8> {
    let mut p = vec![0xFFu8; 188];
    p[..4].copy_from_slice(&pkt[..4]);
    p[3] = (p[3] & 0x0F) | 0x10;
    if let Some(pid) = pid {
        p[1] = (p[1] & 0xE0) | (pid >> 8) as u8;
        p[2] = pid as u8;
    }
    p[4] = 0;
    p[5..5 + section.len()].copy_from_slice(section);
    p
}

fn pid_of(p: &[u8]) -> u16 {
    (((p[1] & 0x1F) as u16) << 8) | p[2] as u16
}

#[test]
fn two_programs_interleaved_keep_their_streams_apart() {
    let a = std::fs::read(testdata("ts/h264_aac.ts")).unwrap();
    let b = std::fs::read(testdata("ts/mpeg2_mp2.ts")).unwrap();
    let pat = section(0, 1, 0, &[0, 1, 0xF0, 0x00, 0, 2, 0xF1, 0x00]);
    let pmt_b = section(2, 2, 0, &pmt_body(0x200, &[(0x02, 0x200), (0x03, 0x201)]));
    let a: Vec<Vec<u8>> = a.chunks(188).map(|p| if pid_of(p) == 0 { with_section(p, None, &pat) } else { p.to_vec() }).collect();
    // Program 2: the MPEG-2 file with its PIDs moved (PMT 0x1100, streams 0x200/0x201);
    // its own PAT and SDT are left out.
    let b: Vec<Vec<u8>> = b
        .chunks(188)
        .filter(|p| !matches!(pid_of(p), 0 | 0x11))
        .map(|p| match pid_of(p) {
            0x1000 => with_section(p, Some(0x1100), &pmt_b),
            pid => {
                let mut p = p.to_vec();
                let new = pid + 0x100;
                p[1] = (p[1] & 0xE0) | (new >> 8) as u8;
                p[2] = new as u8;
                p
            }
        })
        .collect();
    let mut bytes = Vec::new();
    for i in 0..a.len().max(b.len()) {
        for side in [&a, &b] {
            if let Some(p) = side.get(i) {
                bytes.extend_from_slice(p);
            }
        }
    }
    let (rows, stats, d) = demux_bytes(bytes, 188);
    assert_eq!((stats.cc_errors, stats.crc_errors, stats.resyncs), (0, 0, 0));
    let ids: Vec<(u32, CodecId)> = d.streams().iter().map(|s| (s.id, s.codec)).collect();
    assert_eq!(ids, vec![(0x100, CodecId::H264), (0x101, CodecId::Aac), (0x200, CodecId::Mpeg2Video), (0x201, CodecId::Mp2)]);
    let got = per_stream(&rows, 4);
    let oa = oracle_rows(&read_framemd5(&testdata("ts/h264_aac.ts.packets")), |s| s == 1);
    let ob = oracle_rows(&read_framemd5(&testdata("ts/mpeg2_mp2.ts.packets")), |s| s == 1);
    let renumber = |rows: &[Row], s: usize| rows.iter().map(|r| Row { stream: s, ..r.clone() }).collect::<Vec<_>>();
    let want = vec![oa[0].clone(), oa[1].clone(), renumber(&ob[0], 2), renumber(&ob[1], 3)];
    assert_rows_eq("two programs", &got, &want);
}

#[test]
fn new_pmt_version_adds_and_removes_streams() {
    let orig = std::fs::read(testdata("ts/h264_aac.ts")).unwrap();
    let n = orig.len() / 188;
    let v1 = section(2, 1, 1, &pmt_body(0x100, &[(0x1B, 0x100), (0x1B, 0x102)]));
    let mut changed_at = None;
    let bytes: Vec<u8> = orig
        .chunks(188)
        .enumerate()
        .flat_map(|(i, p)| {
            if i > n / 2 && pid_of(p) == 0x1000 {
                changed_at.get_or_insert(i);
                with_section(p, None, &v1)
            } else {
                p.to_vec()
            }
        })
        .collect();
    let changed_at = changed_at.unwrap();
    let (rows, stats, d) = demux_bytes(bytes, 188);
    assert_eq!((stats.cc_errors, stats.crc_errors), (0, 0));
    let ids: Vec<(usize, u32, CodecId)> = d.streams().iter().map(|s| (s.index, s.id, s.codec)).collect();
    assert_eq!(ids, vec![(0, 0x100, CodecId::H264), (1, 0x101, CodecId::Aac), (2, 0x102, CodecId::H264)]);
    let o = oracle_rows(&read_framemd5(&testdata("ts/h264_aac.ts.packets")), |s| s == 1);
    let got = per_stream(&rows, 3);
    // Video is untouched; audio stops with the PES that was complete before the new PMT.
    assert_eq!(got[0], o[0]);
    assert!(!got[1].is_empty() && got[1].len() < o[1].len());
    assert_eq!(got[1][..], o[1][..got[1].len()]);
    assert!(got[2].is_empty());
    assert!(changed_at > n / 2);
}

#[test]
fn discontinuity_indicator_excuses_a_gap() {
    let orig = std::fs::read(testdata("ts/h264_aac.ts")).unwrap();
    let pkts: Vec<&[u8]> = orig.chunks(188).collect();
    // A video packet with an adaptation field past the start; drop the video packet
    // before it and flag the discontinuity.
    let at = (100..pkts.len()).find(|&i| pid_of(pkts[i]) == 0x100 && pkts[i][3] & 0x20 != 0 && pkts[i][4] > 0).unwrap();
    let before = (0..at).rev().find(|&i| pid_of(pkts[i]) == 0x100).unwrap();
    let mut bytes = Vec::new();
    for (i, p) in pkts.iter().enumerate() {
        if i == before {
            continue;
        }
        let mut p = p.to_vec();
        if i == at {
            p[5] |= 0x80;
        }
        bytes.extend_from_slice(&p);
    }
    let (_, stats, _) = demux_bytes(bytes, 188);
    assert_eq!((stats.cc_errors, stats.discontinuities), (0, 1));
}

#[test]
fn video_streams_are_described() {
    for (name, size) in FIXTURES {
        let bytes = std::fs::read(testdata(name)).unwrap();
        let (_, _, d) = demux_bytes(bytes, size);
        let v = &d.streams()[0];
        let params = v.video.unwrap_or_else(|| panic!("{name}: no video description"));
        assert_eq!((params.width, params.height), (320, 180), "{name}");
        assert!(!v.extradata.is_empty(), "{name}");
        let a = d.streams()[1].audio.unwrap();
        assert_eq!((a.sample_rate, a.channels), (48000, 2), "{name}");
    }
}

#[test]
fn random_damage_never_panics() {
    // xorshift64*: deterministic damage, so a failure reproduces.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut rand = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    for (name, size) in FIXTURES {
        let orig = std::fs::read(testdata(name)).unwrap();
        for round in 0..100 {
            let mut bytes = orig.clone();
            // Flip bytes (headers included), cut the file, and splice a piece elsewhere.
            for _ in 0..(1 + rand() % 64) {
                let i = (rand() as usize) % bytes.len();
                bytes[i] = rand() as u8;
            }
            if round % 3 == 0 {
                let cut = (rand() as usize) % bytes.len();
                bytes.truncate(cut);
            }
            if round % 4 == 1 && bytes.len() > 2000 {
                let from = (rand() as usize) % (bytes.len() - 1000);
                let piece = bytes[from..from + 1 + (rand() as usize) % 999].to_vec();
                let at = (rand() as usize) % bytes.len();
                bytes.splice(at..at, piece);
            }
            let config = MemoryConfig { max_packet_size: 1 + rand() % 20_000, ..Default::default() };
            let len = bytes.len() as u64;
            let input = if round % 2 == 0 {
                Input::from_bytes(bytes, "damaged")
            } else {
                Input::from_reader(Box::new(std::io::Cursor::new(bytes)), "damaged pipe", &config)
            };
            let mut d = TsDemuxer::new(input, size, &config).unwrap();
            while let Some(stream) = d.next_packet().unwrap().map(|p| p.stream) {
                assert!(stream < d.streams().len());
            }
            assert_eq!(d.stats().bytes_read, len, "{name} round {round}");
        }
    }
}
