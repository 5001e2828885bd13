//! Fuzz target: the MP4 demuxer (progressive and fragmented), mapped and piped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use transcode_demux_bridge::Format;
use transcode_fuzz::{fuzz_format, Expect};

fuzz_target!(|data: &[u8]| {
    // Samples are slices of the map; their timestamps come from the file, so no
    // ordering can be asked of damaged input.
    fuzz_format(
        data,
        Format::Mp4,
        Expect { borrows_input: true, generated_timestamps: false, pts_is_dts: false },
        &mut |_, _| {},
    );
});
