//! mp4 demuxer tests: packets against the FFmpeg oracle tables, stream parameters against
//! ffprobe, pipes, truncation and hostile sizes.
//!
//! What is compared: per stream, every packet's size, MD5, dts, pts and duration equal
//! the `F.packets` line of that stream, in order. The order *across* streams is not
//! compared with the table for fragmented files: FFmpeg wrote the table through its
//! dts interleaver, while the demuxer delivers packets in file-offset order (for the
//! progressive fixtures the two orders coincide, and that is checked). Durations are
//! compared for the progressive files (FFmpeg does not keep `trun` durations); every
//! packet's duration must also be the step to its stream's next dts. Timestamps are
//! compared exactly: the demuxer applies the edit list as FFmpeg does (a shift of
//! `-media_time`, see `transcode_demux_bridge::mp4`'s Timing section).

use std::io::Cursor;

use transcode_core::{BitstreamFormat, CodecId, Error, MemoryConfig};
use transcode_demux_bridge::mp4::Mp4Demuxer;
use transcode_demux_bridge::{Demuxer, Input};
use transcode_testkit::{md5_hex, read_framemd5, testdata, Oracle};

const FIXTURES: [&str; 3] = ["mp4/h264_aac.mp4", "mp4/h264_aac_faststart.mp4", "mp4/h264_aac_frag.mp4"];

/// One demuxed packet, owned, as the tests compare it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Got {
    stream: usize,
    size: usize,
    md5: String,
    dts: Option<i64>,
    pts: Option<i64>,
    duration: Option<i64>,
    keyframe: bool,
}

fn drain(d: &mut dyn Demuxer) -> Vec<Got> {
    let mut out = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        out.push(Got {
            stream: p.stream,
            size: p.data.len(),
            md5: md5_hex(p.data),
            dts: p.dts,
            pts: p.pts,
            duration: p.duration,
            keyframe: p.keyframe,
        });
    }
    out
}

fn open_mapped(rel: &str) -> Mp4Demuxer {
    let config = MemoryConfig::default();
    Mp4Demuxer::new(Input::open(&testdata(rel), &config).unwrap(), &config).unwrap()
}

fn open_bytes(bytes: Vec<u8>) -> Result<Mp4Demuxer, Error> {
    Mp4Demuxer::new(Input::from_bytes(bytes, "mem"), &MemoryConfig::default())
}

fn assert_matches_oracle(rel: &str, got: &[Got], oracle: &Oracle, durations_comparable: bool) {
    for s in 0..oracle.time_bases.len() {
        let want = oracle.stream(s);
        let mine: Vec<&Got> = got.iter().filter(|g| g.stream == s).collect();
        assert_eq!(mine.len(), want.len(), "{rel}: stream {s} packet count");
        for (i, (g, w)) in mine.iter().zip(&want).enumerate() {
            let ctx = format!("{rel}: stream {s} packet {i}");
            assert_eq!(g.size, w.size, "{ctx} size");
            assert_eq!(g.md5, w.md5, "{ctx} md5");
            assert_eq!(g.dts, w.dts, "{ctx} dts");
            assert_eq!(g.pts, w.pts, "{ctx} pts");
            if durations_comparable {
                assert_eq!(g.duration, Some(w.duration), "{ctx} duration");
            }
        }
        // Each duration is the step to the next decode time.
        for (i, w) in mine.windows(2).enumerate() {
            assert_eq!(
                w[0].dts.unwrap() + w[0].duration.unwrap(),
                w[1].dts.unwrap(),
                "{rel}: stream {s} packet {i} duration"
            );
        }
    }
}

/// `#extradata N, size, md5` lines of a framemd5 table.
fn oracle_extradata(rel: &str) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(testdata(&format!("{rel}.packets"))).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("#extradata "))
        .map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            (f[1].parse().unwrap(), f[2].to_string())
        })
        .collect()
}

/// The value of `"key": value` in the `n`-th stream object of an ffprobe JSON dump.
fn probe_value(json: &str, stream: usize, key: &str) -> String {
    let start = json.find(&format!("\"index\": {stream},")).expect("stream in ffprobe json");
    let rest = &json[start..];
    let at = rest.find(&format!("\"{key}\": ")).unwrap_or_else(|| panic!("{key} in ffprobe json"));
    let v = &rest[at + key.len() + 4..];
    let end = v.find([',', '\n']).unwrap();
    v[..end].trim_matches('"').to_string()
}

#[test]
fn packets_match_ffmpeg_oracle() {
    for rel in FIXTURES {
        let mut d = open_mapped(rel);
        let got = drain(&mut d);
        let oracle = read_framemd5(&testdata(&format!("{rel}.packets")));
        // FFmpeg 5.1 does not carry trun durations of fragmented files into its packets
        // (it fills them in from the frame size and frame rate instead), so durations are
        // compared with the table for progressive files only.
        assert_matches_oracle(rel, &got, &oracle, !d.is_fragmented());
        assert!(!d.stats().truncated, "{rel}");
        // Every video packet FFmpeg calls a keyframe is the first of its GOP; the fixture
        // has one every 25 frames.
        let keys: Vec<usize> =
            got.iter().filter(|g| g.stream == 0).enumerate().filter(|(_, g)| g.keyframe).map(|(i, _)| i).collect();
        assert_eq!(keys, vec![0, 25], "{rel}");
        assert!(got.iter().filter(|g| g.stream == 1).all(|g| g.keyframe));
        if !d.is_fragmented() {
            let order: Vec<usize> = got.iter().map(|g| g.stream).collect();
            let want: Vec<usize> = oracle.entries.iter().map(|e| e.stream).collect();
            assert_eq!(order, want, "{rel}: interleaving");
        }
    }
}

#[test]
fn edit_list_shift_is_reported() {
    let d = open_mapped("mp4/h264_aac.mp4");
    assert_eq!((d.edit_shift(0), d.edit_shift(1)), (-1024, -1024));
    assert!(!d.is_fragmented());
    let d = open_mapped("mp4/h264_aac_frag.mp4");
    assert_eq!((d.edit_shift(0), d.edit_shift(1)), (0, 0));
    assert!(d.is_fragmented());
}

#[test]
fn stream_parameters_match_ffprobe() {
    for rel in FIXTURES {
        let d = open_mapped(rel);
        let json = std::fs::read_to_string(testdata(&format!("{rel}.ffprobe.json"))).unwrap();
        let s = d.streams();
        assert_eq!(s.len(), 2, "{rel}");
        let (v, a) = (&s[0], &s[1]);
        assert_eq!((v.index, v.id, a.index, a.id), (0, 1, 1, 2), "{rel}");
        assert_eq!(v.codec, CodecId::H264);
        assert_eq!(v.codec.name(), probe_value(&json, 0, "codec_name"));
        assert_eq!(v.format, BitstreamFormat::LengthPrefixed { len_size: 4 });
        let vp = v.video.unwrap();
        assert_eq!(vp.width.to_string(), probe_value(&json, 0, "width"));
        assert_eq!(vp.height.to_string(), probe_value(&json, 0, "height"));
        assert_eq!((vp.width, vp.height), (320, 180));
        assert_eq!(vp.level.to_string(), probe_value(&json, 0, "level"));
        assert_eq!(vp.profile, 100, "{rel}: High profile");
        assert_eq!(format!("{}/{}", v.time_base.num, v.time_base.den), probe_value(&json, 0, "time_base"));
        assert_eq!(a.codec, CodecId::Aac);
        assert_eq!(a.format, BitstreamFormat::Raw);
        let ap = a.audio.unwrap();
        assert_eq!(ap.sample_rate.to_string(), probe_value(&json, 1, "sample_rate"));
        assert_eq!(ap.channels.to_string(), probe_value(&json, 1, "channels"));
        assert_eq!((ap.sample_rate, ap.channels, ap.frame_samples), (48000, 2, 1024));
        assert_eq!(format!("{}/{}", a.time_base.num, a.time_base.den), probe_value(&json, 1, "time_base"));
        assert_eq!(v.language, Some(*b"und"));
        // The avcC and the AudioSpecificConfig are FFmpeg's extradata, byte for byte.
        let extra = oracle_extradata(rel);
        assert_eq!((v.extradata.len(), md5_hex(&v.extradata)), extra[0].clone(), "{rel}");
        assert_eq!((a.extradata.len(), md5_hex(&a.extradata)), extra[1].clone(), "{rel}");
        assert_eq!(a.extradata, [0x11, 0x90, 0x56, 0xe5, 0x00]);
        if d.is_fragmented() {
            assert_eq!(v.duration, None);
        } else {
            assert_eq!(v.duration.unwrap().to_string(), probe_value(&json, 0, "duration_ts"));
            assert_eq!(a.duration.unwrap().to_string(), probe_value(&json, 1, "duration_ts"));
            assert_eq!(vp.frame_rate, Some((25, 1)));
        }
    }
}

#[test]
fn packets_are_slices_of_the_map() {
    let config = MemoryConfig::default();
    let input = Input::open(&testdata("mp4/h264_aac.mp4"), &config).unwrap();
    let map = input.shared().unwrap().clone();
    let mut d = Mp4Demuxer::new(input, &config).unwrap();
    let mut n = 0;
    while let Some(p) = d.next_packet().unwrap() {
        let pos = p.pos.unwrap() as usize;
        assert_eq!(p.data.as_ptr(), map[pos..].as_ptr());
        n += 1;
    }
    assert_eq!(n, 145);
    assert_eq!(d.input_len(), Some(89304));
    assert_eq!(d.stats().bytes_read, 86444, "the last sample ends where the moov starts");
}

#[test]
fn pipes_read_moov_first_and_fragmented_files() {
    let config = MemoryConfig { read_buffer_size: 4096, max_packet_size: 16384, ..Default::default() };
    for rel in ["mp4/h264_aac_faststart.mp4", "mp4/h264_aac_frag.mp4"] {
        let bytes = std::fs::read(testdata(rel)).unwrap();
        let mapped = drain(&mut open_mapped(rel));
        let input = Input::from_reader(Box::new(Cursor::new(bytes)), "pipe", &config);
        let mut d = Mp4Demuxer::new(input, &config).unwrap();
        assert_eq!(drain(&mut d), mapped, "{rel}");
        assert_eq!(d.input_len(), None);
        assert!(!d.stats().truncated);
    }
    let bytes = std::fs::read(testdata("mp4/h264_aac.mp4")).unwrap();
    let input = Input::from_reader(Box::new(Cursor::new(bytes)), "pipe", &config);
    match Mp4Demuxer::new(input, &config) {
        Err(Error::Unsupported(msg)) => assert!(msg.contains("moov after the media data"), "{msg}"),
        other => panic!("expected unsupported, got {other:?}"),
    }
}

#[test]
fn truncated_files_give_the_packets_before_the_damage() {
    for rel in ["mp4/h264_aac_faststart.mp4", "mp4/h264_aac_frag.mp4"] {
        let bytes = std::fs::read(testdata(rel)).unwrap();
        let full = drain(&mut open_mapped(rel));
        for cut in [bytes.len() * 3 / 5, bytes.len() - 1000, 50_000] {
            let mut d = open_bytes(bytes[..cut].to_vec()).unwrap();
            let got = drain(&mut d);
            assert!(d.stats().truncated, "{rel} cut at {cut}");
            assert!(!got.is_empty() && got.len() < full.len(), "{rel} cut at {cut}: {} packets", got.len());
            assert_eq!(got[..], full[..got.len()], "{rel} cut at {cut}");
            // Pipes see the same.
            let config = MemoryConfig::default();
            let input = Input::from_reader(Box::new(Cursor::new(bytes[..cut].to_vec())), "pipe", &config);
            let mut d = Mp4Demuxer::new(input, &config).unwrap();
            assert_eq!(drain(&mut d), got, "{rel} cut at {cut}, pipe");
            assert!(d.stats().truncated);
        }
    }
    // Cut inside the moov: no samples can be found, which is an error, not a panic.
    let bytes = std::fs::read(testdata("mp4/h264_aac_faststart.mp4")).unwrap();
    assert!(matches!(open_bytes(bytes[..500].to_vec()), Err(Error::InvalidData { .. })));
}

/// Offset of the first `typ` box header in `bytes` (for patching fixtures).
fn find_box(bytes: &[u8], typ: &[u8; 4]) -> usize {
    bytes.windows(4).position(|w| w == typ).expect("box in fixture") - 4
}

#[test]
fn a_moov_claiming_a_terabyte_is_refused_before_allocating() {
    let bytes = std::fs::read(testdata("mp4/h264_aac_faststart.mp4")).unwrap();
    let moov = find_box(&bytes, b"moov");
    let mut bad = bytes[..moov].to_vec();
    bad.extend_from_slice(&1u32.to_be_bytes());
    bad.extend_from_slice(b"moov");
    bad.extend_from_slice(&(1u64 << 40).to_be_bytes());
    bad.extend_from_slice(&bytes[moov + 8..]);
    match open_bytes(bad.clone()) {
        Err(Error::LimitExceeded { what: "moov box bytes", requested, limit }) => {
            assert_eq!((requested, limit), (1 << 40, MemoryConfig::DEFAULT_MAX_MEMORY));
        }
        other => panic!("expected a limit error, got {other:?}"),
    }
    // The same through a pipe: refused before any read of the body.
    let config = MemoryConfig::default();
    let input = Input::from_reader(Box::new(Cursor::new(bad)), "pipe", &config);
    assert!(matches!(Mp4Demuxer::new(input, &config), Err(Error::LimitExceeded { .. })));
    // A child box claiming more than its parent holds.
    let mut bad = bytes.clone();
    let stsd = find_box(&bad, b"stsd");
    bad[stsd..stsd + 4].copy_from_slice(&0x7FFF_FFF0u32.to_be_bytes());
    match open_bytes(bad) {
        Err(Error::InvalidData { offset: Some(o), reason }) => {
            assert_eq!(o, stsd as u64);
            assert!(reason.contains("'stsd' claims 2147483632 bytes"), "{reason}");
        }
        other => panic!("expected invalid data, got {other:?}"),
    }
}

#[test]
fn an_stsz_with_738_million_entries_is_refused() {
    let bytes = std::fs::read(testdata("mp4/h264_aac_faststart.mp4")).unwrap();
    let stsz = find_box(&bytes, b"stsz");
    // stsz body: version/flags, sample_size (0: a table follows), sample_count.
    let count_at = stsz + 8 + 4 + 4;
    assert_eq!(u32::from_be_bytes(bytes[count_at..count_at + 4].try_into().unwrap()), 50);
    let mut bad = bytes.clone();
    bad[count_at..count_at + 4].copy_from_slice(&738_000_000u32.to_be_bytes());
    match open_bytes(bad.clone()) {
        Err(Error::LimitExceeded { what: "stsz entries", requested: 738_000_000, limit }) => {
            assert_eq!(limit, 16 << 20);
        }
        other => panic!("expected a limit error, got {other:?}"),
    }
    // Within a raised limit, the count still has to fit the box.
    let config = MemoryConfig { max_table_entries: 1 << 30, ..Default::default() };
    match Mp4Demuxer::new(Input::from_bytes(bad, "mem"), &config) {
        Err(Error::InvalidData { offset: Some(o), reason }) => {
            assert_eq!(o, count_at as u64);
            assert!(reason.contains("738000000 entries need 2952000000 bytes"), "{reason}");
        }
        other => panic!("expected invalid data, got {other:?}"),
    }
}

#[test]
fn samples_pointing_past_the_end_stop_cleanly() {
    // Point the video track's last chunk past the end of the file.
    let bytes = std::fs::read(testdata("mp4/h264_aac_faststart.mp4")).unwrap();
    let stco = find_box(&bytes, b"stco");
    let count = u32::from_be_bytes(bytes[stco + 12..stco + 16].try_into().unwrap()) as usize;
    let last = stco + 16 + (count - 1) * 4;
    let mut bad = bytes.clone();
    bad[last..last + 4].copy_from_slice(&0xFFFF_FF00u32.to_be_bytes());
    let mut d = open_bytes(bad).unwrap();
    let got = drain(&mut d);
    assert!(d.stats().truncated);
    assert!(got.len() > 100 && got.len() < 145, "{}", got.len());
}

#[test]
fn damaged_moov_bytes_never_panic() {
    // Deterministic byte flips all over the moov: every outcome must be a value.
    let bytes = std::fs::read(testdata("mp4/h264_aac_faststart.mp4")).unwrap();
    let moov = find_box(&bytes, b"moov");
    let moov_len = u32::from_be_bytes(bytes[moov..moov + 4].try_into().unwrap()) as usize;
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut opened = 0;
    for _ in 0..3000 {
        let mut bad = bytes.clone();
        for _ in 0..1 + rnd() % 3 {
            let at = moov + (rnd() as usize % moov_len);
            bad[at] = match rnd() % 4 {
                0 => 0,
                1 => 0xFF,
                2 => bad[at] ^ (1 << (rnd() % 8)),
                _ => rnd() as u8,
            };
        }
        if let Ok(mut d) = open_bytes(bad) {
            opened += 1;
            let mut n = 0;
            while let Ok(Some(_)) = d.next_packet() {
                n += 1;
                assert!(n < 10_000_000);
            }
        }
    }
    assert!(opened > 1000, "most flips leave a readable file ({opened})");
}
