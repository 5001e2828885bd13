//! Movie fragments: `moof` → `traf` (`tfhd`, `tfdt`, `trun`s) → runs of samples.
//!
//! A fragment is parsed once into a list of [`Run`]s (one per `trun`), which then yield
//! their samples straight from the moof bytes, like the progressive cursors do from the
//! moov. The moof bytes and the run list are reused from one fragment to the next.

use super::boxes::{be32, children, Rd};
use super::moov::Track;
use super::tables::Sample;
use transcode_core::{Error, MemoryConfig, Result};

const TFHD_BASE_DATA_OFFSET: u32 = 0x1;
const TFHD_SAMPLE_DESCRIPTION: u32 = 0x2;
const TFHD_DEFAULT_DURATION: u32 = 0x8;
const TFHD_DEFAULT_SIZE: u32 = 0x10;
const TFHD_DEFAULT_FLAGS: u32 = 0x20;
const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x2_0000;

const TRUN_DATA_OFFSET: u32 = 0x1;
const TRUN_FIRST_FLAGS: u32 = 0x4;
const TRUN_DURATION: u32 = 0x100;
const TRUN_SIZE: u32 = 0x200;
const TRUN_FLAGS: u32 = 0x400;
const TRUN_CTS: u32 = 0x800;

const SAMPLE_NON_SYNC: u32 = 0x1_0000;
const SAMPLE_DEPENDS_YES: u32 = 0x0100_0000;

/// The samples of one `trun`, read in place from the moof bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run {
    /// Index of the track (and stream).
    pub track: usize,
    /// Index into the moof bytes of the next entry.
    entry: usize,
    left: u32,
    flags: u32,
    first_flags: Option<u32>,
    default_duration: u32,
    default_size: u32,
    default_flags: u32,
    audio: bool,
    pos: u64,
    dts: i64,
    /// The sample this run will deliver next.
    pub peek: Option<Sample>,
}

impl Run {
    fn entry_len(flags: u32) -> usize {
        [TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTS].iter().filter(|&&f| flags & f != 0).count() * 4
    }

    /// Reads the next entry into `peek`.
    pub fn advance(&mut self, moof: &[u8]) {
        if self.left == 0 {
            self.peek = None;
            return;
        }
        let mut e = self.entry;
        let mut field = |present: bool, default: u32| {
            if present {
                let v = be32(moof, e);
                e += 4;
                v
            } else {
                default
            }
        };
        let duration = field(self.flags & TRUN_DURATION != 0, self.default_duration);
        let size = field(self.flags & TRUN_SIZE != 0, self.default_size);
        let mut sflags = field(self.flags & TRUN_FLAGS != 0, self.default_flags);
        // Version 0 offsets are unsigned in the standard, but FFmpeg and most readers
        // take them as signed, which only matters for values no writer uses unsigned.
        let cts = field(self.flags & TRUN_CTS != 0, 0) as i32 as i64;
        if let Some(f) = self.first_flags.take() {
            sflags = f;
        }
        self.entry = e;
        self.left -= 1;
        let keyframe = self.audio || sflags & (SAMPLE_NON_SYNC | SAMPLE_DEPENDS_YES) == 0;
        self.peek = Some(Sample { offset: self.pos, size, dts: self.dts, cts, duration, keyframe });
        self.pos = self.pos.saturating_add(size as u64);
        self.dts = self.dts.saturating_add(duration as i64);
    }
}

/// Per-track decode time where the next fragment continues when it has no `tfdt`.
#[derive(Debug, Clone, Default)]
pub(crate) struct FragState {
    pub next_dts: Vec<i64>,
}

/// Parses the moof in `moof` (the whole box, at input offset `moof_start`, with
/// `header_len` header bytes) into `runs`, which is cleared first.
pub(crate) fn parse_moof(
    moof: &[u8],
    header_len: usize,
    moof_start: u64,
    tracks: &[Track],
    state: &mut FragState,
    runs: &mut Vec<Run>,
    config: &MemoryConfig,
) -> Result<()> {
    runs.clear();
    let body = &moof[header_len..];
    let body_base = moof_start + header_len as u64;
    // The spec's implicit base: the moof start for the first traf, then the end of the
    // previous traf's data.
    let mut implicit = moof_start;
    for traf in children(body, body_base) {
        let traf = traf?;
        if &traf.typ != b"traf" {
            continue;
        }
        let mut track = None;
        let mut base = implicit;
        let (mut dur, mut size, mut sflags) = (0, 0, 0);
        let mut dts = None;
        let mut audio = false;
        // tfhd comes first by the standard; find it and tfdt before the runs.
        for c in children(traf.body, traf.base) {
            let c = c?;
            match &c.typ {
                b"tfhd" => {
                    let mut r = Rd::new(c.body, c.base, "tfhd");
                    let (_, flags) = r.version_flags()?;
                    let id = r.u32()?;
                    let Some(t) = tracks.iter().position(|t| t.info.id == id) else {
                        break;
                    };
                    let trex = tracks[t].trex;
                    audio = tracks[t].is_audio;
                    (dur, size, sflags) = (trex.duration, trex.size, trex.flags);
                    if flags & TFHD_BASE_DATA_OFFSET != 0 {
                        base = r.u64()?;
                    } else if flags & TFHD_DEFAULT_BASE_IS_MOOF != 0 {
                        base = moof_start;
                    }
                    if flags & TFHD_SAMPLE_DESCRIPTION != 0 {
                        r.u32()?;
                    }
                    if flags & TFHD_DEFAULT_DURATION != 0 {
                        dur = r.u32()?;
                    }
                    if flags & TFHD_DEFAULT_SIZE != 0 {
                        size = r.u32()?;
                    }
                    if flags & TFHD_DEFAULT_FLAGS != 0 {
                        sflags = r.u32()?;
                    }
                    track = Some(t);
                }
                b"tfdt" => {
                    let mut r = Rd::new(c.body, c.base, "tfdt");
                    let (v, _) = r.version_flags()?;
                    dts = Some(if v == 1 { r.u64()? as i64 } else { r.u32()? as i64 });
                }
                _ => {}
            }
        }
        // A traf of a track the demuxer skipped (or without tfhd) is ignored.
        let Some(t) = track else { continue };
        let mut dts = dts.unwrap_or(state.next_dts[t]);
        let mut pos = base;
        for c in children(traf.body, traf.base) {
            let c = c?;
            if &c.typ != b"trun" {
                continue;
            }
            let mut r = Rd::new(c.body, c.base, "trun");
            let (_, flags) = r.version_flags()?;
            let at = r.offset();
            let count = r.u32()?;
            Error::check_limit("trun entries", count as u64, config.max_table_entries)?;
            if flags & TRUN_DATA_OFFSET != 0 {
                pos = base.saturating_add_signed(r.u32()? as i32 as i64);
            }
            let first_flags = if flags & TRUN_FIRST_FLAGS != 0 { Some(r.u32()?) } else { None };
            let entry_len = Run::entry_len(flags);
            let need = count as u64 * entry_len as u64;
            if need > r.remaining() as u64 {
                return Err(Error::invalid_at(
                    at,
                    format!("trun: {count} entries need {need} bytes but the box has {} left", r.remaining()),
                ));
            }
            let entry = (r.offset() - moof_start) as usize;
            let mut run = Run {
                track: t,
                entry,
                left: count,
                flags,
                first_flags,
                default_duration: dur,
                default_size: size,
                default_flags: sflags,
                audio,
                pos,
                dts,
                peek: None,
            };
            // Walk the run once to find where the next one starts in time and bytes.
            let mut scan = run;
            let mut bytes = 0u64;
            while scan.left > 0 {
                scan.advance(moof);
                if let Some(s) = scan.peek {
                    bytes += s.size as u64;
                    dts = s.dts.saturating_add(s.duration as i64);
                }
            }
            pos = pos.saturating_add(bytes);
            Error::check_limit("fragment runs", runs.len() as u64 + 1, config.max_table_entries)?;
            run.advance(moof);
            runs.push(run);
        }
        state.next_dts[t] = dts;
        implicit = pos;
    }
    Ok(())
}
