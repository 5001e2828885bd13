//! The 188-byte transport packet: header fields, adaptation field, PCR, continuity.
//!
//! ```text
//!  byte 0     1               2        3                         4 ...
//!  ┌──────┬─┬─┬─┬───────────┬────────┬──┬──┬────┐ ┌─────────────────────┬─────────┐
//!  │ 0x47 │E│S│P│ PID 12..8 │ PID 7..0│SC│AF│ CC │ │ adaptation field?   │ payload?│
//!  └──────┴─┴─┴─┴───────────┴────────┴──┴──┴────┘ └─────────────────────┴─────────┘
//!   E = transport_error_indicator, S = payload_unit_start_indicator, P = priority,
//!   SC = scrambling control, AF = adaptation_field_control (bit 1: field, bit 0: payload)
//! ```
//!
//! Everything here works on one `&[u8; 188]` and allocates nothing.

/// Bytes in one transport packet, without the 4-byte M2TS prefix.
pub const TS_PACKET_SIZE: usize = 188;
/// The byte every transport packet starts with.
pub const SYNC_BYTE: u8 = 0x47;
/// PID of the program association table.
pub const PAT_PID: u16 = 0;
/// PID of null (stuffing) packets.
pub const NULL_PID: u16 = 0x1FFF;

/// The PID of a packet.
#[inline(always)]
pub fn pid(pkt: &[u8; TS_PACKET_SIZE]) -> u16 {
    (((pkt[1] & 0x1F) as u16) << 8) | pkt[2] as u16
}

/// What the adaptation field of a packet says, where it matters to the demuxer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Adaptation {
    pub discontinuity: bool,
    pub random_access: bool,
    /// Program clock reference in 27 MHz ticks (`base * 300 + extension`), 33+9 bits.
    pub pcr: Option<u64>,
}

/// The parts of one packet: its header flags and where its payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    pub pusi: bool,
    pub cc: u8,
    /// Whether the packet carries payload (adaptation_field_control bit 0).
    pub has_payload: bool,
    pub adaptation: Adaptation,
    /// Offset of the payload inside the 188 bytes (`188` when there is none).
    pub payload_start: usize,
}

/// Why a packet cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    /// `transport_error_indicator` is set: a demodulator flagged the packet as damaged.
    TransportError,
    /// The adaptation field length runs past the end of the packet.
    BadAdaptation,
    /// The payload is scrambled and cannot be read.
    Scrambled,
}

/// Parses the header and adaptation field of `pkt`.
#[inline(always)]
pub fn parse(pkt: &[u8; TS_PACKET_SIZE]) -> Result<Parsed, Unusable> {
    let b1 = pkt[1];
    let b3 = pkt[3];
    if b1 & 0x80 != 0 {
        return Err(Unusable::TransportError);
    }
    let afc = (b3 >> 4) & 3;
    let mut parsed = Parsed {
        pusi: b1 & 0x40 != 0,
        cc: b3 & 0x0F,
        has_payload: afc & 1 != 0,
        adaptation: Adaptation::default(),
        payload_start: 4,
    };
    if afc & 2 != 0 {
        let len = pkt[4] as usize;
        // With payload the field may take at most 183 bytes; without, exactly 183.
        if 5 + len > TS_PACKET_SIZE {
            return Err(Unusable::BadAdaptation);
        }
        if len > 0 {
            let flags = pkt[5];
            parsed.adaptation.discontinuity = flags & 0x80 != 0;
            parsed.adaptation.random_access = flags & 0x40 != 0;
            if flags & 0x10 != 0 && len >= 7 {
                let b = &pkt[6..12];
                let base = ((b[0] as u64) << 25) | ((b[1] as u64) << 17) | ((b[2] as u64) << 9) | ((b[3] as u64) << 1) | (b[4] as u64 >> 7);
                let ext = (((b[4] & 1) as u64) << 8) | b[5] as u64;
                parsed.adaptation.pcr = Some(base * 300 + ext);
            }
        }
        parsed.payload_start = 5 + len;
    }
    if !parsed.has_payload {
        parsed.payload_start = TS_PACKET_SIZE;
    } else if b3 & 0xC0 != 0 {
        return Err(Unusable::Scrambled);
    }
    Ok(parsed)
}

/// The continuity verdict for one packet of a PID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuity {
    /// The counter is as expected (or this is the first packet of the PID, or a
    /// discontinuity was signalled).
    Ok,
    /// The same counter as the previous packet with payload, and the same
    /// payload_unit_start_indicator: the spec allows one duplicate, whose payload must
    /// be ignored. A repeated counter on a packet that starts a PES where the previous
    /// one did not (or the reverse) cannot be a copy of it: that is a counter error
    /// (two recordings joined end to end, say), and its payload is kept.
    Duplicate,
    /// Packets were lost (or reordered); the data continues but has a hole.
    Error,
}

/// Last continuity counter seen on a PID with its duplicate state and whether that
/// packet started a PES; `NONE` before the first packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CcState(u8);

impl CcState {
    pub const NONE: CcState = CcState(0xFF);
    const DUP_SEEN: u8 = 0x10;
    const PUSI: u8 = 0x20;

    /// Judges `p` against the previous packets of its PID and updates the state.
    #[inline(always)]
    pub fn check(&mut self, p: &Parsed) -> Continuity {
        let prev = self.0;
        let pusi = if p.pusi { Self::PUSI } else { 0 };
        if prev == 0xFF || p.adaptation.discontinuity {
            self.0 = p.cc | pusi;
            return Continuity::Ok;
        }
        let last = prev & 0x0F;
        if !p.has_payload {
            // Packets without payload do not increment the counter.
            return if p.cc == last { Continuity::Ok } else { self.lost(p.cc) };
        }
        if p.cc == (last + 1) & 0x0F {
            self.0 = p.cc | pusi;
            Continuity::Ok
        } else if p.cc == last && prev & Self::DUP_SEEN == 0 && prev & Self::PUSI == pusi {
            self.0 = prev | Self::DUP_SEEN;
            Continuity::Duplicate
        } else {
            self.0 = p.cc | pusi;
            Continuity::Error
        }
    }

    fn lost(&mut self, cc: u8) -> Continuity {
        self.0 = cc;
        Continuity::Error
    }
}

/// What a search for sync found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncSearch {
    /// Packets line up from this offset: the sync byte is there and in the packets that
    /// confirm it (or in as many of them as there are before the end of the input).
    Found(usize),
    /// The first candidate at or after the start, at this offset, has sync bytes as far
    /// as the data goes, but its confirmations run past the data: it can be decided only
    /// on data that reaches them.
    Undecided(usize),
    /// Every offset `c >= from` with `c + sync_off < data.len()` was rejected.
    Absent,
}

/// Searches `data` from offset `from` for the first place where packets of `size` bytes
/// line up: the sync byte at `sync_off` in `confirm` consecutive packets.
///
/// The answer depends only on the bytes up to the last confirmation of the candidate
/// chosen, never on where `data` happens to end: a candidate whose confirmations do not
/// all fit is [`SyncSearch::Undecided`], unless `data` ends the input (`at_end`), where
/// the confirmations that would lie past the end are not asked for.
pub fn find_sync(data: &[u8], from: usize, size: usize, sync_off: usize, confirm: usize, at_end: bool) -> SyncSearch {
    let mut start = from;
    while start + sync_off < data.len() {
        let Some(rel) = data[start + sync_off..].iter().position(|&b| b == SYNC_BYTE) else {
            return SyncSearch::Absent;
        };
        let cand = start + rel;
        let mut ok = true;
        for k in 1..confirm {
            match data.get(cand + k * size + sync_off) {
                Some(&SYNC_BYTE) => {}
                Some(_) => {
                    ok = false;
                    break;
                }
                None if at_end => break,
                None => return SyncSearch::Undecided(cand),
            }
        }
        if ok {
            return SyncSearch::Found(cand);
        }
        start = cand + 1;
    }
    SyncSearch::Absent
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(b1: u8, b2: u8, b3: u8, rest: &[u8]) -> [u8; 188] {
        let mut p = [0xFFu8; 188];
        p[0] = 0x47;
        p[1] = b1;
        p[2] = b2;
        p[3] = b3;
        p[4..4 + rest.len()].copy_from_slice(rest);
        p
    }

    #[test]
    fn parses_pcr_and_flags() {
        // Adaptation field of 7 bytes: RAI + PCR with base 0x1_0000_0001 and ext 5.
        let p = pkt(0x41, 0x00, 0x35, &[7, 0x50, 0x80, 0x00, 0x00, 0x00, 0x80 | 0x7E, 0x05]);
        assert_eq!(pid(&p), 0x100);
        let parsed = parse(&p).unwrap();
        assert!(parsed.pusi && parsed.has_payload);
        assert_eq!(parsed.cc, 5);
        assert!(parsed.adaptation.random_access);
        assert_eq!(parsed.adaptation.pcr, Some(((1u64 << 32) | 1) * 300 + 5));
        assert_eq!(parsed.payload_start, 12);
        assert_eq!(parse(&pkt(0x41, 0, 0x30, &[190])), Err(Unusable::BadAdaptation));
        assert_eq!(parse(&pkt(0xC1, 0, 0x10, &[])), Err(Unusable::TransportError));
    }

    #[test]
    fn continuity_allows_one_duplicate() {
        let mut cc = CcState::NONE;
        let mk = |c: u8, payload: bool| Parsed {
            pusi: false,
            cc: c,
            has_payload: payload,
            adaptation: Adaptation::default(),
            payload_start: 4,
        };
        assert_eq!(cc.check(&mk(14, true)), Continuity::Ok);
        assert_eq!(cc.check(&mk(15, true)), Continuity::Ok);
        assert_eq!(cc.check(&mk(15, true)), Continuity::Duplicate);
        assert_eq!(cc.check(&mk(15, true)), Continuity::Error);
        assert_eq!(cc.check(&mk(0, true)), Continuity::Ok);
        assert_eq!(cc.check(&mk(0, false)), Continuity::Ok);
        assert_eq!(cc.check(&mk(2, true)), Continuity::Error);
        let mut disc = mk(9, true);
        disc.adaptation.discontinuity = true;
        assert_eq!(cc.check(&disc), Continuity::Ok);
        // A repeated counter on a packet that starts a PES after one that did not is not
        // a copy of it (a join of two recordings): an error, payload kept.
        let start = |c: u8| Parsed { pusi: true, ..mk(c, true) };
        assert_eq!(cc.check(&mk(10, true)), Continuity::Ok);
        assert_eq!(cc.check(&start(10)), Continuity::Error);
        // A PES start repeated as such is the allowed duplicate.
        assert_eq!(cc.check(&start(10)), Continuity::Duplicate);
        assert_eq!(cc.check(&mk(11, true)), Continuity::Ok);
    }

    #[test]
    fn sync_search_needs_confirmation() {
        let mut data = vec![0u8; 188 * 4 + 10];
        data[3] = 0x47; // a lone false sync
        for k in 0..4 {
            data[10 + k * 188] = 0x47;
        }
        assert_eq!(find_sync(&data, 0, 188, 0, 3, false), SyncSearch::Found(10));
        assert_eq!(find_sync(&data, 11, 188, 0, 3, false), SyncSearch::Found(10 + 188));
        assert_eq!(find_sync(&[0u8; 100], 0, 188, 0, 3, false), SyncSearch::Absent);
        // The last two candidates' confirmations run past the data: undecided, unless the
        // data ends the input.
        assert_eq!(find_sync(&data, 10 + 189, 188, 0, 3, false), SyncSearch::Undecided(10 + 2 * 188));
        assert_eq!(find_sync(&data, 10 + 189, 188, 0, 3, true), SyncSearch::Found(10 + 2 * 188));
        // A candidate rejected by a confirmation inside the data stays rejected.
        data[10 + 3 * 188] = 0;
        assert_eq!(find_sync(&data, 11, 188, 0, 3, false), SyncSearch::Absent);
        assert_eq!(find_sync(&data, 11, 188, 0, 3, true), SyncSearch::Absent);
        // With a sync offset (M2TS), offsets whose sync byte would lie past the data are
        // not examined.
        assert_eq!(find_sync(&[0x47u8; 3], 0, 192, 4, 3, true), SyncSearch::Absent);
    }
}
