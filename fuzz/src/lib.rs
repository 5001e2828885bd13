//! Shared harness of the fuzz targets: bounded demuxing with invariant checks and a heap cap.
//!
//! Every target feeds the fuzzer's bytes to one part of transcode and, besides "no panic",
//! checks what must hold for *any* input, valid or damaged:
//!
//! - no run allocates more heap than its [`MemoryConfig::max_memory`] budget (the process
//!   allocator is a [`cap::Cap`]: an allocation past the budget aborts the run, which
//!   libFuzzer reports as a crash with the requested size);
//! - every packet names a stream the demuxer has announced, `streams()` only grows, and no
//!   packet is larger than [`MemoryConfig::max_packet_size`];
//! - a packet's `pos` lies inside the input, and a packet that borrows the input (MP4
//!   samples, elementary-stream frames) lies entirely inside it at that `pos`;
//! - demuxers that make timestamps up (elementary streams) give strictly increasing
//!   `pts == dts`;
//! - the same bytes read through a pipe (short, uneven reads through the bounded read
//!   buffer) give the same packets as through a map, as far as both get;
//! - error messages follow the house style (they start lowercase);
//! - demuxing stops after [`MAX_PACKETS`] packets, so a run is bounded even for inputs
//!   that describe millions of samples; a demuxer that loops without producing anything
//!   is caught by libFuzzer's `-timeout`.

#![forbid(unsafe_code)]

use std::alloc::System;
use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::io::Read;

use bytes::Bytes;
use cap::Cap;
use transcode_core::{Error, MemoryConfig, PacketView, StreamInfo};
use transcode_demux_bridge::{open_demuxer, open_demuxer_as, Demuxer, Format, Input};

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

/// Packets read per run at most; enough to cover every fixture prefix the corpus holds.
pub const MAX_PACKETS: usize = 100_000;

/// The memory configuration of every run: a 64 MiB job, so that the derived bounds
/// (packet size, in-flight bytes) are smaller than the defaults and limits are reached
/// by small inputs.
pub fn config() -> MemoryConfig {
    MemoryConfig::with_max_memory(64 << 20)
}

/// Runs `f` with at most `budget` bytes of heap beyond what the process holds now.
///
/// The fuzzer's input copy and anything allocated before the call do not count.
pub fn with_heap_budget<R>(budget: u64, f: impl FnOnce() -> R) -> R {
    lift_cap_on_panic();
    let base = ALLOC.allocated();
    let _ = ALLOC.set_limit(base.saturating_add(budget as usize));
    let r = f();
    let _ = ALLOC.set_limit(usize::MAX);
    r
}

/// Lifts the heap cap before a panic is reported. Printing the backtrace allocates
/// (symbolizing reads the debug info, megabytes of it); under the cap that allocation
/// fails inside the backtrace lock, and the run hangs instead of reporting the panic.
fn lift_cap_on_panic() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let next = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = ALLOC.set_limit(usize::MAX);
            next(info);
        }));
    });
}

/// What the packets of a format are expected to look like.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expect {
    /// Packets are slices of the input (MP4 samples, elementary-stream frames) when the
    /// input is mapped.
    pub borrows_input: bool,
    /// The demuxer numbers packets itself: `dts` and `pts` are always given, `dts`
    /// strictly increases per stream and `pts >= dts`, whatever the input.
    pub generated_timestamps: bool,
    /// And `pts == dts` (audio and raw video; not Annex-B video, whose `pts` follows the
    /// picture order count).
    pub pts_is_dts: bool,
}

/// The outcome of draining a demuxer.
#[derive(Debug)]
pub struct Drained {
    pub packets: usize,
    /// Empty packets among them (not checked, not hashed).
    pub empty: usize,
    /// Hashes of (stream, pts, dts, duration, keyframe, data) of each packet, in order.
    pub digests: Vec<u64>,
    pub error: Option<Error>,
}

/// Reads every packet of `demux` (at most [`MAX_PACKETS`]) and checks the invariants.
///
/// `input` is the whole input; `mapped` says whether the demuxer reads it through a map
/// (packets may then borrow it).
/// `on_packet` sees every packet (targets run codec parsers over them).
pub fn drain(
    demux: &mut dyn Demuxer,
    input: &[u8],
    mapped: bool,
    expect: Expect,
    cfg: &MemoryConfig,
    on_packet: &mut dyn FnMut(&[StreamInfo], &PacketView<'_>),
) -> Drained {
    let mut out = Drained { packets: 0, empty: 0, digests: Vec::new(), error: None };
    let mut last_dts: Vec<Option<i64>> = Vec::new();
    let mut n_streams = demux.streams().len();
    let base = input.as_ptr() as usize;
    let end = base + input.len();
    let mut scratch: Vec<u8> = Vec::new();
    while out.packets < MAX_PACKETS {
        let p = match demux.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                check_error(&e);
                out.error = Some(e);
                break;
            }
        };
        out.packets += 1;
        // The view borrows the demuxer; copy what the checks need so that `streams()` can
        // be asked afterwards. Only the harness copies: the demuxer's zero-copy promise is
        // checked on the view's own pointer below.
        let (stream, pts, dts, duration, keyframe, pos) = (p.stream, p.pts, p.dts, p.duration, p.keyframe, p.pos);
        let (start, len) = (p.data.as_ptr() as usize, p.data.len());
        scratch.clear();
        scratch.extend_from_slice(p.data);
        let data = &scratch[..];
        assert!(
            len as u64 <= cfg.max_packet_size,
            "packet of {len} bytes exceeds max_packet_size {}",
            cfg.max_packet_size
        );
        if len == 0 {
            // An empty packet (an MP4 sample of size 0) carries nothing to compare between
            // map and pipe: a pipe cannot tell that one at the very end of the input is
            // inside it. It must still be positioned inside the input.
            if let Some(pos) = pos {
                assert!(pos <= input.len() as u64, "empty packet at pos {pos} past the {}-byte input", input.len());
            }
            out.empty += 1;
            continue;
        }
        if let Some(pos) = pos {
            assert!(
                pos.checked_add(len as u64).is_some_and(|e| e <= input.len() as u64),
                "packet of {len} bytes at pos {pos} runs past the end of the {}-byte input",
                input.len()
            );
        }
        if mapped && expect.borrows_input {
            assert!(
                start >= base && start + len <= end,
                "packet of {len} bytes does not borrow the input (expected a zero-copy slice)"
            );
            if let Some(pos) = pos {
                assert_eq!((start - base) as u64, pos, "packet pos does not match where its bytes are");
            }
        }
        let streams = demux.streams();
        let streams_len = streams.len();
        assert!(streams_len >= n_streams, "streams() shrank from {n_streams} to {streams_len}");
        n_streams = streams_len;
        assert!(stream < streams_len, "packet of stream {stream} but only {streams_len} streams announced");
        let view = PacketView { stream, data, pts, dts, duration, keyframe, pos };
        on_packet(streams, &view);
        let mut h = DefaultHasher::new();
        h.write_usize(stream);
        h.write(data);
        h.write_i64(pts.unwrap_or(i64::MIN));
        h.write_i64(dts.unwrap_or(i64::MIN));
        h.write_i64(duration.unwrap_or(i64::MIN));
        h.write_u8(keyframe as u8);
        out.digests.push(h.finish());
        if expect.generated_timestamps {
            let dts = dts.expect("an elementary-stream packet without dts");
            assert!(pts.is_some(), "an elementary-stream packet without pts");
            if expect.pts_is_dts {
                assert_eq!(pts, Some(dts), "elementary-stream packet with pts {pts:?} and dts {dts}");
            }
            assert!(pts.unwrap() >= dts, "elementary-stream packet with pts {pts:?} before dts {dts}");
            if last_dts.len() <= stream {
                last_dts.resize(stream + 1, None);
            }
            if let Some(prev) = last_dts[stream] {
                assert!(dts > prev, "dts went from {prev} to {dts} in stream {stream}");
            }
            last_dts[stream] = Some(dts);
        }
    }
    let _ = demux.stats();
    for s in demux.streams() {
        let _ = s.media_type();
    }
    out
}

/// Checks that an error reads the way the house style says: starting lowercase. (A
/// trailing period cannot be checked: messages may end by quoting the input.)
pub fn check_error(e: &Error) {
    let text = match e {
        Error::InvalidData { reason, .. } => reason.as_str(),
        Error::Unsupported(reason) => reason.as_str(),
        _ => return,
    };
    assert!(!text.is_empty(), "empty error message");
    let mut chars = text.chars();
    let (first, second) = (chars.next().unwrap(), chars.next().unwrap_or(' '));
    // Acronyms and names (MP4 box types, "PES") may start a message; a capitalised word may not.
    assert!(!(first.is_ascii_uppercase() && second.is_ascii_lowercase()), "error message is not lowercase: {text:?}");
}

/// A reader that hands out the input in short, uneven pieces, like a pipe under load.
#[derive(Debug)]
pub struct ChoppyReader {
    data: Bytes,
    pos: usize,
    step: usize,
}

impl ChoppyReader {
    pub fn new(data: Bytes) -> Self {
        ChoppyReader { data, pos: 0, step: 0 }
    }
}

impl Read for ChoppyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // Pieces of 1, 1000, 4093, 7 and 65536 bytes in turn.
        const SIZES: [usize; 5] = [1, 1000, 4093, 7, 65536];
        let n = SIZES[self.step % SIZES.len()].min(buf.len()).min(self.data.len() - self.pos);
        self.step += 1;
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// How a demuxer is given its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A map of the whole input (`Input::from_bytes`), as for a regular file.
    Mapped,
    /// A pipe delivering short reads through the bounded read buffer.
    Pipe,
}

/// The configuration for pipe inputs: a small read buffer so that short fuzz inputs
/// still cross many buffer refills.
pub fn pipe_config(cfg: &MemoryConfig) -> MemoryConfig {
    MemoryConfig { read_buffer_size: 4096, ..cfg.clone() }
}

/// Opens `data` as `format` (or detects it when `None`) from `source`, and drains it.
/// `None` when the demuxer cannot be opened (the error is checked for style).
pub fn run_demuxer(
    data: &Bytes,
    format: Option<Format>,
    source: Source,
    expect: Expect,
    cfg: &MemoryConfig,
    on_packet: &mut dyn FnMut(&[StreamInfo], &PacketView<'_>),
) -> Option<Drained> {
    let input = match source {
        Source::Mapped => Input::from_bytes(data.clone(), "fuzz"),
        Source::Pipe => Input::from_reader(Box::new(ChoppyReader::new(data.clone())), "fuzz-pipe", &pipe_config(cfg)),
    };
    let opened = match format {
        Some(f) => open_demuxer_as(input, f, cfg),
        None => open_demuxer(input, cfg),
    };
    match opened {
        Ok(mut d) => Some(drain(d.as_mut(), data, source == Source::Mapped, expect, cfg, on_packet)),
        Err(e) => {
            check_error(&e);
            None
        }
    }
}

/// Checks that a pipe delivered the same packets as the map, as far as both got: a pipe
/// may stop early (it cannot go back), but what it delivers must not differ.
pub fn check_same_packets(mapped: &Drained, piped: &Drained) {
    let n = mapped.digests.len().min(piped.digests.len());
    if let Some(i) = (0..n).find(|&i| mapped.digests[i] != piped.digests[i]) {
        panic!("packet {i} differs between the mapped input and the pipe");
    }
    if mapped.error.is_none() && piped.error.is_none() {
        assert_eq!(
            mapped.digests.len(),
            piped.digests.len(),
            "the map and the pipe gave different packet counts, both without error"
        );
    }
}

/// Demuxes `data` as `format` from a map and from a pipe, checks both, and compares them.
pub fn fuzz_format(
    data: &[u8],
    format: Format,
    expect: Expect,
    on_packet: &mut dyn FnMut(&[StreamInfo], &PacketView<'_>),
) {
    let cfg = config();
    with_heap_budget(cfg.max_memory, || {
        let data = Bytes::copy_from_slice(data);
        let mapped = run_demuxer(&data, Some(format), Source::Mapped, expect, &cfg, on_packet);
        let piped = run_demuxer(&data, Some(format), Source::Pipe, expect, &cfg, &mut |_, _| {});
        if let (Some(m), Some(p)) = (&mapped, &piped) {
            check_same_packets(m, p);
        }
    });
}
