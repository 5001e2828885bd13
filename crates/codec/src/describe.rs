//! Stream descriptions from packets: fills a [`StreamInfo`]'s codec parameters and
//! extradata from the first packets, and tells keyframes apart.

use crate::nal::{lp_units, split_annexb};
use crate::{aac, ac3, h264, h265, mpeg2v, mpega};
use transcode_core::{AudioParams, BitstreamFormat, CodecId, FieldOrder, StreamInfo, VideoParams};

/// Calls `f` with each NAL unit of `packet` in the stream's framing; stops early when `f`
/// returns true, and returns whether it did.
fn any_nal(format: BitstreamFormat, packet: &[u8], f: impl FnMut(&[u8]) -> bool) -> bool {
    match format {
        BitstreamFormat::LengthPrefixed { len_size } => lp_units(packet, len_size).map_while(|r| r.ok()).any(f),
        _ => split_annexb(packet).any(f),
    }
}

/// Appends the parameter-set units of `packet` to `out` in Annex-B form.
fn collect_param_sets(format: BitstreamFormat, packet: &[u8], codec: CodecId, out: &mut Vec<u8>) {
    any_nal(format, packet, |n| {
        let keep = match codec {
            CodecId::H264 => matches!(h264::nal_type(n), h264::nal_type::SPS | h264::nal_type::PPS),
            _ => matches!(h265::nal_type(n), h265::nal_type::VPS | h265::nal_type::SPS | h265::nal_type::PPS),
        };
        if keep {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(n);
        }
        false
    });
}

/// Fills `info.video` / `info.audio` and `info.extradata` from a packet in `info.format`
/// framing (or from `info.extradata` where it is already set). Returns true once the
/// description is complete; until then call it again with the next packet.
///
/// Extradata follows the workspace convention: the avcC/hvcC record for H.264/H.265, the
/// AudioSpecificConfig for AAC, the sequence header (+ extensions) for MPEG-2 video.
pub fn describe(info: &mut StreamInfo, packet: &[u8]) -> bool {
    match info.codec {
        CodecId::H264 => {
            if info.extradata.is_empty() {
                let mut ps = Vec::new();
                collect_param_sets(info.format, packet, CodecId::H264, &mut ps);
                if let Some(rec) = h264::AvcC::from_annexb(&ps) {
                    info.extradata = rec.to_bytes();
                }
            }
            if info.video.is_none() {
                if let Ok(rec) = h264::AvcC::parse(&info.extradata) {
                    if let Some(Ok(sps)) = rec.sps.first().map(|s| h264::parse_sps(s)) {
                        info.video = Some(VideoParams {
                            width: sps.width,
                            height: sps.height,
                            frame_rate: sps.frame_rate,
                            profile: sps.profile_idc,
                            level: sps.level_idc,
                            color: sps.color,
                            // With field coding allowed, the order is a property of
                            // each picture (its slices or SEI), not of the sequence.
                            field_order: sps.frame_mbs_only.then_some(FieldOrder::Progressive),
                            sar: sps.sar.filter(|&(n, d)| n > 0 && d > 0),
                            pulldown: false,
                        });
                    }
                }
            }
            info.video.is_some() && !info.extradata.is_empty()
        }
        CodecId::H265 => {
            if info.extradata.is_empty() {
                let mut ps = Vec::new();
                collect_param_sets(info.format, packet, CodecId::H265, &mut ps);
                if let Some(rec) = h265::HvcC::from_annexb(&ps) {
                    info.extradata = rec.to_bytes();
                }
            }
            if info.video.is_none() {
                if let Ok(rec) = h265::HvcC::parse(&info.extradata) {
                    if let Some(Ok(sps)) = rec.first_sps().map(h265::parse_sps) {
                        info.video = Some(VideoParams {
                            width: sps.width,
                            height: sps.height,
                            frame_rate: sps.frame_rate,
                            profile: sps.ptl.profile_idc,
                            level: sps.ptl.level_idc,
                            sar: sps.sar.filter(|&(n, d)| n > 0 && d > 0),
                            color: sps.color,
                            // FFmpeg reports no field order for H.265; neither do we.
                            ..Default::default()
                        });
                    }
                }
            }
            info.video.is_some() && !info.extradata.is_empty()
        }
        CodecId::Mpeg1Video | CodecId::Mpeg2Video => {
            if info.video.is_none() || info.extradata.is_empty() {
                let src = if info.extradata.is_empty() { packet } else { &info.extradata[..] };
                if let Some(seq) = mpeg2v::parse_sequence_header(src) {
                    // The first picture's coding extension says how it is shown; it is
                    // in the packet (the extradata holds only the sequence header).
                    let pic = mpeg2v::parse_picture_coding(packet);
                    // FFmpeg gives MPEG-1 no field order: it has no interlaced coding.
                    let field_order = if !seq.mpeg2 {
                        None
                    } else if seq.progressive {
                        Some(FieldOrder::Progressive)
                    } else {
                        pic.map(|p| match (p.progressive_frame, p.top_field_first) {
                            (true, _) => FieldOrder::Progressive,
                            (false, true) => FieldOrder::TopFirst,
                            (false, false) => FieldOrder::BottomFirst,
                        })
                    };
                    info.video = Some(VideoParams {
                        width: seq.width,
                        height: seq.height,
                        frame_rate: seq.frame_rate,
                        profile: (seq.profile_and_level >> 4) & 7,
                        level: seq.profile_and_level & 0xF,
                        color: seq.color,
                        field_order,
                        sar: seq.sar(),
                        pulldown: pic.is_some_and(|p| p.repeat_first_field),
                    });
                    if info.extradata.is_empty() {
                        if let Some(b) = mpeg2v::sequence_header_bytes(packet) {
                            info.extradata = b.to_vec();
                        }
                    }
                }
            }
            info.video.is_some() && !info.extradata.is_empty()
        }
        CodecId::Aac => {
            if info.extradata.is_empty() && info.format == BitstreamFormat::Adts {
                if let Some(h) = aac::AdtsHeader::parse(packet) {
                    info.extradata = aac::AudioSpecificConfig::from_adts(&h).to_bytes();
                }
            }
            if info.audio.is_none() {
                if let Ok(asc) = aac::AudioSpecificConfig::parse(&info.extradata) {
                    let frame_samples = if asc.object_type == 23 || asc.object_type == 39 { 512 } else { 1024 };
                    info.audio =
                        Some(AudioParams { sample_rate: asc.sample_rate, channels: asc.channels(), frame_samples });
                }
            }
            info.audio.is_some() && !info.extradata.is_empty()
        }
        CodecId::Mp2 | CodecId::Mp3 => {
            if info.audio.is_none() {
                if let Some(h) = mpega::FrameHeader::parse(packet) {
                    info.audio = Some(AudioParams {
                        sample_rate: h.sample_rate,
                        channels: h.channels,
                        frame_samples: h.samples,
                    });
                }
            }
            info.audio.is_some()
        }
        CodecId::Ac3 => {
            if info.audio.is_none() {
                if let Some(h) = ac3::FrameHeader::parse(packet) {
                    info.audio = Some(AudioParams { sample_rate: h.sample_rate, channels: h.channels, frame_samples: h.samples });
                }
            }
            info.audio.is_some()
        }
        CodecId::RawVideo => info.video.is_some(),
        _ => true,
    }
}

/// Whether a packet is a random-access point, as FFmpeg flags them for these streams:
/// H.264 IDR access units, H.265 IRAP (IDR, CRA, BLA) access units, MPEG-2 I pictures;
/// every audio frame and raw video picture.
pub fn is_keyframe(info: &StreamInfo, packet: &[u8]) -> bool {
    match info.codec {
        CodecId::H264 => any_nal(info.format, packet, |n| h264::nal_type(n) == h264::nal_type::IDR),
        CodecId::H265 => any_nal(info.format, packet, |n| h265::is_irap(h265::nal_type(n))),
        CodecId::Mpeg1Video | CodecId::Mpeg2Video => mpeg2v::is_keyframe(packet),
        _ => true,
    }
}
