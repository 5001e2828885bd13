//! Fuzz target: H.264/H.265 Annex-B demuxing, parameter sets, avcC/hvcC records and NAL
//! framing conversions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use transcode_codec::{describe, h264, h265, is_keyframe, nal};
use transcode_core::{BitstreamFormat, CodecId, StreamInfo, TimeBase};
use transcode_demux_bridge::Format;
use transcode_fuzz::{check_error, fuzz_format, Expect};

/// Runs every parameter-set parser over the units of an Annex-B buffer.
fn parse_units(au: &[u8], rbsp: &mut Vec<u8>) {
    for unit in nal::split_annexb(au) {
        rbsp.clear();
        nal::unescape_rbsp(unit, rbsp);
        assert!(rbsp.len() <= unit.len());
        for r in
            [h264::parse_sps(unit).map(|_| ()), h265::parse_sps(unit).map(|_| ()), h265::parse_pps(unit).map(|_| ())]
        {
            if let Err(e) = r {
                check_error(&e);
            }
        }
        let _ = h264::parse_pps_ids(unit);
        let _ = h264::first_mb_in_slice(unit);
        let _ = h265::first_slice_segment_in_pic(unit);
    }
    if let Some(avcc) = h264::AvcC::from_annexb(au) {
        let bytes = avcc.to_bytes();
        // The record's counts hold at most 31 SPS and 255 PPS; `to_bytes` keeps the first.
        let mut expected = avcc.clone();
        expected.sps.truncate(31);
        expected.pps.truncate(255);
        assert_eq!(h264::AvcC::parse(&bytes).expect("a written avcC parses"), expected);
    }
    if let Some(hvcc) = h265::HvcC::from_annexb(au) {
        let bytes = hvcc.to_bytes();
        assert_eq!(h265::HvcC::parse(&bytes).expect("a written hvcC parses"), hvcc);
    }
}

fn framing(data: &[u8]) {
    let mut out = Vec::new();
    nal::annexb_to_lp(data, &mut out);
    assert_eq!(out.len(), nal::annexb_to_lp_len(data));
    let units: Vec<&[u8]> = nal::split_annexb(data).collect();
    let back: Vec<&[u8]> = nal::lp_units(&out, 4).map(|u| u.expect("annexb_to_lp output splits")).collect();
    assert_eq!(units, back);
    for len_size in [1u8, 2, 3, 4] {
        for u in nal::lp_units(data, len_size) {
            if let Err(e) = u {
                check_error(&e);
            }
        }
        out.clear();
        if let Err(e) = nal::lp_to_annexb(data, len_size, &[], &mut out) {
            check_error(&e);
        }
    }
    match h264::AvcC::parse(data) {
        Ok(a) => {
            let _ = a.to_annexb();
            let mut conv = nal::Mp4ToAnnexB::h264(&a);
            out.clear();
            let _ = conv.convert(data, &mut out);
        }
        Err(e) => check_error(&e),
    }
    match h265::HvcC::parse(data) {
        Ok(h) => {
            let _ = h.to_annexb();
            let _ = h.first_sps();
            let mut conv = nal::Mp4ToAnnexB::h265(&h);
            out.clear();
            let _ = conv.convert(data, &mut out);
        }
        Err(e) => check_error(&e),
    }
}

fuzz_target!(|data: &[u8]| {
    framing(data);
    let mut rbsp = Vec::new();
    for (format, codec) in [(Format::H264, CodecId::H264), (Format::H265, CodecId::H265)] {
        let mut fresh = StreamInfo::new(0, 1, codec, BitstreamFormat::AnnexB, TimeBase::MPEG);
        let expect = Expect { borrows_input: true, generated_timestamps: true, pts_is_dts: false };
        fuzz_format(data, format, expect, &mut |streams, p| {
            parse_units(p.data, &mut rbsp);
            let _ = is_keyframe(&streams[p.stream], p.data);
            let _ = describe(&mut fresh, p.data);
        });
    }
});
