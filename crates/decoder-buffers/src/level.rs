//! DPB sizes from H.264 levels (Table A-1, MaxDpbMbs).

pub use transcode_codec::h264::max_dpb_mbs;

/// The most frames an H.264 decoder needs in its decoded picture buffer for a stream of
/// this level and size: `MaxDpbMbs / (PicWidthInMbs * FrameHeightInMbs)`, at most 16
/// (clause A.3.1, item h).
///
/// `width` and `height` are in pixels and rounded up to whole macroblocks. An unknown
/// level or a zero size gives the maximum, 16; a picture too large for its level gives
/// 1 rather than 0, so such a stream can still be decoded without reordering.
///
/// ```
/// use transcode_decoder_buffers::dpb_frames_for_level;
/// assert_eq!(dpb_frames_for_level(40, 1920, 1080), 4);
/// assert_eq!(dpb_frames_for_level(31, 1280, 720), 5);
/// assert_eq!(dpb_frames_for_level(51, 1920, 1080), 16);
/// ```
pub fn dpb_frames_for_level(level_idc: u8, width: u32, height: u32) -> u32 {
    const MAX: u32 = 16;
    let Some(max_mbs) = max_dpb_mbs(level_idc) else { return MAX };
    let mbs = u64::from(width.div_ceil(16)) * u64::from(height.div_ceil(16));
    if mbs == 0 {
        return MAX;
    }
    (u64::from(max_mbs) / mbs).clamp(1, u64::from(MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_a1_examples() {
        // Worked sizes for common formats at the levels they are usually coded at.
        assert_eq!(dpb_frames_for_level(30, 720, 576), 5);
        assert_eq!(dpb_frames_for_level(30, 720, 480), 6);
        assert_eq!(dpb_frames_for_level(11, 352, 288), 2);
        assert_eq!(dpb_frames_for_level(12, 320, 180), 9);
        assert_eq!(dpb_frames_for_level(11, 176, 144), 9);
        assert_eq!(dpb_frames_for_level(41, 1920, 1088), 4);
        assert_eq!(dpb_frames_for_level(42, 1920, 1080), 4);
        assert_eq!(dpb_frames_for_level(51, 3840, 2160), 5);
        assert_eq!(dpb_frames_for_level(62, 8192, 4320), 5);
        assert_eq!(dpb_frames_for_level(10, 176, 144), 4);
        assert_eq!(dpb_frames_for_level(9, 176, 144), 4);
    }

    #[test]
    fn edge_cases_never_give_zero() {
        assert_eq!(dpb_frames_for_level(0, 1920, 1080), 16);
        assert_eq!(dpb_frames_for_level(99, 1920, 1080), 16);
        assert_eq!(dpb_frames_for_level(40, 0, 1080), 16);
        assert_eq!(dpb_frames_for_level(10, 1920, 1080), 1);
        assert_eq!(dpb_frames_for_level(51, 16, 16), 16);
        assert_eq!(dpb_frames_for_level(51, u32::MAX, u32::MAX), 1);
    }
}
