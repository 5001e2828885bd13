//! Fuzz target: the MPEG audio (MP2/MP3) elementary-stream demuxer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use transcode_codec::mpega::FrameHeader;
use transcode_demux_bridge::Format;
use transcode_fuzz::{fuzz_format, Expect};

fuzz_target!(|data: &[u8]| {
    let _ = FrameHeader::parse(data);
    fuzz_format(
        data,
        Format::MpegAudio,
        Expect { borrows_input: true, generated_timestamps: true, pts_is_dts: true },
        &mut |_, p| {
            let _ = FrameHeader::parse(p.data);
        },
    );
});
