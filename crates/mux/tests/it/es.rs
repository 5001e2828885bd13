//! Elementary-stream muxer tests: demux a fixture, write it with [`EsMuxer`], demux the
//! output again and compare with the FFmpeg oracle tables.

use std::io::Write;
use std::sync::{Arc, Mutex};

use transcode_core::{BitstreamFormat, Error, MemoryConfig, PacketView, StreamInfo};
use transcode_demux_bridge::{open_demuxer, Input};
use transcode_mux::es::{EsKind, EsMuxer};
use transcode_mux::Muxer;
use transcode_testkit::{md5_hex, read_framemd5, testdata};

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

/// Demuxes `rel` and writes it as `kind`; returns the file bytes.
fn remux(rel: &str, kind: EsKind) -> Vec<u8> {
    let config = MemoryConfig::default();
    let mut demux = open_demuxer(Input::open(&testdata(rel), &config).unwrap(), &config).unwrap();
    let out = Shared::default();
    let mut mux = EsMuxer::new(Box::new(out.clone()), kind);
    mux.begin(demux.streams()).unwrap();
    while let Some(p) = demux.next_packet().unwrap() {
        mux.write_packet(&p).unwrap();
    }
    mux.finish().unwrap();
    let bytes = out.0.lock().unwrap().clone();
    assert_eq!(mux.bytes_written(), bytes.len() as u64);
    bytes
}

/// The packets' (size, MD5) of demuxing `bytes`.
fn packets_of(bytes: Vec<u8>) -> Vec<(usize, String)> {
    let config = MemoryConfig::default();
    let mut demux = open_demuxer(Input::from_bytes(bytes, "out"), &config).unwrap();
    let mut v = Vec::new();
    while let Some(p) = demux.next_packet().unwrap() {
        v.push((p.data.len(), md5_hex(p.data)));
    }
    v
}

fn oracle(rel: &str, stream: usize) -> Vec<(usize, String)> {
    read_framemd5(&testdata(&format!("{rel}.packets"))).stream(stream).iter().map(|e| (e.size, e.md5.clone())).collect()
}

#[test]
fn same_framing_round_trips_byte_for_byte() {
    for (rel, kind) in [
        ("es/h264.h264", EsKind::H264),
        ("es/h265.h265", EsKind::H265),
        ("es/aac.aac", EsKind::Adts),
        ("es/mp2.mp2", EsKind::MpegAudio),
        ("y4m/small.y4m", EsKind::Y4m),
    ] {
        let out = remux(rel, kind);
        let input = std::fs::read(testdata(rel)).unwrap();
        assert!(out == input, "{rel}: output differs from the input ({} vs {} bytes)", out.len(), input.len());
        assert_eq!(packets_of(out), oracle(rel, 0), "{rel}");
    }
}

#[test]
fn mp4_h264_to_annexb_matches_ffmpeg() {
    // Expected: `ffmpeg -i testdata/mp4/h264_aac.mp4 -map 0:v:0 -c:v copy -f h264 out.h264`
    // (FFmpeg 5.1.9, h264_mp4toannexb) gives 62118 bytes with this MD5.
    let out = remux("mp4/h264_aac.mp4", EsKind::H264);
    assert_eq!((out.len(), md5_hex(&out).as_str()), (62118, "a70aacf93c317af120f3d6926e74eb8a"));
    // Demuxed again, the pictures are the ones FFmpeg's TS muxer got from the same
    // filter, less the access unit delimiter it adds.
    let got = packets_of(out.clone());
    assert_eq!(got.len(), 50);
    let es = oracle("es/h264.h264", 0);
    assert_eq!(got[1..], es[1..], "every picture after the first equals the x264 elementary stream");
}

#[test]
fn mp4_aac_to_adts_matches_ffmpeg() {
    // Expected: `ffmpeg -i testdata/mp4/h264_aac.mp4 -map 0:a:0 -c:a copy -f adts out.aac`
    // gives 25021 bytes with this MD5 (the same bytes as testdata/es/aac.aac).
    let out = remux("mp4/h264_aac.mp4", EsKind::Adts);
    assert_eq!((out.len(), md5_hex(&out).as_str()), (25021, "f7d6090e376a5d6d96aed9c4e0c90a0a"));
    assert_eq!(packets_of(out), oracle("es/aac.aac", 0));
}

#[test]
fn ts_streams_to_elementary_files() {
    // TS video is Annex-B already: the file is the packets end to end; demuxed again it
    // gives the same pictures (the TS packets start with an access unit delimiter,
    // which the Annex-B demuxer keeps inside the access unit).
    let out = remux("ts/h264_aac.ts", EsKind::H264);
    let ts = oracle("ts/h264_aac.ts", 0);
    assert_eq!(out.len(), ts.iter().map(|e| e.0).sum::<usize>());
    assert_eq!(packets_of(out), ts);
    let out = remux("ts/h264_aac.ts", EsKind::Adts);
    assert_eq!(packets_of(out), oracle("ts/h264_aac.ts", 1));
}

#[test]
fn hand_built_length_prefixed_h265_gets_parameter_sets_before_keyframes() {
    // Length-prefixed packets made from the Annex-B fixture, with the hvcC the demuxer
    // built: the muxer must put the parameter sets back before each IRAP picture.
    let config = MemoryConfig::default();
    let mut demux = open_demuxer(Input::open(&testdata("es/h265.h265"), &config).unwrap(), &config).unwrap();
    let mut info: StreamInfo = demux.streams()[0].clone();
    info.format = BitstreamFormat::LengthPrefixed { len_size: 4 };
    let out = Shared::default();
    let mut mux = EsMuxer::new(Box::new(out.clone()), EsKind::H265);
    mux.begin(std::slice::from_ref(&info)).unwrap();
    let mut lp = Vec::new();
    let mut keys = 0;
    while let Some(p) = demux.next_packet().unwrap() {
        lp.clear();
        for nal in transcode_codec::nal::split_annexb(p.data) {
            if !matches!(transcode_codec::h265::nal_type(nal), 32..=34) {
                lp.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                lp.extend_from_slice(nal);
            }
        }
        keys += p.keyframe as usize;
        mux.write_packet(&PacketView { data: &lp, ..p }).unwrap();
    }
    mux.finish().unwrap();
    let bytes = out.0.lock().unwrap().clone();
    let vps = transcode_codec::nal::split_annexb(&bytes).filter(|n| transcode_codec::h265::nal_type(n) == 32).count();
    assert_eq!((vps, keys), (2, 2));
    assert_eq!(packets_of(bytes).len(), 50);
}

#[test]
fn refuses_streams_of_the_wrong_kind_and_bad_pictures() {
    let config = MemoryConfig::default();
    let demux = open_demuxer(Input::open(&testdata("es/aac.aac"), &config).unwrap(), &config).unwrap();
    let mut mux = EsMuxer::new(Box::new(std::io::sink()), EsKind::H264);
    assert!(matches!(mux.begin(demux.streams()), Err(Error::Unsupported(_))));
    assert_eq!(EsKind::from_extension("HEVC"), Some(EsKind::H265));
    assert_eq!(EsKind::from_extension("mp4"), None);

    let demux = open_demuxer(Input::open(&testdata("y4m/small.y4m"), &config).unwrap(), &config).unwrap();
    let mut mux = EsMuxer::new(Box::new(std::io::sink()), EsKind::Y4m);
    mux.begin(demux.streams()).unwrap();
    let short =
        PacketView { stream: 0, data: &[0; 100], pts: None, dts: None, duration: None, keyframe: true, pos: None };
    assert!(matches!(mux.write_packet(&short), Err(Error::InvalidData { .. })));
}
