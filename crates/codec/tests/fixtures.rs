//! Codec parsing and framing conversion checked against real fixture bytes and the
//! FFmpeg oracle tables committed beside them.

use transcode_codec::aac::{write_adts_header, AdtsHeader, AudioSpecificConfig};
use transcode_codec::nal::{annexb_to_lp, lp_to_annexb, lp_units, split_annexb, Mp4ToAnnexB};
use transcode_codec::{describe, h264, h265, is_keyframe, mpeg2v, mpega};
use transcode_core::{BitstreamFormat, CodecId, StreamInfo, TimeBase};
use transcode_testkit::{md5_hex, read_framemd5, testdata};

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(testdata(rel)).unwrap()
}

/// The `#extradata N, size, md5` header line of an oracle table.
fn oracle_extradata(rel: &str, stream: usize) -> (usize, String) {
    let text = std::fs::read_to_string(testdata(rel)).unwrap();
    let prefix = format!("#extradata {stream},");
    let line = text.lines().find(|l| l.starts_with(&prefix)).expect("extradata line");
    let f: Vec<&str> = line[prefix.len()..].split(',').map(str::trim).collect();
    (f[0].parse().unwrap(), f[1].to_string())
}

/// The first access unit of an Annex-B fixture: everything before the second picture's
/// first unit. Both encoders put one slice per picture here.
fn first_au(data: &[u8], is_vcl: impl Fn(&[u8]) -> bool) -> &[u8] {
    let mut vcl = 0;
    for nal in split_annexb(data) {
        if is_vcl(nal) {
            vcl += 1;
            if vcl == 2 {
                let off = nal.as_ptr() as usize - data.as_ptr() as usize;
                return &data[..off - 3];
            }
        }
    }
    data
}

#[test]
fn h264_sps_and_avcc_match_ffmpeg() {
    let es = read("es/h264.h264");
    let au = first_au(&es, |n| matches!(h264::nal_type(n), 1 | 5));
    let avcc = h264::AvcC::from_annexb(au).unwrap();
    let bytes = avcc.to_bytes();
    // FFmpeg's MP4 muxer builds the same record from the same parameter sets.
    assert_eq!((bytes.len(), md5_hex(&bytes)), oracle_extradata("es/h264.h264.to-mp4.packets", 0));
    assert_eq!((bytes.len(), md5_hex(&bytes)), oracle_extradata("ts/h264_aac.ts.to-mp4.packets", 0));
    assert_eq!(h264::AvcC::parse(&bytes).unwrap(), avcc);
    let sps = h264::parse_sps(&avcc.sps[0]).unwrap();
    assert_eq!((sps.width, sps.height), (320, 180));
    assert_eq!((sps.profile_idc, sps.level_idc, sps.chroma_format_idc), (100, 12, 1));
    assert_eq!(sps.frame_rate, Some((25, 1)));
    assert_eq!(sps.sar, Some((1, 1)));
    assert_eq!(h264::parse_pps_ids(&avcc.pps[0]).unwrap(), (0, 0));
    assert!(h264::AvcC::parse(&bytes[..bytes.len() - 10]).is_err());
    assert!(h264::AvcC::parse(&[1, 100, 0, 12, 0xFF, 0xE1, 0xFF, 0xFF, 0x67]).is_err());
    for cut in 0..avcc.sps[0].len() {
        let _ = h264::parse_sps(&avcc.sps[0][..cut]);
    }
}

#[test]
fn h264_lp_to_annexb_matches_ffmpeg_bitstream_filter() {
    let es = read("es/h264.h264");
    let au = first_au(&es, |n| matches!(h264::nal_type(n), 1 | 5));
    let avcc = h264::AvcC::from_annexb(au).unwrap();
    // The MP4 sample of the same picture: its SEI and IDR slice, length-prefixed
    // (the parameter sets live in the avcC).
    let mut sample = Vec::new();
    for nal in split_annexb(au).filter(|n| !matches!(h264::nal_type(n), 7 | 8)) {
        sample.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        sample.extend_from_slice(nal);
    }
    let mp4 = read_framemd5(&testdata("mp4/h264_aac.mp4.packets"));
    let first = mp4.stream(0)[0];
    assert_eq!((sample.len(), md5_hex(&sample)), (first.size, first.md5.clone()));

    // FFmpeg's TS muxer puts an AUD before the output of h264_mp4toannexb.
    let mut out = vec![0, 0, 0, 1, 9, 0xF0];
    lp_to_annexb(&sample, 4, &avcc.to_annexb(), &mut out).unwrap();
    let ts = read_framemd5(&testdata("mp4/h264_aac.mp4.to-ts.packets"));
    let first = ts.stream(0)[0];
    assert_eq!((out.len(), md5_hex(&out)), (first.size, first.md5.clone()));

    // The stateful converter gives the same, and a following non-IDR picture gets
    // nothing inserted.
    let mut conv = Mp4ToAnnexB::h264(&avcc);
    let mut out2 = vec![0, 0, 0, 1, 9, 0xF0];
    conv.convert(&sample, &mut out2).unwrap();
    assert_eq!(out2, out);
    let p = [0, 0, 0, 3, 0x41, 0x9A, 0x02];
    out2.clear();
    conv.convert(&p, &mut out2).unwrap();
    assert_eq!(out2, [0, 0, 0, 1, 0x41, 0x9A, 0x02]);

    // Annex-B to length-prefixed and back.
    let mut lp = Vec::new();
    annexb_to_lp(au, &mut lp);
    assert_eq!(lp_units(&lp, 4).count(), split_annexb(au).count());
    assert!(lp_units(&lp, 4).all(|r| r.is_ok()));
}

#[test]
fn h265_sps_and_hvcc_match_ffmpeg() {
    let es = read("es/h265.h265");
    let au = first_au(&es, |n| h265::nal_type(n) < 32 && h265::first_slice_segment_in_pic(n));
    let hvcc = h265::HvcC::from_annexb(au).unwrap();
    let bytes = hvcc.to_bytes();
    assert_eq!((bytes.len(), md5_hex(&bytes)), oracle_extradata("es/h265.h265.to-mp4.packets", 0));
    assert_eq!((bytes.len(), md5_hex(&bytes)), oracle_extradata("ts/h265_aac.ts.to-mp4.packets", 0));
    assert_eq!(h265::HvcC::parse(&bytes).unwrap(), hvcc);
    let sps = h265::parse_sps(hvcc.first_sps().unwrap()).unwrap();
    assert_eq!((sps.width, sps.height), (320, 180));
    assert_eq!(sps.ptl.profile_idc, 1);
    assert_eq!(sps.frame_rate, Some((25, 1)));
    assert!(h265::HvcC::parse(&bytes[..30]).is_err());
    // Converting the first picture back inserts the record's parameter sets before it.
    let mut sample = Vec::new();
    for nal in split_annexb(au).filter(|n| h265::nal_type(n) < 32) {
        sample.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        sample.extend_from_slice(nal);
    }
    let mut out = Vec::new();
    Mp4ToAnnexB::h265(&hvcc).convert(&sample, &mut out).unwrap();
    assert!(out.starts_with(&hvcc.to_annexb()));
    assert_eq!(split_annexb(&out).count(), hvcc.arrays.iter().map(|a| a.units.len()).sum::<usize>() + 1);
}

#[test]
fn adts_headers_round_trip_and_match_ffmpeg() {
    let aac = read("es/aac.aac");
    let oracle = read_framemd5(&testdata("es/aac.aac.packets"));
    let mut pos = 0;
    let mut asc = None;
    for e in &oracle.entries {
        let h = AdtsHeader::parse(&aac[pos..]).unwrap();
        assert_eq!(h.frame_len as usize, e.size);
        assert_eq!((h.sample_rate, h.channels, h.object_type, h.header_len), (48000, 2, 2, 7));
        let a = asc.get_or_insert_with(|| AudioSpecificConfig::from_adts(&h));
        // FFmpeg's ADTS muxer wrote these headers; ours are the same bytes.
        let hdr = write_adts_header(a, e.size - 7).unwrap();
        assert_eq!(&hdr[..], &aac[pos..pos + 7]);
        pos += e.size;
    }
    assert_eq!(pos, aac.len());
    let asc = asc.unwrap();
    let b = asc.to_bytes();
    assert_eq!((b.len(), md5_hex(&b)), oracle_extradata("es/aac.aac.to-mp4.packets", 0));
    let parsed = AudioSpecificConfig::parse(&b).unwrap();
    assert_eq!((parsed.object_type, parsed.sample_rate, parsed.channels()), (2, 48000, 2));
    assert!(AudioSpecificConfig::parse(&[0x12]).is_err());
    assert!(write_adts_header(&asc, 9000).is_err());
    assert!(AdtsHeader::parse(&aac[1..]).is_none());
}

#[test]
fn mpeg2_sequence_header_from_ts_payload() {
    let ts = read("ts/mpeg2_mp2.ts");
    let at = ts.windows(4).position(|w| w == [0, 0, 1, 0xB3]).unwrap();
    let seq_bytes = mpeg2v::sequence_header_bytes(&ts[at..at + 40]).unwrap();
    assert_eq!((seq_bytes.len(), md5_hex(seq_bytes)), oracle_extradata("ts/mpeg2_mp2.ts.packets", 0));
    let seq = mpeg2v::parse_sequence_header(&ts[at..at + 40]).unwrap();
    assert_eq!((seq.width, seq.height, seq.frame_rate), (320, 180, Some((25, 1))));
    assert_eq!((seq.chroma_format, seq.progressive), (1, true));
    // The first picture after it is an I picture.
    assert_eq!(mpeg2v::picture_type(&ts[at..at + 150]), Some(mpeg2v::PictureType::I));
}

#[test]
fn mpeg_audio_frames_chain() {
    let mp2 = read("es/mp2.mp2");
    let oracle = read_framemd5(&testdata("es/mp2.mp2.packets"));
    let mut pos = 0;
    for e in &oracle.entries {
        let h = mpega::FrameHeader::parse(&mp2[pos..]).unwrap();
        assert_eq!(h.frame_len as usize, e.size);
        assert_eq!(md5_hex(&mp2[pos..pos + e.size]), e.md5);
        pos += e.size;
    }
    assert_eq!(pos, mp2.len());
}

#[test]
fn describe_fills_stream_info_and_flags_keyframes_like_ffprobe() {
    let es = read("es/h264.h264");
    let au = first_au(&es, |n| matches!(h264::nal_type(n), 1 | 5));
    let mut info = StreamInfo::new(0, 1, CodecId::H264, BitstreamFormat::AnnexB, TimeBase::MPEG);
    assert!(describe(&mut info, au));
    let v = info.video.unwrap();
    assert_eq!((v.width, v.height, v.frame_rate, v.profile, v.level), (320, 180, Some((25, 1)), 100, 12));
    assert_eq!(md5_hex(&info.extradata), oracle_extradata("es/h264.h264.to-mp4.packets", 0).1);
    assert!(is_keyframe(&info, au));
    assert!(!is_keyframe(&info, &es[au.len()..au.len() + 2000]));

    let es = read("es/h265.h265");
    let au = first_au(&es, |n| h265::nal_type(n) < 32 && h265::first_slice_segment_in_pic(n));
    let mut info = StreamInfo::new(0, 1, CodecId::H265, BitstreamFormat::AnnexB, TimeBase::MPEG);
    assert!(!describe(&mut info, &es[au.len()..au.len() + 100]));
    assert!(describe(&mut info, au));
    assert_eq!(info.video.unwrap().width, 320);
    assert!(is_keyframe(&info, au));

    let aac = read("es/aac.aac");
    let mut info = StreamInfo::new(0, 1, CodecId::Aac, BitstreamFormat::Adts, TimeBase::new(1, 48000));
    assert!(describe(&mut info, &aac[..245]));
    assert_eq!(info.audio.unwrap().sample_rate, 48000);
    assert_eq!(info.extradata, [0x11, 0x90]);

    let mp2 = read("es/mp2.mp2");
    let mut info = StreamInfo::new(0, 1, CodecId::Mp2, BitstreamFormat::Raw, TimeBase::new(1, 48000));
    assert!(describe(&mut info, &mp2[..576]));
    assert_eq!(info.audio.unwrap().frame_samples, 1152);
}

/// A small deterministic generator for the corruption test.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn corrupted_and_cut_inputs_give_errors_not_panics() {
    let h264_es = read("es/h264.h264");
    let h265_es = read("es/h265.h265");
    let h264_au = first_au(&h264_es, |n| matches!(h264::nal_type(n), 1 | 5)).to_vec();
    let h265_au = first_au(&h265_es, |n| h265::nal_type(n) < 32 && h265::first_slice_segment_in_pic(n)).to_vec();
    let avcc = h264::AvcC::from_annexb(&h264_au).unwrap().to_bytes();
    let hvcc = h265::HvcC::from_annexb(&h265_au).unwrap().to_bytes();
    let mut rng = Lcg(7);
    let mut out = Vec::new();
    for round in 0..3000 {
        for base in [&h264_au[..200], &h265_au[..200], &avcc[..], &hvcc[..]] {
            let mut b = base.to_vec();
            if round % 3 == 0 {
                b.truncate(rng.next() as usize % (b.len() + 1));
            }
            for _ in 0..1 + rng.next() % 4 {
                let i = rng.next() as usize % b.len().max(1);
                if let Some(x) = b.get_mut(i) {
                    *x ^= 1 << (rng.next() % 8);
                }
            }
            let _ = h264::AvcC::parse(&b);
            let _ = h265::HvcC::parse(&b);
            let _ = h264::AvcC::from_annexb(&b);
            let _ = h265::HvcC::from_annexb(&b);
            for nal in split_annexb(&b) {
                let _ = h264::parse_sps(nal);
                let _ = h265::parse_sps(nal);
                let _ = h265::parse_pps(nal);
                let _ = h264::first_mb_in_slice(nal);
            }
            let _ = mpeg2v::parse_sequence_header(&b);
            let _ = AudioSpecificConfig::parse(&b);
            let _ = AdtsHeader::parse(&b);
            out.clear();
            let _ = lp_to_annexb(&b, 4, &[], &mut out);
            for codec in [CodecId::H264, CodecId::H265] {
                for format in [BitstreamFormat::AnnexB, BitstreamFormat::LengthPrefixed { len_size: 4 }] {
                    let mut info = StreamInfo::new(0, 1, codec, format, TimeBase::MPEG);
                    let _ = describe(&mut info, &b);
                    let _ = is_keyframe(&info, &b);
                }
            }
        }
    }
    // Cut records are errors.
    assert!(h265::HvcC::parse(&hvcc[..hvcc.len() - 1]).is_err());
    assert!(h264::AvcC::parse(&avcc[..avcc.len() - 5]).is_err());
}
