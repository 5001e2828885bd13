//! Elementary-stream demuxer tests: every `es/` and `y4m/` fixture gives FFmpeg's packets
//! (count, order, sizes, MD5s), from a memory map and from a pipe alike.

use transcode_core::{CodecId, Error, MemoryConfig};
use transcode_demux_bridge::{open_demuxer, open_demuxer_as, Demuxer, Format, Input};
use transcode_testkit::{fixtures, md5_hex, read_framemd5, testdata};

#[derive(Debug, PartialEq)]
struct Got {
    size: usize,
    md5: String,
    pts: Option<i64>,
    dts: Option<i64>,
    keyframe: bool,
}

fn drain(demux: &mut dyn Demuxer) -> Vec<Got> {
    let mut out = Vec::new();
    while let Some(p) = demux.next_packet().unwrap() {
        assert_eq!(p.stream, 0);
        out.push(Got { size: p.data.len(), md5: md5_hex(p.data), pts: p.pts, dts: p.dts, keyframe: p.keyframe });
    }
    out
}

fn es_fixtures() -> Vec<String> {
    let all: Vec<String> = fixtures().into_iter().filter(|f| f.starts_with("es/") || f.starts_with("y4m/")).collect();
    assert!(all.len() >= 5, "es and y4m fixtures: {all:?}");
    all
}

fn check_against_oracle(rel: &str, got: &[Got]) {
    let oracle = read_framemd5(&testdata(&format!("{rel}.packets")));
    let want = oracle.stream(0);
    assert_eq!(got.len(), want.len(), "{rel}: packet count");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!((g.size, &g.md5), (w.size, &w.md5), "{rel}: packet {i}");
    }
}

#[test]
fn every_es_fixture_matches_ffmpeg_packets_when_mapped() {
    for rel in es_fixtures() {
        let config = MemoryConfig::default();
        let input = Input::open(&testdata(&rel), &config).unwrap();
        assert!(input.is_seekable());
        let mut demux = open_demuxer(input, &config).unwrap();
        let got = drain(demux.as_mut());
        check_against_oracle(&rel, &got);
        let stats = demux.stats();
        assert!(!stats.truncated, "{rel}");
        assert_eq!(stats.resyncs, 0, "{rel}");
        assert_eq!(stats.bytes_read, std::fs::metadata(testdata(&rel)).unwrap().len(), "{rel}");
    }
}

#[test]
fn streaming_input_gives_the_same_packets() {
    // A small read buffer makes units and frames straddle reads.
    let config = MemoryConfig { read_buffer_size: 4096, ..Default::default() };
    for rel in es_fixtures() {
        let mapped = {
            let input = Input::open(&testdata(&rel), &config).unwrap();
            drain(open_demuxer(input, &config).unwrap().as_mut())
        };
        let file = std::fs::File::open(testdata(&rel)).unwrap();
        let input = Input::from_reader(Box::new(file), &rel, &config);
        assert!(!input.is_seekable());
        let streamed = drain(open_demuxer(input, &config).unwrap().as_mut());
        assert_eq!(streamed, mapped, "{rel}");
    }
}

#[test]
fn annexb_streams_are_described_and_timed() {
    for (rel, codec, keys, extradata_oracle) in [
        ("es/h264.h264", CodecId::H264, [0, 25], "es/h264.h264.to-mp4.packets"),
        ("es/h265.h265", CodecId::H265, [0, 21], "es/h265.h265.to-mp4.packets"),
    ] {
        let config = MemoryConfig::default();
        let mut demux = open_demuxer(Input::open(&testdata(rel), &config).unwrap(), &config).unwrap();
        let info = demux.streams()[0].clone();
        assert_eq!(info.codec, codec);
        let v = info.video.unwrap();
        assert_eq!((v.width, v.height, v.frame_rate), (320, 180, Some((25, 1))));
        // The record FFmpeg writes into the MP4 made from this stream.
        let text = std::fs::read_to_string(testdata(extradata_oracle)).unwrap();
        let line = text.lines().find(|l| l.starts_with("#extradata 0,")).unwrap();
        assert!(line.ends_with(&md5_hex(&info.extradata)), "{rel}: {line}");
        let got = drain(demux.as_mut());
        let key_idx: Vec<usize> = got.iter().enumerate().filter(|(_, g)| g.keyframe).map(|(i, _)| i).collect();
        // ffprobe -show_packets flags these packets K.
        assert_eq!(key_idx, keys, "{rel}");
        // The third picture in decoding order is the first B-frame: x264's shows second
        // (POC 4 after 0 and 8), x265's fourth (POC 3 after 0 and 5); two frames of
        // reorder delay put the first dts two frames before 0.
        let third = if codec == CodecId::H264 { 2 } else { 3 };
        assert_eq!(
            (got[0].dts, got[0].pts, got[2].dts, got[2].pts),
            (Some(-7200), Some(0), Some(0), Some(third * 3600))
        );
    }
}

/// Ranks of the values: `[30, 10, 20]` gives `[2, 0, 1]`.
fn ranks(values: &[i64]) -> Vec<usize> {
    let mut sorted = values.to_vec();
    sorted.sort();
    values.iter().map(|v| sorted.binary_search(v).unwrap()).collect()
}

fn check_timestamps(rel: &str, got: &[Got]) -> Vec<i64> {
    let pts: Vec<i64> = got.iter().map(|g| g.pts.unwrap()).collect();
    let dts: Vec<i64> = got.iter().map(|g| g.dts.unwrap()).collect();
    assert!(dts.windows(2).all(|w| w[0] < w[1]), "{rel}: dts must strictly increase: {dts:?}");
    assert!(pts.iter().zip(&dts).all(|(p, d)| p >= d), "{rel}: pts before dts: {pts:?} / {dts:?}");
    let mut distinct = pts.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), pts.len(), "{rel}: repeated pts {pts:?}");
    pts
}

#[test]
fn annexb_pts_give_the_display_order_of_the_same_encode_in_a_container() {
    // The MP4 and TS fixtures hold the same x264 / x265 encodes as the elementary
    // streams (the TS with a 7-byte access unit delimiter more per packet, the MP4 with
    // the IDRs' SEI moved out), and their timestamps are the encoder's: the order of
    // their pts is the display order FFmpeg decodes.
    for (rel, container, aud) in
        [("es/h264.h264", "mp4/h264_aac.mp4.packets", 0), ("es/h265.h265", "ts/h265_aac.ts.packets", 7)]
    {
        for config in [MemoryConfig::default(), MemoryConfig { read_buffer_size: 4096, ..Default::default() }] {
            let file = std::fs::File::open(testdata(rel)).unwrap();
            for input in
                [Input::open(&testdata(rel), &config).unwrap(), Input::from_reader(Box::new(file), rel, &config)]
            {
                let got = drain(open_demuxer(input, &config).unwrap().as_mut());
                let pts = check_timestamps(rel, &got);
                let oracle = read_framemd5(&testdata(container));
                let want = oracle.stream(0);
                assert_eq!(got.len(), want.len(), "{rel}");
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    if !g.keyframe {
                        assert_eq!(g.size + aud, w.size, "{rel}: packet {i} is not the same picture in {container}");
                    }
                }
                let want_pts: Vec<i64> = want.iter().map(|w| w.pts.unwrap()).collect();
                assert_eq!(ranks(&pts), ranks(&want_pts), "{rel}: display order");
                // pts are the display slots: 0, 1, 2, ... frames.
                assert_eq!(ranks(&pts), pts.iter().map(|p| (p / 3600) as usize).collect::<Vec<_>>(), "{rel}");
            }
        }
    }
}

#[test]
fn reordering_beyond_the_lookahead_budget_keeps_timestamps_valid() {
    // A quarter of the packet limit lets the demuxer look only a few pictures ahead of
    // the big keyframes, so it has to give out display slots before it has seen every
    // picture that comes earlier: the order may suffer, the timestamps must not.
    let config = MemoryConfig { max_packet_size: 12_000, ..Default::default() };
    for (rel, format) in [("es/h264.h264", Format::H264), ("es/h265.h265", Format::H265)] {
        let input = Input::open(&testdata(rel), &config).unwrap();
        let got = drain(open_demuxer_as(input, format, &config).unwrap().as_mut());
        check_against_oracle(rel, &got);
        check_timestamps(rel, &got);
    }
}

#[test]
fn annexb_stream_cut_before_its_parameter_sets_is_reordered_from_the_next_idr() {
    // Without the first access unit no slice header can be read until the next IDR
    // brings an SPS and PPS: until then pictures are shown in the order they come, from
    // then on in POC order, two frames later to make room for the reorder delay.
    let config = MemoryConfig::default();
    let data = std::fs::read(testdata("es/h264.h264")).unwrap();
    let first_p = 4569; // the second access unit
    let mut d =
        open_demuxer_as(Input::from_bytes(data[first_p..].to_vec(), "cut.h264"), Format::H264, &config).unwrap();
    let got = drain(d.as_mut());
    let pts = check_timestamps("cut.h264", &got);
    assert!(pts[..24].windows(2).all(|w| w[0] < w[1]));
    let idr = 24;
    assert!(got[idr].keyframe);
    let want = read_framemd5(&testdata("mp4/h264_aac.mp4.packets"));
    let want_pts: Vec<i64> = want.stream(0)[idr + 1..].iter().map(|w| w.pts.unwrap()).collect();
    assert_eq!(ranks(&pts[idr..]), ranks(&want_pts));
    assert_eq!(pts[idr], (idr as i64 + 2) * 3600);
}

#[test]
fn audio_and_y4m_streams_are_described() {
    let config = MemoryConfig::default();
    let d = open_demuxer(Input::open(&testdata("es/aac.aac"), &config).unwrap(), &config).unwrap();
    let s = &d.streams()[0];
    assert_eq!((s.codec, s.time_base.den, s.extradata.as_slice()), (CodecId::Aac, 48000, &[0x11u8, 0x90][..]));
    let d = open_demuxer(Input::open(&testdata("es/mp2.mp2"), &config).unwrap(), &config).unwrap();
    assert_eq!(d.streams()[0].codec, CodecId::Mp2);
    assert_eq!(d.streams()[0].audio.unwrap().frame_samples, 1152);
    let d = open_demuxer(Input::open(&testdata("y4m/small.y4m"), &config).unwrap(), &config).unwrap();
    let s = &d.streams()[0];
    assert_eq!((s.codec, s.time_base.num, s.time_base.den), (CodecId::RawVideo, 1, 25));
    assert_eq!(s.extradata, b"YUV4MPEG2 W160 H90 F25:1 Ip A1:1 C420jpeg XYSCSS=420JPEG");
}

#[test]
fn y4m_picture_larger_than_the_packet_limit_is_refused_before_reading() {
    let config = MemoryConfig { max_packet_size: 10_000, ..Default::default() };
    let input = Input::open(&testdata("y4m/small.y4m"), &config).unwrap();
    match open_demuxer(input, &config) {
        Err(Error::LimitExceeded { what, requested, limit }) => {
            assert_eq!((what, requested, limit), ("y4m picture", 21600, 10_000));
        }
        other => panic!("expected a limit error, got {:?}", other.map(|d| d.format_name())),
    }
    let huge = b"YUV4MPEG2 W65536 H65536 F25:1 C444\nFRAME\n".to_vec();
    assert!(matches!(
        open_demuxer(Input::from_bytes(huge, "huge.y4m"), &MemoryConfig::default()),
        Err(Error::LimitExceeded { .. })
    ));
}

#[test]
fn truncated_streams_end_with_the_flag_set() {
    let config = MemoryConfig::default();
    for (rel, cut) in [("es/aac.aac", 1000), ("es/mp2.mp2", 1000), ("y4m/small.y4m", 30_000)] {
        let data = std::fs::read(testdata(rel)).unwrap();
        let input = Input::from_bytes(data[..cut].to_vec(), rel);
        let mut d = open_demuxer(input, &config).unwrap();
        let got = drain(d.as_mut());
        assert!(!got.is_empty(), "{rel}");
        assert!(d.stats().truncated, "{rel}");
    }
    // A cut Annex-B stream still gives its complete access units, then the rest.
    let data = std::fs::read(testdata("es/h264.h264")).unwrap();
    let mut d = open_demuxer(Input::from_bytes(data[..20_000].to_vec(), "cut.h264"), &config).unwrap();
    let got = drain(d.as_mut());
    assert_eq!(got.iter().map(|g| g.size).sum::<usize>(), 20_000);
}

#[test]
fn adts_resynchronises_after_garbage() {
    let config = MemoryConfig::default();
    let data = std::fs::read(testdata("es/aac.aac")).unwrap();
    let first = 245;
    let mut broken = data[..first].to_vec();
    broken.extend_from_slice(&[0x12, 0x34, 0xFF, 0x00, 0x55]);
    broken.extend_from_slice(&data[first..]);
    let mut d = open_demuxer_as(Input::from_bytes(broken, "broken.aac"), Format::Adts, &config).unwrap();
    let got = drain(d.as_mut());
    let oracle = read_framemd5(&testdata("es/aac.aac.packets"));
    assert_eq!(got.len(), oracle.entries.len());
    assert_eq!(got[1].md5, oracle.entries[1].md5);
    assert_eq!((d.stats().resyncs, d.stats().bytes_skipped), (1, 5));
}

#[test]
fn corrupted_elementary_streams_never_panic() {
    let config = MemoryConfig { max_packet_size: 64 * 1024, ..Default::default() };
    let mut seed = 11u64;
    let mut rnd = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for (rel, format) in [
        ("es/h264.h264", Format::H264),
        ("es/h265.h265", Format::H265),
        ("es/aac.aac", Format::Adts),
        ("es/mp2.mp2", Format::MpegAudio),
        ("y4m/small.y4m", Format::Y4m),
    ] {
        let clean = std::fs::read(testdata(rel)).unwrap();
        for _ in 0..40 {
            let mut data = clean.clone();
            for _ in 0..1 + rnd() % 50 {
                let i = rnd() % data.len();
                data[i] = rnd() as u8;
            }
            data.truncate(data.len() - rnd() % 2000);
            if let Ok(mut d) = open_demuxer_as(Input::from_bytes(data, rel), format, &config) {
                let mut n = 0;
                while let Ok(Some(p)) = d.next_packet() {
                    assert!(p.data.len() as u64 <= config.max_packet_size);
                    n += 1;
                    assert!(n < 100_000);
                }
            }
        }
    }
}

#[test]
fn access_unit_larger_than_the_packet_limit_is_an_error() {
    // The first access unit of the fixture is 4569 bytes.
    let config = MemoryConfig { max_packet_size: 4000, ..Default::default() };
    let input = Input::open(&testdata("es/h264.h264"), &config).unwrap();
    match open_demuxer_as(input, Format::H264, &config) {
        Err(Error::LimitExceeded { what: "access unit", requested: 4569, limit: 4000 }) => {}
        other => panic!("expected a limit error, got {:?}", other.map(|d| d.format_name())),
    }
}

#[test]
fn access_unit_over_the_limit_after_the_first_ends_the_stream_after_the_units_before_it() {
    // The second IDR (packet 25, 4861 bytes) is over the limit. The demuxer meets it
    // while looking ahead for display slots, but still gives the 25 packets before it,
    // each with valid timestamps, before the error.
    let config = MemoryConfig { max_packet_size: 4600, ..Default::default() };
    let input = Input::open(&testdata("es/h264.h264"), &config).unwrap();
    let mut d = open_demuxer_as(input, Format::H264, &config).unwrap();
    let mut got = Vec::new();
    let err = loop {
        match d.next_packet() {
            Ok(Some(p)) => {
                got.push(Got { size: p.data.len(), md5: md5_hex(p.data), pts: p.pts, dts: p.dts, keyframe: p.keyframe })
            }
            Ok(None) => panic!("expected a limit error after {} packets", got.len()),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, Error::LimitExceeded { what: "access unit", requested: 4861, limit: 4600 }), "{err:?}");
    assert_eq!(got.len(), 25);
    check_timestamps("es/h264.h264", &got);
}
