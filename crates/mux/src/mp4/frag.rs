//! Fragmented output: the current fragment's samples and payload, and its `moof`.
//!
//! A fragment is held in memory until it is complete (the next keyframe of the leading
//! video track, about a second of audio-only data, or the byte budget), then written as
//! one `moof` followed by one `mdat` holding each track's samples contiguously, in track
//! order. The buffers are reused from one fragment to the next.

use super::boxes::BoxBuf;
use super::track::SampleTime;
use transcode_core::{Error, Result};

const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x2_0000;
const TRUN_DATA_OFFSET: u32 = 0x1;
const TRUN_DURATION: u32 = 0x100;
const TRUN_SIZE: u32 = 0x200;
const TRUN_FLAGS: u32 = 0x400;
const TRUN_CTS: u32 = 0x800;
/// sample_depends_on = 2 (an I picture).
const FLAGS_SYNC: u32 = 0x0200_0000;
/// sample_depends_on = 1, sample_is_non_sync_sample.
const FLAGS_NON_SYNC: u32 = 0x0101_0000;

/// One buffered sample.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FragSample {
    pub track: u32,
    pub size: u32,
    pub duration: u32,
    pub cts: i32,
    /// Decode time in track ticks, on the track's output timeline (from 0).
    pub dts: i64,
    pub keyframe: bool,
}

/// The fragment being built.
#[derive(Debug, Default)]
pub(crate) struct Fragment {
    pub samples: Vec<FragSample>,
    /// Converted payload per track.
    pub payload: Vec<Vec<u8>>,
    pub bytes: u64,
    /// Per track: index in `samples` of its latest sample, whose duration is provisional.
    last: Vec<Option<usize>>,
    /// Per track: the last known sample delta, for a fragment's final sample.
    last_delta: Vec<i64>,
    seq: u32,
    moof: Vec<u8>,
    /// Where each traf's trun data offset goes in `moof`; reused between fragments.
    offset_at: Vec<(usize, usize)>,
    /// Scratch lists of track IDs and audio flags for [`Fragment::build`], reused.
    pub ids: Vec<u32>,
    pub audio: Vec<bool>,
}

impl Fragment {
    pub fn new(tracks: usize) -> Self {
        Fragment {
            payload: vec![Vec::new(); tracks],
            last: vec![None; tracks],
            last_delta: vec![0; tracks],
            ..Default::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Checks that a sample at `dts` with `t`'s composition offset can follow the
    /// track's previous one in this fragment (what [`Fragment::push`] will need).
    pub fn check(&self, track: usize, t: SampleTime, dts: i64) -> Result<()> {
        if let Some(i) = self.last[track] {
            let delta = dts - self.samples[i].dts;
            u32::try_from(delta).map_err(|_| Error::invalid(format!("sample delta {delta} (expected 0..2^32)")))?;
        }
        i32::try_from(t.cts)
            .map_err(|_| Error::invalid(format!("composition offset {} (expected a 32-bit value)", t.cts)))?;
        Ok(())
    }

    /// Records a sample whose payload the caller has appended to `payload[track]`.
    pub fn push(&mut self, track: usize, t: SampleTime, dts: i64, size: usize) -> Result<()> {
        if let Some(i) = self.last[track] {
            let prev = &mut self.samples[i];
            let delta = dts - prev.dts;
            prev.duration =
                u32::try_from(delta).map_err(|_| Error::invalid(format!("sample delta {delta} (expected 0..2^32)")))?;
            self.last_delta[track] = delta;
        }
        let guess = t.duration.unwrap_or(self.last_delta[track]);
        let cts = i32::try_from(t.cts)
            .map_err(|_| Error::invalid(format!("composition offset {} (expected a 32-bit value)", t.cts)))?;
        self.last[track] = Some(self.samples.len());
        self.samples.push(FragSample {
            track: track as u32,
            size: size as u32,
            duration: u32::try_from(guess).unwrap_or(0),
            cts,
            dts,
            keyframe: false,
        });
        self.bytes += size as u64;
        Ok(())
    }

    /// Marks the latest sample as a sync sample.
    pub fn set_keyframe(&mut self, key: bool) {
        if let Some(s) = self.samples.last_mut() {
            s.keyframe = key;
        }
    }

    /// Builds the moof for the buffered samples into an internal buffer and returns it
    /// with the mdat header; the caller writes both, then each track's payload in order,
    /// then calls [`Fragment::clear`]. `ids[k]` is track k's `track_ID`, `audio[k]`
    /// whether every sample of it is a sync sample.
    pub fn build(&mut self, ids: &[u32], audio: &[bool]) -> (&[u8], [u8; 16], usize) {
        self.seq += 1;
        let mut offset_at = std::mem::take(&mut self.offset_at);
        offset_at.clear();
        let b = &mut self.moof;
        b.clear();
        let moof = b.open(b"moof");
        let mfhd = b.open_full(b"mfhd", 0, 0);
        b.u32(self.seq);
        b.close(mfhd);
        for (k, &id) in ids.iter().enumerate() {
            let mut it = self.samples.iter().filter(|s| s.track as usize == k).peekable();
            let Some(first) = it.peek().copied() else { continue };
            let count = self.samples.iter().filter(|s| s.track as usize == k).count() as u32;
            let has_cts = self.samples.iter().any(|s| s.track as usize == k && s.cts != 0);
            let negative = self.samples.iter().any(|s| s.track as usize == k && s.cts < 0);
            let traf = b.open(b"traf");
            let tfhd = b.open_full(b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF);
            b.u32(id);
            b.close(tfhd);
            let tfdt = b.open_full(b"tfdt", 1, 0);
            b.u64(first.dts.max(0) as u64);
            b.close(tfdt);
            let flags = TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS | if has_cts { TRUN_CTS } else { 0 };
            let trun = b.open_full(b"trun", u8::from(negative), flags);
            b.u32(count);
            offset_at.push((k, b.len()));
            b.u32(0);
            for s in it {
                b.u32(s.duration);
                b.u32(s.size);
                b.u32(if audio[k] || s.keyframe { FLAGS_SYNC } else { FLAGS_NON_SYNC });
                if has_cts {
                    b.u32(s.cts as u32);
                }
            }
            b.close(trun);
            b.close(traf);
        }
        b.close(moof);
        let total: u64 = self.payload.iter().map(|p| p.len() as u64).sum();
        let large = total + 8 > u32::MAX as u64;
        let header_len = if large { 16 } else { 8 };
        let mut data = b.len() as u64 + header_len;
        for &(k, at) in &offset_at {
            b[at..at + 4].copy_from_slice(&(data as u32).to_be_bytes());
            data += self.payload[k].len() as u64;
        }
        self.offset_at = offset_at;
        let mut mdat = [0u8; 16];
        if large {
            mdat[..4].copy_from_slice(&1u32.to_be_bytes());
            mdat[8..].copy_from_slice(&(total + 16).to_be_bytes());
        } else {
            mdat[..4].copy_from_slice(&((total + 8) as u32).to_be_bytes());
        }
        mdat[4..8].copy_from_slice(b"mdat");
        (&self.moof, mdat, header_len as usize)
    }

    /// Empties the fragment, keeping the buffers.
    pub fn clear(&mut self) {
        self.samples.clear();
        self.payload.iter_mut().for_each(Vec::clear);
        self.last.iter_mut().for_each(|l| *l = None);
        self.bytes = 0;
    }
}
