//! Presentation order of Annex-B access units: picture order counts from the slice
//! headers, and a bounded reorder model that turns them into display slots.
//!
//! # Timing
//!
//! A picture's display slot is its rank in output order, found the way a decoder finds
//! it: pictures enter a model of the reorder buffer in decoding order, and whenever it
//! holds more than `depth` pictures the one with the smallest POC leaves and takes the
//! next slot. A picture that starts a coded video sequence (IDR, or an H.265 IRAP
//! picture with `NoRaslOutputFlag`) first empties the buffer, since every earlier
//! picture is shown before it. `depth` is the stream's reorder depth
//! ([`h264::SliceSps::reorder_depth`], `sps_max_num_reorder_pics` for H.265), fixed by
//! the first SPS. With `pts = slot × duration` and `dts = (index - depth) × duration`,
//! dts strictly increases, pts values are distinct, and `pts >= dts` because the buffer
//! never holds more than `depth` pictures after an insertion. Should a later SPS ask for
//! a deeper buffer once packets are out (a stream cut before its first SPS starts with
//! depth 0), the slots skip the difference, so the invariants hold at the cost of a
//! gap of that many frames in the pts.
//!
//! Everything is in fixed arrays: no allocation per access unit.

use transcode_codec::h264::{self, PictureOrder};
use transcode_codec::h265;
use transcode_codec::nal::split_annexb;
use transcode_core::CodecId;

/// The deepest reorder buffer any H.264 or H.265 level allows.
pub(crate) const MAX_DEPTH: usize = 16;

/// Parameter sets seen so far and the POC decoding state of one stream.
#[derive(Debug)]
pub(crate) struct PocTracker {
    codec: CodecId,
    scratch: Vec<u8>,
    sps264: Vec<Option<h264::SliceSps>>,
    pps264: Vec<Option<h264::SlicePps>>,
    sps265: [Option<h265::SliceSps>; 16],
    pps265: [Option<h265::SlicePps>; 64],
    dec264: h264::PocDecoder,
    dec265: h265::PocDecoder,
}

impl PocTracker {
    pub(crate) fn new(codec: CodecId) -> Self {
        let h264 = codec == CodecId::H264;
        PocTracker {
            codec,
            scratch: Vec::new(),
            sps264: if h264 { vec![None; 32] } else { Vec::new() },
            pps264: if h264 { vec![None; 256] } else { Vec::new() },
            sps265: [None; 16],
            pps265: [None; 64],
            dec264: h264::PocDecoder::new(),
            dec265: h265::PocDecoder::new(),
        }
    }

    /// Takes in the parameter sets of an access unit and returns the order of its
    /// picture with the reorder depth of its SPS; `None` when the unit has no picture or
    /// its first slice cannot be read (no SPS/PPS yet, or a damaged header).
    pub(crate) fn access_unit(&mut self, au: &[u8]) -> Option<(PictureOrder, usize)> {
        match self.codec {
            CodecId::H264 => self.h264(au),
            _ => self.h265(au),
        }
    }

    fn h264(&mut self, au: &[u8]) -> Option<(PictureOrder, usize)> {
        for nal in split_annexb(au) {
            match h264::nal_type(nal) {
                h264::nal_type::SPS => {
                    if let Ok(s) = h264::SliceSps::parse(nal, &mut self.scratch) {
                        let id = s.sps_id as usize;
                        self.sps264[id] = Some(s);
                    }
                }
                h264::nal_type::PPS => {
                    if let Ok(p) = h264::SlicePps::parse(nal) {
                        self.pps264[p.pps_id as usize] = Some(p);
                    }
                }
                h264::nal_type::SLICE | h264::nal_type::IDR => {
                    // Only the first slice of the picture matters; the rest of the unit
                    // holds no parameter sets a later picture could need first.
                    let id = h264::slice_pps_id(nal).ok()? as usize;
                    let pps = self.pps264[id].as_ref()?;
                    let sps = self.sps264[pps.sps_id as usize].as_ref()?;
                    let sh = h264::SliceHeader::parse(nal, sps, pps).ok()?;
                    if sh.first_mb_in_slice != 0 {
                        return None;
                    }
                    return Some((self.dec264.decode(sps, &sh), sps.reorder_depth() as usize));
                }
                _ => {}
            }
        }
        None
    }

    fn h265(&mut self, au: &[u8]) -> Option<(PictureOrder, usize)> {
        let mut found = None;
        let mut searching = true;
        for nal in split_annexb(au) {
            match h265::nal_type(nal) {
                h265::nal_type::SPS => {
                    if let Ok(s) = h265::SliceSps::parse(nal, &mut self.scratch) {
                        self.sps265[s.sps_id as usize] = Some(s);
                    }
                }
                h265::nal_type::PPS => {
                    if let Ok(p) = h265::SlicePps::parse(nal) {
                        self.pps265[p.pps_id as usize] = Some(p);
                    }
                }
                // An end of sequence ends the unit; the next picture starts afresh.
                h265::nal_type::EOS => self.dec265.end_of_sequence(),
                t if t < 32 && searching => {
                    searching = false;
                    found = self.h265_slice(nal);
                }
                _ => {}
            }
        }
        found
    }

    fn h265_slice(&mut self, nal: &[u8]) -> Option<(PictureOrder, usize)> {
        let pps = self.pps265[h265::slice_pps_id(nal).ok()? as usize].as_ref()?;
        let sps = self.sps265[pps.sps_id as usize].as_ref()?;
        let sh = h265::SliceHeader::parse(nal, sps, pps).ok()?;
        Some((self.dec265.decode(sps, &sh), sps.max_num_reorder_pics as usize))
    }
}

/// The reorder model: pictures waiting for their display slot.
#[derive(Debug)]
pub(crate) struct Reorder {
    /// Pictures the model holds back: the deepest reorder depth seen in an SPS so far.
    depth: usize,
    /// The reorder depth when the first packet went out: its dts offset, fixed since.
    delay: Option<usize>,
    /// `(poc, decoding index)` of the waiting pictures.
    waiting: [(i64, u64); MAX_DEPTH + 1],
    len: usize,
    /// The largest POC of the current sequence, for pictures whose POC is unknown.
    max_poc: i64,
    next_slot: i64,
}

impl Reorder {
    pub(crate) fn new() -> Self {
        Reorder { depth: 0, delay: None, waiting: [(0, 0); MAX_DEPTH + 1], len: 0, max_poc: 0, next_slot: 0 }
    }

    /// The dts offset in frames: the reorder depth when this is first called.
    pub(crate) fn delay(&mut self) -> usize {
        *self.delay.get_or_insert(self.depth)
    }

    /// Adds picture `index` (decoding order) and reports each picture that gets its
    /// slot as `(index, slot)`. A picture whose POC is unknown is shown after every
    /// picture so far of its sequence.
    pub(crate) fn push(&mut self, index: u64, order: Option<(PictureOrder, usize)>, mut out: impl FnMut(u64, i64)) {
        if let Some((_, d)) = order.filter(|&(_, d)| d > self.depth) {
            // A deeper buffer once packets are out (a stream that starts without its
            // parameter sets): leave a gap in the slots, so that the pts of pictures
            // held back longer still do not fall before their dts.
            let d = d.min(MAX_DEPTH);
            if self.delay.is_some() {
                self.next_slot += (d - self.depth) as i64;
            }
            self.depth = d;
        }
        let depth = self.depth;
        let poc = match order {
            Some((o, _)) => {
                if o.new_sequence {
                    self.flush(&mut out);
                    self.max_poc = o.poc;
                }
                o.poc
            }
            None => self.max_poc.saturating_add(1),
        };
        self.max_poc = self.max_poc.max(poc);
        self.waiting[self.len] = (poc, index);
        self.len += 1;
        while self.len > depth {
            self.pop(&mut out);
        }
    }

    /// Gives the waiting picture with the smallest POC its slot.
    /// Returns the picture's decoding index, `None` when none is waiting.
    pub(crate) fn pop(&mut self, out: &mut impl FnMut(u64, i64)) -> Option<u64> {
        let waiting = &self.waiting[..self.len];
        // Ties (a damaged stream) go in decoding order.
        let i = (0..waiting.len()).min_by_key(|&i| waiting[i])?;
        let (_, index) = self.waiting[i];
        self.waiting.copy_within(i + 1..self.len, i);
        self.len -= 1;
        out(index, self.next_slot);
        self.next_slot += 1;
        Some(index)
    }

    /// Gives every waiting picture its slot.
    pub(crate) fn flush(&mut self, out: &mut impl FnMut(u64, i64)) {
        while self.pop(out).is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(depth: usize, pocs: &[(i64, bool)]) -> Vec<i64> {
        let mut r = Reorder::new();
        let mut got = vec![-1; pocs.len()];
        for (i, &(poc, new_sequence)) in pocs.iter().enumerate() {
            r.push(i as u64, Some((PictureOrder { poc, new_sequence }, depth)), |i, s| got[i as usize] = s);
        }
        r.flush(&mut |i, s| got[i as usize] = s);
        got
    }

    #[test]
    fn pyramid_pocs_rank_within_each_sequence() {
        // x264 with -bf 3 and b-pyramid: I0 P8 B4 b2 b6, then a new IDR.
        let pocs = [(0, true), (8, false), (4, false), (2, false), (6, false), (0, true), (4, false), (2, false)];
        assert_eq!(slots(2, &pocs), [0, 4, 2, 1, 3, 5, 7, 6]);
    }

    #[test]
    fn a_too_shallow_depth_still_gives_distinct_slots_no_earlier_than_dts() {
        let pocs = [(0, true), (16, false), (8, false), (4, false), (2, false), (6, false), (12, false)];
        let s = slots(1, &pocs);
        let mut sorted = s.clone();
        sorted.sort();
        assert_eq!(sorted, (0..7).collect::<Vec<_>>());
        for (i, &slot) in s.iter().enumerate() {
            assert!(slot >= i as i64 - 1, "{s:?}");
        }
    }
}
