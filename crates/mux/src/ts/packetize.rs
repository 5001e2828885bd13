//! Transport packets out: PES packetisation with adaptation-field stuffing, PSI sections,
//! PCR-only packets, and the M2TS arrival-time prefix.
//!
//! ```text
//!  first packet of a PES           middle packets         last packet
//!  ┌────┬────────┬─────┬───────┐   ┌────┬────────────┐   ┌────┬──────────────┬──────┐
//!  │hdr │AF(RAI, │ PES │payload│   │hdr │ payload    │   │hdr │AF (stuffing) │ tail │
//!  │    │ PCR)?  │ hdr │       │   │    │ 184 bytes  │   │    │ 0xFF ...     │      │
//!  └────┴────────┴─────┴───────┘   └────┴────────────┘   └────┴──────────────┴──────┘
//! ```

/// Bytes in one transport packet.
pub const TS: usize = 188;
const PAYLOAD: usize = TS - 4;

/// Where transport packets go: the output buffer, with the M2TS prefix when asked.
#[derive(Debug)]
pub struct PacketWriter {
    pub out: Vec<u8>,
    /// Write the 4-byte TP_extra_header (M2TS) before each packet.
    pub m2ts: bool,
    /// Arrival time stamp for the next packets, in 27 MHz ticks.
    pub ats: u64,
}

impl PacketWriter {
    #[inline]
    fn start(&mut self, pid: u16, pusi: bool, afc: u8, cc: u8) {
        if self.m2ts {
            // copy_permission_indicator 0, arrival_time_stamp 30 bits.
            self.out.extend_from_slice(&((self.ats & 0x3FFF_FFFF) as u32).to_be_bytes());
        }
        self.out.extend_from_slice(&[0x47, ((pusi as u8) << 6) | (pid >> 8) as u8 & 0x1F, pid as u8, (afc << 4) | (cc & 0x0F)]);
    }

    /// Bytes one transport packet takes in the output.
    pub fn packet_size(&self) -> usize {
        if self.m2ts {
            TS + 4
        } else {
            TS
        }
    }

    /// Writes one PES (its header bytes `head` then `payload`) on `pid`. `pcr` (27 MHz)
    /// and `random_access` go in the first packet's adaptation field; the last packet is
    /// filled up with adaptation-field stuffing. `cc` is the next continuity counter.
    pub fn pes(&mut self, pid: u16, cc: &mut u8, head: &[u8], payload: &[u8], pcr: Option<u64>, random_access: bool) {
        let total = head.len() + payload.len();
        self.out.reserve((total / PAYLOAD + 2) * self.packet_size());
        let mut head_left = head;
        let mut body = payload;
        let mut first = true;
        while first || !head_left.is_empty() || !body.is_empty() {
            let left = head_left.len() + body.len();
            // Adaptation field content (after its length byte) wanted for signalling.
            let flags = if first { (if random_access { 0x40 } else { 0 }) | (if pcr.is_some() { 0x10 } else { 0 }) } else { 0 };
            let mut af: Option<usize> = (flags != 0).then(|| 1 + if pcr.is_some() { 6 } else { 0 });
            let mut space = PAYLOAD - af.map_or(0, |c| 1 + c);
            if left < space {
                // Stuff the adaptation field so the payload ends the packet exactly.
                af = Some(PAYLOAD - left - 1);
                space = left;
            }
            self.start(pid, first, if af.is_some() { 3 } else { 1 }, *cc);
            if let Some(len) = af {
                self.out.push(len as u8);
                if len > 0 {
                    self.out.push(flags);
                    let mut used = 1;
                    if let (true, Some(pcr)) = (first, pcr) {
                        write_pcr(&mut self.out, pcr);
                        used += 6;
                    }
                    self.out.resize(self.out.len() + len - used, 0xFF);
                }
            }
            let from_head = space.min(head_left.len());
            self.out.extend_from_slice(&head_left[..from_head]);
            head_left = &head_left[from_head..];
            let from_body = space - from_head;
            self.out.extend_from_slice(&body[..from_body]);
            body = &body[from_body..];
            *cc = (*cc + 1) & 0x0F;
            first = false;
        }
    }

    /// Writes one PSI section, split over as many packets as it needs (pointer field 0,
    /// then the section, then 0xFF stuffing).
    pub fn section(&mut self, pid: u16, cc: &mut u8, section: &[u8]) {
        let mut rest = section;
        let mut first = true;
        while first || !rest.is_empty() {
            self.start(pid, first, 1, *cc);
            let mut room = PAYLOAD;
            if first {
                self.out.push(0);
                room -= 1;
            }
            let n = room.min(rest.len());
            self.out.extend_from_slice(&rest[..n]);
            self.out.resize(self.out.len() + room - n, 0xFF);
            rest = &rest[n..];
            *cc = (*cc + 1) & 0x0F;
            first = false;
        }
    }

    /// Writes a packet that only carries a PCR. The continuity counter does not advance
    /// on packets without payload, so the last counter used on the PID is repeated.
    pub fn pcr_only(&mut self, pid: u16, next_cc: u8, pcr: u64) {
        self.start(pid, false, 2, next_cc.wrapping_sub(1) & 0x0F);
        self.out.extend_from_slice(&[183, 0x10]);
        write_pcr(&mut self.out, pcr);
        self.out.resize(self.out.len() + 183 - 7, 0xFF);
    }
}

/// The 6-byte PCR field: 33-bit base, 6 reserved bits, 9-bit extension.
fn write_pcr(out: &mut Vec<u8>, pcr: u64) {
    let base = (pcr / 300) & ((1 << 33) - 1);
    let ext = pcr % 300;
    out.extend_from_slice(&[
        (base >> 25) as u8,
        (base >> 17) as u8,
        (base >> 9) as u8,
        (base >> 1) as u8,
        (((base & 1) as u8) << 7) | 0x7E | (ext >> 8) as u8,
        ext as u8,
    ]);
}

/// A PES header with PTS and (when it differs) DTS, into `out`; returns its length.
/// `payload_len` sets PES_packet_length, or 0 when it does not fit 16 bits.
pub fn pes_header(out: &mut [u8; 19], stream_id: u8, pts: Option<u64>, dts: Option<u64>, payload_len: usize) -> usize {
    let dts = dts.filter(|&d| Some(d) != pts && pts.is_some());
    let (flags, fields) = match (pts, dts) {
        (Some(_), Some(_)) => (0xC0, 10),
        (Some(_), None) => (0x80, 5),
        _ => (0, 0),
    };
    let len = 3 + fields + payload_len;
    let len = if len > 0xFFFF { 0 } else { len as u16 };
    out[..9].copy_from_slice(&[0, 0, 1, stream_id, (len >> 8) as u8, len as u8, 0x80, flags, fields as u8]);
    if let Some(p) = pts {
        write_ts(&mut out[9..14], if dts.is_some() { 0x3 } else { 0x2 }, p);
    }
    if let Some(d) = dts {
        write_ts(&mut out[14..19], 0x1, d);
    }
    9 + fields
}

fn write_ts(b: &mut [u8], prefix: u8, ts: u64) {
    let ts = ts & ((1 << 33) - 1);
    b[0] = (prefix << 4) | (((ts >> 30) as u8 & 7) << 1) | 1;
    b[1] = (ts >> 22) as u8;
    b[2] = (((ts >> 15) as u8) << 1) | 1;
    b[3] = (ts >> 7) as u8;
    b[4] = ((ts as u8) << 1) | 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> PacketWriter {
        PacketWriter { out: Vec::new(), m2ts: false, ats: 0 }
    }

    #[test]
    fn pes_fills_packets_exactly() {
        for n in [0usize, 1, 150, 165, 166, 175, 176, 184, 300, 1000] {
            let mut w = writer();
            let mut cc = 15;
            let payload: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let mut h = [0u8; 19];
            let hl = pes_header(&mut h, 0xE0, Some(900), Some(0), n);
            w.pes(0x100, &mut cc, &h[..hl], &payload, Some(27_000_000), true);
            assert_eq!(w.out.len() % 188, 0, "{n}");
            // Reassemble the payload from the packets.
            let mut got = Vec::new();
            for (i, p) in w.out.chunks(188).enumerate() {
                assert_eq!(p[0], 0x47);
                assert_eq!(p[3] & 0x0F, ((15 + i) & 15) as u8);
                let start = if p[3] & 0x20 != 0 { 5 + p[4] as usize } else { 4 };
                got.extend_from_slice(&p[start..]);
            }
            assert_eq!(&got[..hl], &h[..hl]);
            assert_eq!(&got[hl..], &payload[..], "{n}");
            let first = &w.out[..188];
            assert_eq!(first[5] & 0x50, 0x50, "RAI and PCR flags");
        }
    }

    #[test]
    fn header_has_pts_and_dts() {
        let mut h = [0u8; 19];
        assert_eq!(pes_header(&mut h, 0xE0, Some(133200), Some(126000), 100), 19);
        assert_eq!(&h[..19], &[0, 0, 1, 0xE0, 0, 113, 0x80, 0xC0, 0x0A, 0x31, 0x00, 0x09, 0x10, 0xA1, 0x11, 0x00, 0x07, 0xD8, 0x61]);
        assert_eq!(pes_header(&mut h, 0xC0, Some(5), Some(5), 70_000), 14);
        assert_eq!((h[4], h[5], h[7]), (0, 0, 0x80));
    }

    #[test]
    fn m2ts_packets_have_the_arrival_time() {
        let mut w = PacketWriter { out: Vec::new(), m2ts: true, ats: (1 << 30) + 7 };
        let mut cc = 0;
        w.section(0, &mut cc, &[0; 20]);
        w.pcr_only(0x100, 0, 300);
        assert_eq!(w.out.len(), 2 * 192);
        assert_eq!(&w.out[..5], &[0, 0, 0, 7, 0x47]);
        assert_eq!(w.out[192 + 7] & 0x0F, 15);
    }
}
