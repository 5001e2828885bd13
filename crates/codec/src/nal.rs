//! NAL unit framing for H.264 and H.265: Annex-B start codes, length prefixes, and the
//! conversions between them that MP4 ↔ TS/elementary-stream remuxing needs.
//!
//! ```text
//!  Annex-B:           00 00 00 01 | NAL | 00 00 01 | NAL | ...
//!  length-prefixed:   len (1..=4 bytes, big-endian) | NAL | len | NAL | ...
//! ```

use transcode_core::{Error, Result};

/// Position of the next `00 00 01` at or after `from`, if any.
pub fn find_start_code(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    // Look at the third byte first: anything above 1 rules out three positions at once.
    while i + 2 < data.len() {
        let c = data[i + 2];
        if c > 1 {
            i += 3;
        } else if c == 1 {
            if data[i] == 0 && data[i + 1] == 0 {
                return Some(i);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    None
}

/// Iterator over the NAL units of an Annex-B buffer; see [`split_annexb`].
#[derive(Debug, Clone)]
pub struct AnnexBUnits<'a> {
    data: &'a [u8],
    /// Offset just after the current start code, or `None` when done.
    next: Option<usize>,
}

impl<'a> Iterator for AnnexBUnits<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let start = self.next?;
            let (end, following) = match find_start_code(self.data, start) {
                Some(sc) => (sc, Some(sc + 3)),
                None => (self.data.len(), None),
            };
            self.next = following;
            let mut nal = &self.data[start..end];
            // Zero bytes before a start code are the first byte of a 4-byte start code or
            // trailing_zero_8bits: never part of the NAL (which ends in a stop bit).
            while let [rest @ .., 0] = nal {
                nal = rest;
            }
            if !nal.is_empty() {
                return Some(nal);
            }
        }
    }
}

/// Splits an Annex-B buffer into NAL units (without start codes, trailing zero bytes
/// trimmed). Bytes before the first start code are skipped; empty units are skipped.
pub fn split_annexb(data: &[u8]) -> AnnexBUnits<'_> {
    AnnexBUnits { data, next: find_start_code(data, 0).map(|p| p + 3) }
}

/// Size of `data` converted by [`annexb_to_lp`].
pub fn annexb_to_lp_len(data: &[u8]) -> usize {
    split_annexb(data).map(|n| n.len() + 4).sum()
}

/// Appends the NAL units of Annex-B `data` to `out`, each preceded by its length as a
/// 4-byte big-endian number (the framing of MP4 samples with `lengthSizeMinusOne = 3`).
pub fn annexb_to_lp(data: &[u8], out: &mut Vec<u8>) {
    out.reserve(annexb_to_lp_len(data));
    for nal in split_annexb(data) {
        out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        out.extend_from_slice(nal);
    }
}

/// Iterator over the NAL units of a length-prefixed buffer; see [`lp_units`].
#[derive(Debug, Clone)]
pub struct LpUnits<'a> {
    data: &'a [u8],
    len_size: usize,
    pos: usize,
    failed: bool,
}

impl<'a> Iterator for LpUnits<'a> {
    type Item = Result<&'a [u8]>;

    fn next(&mut self) -> Option<Result<&'a [u8]>> {
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        if !(1..=4).contains(&self.len_size) {
            self.failed = true;
            return Some(Err(Error::invalid(format!("nal length size {} (expected 1, 2 or 4)", self.len_size))));
        }
        let rest = &self.data[self.pos..];
        if rest.len() < self.len_size {
            self.failed = true;
            return Some(Err(Error::invalid(format!(
                "nal length field at packet byte {} is cut off ({} of {} bytes)",
                self.pos,
                rest.len(),
                self.len_size
            ))));
        }
        let len = rest[..self.len_size].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        let body = &rest[self.len_size..];
        if len > body.len() {
            self.failed = true;
            return Some(Err(Error::invalid(format!(
                "nal length {len} at packet byte {} exceeds the {} bytes left",
                self.pos,
                body.len()
            ))));
        }
        self.pos += self.len_size + len;
        Some(Ok(&body[..len]))
    }
}

/// Iterates over the NAL units of a buffer where each is preceded by a big-endian length
/// of `len_size` bytes. A length running past the end gives one error, then the end.
pub fn lp_units(data: &[u8], len_size: u8) -> LpUnits<'_> {
    LpUnits { data, len_size: len_size as usize, pos: 0, failed: false }
}

/// H.264 NAL unit type of a NAL (without start code).
fn h264_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1F)
}

/// Converts one length-prefixed H.264 access unit to Annex-B, appending to `out`.
///
/// `prefix_param_sets` (already in Annex-B form, e.g. from [`crate::h264::AvcC::to_annexb`])
/// is inserted before the first IDR slice unless the access unit carries its own SPS and
/// PPS; pass an empty slice for none. Start codes follow FFmpeg's `h264_mp4toannexb`:
/// 4 bytes before parameter sets and before the first unit of the access unit, 3 bytes
/// before the others. For the complete FFmpeg behaviour across packets (and for H.265)
/// use [`Mp4ToAnnexB`].
pub fn lp_to_annexb(data: &[u8], len_size: u8, prefix_param_sets: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let mut conv = Mp4ToAnnexB::h264_with(prefix_param_sets, len_size);
    conv.convert(data, out)
}

/// Removes emulation-prevention bytes (`00 00 03` → `00 00`), appending the RBSP to `out`.
pub fn unescape_rbsp(nal: &[u8], out: &mut Vec<u8>) {
    out.reserve(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
}

/// Which codec's rules [`Mp4ToAnnexB`] follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NalCodec {
    H264,
    H265,
}

/// Length-prefixed to Annex-B conversion with FFmpeg's `h264_mp4toannexb` /
/// `hevc_mp4toannexb` rules, including the state FFmpeg keeps between packets.
///
/// - H.264: SPS and PPS from the configuration record go before the first IDR slice of
///   an IDR picture unless the packet carries its own; 4-byte start codes before
///   parameter sets and the first unit of a packet, 3-byte before the others.
/// - H.265: the configuration record's parameter sets go before the first IRAP unit of
///   every packet; every start code is 4 bytes.
#[derive(Debug, Clone)]
pub struct Mp4ToAnnexB {
    codec: NalCodec,
    len_size: u8,
    /// Parameter sets in Annex-B form with 4-byte start codes: `sps_len` bytes of SPS
    /// followed by the PPS (H.264), or everything in record order (H.265).
    ps: Vec<u8>,
    sps_len: usize,
    new_idr: bool,
    idr_sps_seen: bool,
    idr_pps_seen: bool,
}

impl Mp4ToAnnexB {
    /// A converter for H.264 with the parameter sets of an avcC record.
    pub fn h264(avcc: &crate::h264::AvcC) -> Self {
        let mut ps = Vec::new();
        for s in &avcc.sps {
            ps.extend_from_slice(&[0, 0, 0, 1]);
            ps.extend_from_slice(s);
        }
        let sps_len = ps.len();
        for p in &avcc.pps {
            ps.extend_from_slice(&[0, 0, 0, 1]);
            ps.extend_from_slice(p);
        }
        Mp4ToAnnexB {
            codec: NalCodec::H264,
            len_size: avcc.len_size,
            ps,
            sps_len,
            new_idr: true,
            idr_sps_seen: false,
            idr_pps_seen: false,
        }
    }

    /// A converter for H.264 with parameter sets already in Annex-B form.
    pub fn h264_with(param_sets: &[u8], len_size: u8) -> Self {
        let sps_len = split_annexb(param_sets)
            .find(|n| h264_type(n) == 8)
            .map(|n| {
                // Back up over the PPS's start code (3 or 4 bytes).
                let off = n.as_ptr() as usize - param_sets.as_ptr() as usize;
                let mut s = off - 3;
                while s > 0 && param_sets[s - 1] == 0 {
                    s -= 1;
                }
                s
            })
            .unwrap_or(param_sets.len());
        Mp4ToAnnexB {
            codec: NalCodec::H264,
            len_size,
            ps: param_sets.to_vec(),
            sps_len,
            new_idr: true,
            idr_sps_seen: false,
            idr_pps_seen: false,
        }
    }

    /// A converter for H.265 with the parameter sets of an hvcC record.
    pub fn h265(hvcc: &crate::h265::HvcC) -> Self {
        Mp4ToAnnexB {
            codec: NalCodec::H265,
            len_size: hvcc.len_size,
            ps: hvcc.to_annexb(),
            sps_len: 0,
            new_idr: true,
            idr_sps_seen: false,
            idr_pps_seen: false,
        }
    }

    /// Parameter sets in Annex-B form, as inserted before keyframes.
    pub fn param_sets(&self) -> &[u8] {
        &self.ps
    }

    /// Converts one packet, appending to `out`.
    pub fn convert(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<()> {
        match self.codec {
            NalCodec::H264 => self.convert_h264(data, out),
            NalCodec::H265 => self.convert_h265(data, out),
        }
    }

    fn convert_h265(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let mut got_irap = false;
        for nal in lp_units(data, self.len_size) {
            let nal = nal?;
            let t = nal.first().map_or(0, |b| (b >> 1) & 0x3F);
            let irap = (16..=23).contains(&t);
            if irap && !got_irap {
                out.extend_from_slice(&self.ps);
            }
            got_irap |= irap;
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(nal);
        }
        Ok(())
    }

    fn convert_h264(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let start_len = out.len();
        let mut new_idr = self.new_idr;
        let mut sps_seen = self.idr_sps_seen;
        let mut pps_seen = self.idr_pps_seen;
        for nal in lp_units(data, self.len_size) {
            let nal = nal?;
            let t = h264_type(nal);
            if t == 7 {
                sps_seen = true;
                new_idr = true;
            } else if t == 8 {
                pps_seen = true;
                new_idr = true;
                if !sps_seen && self.sps_len > 0 {
                    out.extend_from_slice(&self.ps[..self.sps_len]);
                    sps_seen = true;
                }
            }
            // A new IDR picture right after another: FFmpeg only looks at first_mb_in_slice == 0.
            if !new_idr && t == 5 && nal.get(1).is_some_and(|b| b & 0x80 != 0) {
                new_idr = true;
            }
            if new_idr && t == 5 && !sps_seen && !pps_seen {
                out.extend_from_slice(&self.ps);
                new_idr = false;
            } else if new_idr && t == 5 && sps_seen && !pps_seen {
                out.extend_from_slice(&self.ps[self.sps_len..]);
            }
            if out.len() == start_len || t == 7 || t == 8 {
                out.extend_from_slice(&[0, 0, 0, 1]);
            } else {
                out.extend_from_slice(&[0, 0, 1]);
            }
            out.extend_from_slice(nal);
            if !new_idr && t == 1 {
                new_idr = true;
                sps_seen = false;
                pps_seen = false;
            }
        }
        self.new_idr = new_idr;
        self.idr_sps_seen = sps_seen;
        self.idr_pps_seen = pps_seen;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_3_and_4_byte_start_codes_and_trims_zeros() {
        let data = [0xAA, 0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 0, 1, 0x65, 0, 0, 3, 1, 0, 0];
        let units: Vec<&[u8]> = split_annexb(&data).collect();
        assert_eq!(units, vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 0, 0, 3, 1][..]]);
        assert_eq!(annexb_to_lp_len(&data), 3 * 4 + 3 + 2 + 5);
        let mut lp = Vec::new();
        annexb_to_lp(&data, &mut lp);
        assert_eq!(&lp[..7], &[0, 0, 0, 3, 0x67, 1, 2]);
        let back: Vec<&[u8]> = lp_units(&lp, 4).map(|r| r.unwrap()).collect();
        assert_eq!(back, units);
        assert_eq!(split_annexb(&[1, 2, 3]).count(), 0);
        assert_eq!(split_annexb(&[0, 0, 1]).count(), 0);
    }

    #[test]
    fn lp_units_reports_overrun_once() {
        let data = [0, 2, 0xAB, 0xCD, 0, 9, 1];
        let mut it = lp_units(&data, 2);
        assert_eq!(it.next().unwrap().unwrap(), &[0xAB, 0xCD]);
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
        assert!(lp_units(&data, 3).next().unwrap().is_err());
    }

    #[test]
    fn unescapes_emulation_prevention() {
        let mut out = Vec::new();
        unescape_rbsp(&[0x67, 0, 0, 3, 1, 0, 0, 3, 0, 3], &mut out);
        assert_eq!(out, vec![0x67, 0, 0, 1, 0, 0, 0, 3]);
    }

    #[test]
    fn h264_start_codes_and_parameter_sets() {
        let ps = [0, 0, 0, 1, 0x67, 0xAA, 0, 0, 0, 1, 0x68, 0xBB];
        // SEI + IDR slice, then a non-IDR slice in the next packet.
        let au = [0, 0, 0, 2, 0x06, 0x05, 0, 0, 0, 2, 0x65, 0x88];
        let mut out = Vec::new();
        lp_to_annexb(&au, 4, &ps, &mut out).unwrap();
        let mut want = vec![0, 0, 0, 1, 0x06, 0x05];
        want.extend_from_slice(&ps);
        want.extend_from_slice(&[0, 0, 1, 0x65, 0x88]);
        assert_eq!(out, want);
        // An access unit with its own SPS/PPS gets nothing inserted.
        let au = [0, 0, 0, 2, 0x67, 0x01, 0, 0, 0, 2, 0x68, 0x02, 0, 0, 0, 2, 0x65, 0x88];
        out.clear();
        lp_to_annexb(&au, 4, &ps, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 0x67, 0x01, 0, 0, 0, 1, 0x68, 0x02, 0, 0, 1, 0x65, 0x88]);
    }
}
