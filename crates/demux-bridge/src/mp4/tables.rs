//! Sample tables of a progressive track, read in place with cursors.
//!
//! The tables are never expanded: [`SampleTables`] records where each table's entries
//! start inside the moov bytes and how many there are (validated against the box size
//! and [`MemoryConfig::max_table_entries`] when the moov is parsed), and a
//! [`SampleCursor`] walks them in step, one sample at a time, in about 100 bytes per track
//! whatever the track's length.
//!
//! ```text
//!   moov bytes (shared slice of the map, or one owned copy for pipes)
//!   ┌─────┬──────────┬──────────┬──────────┬──────────┬───────────┐
//!   │ ... │ stts ent │ ctts ent │ stsc ent │ stsz ent │ stco ent  │
//!   └─────┴────▲─────┴────▲─────┴────▲─────┴────▲─────┴────▲──────┘
//!              └──────────┴──── SampleCursor indices ──────┘
//! ```
//!
//! [`MemoryConfig::max_table_entries`]: transcode_core::MemoryConfig::max_table_entries

use super::boxes::{be32, be64, Rd};
use transcode_core::{Error, Result};

/// Where a table's entries are inside the moov bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Table {
    /// Index into the moov bytes of the first entry.
    pub start: usize,
    pub count: u32,
}

/// Sample sizes: one size for all (`stsz` with a non-zero `sample_size`) or a table of
/// `field_bits`-bit sizes (32 for `stsz`; 4, 8 or 16 for `stz2`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sizes {
    pub constant: u32,
    /// 0 when every sample has the `constant` size.
    pub field_bits: u8,
    pub table: Table,
    pub sample_count: u32,
}

/// The sample tables of one track.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SampleTables {
    /// (sample_count, sample_delta) pairs.
    pub stts: Table,
    /// (sample_count, sample_offset) pairs; offsets are read as signed whatever the
    /// version, as FFmpeg does.
    pub ctts: Option<Table>,
    /// 1-based sync sample numbers; `None` means every sample is a sync sample.
    pub stss: Option<Table>,
    pub sizes: Sizes,
    /// (first_chunk, samples_per_chunk, sample_description_index) triples.
    pub stsc: Table,
    /// Chunk offsets, 4 or 8 bytes each.
    pub chunks: Table,
    pub chunk_offset_64: bool,
}

/// Reads a table header: an entry count that must stay within `max_entries` and whose
/// `entry_bits`-bit entries must fit in the rest of the box. `moov_base` is the input
/// offset of the moov bytes' first byte, so that entries can be found again by index.
pub(crate) fn table(
    r: &mut Rd<'_>,
    moov_base: u64,
    entry_bits: u64,
    what: &'static str,
    max_entries: u64,
) -> Result<Table> {
    let at = r.offset();
    let count = r.u32()?;
    Error::check_limit(what, count as u64, max_entries)?;
    let need = (count as u64 * entry_bits).div_ceil(8);
    if need > r.remaining() as u64 {
        return Err(Error::invalid_at(
            at,
            format!("{what}: {count} entries need {need} bytes but the box has {} left", r.remaining()),
        ));
    }
    Ok(Table { start: (r.offset() - moov_base) as usize, count })
}

impl SampleTables {
    /// Number of samples (from the size table, which every sample must be in).
    pub fn sample_count(&self) -> u32 {
        self.sizes.sample_count
    }

    fn size_of(&self, moov: &[u8], i: u32) -> u32 {
        let s = &self.sizes;
        let t = s.table.start;
        let i = i as usize;
        match s.field_bits {
            0 => s.constant,
            32 => be32(moov, t + i * 4),
            16 => u16::from_be_bytes([moov[t + i * 2], moov[t + i * 2 + 1]]) as u32,
            8 => moov[t + i] as u32,
            _ => {
                let b = moov[t + i / 2];
                (if i & 1 == 0 { b >> 4 } else { b & 0x0F }) as u32
            }
        }
    }

    fn chunk_offset(&self, moov: &[u8], chunk: u32) -> u64 {
        if self.chunk_offset_64 {
            be64(moov, self.chunks.start + chunk as usize * 8)
        } else {
            be32(moov, self.chunks.start + chunk as usize * 4) as u64
        }
    }

    /// The most common sample delta, for the frame rate (the first stts entry with the
    /// most samples).
    pub fn main_delta(&self, moov: &[u8]) -> Option<u32> {
        let mut best: Option<(u32, u32)> = None;
        for i in 0..self.stts.count.min(1024) as usize {
            let e = self.stts.start + i * 8;
            let (n, d) = (be32(moov, e), be32(moov, e + 4));
            if d != 0 && !matches!(best, Some((bn, _)) if n <= bn) {
                best = Some((n, d));
            }
        }
        best.map(|(_, d)| d)
    }
}

/// One sample, as the tables or a track fragment describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sample {
    pub offset: u64,
    pub size: u32,
    /// Decode time in the track's timescale, before the edit-list shift.
    pub dts: i64,
    /// Composition offset (pts - dts).
    pub cts: i64,
    pub duration: u32,
    pub keyframe: bool,
}

/// A position in a track's tables: the next sample to deliver.
#[derive(Debug, Clone, Default)]
pub(crate) struct SampleCursor {
    sample: u32,
    dts: i64,
    stts_idx: u32,
    stts_left: u32,
    stts_delta: u32,
    ctts_idx: u32,
    ctts_left: u32,
    ctts_off: i64,
    stss_idx: u32,
    /// 1-based number of the next sync sample, or 0 when there is none left.
    next_sync: u32,
    stsc_idx: u32,
    /// 1-based number of the current chunk, 0 before the first.
    chunk: u32,
    chunk_left: u32,
    pos: u64,
    started: bool,
}

impl SampleCursor {
    /// The next sample, or `None` after the last one. A chunk table that runs out before
    /// the sample count does ends the track early, with a warning.
    pub fn next(&mut self, moov: &[u8], t: &SampleTables) -> Option<Sample> {
        if !self.started {
            self.started = true;
            if let Some(stss) = &t.stss {
                self.next_sync = if stss.count > 0 { be32(moov, stss.start) } else { 0 };
            }
        }
        if self.sample >= t.sample_count() {
            return None;
        }
        while self.chunk_left == 0 {
            if self.chunk >= t.chunks.count {
                tracing::warn!(
                    "sample {} lies past the last of {} chunks; ending the track there",
                    self.sample + 1,
                    t.chunks.count
                );
                self.sample = t.sample_count();
                return None;
            }
            self.chunk += 1;
            while self.stsc_idx + 1 < t.stsc.count
                && be32(moov, t.stsc.start + (self.stsc_idx as usize + 1) * 12) <= self.chunk
            {
                self.stsc_idx += 1;
            }
            self.chunk_left =
                if t.stsc.count == 0 { 0 } else { be32(moov, t.stsc.start + self.stsc_idx as usize * 12 + 4) };
            self.pos = t.chunk_offset(moov, self.chunk - 1);
        }
        let size = t.size_of(moov, self.sample);
        let offset = self.pos;
        self.pos = self.pos.saturating_add(size as u64);
        self.chunk_left -= 1;

        // Decode times: a track whose stts covers fewer samples than stsz keeps the last
        // delta, as FFmpeg does.
        while self.stts_left == 0 && self.stts_idx < t.stts.count {
            let e = t.stts.start + self.stts_idx as usize * 8;
            self.stts_left = be32(moov, e);
            self.stts_delta = be32(moov, e + 4);
            self.stts_idx += 1;
        }
        let dts = self.dts;
        let duration = self.stts_delta;
        self.dts += duration as i64;
        self.stts_left = self.stts_left.saturating_sub(1);

        let mut cts = 0;
        if let Some(ctts) = &t.ctts {
            while self.ctts_left == 0 && self.ctts_idx < ctts.count {
                let e = ctts.start + self.ctts_idx as usize * 8;
                self.ctts_left = be32(moov, e);
                let raw = be32(moov, e + 4);
                // Version 0 offsets are unsigned, but writers that meant negative offsets
                // put them there anyway; FFmpeg reads both as signed.
                self.ctts_off = raw as i32 as i64;
                self.ctts_idx += 1;
            }
            if self.ctts_left > 0 {
                cts = self.ctts_off;
                self.ctts_left -= 1;
            }
        }

        let number = self.sample + 1;
        let keyframe = match &t.stss {
            None => true,
            Some(stss) => {
                let mut key = false;
                // Skip sync numbers at or below this sample (duplicates, unordered tables).
                while self.next_sync != 0 && self.next_sync <= number {
                    key |= self.next_sync == number;
                    self.stss_idx += 1;
                    self.next_sync = if self.stss_idx < stss.count {
                        be32(moov, stss.start + self.stss_idx as usize * 4)
                    } else {
                        0
                    };
                }
                key
            }
        };
        self.sample = number;
        Some(Sample { offset, size, dts, cts, duration, keyframe })
    }
}
