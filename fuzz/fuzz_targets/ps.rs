//! Fuzz target: the MPEG program stream demuxer (MPEG-1 and MPEG-2 packs), mapped and piped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use transcode_demux_bridge::Format;
use transcode_fuzz::{fuzz_format, Expect};

fuzz_target!(|data: &[u8]| {
    fuzz_format(data, Format::MpegPs, Expect::default(), &mut |_, _| {});
});
