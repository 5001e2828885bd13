//! The decoded picture buffer: pooled frames kept for reference and for reordering,
//! reference marking, and output in picture order count order by bumping (H.264 C.4).

use crate::level::dpb_frames_for_level;
use std::collections::VecDeque;
use transcode_core::{Error, MemoryConfig, Result};
use transcode_frame_pool::SharedFrame;

/// How a stored picture may be used for inter prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// Not used for reference (a non-reference picture, or one whose marking ended).
    Unused,
    /// A short-term reference, found by `frame_num`.
    ShortTerm,
    /// A long-term reference with its `LongTermFrameIdx`.
    LongTerm(u32),
}

impl Reference {
    pub fn is_reference(self) -> bool {
        !matches!(self, Reference::Unused)
    }
}

/// Whether a stored picture is still to be output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Output it in POC order. The usual case.
    Needed,
    /// Never output it (a picture decoded only as a reference, or a "non-existing"
    /// frame inferred from a gap in `frame_num`).
    NotNeeded,
}

/// What the decoder knows about a decoded picture when it stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PictureInfo {
    /// `PicOrderCnt` of the frame (the smaller of its fields' counts for field pairs).
    pub poc: i32,
    /// `frame_num` from the slice header.
    pub frame_num: u32,
    /// The marking the picture is stored with.
    pub reference: Reference,
    pub output: Output,
}

/// One picture in the DPB.
#[derive(Debug, Clone)]
pub struct Picture {
    /// The pixels, shared: cloning this handle for a reference list or another thread
    /// copies no pixels.
    pub frame: SharedFrame,
    pub poc: i32,
    pub frame_num: u32,
    pub reference: Reference,
    /// Still waiting to be output.
    pub needed_for_output: bool,
    /// Position in decoding order, counting from 0 for the first stored picture. Among
    /// short-term references the smallest is the one with the smallest `FrameNumWrap`.
    pub decode_order: u64,
}

/// Sizes of a [`Dpb`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpbConfig {
    /// Frames the DPB holds, for reference and for reordering together.
    ///
    /// Default from [`DpbConfig::for_stream`]: the level's [`dpb_frames_for_level`] (or
    /// the VUI's `max_dec_frame_buffering` when given), at most
    /// [`MemoryConfig::max_dpb_frames`]. Each frame costs one frame buffer.
    pub capacity: u32,
    /// Most pictures that may wait for output: when more wait, the one with the lowest
    /// POC is output without waiting for the DPB to fill.
    ///
    /// Default: `capacity`, which is the conforming output order of C.4.5.3 with the
    /// longest delay. The VUI's `max_num_reorder_frames` (FFmpeg's `has_b_frames`) gives
    /// the same order with the shortest delay.
    pub max_num_reorder: u32,
    /// `max_num_ref_frames` of the sequence parameter set: the sliding window keeps at
    /// most this many reference frames.
    pub max_num_ref_frames: u32,
}

impl DpbConfig {
    /// The sizes for an H.264 stream of `level_idc` and `width` x `height` pixels that
    /// needs `max_num_ref_frames` references, bounded by `memory`.
    ///
    /// `max_dec_frame_buffering` and `max_num_reorder`, from the VUI's bitstream
    /// restriction when present, tighten the capacity and the output delay.
    ///
    /// Errors with [`Error::LimitExceeded`] when the stream needs more reference frames
    /// than the capacity (a stream that cannot be decoded within the configured bound).
    pub fn for_stream(
        memory: &MemoryConfig,
        level_idc: u8,
        width: u32,
        height: u32,
        max_num_ref_frames: u32,
        vui: Option<(u32, u32)>,
    ) -> Result<DpbConfig> {
        let mut capacity = dpb_frames_for_level(level_idc, width, height);
        let mut max_num_reorder = capacity;
        if let Some((max_dec_frame_buffering, reorder)) = vui {
            capacity = capacity.min(max_dec_frame_buffering.max(1));
            max_num_reorder = reorder.min(capacity);
        }
        let capacity = capacity.min(memory.max_dpb_frames).max(1);
        Error::check_limit("dpb reference frames", u64::from(max_num_ref_frames), u64::from(capacity))?;
        Ok(DpbConfig { capacity, max_num_reorder: max_num_reorder.min(capacity), max_num_ref_frames })
    }
}

/// The decoded picture buffer.
///
/// ```text
///   decoder ── store(frame, info) ──► Dpb [ pic | pic | ... ≤ capacity ]
///                                       │ bumping: smallest POC first
///                                       ▼
///                         output queue ──► pop_output() ──► encoder / writer
///   reference lists ◄── short_term_refs() / long_term_refs() (SharedFrame clones)
/// ```
///
/// - Pictures leave the DPB when they are both output and no longer used for reference;
///   their frame returns to its pool when the last handle (in a reference list, the
///   output queue, another thread) is dropped.
/// - Storing never allocates: the picture slots and the output queue are allocated once,
///   at their bounds.
/// - The output queue holds what bumping produced; drain it with
///   [`Dpb::pop_output`] after every [`Dpb::store`] and [`Dpb::flush`]. Not draining
///   it is an error (the queue is bounded, like everything else).
///
/// Frames are stored whole: a decoder of field pictures stores the complementary field
/// pair once both fields are decoded.
#[derive(Debug)]
pub struct Dpb {
    config: DpbConfig,
    pictures: Vec<Picture>,
    output: VecDeque<SharedFrame>,
    output_limit: usize,
    decoded: u64,
}

impl Dpb {
    /// An empty DPB. Errors on a capacity of 0.
    pub fn new(config: DpbConfig) -> Result<Dpb> {
        if config.capacity == 0 || config.capacity > 16 {
            return Err(Error::invalid(format!("invalid dpb capacity {} (expected 1..=16)", config.capacity)));
        }
        let capacity = config.capacity as usize;
        // One store or flush outputs at most every stored picture plus the current one.
        let output_limit = 2 * (capacity + 1);
        Ok(Dpb {
            config,
            pictures: Vec::with_capacity(capacity),
            output: VecDeque::with_capacity(output_limit),
            output_limit,
            decoded: 0,
        })
    }

    pub fn config(&self) -> &DpbConfig {
        &self.config
    }

    /// Pictures stored now.
    pub fn len(&self) -> usize {
        self.pictures.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pictures.is_empty()
    }

    /// Every stored picture, in no particular order.
    pub fn pictures(&self) -> &[Picture] {
        &self.pictures
    }

    /// Short-term references, most recently decoded first (the initial order of P
    /// reference lists, descending `FrameNumWrap`).
    pub fn short_term_refs(&self) -> impl Iterator<Item = &Picture> + '_ {
        let mut order = [usize::MAX; 16];
        let mut n = 0;
        for (i, p) in self.pictures.iter().enumerate() {
            if p.reference == Reference::ShortTerm {
                order[n] = i;
                n += 1;
            }
        }
        let pics = &self.pictures;
        order[..n].sort_unstable_by_key(|&i| std::cmp::Reverse(pics[i].decode_order));
        (0..n).map(move |k| &pics[order[k]])
    }

    /// Long-term references, by ascending `LongTermFrameIdx`.
    pub fn long_term_refs(&self) -> impl Iterator<Item = &Picture> + '_ {
        let mut order = [usize::MAX; 16];
        let mut n = 0;
        for (i, p) in self.pictures.iter().enumerate() {
            if let Reference::LongTerm(_) = p.reference {
                order[n] = i;
                n += 1;
            }
        }
        let pics = &self.pictures;
        order[..n].sort_unstable_by_key(|&i| match pics[i].reference {
            Reference::LongTerm(idx) => idx,
            _ => u32::MAX,
        });
        (0..n).map(move |k| &pics[order[k]])
    }

    /// Stores a decoded picture, outputting pictures by bumping as needed (C.4.5): when
    /// the DPB is full, the picture with the smallest POC is output (and removed if it
    /// is not a reference) until there is room; a non-reference picture whose POC is
    /// below every waiting picture's is output at once instead of stored. Afterwards,
    /// pictures are output while more than `max_num_reorder` wait.
    ///
    /// Call [`Dpb::sliding_window`] (or apply the slice's memory management operations)
    /// before storing a reference picture, and drain [`Dpb::pop_output`] afterwards.
    ///
    /// Errors when the DPB is full of reference pictures that are already output (the
    /// stream uses more references than its DPB size allows), or when the output queue
    /// was not drained.
    pub fn store(&mut self, frame: SharedFrame, info: PictureInfo) -> Result<()> {
        self.remove_unused();
        let needed = info.output == Output::Needed;
        while self.pictures.len() >= self.config.capacity as usize {
            if !info.reference.is_reference() && needed && !matches!(self.lowest_waiting_poc(), Some(p) if p <= info.poc) {
                // C.4.5.2: output the current picture directly, do not store it.
                self.push_output(frame)?;
                self.decoded += 1;
                return Ok(());
            }
            if !self.bump()? {
                return Err(Error::invalid(format!(
                    "decoded picture buffer full of {} reference frames (capacity {})",
                    self.pictures.len(),
                    self.config.capacity
                )));
            }
        }
        self.pictures.push(Picture {
            frame,
            poc: info.poc,
            frame_num: info.frame_num,
            reference: info.reference,
            needed_for_output: needed,
            decode_order: self.decoded,
        });
        self.decoded += 1;
        while self.waiting() > self.config.max_num_reorder as usize {
            self.bump()?;
        }
        Ok(())
    }

    /// The next output frame, in POC order.
    pub fn pop_output(&mut self) -> Option<SharedFrame> {
        self.output.pop_front()
    }

    /// Frames in the output queue.
    pub fn output_len(&self) -> usize {
        self.output.len()
    }

    /// The sliding window marking (8.2.5.3): when the references fill
    /// `max_num_ref_frames`, the short-term reference decoded first becomes unused.
    /// Returns whether one was unmarked.
    pub fn sliding_window(&mut self) -> bool {
        let refs = self.pictures.iter().filter(|p| p.reference.is_reference()).count();
        if refs < self.config.max_num_ref_frames.max(1) as usize {
            return false;
        }
        let oldest = self
            .pictures
            .iter_mut()
            .filter(|p| p.reference == Reference::ShortTerm)
            .min_by_key(|p| p.decode_order);
        match oldest {
            Some(p) => {
                p.reference = Reference::Unused;
                self.remove_unused();
                true
            }
            None => false,
        }
    }

    /// Marks every picture for which `select` is true as unused for reference (memory
    /// management operations 1 and 2, or a decoder's own rule). Returns how many.
    pub fn unmark(&mut self, mut select: impl FnMut(&Picture) -> bool) -> usize {
        let mut n = 0;
        for p in self.pictures.iter_mut().filter(|p| p.reference.is_reference()) {
            if select(p) {
                p.reference = Reference::Unused;
                n += 1;
            }
        }
        self.remove_unused();
        n
    }

    /// Makes the first picture for which `select` is true a long-term reference with
    /// `long_term_frame_idx`, unmarking any other long-term reference with that index
    /// (operation 3, and 6 for the current picture after storing it). Returns whether a
    /// picture matched.
    pub fn mark_long_term(&mut self, long_term_frame_idx: u32, mut select: impl FnMut(&Picture) -> bool) -> bool {
        let Some(target) = self.pictures.iter().position(|p| p.reference.is_reference() && select(p)) else {
            return false;
        };
        for (i, p) in self.pictures.iter_mut().enumerate() {
            if i != target && p.reference == Reference::LongTerm(long_term_frame_idx) {
                p.reference = Reference::Unused;
            }
        }
        self.pictures[target].reference = Reference::LongTerm(long_term_frame_idx);
        self.remove_unused();
        true
    }

    /// Marks every picture unused for reference (an IDR picture, operation 5).
    pub fn unmark_all(&mut self) {
        self.unmark(|_| true);
    }

    /// Outputs every waiting picture in POC order and empties the DPB of
    /// non-references: at an IDR picture without `no_output_of_prior_pics_flag`, after
    /// operation 5, and at the end of the stream (with [`Dpb::unmark_all`] first, to
    /// empty it completely).
    pub fn flush(&mut self) -> Result<()> {
        while self.bump()? {}
        self.remove_unused();
        Ok(())
    }

    /// Drops every picture without output (an IDR picture with
    /// `no_output_of_prior_pics_flag`, or a seek). The output queue is kept.
    pub fn clear(&mut self) {
        self.pictures.clear();
    }

    fn waiting(&self) -> usize {
        self.pictures.iter().filter(|p| p.needed_for_output).count()
    }

    fn lowest_waiting_poc(&self) -> Option<i32> {
        self.pictures.iter().filter(|p| p.needed_for_output).map(|p| p.poc).min()
    }

    /// Outputs the waiting picture with the smallest POC; false when none waits.
    fn bump(&mut self) -> Result<bool> {
        let Some(i) = (0..self.pictures.len())
            .filter(|&i| self.pictures[i].needed_for_output)
            .min_by_key(|&i| self.pictures[i].poc)
        else {
            return Ok(false);
        };
        let frame = self.pictures[i].frame.clone();
        self.push_output(frame)?;
        self.pictures[i].needed_for_output = false;
        if !self.pictures[i].reference.is_reference() {
            self.pictures.swap_remove(i);
        }
        Ok(true)
    }

    fn push_output(&mut self, frame: SharedFrame) -> Result<()> {
        if self.output.len() >= self.output_limit {
            return Err(Error::LimitExceeded {
                what: "dpb output queue (drain it with pop_output)",
                requested: self.output.len() as u64 + 1,
                limit: self.output_limit as u64,
            });
        }
        self.output.push_back(frame);
        Ok(())
    }

    fn remove_unused(&mut self) {
        self.pictures.retain(|p| p.needed_for_output || p.reference.is_reference());
    }
}
