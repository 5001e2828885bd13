//! ts muxer tests: remux every fixture to TS and M2TS, read the result back with the TS
//! demuxer, and compare with the oracle tables (the input's own for TS and M2TS
//! sources, FFmpeg's `-c copy` conversion for MP4 sources).

use std::io::Write;
use std::sync::{Arc, Mutex};

use transcode_codec::nal::{annexb_to_lp, split_annexb};
use transcode_core::{BitstreamFormat, CodecId, MemoryConfig, PacketView, StreamInfo};
use transcode_demux_bridge::ts::TsDemuxer;
use transcode_demux_bridge::{open_demuxer, probe, Demuxer, Input};
use transcode_mux::ts::{TsMuxer, TsOptions};
use transcode_mux::Muxer;
use transcode_testkit::{md5_hex, read_framemd5, testdata, Oracle};

const TS_FIXTURES: [&str; 4] = ["ts/h264_aac.ts", "ts/h264_aac.m2ts", "ts/h265_aac.ts", "ts/mpeg2_mp2.ts"];
const MP4_FIXTURES: [&str; 3] = ["mp4/h264_aac.mp4", "mp4/h264_aac_faststart.mp4", "mp4/h264_aac_frag.mp4"];

/// A writer the test can read back after the muxer (which owns a boxed writer) is done.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One packet as the oracle tables describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    dts: Option<i64>,
    pts: Option<i64>,
    size: usize,
    md5: String,
}

/// Demuxes `input` and muxes every packet to TS with `options`; returns the output and
/// the input's streams.
fn remux(input: Input, options: TsOptions) -> (Vec<u8>, Vec<StreamInfo>) {
    let config = MemoryConfig::default();
    let mut demux = open_demuxer(input, &config).unwrap();
    let out = Shared::default();
    let mut mux = TsMuxer::new(Box::new(out.clone()), options);
    // The streams' descriptions (extradata) are complete after the first packets; the
    // TS demuxer knows its streams from the start, the MP4 demuxer from its moov.
    let streams = demux.streams().to_vec();
    mux.begin(&streams).unwrap();
    while let Some(p) = demux.next_packet().unwrap() {
        mux.write_packet(&p).unwrap();
    }
    mux.finish().unwrap();
    let bytes = out.0.lock().unwrap().clone();
    assert_eq!(mux.bytes_written(), bytes.len() as u64);
    (bytes, streams)
}

/// Per-stream rows of a TS file.
fn read_back(bytes: Vec<u8>, packet_size: usize) -> (Vec<Vec<Row>>, Vec<StreamInfo>) {
    let mut d = TsDemuxer::new(Input::from_bytes(bytes, "out"), packet_size, &MemoryConfig::default()).unwrap();
    let mut rows: Vec<Vec<Row>> = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        if rows.len() <= p.stream {
            rows.resize(p.stream + 1, Vec::new());
        }
        rows[p.stream].push(Row { dts: p.dts, pts: p.pts, size: p.data.len(), md5: md5_hex(p.data) });
    }
    let s = d.stats();
    assert_eq!((s.resyncs, s.cc_errors, s.crc_errors, s.dropped_packets, s.truncated), (0, 0, 0, 0, false), "{s:?}");
    (rows, d.streams().to_vec())
}

fn oracle_rows(o: &Oracle, shift: &[i64]) -> Vec<Vec<Row>> {
    (0..o.codecs.len())
        .map(|s| {
            o.stream(s)
                .into_iter()
                .map(|e| Row { dts: e.dts.map(|t| t + shift[s]), pts: e.pts.map(|t| t + shift[s]), size: e.size, md5: e.md5.clone() })
                .collect()
        })
        .collect()
}

fn assert_rows(name: &str, got: &[Vec<Row>], want: &[Vec<Row>], timestamps: bool) {
    assert_eq!(got.len(), want.len(), "{name}: streams");
    for s in 0..want.len() {
        for (i, (g, w)) in got[s].iter().zip(&want[s]).enumerate() {
            if timestamps {
                assert_eq!(g, w, "{name}: stream {s} packet {i}");
            } else {
                assert_eq!((g.size, &g.md5), (w.size, &w.md5), "{name}: stream {s} packet {i}");
            }
        }
        assert_eq!(got[s].len(), want[s].len(), "{name}: packets of stream {s}");
    }
}

#[test]
fn ts_and_m2ts_remux_to_ts_keep_every_packet_and_timestamp() {
    for name in TS_FIXTURES {
        let input = Input::open(&testdata(name), &MemoryConfig::default()).unwrap();
        let (bytes, streams) = remux(input, TsOptions::default());
        assert_eq!(bytes.len() % 188, 0);
        assert_eq!(probe::detect_bytes(&bytes), Some(probe::Format::MpegTs { packet_size: 188 }));
        let (rows, out_streams) = read_back(bytes, 188);
        let o = read_framemd5(&testdata(&format!("{name}.packets")));
        assert_rows(name, &rows, &oracle_rows(&o, &[0, 0]), true);
        // The streams were fully known when the muxer began (the demuxer probes the
        // M2TS file's private-data audio stream before the first packet).
        let codecs = |s: &[StreamInfo]| s.iter().map(|s| (s.codec, s.format)).collect::<Vec<_>>();
        assert_eq!(codecs(&out_streams), codecs(&streams), "{name}");
        assert_eq!(codecs(&streams)[1].1, if name.contains("mpeg2") { BitstreamFormat::Raw } else { BitstreamFormat::Adts });
        assert_eq!(out_streams[0].id, 0x100);
    }
}

#[test]
fn ts_to_m2ts_is_readable_as_192_byte_packets() {
    for name in TS_FIXTURES {
        let input = Input::open(&testdata(name), &MemoryConfig::default()).unwrap();
        let (bytes, _) = remux(input, TsOptions { m2ts: true, ..Default::default() });
        assert_eq!(bytes.len() % 192, 0);
        assert!(bytes.chunks(192).all(|p| p[4] == 0x47));
        assert_eq!(probe::detect_bytes(&bytes), Some(probe::Format::MpegTs { packet_size: 192 }));
        // Arrival timestamps never go backwards (they follow the PCR).
        let ats: Vec<u32> = bytes.chunks(192).map(|p| u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x3FFF_FFFF).collect();
        assert!(ats.windows(2).all(|w| w[0] <= w[1]), "{name}");
        let (rows, _) = read_back(bytes, 192);
        let o = read_framemd5(&testdata(&format!("{name}.packets")));
        assert_rows(name, &rows, &oracle_rows(&o, &[0, 0]), true);
    }
}

/// PCR values of a TS file's packets in order, with their PIDs.
fn pcrs(bytes: &[u8]) -> Vec<(u16, u64)> {
    bytes
        .chunks(188)
        .filter(|p| p[3] & 0x20 != 0 && p[4] >= 7 && p[5] & 0x10 != 0)
        .map(|p| {
            let b = &p[6..12];
            let base = (b[0] as u64) << 25 | (b[1] as u64) << 17 | (b[2] as u64) << 9 | (b[3] as u64) << 1 | (b[4] as u64) >> 7;
            let pid = (((p[1] & 0x1F) as u16) << 8) | p[2] as u16;
            (pid, base * 300 + (((b[4] & 1) as u64) << 8 | b[5] as u64))
        })
        .collect()
}

#[test]
fn pcr_and_psi_are_repeated() {
    let input = Input::open(&testdata("ts/h264_aac.ts"), &MemoryConfig::default()).unwrap();
    let (bytes, _) = remux(input, TsOptions::default());
    let pcr = pcrs(&bytes);
    assert!(pcr.iter().all(|&(pid, _)| pid == 0x100));
    assert!(pcr.windows(2).all(|w| w[0].1 <= w[1].1));
    // Once per 25 fps frame (40 ms) over the 2 s file; the first DTS is 126000 so the
    // PCR starts 0.7 s before it.
    let gaps: Vec<u64> = pcr.windows(2).map(|w| w[1].1 - w[0].1).collect();
    assert!(gaps.iter().all(|&g| g == 40 * 27_000), "{gaps:?}");
    assert_eq!(pcr[0].1, (126_000 - 63_000) * 300);
    assert_eq!(pcr.len(), 50);
    // PAT first, PMT second, both repeated about every 100 ms (2 s of stream).
    assert_eq!(&bytes[1..3], &[0x40, 0x00]);
    assert_eq!(&bytes[189..191], &[0x50, 0x00]);
    let pats = bytes.chunks(188).filter(|p| p[1] & 0x1F == 0 && p[2] == 0).count();
    assert!((18..=22).contains(&pats), "{pats}");
}

/// Turns an MP4-like set of streams out of a TS fixture: length-prefixed H.264 with its
/// avcC, raw AAC with its AudioSpecificConfig.
#[test]
fn length_prefixed_h264_and_raw_aac_become_annexb_and_adts() {
    let config = MemoryConfig::default();
    let input = Input::open(&testdata("ts/h264_aac.ts"), &config).unwrap();
    let mut d = TsDemuxer::new(input, 188, &config).unwrap();
    let mut packets = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        packets.push((p.stream, p.data.to_vec(), p.pts, p.dts, p.keyframe));
    }
    let mut streams = d.streams().to_vec();
    assert!(!streams[0].extradata.is_empty() && !streams[1].extradata.is_empty());
    streams[0].format = BitstreamFormat::LengthPrefixed { len_size: 4 };
    streams[1].format = BitstreamFormat::Raw;
    let out = Shared::default();
    let mut mux = TsMuxer::new(Box::new(out.clone()), TsOptions::default());
    mux.begin(&streams).unwrap();
    let mut lp = Vec::new();
    for (stream, data, pts, dts, keyframe) in &packets {
        // Strip the access unit delimiter and the parameter sets (the muxer must bring
        // them back) and the ADTS headers (the muxer must write them again).
        let data: &[u8] = if *stream == 0 {
            lp.clear();
            let mut body = Vec::new();
            for nal in split_annexb(data).filter(|n| !matches!(n[0] & 0x1F, 7..=9)) {
                body.extend_from_slice(&[0, 0, 0, 1]);
                body.extend_from_slice(nal);
            }
            annexb_to_lp(&body, &mut lp);
            &lp
        } else {
            &data[7..]
        };
        let view = PacketView { stream: *stream, data, pts: *pts, dts: *dts, duration: None, keyframe: *keyframe, pos: None };
        mux.write_packet(&view).unwrap();
    }
    mux.finish().unwrap();
    let bytes = out.0.lock().unwrap().clone();
    let mut back = TsDemuxer::new(Input::from_bytes(bytes, "out"), 188, &config).unwrap();
    let mut i = 0;
    while let Some(p) = back.next_packet().unwrap() {
        let (stream, data, pts, dts, keyframe) = &packets[i];
        assert_eq!((p.stream, p.pts, p.dts), (*stream, *pts, *dts), "packet {i}");
        if *stream == 1 {
            // The ADTS header written again is FFmpeg's: byte-identical frames.
            assert_eq!(p.data, &data[..], "audio packet {i}");
        } else {
            // The same NAL units whatever the start code lengths: an AUD first, then the
            // original units; SPS and PPS come back before keyframes (just before the IDR
            // slice, where FFmpeg's h264_mp4toannexb puts them).
            let units = |d: &[u8]| split_annexb(d).map(md5_hex).collect::<Vec<_>>();
            let types = |d: &[u8]| split_annexb(d).map(|n| n[0] & 0x1F).collect::<Vec<_>>();
            let (got, want) = (units(p.data), units(data));
            let (got_types, want_types) = (types(p.data), types(data));
            let strip = |u: &[String], t: &[u8]| u.iter().zip(t).filter(|(_, &t)| !matches!(t, 7 | 8)).map(|(u, _)| u.clone()).collect::<Vec<_>>();
            assert_eq!(strip(&got, &got_types), strip(&want, &want_types), "video packet {i}");
            assert_eq!(got_types[0], 9);
            let ps = |t: &[u8]| t.iter().filter(|&&t| matches!(t, 7 | 8)).count();
            assert_eq!(ps(&got_types), ps(&want_types), "video packet {i}: parameter sets");
            if *keyframe {
                let idr = got_types.iter().position(|&t| t == 5).unwrap();
                assert_eq!(&got_types[idr - 2..idr], &[7, 8], "video packet {i}");
            }
            assert_eq!(p.keyframe, *keyframe);
        }
        i += 1;
    }
    assert_eq!(i, packets.len());
    assert_eq!(back.stats().cc_errors, 0);
}

#[test]
fn negative_start_is_shifted_for_every_stream_alike() {
    let config = MemoryConfig::default();
    let input = Input::open(&testdata("ts/mpeg2_mp2.ts"), &config).unwrap();
    let mut d = TsDemuxer::new(input, 188, &config).unwrap();
    let streams = d.streams().to_vec();
    let out = Shared::default();
    let mut mux = TsMuxer::new(Box::new(out.clone()), TsOptions { ts_offset: 1000, ..Default::default() });
    mux.begin(&streams).unwrap();
    let shift = -200_000i64;
    let mut first = None;
    while let Some(p) = d.next_packet().unwrap() {
        let moved = PacketView { pts: p.pts.map(|t| t + shift), dts: p.dts.map(|t| t + shift), ..p };
        first.get_or_insert(moved.dts.unwrap());
        mux.write_packet(&moved).unwrap();
    }
    mux.finish().unwrap();
    let (rows, _) = read_back(out.0.lock().unwrap().clone(), 188);
    let o = read_framemd5(&testdata("ts/mpeg2_mp2.ts.packets"));
    // The first packet written had DTS 126000 - 200000 < 0: it becomes 0, then + 1000.
    let delta = -first.unwrap() + 1000 + shift;
    assert_rows("shifted", &rows, &oracle_rows(&o, &[delta, delta]), true);
    assert_eq!(rows[0][0].dts, Some(1000));
}

#[test]
fn misuse_is_an_error() {
    let out = Shared::default();
    let mut mux = TsMuxer::new(Box::new(out), TsOptions::default());
    let view = PacketView { stream: 0, data: &[1, 2, 3], pts: None, dts: None, duration: None, keyframe: false, pos: None };
    assert!(mux.write_packet(&view).is_err());
    assert!(mux.begin(&[]).is_err());
    let raw = StreamInfo::new(0, 1, CodecId::RawVideo, BitstreamFormat::Raw, transcode_core::TimeBase::MPEG);
    assert!(matches!(mux.begin(&[raw]), Err(transcode_core::Error::Unsupported(_))));
    let aac = StreamInfo::new(0, 1, CodecId::Aac, BitstreamFormat::Raw, transcode_core::TimeBase::MPEG);
    let mut mux = TsMuxer::new(Box::new(Shared::default()), TsOptions::default());
    assert!(mux.begin(&[aac]).is_err(), "raw aac without an audio specific config");
    let data = StreamInfo::new(0, 1, CodecId::Unknown(0x06), BitstreamFormat::Raw, transcode_core::TimeBase::MPEG);
    let mut mux = TsMuxer::new(Box::new(Shared::default()), TsOptions::default());
    mux.begin(&[data]).unwrap();
    assert!(mux.write_packet(&PacketView { stream: 1, ..view }).is_err());
    mux.write_packet(&view).unwrap();
    // Extreme timestamps (a damaged source) do not overflow.
    for t in [i64::MIN, i64::MAX, 0, i64::MIN + 1] {
        mux.write_packet(&PacketView { pts: Some(t), dts: Some(t), ..view }).unwrap();
    }
    mux.finish().unwrap();
    assert!(mux.write_packet(&view).is_err());
}

#[test]
fn mp4_to_ts_matches_ffmpeg_conversion() {
    for name in MP4_FIXTURES {
        let config = MemoryConfig::default();
        // The MP4 demuxer's timestamps, in 90 kHz.
        let mut d = open_demuxer(Input::open(&testdata(name), &config).unwrap(), &config).unwrap();
        let tbs: Vec<_> = d.streams().iter().map(|s| s.time_base).collect();
        let mut input_ts: Vec<Vec<(Option<i64>, Option<i64>)>> = vec![Vec::new(); tbs.len()];
        let mut first = None;
        while let Some(p) = d.next_packet().unwrap() {
            let to90 = |t: i64| tbs[p.stream].rescale(t, transcode_core::TimeBase::MPEG);
            let dts = p.dts.map(to90);
            first = first.or(dts);
            input_ts[p.stream].push((dts, p.pts.map(to90)));
        }
        let input = Input::open(&testdata(name), &config).unwrap();
        let (bytes, _) = remux(input, TsOptions::default());
        let (rows, streams) = read_back(bytes, 188);
        let o = read_framemd5(&testdata(&format!("{name}.to-ts.packets")));
        // Payloads byte for byte as FFmpeg converts them (AUD, SPS/PPS, ADTS headers).
        assert_rows(name, &rows, &oracle_rows(&o, &[0, 0]), false);
        // Timestamps: the MP4's, shifted by one amount for all streams so that the first
        // DTS is 0.
        let shift = (-first.unwrap()).max(0);
        for (s, want) in input_ts.iter().enumerate() {
            let got: Vec<_> = rows[s].iter().map(|r| (r.dts, r.pts)).collect();
            let want: Vec<_> = want.iter().map(|&(d, p)| (d.map(|t| t + shift), p.map(|t| t + shift))).collect();
            assert!(got == want, "{name}: stream {s} timestamps");
        }
        assert_eq!(streams[1].codec, CodecId::Aac);
    }
}

#[test]
fn annexb_keyframes_without_parameter_sets_get_them() {
    let config = MemoryConfig::default();
    let input = Input::open(&testdata("ts/h265_aac.ts"), &config).unwrap();
    let mut d = TsDemuxer::new(input, 188, &config).unwrap();
    let mut packets = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        if p.stream == 0 {
            packets.push((p.data.to_vec(), p.pts, p.dts, p.keyframe));
        }
    }
    let streams = vec![d.streams()[0].clone()];
    assert!(!streams[0].extradata.is_empty());
    let out = Shared::default();
    let mut mux = TsMuxer::new(Box::new(out.clone()), TsOptions::default());
    mux.begin(&streams).unwrap();
    let hevc_type = |n: &[u8]| (n[0] >> 1) & 0x3F;
    for (data, pts, dts, keyframe) in &packets {
        // Without AUD (35) and VPS/SPS/PPS (32-34): the muxer must bring them back.
        let mut stripped = Vec::new();
        for nal in split_annexb(data).filter(|n| !matches!(hevc_type(n), 32..=35)) {
            stripped.extend_from_slice(&[0, 0, 0, 1]);
            stripped.extend_from_slice(nal);
        }
        let view = PacketView { stream: 0, data: &stripped, pts: *pts, dts: *dts, duration: None, keyframe: *keyframe, pos: None };
        mux.write_packet(&view).unwrap();
    }
    mux.finish().unwrap();
    let (rows, _) = read_back(out.0.lock().unwrap().clone(), 188);
    assert_eq!(rows[0].len(), packets.len());
    let mut back = TsDemuxer::new(Input::from_bytes(out.0.lock().unwrap().clone(), "out"), 188, &config).unwrap();
    let mut keys = 0;
    while let Some(p) = back.next_packet().unwrap() {
        let types: Vec<u8> = split_annexb(p.data).map(hevc_type).collect();
        assert_eq!(types[0], 35, "an AUD first");
        if p.keyframe {
            keys += 1;
            assert_eq!(&types[1..4], &[32, 33, 34], "VPS, SPS, PPS before the keyframe");
        } else {
            assert!(!types.iter().any(|t| (32..=34).contains(t)));
        }
    }
    assert_eq!(keys, packets.iter().filter(|p| p.3).count());
    assert!(keys >= 2);
}

#[test]
fn elementary_streams_to_ts_match_ffmpeg_conversion() {
    for name in ["es/aac.aac", "es/mp2.mp2"] {
        let input = Input::open(&testdata(name), &MemoryConfig::default()).unwrap();
        let (bytes, _) = remux(input, TsOptions::default());
        let (rows, _) = read_back(bytes, 188);
        let o = read_framemd5(&testdata(&format!("{name}.to-ts.packets")));
        assert_rows(name, &rows, &oracle_rows(&o, &[0]), false);
    }
}

#[test]
fn program_streams_to_ts_keep_every_packet_and_timestamp() {
    for name in ["ps/mpeg2_mp2.vob", "ps/mpeg1_mp2.mpg", "ps/mpeg2_ac3.vob"] {
        let input = Input::open(&testdata(name), &MemoryConfig::default()).unwrap();
        let (bytes, streams) = remux(input, TsOptions::default());
        let (rows, out_streams) = read_back(bytes, 188);
        // Payloads as FFmpeg's own conversion has them, timestamps as the input has them.
        let o = read_framemd5(&testdata(&format!("{name}.to-ts.packets")));
        assert_rows(name, &rows, &oracle_rows(&o, &[0, 0]), false);
        let o = read_framemd5(&testdata(&format!("{name}.packets")));
        assert_rows(name, &rows, &oracle_rows(&o, &[0, 0]), true);
        assert_eq!(out_streams[1].codec, streams[1].codec, "{name}");
    }
}
