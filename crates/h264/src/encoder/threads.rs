//! Slice threads: workers started with the encoder, each coding a fixed set of the
//! picture's slices (bands of macroblock rows) into tables, reconstruction rows and
//! slice buffers of its own, which the encoder copies back before it deblocks.
//!
//! # Why this shape
//!
//! - **Nothing allocated per picture.** Threads are started once, by
//!   [`super::Encoder::new`], and talk over bounded channels whose slots exist from
//!   the start; a job carries frame handles (reference counts, not copies) and plain
//!   parameters. Scoped threads per picture would be simpler but allocate on every
//!   spawn.
//! - **Owned state, no sharing while coding.** Each worker owns its macroblock and
//!   motion tables and a reconstruction buffer of the picture's size, behind a mutex
//!   it holds while coding; the encoder locks it only after the worker reported the
//!   job done. Nothing a worker writes is read by another slice while the picture is
//!   coded: a slice predicts nothing across its top edge.
//! - **A band always goes to the same worker.** Band `k` is coded by thread
//!   `k % threads` in every picture, so a worker's anchor motion table already holds
//!   most of the co-located motion its B slices need; band boundaries move with the
//!   cost of the rows ([`balance_bands`]), and the encoder copies in only the rows
//!   of a band that its worker did not code in the co-located picture.
//! - **Balanced by cost, not by time.** Band boundaries split the previous picture
//!   of the same type's row costs (coefficients plus a cost per macroblock) evenly,
//!   so that the threads finish together on content whose detail is uneven, and the
//!   stream stays a function of the input and `slices` alone.
//! - **Deblocking overlaps the other bands.** The encoder's thread deblocks band 0
//!   as soon as it has coded it, while the workers still code theirs; the rows below
//!   follow in order once they are copied back (a row's filter reads the filtered
//!   row above it, so the rows cannot be filtered out of order).
//!
//! ```text
//!   Encoder::encode_picture ──Job (band k)──► worker (k % threads)
//!     codes band 0 itself                       codes into SliceWork (own tables,
//!     ◄──────────── done(overflow) ────────────  recon rows, slice buffer)
//!     deblocks band 0, copies the other bands' rows back, deblocks them and writes
//!     the slices' NAL units in order
//! ```

use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::headers::SliceInfo;
use super::mb::{MbCoder, MbParams, RefPic};
use crate::mb::MbState;
use crate::picture::{resize_exact, Picture};
use transcode_core::{Error, Result};
use transcode_frame_pool::SharedFrame;

/// Which of the motion tables a picture's motion goes to: the latest anchor's (the
/// co-located picture of the B pictures after it), the reference B picture's of a
/// B-pyramid group (co-located for the B pictures before it), or a non-reference B
/// picture's (nothing reads it after the picture).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MotionSlot {
    Anchor,
    RefB,
    B,
}

/// The three motion tables, by [`MotionSlot`]; `refb` is allocated only with
/// B-pyramid and `b` only with B-frames.
#[derive(Default)]
pub struct MotionTables {
    pub anchor: Picture,
    pub refb: Picture,
    pub b: Picture,
}

impl MotionTables {
    /// Tables of the picture size: how many (1 to 3) are allocated.
    pub fn new(mb_w: usize, mb_h: usize, strides: [usize; 3], tables: usize) -> MotionTables {
        let n4 = mb_w * mb_h * 16;
        let table = |on: bool| {
            let mut m = Picture::default();
            if on {
                m.alloc(mb_w, mb_h, strides);
                for l in 0..2 {
                    resize_exact(&mut m.ref_idx[l], n4, -1);
                    resize_exact(&mut m.ref_uid[l], n4, -1);
                }
            }
            m
        };
        MotionTables {
            anchor: table(true),
            b: table(tables >= 2),
            refb: table(tables >= 3),
        }
    }

    /// Heap bytes of `tables` tables.
    pub fn bytes_for(mb_w: usize, mb_h: usize, tables: usize) -> usize {
        tables * (Picture::slot_bytes(mb_w, mb_h) + Picture::work_bytes(mb_w, mb_h))
    }

    pub fn get(&self, slot: MotionSlot) -> &Picture {
        match slot {
            MotionSlot::Anchor => &self.anchor,
            MotionSlot::RefB => &self.refb,
            MotionSlot::B => &self.b,
        }
    }

    pub fn get_mut(&mut self, slot: MotionSlot) -> &mut Picture {
        match slot {
            MotionSlot::Anchor => &mut self.anchor,
            MotionSlot::RefB => &mut self.refb,
            MotionSlot::B => &mut self.b,
        }
    }

    /// The table `dst` is written to and the co-located one `col` (a different
    /// table; the same one gives none).
    pub fn split(&mut self, dst: MotionSlot, col: Option<MotionSlot>) -> (&mut Picture, Option<&Picture>) {
        use MotionSlot::*;
        let MotionTables { anchor, refb, b } = self;
        match (dst, col) {
            (Anchor, Some(RefB)) => (anchor, Some(refb)),
            (Anchor, Some(B)) => (anchor, Some(b)),
            (RefB, Some(Anchor)) => (refb, Some(anchor)),
            (RefB, Some(B)) => (refb, Some(b)),
            (B, Some(Anchor)) => (b, Some(anchor)),
            (B, Some(RefB)) => (b, Some(refb)),
            (Anchor, _) => (anchor, None),
            (RefB, _) => (refb, None),
            (B, _) => (b, None),
        }
    }
}

/// What one worker owns: the tables and reconstruction its slices are coded into,
/// and one slice buffer per band it codes.
pub struct SliceWork {
    pub st: MbState,
    /// Motion of this worker's bands: the latest anchor's rows (the co-located
    /// picture of the B pictures after it), the reference B picture's, and the B
    /// picture's being coded.
    pub motion: MotionTables,
    pub planes: [Vec<u8>; 3],
    pub rbsp: Vec<Vec<u8>>,
}

impl SliceWork {
    /// Heap bytes of a worker's state for `mb_w` x `mb_h` macroblocks, `tables`
    /// motion tables, planes of `plane_bytes` and slice buffers of `rbsp_bytes`.
    pub fn bytes_for(mb_w: usize, mb_h: usize, tables: usize, plane_bytes: usize, rbsp_bytes: usize) -> usize {
        MbState::bytes_for(mb_w, mb_h) + MotionTables::bytes_for(mb_w, mb_h, tables) + plane_bytes + rbsp_bytes
    }

    /// Tables for `mb_w` x `mb_h` macroblocks (as the encoder's own), planes of the
    /// given sizes and slice buffers of the given capacities.
    pub fn new(
        st: MbState,
        mb_w: usize,
        mb_h: usize,
        tables: usize,
        strides: [usize; 3],
        plane_len: [usize; 3],
        rbsp: &[usize],
    ) -> SliceWork {
        SliceWork {
            st,
            motion: MotionTables::new(mb_w, mb_h, strides, tables),
            planes: plane_len.map(|n| vec![0u8; n]),
            rbsp: rbsp.iter().map(|&n| Vec::with_capacity(n)).collect(),
        }
    }
}

/// One band of one picture for a worker.
pub struct Job {
    pub src: SharedFrame,
    pub reference: Option<SharedFrame>,
    pub reference1: Option<SharedFrame>,
    pub params: MbParams,
    pub info: SliceInfo,
    /// The motion table the picture writes and its co-located one.
    pub dst: MotionSlot,
    pub col: Option<MotionSlot>,
    pub rows: Range<usize>,
    /// Which of the worker's slice buffers the band goes to.
    pub slot: usize,
    /// The picture's per-macroblock QPs (read only while workers code).
    pub mbqp: Arc<std::sync::RwLock<super::aq::MbQp>>,
    pub mb_w: usize,
    pub mb_h: usize,
    /// Visible picture size.
    pub size: (usize, usize),
}

/// A started slice thread.
pub struct Worker {
    work: Arc<Mutex<SliceWork>>,
    jobs: Option<SyncSender<Job>>,
    done: Receiver<bool>,
    handle: Option<JoinHandle<()>>,
}

pub(crate) fn stopped() -> Error {
    Error::invalid("encoder slice thread stopped (expected it to run until the encoder is dropped)")
}

impl Worker {
    /// Starts a thread coding jobs into `work`; up to `depth` jobs may wait.
    pub fn start(work: SliceWork, depth: usize) -> Result<Worker> {
        let work = Arc::new(Mutex::new(work));
        let (jobs, rx) = sync_channel::<Job>(depth.max(1));
        let (tx, done) = sync_channel::<bool>(depth.max(1));
        let shared = Arc::clone(&work);
        let handle = std::thread::Builder::new()
            .name("h264-slices".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    let overflow = match shared.lock() {
                        Ok(mut w) => code_job(&mut w, job),
                        Err(_) => return,
                    };
                    if tx.send(overflow).is_err() {
                        return;
                    }
                }
            })
            .map_err(Error::Io)?;
        Ok(Worker {
            work,
            jobs: Some(jobs),
            done,
            handle: Some(handle),
        })
    }

    pub fn send(&self, job: Job) -> Result<()> {
        self.jobs.as_ref().ok_or_else(stopped)?.send(job).map_err(|_| stopped())
    }

    /// Waits for the next job to finish; returns whether its slice buffer overflowed.
    pub fn wait(&self) -> Result<bool> {
        self.done.recv().map_err(|_| stopped())
    }

    /// The worker's state, between jobs.
    pub fn work(&self) -> Result<MutexGuard<'_, SliceWork>> {
        self.work.lock().map_err(|_| stopped())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the job channel ends the thread's loop.
        self.jobs = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Codes one band into the worker's state; the job's frame handles are released
/// before the encoder hears of it (they go back to their pools in time).
fn code_job(w: &mut SliceWork, job: Job) -> bool {
    let SliceWork { st, motion, planes, rbsp } = w;
    let (motion, col) = motion.split(job.dst, job.col);
    let strides = motion.strides;
    let [y, u, v] = planes;
    let mut coder = MbCoder {
        p: &job.params,
        st,
        motion,
        planes: [y, u, v],
        strides,
        reference: job.reference.as_ref().map(RefPic::of),
        reference1: job.reference1.as_ref().map(RefPic::of),
        col,
        slice: job.info.kind,
        mb_w: job.mb_w,
        mb_h: job.mb_h,
        row0: job.rows.start,
        mx: 0,
        my: 0,
        src_y: [0; 256],
        src_c: [[0; 64]; 2],
        cur: Default::default(),
        done4: 0,
        dqp: 0,
        dqp_ctx: 0,
    };
    let src = &job.src;
    let Some(buf) = rbsp.get_mut(job.slot) else {
        return true;
    };
    // Written only between pictures, so this never waits; a poisoned lock means
    // the encoder thread panicked, and the overflow answer stops the picture.
    let Ok(mbqp) = job.mbqp.read() else {
        return true;
    };
    super::code_slice(
        &mut coder,
        buf,
        &job.info,
        [src.plane(0), src.plane(1), src.plane(2)],
        [src.stride(0), src.stride(1), src.stride(2)],
        job.size,
        job.rows.clone(),
        &mbqp,
    )
}

/// Copies the rows `rows` (macroblock rows) of what a worker coded into the
/// encoder's tables and reconstruction, for the deblocking filter and the next
/// pictures.
pub fn copy_band(
    from: &SliceWork,
    slot: MotionSlot,
    st: &mut MbState,
    motion: &mut Picture,
    planes: &mut [&mut [u8]; 3],
    strides: [usize; 3],
    mb_w: usize,
    rows: Range<usize>,
) {
    fn copy<T: Copy>(dst: &mut [T], src: &[T], range: Range<usize>) {
        dst[range.clone()].copy_from_slice(&src[range]);
    }
    let mbs = rows.start * mb_w..rows.end * mb_w;
    let b4 = mbs.start * 16..mbs.end * 16;
    let c4 = mbs.start * 4..mbs.end * 4;
    copy(&mut st.mbs, &from.st.mbs, mbs.clone());
    copy(&mut st.nnz, &from.st.nnz, b4.clone());
    copy(&mut st.ipred, &from.st.ipred, b4.clone());
    for c in 0..2 {
        copy(&mut st.nnz_c[c], &from.st.nnz_c[c], c4.clone());
        copy(&mut st.mvd[c], &from.st.mvd[c], b4.clone());
    }
    copy_motion(from.motion.get(slot), motion, mb_w, rows.clone());
    for p in 0..3 {
        let lines = if p == 0 { 16 } else { 8 };
        let bytes = rows.start * lines * strides[p]..rows.end * lines * strides[p];
        copy(planes[p], &from.planes[p], bytes);
    }
}

/// Copies the motion of macroblock rows `rows` from `from` to `to`: what a B
/// picture reads of its co-located picture (motion vectors, reference indices,
/// intra flags) and the reference ids the deblocking filter compares.
pub fn copy_motion(from: &Picture, to: &mut Picture, mb_w: usize, rows: Range<usize>) {
    fn copy<T: Copy>(dst: &mut [T], src: &[T], range: Range<usize>) {
        dst[range.clone()].copy_from_slice(&src[range]);
    }
    let mbs = rows.start * mb_w..rows.end * mb_w;
    let b4 = mbs.start * 16..mbs.end * 16;
    for l in 0..2 {
        copy(&mut to.mv[l], &from.mv[l], b4.clone());
        copy(&mut to.ref_idx[l], &from.ref_idx[l], b4.clone());
        copy(&mut to.ref_uid[l], &from.ref_uid[l], b4.clone());
    }
    copy(&mut to.mb_intra, &from.mb_intra, mbs);
}

/// Cost of a macroblock in the balancing model, in units of a quarter coefficient:
/// coding time grows with the coefficients coded (quantisation, reconstruction,
/// entropy coding) on top of a fixed analysis cost per macroblock, which intra
/// search makes larger in I pictures. Fitted on row timings of 720p P and B
/// pictures (`testsrc2` with noise: time = 160-200 µs + 0.34-0.57 µs per
/// coefficient for a row of 60 macroblocks, r = 0.93) and I pictures.
const MB_COST_INTRA: u32 = 4 * 64;
const MB_COST_INTER: u32 = 4 * 8;
const COEFF_COST: u32 = 4;
/// Deblocking a macroblock, in the same units (about 0.2 µs at 720p, 5% of coding):
/// band 0 is deblocked by the encoder's thread while the others are still coded, so
/// it gets that much less coding to do.
const MB_COST_DEBLOCK: u64 = 2;

/// Row costs of a picture for [`balance_bands`]: per macroblock row, a fixed cost
/// per macroblock plus its luma and chroma coefficients (`TotalCoeff`, from the
/// tables the picture was coded into). Deterministic: it depends on the coded
/// picture only, never on timing or on how many threads coded it.
pub fn row_costs(st: &MbState, mb_w: usize, intra: bool, out: &mut [u32]) {
    let base = if intra { MB_COST_INTRA } else { MB_COST_INTER };
    for (r, cost) in out.iter_mut().enumerate() {
        let luma: u32 = st.nnz.get(r * mb_w * 16..(r + 1) * mb_w * 16).map_or(0, |s| s.iter().map(|&n| n as u32).sum());
        let chroma: u32 = st.nnz_c.iter().map(|c| c.get(r * mb_w * 4..(r + 1) * mb_w * 4).map_or(0, |s| s.iter().map(|&n| n as u32).sum::<u32>())).sum();
        *cost = base * mb_w as u32 + COEFF_COST * (luma + chroma);
    }
}

/// The most macroblock rows one of `n` bands of a `mb_h`-row picture may take: half
/// again an equal share, so that the slice buffers (sized for it) stay bounded.
pub fn max_band_rows(mb_h: usize, n: usize) -> usize {
    let n = n.clamp(1, mb_h.max(1));
    (3 * mb_h).div_ceil(2 * n).min(mb_h + 1 - n).max(mb_h.div_ceil(n))
}

/// Splits `mb_h` rows into `bands.len()` bands of about equal cost by `cost` (the row
/// costs of the previous picture of the same type, see [`row_costs`]), band 0 taking
/// less by its deblocking; each band has 1 to [`max_band_rows`] rows. With no costs
/// yet (all zero), equal row counts.
pub fn balance_bands(cost: &[u32], mb_w: usize, bands: &mut [Range<usize>]) {
    let (mb_h, n) = (cost.len(), bands.len());
    if n == 0 {
        return;
    }
    let total: u64 = cost.iter().map(|&c| c as u64).sum();
    if total == 0 || n == 1 {
        for (k, b) in bands.iter_mut().enumerate() {
            *b = k * mb_h / n..(k + 1) * mb_h / n;
        }
        return;
    }
    let max = max_band_rows(mb_h, n);
    let deblock0 = MB_COST_DEBLOCK * (mb_w * mb_h / n) as u64;
    // Every band costs `share`; band 0's coding `share - deblock0`.
    let share = (total + deblock0) / n as u64;
    let (mut start, mut row, mut sum) = (0usize, 0usize, 0u64);
    for k in 0..n - 1 {
        // Saturating: with costs below the deblocking allowance (only in tests; a
        // coded picture costs at least MB_COST_INTER per macroblock) the target is 0.
        let target = (share * (k as u64 + 1)).saturating_sub(deblock0);
        let left = n - 1 - k;
        let lo = (start + 1).max(mb_h.saturating_sub(left * max));
        let hi = (start + max).min(mb_h - left);
        // The row boundary whose cumulative cost is nearest the target.
        while row < hi && sum + (cost[row] as u64) / 2 < target {
            sum += cost[row] as u64;
            row += 1;
        }
        while row < lo {
            sum += cost[row] as u64;
            row += 1;
        }
        bands[k] = start..row;
        start = row;
    }
    bands[n - 1] = start..mb_h;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bands(cost: &[u32], n: usize) -> Vec<Range<usize>> {
        let mut b = vec![0..0; n];
        balance_bands(cost, 10, &mut b);
        b
    }

    #[test]
    fn bands_without_costs_are_equal() {
        assert_eq!(bands(&[0; 45], 2), [0..22, 22..45]);
        assert_eq!(bands(&[0; 9], 4), [0..2, 2..4, 4..6, 6..9]);
    }

    #[test]
    fn bands_balance_the_cost_within_bounds() {
        // The bottom half three times the top's cost: the first band takes more rows.
        let cost: Vec<u32> = (0..40).map(|r| if r < 20 { 1000 } else { 3000 }).collect();
        let b = bands(&cost, 2);
        assert_eq!(b[0].end, 27, "{b:?}");
        assert_eq!(b[1], 27..40);
        // Bounded by half again an equal share.
        let cost: Vec<u32> = (0..40).map(|r| if r < 39 { 1 } else { 100_000 }).collect();
        let b = bands(&cost, 2);
        assert_eq!(b, [0..30, 30..40]);
        // Uniform cost: band 0 a little shorter, for the deblocking it does alone.
        let b = bands(&[1000; 40], 2);
        assert!(b[0].end <= 20, "{b:?}");
        for n in 1..=9 {
            let b = bands(&cost[..9], n);
            assert_eq!(b.len(), n);
            assert!(b.windows(2).all(|w| w[0].end == w[1].start && !w[0].is_empty()), "{b:?}");
            assert!(b.iter().all(|r| !r.is_empty() && r.len() <= max_band_rows(9, n)), "{n}: {b:?}");
            assert_eq!((b[0].start, b[n - 1].end), (0, 9));
        }
    }
}
