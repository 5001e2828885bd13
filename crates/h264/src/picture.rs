//! Picture storage: one decoded picture buffer slot holds a pooled frame (the pixels,
//! shared with the output queue and the caller) plus the motion data later pictures
//! need (co-located motion for direct prediction). Motion buffers are sized once, when
//! a sequence parameter set is activated, and reused for every picture after that.

use transcode_core::{ColorDescription, FieldOrder};
use transcode_frame_pool::SharedFrame;

/// Reference marking of a stored picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefState {
    #[default]
    Unused,
    Short,
    Long,
}

/// One decoded picture buffer slot.
///
/// ```text
///   Picture ─ pixels: SharedFrame ──► pool buffer (also held by the output queue
///           │                          and the caller until they drop it)
///           ├ mv            per 4x4 block, per list (kept for direct prediction)
///           ├ col_ref_*     per 8x8 block, per list (idem)
///           └ ref_idx/uid   per 4x4 block: only while the picture is being decoded,
///                           lent by the decoder's single set of work buffers
/// ```
#[derive(Debug, Default)]
pub struct Picture {
    /// The decoded pixels once the picture is finished; `None` while it is being
    /// decoded (the decoder writes through its unique frame handle) and when free.
    pub pixels: Option<SharedFrame>,
    /// Bytes between rows of each plane of the frames of this sequence.
    pub strides: [usize; 3],
    /// Motion vectors per 4x4 luma block, per list.
    pub mv: [Vec<[i16; 2]>; 2],
    /// Reference index per 4x4 block (-1: list unused or intra). Full size only while
    /// the picture is decoded; empty otherwise.
    pub ref_idx: [Vec<i8>; 2],
    /// Unique id of the referenced picture per 4x4 block (-1: none). Full size only
    /// while the picture is decoded; empty otherwise.
    pub ref_uid: [Vec<i32>; 2],
    /// Reference index per 8x8 block, kept after decoding. H.264 gives each 8x8
    /// partition one reference per list, so this loses nothing and is a quarter of the
    /// size of `ref_idx`.
    pub col_ref_idx: [Vec<i8>; 2],
    /// Unique id of the referenced picture per 8x8 block, kept after decoding.
    pub col_ref_uid: [Vec<i32>; 2],
    /// Whether each macroblock is intra coded.
    pub mb_intra: Vec<bool>,
    /// Whether each macroblock is a field macroblock (MBAFF frames; all false in
    /// other pictures), kept for direct prediction of later pictures. Empty in
    /// sequences without MBAFF ([`Picture::set_mbaff`]).
    pub mb_field: Vec<bool>,
    /// 4x4 blocks per row.
    pub w4: usize,
    pub poc: i32,
    pub frame_num: u32,
    pub frame_num_wrap: i32,
    pub long_term_idx: u32,
    pub state: RefState,
    /// Decoded and not yet handed to the output queue.
    pub waiting_output: bool,
    /// Being decoded right now.
    pub decoding: bool,
    /// Unique id, increasing with decoding order.
    pub uid: i32,
    /// Whether the picture was flagged as damaged (concealed macroblocks).
    pub concealed: bool,
    /// The colour description of the SPS the picture was decoded with.
    pub color: ColorDescription,
    /// The chroma location of that SPS ([`crate::params::Sps::chroma_loc`]).
    pub chroma_loc: Option<u8>,
    /// Picture order counts of the top and bottom fields (`i32::MAX` for a field not
    /// decoded yet); `poc` is the smaller one.
    pub field_poc: [i32; 2],
    /// Decoded fields: bit 0 top, bit 1 bottom (3 for a frame or a field pair).
    pub fields: u8,
    /// Fields marked as used for reference (bits as in `fields`; 3 for a reference
    /// frame). `state` says whether they are short- or long-term.
    pub ref_fields: u8,
    /// Whether the picture was coded as fields (each field's motion data then fills
    /// one half of the motion arrays, see `field_half`).
    pub coded_fields: bool,
    /// For field-coded pictures: which half of the motion arrays holds the data of
    /// the top and of the bottom field (the field being decoded always writes the
    /// first half, so a finished first field sits in the first half until its second
    /// field starts).
    pub field_half: [u8; 2],
    /// The first field of a frame whose second field may still follow: the slot is
    /// not free, and the decoder still writes its pixels.
    pub pending_pair: bool,
    /// Whether the picture being decoded is a field (deblocking then treats every
    /// macroblock as a field macroblock).
    pub field_pic: bool,
    /// Whether the picture is an MBAFF frame (macroblock pairs, frame or field each).
    pub mbaff: bool,
    /// Whether the first field decoded was the top one.
    pub first_field_top: bool,
    /// How the finished frame's fields are ordered in time.
    pub field_order: FieldOrder,
}

impl Picture {
    /// Heap bytes [`Picture::alloc`] gives a slot of `mb_w` x `mb_h` macroblocks.
    pub fn slot_bytes(mb_w: usize, mb_h: usize) -> usize {
        let n4 = mb_w * mb_h * 16;
        let n8 = mb_w * mb_h * 4;
        2 * (n4 * 4 + n8 * (1 + 4)) + mb_w * mb_h
    }

    /// Heap bytes of the per-4x4 reference work buffers of the picture being decoded.
    pub fn work_bytes(mb_w: usize, mb_h: usize) -> usize {
        2 * mb_w * mb_h * 16 * (1 + 4)
    }

    /// Sizes the kept buffers for `mb_w` x `mb_h` macroblocks with exact capacities,
    /// drops the pixels of the previous sequence and marks the slot free.
    pub fn alloc(&mut self, mb_w: usize, mb_h: usize, strides: [usize; 3]) {
        let n4 = mb_w * mb_h * 16;
        let n8 = mb_w * mb_h * 4;
        self.pixels = None;
        self.strides = strides;
        self.w4 = mb_w * 4;
        for l in 0..2 {
            resize_exact(&mut self.mv[l], n4, [0; 2]);
            resize_exact(&mut self.col_ref_idx[l], n8, -1);
            resize_exact(&mut self.col_ref_uid[l], n8, -1);
            self.ref_idx[l] = Vec::new();
            self.ref_uid[l] = Vec::new();
        }
        resize_exact(&mut self.mb_intra, mb_w * mb_h, false);
        // Sized by `set_mbaff` for MBAFF sequences only.
        self.mb_field = Vec::new();
        self.state = RefState::Unused;
        self.waiting_output = false;
        self.decoding = false;
    }

    /// Sizes the per-macroblock field flags for a sequence with (`mbaff`) or without
    /// MBAFF frames: `mb_w * mb_h` flags, or none (they then read as frame).
    pub fn set_mbaff(&mut self, mb_w: usize, mb_h: usize, mbaff: bool) {
        let n = if mbaff { mb_w * mb_h } else { 0 };
        if self.mb_field.len() != n {
            resize_exact(&mut self.mb_field, n, false);
        }
    }

    /// Whether the slot can take a new picture.
    pub fn is_free(&self) -> bool {
        self.state == RefState::Unused
            && !self.waiting_output
            && !self.decoding
            && !self.pending_pair
    }

    /// Offset (in 4x4 blocks) of the motion data of field `parity` (0 top, 1
    /// bottom) of a field-coded picture; 0 for frames.
    pub fn field_base4(&self, parity: usize) -> usize {
        if self.coded_fields {
            self.field_half[parity & 1] as usize * self.mv[0].len() / 2
        } else {
            0
        }
    }

    /// Swaps the halves of the kept motion arrays: the finished first field moves to
    /// the second half so that the second field can be decoded into the first. The
    /// caller sets `field_half`.
    pub fn swap_field_halves(&mut self) {
        for l in 0..2 {
            let h = self.mv[l].len() / 2;
            self.mv[l].rotate_left(h);
            let h8 = self.col_ref_idx[l].len() / 2;
            self.col_ref_idx[l].rotate_left(h8);
            self.col_ref_uid[l].rotate_left(h8);
        }
        let hm = self.mb_intra.len() / 2;
        self.mb_intra.rotate_left(hm);
    }

    /// Plane `p` of the stored pixels (empty while none are stored).
    #[inline]
    pub fn plane(&self, p: usize) -> &[u8] {
        match &self.pixels {
            Some(f) => f.plane(p),
            None => &[],
        }
    }

    /// Reference index and referenced picture id of list `l` at 8x8 block `k` (raster
    /// order over the picture) of a stored picture: its co-located data for direct
    /// prediction.
    #[inline]
    pub fn col_ref(&self, l: usize, k: usize) -> (i8, i32) {
        match (self.col_ref_idx[l].get(k), self.col_ref_uid[l].get(k)) {
            (Some(&r), Some(&u)) => (r, u),
            _ => (-1, -1),
        }
    }

    /// Keeps the per-8x8 reference data of the picture just decoded (the top-left 4x4
    /// block of each 8x8 block carries the partition's values).
    /// `rows4` limits it to the first rows of 4x4 blocks (a field fills half).
    pub fn keep_col_refs(&mut self, rows4: usize) {
        let w4 = self.w4;
        if w4 < 2 {
            return;
        }
        for l in 0..2 {
            let rows = self.ref_idx[l][..(rows4 * w4).min(self.ref_idx[l].len())]
                .chunks_exact(2 * w4)
                .zip(self.ref_uid[l].chunks_exact(2 * w4));
            let dst = self.col_ref_idx[l]
                .chunks_exact_mut(w4 / 2)
                .zip(self.col_ref_uid[l].chunks_exact_mut(w4 / 2));
            for ((si, su), (di, du)) in rows.zip(dst) {
                for (x, (d, e)) in di.iter_mut().zip(du.iter_mut()).enumerate() {
                    *d = si[2 * x];
                    *e = su[2 * x];
                }
            }
        }
    }

    /// Heap bytes held by this slot's own buffers (not the pooled frame).
    pub fn bytes(&self) -> usize {
        self.mv.iter().map(|v| v.capacity() * 4).sum::<usize>()
            + self.ref_idx.iter().map(|v| v.capacity()).sum::<usize>()
            + self.ref_uid.iter().map(|v| v.capacity() * 4).sum::<usize>()
            + self.col_ref_idx.iter().map(|v| v.capacity()).sum::<usize>()
            + self
                .col_ref_uid
                .iter()
                .map(|v| v.capacity() * 4)
                .sum::<usize>()
            + self.mb_intra.capacity()
            + self.mb_field.capacity()
    }
}

/// Resizes `v` to `n` copies of `value` holding exactly `n` elements of capacity, so
/// the bytes reserved against the budget are the bytes allocated.
pub fn resize_exact<T: Copy>(v: &mut Vec<T>, n: usize, value: T) {
    if v.capacity() != n {
        *v = Vec::with_capacity(n);
    }
    v.clear();
    v.resize(n, value);
}
