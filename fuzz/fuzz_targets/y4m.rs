//! Fuzz target: the YUV4MPEG2 demuxer and header parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use transcode_codec::y4m::Y4mHeader;
use transcode_demux_bridge::Format;
use transcode_fuzz::{check_error, fuzz_format, Expect};

fuzz_target!(|data: &[u8]| {
    let line = data.split(|&b| b == b'\n').next().unwrap_or(data);
    match Y4mHeader::parse(line) {
        Ok(h) => {
            let _ = h.frame_size();
            let again = Y4mHeader::parse(h.to_line().trim_end().as_bytes()).expect("a written y4m header parses");
            assert_eq!((again.width, again.height, again.frame_rate), (h.width, h.height, h.frame_rate));
        }
        Err(e) => check_error(&e),
    }
    fuzz_format(
        data,
        Format::Y4m,
        Expect { borrows_input: true, generated_timestamps: true, pts_is_dts: true },
        &mut |_, _| {},
    );
});
