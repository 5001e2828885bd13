//! Fuzz target: the probe path (format detection, then whichever demuxer it picks), from a
//! map and from a pipe, with every stream's codec description rebuilt from its packets.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use transcode_codec::{describe, is_keyframe};
use transcode_core::StreamInfo;
use transcode_demux_bridge::probe::detect_bytes;
use transcode_demux_bridge::Format;
use transcode_fuzz::{check_same_packets, config, run_demuxer, with_heap_budget, Expect, Source};

fuzz_target!(|data: &[u8]| {
    let cfg = config();
    with_heap_budget(cfg.max_memory, || {
        let format = detect_bytes(&data[..data.len().min(64 << 10)]);
        let es = matches!(format, Some(Format::H264 | Format::H265 | Format::Adts | Format::MpegAudio | Format::Y4m));
        let annexb = matches!(format, Some(Format::H264 | Format::H265));
        let expect = Expect {
            borrows_input: es || format == Some(Format::Mp4),
            generated_timestamps: es,
            pts_is_dts: es && !annexb,
        };
        let data = Bytes::copy_from_slice(data);
        let mut described: Vec<StreamInfo> = Vec::new();
        let mut on_packet = |streams: &[StreamInfo], p: &transcode_core::PacketView<'_>| {
            let s = &streams[p.stream];
            let _ = is_keyframe(s, p.data);
            while described.len() < streams.len() {
                let mut fresh = streams[described.len()].clone();
                fresh.extradata.clear();
                fresh.video = None;
                fresh.audio = None;
                described.push(fresh);
            }
            let _ = describe(&mut described[p.stream], p.data);
        };
        let mapped = run_demuxer(&data, None, Source::Mapped, expect, &cfg, &mut on_packet);
        let piped = run_demuxer(&data, None, Source::Pipe, expect, &cfg, &mut |_, _| {});
        // A pipe sees nothing the map does not; it may fail where the map succeeds (an
        // MP4 whose moov is at the end), never the other way round.
        assert!(mapped.is_some() || piped.is_none(), "the input opens from a pipe but not from a map");
        if let (Some(m), Some(p)) = (&mapped, &piped) {
            check_same_packets(m, p);
        }
    });
});
