//! The caption SEI: a picture's ATSC A/53 closed captions as a
//! `user_data_registered_itu_t_t35` SEI message (H.264 D.1.6), written into the access
//! unit of that picture before its slices.
//!
//! The payload is A/53 Part 4's `ATSC1_data` with `user_data_type_code` 3 (`cc_data`),
//! the form broadcast encoders write and decoders (FFmpeg's "ATSC A53 Part 4 Closed
//! Captions" side data) read:
//!
//! ```text
//!  B5 | 00 31 | 'G' 'A' '9' '4' | 03 | 0x40|cc_count | FF | cc_count × (flags, b1, b2) | FF
//!  country  provider  user_identifier   type  process_cc_data  em_data  triplets   marker_bits
//! ```
//!
//! The message is built in a fixed array on the stack: at most 31 triplets
//! ([`Captions::MAX`](transcode_frame_pool::Captions::MAX) bytes) make a 104-byte
//! payload, so a caption SEI never allocates.

/// The largest caption SEI RBSP: payload type and size, 11 bytes of A/53 framing,
/// 31 triplets and the trailing bits.
pub(crate) const MAX_RBSP: usize = 2 + 11 + 93 + 1;

/// The NAL unit type of an SEI.
pub(crate) const NAL_TYPE: u8 = 6;

/// `user_data_registered_itu_t_t35` (H.264 Table D-1).
const PAYLOAD_TYPE: u8 = 4;

/// Writes the SEI RBSP (without NAL header or emulation prevention) carrying
/// `triplets` into `out` and returns its length; 0 when there are no whole triplets,
/// which means no SEI is written. Triplets beyond 31 (what `cc_count`'s five bits can
/// announce) and a trailing partial triplet are left out.
pub(crate) fn a53_captions(triplets: &[u8], out: &mut [u8; MAX_RBSP]) -> usize {
    let count = (triplets.len() / 3).min(31);
    if count == 0 {
        return 0;
    }
    let payload_size = 11 + 3 * count;
    let head = [
        PAYLOAD_TYPE,
        payload_size as u8,
        // itu_t_t35_country_code: United States; itu_t_t35_provider_code: ATSC.
        0xb5,
        0x00,
        0x31,
        b'G',
        b'A',
        b'9',
        b'4',
        // user_data_type_code: cc_data.
        0x03,
        // reserved 1, process_cc_data_flag 1, additional_data_flag 0, cc_count.
        0x40 | count as u8,
        // em_data: reserved, all ones.
        0xff,
    ];
    out[..head.len()].copy_from_slice(&head);
    let mut n = head.len();
    out[n..n + 3 * count].copy_from_slice(&triplets[..3 * count]);
    n += 3 * count;
    // marker_bits, then rbsp_trailing_bits: the stop bit and alignment zeros.
    out[n] = 0xff;
    out[n + 1] = 0x80;
    n + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_triplet_makes_ffmpegs_a53_payload() {
        let mut out = [0; MAX_RBSP];
        let n = a53_captions(&[0xfc, 0x20, 0xc1], &mut out);
        assert_eq!(
            &out[..n],
            &[
                4, 14, 0xb5, 0, 0x31, b'G', b'A', b'9', b'4', 3, 0x41, 0xff, 0xfc, 0x20, 0xc1,
                0xff, 0x80
            ]
        );
    }

    #[test]
    fn no_triplets_no_sei_and_at_most_31() {
        let mut out = [0; MAX_RBSP];
        assert_eq!(a53_captions(&[], &mut out), 0);
        assert_eq!(
            a53_captions(&[0xfc, 0x20], &mut out),
            0,
            "a partial triplet is not a caption"
        );
        let many = [0xfcu8; 40 * 3];
        let n = a53_captions(&many, &mut out);
        assert_eq!(n, MAX_RBSP);
        assert_eq!(out[1] as usize, 11 + 93, "payload size");
        assert_eq!(out[10], 0x40 | 31, "cc_count");
        assert_eq!(out[n - 1], 0x80);
    }
}
