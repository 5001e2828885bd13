//! Fuzz target: the ADTS demuxer, the ADTS header parser and AudioSpecificConfig.
#![no_main]

use libfuzzer_sys::fuzz_target;
use transcode_codec::aac::{write_adts_header, AdtsHeader, AudioSpecificConfig};
use transcode_demux_bridge::Format;
use transcode_fuzz::{check_error, fuzz_format, Expect};

/// A header written from a parsed header's config must parse back to the same fields.
fn check_header(b: &[u8]) {
    let Some(h) = AdtsHeader::parse(b) else { return };
    assert!(
        h.frame_len as usize >= h.header_len as usize,
        "adts frame_len {} below header_len {}",
        h.frame_len,
        h.header_len
    );
    let asc = AudioSpecificConfig::from_adts(&h);
    let payload = h.frame_len as usize - h.header_len as usize;
    match write_adts_header(&asc, payload) {
        Ok(w) => {
            let back = AdtsHeader::parse(&w).expect("a written adts header parses");
            assert_eq!(
                (back.object_type, back.sample_rate_index, back.channel_config, back.frame_len as usize - 7),
                (h.object_type, h.sample_rate_index, h.channel_config, payload)
            );
        }
        Err(e) => check_error(&e),
    }
    let parsed = AudioSpecificConfig::parse(&asc.to_bytes()).expect("a config made from adts parses");
    assert_eq!(
        (parsed.object_type, parsed.sample_rate, parsed.channel_config),
        (asc.object_type, asc.sample_rate, asc.channel_config)
    );
}

fuzz_target!(|data: &[u8]| {
    check_header(data);
    match AudioSpecificConfig::parse(data) {
        Ok(asc) => assert_eq!(asc.to_bytes(), data),
        Err(e) => check_error(&e),
    }
    fuzz_format(
        data,
        Format::Adts,
        Expect { borrows_input: true, generated_timestamps: true, pts_is_dts: true },
        &mut |_, p| check_header(p.data),
    );
});
