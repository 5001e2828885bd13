//! Picture storage: the decoded planes plus the motion data later pictures need
//! (co-located motion for direct prediction). All buffers are sized once, when a
//! sequence parameter set is activated, and reused for every picture after that.

/// Reference marking of a stored picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefState {
    #[default]
    Unused,
    Short,
    Long,
}

/// One decoded picture buffer slot.
#[derive(Debug, Default)]
pub struct Picture {
    /// Y, Cb, Cr planes of the coded size.
    pub planes: [Vec<u8>; 3],
    /// Bytes between rows of each plane. Every stage reads strides from here, so the
    /// storage can move to padded, aligned pooled frames without touching them.
    pub strides: [usize; 3],
    /// Motion vectors per 4x4 luma block, per list.
    pub mv: [Vec<[i16; 2]>; 2],
    /// Reference index per 4x4 block (-1: list unused or intra).
    pub ref_idx: [Vec<i8>; 2],
    /// Unique id of the referenced picture per 4x4 block (-1: none).
    pub ref_uid: [Vec<i32>; 2],
    /// Whether each macroblock is intra coded.
    pub mb_intra: Vec<bool>,
    pub poc: i32,
    pub frame_num: u32,
    pub frame_num_wrap: i32,
    pub long_term_idx: u32,
    pub state: RefState,
    /// Decoded and not yet handed to the output queue.
    pub waiting_output: bool,
    /// In the output queue, not yet returned by `next_frame`.
    pub queued: bool,
    /// Being decoded right now.
    pub decoding: bool,
    /// Unique id, increasing with decoding order.
    pub uid: i32,
    /// Whether the picture was flagged as damaged (concealed macroblocks).
    pub concealed: bool,
}

impl Picture {
    /// Sizes the buffers for `mb_w` x `mb_h` macroblocks, reusing existing capacity.
    pub fn alloc(&mut self, mb_w: usize, mb_h: usize) {
        let (w, h) = (mb_w * 16, mb_h * 16);
        self.strides = [w, w / 2, w / 2];
        self.planes[0].resize(w * h, 0);
        self.planes[1].resize(w * h / 4, 0);
        self.planes[2].resize(w * h / 4, 0);
        let n4 = mb_w * mb_h * 16;
        for l in 0..2 {
            self.mv[l].resize(n4, [0; 2]);
            self.ref_idx[l].resize(n4, -1);
            self.ref_uid[l].resize(n4, -1);
        }
        self.mb_intra.resize(mb_w * mb_h, false);
        self.state = RefState::Unused;
        self.waiting_output = false;
        self.queued = false;
        self.decoding = false;
    }

    /// Whether the slot can take a new picture.
    pub fn is_free(&self) -> bool {
        self.state == RefState::Unused && !self.waiting_output && !self.queued && !self.decoding
    }

    /// Bytes held by this slot.
    pub fn bytes(&self) -> usize {
        self.planes.iter().map(|p| p.capacity()).sum::<usize>()
            + self.mv.iter().map(|v| v.capacity() * 4).sum::<usize>()
            + self.ref_idx.iter().map(|v| v.capacity()).sum::<usize>()
            + self.ref_uid.iter().map(|v| v.capacity() * 4).sum::<usize>()
            + self.mb_intra.capacity()
    }
}
