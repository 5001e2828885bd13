//! Fuzz target: the H.264 decoder on damaged streams (corrupted slices never panic).
//!
//! Random bytes mostly die in the NAL header or SPS parser, so most runs start from a
//! real stream and let the fuzzer's bytes choose what to damage:
//!
//! - **Mutation mode** (first byte not 0): the first byte picks one of the fixtures
//!   compiled in below, the second how the stream is fed (one NAL unit per call,
//!   access units, groups of units, or splits at arbitrary bytes) and how many decoded
//!   pictures the caller keeps, the third how many of the fixture's slice units are
//!   used (1 to [`MAX_SLICES`], with the units before them).
//!   Every following 5 bytes are one edit of the unit list: flip a bit, overwrite or
//!   zero bytes, or truncate a *slice* payload; drop, duplicate, swap or insert units;
//!   flip a bit of a *parameter set* (rarer); or splice in the start of another
//!   fixture (a change of resolution mid-stream).
//! - **Raw mode** (first byte 0, as an Annex-B stream starts): the input is the stream
//!   itself, for the SPS, PPS and slice header parsers; the seeds are the fixtures.
//!
//! The stream goes to [`Decoder::send`] chunk by chunk (the decoder takes whole NAL
//! units; a chunk that ends inside a unit hands it over truncated and the next chunk's
//! bytes up to its first start code are skipped, which is just more damage), answering
//! [`DecodeStatus::NeedsOutput`] by taking frames and dropping kept pictures, then
//! [`Decoder::flush`]. Beyond "no panic" it checks:
//!
//! - the heap of a run (decoder and all) stays within the decoder's
//!   [`MemoryConfig::max_memory`] of [`BUDGET`] (the harness's counting allocator aborts
//!   the run otherwise), and [`Decoder::memory_bytes`] within it after every call; 8 MiB
//!   holds any stream of the fixtures' sizes (up to 352x288 with a 16-frame DPB, about
//!   3 MB) but not a 1080p one, so a damaged SPS that asks for large pictures must fail
//!   with a limit error, not allocate;
//! - every frame has the cropped size of an SPS sent so far (as `transcode_codec`'s own
//!   SPS parser reads it), its planes hold `width x height` samples at their strides, and
//!   the pooled frame is at least that large;
//! - frames out never exceed the slice units sent (each picture needs one);
//! - `NeedsOutput` points at a start code inside the data, and answering it (taking
//!   every frame, dropping every kept picture) lets decoding go on: a decoder that asks
//!   again without consuming anything is stuck;
//! - after `flush` and taking every frame nothing is pending, and a second `flush`
//!   releases nothing;
//! - error messages start lowercase.
//!
//! A run decodes at most [`MAX_SLICES`] slice units and [`MAX_UNITS`] units in all, so
//! that one run takes a few milliseconds.
#![no_main]

use std::collections::VecDeque;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use transcode_codec::h264::parse_sps;
use transcode_core::MemoryConfig;
use transcode_fuzz::{check_error, with_heap_budget};
use transcode_h264::{nal_units, DecodeStatus, DecodedPicture, Decoder, Frame};

/// The decoder's memory budget and the run's heap cap.
const BUDGET: u64 = 8 << 20;

/// Slice units decoded per run at most (a few pictures of every fixture).
const MAX_SLICES: usize = 12;

/// Units of any kind per run at most.
const MAX_UNITS: usize = 96;

/// Edits per run at most.
const MAX_EDITS: usize = 64;

/// Units of another fixture a splice inserts at most (parameter sets, SEI and the first
/// pictures).
const SPLICE_UNITS: usize = 8;

/// Bytes of the edited stream at most (splices and duplicates make it grow).
const MAX_STREAM: usize = 256 << 10;

/// The streams mutation mode starts from: the decodable fixtures of `testdata/h264`
/// (176x144, 100x60 cropped), the 320x180 elementary stream, and interlaced streams:
/// field pictures (PAFF) and MBAFF, 176x144 and 352x288.
const FIXTURES: &[&[u8]] = &[
    include_bytes!("../../testdata/h264/a_intra_cavlc_nodeblock.h264"),
    include_bytes!("../../testdata/h264/b_intra_cavlc_deblock.h264"),
    include_bytes!("../../testdata/h264/c_baseline_p.h264"),
    include_bytes!("../../testdata/h264/d_main_cabac_p.h264"),
    include_bytes!("../../testdata/h264/e_main_bframes.h264"),
    include_bytes!("../../testdata/h264/f_high_8x8.h264"),
    include_bytes!("../../testdata/h264/g_weighted.h264"),
    include_bytes!("../../testdata/h264/h_bpyramid.h264"),
    include_bytes!("../../testdata/h264/i_multiref.h264"),
    include_bytes!("../../testdata/h264/j_slices.h264"),
    include_bytes!("../../testdata/h264/k_cqm_jvt.h264"),
    include_bytes!("../../testdata/h264/l_deblock_offsets.h264"),
    include_bytes!("../../testdata/h264/m_crop_100x60.h264"),
    include_bytes!("../../testdata/h264/n_temporal_direct.h264"),
    include_bytes!("../../testdata/h264/o_mandelbrot_high.h264"),
    include_bytes!("../../testdata/h264/q_high_cavlc_8x8.h264"),
    include_bytes!("../../testdata/h264/r_constrained_intra.h264"),
    include_bytes!("../../testdata/h264/s_qcif_long.h264"),
    include_bytes!("../../testdata/es/h264.h264"),
    // Field pictures (PAFF), 352x288: CAVLC field pairs, and CABAC frames and fields.
    include_bytes!("../../testdata/h264-interlaced/freh6.264"),
    include_bytes!("../../testdata/h264-interlaced/HCAFF1_HHI.264"),
    // Macroblock-adaptive frame/field (MBAFF): x264's 176x144 CABAC I/P stream, the
    // 352x288 conformance streams (CABAC; CAVLC with 8x8 transforms; MBAFF and PAFF mixed)
    // and x264's CAVLC temporal-direct and four-slice ones. They come after the PAFF
    // streams so that the seeds' fixture bytes keep their meaning.
    include_bytes!("../../testdata/h264/p_interlaced.h264"),
    include_bytes!("../../testdata/h264-interlaced/HCAMFF1_HHI.264"),
    include_bytes!("../../testdata/h264-interlaced/FREXT02_JVC_C.264"),
    include_bytes!("../../testdata/h264-interlaced/FRExt4_Panasonic.264"),
    include_bytes!("../../testdata/h264-interlaced/x264_288i_tff_temporal_cavlc.264"),
    include_bytes!("../../testdata/h264-interlaced/x264_288i_bff_slices.264"),
];

/// The NAL units of each fixture, split once.
fn fixture_units() -> &'static [Vec<&'static [u8]>] {
    static UNITS: OnceLock<Vec<Vec<&'static [u8]>>> = OnceLock::new();
    UNITS.get_or_init(|| FIXTURES.iter().map(|f| nal_units(f).collect()).collect())
}

fn nal_type(unit: &[u8]) -> u8 {
    unit.first().map_or(0, |h| h & 0x1f)
}

fn is_slice(unit: &[u8]) -> bool {
    matches!(nal_type(unit), 1 | 5)
}

fn is_param_set(unit: &[u8]) -> bool {
    matches!(nal_type(unit), 7 | 8)
}

/// How the stream is cut into [`Decoder::send`] calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    /// One NAL unit per call.
    Units,
    /// One access unit per call (split before parameter sets, SEI, AUD and slices with
    /// `first_mb_in_slice` 0 that follow a slice).
    AccessUnits,
    /// Groups of 1, 2, 3, 5, 8 units in turn.
    Groups,
    /// Byte counts of 4093, 7, 1000, 1, 300 and 65536 in turn, whatever the units.
    Bytes,
}

impl Feed {
    fn from_bits(b: u8) -> Feed {
        match b & 3 {
            0 => Feed::Units,
            1 => Feed::AccessUnits,
            2 => Feed::Groups,
            _ => Feed::Bytes,
        }
    }
}

/// A run's plan: the stream as a list of units, how to feed it, and how many decoded
/// pictures the caller keeps (0: frames are only borrowed with `next_frame`).
struct Plan {
    units: Vec<Vec<u8>>,
    feed: Feed,
    keep: usize,
}

/// The index of the `sel`-th (modulo their number) unit that satisfies `pred`.
fn pick(units: &[Vec<u8>], pred: impl Fn(&[u8]) -> bool, sel: u8) -> Option<usize> {
    let n = units.iter().filter(|u| pred(u)).count();
    if n == 0 {
        return None;
    }
    units.iter().enumerate().filter(|(_, u)| pred(u)).nth(sel as usize % n).map(|(i, _)| i)
}

/// Applies one 5-byte edit `[kind, sel, a, b, v]` to the unit list.
fn edit(units: &mut Vec<Vec<u8>>, op: &[u8]) {
    let [kind, sel, a, b, v] = [op[0], op[1], op[2], op[3], op[4]];
    let word = u16::from_be_bytes([a, b]) as usize;
    let total = units.iter().map(Vec::len).sum::<usize>();
    match kind % 13 {
        // Flip one bit of a slice payload (the unit header byte stays).
        0..=2 => {
            if let Some(i) = pick(units, is_slice, sel) {
                let u = &mut units[i];
                if u.len() > 1 {
                    let bit = (word << 3 | v as usize & 7) % ((u.len() - 1) * 8);
                    u[1 + bit / 8] ^= 0x80 >> (bit % 8);
                }
            }
        }
        // Overwrite a slice byte.
        3 => {
            if let Some(i) = pick(units, is_slice, sel) {
                let u = &mut units[i];
                if u.len() > 1 {
                    let at = 1 + word % (u.len() - 1);
                    u[at] = v;
                }
            }
        }
        // Zero up to 64 bytes of a slice (lost data; zeros may also make start codes).
        4 => {
            if let Some(i) = pick(units, is_slice, sel) {
                let u = &mut units[i];
                if u.len() > 1 {
                    let at = 1 + word % (u.len() - 1);
                    let end = (at + 1 + (v as usize & 63)).min(u.len());
                    u[at..end].fill(0);
                }
            }
        }
        // Truncate a slice.
        5 => {
            if let Some(i) = pick(units, is_slice, sel) {
                let u = &mut units[i];
                let keep = 1 + word % u.len();
                u.truncate(keep);
            }
        }
        // Drop a unit of any kind.
        6 => {
            if !units.is_empty() {
                let i = sel as usize % units.len();
                units.remove(i);
            }
        }
        // Duplicate a unit at another place.
        7 => {
            if !units.is_empty() && units.len() < MAX_UNITS && total < MAX_STREAM {
                let i = sel as usize % units.len();
                let to = v as usize % (units.len() + 1);
                let copy = units[i].clone();
                units.insert(to, copy);
            }
        }
        // Swap two units (reordering).
        8 => {
            if !units.is_empty() {
                let n = units.len();
                units.swap(sel as usize % n, v as usize % n);
            }
        }
        // Insert a short unit: any header (AUD, SEI, end of sequence or stream, filler,
        // a slice or parameter set of three bytes).
        9 => {
            if units.len() < MAX_UNITS {
                let to = sel as usize % (units.len() + 1);
                units.insert(to, vec![v & 0x7f, a, b]);
            }
        }
        // Flip one bit of a parameter set.
        10 => {
            if let Some(i) = pick(units, is_param_set, sel) {
                let u = &mut units[i];
                if u.len() > 1 {
                    let bit = (word << 3 | v as usize & 7) % ((u.len() - 1) * 8);
                    u[1 + bit / 8] ^= 0x80 >> (bit % 8);
                }
            }
        }
        // Xor a slice byte run with a pattern (burst errors).
        11 => {
            if let Some(i) = pick(units, is_slice, sel) {
                let u = &mut units[i];
                if u.len() > 1 {
                    let at = 1 + word % (u.len() - 1);
                    let end = (at + 8).min(u.len());
                    for (k, byte) in u[at..end].iter_mut().enumerate() {
                        *byte ^= v.rotate_left(k as u32);
                    }
                }
            }
        }
        // Splice in the start of another fixture: its parameter sets and first pictures,
        // possibly of another size.
        _ => {
            let all = fixture_units();
            let other = &all[v as usize % all.len()];
            let to = sel as usize % (units.len() + 1);
            let n = (1 + a as usize % SPLICE_UNITS).min(other.len());
            if units.len() + n <= MAX_UNITS && total < MAX_STREAM {
                units.splice(to..to, other[..n].iter().map(|u| u.to_vec()));
            }
        }
    }
}

/// Builds the plan of a mutation-mode input.
fn mutation_plan(data: &[u8]) -> Plan {
    let all = fixture_units();
    let fixture = &all[data[0] as usize % all.len()];
    let feed_byte = data.get(1).copied().unwrap_or(0);
    // Units kept: every unit up to the `slices`-th slice.
    let slices = match data.get(2) {
        Some(&s) => 1 + s as usize % MAX_SLICES,
        None => MAX_SLICES,
    };
    let mut units: Vec<Vec<u8>> = Vec::with_capacity(MAX_UNITS);
    let mut seen = 0;
    for u in fixture.iter().take(MAX_UNITS) {
        if is_slice(u) {
            if seen == slices {
                break;
            }
            seen += 1;
        }
        units.push(u.to_vec());
    }
    let ops = data.get(3..).unwrap_or(&[]);
    for op in ops.chunks_exact(5).take(MAX_EDITS) {
        edit(&mut units, op);
    }
    Plan { units, feed: Feed::from_bits(feed_byte), keep: (feed_byte >> 2 & 7) as usize }
}

/// Builds the plan of a raw-mode input: its units, up to the limits.
fn raw_plan(data: &[u8]) -> Plan {
    let mut units = Vec::new();
    let mut slices = 0;
    for u in nal_units(data).take(MAX_UNITS) {
        if is_slice(u) {
            if slices == MAX_SLICES {
                break;
            }
            slices += 1;
        }
        units.push(u.to_vec());
    }
    // The way of feeding follows from the length, so that the seeds try each.
    Plan { units, feed: Feed::from_bits(data.len() as u8), keep: data.len() / 4 % 4 }
}

/// Whether an access unit starts at `units[i]` (7.4.1.2.3, simplified).
fn starts_access_unit(units: &[Vec<u8>], i: usize) -> bool {
    if i == 0 {
        return true;
    }
    let prev_slice = is_slice(&units[i - 1]);
    let u = &units[i];
    match nal_type(u) {
        6..=9 | 14 | 15 => prev_slice,
        // first_mb_in_slice == 0 is ue(v) code "1".
        1 | 5 => prev_slice && u.get(1).is_some_and(|b| b & 0x80 != 0),
        _ => false,
    }
}

/// One `send` call's data and what the checks need to know about it.
struct Chunk {
    range: std::ops::Range<usize>,
    /// Slice units the decoder finds in it.
    slices: usize,
    /// Cropped sizes of the SPS units in it that `transcode_codec` parses.
    sizes: Vec<(usize, usize)>,
}

/// Serializes the units with start codes (alternately 4 and 3 bytes) and cuts the
/// stream into chunks.
fn layout(plan: &Plan, stream: &mut Vec<u8>) -> Vec<Chunk> {
    let mut unit_starts = Vec::with_capacity(plan.units.len() + 1);
    for (i, u) in plan.units.iter().enumerate() {
        unit_starts.push(stream.len());
        if i % 2 == 0 {
            stream.push(0);
        }
        stream.extend_from_slice(&[0, 0, 1]);
        stream.extend_from_slice(u);
    }
    unit_starts.push(stream.len());
    let mut cuts = vec![0usize];
    match plan.feed {
        Feed::Units => cuts.extend_from_slice(&unit_starts[1..]),
        Feed::AccessUnits => {
            for i in 1..plan.units.len() {
                if starts_access_unit(&plan.units, i) {
                    cuts.push(unit_starts[i]);
                }
            }
            cuts.push(stream.len());
        }
        Feed::Groups => {
            const GROUPS: [usize; 5] = [1, 2, 3, 5, 8];
            let (mut i, mut k) = (0, 0);
            while i < plan.units.len() {
                i = (i + GROUPS[k % GROUPS.len()]).min(plan.units.len());
                k += 1;
                cuts.push(unit_starts[i]);
            }
        }
        Feed::Bytes => {
            const SIZES: [usize; 6] = [4093, 7, 1000, 1, 300, 65536];
            let (mut at, mut k) = (0, 0);
            while at < stream.len() {
                at = (at + SIZES[k % SIZES.len()]).min(stream.len());
                k += 1;
                cuts.push(at);
            }
        }
    }
    cuts.dedup();
    cuts.windows(2)
        .map(|w| {
            let data = &stream[w[0]..w[1]];
            let mut chunk = Chunk { range: w[0]..w[1], slices: 0, sizes: Vec::new() };
            for u in nal_units(data) {
                if is_slice(u) {
                    chunk.slices += 1;
                } else if nal_type(u) == 7 {
                    match parse_sps(u) {
                        Ok(sps) => chunk.sizes.push((sps.width as usize, sps.height as usize)),
                        Err(e) => check_error(&e),
                    }
                }
            }
            chunk
        })
        .collect()
}

/// What the checks know so far.
struct Seen {
    /// Cropped sizes of every SPS sent.
    sizes: Vec<(usize, usize)>,
    /// Slice units sent.
    slices: usize,
    frames: usize,
}

/// Checks a frame's geometry against the SPS sent and reads every visible row.
/// `coded` is the size of the pooled frame, when known.
fn check_frame(f: &Frame<'_>, coded: Option<(usize, usize)>, seen: &mut Seen) {
    seen.frames += 1;
    assert!(
        seen.frames <= seen.slices,
        "frame {} out after only {} slice units were sent",
        seen.frames,
        seen.slices
    );
    let (w, h) = (f.width, f.height);
    assert!(w > 0 && h > 0, "frame of {w}x{h}");
    if let Some((cw, ch)) = coded {
        assert!(w <= cw && h <= ch, "frame of {w}x{h} in a pooled frame of {cw}x{ch}");
    }
    assert!(seen.sizes.contains(&(w, h)), "frame of {w}x{h} but the sps sent give {:?}", seen.sizes);
    let mut sum = 0u8;
    for p in 0..3 {
        let (pw, ph) = if p == 0 { (w, h) } else { (w.div_ceil(2), h.div_ceil(2)) };
        let (plane, stride) = (f.planes[p], f.strides[p]);
        assert!(pw <= stride, "plane {p} row of {pw} samples with stride {stride}");
        assert!(
            plane.len() >= (ph - 1) * stride + pw,
            "plane {p} of {} bytes holds no {pw}x{ph} samples at stride {stride}",
            plane.len()
        );
        for y in 0..ph {
            let row = &plane[y * stride..y * stride + pw];
            sum = sum.wrapping_add(row[0]).wrapping_add(row[pw - 1]);
        }
    }
    std::hint::black_box(sum);
}

/// Takes every frame that is ready: kept (up to `keep`, oldest dropped first) or only
/// borrowed when `keep` is 0. Returns how many were taken.
fn take_frames(dec: &mut Decoder, kept: &mut VecDeque<DecodedPicture>, keep: usize, seen: &mut Seen) -> usize {
    let mut n = 0;
    if keep == 0 {
        while let Some(f) = dec.next_frame() {
            check_frame(&f, None, seen);
            n += 1;
        }
    } else {
        while let Some(p) = dec.next_picture() {
            let sf = p.shared_frame();
            check_frame(&p.frame(), Some((sf.width() as usize, sf.height() as usize)), seen);
            n += 1;
            if kept.len() == keep {
                kept.pop_front();
            }
            kept.push_back(p);
        }
    }
    n
}

fn check_memory(dec: &Decoder) {
    let bytes = dec.memory_bytes() as u64;
    assert!(bytes <= BUDGET, "decoder holds {bytes} bytes, more than its budget of {BUDGET}");
}

fn run(plan: &Plan) {
    let mut stream = Vec::with_capacity(plan.units.iter().map(|u| u.len() + 4).sum());
    let chunks = layout(plan, &mut stream);
    let cfg = MemoryConfig::with_max_memory(BUDGET);
    // Everything the checks keep is allocated before the heap cap is set, so that the
    // cap measures the decoder.
    let mut seen = Seen {
        sizes: Vec::with_capacity(chunks.iter().map(|c| c.sizes.len()).sum()),
        slices: 0,
        frames: 0,
    };
    let mut kept: VecDeque<DecodedPicture> = VecDeque::with_capacity(8);
    with_heap_budget(BUDGET, || {
        let mut dec = Decoder::new(&cfg);
        for chunk in &chunks {
            seen.slices += chunk.slices;
            seen.sizes.extend_from_slice(&chunk.sizes);
            let mut rest = &stream[chunk.range.clone()];
            let mut stuck = 0;
            loop {
                let res = dec.send(rest);
                check_memory(&dec);
                match res {
                    Ok(DecodeStatus::Done) => {
                        take_frames(&mut dec, &mut kept, plan.keep, &mut seen);
                        break;
                    }
                    Ok(DecodeStatus::NeedsOutput { consumed }) => {
                        assert!(
                            rest.get(consumed..consumed + 3) == Some(&[0, 0, 1][..]),
                            "needs output at byte {consumed} of {}, which is no start code",
                            rest.len()
                        );
                        // Answer as a caller must: take every frame, drop kept pictures.
                        let taken = take_frames(&mut dec, &mut kept, plan.keep, &mut seen);
                        let dropped = kept.len();
                        kept.clear();
                        if consumed == 0 && taken == 0 && dropped == 0 {
                            stuck += 1;
                            assert!(stuck < 2, "decoder needs output but has none to give and none is kept");
                        } else {
                            stuck = 0;
                        }
                        rest = &rest[consumed..];
                    }
                    Err(e) => {
                        check_error(&e);
                        take_frames(&mut dec, &mut kept, plan.keep, &mut seen);
                        break;
                    }
                }
            }
        }
        dec.flush();
        check_memory(&dec);
        take_frames(&mut dec, &mut kept, plan.keep, &mut seen);
        kept.clear();
        assert_eq!(dec.pending_frames(), 0, "frames pending after flush and taking all");
        dec.flush();
        assert_eq!(dec.pending_frames(), 0, "a second flush released frames");
        let _ = dec.concealed_macroblocks();
    });
}

fuzz_target!(|data: &[u8]| {
    let plan = match data.first() {
        None => return,
        Some(0) => raw_plan(data),
        Some(_) => mutation_plan(data),
    };
    run(&plan);
});
