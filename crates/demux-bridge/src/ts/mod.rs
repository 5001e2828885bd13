//! MPEG transport stream demuxer (188-byte TS and 192-byte M2TS packets).
//!
//! # Design
//!
//! The per-packet path is a table lookup and a copy: the input is read in large windows
//! (1 MiB of a memory map, 64 KiB of a pipe) and walked 188 or 192 bytes at a time; the
//! PID indexes a flat 8192-entry table (no hashing) that says whether the packet belongs
//! to a PSI table, an elementary stream, or nothing we want; an elementary stream's
//! payload is appended to that stream's reassembly buffer. Nothing is allocated per
//! packet once the buffers have grown to the largest PES.
//!
//! ```text
//!  input window (map slice)         per-stream slot (owned, reused)
//!  ┌──┬───────┬──┬───────┬──┬─────┐  ┌─ pes: PES being assembled ─────────────┐
//!  │h │payload│h │payload│h │ ... │─►│ hdr │ payload ... ◄─ appended per packet │
//!  └──┴───────┴──┴───────┴──┴─────┘  └────────────────────────────────────────┘
//!                                    ┌─ out: the last complete PES ───────────┐
//!   next_packet() ─ PacketView ─────►│ hdr │ frame │ frame │ frame │            │
//!                  borrows `out`     └────────────────────────────────────────┘
//! ```
//!
//! A PES is spread over many transport packets, so it is not contiguous in the input:
//! reassembly is the first owned copy of its bytes. When a PES completes (its declared
//! length is reached, or the next PES of the PID starts for unbounded video PES, or the
//! input ends), the two buffers of its slot are swapped and the packets are lent out of
//! `out` until the next call.

pub(crate) mod frames;
pub mod packet;
pub mod pes;
pub mod psi;

use crate::{DemuxStats, Demuxer, Input};
use frames::Framing;
use packet::{Continuity, CcState, SyncSearch, SYNC_BYTE, TS_PACKET_SIZE};
use psi::{PmtStream, SectionAssembler, SectionError};
use transcode_core::{BitstreamFormat, CodecId, Error, MemoryConfig, PacketView, Result, StreamInfo, TimeBase, Unwrap33};

/// Marks a PID table entry as a PSI slot rather than an elementary-stream slot.
const PSI_FLAG: u16 = 0x8000;
/// Most elementary streams one demuxer tracks; a stream that changes its PMT endlessly
/// cannot make the demuxer grow without bound.
const MAX_STREAMS: usize = 1024;
/// How many consecutive sync bytes confirm a resynchronisation.
const SYNC_CONFIRM: usize = 3;
/// How many confirm the first packet: junk before it (a capture tool's header, a cut
/// file) may hold a short run of false sync bytes, and where the packets start is what
/// [`crate::probe`] decided with as many.
pub(crate) const FIRST_SYNC_CONFIRM: usize = 5;

/// Demuxes MPEG-TS (188-byte packets) and M2TS/BDAV (192-byte packets: a 4-byte
/// arrival timestamp, then a transport packet).
///
/// # Packets
///
/// Video and unknown streams give one packet per PES (encoders put one access unit or
/// picture in each PES). ADTS AAC gives one packet per ADTS frame, header included;
/// MPEG audio one per frame. Streams get indexes in the order they are first listed in
/// a PMT, so stream 0 is the first elementary stream of the first program, as FFmpeg
/// numbers them. [`TsDemuxer::new`] reads ahead to the first PMT of every program, so
/// [`Demuxer::streams`] is complete from the start for ordinary files; a later PMT
/// version may add streams (and a PID whose stream type changes becomes a new stream);
/// PIDs it no longer lists stop delivering packets.
///
/// Packets are cut exactly as FFmpeg cuts them, so that they match its packet tables
/// byte for byte. One consequence: for H.265, a zero_byte that starts the next access
/// unit's 4-byte start code ends the previous packet instead (FFmpeg's HEVC parser
/// splits there; trailing zero bytes are valid Annex-B). A private-data stream (type
/// 0x06) without a descriptor that names its codec is identified from its payload, as
/// FFmpeg probes it (ADTS → AAC, MPEG audio, AC-3), which is how FFmpeg's M2TS files
/// carry AAC.
///
/// # Memory
///
/// A PES is not contiguous in the input, so each stream has two buffers owned by the
/// demuxer and reused: one in which the current PES is reassembled, one holding the last
/// complete PES, which the returned [`PacketView`] borrows until the next call. Each
/// buffer is bounded by [`MemoryConfig::max_packet_size`]. A PES that would exceed it
/// is **dropped and counted** in [`DemuxStats::dropped_packets`], and demuxing goes
/// on with the next PES: a broadcast recording with one absurd PES should still remux.
/// PSI sections are bounded by their 12-bit length.
///
/// # Timing
///
/// PTS and DTS are 90 kHz values unwrapped from 33 bits per stream with [`Unwrap33`], so
/// they keep increasing across the 26.5-hour wrap. DTS defaults to PTS. The frames of an
/// audio PES after the first have no timestamp of their own: they get the PES's PTS plus
/// the durations of the frames before them (each rounded down to 90 kHz ticks, as FFmpeg
/// computes them), and their duration is set. The last PCR is kept ([`TsDemuxer::last_pcr`]).
///
/// # Damage
///
/// Nothing in the stream is fatal. Lost sync is found again by looking for three sync
/// bytes one packet apart ([`DemuxStats::resyncs`], [`DemuxStats::bytes_skipped`]),
/// decided only on data that reaches the third one (or the end of the input), so that
/// where sync is found does not depend on how the input is read (a map and a pipe give
/// the same packets); a packet whose successor is not in sync is treated as damaged, so
/// a packet cut short by missing bytes is not used. Continuity-counter gaps are counted
/// (a repeated counter is the duplicate the standard allows, and its payload is
/// skipped); the PES with the hole is still delivered, as FFmpeg does. Bad PSI CRCs are counted and the section is
/// ignored. An audio frame that runs past the end of its PES is dropped. At the end of
/// the input, what is complete is delivered and [`DemuxStats::truncated`] says whether
/// something was cut off. A picture cut off is not delivered but counted in
/// [`DemuxStats::cut_packets`]: a PES short of its declared length, or one without a
/// declared length when the input ends inside a transport packet (a file that ends on
/// a packet boundary gives its last open PES whole, as FFmpeg does).
///
/// Bytes before the first packet (a capture tool's header, a file cut mid-packet) are
/// skipped and counted in [`DemuxStats::bytes_skipped`], not as a resync; the first
/// packet is confirmed by five sync bytes in a row, as the probe finds it.
#[derive(Debug)]
pub struct TsDemuxer {
    input: Input,
    st: State,
}

/// Everything but the input, so that a window borrowed from the input can be walked
/// while the state changes.
#[derive(Debug)]
struct State {
    packet_size: usize,
    /// Input offset of the next unprocessed transport packet.
    pos: u64,
    /// Bytes asked of the input per window.
    window: usize,
    max_packet: usize,
    eof: bool,
    /// At the end of the input: the next slot whose partial PES must be flushed.
    flush_next: usize,
    /// Whether sync is held, lost (one resync is counted per loss) or not yet found:
    /// bytes before the first packet are skipped and counted, but are no resync.
    sync: Sync,
    /// The input ended inside a transport packet: it was cut, and a PES without a
    /// declared length that was still open then is cut too.
    cut: bool,
    /// Whether the search for sync goes on at `pos`, with the next window: the last one
    /// ended before a candidate there could be confirmed (or decided that nothing before
    /// `pos` can be).
    searching: bool,
    streams: Vec<StreamInfo>,
    slots: Vec<EsSlot>,
    psi: Vec<PsiSlot>,
    /// PID → 0 (ignored), `slot + 1` (elementary stream) or `PSI_FLAG | psi index`.
    pids: Box<[u16; 8192]>,
    stats: DemuxStats,
    pending: Option<Pending>,
    pcr: Option<u64>,
    pmt_scratch: Vec<PmtStream>,
    input_len: Option<u64>,
}

#[derive(Debug)]
struct EsSlot {
    pid: u16,
    stream_type: u8,
    /// Index into `streams`.
    stream: usize,
    codec: CodecId,
    framing: Framing,
    cc: CcState,
    /// The PES being reassembled.
    pes: Vec<u8>,
    /// The last complete PES, which delivered packets borrow.
    out: Vec<u8>,
    /// Whether `pes` holds the start of a PES (payload without a start is skipped).
    active: bool,
    /// Total size of the PES being assembled: 0 while unknown, `usize::MAX` when
    /// unbounded.
    want: usize,
    /// Input offset of the PES's first transport packet.
    pes_pos: u64,
    random_access: bool,
    clock: Unwrap33,
    /// Timestamp of the next audio frame when a PES carries no PTS.
    next_ts: Option<i64>,
    described: bool,
    /// A private-data stream whose codec is still to be found from its payload.
    probe: bool,
    /// Whether the stream has set random_access_indicator on any PES.
    rai_seen: bool,
    /// H.265: the PES being assembled starts with a zero_byte that was already
    /// delivered at the end of the previous access unit.
    zero_moved: bool,
}

#[derive(Debug)]
struct PsiSlot {
    kind: PsiKind,
    cc: CcState,
    asm: SectionAssembler,
    /// The last section applied, to skip identical repetitions without parsing them.
    last: Vec<u8>,
    /// Elementary PIDs of the program's current PMT.
    es_pids: Vec<u16>,
    seen: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PsiKind {
    Pat,
    Pmt { program: u16 },
}

/// A complete PES waiting to be lent out, frame by frame for audio.
#[derive(Debug, Clone, Copy)]
struct Pending {
    slot: usize,
    /// Next unread byte of the payload in the slot's `out`.
    off: usize,
    end: usize,
    pts: Option<i64>,
    dts: Option<i64>,
    random_access: bool,
    pos: u64,
}

/// The demuxer's hold on packet boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sync {
    /// No packet accepted yet.
    NotYet,
    Held,
    Lost,
}

/// Where walking goes on after sync was lost.
#[derive(Debug, Clone, Copy)]
enum Resync {
    /// At this offset of the current window.
    At(usize),
    /// Stop the window after consuming this many bytes; the next window decides.
    Stop(usize),
}

/// A packet to lend: where its bytes are in a slot's `out` and its metadata.
#[derive(Debug, Clone, Copy)]
struct Emit {
    slot: usize,
    start: usize,
    end: usize,
    pts: Option<i64>,
    dts: Option<i64>,
    duration: Option<i64>,
    keyframe: bool,
    pos: u64,
}

impl TsDemuxer {
    /// A demuxer over `input` with transport packets of `packet_size` bytes (188, or 192
    /// for M2TS). Reads ahead (without consuming) until every program's PMT is known or
    /// 1 MiB of input (at most [`MemoryConfig::max_packet_size`]) has been seen, as far
    /// from a pipe as from a map.
    pub fn new(mut input: Input, packet_size: usize, config: &MemoryConfig) -> Result<Self> {
        if packet_size != 188 && packet_size != 192 {
            return Err(Error::unsupported(format!("transport packet size {packet_size} (expected 188 or 192)")));
        }
        let window = if input.is_seekable() {
            packet_size * ((1 << 20) / packet_size)
        } else {
            // Must fit the streaming input's read-ahead limit (twice the larger of the
            // packet limit and the read size).
            let limit = (config.max_packet_size as usize).max(config.read_buffer_size.max(4096));
            packet_size * ((64 << 10).min(limit) / packet_size).max(8)
        };
        let mut st = State {
            packet_size,
            pos: 0,
            window,
            max_packet: config.max_packet_size.min(usize::MAX as u64) as usize,
            eof: false,
            flush_next: 0,
            sync: Sync::NotYet,
            cut: false,
            searching: false,
            streams: Vec::new(),
            slots: Vec::new(),
            psi: Vec::new(),
            pids: Box::new([0u16; 8192]),
            stats: DemuxStats::default(),
            pending: None,
            pcr: None,
            pmt_scratch: Vec::new(),
            input_len: input.len(),
        };
        st.add_psi(packet::PAT_PID, PsiKind::Pat);
        // The look-ahead decides which streams are known from the first packet on, so it is
        // the same for a map and a pipe, whatever their windows. A pipe can always read
        // max_packet_size ahead (its limit is twice that).
        let probe_len = packet_size * ((1 << 20).min(st.max_packet) / packet_size).max(8);
        let head = input.get(0, probe_len)?;
        let at_end = head.len() < probe_len;
        st.probe_programs(head, at_end);
        Ok(TsDemuxer { input, st })
    }

    /// The last program clock reference seen, in 27 MHz ticks (33-bit base × 300 plus
    /// the extension, not unwrapped).
    pub fn last_pcr(&self) -> Option<u64> {
        self.st.pcr
    }

    /// Reads the next window and walks it until a PES completes. Returns false at the
    /// end of the input once every partial PES has been flushed.
    fn advance(&mut self) -> Result<bool> {
        let st = &mut self.st;
        if st.eof {
            return Ok(st.flush_one());
        }
        let data = self.input.get(st.pos, st.window)?;
        let at_eof = data.len() < st.window;
        let used = match st.packet_size {
            192 => st.walk::<192, 4>(data, at_eof),
            _ => st.walk::<188, 0>(data, at_eof),
        };
        st.pos += used as u64;
        if at_eof && st.pending.is_none() && used + st.packet_size > data.len() {
            // Only a partial packet (or nothing) is left.
            if used < data.len() {
                st.stats.truncated = true;
                st.cut = true;
                st.pos = st.pos.saturating_add((data.len() - used) as u64);
            }
            st.eof = true;
        }
        self.input.release(st.pos);
        st.stats.bytes_read = st.pos;
        Ok(true)
    }
}

impl State {
    fn add_psi(&mut self, pid: u16, kind: PsiKind) {
        self.pids[pid as usize] = PSI_FLAG | self.psi.len() as u16;
        self.psi.push(PsiSlot {
            kind,
            cc: CcState::NONE,
            asm: SectionAssembler::default(),
            last: Vec::new(),
            es_pids: Vec::new(),
            seen: false,
        });
    }

    /// Parses the PSI at the head of the input so that the streams are known before the
    /// first packet is asked for, then forgets the transient state (continuity,
    /// partial sections, counters) so the main pass sees the same packets afresh.
    /// `head` is the start of the input, all of it when `at_end`.
    fn probe_programs(&mut self, head: &[u8], at_end: bool) {
        let size = self.packet_size;
        let so = size - TS_PACKET_SIZE;
        let mut p = match packet::find_sync(head, 0, size, so, FIRST_SYNC_CONFIRM, at_end) {
            SyncSearch::Found(q) => q,
            _ => head.len(),
        };
        while p + size <= head.len() {
            let Ok(pkt) = <&[u8; TS_PACKET_SIZE]>::try_from(&head[p + so..p + size]) else { break };
            if pkt[0] != SYNC_BYTE {
                match packet::find_sync(head, p + 1, size, so, SYNC_CONFIRM, at_end) {
                    SyncSearch::Found(q) => p = q,
                    _ => break,
                }
                continue;
            }
            let entry = self.pids[packet::pid(pkt) as usize];
            if entry & PSI_FLAG != 0 {
                if let Ok(h) = packet::parse(pkt) {
                    self.on_psi((entry & !PSI_FLAG) as usize, pkt, &h);
                }
            } else if entry != 0 {
                self.probe_first_pes(entry as usize - 1, pkt);
            }
            let programs_known = self.psi.iter().all(|s| s.seen);
            if programs_known && self.slots.iter().all(|s| !s.probe) {
                break;
            }
            p += size;
        }
        for s in &mut self.psi {
            s.cc = CcState::NONE;
            s.asm.reset();
        }
        self.stats = DemuxStats::default();
    }

    /// Identifies a private-data stream from the start of its first PES, when that is in
    /// `pkt`, so that its codec is known before the first packet is asked for.
    fn probe_first_pes(&mut self, idx: usize, pkt: &[u8; TS_PACKET_SIZE]) {
        let slot = &mut self.slots[idx];
        if !slot.probe {
            return;
        }
        let Ok(h) = packet::parse(pkt) else { return };
        if !h.pusi || !h.has_payload {
            return;
        }
        let pes = &pkt[h.payload_start..];
        let Some(ph) = pes::parse_header(pes) else { return };
        if let Some(codec) = frames::probe_private(&pes[ph.payload_start..]) {
            slot.probe = false;
            Self::set_codec(slot, &mut self.streams[slot.stream], codec);
        }
    }

    fn set_codec(slot: &mut EsSlot, info: &mut StreamInfo, codec: CodecId) {
        slot.codec = codec;
        slot.framing = Framing::for_codec(codec);
        info.codec = codec;
        info.format = if codec == CodecId::Aac { BitstreamFormat::Adts } else { BitstreamFormat::Raw };
    }

    /// Walks whole packets of `data` (which starts at `self.pos`) until a PES completes
    /// or too little data is left; returns the bytes consumed.
    #[inline(never)]
    fn walk<const SIZE: usize, const SO: usize>(&mut self, data: &[u8], at_eof: bool) -> usize {
        let mut p = 0usize;
        if self.searching {
            match self.search::<SIZE, SO>(data, 0, 0, at_eof) {
                Resync::At(q) => p = q,
                Resync::Stop(consumed) => return consumed,
            }
        }
        while p + SIZE <= data.len() {
            let next_sync = data.get(p + SIZE + SO).copied();
            if next_sync.is_none() && !at_eof {
                // Read on so that the next sync byte can be checked.
                break;
            }
            let pkt: &[u8; TS_PACKET_SIZE] = data[p + SO..p + SO + TS_PACKET_SIZE].try_into().expect("188 bytes");
            if pkt[0] != SYNC_BYTE || next_sync.is_some_and(|b| b != SYNC_BYTE) {
                match self.resync::<SIZE, SO>(data, p, at_eof) {
                    Resync::At(q) => {
                        p = q;
                        continue;
                    }
                    Resync::Stop(consumed) => return consumed,
                }
            }
            self.sync = Sync::Held;
            let entry = self.pids[packet::pid(pkt) as usize];
            if entry == 0 {
                p += SIZE;
                continue;
            }
            let h = match packet::parse(pkt) {
                Ok(h) => h,
                Err(packet::Unusable::Scrambled) => {
                    p += SIZE;
                    continue;
                }
                Err(_) => {
                    self.stats.dropped_packets += 1;
                    p += SIZE;
                    continue;
                }
            };
            if entry & PSI_FLAG != 0 {
                self.on_psi((entry & !PSI_FLAG) as usize, pkt, &h);
                p += SIZE;
                continue;
            }
            let idx = entry as usize - 1;
            let slot = &mut self.slots[idx];
            let mut cc = slot.cc;
            let verdict = cc.check(&h);
            if verdict == Continuity::Duplicate {
                slot.cc = cc;
                p += SIZE;
                continue;
            }
            if h.pusi && h.has_payload && slot.active {
                // The previous PES of this PID ends here. Lend it out first; this packet
                // is walked again on the next call (its counter not yet recorded).
                self.complete(idx, &pkt[h.payload_start..]);
                return p;
            }
            slot.cc = cc;
            if verdict == Continuity::Error {
                self.stats.cc_errors += 1;
            }
            if h.adaptation.discontinuity {
                self.stats.discontinuities += 1;
            }
            if let Some(pcr) = h.adaptation.pcr {
                self.pcr = Some(pcr);
            }
            p += SIZE;
            if !h.has_payload {
                continue;
            }
            let payload = &pkt[h.payload_start..];
            if h.pusi {
                slot.pes.clear();
                slot.active = true;
                slot.want = 0;
                slot.pes_pos = self.pos + (p - SIZE) as u64;
                slot.random_access = h.adaptation.random_access;
            } else if !slot.active {
                continue;
            }
            if slot.pes.len() + payload.len() > self.max_packet {
                slot.pes.clear();
                slot.active = false;
                self.stats.dropped_packets += 1;
                continue;
            }
            slot.pes.extend_from_slice(payload);
            if slot.want <= slot.pes.len() && self.pes_size_reached(idx) {
                self.complete(idx, &[]);
                return p;
            }
        }
        p
    }

    /// Learns a new PES's declared size from its first bytes; returns true when the PES
    /// is complete.
    #[cold]
    fn pes_size_reached(&mut self, idx: usize) -> bool {
        let slot = &mut self.slots[idx];
        if slot.want == 0 {
            match pes::declared_size(&slot.pes) {
                None if slot.pes.len() < 6 => return false,
                None => {
                    // Not a PES start: drop it until the next one.
                    slot.pes.clear();
                    slot.active = false;
                    self.stats.dropped_packets += 1;
                    return false;
                }
                Some(0) => slot.want = usize::MAX,
                Some(n) => slot.want = n,
            }
        }
        slot.pes.len() >= slot.want
    }

    /// Sync is lost (or the packet at `p` is damaged): finds it again.
    #[cold]
    #[inline(never)]
    fn resync<const SIZE: usize, const SO: usize>(&mut self, data: &[u8], p: usize, at_eof: bool) -> Resync {
        if self.sync == Sync::Held {
            self.sync = Sync::Lost;
            self.stats.resyncs += 1;
        }
        self.search::<SIZE, SO>(data, p, p + 1, at_eof)
    }

    /// Searches `data` for sync from offset `from`, counting the bytes from `skip_from`
    /// to where walking goes on as skipped.
    ///
    /// Where sync is found depends only on the input's bytes, never on where a window
    /// ends, so that a map (1 MiB windows) and a pipe (64 KiB windows) give the same
    /// packets: a candidate whose confirming sync bytes lie past the window is decided on
    /// the next window, which starts at the candidate (`searching`), and only the true end
    /// of the input decides on fewer confirmations. Each window holds at least eight
    /// packets, more than a candidate's confirmations need, so the search always moves on.
    #[cold]
    #[inline(never)]
    fn search<const SIZE: usize, const SO: usize>(&mut self, data: &[u8], skip_from: usize, from: usize, at_eof: bool) -> Resync {
        let confirm = if self.sync == Sync::NotYet { FIRST_SYNC_CONFIRM } else { SYNC_CONFIRM };
        let (to, found) = match packet::find_sync(data, from, SIZE, SO, confirm, at_eof) {
            SyncSearch::Found(q) => (q, true),
            SyncSearch::Undecided(q) => (q, false),
            // Offsets before `len - SO` were all rejected; the next window examines
            // the others.
            SyncSearch::Absent if at_eof => (data.len(), false),
            SyncSearch::Absent => (data.len().saturating_sub(SO).max(from), false),
        };
        self.stats.bytes_skipped += (to - skip_from) as u64;
        self.searching = !found && !at_eof;
        if found {
            Resync::At(to)
        } else {
            Resync::Stop(to)
        }
    }

    /// Hands one PSI packet to its section assembler.
    fn on_psi(&mut self, idx: usize, pkt: &[u8; TS_PACKET_SIZE], h: &packet::Parsed) {
        let slot = &mut self.psi[idx];
        match slot.cc.check(h) {
            Continuity::Duplicate => return,
            Continuity::Error => {
                self.stats.cc_errors += 1;
                slot.asm.reset();
            }
            Continuity::Ok => {}
        }
        if h.adaptation.discontinuity {
            self.stats.discontinuities += 1;
        }
        if !h.has_payload {
            return;
        }
        let mut asm = std::mem::take(&mut slot.asm);
        asm.push(&pkt[h.payload_start..], h.pusi, |section| self.on_section(idx, section));
        self.psi[idx].asm = asm;
    }

    /// Applies one complete section of PSI slot `idx`.
    fn on_section(&mut self, idx: usize, section: &[u8]) {
        if self.psi[idx].last == section {
            return;
        }
        let (h, body) = match psi::long_section(section) {
            Ok(x) => x,
            Err(SectionError::Crc) => {
                self.stats.crc_errors += 1;
                return;
            }
            Err(SectionError::Malformed) => return,
        };
        if !h.current {
            return;
        }
        match (self.psi[idx].kind, h.table_id) {
            (PsiKind::Pat, 0) => {
                for (program, pid) in psi::pat_programs(body) {
                    if self.pids[pid as usize] == 0 && self.psi.len() < 0x7FFF && pid != packet::NULL_PID {
                        self.add_psi(pid, PsiKind::Pmt { program });
                    }
                }
            }
            (PsiKind::Pmt { program }, 2) if h.id == program => {
                if self.apply_pmt(idx, body).is_err() {
                    return;
                }
            }
            _ => return,
        }
        let slot = &mut self.psi[idx];
        slot.seen = true;
        slot.last.clear();
        slot.last.extend_from_slice(section);
    }

    /// Maps the elementary streams of a new PMT version: kept where the PID and stream
    /// type are unchanged, new streams otherwise; PIDs the program no longer lists are
    /// unmapped.
    fn apply_pmt(&mut self, idx: usize, body: &[u8]) -> std::result::Result<(), SectionError> {
        let mut list = std::mem::take(&mut self.pmt_scratch);
        let result = psi::pmt_streams(body, &mut list);
        if result.is_ok() {
            let mut old = std::mem::take(&mut self.psi[idx].es_pids);
            for s in &list {
                let entry = self.pids[s.pid as usize];
                if entry & PSI_FLAG != 0 || s.pid == packet::NULL_PID {
                    continue;
                }
                if entry != 0 {
                    let slot = &mut self.slots[entry as usize - 1];
                    if slot.stream_type == s.stream_type {
                        continue;
                    }
                    // Same PID, new stream type: the old stream ends here.
                    slot.active = false;
                    slot.pes.clear();
                }
                if self.slots.len() >= MAX_STREAMS {
                    tracing::warn!("more than {MAX_STREAMS} elementary streams; ignoring PID {}", s.pid);
                    continue;
                }
                self.add_stream(s);
            }
            for &pid in &old {
                if !list.iter().any(|s| s.pid == pid) {
                    let entry = self.pids[pid as usize];
                    if entry != 0 && entry & PSI_FLAG == 0 {
                        let slot = &mut self.slots[entry as usize - 1];
                        slot.active = false;
                        slot.pes.clear();
                        self.pids[pid as usize] = 0;
                    }
                }
            }
            old.clear();
            old.extend(list.iter().map(|s| s.pid));
            self.psi[idx].es_pids = old;
        }
        self.pmt_scratch = list;
        result.map(|_| ())
    }

    fn add_stream(&mut self, s: &PmtStream) {
        let format = match s.codec {
            CodecId::H264 | CodecId::H265 => BitstreamFormat::AnnexB,
            CodecId::Aac => BitstreamFormat::Adts,
            _ => BitstreamFormat::Raw,
        };
        let index = self.streams.len();
        let mut info = StreamInfo::new(index, s.pid as u32, s.codec, format, TimeBase::MPEG);
        info.language = s.language;
        self.streams.push(info);
        self.pids[s.pid as usize] = self.slots.len() as u16 + 1;
        self.slots.push(EsSlot {
            pid: s.pid,
            stream_type: s.stream_type,
            stream: index,
            codec: s.codec,
            framing: Framing::for_codec(s.codec),
            cc: CcState::NONE,
            pes: Vec::new(),
            out: Vec::new(),
            active: false,
            want: 0,
            pes_pos: 0,
            random_access: false,
            clock: Unwrap33::default(),
            next_ts: None,
            described: false,
            probe: s.codec == CodecId::Unknown(0x06),
            zero_moved: false,
            rai_seen: false,
        });
    }

    /// Ends the PES being assembled in slot `idx` and queues it for lending. `next` is
    /// the start of the PES that follows, when its start is what ended this one.
    ///
    /// H.265 access units are cut as FFmpeg's HEVC parser cuts them, so that packets
    /// are byte-identical to FFmpeg's: when the next PES starts with a 4-byte start
    /// code, its leading zero_byte ends this access unit instead (Annex-B allows
    /// trailing zero bytes, so both cuts decode the same).
    fn complete(&mut self, idx: usize, next: &[u8]) {
        let slot = &mut self.slots[idx];
        std::mem::swap(&mut slot.pes, &mut slot.out);
        slot.pes.clear();
        slot.active = false;
        let want = slot.want;
        let bounded = want != 0 && want != usize::MAX;
        if bounded && slot.out.len() > want {
            slot.out.truncate(want);
        }
        let short = bounded && slot.out.len() < want;
        let zero_moved = std::mem::take(&mut slot.zero_moved);
        let Some(mut h) = pes::parse_header(&slot.out) else {
            self.stats.dropped_packets += 1;
            return;
        };
        if slot.codec == CodecId::H265 {
            const FOUR_BYTE_START: [u8; 4] = [0, 0, 0, 1];
            if zero_moved && slot.out[h.payload_start..].starts_with(&FOUR_BYTE_START) {
                h.payload_start += 1;
            }
            if let Some(nh) = pes::parse_header(next) {
                if next[nh.payload_start..].starts_with(&FOUR_BYTE_START) {
                    slot.out.push(0);
                    slot.zero_moved = true;
                }
            }
        }
        // At the end of the input, a PES short of its declared length was cut off, and so
        // was one without a declared length when the input ends inside a transport
        // packet. A picture cut off is not delivered (an audio PES still gives its whole
        // frames).
        let cut = self.eof && (short || (want == usize::MAX && self.cut));
        if cut {
            self.stats.truncated = true;
            if slot.framing == Framing::WholePes {
                self.stats.cut_packets += 1;
                return;
            }
        }
        if slot.probe && h.payload_start < slot.out.len() {
            slot.probe = false;
            if let Some(codec) = frames::probe_private(&slot.out[h.payload_start..]) {
                Self::set_codec(slot, &mut self.streams[slot.stream], codec);
            }
        }
        let (pts, dts) = match (h.pts, h.dts) {
            (Some(p), Some(d)) => {
                let d = slot.clock.unwrap(d);
                (Some(slot.clock.place(p)), Some(d))
            }
            (Some(p), None) => {
                let p = slot.clock.unwrap(p);
                (Some(p), Some(p))
            }
            _ => (None, None),
        };
        self.pending = Some(Pending {
            slot: idx,
            off: h.payload_start,
            end: slot.out.len(),
            pts,
            dts,
            random_access: slot.random_access,
            pos: slot.pes_pos,
        });
    }

    /// At the end of the input, queues the next partial PES; false when none is left.
    fn flush_one(&mut self) -> bool {
        while self.flush_next < self.slots.len() {
            let idx = self.flush_next;
            self.flush_next += 1;
            let slot = &self.slots[idx];
            if slot.active && !slot.pes.is_empty() && self.pids[slot.pid as usize] == idx as u16 + 1 {
                self.complete(idx, &[]);
                if self.pending.is_some() {
                    return true;
                }
            }
        }
        false
    }

    /// Takes the next packet out of the pending PES, if any.
    fn take(&mut self) -> Option<Emit> {
        let mut pend = self.pending?;
        let slot = &mut self.slots[pend.slot];
        let out = &slot.out[..pend.end];
        if slot.framing == Framing::WholePes {
            self.pending = None;
            if pend.off >= pend.end {
                return None;
            }
            let data = &out[pend.off..];
            let info = &mut self.streams[slot.stream];
            // Once a stream has flagged random access points, the flag is trusted and
            // the access unit is not scanned.
            slot.rai_seen |= pend.random_access;
            let keyframe = pend.random_access || (!slot.rai_seen && transcode_codec::is_keyframe(info, data));
            if !slot.described {
                slot.described = transcode_codec::describe(info, data);
            }
            return Some(Emit {
                slot: pend.slot,
                start: pend.off,
                end: pend.end,
                pts: pend.pts,
                dts: pend.dts,
                duration: None,
                keyframe,
                pos: pend.pos,
            });
        }
        loop {
            if pend.off >= pend.end {
                self.pending = None;
                return None;
            }
            let rest = &out[pend.off..];
            match frames::audio_frame(slot.framing, rest) {
                Some(f) if f.len <= rest.len() => {
                    let start = pend.off;
                    pend.off += f.len;
                    let ts = pend.pts.or(slot.next_ts);
                    let duration = f.duration_90k();
                    pend.pts = None;
                    slot.next_ts = ts.map(|t| t + duration);
                    self.pending = Some(pend);
                    if !slot.described {
                        let info = &mut self.streams[slot.stream];
                        if f.layer == 3 && info.codec == CodecId::Mp2 {
                            info.codec = CodecId::Mp3;
                        }
                        slot.described = transcode_codec::describe(info, &rest[..f.len]);
                    }
                    return Some(Emit {
                        slot: pend.slot,
                        start,
                        end: pend.off,
                        pts: ts,
                        dts: ts,
                        duration: Some(duration),
                        keyframe: true,
                        pos: pend.pos,
                    });
                }
                Some(_) => {
                    // The frame runs past the PES: it was cut short, by the end of the
                    // input when that is where the PES ended.
                    if self.eof {
                        self.stats.cut_packets += 1;
                    } else {
                        self.stats.dropped_packets += 1;
                    }
                    self.pending = None;
                    return None;
                }
                None => {
                    // Garbage (or a damaged frame) before the next header.
                    self.stats.dropped_packets += 1;
                    pend.off += frames::next_frame_start(slot.framing, rest);
                }
            }
        }
    }
}

impl Demuxer for TsDemuxer {
    fn streams(&self) -> &[StreamInfo] {
        &self.st.streams
    }

    fn next_packet(&mut self) -> Result<Option<PacketView<'_>>> {
        loop {
            if self.st.pending.is_some() {
                if let Some(e) = self.st.take() {
                    let slot = &self.st.slots[e.slot];
                    return Ok(Some(PacketView {
                        stream: slot.stream,
                        data: &slot.out[e.start..e.end],
                        pts: e.pts,
                        dts: e.dts,
                        duration: e.duration,
                        keyframe: e.keyframe,
                        pos: Some(e.pos),
                    }));
                }
                continue;
            }
            if !self.advance()? {
                return Ok(None);
            }
        }
    }

    fn stats(&self) -> DemuxStats {
        self.st.stats.clone()
    }

    fn format_name(&self) -> &'static str {
        if self.st.packet_size == 192 {
            "m2ts"
        } else {
            "mpegts"
        }
    }

    fn input_len(&self) -> Option<u64> {
        self.st.input_len
    }

    fn contents(&self) -> String {
        let st = &self.st;
        let packets = st.pos.saturating_sub(st.stats.bytes_skipped) / st.packet_size as u64;
        let kind = if st.packet_size == 192 { "M2TS" } else { "TS" };
        let pat = st.psi.first().is_some_and(|s| s.seen);
        let pmts = st.psi.iter().filter(|s| matches!(s.kind, PsiKind::Pmt { .. })).count();
        let pmts_seen = st.psi.iter().filter(|s| s.seen && matches!(s.kind, PsiKind::Pmt { .. })).count();
        let what = if !pat && pmts_seen == 0 {
            "no PAT/PMT".to_string()
        } else if pmts == 0 {
            "a PAT listing no program".to_string()
        } else if pmts_seen == 0 {
            "a PAT but no PMT".to_string()
        } else if st.streams.is_empty() {
            "no stream in the PMT".to_string()
        } else {
            let n = st.streams.len();
            format!("{n} {} in the PMT", if n == 1 { "stream" } else { "streams" })
        };
        format!("{packets} {kind} packets, {what}")
    }
}
