//! Fuzz target: the MPEG-TS demuxer, as 188-byte TS and as 192-byte M2TS, mapped and piped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use transcode_demux_bridge::Format;
use transcode_fuzz::{fuzz_format, Expect};

fuzz_target!(|data: &[u8]| {
    for packet_size in [188, 192] {
        fuzz_format(data, Format::MpegTs { packet_size }, Expect::default(), &mut |_, _| {});
    }
});
