//! Program-specific information: section reassembly, CRC-32, PAT and PMT tables.
//!
//! A section may span several transport packets, and one packet may carry the end of
//! one section and the start of others. [`SectionAssembler`] gathers the bytes of one
//! PID into whole sections; sections that lie inside one packet are handed out as
//! slices of that packet without copying.

use transcode_core::CodecId;

/// Largest section a PSI PID may carry (`section_length` is 12 bits).
pub const MAX_SECTION: usize = 3 + 4093;

/// CRC-32/MPEG-2 of a section (shared with the other TS code in `transcode-codec`).
pub use transcode_codec::crc::crc32_mpeg2 as crc32;

/// Gathers the sections of one PID.
#[derive(Debug, Default)]
pub struct SectionAssembler {
    /// Bytes of a section that continues in the next packet.
    partial: Vec<u8>,
    /// Whether `partial` holds the start of a section.
    active: bool,
}

impl SectionAssembler {
    /// Drops a partial section (after lost packets).
    pub fn reset(&mut self) {
        self.partial.clear();
        self.active = false;
    }

    /// Feeds one packet's payload and calls `on_section` for every complete section.
    pub fn push(&mut self, payload: &[u8], pusi: bool, mut on_section: impl FnMut(&[u8])) {
        let mut rest = payload;
        if pusi {
            let Some((&pointer, after)) = rest.split_first() else { return };
            let pointer = pointer as usize;
            if pointer > after.len() {
                self.reset();
                return;
            }
            if self.active {
                self.append(&after[..pointer], &mut on_section);
            }
            self.reset();
            rest = &after[pointer..];
        } else if !self.active {
            return;
        } else {
            rest = self.append(rest, &mut on_section);
            if self.active {
                return;
            }
        }
        // New sections start here, back to back, until stuffing (0xFF) or the end.
        while let Some(&table_id) = rest.first() {
            if table_id == 0xFF {
                return;
            }
            if rest.len() < 3 {
                self.partial.extend_from_slice(rest);
                self.active = true;
                return;
            }
            let total = 3 + ((((rest[1] & 0x0F) as usize) << 8) | rest[2] as usize);
            if total <= rest.len() {
                on_section(&rest[..total]);
                rest = &rest[total..];
            } else {
                self.partial.extend_from_slice(rest);
                self.active = true;
                return;
            }
        }
    }

    /// Appends to the partial section; returns what is left of `data` after it completes.
    fn append<'d>(&mut self, data: &'d [u8], on_section: &mut impl FnMut(&[u8])) -> &'d [u8] {
        let have = self.partial.len();
        let need = if have >= 3 {
            3 + ((((self.partial[1] & 0x0F) as usize) << 8) | self.partial[2] as usize)
        } else {
            // Complete the 3-byte header first, then we know the length.
            let take = (3 - have).min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            if self.partial.len() < 3 {
                return &[];
            }
            let rest = &data[take..];
            return self.append(rest, on_section);
        };
        let take = (need - have).min(data.len());
        self.partial.extend_from_slice(&data[..take]);
        if self.partial.len() == need {
            on_section(&self.partial);
            self.reset();
        }
        &data[take..]
    }
}

/// The fixed header of a long-form section, after its CRC has been checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionHeader {
    pub table_id: u8,
    /// `transport_stream_id` in a PAT, `program_number` in a PMT.
    pub id: u16,
    pub version: u8,
    pub current: bool,
    pub section_number: u8,
}

/// Why a section was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionError {
    Crc,
    Malformed,
}

/// Checks a long-form section's syntax and CRC and returns its header and the body
/// between the header and the CRC.
pub fn long_section(section: &[u8]) -> Result<(SectionHeader, &[u8]), SectionError> {
    if section.len() < 12 || section[1] & 0x80 == 0 {
        return Err(SectionError::Malformed);
    }
    if crc32(section) != 0 {
        return Err(SectionError::Crc);
    }
    let h = SectionHeader {
        table_id: section[0],
        id: u16::from_be_bytes([section[3], section[4]]),
        version: (section[5] >> 1) & 0x1F,
        current: section[5] & 1 != 0,
        section_number: section[6],
    };
    Ok((h, &section[8..section.len() - 4]))
}

/// `(program_number, pmt_pid)` pairs of a PAT body; program 0 (the network PID) is left
/// out.
pub fn pat_programs(body: &[u8]) -> impl Iterator<Item = (u16, u16)> + '_ {
    body.chunks_exact(4).filter_map(|e| {
        let program = u16::from_be_bytes([e[0], e[1]]);
        let pid = (((e[2] & 0x1F) as u16) << 8) | e[3] as u16;
        (program != 0).then_some((program, pid))
    })
}

/// One elementary stream listed in a PMT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PmtStream {
    pub stream_type: u8,
    pub pid: u16,
    pub codec: CodecId,
    pub language: Option<[u8; 3]>,
}

/// Parses a PMT body: the PCR PID and the elementary streams in table order. Entries
/// that run past the body end the list; `out` is cleared first and reused.
pub fn pmt_streams(body: &[u8], out: &mut Vec<PmtStream>) -> Result<u16, SectionError> {
    out.clear();
    if body.len() < 4 {
        return Err(SectionError::Malformed);
    }
    let pcr_pid = (((body[0] & 0x1F) as u16) << 8) | body[1] as u16;
    let info_len = (((body[2] & 0x0F) as usize) << 8) | body[3] as usize;
    let mut rest = body.get(4 + info_len..).ok_or(SectionError::Malformed)?;
    while rest.len() >= 5 {
        let stream_type = rest[0];
        let pid = (((rest[1] & 0x1F) as u16) << 8) | rest[2] as u16;
        let es_len = (((rest[3] & 0x0F) as usize) << 8) | rest[4] as usize;
        let Some(descriptors) = rest.get(5..5 + es_len) else { break };
        let (codec, language) = classify(stream_type, descriptors);
        out.push(PmtStream { stream_type, pid, codec, language });
        rest = &rest[5 + es_len..];
    }
    Ok(pcr_pid)
}

/// The codec of a stream type, refined by its descriptors (AC-3 in private PES), and
/// the ISO 639 language if one is given.
fn classify(stream_type: u8, mut descriptors: &[u8]) -> (CodecId, Option<[u8; 3]>) {
    let mut codec = match stream_type {
        0x1B => CodecId::H264,
        0x24 => CodecId::H265,
        0x01 | 0x02 => CodecId::Mpeg2Video,
        0x0F => CodecId::Aac,
        // The layer is known from the first frame header; MP2 is by far the most common.
        0x03 | 0x04 => CodecId::Mp2,
        0x81 => CodecId::Ac3,
        other => CodecId::Unknown(other),
    };
    let mut language = None;
    while descriptors.len() >= 2 {
        let (tag, len) = (descriptors[0], descriptors[1] as usize);
        let Some(body) = descriptors.get(2..2 + len) else { break };
        match tag {
            // registration_descriptor with format_identifier "AC-3"; the DVB AC-3
            // descriptor.
            0x05 if stream_type == 0x06 && body.starts_with(b"AC-3") => codec = CodecId::Ac3,
            0x6A if stream_type == 0x06 => codec = CodecId::Ac3,
            0x0A if body.len() >= 3 => language = Some([body[0], body[1], body[2]]),
            _ => {}
        }
        descriptors = &descriptors[2 + len..];
    }
    (codec, language)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_a_real_pat_is_zero() {
        // The PAT of testdata/ts/h264_aac.ts, CRC included.
        let pat = [0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xF0, 0x00, 0x2A, 0xB1, 0x04, 0xB2];
        assert_eq!(crc32(&pat), 0);
        let (h, body) = long_section(&pat).unwrap();
        assert_eq!((h.table_id, h.id, h.version, h.current), (0, 1, 0, true));
        assert_eq!(pat_programs(body).collect::<Vec<_>>(), vec![(1, 0x1000)]);
        let mut bad = pat;
        bad[9] ^= 1;
        assert_eq!(long_section(&bad), Err(SectionError::Crc));
    }

    #[test]
    fn sections_span_packets_and_share_them() {
        let sec = |n: u8, len: usize| {
            let mut s = vec![n, 0xB0 | ((len - 3) >> 8) as u8, (len - 3) as u8];
            s.resize(len, n);
            s
        };
        let a = sec(2, 300);
        let b = sec(3, 20);
        let c = sec(4, 10);
        // Packet 1: pointer 0, the first 183 bytes of a. Packet 2: the rest of a, then
        // (pointer) b and c back to back, then stuffing.
        let mut p1 = vec![0u8];
        p1.extend_from_slice(&a[..183]);
        let mut p2 = vec![(300 - 183) as u8];
        p2.extend_from_slice(&a[183..]);
        p2.extend_from_slice(&b);
        p2.extend_from_slice(&c);
        p2.resize(184, 0xFF);
        let mut asm = SectionAssembler::default();
        let mut got = Vec::new();
        asm.push(&p1, true, |s| got.push(s.to_vec()));
        assert!(got.is_empty());
        asm.push(&p2, true, |s| got.push(s.to_vec()));
        assert_eq!(got, vec![a.clone(), b.clone(), c.clone()]);
        // A section split inside its 3-byte header, over packets without PUSI.
        let mut got = Vec::new();
        let mut p1 = vec![0u8; 183];
        p1[0] = 183 - 2;
        p1[182] = a[0];
        asm.push(&p1, true, |s| got.push(s.to_vec()));
        asm.push(&a[1..2], false, |s| got.push(s.to_vec()));
        asm.push(&a[2..], false, |s| got.push(s.to_vec()));
        assert_eq!(got, vec![a]);
    }

    #[test]
    fn pmt_lists_streams_in_order_with_ac3_descriptor() {
        let body = [
            0xE1, 0x00, 0xF0, 0x00, // PCR PID 0x100, no program info
            0x1B, 0xE1, 0x00, 0xF0, 0x00, // H.264 on 0x100
            0x06, 0xE1, 0x01, 0xF0, 0x0B, 0x05, 0x04, b'A', b'C', b'-', b'3', 0x0A, 0x03, b'e', b'n', b'g',
            0x99, 0xE1, 0x02, 0xF0, 0x00,
        ];
        let mut out = Vec::new();
        assert_eq!(pmt_streams(&body, &mut out), Ok(0x100));
        assert_eq!(out.len(), 3);
        assert_eq!((out[0].pid, out[0].codec), (0x100, CodecId::H264));
        assert_eq!((out[1].pid, out[1].codec, out[1].language), (0x101, CodecId::Ac3, Some(*b"eng")));
        assert_eq!(out[2].codec, CodecId::Unknown(0x99));
    }
}
