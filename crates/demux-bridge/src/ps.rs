//! MPEG program stream demuxer (ISO/IEC 13818-1 program streams, `.mpg`, `.vob`,
//! `.m2p`, and ISO/IEC 11172-1 MPEG-1 system streams).
//!
//! # Design
//!
//! A program stream is a sequence of self-delimiting units, each starting with a
//! 32-bit start code: pack headers (`00 00 01 BA`, MPEG-1 or MPEG-2 form), system
//! headers (`BB`), an optional program stream map (`BC`), and PES packets, each with a
//! 16-bit length. The demuxer reads one unit at a time with [`Input::get`], so a unit
//! never spans a window and a map and a pipe see the same bytes.
//!
//! PES packets of a stream do not hold whole access units: a DVD pack is 2048 bytes and
//! a picture is many packs. So each stream's PES payloads are appended to that stream's
//! reassembly buffer (the first owned copy of the data, reused, bounded by
//! [`MemoryConfig::max_packet_size`]) and cut into packets there:
//!
//! ```text
//!  input: │pack│PES E0│pack│PES C0│pack│PES E0│ ...
//!                 │            │           │
//!                 ▼            ▼           ▼
//!  video buffer: [seq hdr, GOP, picture, slices ... │ picture ...]  cut before the next
//!                 └────── one packet (access unit) ─┘               picture/sequence/GOP
//!  audio buffer: [frame │ frame │ fra│me ...]                       cut at frame headers
//! ```
//!
//! Video is cut into access units as FFmpeg's MPEG video parser cuts them (a packet is
//! the sequence header, GOP header and picture header before a picture's slices, and a
//! sequence end code after them; the two field pictures of a frame are one packet); MPEG
//! audio and AC-3 into frames. DTS, LPCM and other private-stream-1 audio keep one packet
//! per PES payload; DVD subpicture streams are skipped.

use std::collections::VecDeque;

use crate::ts::frames::{self, Framing};
use crate::ts::pes;
use crate::{DemuxStats, Demuxer, Input};
use transcode_codec::mpeg2v::start_code;
use transcode_core::{BitstreamFormat, CodecId, MemoryConfig, PacketView, Result, StreamInfo, TimeBase, Unwrap33};

/// Pack start code value (the byte after `00 00 01`).
const PACK: u8 = 0xBA;
const STREAM_MAP: u8 = 0xBC;
const PRIVATE_1: u8 = 0xBD;
const END_CODE: u8 = 0xB9;
/// The longest unit: a PES packet with a 16-bit length, and the next start code.
const UNIT_MAX: usize = 6 + 0xFFFF + 3;
/// How far one step of the search for the next start code reads after damage.
const RESYNC_WINDOW: usize = 64 * 1024;
/// How many bytes of the input's head [`PsDemuxer::new`] walks to find the streams.
const PROBE_LEN: usize = 1 << 20;
/// Timestamp marks kept per stream: the PES packets whose payload is still in the
/// reassembly buffer. More (a stream of tiny PES packets) drops the oldest marks, which
/// only costs those packets their timestamps.
const MAX_MARKS: usize = 4096;

/// Whether `head` starts with a program stream: a pack header with valid marker bits,
/// followed (when `head` reaches that far) by another system start code. Strict enough
/// that random data does not match.
pub fn probe(head: &[u8]) -> bool {
    let Some(len) = pack_len(head) else { return false };
    match head.get(len..len + 4) {
        Some(next) => next[..3] == [0, 0, 1] && next[3] >= END_CODE,
        None => head.len() >= 12 && head.len() <= len,
    }
}

/// The length of the pack header at the start of `b` (stuffing included), if it is one
/// whose marker bits are set: 14 bytes plus stuffing for MPEG-2, 12 for MPEG-1.
fn pack_len(b: &[u8]) -> Option<usize> {
    if b.len() < 12 || b[..4] != [0, 0, 1, PACK] {
        return None;
    }
    if b[4] >> 6 == 1 {
        // '01' SCR[32..30] 1 SCR[29..15] 1 SCR[14..0] 1 SCR_ext 1 mux_rate(22) 11 reserved(5) stuffing(3)
        let b = b.get(..14)?;
        let markers = b[4] & 0x04 != 0 && b[6] & 0x04 != 0 && b[8] & 0x04 != 0 && b[9] & 1 != 0 && b[12] & 3 == 3;
        return markers.then_some(14 + (b[13] & 7) as usize);
    }
    // '0010' SCR[32..30] 1 SCR[29..15] 1 SCR[14..0] 1 1 mux_rate(22) 1
    let markers = b[4] >> 4 == 2 && b[4] & 1 != 0 && b[6] & 1 != 0 && b[8] & 1 != 0 && b[9] & 0x80 != 0 && b[11] & 1 != 0;
    markers.then_some(12)
}

/// What a PES stream id (and private-stream-1 substream) carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// MPEG-1/2 video, cut into access units (or, with another codec from the stream
    /// map, one packet per PES).
    Video,
    /// Framed audio (MPEG audio, AC-3), cut into frames.
    Audio,
    /// One packet per PES payload (DTS, LPCM).
    Whole,
}

/// A stream's reassembly state.
#[derive(Debug)]
struct Slot {
    stream: usize,
    kind: Kind,
    framing: Framing,
    /// Bytes of the elementary stream not yet delivered; `buf[0]` is at elementary-stream
    /// offset `base`.
    buf: Vec<u8>,
    base: u64,
    /// The PES packets whose payload is (partly) in `buf`, oldest first.
    marks: VecDeque<Mark>,
    clock: Unwrap33,
    described: bool,
    /// Whether the codec was settled from the data (MPEG-1 or MPEG-2 video, MP2 or MP3).
    settled: bool,
    /// Video: where the scan for start codes goes on, relative to `buf`.
    scan: usize,
    /// Video: whether `buf` starts at an access unit (after damage or an overflow, bytes
    /// up to the next sequence, GOP or picture start code are dropped).
    synced: bool,
    /// Video: the access unit at the head of `buf` has slice data.
    slices: bool,
    /// Video: field pictures in that access unit.
    fields: u8,
    /// Audio: timestamp of the next frame when its PES had none.
    next_ts: Option<i64>,
    /// Whether the input ended inside one of this stream's PES packets.
    cut: bool,
}

/// One PES packet's payload in a reassembly buffer.
#[derive(Debug, Clone, Copy)]
struct Mark {
    /// Elementary-stream offsets of the payload.
    start: u64,
    end: u64,
    /// Unwrapped PTS and DTS, taken by the first packet that starts in this payload.
    pts: Option<i64>,
    dts: Option<i64>,
    /// Input offset of the PES packet.
    pos: u64,
}

/// A packet ready to lend: bytes `[0, len)` of a slot's buffer.
#[derive(Debug, Clone, Copy)]
struct Emit {
    slot: usize,
    len: usize,
    pts: Option<i64>,
    dts: Option<i64>,
    duration: Option<i64>,
    keyframe: bool,
    pos: u64,
}

/// Demuxes MPEG program streams and MPEG-1 system streams.
///
/// # Packets
///
/// MPEG-1/2 video streams (`E0`-`EF`) give one packet per access unit, cut as FFmpeg's
/// parser cuts them so that packets match its packet tables byte for byte; whether a
/// stream is MPEG-1 or MPEG-2 video is decided by the sequence extension after its first
/// sequence header. MPEG audio (`C0`-`DF`) and AC-3 (private stream 1, substreams
/// `80`-`87`) give one packet per frame; DTS (`88`-`8F`) and LPCM (`A0`-`A7`) one packet
/// per PES payload, after the substream header (4 bytes: the id, the frame count and the
/// first access unit pointer), as FFmpeg hands them on; subpictures (`20`-`3F`),
/// padding, private stream 2 (DVD navigation) and other ids are skipped. A program
/// stream map, when present, names the codec of video streams that are not MPEG video
/// (H.264, H.265), which then keep one packet per PES.
///
/// Streams get indexes in the order their first PES appears, as FFmpeg numbers them;
/// [`PsDemuxer::new`] walks the first MiB so that [`Demuxer::streams`] is complete from
/// the start for ordinary files, and later streams are added when they first appear.
///
/// # Memory
///
/// Each stream has one reassembly buffer, reused, holding the bytes of the packet being
/// assembled; a packet borrows it until the next call. A buffer never grows past
/// [`MemoryConfig::max_packet_size`]: an access unit that would is **dropped and
/// counted** in [`DemuxStats::dropped_packets`], and the stream resumes at its next
/// access unit.
///
/// # Timing
///
/// PTS and DTS are 90 kHz values unwrapped from 33 bits per stream with [`Unwrap33`];
/// DTS defaults to PTS. A PES packet's timestamps belong to the first packet that starts
/// in its payload (13818-1, 2.4.3.7); a video packet that starts in a PES without them
/// has none, an audio frame gets the previous frame's PTS plus its duration.
///
/// # Damage
///
/// Nothing in the stream is fatal. Where a unit's start code is missing, a pack header's
/// marker bits are wrong, or a PES packet is not followed by another start code (its
/// length was damaged), the demuxer searches for the next start code of a pack, system
/// header or PES ([`DemuxStats::resyncs`], [`DemuxStats::bytes_skipped`]); each decision
/// reads only the bytes it needs from that position, so it does not depend on how the
/// input is windowed. Zero bytes between units are stuffing, not damage (a VCD's audio
/// sectors end with 20 of them). An audio frame with a bad header is skipped up to the next
/// plausible one. At the end of the input, what is complete is delivered: a video access
/// unit cut off inside a PES packet is not, and [`DemuxStats::truncated`] says so.
#[derive(Debug)]
pub struct PsDemuxer {
    input: Input,
    st: State,
}

/// Everything but the input, so that a unit borrowed from the input can be read while
/// the state changes.
#[derive(Debug)]
struct State {
    pos: u64,
    max_packet: usize,
    eof: bool,
    /// At the end of the input: the next slot to flush.
    flush_next: usize,
    /// Whether sync is lost (one resync is counted per loss).
    syncing: bool,
    streams: Vec<StreamInfo>,
    slots: Vec<Slot>,
    /// PES stream id → `slot + 1`, or 0.
    by_id: [u16; 256],
    /// Private stream 1 substream id → `slot + 1`, or 0.
    by_sub: [u16; 256],
    /// Stream types from the program stream map, by stream id (0: none).
    map_types: [u8; 256],
    /// The slot that last received data and may have packets to cut.
    check: Option<usize>,
    /// The packet lent out by the last call, dropped from its buffer on the next one.
    lent: Option<(usize, usize)>,
    stats: DemuxStats,
    input_len: Option<u64>,
    /// Whether the head walk of `new` is running (no data is kept), and where it stops.
    probing: bool,
    probe_end: u64,
}

/// The outcome of reading one unit.
enum Unit {
    /// The unit at `pos` was consumed (its length).
    Next(usize),
    /// No unit starts at `pos`: search for one.
    Lost,
    /// The input ends at or inside the unit, after this many bytes.
    End(usize),
}

impl PsDemuxer {
    /// A demuxer over `input`. Walks (without delivering) the first MiB of the input, or
    /// [`MemoryConfig::max_packet_size`] if smaller, to find its streams, as far from a
    /// pipe as from a map.
    pub fn new(mut input: Input, config: &MemoryConfig) -> Result<Self> {
        let max_packet = config.max_packet_size.min(usize::MAX as u64) as usize;
        let mut st = State {
            pos: 0,
            max_packet,
            eof: false,
            flush_next: 0,
            syncing: false,
            streams: Vec::new(),
            slots: Vec::new(),
            by_id: [0; 256],
            by_sub: [0; 256],
            map_types: [0; 256],
            check: None,
            lent: None,
            stats: DemuxStats::default(),
            input_len: input.len(),
            probing: true,
            // Nothing is released during the walk, so a pipe must hold all it reads: the
            // walk stops one unit (64 KiB) short of the packet limit, which a pipe can
            // always read ahead. The limit comes from the configuration, not from the
            // input, so that a map and a pipe walk alike.
            probe_end: PROBE_LEN.min(max_packet.saturating_sub(UNIT_MAX)) as u64,
        };
        while st.pos < st.probe_end {
            match st.unit(&mut input)? {
                Unit::Next(n) => st.pos += n as u64,
                Unit::Lost => {
                    if !st.resync(&mut input)? {
                        break;
                    }
                }
                Unit::End(_) => break,
            }
        }
        for slot in &mut st.slots {
            slot.clock = Unwrap33::default();
        }
        st.pos = 0;
        st.syncing = false;
        st.stats = DemuxStats::default();
        st.probing = false;
        Ok(PsDemuxer { input, st })
    }
}

impl State {
    /// Reads the unit at `pos`.
    fn unit(&mut self, input: &mut Input) -> Result<Unit> {
        let head = input.get(self.pos, 16)?;
        if head.is_empty() {
            return Ok(Unit::End(0));
        }
        if head.len() >= 3 && head[..3] == [0, 0, 0] {
            return self.zeros(input);
        }
        if head.len() < 4 || head[..3] != [0, 0, 1] || head[3] < END_CODE {
            return Ok(Unit::Lost);
        }
        let rest = head.len();
        let id = head[3];
        match id {
            END_CODE => Ok(Unit::Next(4)),
            PACK => match pack_len(head) {
                Some(n) => {
                    // The stuffing must be there too.
                    let got = input.get(self.pos, n)?.len();
                    if got < n {
                        self.stats.truncated = true;
                        return Ok(Unit::End(got));
                    }
                    Ok(Unit::Next(n))
                }
                None if head.len() < 12 || (head[4] >> 6 == 1 && head.len() < 14) => {
                    self.stats.truncated = true;
                    Ok(Unit::End(rest))
                }
                None => Ok(Unit::Lost),
            },
            _ => {
                if head.len() < 6 {
                    self.stats.truncated = true;
                    return Ok(Unit::End(rest));
                }
                let total = 6 + u16::from_be_bytes([head[4], head[5]]) as usize;
                // The unit and the start code of the next one: a unit that is not
                // followed by one has a damaged length (or is not a unit at all).
                let pos = self.pos;
                let data = input.get(pos, total + 3)?;
                if data.len() < total {
                    // The input ends inside the unit: a truncated file, unless a pack
                    // header follows in what is left, when the length was damaged.
                    let pack_inside = (4..data.len().saturating_sub(3)).any(|i| pack_len(&data[i..]).is_some());
                    if pack_inside {
                        return Ok(Unit::Lost);
                    }
                    self.stats.truncated = true;
                    if matches!(id, 0xC0..=0xEF | PRIVATE_1) && !self.probing {
                        let data = data.to_vec();
                        self.on_pes(&data, pos, true);
                    }
                    return Ok(Unit::End(data.len()));
                }
                let next = &data[total..];
                if next.len() == 3 && next != [0, 0, 1] && next != [0, 0, 0] {
                    return Ok(Unit::Lost);
                }
                let unit = &data[..total];
                match id {
                    STREAM_MAP => self.on_stream_map(unit),
                    0xC0..=0xEF | PRIVATE_1 => self.on_pes(unit, pos, false),
                    _ => {}
                }
                Ok(Unit::Next(total))
            }
        }
    }

    /// Zero bytes at `pos`: stuffing between units, as a VCD's audio sectors end with 20
    /// of them. They are skipped up to the next start code (not damage); zeros followed
    /// by anything else are.
    fn zeros(&mut self, input: &mut Input) -> Result<Unit> {
        const STEP: usize = 4096;
        let data = input.get(self.pos, STEP)?;
        let z = data.iter().take_while(|&&b| b == 0).count();
        Ok(if z == data.len() {
            if data.len() < STEP {
                // Zeros up to the end of the input.
                Unit::End(z)
            } else {
                // Keep two, which may begin the start code the next read finds.
                Unit::Next(z - 2)
            }
        } else if data[z] == 1 {
            // z >= 3 here: the unit starts at the last two zeros.
            Unit::Next(z - 2)
        } else {
            Unit::Lost
        })
    }

    /// Searches for the next start code of a unit after `pos`; false when the input
    /// ends first. A candidate is decided from its four bytes, read in the same window
    /// (later ones wait for the next window), so where sync is found does not depend on
    /// window sizes; the unit parse that follows checks the rest.
    fn resync(&mut self, input: &mut Input) -> Result<bool> {
        if !self.syncing {
            self.syncing = true;
            self.stats.resyncs += 1;
        }
        let mut from = self.pos + 1;
        loop {
            if self.probing && from >= self.probe_end {
                return Ok(false);
            }
            let buf = input.get(from, RESYNC_WINDOW)?;
            if buf.len() < 4 {
                self.stats.bytes_skipped += from - self.pos + buf.len() as u64;
                self.pos = from + buf.len() as u64;
                return Ok(false);
            }
            let found = buf.windows(4).position(|w| w[..3] == [0, 0, 1] && w[3] >= END_CODE);
            match found {
                Some(i) => {
                    let at = from + i as u64;
                    self.stats.bytes_skipped += at - self.pos;
                    self.pos = at;
                    if !self.probing {
                        input.release(at);
                    }
                    return Ok(true);
                }
                None => {
                    // The last three bytes may start a start code completed next window.
                    from += (buf.len() - 3) as u64;
                    if !self.probing {
                        input.release(from);
                    }
                }
            }
        }
    }

    /// Reads a program stream map: the stream type of each elementary stream id.
    fn on_stream_map(&mut self, unit: &[u8]) {
        // 6 bytes of start code and length, 2 of flags and version, then the program
        // stream info and the elementary stream map, each with a 16-bit length, and a CRC.
        let Some(info_len) = unit.get(8..10).map(|b| u16::from_be_bytes([b[0], b[1]]) as usize) else { return };
        let at = 10 + info_len;
        let Some(map_len) = unit.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]) as usize) else { return };
        let Some(mut map) = unit.get(at + 2..at + 2 + map_len) else { return };
        while map.len() >= 4 {
            let (stream_type, id) = (map[0], map[1]);
            let es_info = u16::from_be_bytes([map[2], map[3]]) as usize;
            self.map_types[id as usize] = stream_type;
            map = map.get(4 + es_info..).unwrap_or_default();
        }
    }

    /// Takes one PES packet of a stream we may want; `cut` when the input ended inside it.
    fn on_pes(&mut self, unit: &[u8], pos: u64, cut: bool) {
        let id = unit[3];
        let Some((pts, dts, payload_start)) = pes_header(unit) else {
            if !cut {
                self.stats.dropped_packets += 1;
            }
            return;
        };
        let mut payload = &unit[payload_start.min(unit.len())..];
        let mut sub = None;
        if id == PRIVATE_1 {
            let Some(&s) = payload.first() else { return };
            if !matches!(s, 0x80..=0x8F | 0xA0..=0xA7) {
                // Subpictures and unknown substreams are not delivered.
                return;
            }
            sub = Some(s);
            payload = payload.get(4..).unwrap_or_default();
        }
        let slot = match self.slot_for(id, sub, payload) {
            Some(s) => s,
            None => return,
        };
        if self.probing {
            return;
        }
        let s = &mut self.slots[slot];
        if cut {
            s.cut = true;
        }
        let (pts, dts) = match (pts, dts) {
            (Some(p), Some(d)) => {
                let d = s.clock.unwrap(d);
                (Some(s.clock.place(p)), Some(d))
            }
            (Some(p), None) => {
                let p = s.clock.unwrap(p);
                (Some(p), Some(p))
            }
            _ => (None, None),
        };
        if payload.is_empty() {
            return;
        }
        if s.kind == Kind::Whole {
            // One packet per PES: the buffer holds exactly this payload.
            if cut {
                return;
            }
            s.buf.clear();
            s.marks.clear();
            s.base = 0;
            s.scan = 0;
        }
        if s.buf.len() > self.max_packet {
            // Complete packets are cut as soon as their end arrives, so the buffer
            // holds one unfinished packet, already larger than a packet may be: drop
            // it and resume at the next one. The buffer is thus bounded by the packet
            // limit plus one PES payload.
            self.stats.dropped_packets += 1;
            s.base += s.buf.len() as u64;
            s.buf.clear();
            s.marks.clear();
            s.scan = 0;
            s.synced = false;
            s.slices = false;
            s.fields = 0;
        }
        let start = s.base + s.buf.len() as u64;
        if s.marks.len() == MAX_MARKS {
            s.marks.pop_front();
        }
        s.marks.push_back(Mark { start, end: start + payload.len() as u64, pts, dts, pos });
        s.buf.extend_from_slice(payload);
        self.check = Some(slot);
    }

    /// The slot of a stream id (and substream), created on first sight; `None` for
    /// streams that are not delivered.
    fn slot_for(&mut self, id: u8, sub: Option<u8>, payload: &[u8]) -> Option<usize> {
        let entry = match sub {
            Some(s) => self.by_sub[s as usize],
            None => self.by_id[id as usize],
        };
        if entry != 0 {
            return Some(entry as usize - 1);
        }
        let (codec, kind, stream_id) = match (id, sub) {
            (_, Some(s @ 0x80..=0x87)) => (CodecId::Ac3, Kind::Audio, s as u32),
            // DTS and DVD LPCM have no codec of their own here: their payloads are
            // copied as data (stream types 0x82 and 0x83 as MPEG-TS would carry them).
            (_, Some(s @ 0x88..=0x8F)) => (CodecId::Unknown(0x82), Kind::Whole, s as u32),
            (_, Some(s)) => (CodecId::Unknown(0x83), Kind::Whole, s as u32),
            (0xC0..=0xDF, None) => {
                let layer = frames::mpeg_audio_frame(payload).map_or(2, |f| f.layer);
                (if layer == 3 { CodecId::Mp3 } else { CodecId::Mp2 }, Kind::Audio, 0x100 | id as u32)
            }
            (_, None) => match self.map_types[id as usize] {
                0x1B => (CodecId::H264, Kind::Whole, 0x100 | id as u32),
                0x24 => (CodecId::H265, Kind::Whole, 0x100 | id as u32),
                0x01 => (CodecId::Mpeg1Video, Kind::Video, 0x100 | id as u32),
                _ => (CodecId::Mpeg2Video, Kind::Video, 0x100 | id as u32),
            },
        };
        let index = self.streams.len();
        let format = match codec {
            CodecId::H264 | CodecId::H265 => BitstreamFormat::AnnexB,
            _ => BitstreamFormat::Raw,
        };
        self.streams.push(StreamInfo::new(index, stream_id, codec, format, TimeBase::MPEG));
        let slot = self.slots.len();
        self.slots.push(Slot {
            stream: index,
            kind,
            framing: Framing::for_codec(codec),
            buf: Vec::new(),
            base: 0,
            marks: VecDeque::new(),
            clock: Unwrap33::default(),
            described: false,
            settled: self.map_types[id as usize] != 0 || kind != Kind::Video,
            scan: 0,
            synced: false,
            slices: false,
            fields: 0,
            next_ts: None,
            cut: false,
        });
        match sub {
            Some(s) => self.by_sub[s as usize] = slot as u16 + 1,
            None => self.by_id[id as usize] = slot as u16 + 1,
        }
        if kind == Kind::Video && self.probing {
            self.settle_video(slot, payload);
        }
        Some(slot)
    }

    /// Decides MPEG-1 or MPEG-2 video from the first sequence header in `data`, if it
    /// has one.
    fn settle_video(&mut self, slot: usize, data: &[u8]) {
        let s = &mut self.slots[slot];
        if !s.settled {
            if let Some(codec) = transcode_codec::mpeg2v::video_codec(data) {
                self.streams[s.stream].codec = codec;
                s.settled = true;
            }
        }
    }

    /// Cuts the next packet out of slot `idx`'s buffer, if one is complete (or, at the
    /// end of the input, whatever is left that can be delivered).
    fn cut(&mut self, idx: usize, flush: bool) -> Option<Emit> {
        loop {
            let e = self.cut_any(idx, flush)?;
            if e.len <= self.max_packet {
                return Some(e);
            }
            // A packet larger than a packet may be is dropped, not delivered.
            self.stats.dropped_packets += 1;
            let s = &mut self.slots[idx];
            s.buf.drain(..e.len);
            s.base += e.len as u64;
        }
    }

    fn cut_any(&mut self, idx: usize, flush: bool) -> Option<Emit> {
        match self.slots[idx].kind {
            Kind::Video => self.cut_video(idx, flush),
            Kind::Audio => self.cut_audio(idx, flush),
            Kind::Whole => {
                let s = &mut self.slots[idx];
                if s.buf.is_empty() || s.scan == usize::MAX {
                    return None;
                }
                s.scan = usize::MAX;
                let m = s.marks.front().copied();
                let info = &mut self.streams[s.stream];
                if !s.described {
                    s.described = transcode_codec::describe(info, &s.buf);
                }
                let keyframe = transcode_codec::is_keyframe(info, &s.buf);
                Some(Emit {
                    slot: idx,
                    len: s.buf.len(),
                    pts: m.and_then(|m| m.pts),
                    dts: m.and_then(|m| m.dts),
                    duration: None,
                    keyframe,
                    pos: m.map_or(0, |m| m.pos),
                })
            }
        }
    }

    /// The timestamps and input position of a packet starting at elementary-stream
    /// offset `at`: those of the PES payload it starts in, if no packet took them yet.
    fn take_mark(s: &mut Slot, at: u64) -> (Option<i64>, Option<i64>, u64) {
        while s.marks.front().is_some_and(|m| m.end <= at) {
            s.marks.pop_front();
        }
        match s.marks.front_mut() {
            Some(m) if m.start <= at => (m.pts.take(), m.dts.take(), m.pos),
            Some(m) => (None, None, m.pos),
            None => (None, None, 0),
        }
    }

    /// Video: finds the end of the access unit at the head of the buffer.
    ///
    /// An access unit ends at the first start code after its slices that is not a
    /// slice, unless it is the picture of the second field of a frame; a sequence end
    /// code belongs to the unit before it.
    fn cut_video(&mut self, idx: usize, flush: bool) -> Option<Emit> {
        let s = &mut self.slots[idx];
        if !s.synced {
            // Drop bytes up to the first sequence header, GOP or picture start code.
            let mut p = s.scan;
            let found = loop {
                let Some(sc) = transcode_codec::nal::find_start_code(&s.buf, p) else { break None };
                match s.buf.get(sc + 3) {
                    Some(&(start_code::SEQUENCE_HEADER | start_code::GOP | start_code::PICTURE)) => break Some(sc),
                    Some(_) => p = sc + 3,
                    None => break None,
                }
            };
            let drop = match found {
                Some(sc) => sc,
                None if flush => s.buf.len(),
                None => s.buf.len().saturating_sub(3),
            };
            if drop > 0 {
                s.buf.drain(..drop);
                s.base += drop as u64;
            }
            s.scan = 0;
            found?;
            s.synced = true;
            s.slices = false;
            s.fields = 0;
        }
        let mut end = None;
        loop {
            let Some(sc) = transcode_codec::nal::find_start_code(&s.buf, s.scan) else {
                s.scan = s.buf.len().saturating_sub(3).max(s.scan);
                break;
            };
            // The start code's value, and for a picture coding extension the
            // picture_structure three bytes on: wait for them.
            let Some(&code) = s.buf.get(sc + 3) else {
                s.scan = sc;
                break;
            };
            if code == start_code::EXTENSION && s.buf.len() < sc + 7 && !flush {
                s.scan = sc;
                break;
            }
            let is_slice = (0x01..=0xAF).contains(&code);
            if is_slice {
                s.slices = true;
            } else if code == start_code::SEQUENCE_END {
                if s.slices {
                    end = Some(sc + 4);
                    break;
                }
            } else if s.slices {
                let second_field = code == start_code::PICTURE && s.fields == 1;
                if !second_field {
                    end = Some(sc);
                    break;
                }
                s.slices = false;
            }
            if code == start_code::EXTENSION && s.buf.get(sc + 4).is_some_and(|b| b >> 4 == 8) {
                let structure = s.buf.get(sc + 6).map_or(3, |b| b & 3);
                if structure != 3 {
                    s.fields += 1;
                }
            }
            s.scan = sc + 4;
        }
        let len = match end {
            Some(e) => e,
            None if flush && !s.buf.is_empty() => {
                if s.cut {
                    // The last access unit was cut off by the end of the input.
                    self.stats.dropped_packets += 1;
                    s.buf.clear();
                    return None;
                }
                s.buf.len()
            }
            None => return None,
        };
        let (pts, dts, pos) = Self::take_mark(s, s.base);
        s.scan = 0;
        s.slices = false;
        s.fields = 0;
        let data = &s.buf[..len];
        if !s.settled {
            // Normally settled by the head walk; a stream found later is settled here.
            if let Some(codec) = transcode_codec::mpeg2v::video_codec(data) {
                self.streams[s.stream].codec = codec;
                s.settled = true;
            }
        }
        let info = &mut self.streams[s.stream];
        if !s.described {
            s.described = transcode_codec::describe(info, data);
        }
        let keyframe = transcode_codec::is_keyframe(info, data);
        Some(Emit { slot: idx, len, pts, dts, duration: None, keyframe, pos })
    }

    /// Audio: the frame at the head of the buffer, once it is complete. Bytes that do
    /// not start a frame are dropped up to the next plausible header.
    fn cut_audio(&mut self, idx: usize, flush: bool) -> Option<Emit> {
        let s = &mut self.slots[idx];
        loop {
            if s.buf.is_empty() {
                return None;
            }
            match frames::audio_frame(s.framing, &s.buf) {
                Some(f) if f.len > 0 && f.len <= s.buf.len() => {
                    let (pts, _, pos) = Self::take_mark(s, s.base);
                    let ts = pts.or(s.next_ts);
                    let duration = f.duration_90k();
                    s.next_ts = ts.map(|t| t + duration);
                    let data = &s.buf[..f.len];
                    let info = &mut self.streams[s.stream];
                    if !s.described {
                        if f.layer == 3 && info.codec == CodecId::Mp2 {
                            info.codec = CodecId::Mp3;
                        }
                        s.described = transcode_codec::describe(info, data);
                    }
                    return Some(Emit { slot: idx, len: f.len, pts: ts, dts: ts, duration: Some(duration), keyframe: true, pos });
                }
                Some(f) if f.len > 0 => {
                    // Wait for the rest of the frame; at the end it is cut off.
                    if flush {
                        self.stats.dropped_packets += 1;
                        self.stats.truncated = true;
                        s.base += s.buf.len() as u64;
                        s.buf.clear();
                    }
                    return None;
                }
                _ if s.buf.len() < 8 && !flush => return None,
                _ => {
                    // Garbage (or a damaged header) before the next frame. A header
                    // must be followed by another (or by the end of the buffer) to be
                    // trusted here, so that a stray sync word in damaged data is not.
                    self.stats.dropped_packets += 1;
                    let mut skip = 1;
                    loop {
                        skip += frames::next_frame_start(s.framing, &s.buf[skip - 1..]).max(1) - 1;
                        if skip >= s.buf.len() {
                            break;
                        }
                        let rest = &s.buf[skip..];
                        match frames::audio_frame(s.framing, rest) {
                            Some(f) if f.len >= rest.len() || frames::audio_frame(s.framing, &rest[f.len..]).is_some() => break,
                            _ => skip += 1,
                        }
                    }
                    let skip = skip.min(s.buf.len());
                    s.buf.drain(..skip);
                    s.base += skip as u64;
                }
            }
        }
    }

    /// The next packet to lend from the data read so far: from the stream that last
    /// received data, or at the end of the input from each stream's buffer in turn.
    fn next_emit(&mut self) -> Option<Emit> {
        if self.eof {
            while self.flush_next < self.slots.len() {
                if let Some(e) = self.cut(self.flush_next, true) {
                    return Some(e);
                }
                self.flush_next += 1;
            }
            return None;
        }
        let idx = self.check?;
        let e = self.cut(idx, false);
        if e.is_none() {
            self.check = None;
        }
        e
    }

    /// Drops the packet lent by the last call from its buffer.
    fn drop_lent(&mut self) {
        if let Some((idx, len)) = self.lent.take() {
            let s = &mut self.slots[idx];
            if s.kind == Kind::Whole {
                s.buf.clear();
                s.marks.clear();
                s.scan = 0;
            } else {
                s.buf.drain(..len);
                s.base += len as u64;
            }
            self.check = Some(idx);
        }
    }
}

/// The PTS, DTS and payload offset of a PES packet of a stream with an optional header,
/// in the MPEG-2 form (`'10'` flags byte) or the MPEG-1 form (stuffing, STD buffer
/// fields, then the timestamps); `None` when the header is malformed.
fn pes_header(unit: &[u8]) -> Option<(Option<u64>, Option<u64>, usize)> {
    if unit.get(6)? >> 6 == 2 {
        let h = pes::parse_header(unit)?;
        return Some((h.pts, h.dts, h.payload_start));
    }
    let mut i = 6;
    // Up to 16 stuffing bytes.
    while unit.get(i) == Some(&0xFF) && i < 6 + 16 {
        i += 1;
    }
    if unit.get(i)? >> 6 == 1 {
        // STD_buffer_scale and STD_buffer_size.
        i += 2;
    }
    let b = *unit.get(i)?;
    let (pts, dts, len) = match b >> 4 {
        2 => (Some(ts(unit.get(i..i + 5)?)), None, 5),
        3 => (Some(ts(unit.get(i..i + 5)?)), Some(ts(unit.get(i + 5..i + 10)?)), 10),
        _ if b == 0x0F => (None, None, 1),
        _ => return None,
    };
    Some((pts, dts, i + len))
}

/// A 33-bit timestamp from its 5-byte field (marker bits not checked).
fn ts(b: &[u8]) -> u64 {
    (((b[0] >> 1) & 7) as u64) << 30 | (b[1] as u64) << 22 | ((b[2] >> 1) as u64) << 15 | (b[3] as u64) << 7 | (b[4] >> 1) as u64
}

impl PsDemuxer {
    /// Reads units until a stream has something to cut, or the input ends.
    fn advance(&mut self) -> Result<bool> {
        let st = &mut self.st;
        if st.eof {
            return Ok(false);
        }
        match st.unit(&mut self.input)? {
            Unit::Next(n) => {
                st.syncing = false;
                st.pos += n as u64;
            }
            Unit::Lost => {
                if !st.resync(&mut self.input)? {
                    st.eof = true;
                }
            }
            Unit::End(n) => {
                st.pos += n as u64;
                st.eof = true;
            }
        }
        self.input.release(st.pos);
        st.stats.bytes_read = st.pos;
        Ok(true)
    }
}

impl Demuxer for PsDemuxer {
    fn streams(&self) -> &[StreamInfo] {
        &self.st.streams
    }

    fn next_packet(&mut self) -> Result<Option<PacketView<'_>>> {
        self.st.drop_lent();
        let e = loop {
            if let Some(e) = self.st.next_emit() {
                break e;
            }
            if self.st.eof {
                self.st.stats.bytes_read = self.st.pos;
                return Ok(None);
            }
            self.advance()?;
        };
        self.st.lent = Some((e.slot, e.len));
        let s = &self.st.slots[e.slot];
        Ok(Some(PacketView {
            stream: s.stream,
            data: &s.buf[..e.len],
            pts: e.pts,
            dts: e.dts,
            duration: e.duration,
            keyframe: e.keyframe,
            pos: Some(e.pos),
        }))
    }

    fn stats(&self) -> DemuxStats {
        self.st.stats.clone()
    }

    fn format_name(&self) -> &'static str {
        "mpeg"
    }

    fn input_len(&self) -> Option<u64> {
        self.st.input_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An MPEG-2 pack header with SCR 0 and `stuffing` bytes.
    fn pack2(stuffing: u8) -> Vec<u8> {
        let mut p = vec![0, 0, 1, PACK, 0x44, 0, 0x04, 0, 0x04, 0x01, 0x01, 0x89, 0xC3, 0xF8 | stuffing];
        p.extend(std::iter::repeat_n(0xFF, stuffing as usize));
        p
    }

    /// A PES packet in the MPEG-2 form with a PTS.
    fn pes2(id: u8, pts: u64, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0, 0, 1, id, 0, 0, 0x81, 0x80, 5];
        p.extend([
            0x21 | (((pts >> 30) as u8 & 7) << 1),
            (pts >> 22) as u8,
            ((pts >> 14) as u8) | 1,
            (pts >> 7) as u8,
            ((pts << 1) as u8) | 1,
        ]);
        p.extend_from_slice(payload);
        let len = (p.len() - 6) as u16;
        p[4..6].copy_from_slice(&len.to_be_bytes());
        p
    }

    /// Stream, payload and PTS of each packet.
    type Rows = Vec<(usize, Vec<u8>, Option<i64>)>;

    fn demux(bytes: Vec<u8>) -> (Rows, PsDemuxer) {
        let mut d = PsDemuxer::new(Input::from_bytes(bytes, "mem"), &MemoryConfig::default()).unwrap();
        let mut out = Vec::new();
        while let Some(p) = d.next_packet().unwrap() {
            out.push((p.stream, p.data.to_vec(), p.pts));
        }
        (out, d)
    }

    #[test]
    fn pack_headers_of_both_forms() {
        assert_eq!(pack_len(&pack2(0)), Some(14));
        assert_eq!(pack_len(&pack2(3)), Some(17));
        // MPEG-1: '0010', markers, mux rate with its markers.
        let m1 = [0, 0, 1, PACK, 0x21, 0, 0x01, 0, 0x01, 0x80, 0x01, 0x01];
        assert_eq!(pack_len(&m1), Some(12));
        let mut bad = m1;
        bad[9] = 0;
        assert_eq!(pack_len(&bad), None);
        let mut with_next = pack2(0);
        with_next.extend([0, 0, 1, 0xBB]);
        assert!(probe(&with_next));
        with_next[14 + 3] = 0xB3;
        assert!(!probe(&with_next), "a video start code cannot follow a pack header");
    }

    #[test]
    fn mpeg1_pes_header_with_stuffing_and_std_fields() {
        // Two stuffing bytes, STD buffer fields, PTS 90000.
        let pts = 90_000u64;
        let mut p = vec![0, 0, 1, 0xC0, 0, 0, 0xFF, 0xFF, 0x40, 0x20];
        p.extend([
            0x21 | (((pts >> 30) as u8 & 7) << 1),
            (pts >> 22) as u8,
            ((pts >> 14) as u8) | 1,
            (pts >> 7) as u8,
            ((pts << 1) as u8) | 1,
        ]);
        p.extend([1, 2, 3]);
        assert_eq!(pes_header(&p), Some((Some(90_000), None, 15)));
        // No timestamps: 0x0F.
        let q = [0, 0, 1, 0xC0, 0, 4, 0x0F, 1, 2, 3];
        assert_eq!(pes_header(&q), Some((None, None, 7)));
        assert_eq!(pes_header(&[0, 0, 1, 0xC0, 0, 1, 0x50]), None);
    }

    #[test]
    fn dvd_substreams_lpcm_and_dts_are_whole_payloads_and_subpictures_skipped() {
        let mut b = pack2(0);
        // LPCM (A0): id, frame count, first access unit pointer, then the LPCM header
        // and samples, which stay in the packet as FFmpeg hands them on.
        b.extend(pes2(PRIVATE_1, 1000, &[0xA0, 1, 0, 4, 0x01, 0x80, 0x11, 9, 9, 9, 9]));
        b.extend(pack2(0));
        b.extend(pes2(PRIVATE_1, 1100, &[0x20, 0, 0, 0, 0, 0, 0, 0]));
        b.extend(pes2(PRIVATE_1, 1200, &[0x88, 1, 0, 1, 0x7F, 0xFE, 0x80, 0x01]));
        b.extend(pes2(PRIVATE_1, 2000, &[0xA0, 1, 0, 4, 0x01, 0x80, 0x11, 8, 8]));
        b.extend([0, 0, 1, END_CODE]);
        let (pkts, d) = demux(b);
        let s = d.streams();
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!((s[0].id, s[0].codec), (0xA0, CodecId::Unknown(0x83)));
        assert_eq!((s[1].id, s[1].codec), (0x88, CodecId::Unknown(0x82)));
        assert_eq!(pkts[0], (0, vec![0x01, 0x80, 0x11, 9, 9, 9, 9], Some(1000)));
        assert_eq!(pkts[1], (1, vec![0x7F, 0xFE, 0x80, 0x01], Some(1200)));
        assert_eq!(pkts[2], (0, vec![0x01, 0x80, 0x11, 8, 8], Some(2000)));
        assert_eq!(pkts.len(), 3);
        assert_eq!(d.stats(), DemuxStats { bytes_read: d.stats().bytes_read, ..Default::default() });
    }

    #[test]
    fn zero_stuffing_between_units_is_not_damage() {
        // VCD audio sectors end with 20 zero bytes (FFmpeg's -f vcd writes them).
        let mut b = pack2(0);
        b.extend(pes2(PRIVATE_1, 1000, &[0x88, 1, 0, 1, 1, 2, 3]));
        b.extend([0; 20]);
        b.extend(pack2(0));
        b.extend(pes2(PRIVATE_1, 2000, &[0x88, 1, 0, 1, 4, 5]));
        b.extend([0; 5]);
        let len = b.len() as u64;
        let (pkts, d) = demux(b);
        assert_eq!(pkts, vec![(0, vec![1, 2, 3], Some(1000)), (0, vec![4, 5], Some(2000))]);
        assert_eq!(d.stats(), DemuxStats { bytes_read: len, ..Default::default() });
        // Zeros followed by something that is not a start code are damage.
        let mut b = pack2(0);
        b.extend([0, 0, 0, 0, 7, 7]);
        b.extend(pack2(0));
        b.extend(pes2(PRIVATE_1, 3000, &[0x88, 1, 0, 1, 9]));
        let (pkts, d) = demux(b);
        assert_eq!(pkts, vec![(0, vec![9], Some(3000))]);
        assert_eq!((d.stats().resyncs, d.stats().bytes_skipped), (1, 6));
    }

    #[test]
    fn stream_map_names_h264_video() {
        let mut b = pack2(0);
        // PSM: flags/version, no program stream info, one entry (type 0x1B, id E0), CRC.
        let map = [0x1B, 0xE0, 0, 0];
        let mut psm = vec![0, 0, 1, STREAM_MAP, 0, 0, 0x80, 0x01, 0, 0, 0, map.len() as u8];
        psm.extend(map);
        psm.extend([0, 0, 0, 0]);
        let len = (psm.len() - 6) as u16;
        psm[4..6].copy_from_slice(&len.to_be_bytes());
        b.extend(psm);
        b.extend(pes2(0xE0, 3600, &[0, 0, 0, 1, 0x09, 0xF0]));
        let (pkts, d) = demux(b);
        assert_eq!(d.streams()[0].codec, CodecId::H264);
        assert_eq!(d.streams()[0].format, BitstreamFormat::AnnexB);
        assert_eq!(pkts, vec![(0, vec![0, 0, 0, 1, 0x09, 0xF0], Some(3600))]);
    }

    #[test]
    fn field_pictures_of_a_frame_are_one_packet() {
        // Sequence header + extension, then two field pictures (top, bottom), then a
        // frame picture: two access units.
        let pic = |structure: u8| -> Vec<u8> {
            let mut v = vec![0, 0, 1, 0x00, 0, 0x0F, 0xFF, 0xF8];
            v.extend([0, 0, 1, 0xB5, 0x8F, 0xFF, 0xF0 | structure, 0x80]);
            v.extend([0, 0, 1, 0x01, 0x12, 0x34]);
            v
        };
        let mut es = vec![0, 0, 1, 0xB3, 0x0B, 0x00, 0x90, 0x13, 0xFF, 0xFF, 0xE0, 0x18];
        es.extend([0, 0, 1, 0xB5, 0x14, 0x8A, 0, 0x01, 0, 0]);
        es.extend(pic(1));
        es.extend(pic(2));
        let first_len = es.len();
        es.extend(pic(3));
        es.extend([0, 0, 1, 0xB7]);
        let mut b = pack2(0);
        b.extend(pes2(0xE0, 3600, &es[..20]));
        b.extend(pes2(0xE0, 7200, &es[20..]));
        let (pkts, d) = demux(b);
        assert_eq!(d.streams()[0].codec, CodecId::Mpeg2Video);
        assert_eq!(pkts.len(), 2);
        assert_eq!(pkts[0], (0, es[..first_len].to_vec(), Some(3600)));
        // The second access unit starts in the second PES, after its first byte: the
        // PES's PTS was not taken, so it is this unit's.
        assert_eq!(pkts[1], (0, es[first_len..].to_vec(), Some(7200)));
    }
}
