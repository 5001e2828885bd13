//! PAT and PMT sections for the muxer, with their CRC-32.

/// CRC-32/MPEG-2 of a section (shared with the other TS code in `transcode-codec`).
pub use transcode_codec::crc::crc32_mpeg2 as crc32;

/// Starts a long-form section in `out` (cleared): table id, a length to patch, the
/// 16-bit id, version 0, current, section 0 of 0.
fn begin(out: &mut Vec<u8>, table_id: u8, id: u16) {
    out.clear();
    out.extend_from_slice(&[table_id, 0xB0, 0x00, (id >> 8) as u8, id as u8, 0xC1, 0x00, 0x00]);
}

/// Patches the section length and appends the CRC.
fn end(out: &mut Vec<u8>) {
    let len = out.len() - 3 + 4;
    out[1] = 0xB0 | ((len >> 8) as u8 & 0x0F);
    out[2] = len as u8;
    let crc = crc32(out);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A PAT with one program.
pub fn pat(out: &mut Vec<u8>, transport_stream_id: u16, program: u16, pmt_pid: u16) {
    begin(out, 0x00, transport_stream_id);
    out.extend_from_slice(&[(program >> 8) as u8, program as u8, 0xE0 | (pmt_pid >> 8) as u8, pmt_pid as u8]);
    end(out);
}

/// One elementary stream of a PMT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PmtEntry {
    pub stream_type: u8,
    pub pid: u16,
    pub language: Option<[u8; 3]>,
    /// Add a registration descriptor with this format identifier (e.g. `AC-3`).
    pub registration: Option<[u8; 4]>,
}

/// A PMT for `program` listing `streams` in order.
pub fn pmt(out: &mut Vec<u8>, program: u16, pcr_pid: u16, streams: &[PmtEntry]) {
    begin(out, 0x02, program);
    out.extend_from_slice(&[0xE0 | (pcr_pid >> 8) as u8, pcr_pid as u8, 0xF0, 0x00]);
    for s in streams {
        out.extend_from_slice(&[s.stream_type, 0xE0 | (s.pid >> 8) as u8, s.pid as u8]);
        let len_at = out.len();
        out.extend_from_slice(&[0xF0, 0x00]);
        if let Some(r) = s.registration {
            out.extend_from_slice(&[0x05, 4]);
            out.extend_from_slice(&r);
        }
        if let Some(l) = s.language {
            // ISO_639_language_descriptor, audio_type 0 (undefined).
            out.extend_from_slice(&[0x0A, 4, l[0], l[1], l[2], 0]);
        }
        let n = out.len() - len_at - 2;
        out[len_at] = 0xF0 | (n >> 8) as u8;
        out[len_at + 1] = n as u8;
    }
    end(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pat_matches_ffmpeg() {
        // FFmpeg's PAT in testdata/ts/h264_aac.ts.
        let mut s = Vec::new();
        pat(&mut s, 1, 1, 0x1000);
        assert_eq!(s, [0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xF0, 0x00, 0x2A, 0xB1, 0x04, 0xB2]);
    }

    #[test]
    fn pmt_matches_ffmpeg() {
        // FFmpeg's PMT in testdata/ts/h264_aac.ts (H.264 on 0x100, AAC on 0x101).
        let mut s = Vec::new();
        let e = |stream_type, pid| PmtEntry { stream_type, pid, language: None, registration: None };
        pmt(&mut s, 1, 0x100, &[e(0x1B, 0x100), e(0x0F, 0x101)]);
        assert_eq!(&s[..12], &[0x02, 0xB0, 0x17, 0x00, 0x01, 0xC1, 0x00, 0x00, 0xE1, 0x00, 0xF0, 0x00]);
        assert_eq!(crc32(&s), 0);
        assert_eq!(s.len(), 3 + 0x17);
    }
}
