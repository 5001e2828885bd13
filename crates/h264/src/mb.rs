//! The macroblock layer: per-picture macroblock tables, the slice data loop, CAVLC
//! macroblock parsing, motion vector prediction (8.4.1), direct prediction and the
//! reconstruction of each macroblock (prediction plus inverse transform).

use crate::bitreader::BitReader;
use crate::cabac::Cabac;
use crate::cavlc;
use crate::inter::{self, RefPlane, Weighting};
use crate::intra::{self, Avail};
use crate::params::{Pps, Sps};
use crate::picture::Picture;
use crate::slice::{SliceHeader, SliceType};
use crate::tables::*;
use crate::transform;
use transcode_core::{Error, Result};

/// Macroblock kinds, as far as later stages care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MbKind {
    #[default]
    None,
    I4x4,
    I8x8,
    I16x16,
    IPcm,
    PSkip,
    PInter,
    BSkip,
    BDirect,
    BInter,
}

impl MbKind {
    pub fn is_intra(self) -> bool {
        matches!(
            self,
            MbKind::I4x4 | MbKind::I8x8 | MbKind::I16x16 | MbKind::IPcm
        )
    }
    pub fn is_skip(self) -> bool {
        matches!(self, MbKind::PSkip | MbKind::BSkip)
    }
}

/// What later macroblocks and the deblocking filter need to know about one macroblock.
#[derive(Debug, Clone, Copy, Default)]
pub struct MbInfo {
    /// Slice number within the picture (1-based); 0 = not decoded yet.
    pub slice: u32,
    pub kind: MbKind,
    pub qp: u8,
    pub cbp: u8,
    pub t8x8: bool,
    pub chroma_pred: u8,
    /// CABAC coded_block_flag of the DC blocks: bit 0 luma, 1 Cb, 2 Cr.
    pub cbf_dc: u8,
    /// Direct-predicted 8x8 sub-macroblocks (bit per sub-macroblock), for CABAC contexts.
    pub direct: u8,
    /// All 16 blocks share references and motion vectors (lets the deblocking filter
    /// skip the internal edges of macroblocks without luma coefficients).
    pub uniform: bool,
}

/// Deblocking parameters of one slice.
#[derive(Debug, Clone, Copy, Default)]
pub struct SliceDeblock {
    pub disable: u32,
    pub alpha: i32,
    pub beta: i32,
    pub chroma_qp_offset: [i32; 2],
}

/// Per-picture macroblock tables, sized when the sequence is activated.
#[derive(Debug, Default)]
pub struct MbState {
    pub mb_w: usize,
    pub mb_h: usize,
    /// 4:0:0: the chroma planes are neutral (128) and never filtered.
    pub no_chroma: bool,
    pub mbs: Vec<MbInfo>,
    /// TotalCoeff per 4x4 luma block (picture raster of 4x4 blocks).
    pub nnz: Vec<u8>,
    /// TotalCoeff per 4x4 chroma block, per component (raster of chroma 4x4 blocks).
    pub nnz_c: [Vec<u8>; 2],
    /// Intra 4x4/8x8 prediction mode per 4x4 block (2 for other macroblocks).
    pub ipred: Vec<u8>,
    /// Absolute motion vector differences per 4x4 block, per list (CABAC contexts).
    pub mvd: [Vec<[u8; 2]>; 2],
    /// Deblocking parameters per slice number (index 0 unused).
    pub slices: Vec<SliceDeblock>,
    /// Whether each macroblock is a field macroblock of an MBAFF frame (its pair
    /// holds the two fields' rows); false in other pictures.
    pub mb_field: Vec<bool>,
}

impl MbState {
    pub fn alloc(&mut self, mb_w: usize, mb_h: usize) {
        self.mb_w = mb_w;
        self.mb_h = mb_h;
        let n = mb_w * mb_h;
        self.mbs.clear();
        self.mbs.resize(n, MbInfo::default());
        self.nnz.clear();
        self.nnz.resize(n * 16, 0);
        for c in &mut self.nnz_c {
            c.clear();
            c.resize(n * 4, 0);
        }
        self.ipred.clear();
        self.ipred.resize(n * 16, 2);
        for m in &mut self.mvd {
            m.clear();
            m.resize(n * 16, [0; 2]);
        }
        self.mb_field.clear();
        self.mb_field.resize(n, false);
        self.slices.clear();
        // One entry per slice (at most one per macroblock), the unused entry 0 and
        // the entry of concealed macroblocks.
        self.slices.reserve(n + 2);
    }

    /// Heap bytes [`MbState::alloc`] allocates for `mb_w` x `mb_h` macroblocks.
    pub fn bytes_for(mb_w: usize, mb_h: usize) -> usize {
        let n = mb_w * mb_h;
        n * std::mem::size_of::<MbInfo>()
            + n * 16
            + 2 * n * 4
            + n * 16
            + 2 * n * 16 * 2
            + (n + 2) * std::mem::size_of::<SliceDeblock>()
            + n
    }

    /// Marks every macroblock as not yet decoded.
    pub fn reset(&mut self) {
        for m in &mut self.mbs {
            m.slice = 0;
        }
        self.mb_field.fill(false);
        self.slices.clear();
        self.slices.push(SliceDeblock::default());
    }

    pub fn bytes(&self) -> usize {
        self.mbs.capacity() * std::mem::size_of::<MbInfo>()
            + self.nnz.capacity()
            + self.nnz_c.iter().map(|c| c.capacity()).sum::<usize>()
            + self.ipred.capacity()
            + self.mvd.iter().map(|m| m.capacity() * 2).sum::<usize>()
            + self.slices.capacity() * std::mem::size_of::<SliceDeblock>()
            + self.mb_field.capacity()
    }

    /// Fills macroblocks that no slice covered: copies them from the most recent
    /// reference picture if any, else mid-grey, and marks them intra so the
    /// deblocking filter smooths their edges. Returns how many were concealed. In a
    /// field, `planes` start at the field's first row and `base` is that row's
    /// offset, so the copy comes from the same field of the reference.
    pub fn conceal_missing(
        &mut self,
        pic: &mut Picture,
        planes: &mut [&mut [u8]; 3],
        dpb: &[Picture],
        total: usize,
        base: [usize; 3],
    ) -> usize {
        let missing = self.mbs[..total].iter().filter(|m| m.slice == 0).count();
        if missing == 0 {
            return 0;
        }
        let src = dpb
            .iter()
            .filter(|p| {
                p.state != crate::picture::RefState::Unused && !p.decoding && p.pixels.is_some()
            })
            .max_by_key(|p| p.uid);
        let (w, cw) = (pic.strides[0], pic.strides[1]);
        if self.slices.is_empty() {
            self.slices.push(SliceDeblock::default());
        }
        // Concealed macroblocks are not filtered (they belong to no slice).
        self.slices.push(SliceDeblock {
            disable: 1,
            ..Default::default()
        });
        let sn = (self.slices.len() - 1) as u32;
        for addr in 0..total {
            if self.mbs[addr].slice != 0 {
                continue;
            }
            let (mx, my) = (addr % self.mb_w, addr / self.mb_w);
            for p in 0..3 {
                let (stride, size) = if p == 0 { (w, 16) } else { (cw, 8) };
                for y in 0..size {
                    let o = (my * size + y) * stride + mx * size;
                    match src {
                        Some(s) => {
                            let from = o + base[p];
                            let (a, b) =
                                (&s.plane(p)[from..from + size], &mut planes[p][o..o + size]);
                            b.copy_from_slice(a);
                        }
                        None => planes[p][o..o + size].fill(128),
                    }
                }
            }
            self.mbs[addr] = MbInfo {
                slice: sn,
                kind: MbKind::I16x16,
                ..Default::default()
            };
            pic.mb_intra[addr] = true;
            let w4 = self.mb_w * 4;
            for y in 0..4 {
                for x in 0..4 {
                    let i = (my * 4 + y) * w4 + mx * 4 + x;
                    for l in 0..2 {
                        pic.ref_idx[l][i] = -1;
                        pic.ref_uid[l][i] = -1;
                        pic.mv[l][i] = [0; 2];
                    }
                }
            }
        }
        missing
    }
}

/// Reference lists of a slice, as DPB slot numbers plus what prediction needs.
#[derive(Debug, Clone)]
pub struct SliceRefs {
    pub slot: [[usize; 32]; 2],
    pub poc: [[i32; 32]; 2],
    pub uid: [[i32; 32]; 2],
    pub long: [[bool; 32]; 2],
    /// What each entry references: 0 a frame, 1 its top field, 2 its bottom field.
    pub parity: [[u8; 32]; 2],
    /// Whether the entry is the first field of the frame being decoded (its pixels
    /// and motion are read from the current picture, not from the DPB).
    pub own: [[bool; 32]; 2],
    pub count: [usize; 2],
}

impl Default for SliceRefs {
    fn default() -> Self {
        SliceRefs {
            slot: [[0; 32]; 2],
            poc: [[0; 32]; 2],
            uid: [[-1; 32]; 2],
            long: [[false; 32]; 2],
            parity: [[0; 32]; 2],
            own: [[false; 32]; 2],
            count: [0; 2],
        }
    }
}

/// Partition shapes of inter macroblocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    P16x16,
    P16x8,
    P8x16,
    P8x8,
}

/// A neighbouring block for motion vector prediction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Nb {
    pub avail: bool,
    pub r: i8,
    pub mv: [i16; 2],
}

pub(crate) const NB_NONE: Nb = Nb {
    avail: false,
    r: -1,
    mv: [0, 0],
};

fn median(a: i16, b: i16, c: i16) -> i16 {
    a.max(b).min(a.min(b).max(c))
}

/// Decodes the macroblocks of one slice into the current picture.
pub struct SliceDecoder<'a> {
    pub sps: &'a Sps,
    pub pps: &'a Pps,
    pub hdr: &'a SliceHeader,
    pub pic: &'a mut Picture,
    /// Planes of the picture being decoded (its unique pooled frame).
    pub planes: [&'a mut [u8]; 3],
    pub strides: [usize; 3],
    /// Offset of the first sample of the picture in each plane: one frame row for a
    /// bottom field, else 0 (`strides` are then twice the frame's).
    pub base: [usize; 3],
    /// The picture structure: 0 frame, 1 top field, 2 bottom field.
    pub field: u8,
    /// Coefficient scans (scan index → raster position): zig-zag in frames, the
    /// field scans in fields.
    pub scan4: &'static [u8; 16],
    pub scan8: &'static [u8; 64],
    pub dpb: &'a [Picture],
    pub st: &'a mut MbState,
    pub refs: &'a SliceRefs,
    pub slice_num: u32,
    pub mb_w: usize,
    pub mb_h: usize,
    pub w4: usize,
    pub mb_x: usize,
    pub mb_y: usize,
    pub mb_addr: usize,
    pub qp: i32,
    pub decoded: usize,
    /// Dequantisation factors LevelScale4x4 per list and qP % 6, raster order.
    pub ls4: [[[i32; 16]; 6]; 6],
    /// LevelScale8x8 per list (intra, inter) and qP % 6.
    pub ls8: [[[i32; 64]; 6]; 2],
    /// Implicit bi-prediction weights `w0` per (ref0, ref1); `w1 = 64 - w0`, for frame
    /// references, then for the field references of top and bottom field macroblocks
    /// of an MBAFF frame (field POCs, 8.4.2.3.1).
    pub implicit_w: [[[i8; 32]; 32]; 3],
    // Current macroblock.
    pub cur: MbInfo,
    pub luma: [i32; 256],
    pub luma_nz: u16,
    pub dc: [i32; 16],
    pub chroma: [i32; 128],
    pub chroma_nz: u8,
    pub cdc: [[i32; 4]; 2],
    pub i4modes: [u8; 16],
    pub i16mode: u8,
    pub sub_types: [u8; 4],
    pub shape: Shape,
    /// Prediction list flags per partition (bit 0 L0, bit 1 L1).
    pub part_pred: [u8; 4],
    pub last_dqp_nonzero: bool,
    /// Scratch for the list-0 and list-1 predictions of a bi-predicted or weighted block.
    pub mc_tmp: [[u8; 256]; 2],
    /// Availability of the macroblocks above-left, above, above-right and left of the
    /// current one, then the current one and the one to its right (never available).
    pub near_avail: [bool; 6],
    /// Whether the picture is an MBAFF frame (macroblock pairs, frame or field each).
    pub mbaff: bool,
    /// In an MBAFF frame: whether the current macroblock (its pair) is field coded.
    pub mb_field: bool,
    /// The macroblock row the current macroblock's samples start at, in the rows of
    /// its own structure: `mb_y` except for field macroblocks of an MBAFF frame, whose
    /// field rows start at the pair's row (`strides` and `base` then address the field).
    pub pix_y: usize,
    /// The frame's strides (`strides` doubles them for field macroblocks).
    pub frame_strides: [usize; 3],
    /// In an MBAFF frame: the pairs to the left, above, above-right and above-left of
    /// the current one (A, B, C, D), `None` when unavailable, else whether they are
    /// field pairs.
    pub pairs: [Option<bool>; 4],
    /// In an MBAFF frame: where the neighbouring 4x4 blocks of the current
    /// macroblock lie, worked out once by `set_mb_mbaff` (Table 6-4).
    pub(crate) mbaff_nb: crate::mbaff::MbaffNb,
    /// The slice's frame reference lists, and in an MBAFF frame the field lists of
    /// field macroblocks of either parity (8.4.2.1); `refs` is the current one.
    pub frame_refs: &'a SliceRefs,
    pub field_refs: Option<&'a [SliceRefs; 2]>,
    /// Which implicit weight table applies: 0 frame, 1 top field, 2 bottom field.
    pub wsel: usize,
    pub cabac: Cabac,
    pub r: BitReader<'a>,
}

impl<'a> SliceDecoder<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        sps: &'a Sps,
        pps: &'a Pps,
        hdr: &'a SliceHeader,
        pic: &'a mut Picture,
        planes: [&'a mut [u8]; 3],
        dpb: &'a [Picture],
        st: &'a mut MbState,
        refs: &'a SliceRefs,
    ) -> Self {
        let mb_w = st.mb_w;
        let mb_h = st.mb_h;
        let mut ls4 = [[[0i32; 16]; 6]; 6];
        for l in 0..6 {
            for m in 0..6 {
                for k in 0..16 {
                    let pos = ZIGZAG4[k] as usize;
                    ls4[l][m][pos] =
                        pps.scaling.l4[l][k] as i32 * NORM_ADJUST4[m][class4(pos)] as i32;
                }
            }
        }
        let mut ls8 = [[[0i32; 64]; 6]; 2];
        for l in 0..2 {
            for m in 0..6 {
                for k in 0..64 {
                    let pos = ZIGZAG8[k] as usize;
                    ls8[l][m][pos] =
                        pps.scaling.l8[l][k] as i32 * NORM_ADJUST8[m][class8(pos)] as i32;
                }
            }
        }
        let mut implicit_w = [[[32i8; 32]; 32]; 3];
        if hdr.slice_type == SliceType::B && pps.weighted_bipred_idc == 2 {
            implicit_w[0] = implicit_weights(refs, pic.poc);
        }
        st.slices.push(SliceDeblock {
            disable: hdr.disable_deblocking,
            alpha: hdr.alpha_offset,
            beta: hdr.beta_offset,
            chroma_qp_offset: pps.chroma_qp_offset,
        });
        st.no_chroma = sps.monochrome;
        // Slice numbers index the deblocking parameters pushed just above.
        let slice_num = (st.slices.len() - 1) as u32;
        let strides = pic.strides;
        SliceDecoder {
            sps,
            pps,
            hdr,
            strides,
            base: [0; 3],
            field: 0,
            scan4: &ZIGZAG4,
            scan8: &ZIGZAG8,
            pic,
            planes,
            dpb,
            st,
            refs,
            slice_num,
            mb_w,
            mb_h,
            w4: mb_w * 4,
            mb_x: 0,
            mb_y: 0,
            mb_addr: 0,
            qp: hdr.qp,
            decoded: 0,
            ls4,
            ls8,
            implicit_w,
            mbaff: false,
            mb_field: false,
            pix_y: 0,
            frame_strides: strides,
            pairs: [None; 4],
            mbaff_nb: crate::mbaff::MbaffNb::default(),
            frame_refs: refs,
            field_refs: None,
            wsel: 0,
            cur: MbInfo::default(),
            luma: [0; 256],
            luma_nz: 0,
            dc: [0; 16],
            chroma: [0; 128],
            chroma_nz: 0,
            cdc: [[0; 4]; 2],
            i4modes: [0; 16],
            i16mode: 0,
            sub_types: [0; 4],
            shape: Shape::P16x16,
            part_pred: [0; 4],
            last_dqp_nonzero: false,
            near_avail: [false; 6],
            mc_tmp: [[0; 256]; 2],
            cabac: Cabac::default(),
            r: BitReader::new(&[]),
        }
    }

    pub fn decoded_mbs(&self) -> usize {
        self.decoded
    }

    /// Decodes slice_data() from the RBSP.
    pub fn decode(&mut self, rbsp: &'a [u8]) -> Result<()> {
        if self.mbaff {
            return self.decode_mbaff(rbsp);
        }
        self.r = BitReader::new(rbsp);
        self.r.skip(self.hdr.data_bit_offset);
        let total = self.mb_w * self.mb_h;
        let mut addr = self.hdr.first_mb as usize;
        if self.pps.cabac {
            self.r.align();
            self.cabac
                .init_slice(self.hdr.slice_type, self.hdr.cabac_init_idc, self.hdr.qp);
            self.cabac.start(&self.r)?;
        }
        let mut skip_run: i64 = -1;
        loop {
            if addr >= total {
                return Err(Error::invalid("slice runs past the last macroblock"));
            }
            if self.st.mbs[addr].slice != 0 {
                return Err(Error::invalid(format!("macroblock {addr} decoded twice")));
            }
            self.set_mb(addr);
            let more;
            if self.pps.cabac {
                let skipped = self.hdr.slice_type != SliceType::I && self.cabac_skip_flag();
                if skipped {
                    self.last_dqp_nonzero = false;
                    self.decode_skip()?;
                } else {
                    self.cabac_macroblock()?;
                }
                self.decoded += 1;
                more = !self.cabac_end_of_slice();
                if self.cabac.overrun() {
                    return Err(Error::invalid(format!(
                        "slice data ended inside macroblock {addr}"
                    )));
                }
            } else {
                if self.hdr.slice_type != SliceType::I && skip_run < 0 {
                    skip_run = self.r.ue() as i64;
                    if skip_run > (total - addr) as i64 {
                        return Err(Error::invalid("mb_skip_run beyond the end of the picture"));
                    }
                }
                if skip_run > 0 {
                    skip_run -= 1;
                    self.decode_skip()?;
                    self.decoded += 1;
                    more = skip_run > 0 || self.r.more_rbsp_data();
                } else {
                    skip_run = -1;
                    self.cavlc_macroblock()?;
                    self.decoded += 1;
                    more = self.r.more_rbsp_data();
                }
                if self.r.overrun() {
                    return Err(Error::invalid(format!(
                        "slice data ended inside macroblock {addr}"
                    )));
                }
            }
            if !more {
                return Ok(());
            }
            addr += 1;
        }
    }

    fn set_mb(&mut self, addr: usize) {
        self.mb_addr = addr;
        self.mb_x = addr % self.mb_w;
        self.mb_y = addr / self.mb_w;
        self.pix_y = self.mb_y;
        self.cur = MbInfo {
            slice: self.slice_num,
            ..Default::default()
        };
        self.st.mbs[addr].slice = self.slice_num;
        self.st.mbs[addr].kind = MbKind::None;
        let (mx, my) = (self.mb_x as isize, self.mb_y as isize);
        self.near_avail = [
            self.mb_avail(mx - 1, my - 1),
            self.mb_avail(mx, my - 1),
            self.mb_avail(mx + 1, my - 1),
            self.mb_avail(mx - 1, my),
            true,
            false,
        ];
    }

    /// Whether macroblock `(mx, my)` is available to the current one (same slice).
    #[inline]
    pub fn mb_avail(&self, mx: isize, my: isize) -> bool {
        mx >= 0
            && my >= 0
            && (mx as usize) < self.mb_w
            && (my as usize) < self.mb_h
            && self.st.mbs[my as usize * self.mb_w + mx as usize].slice == self.slice_num
    }

    #[inline]
    pub fn mb_at(&self, mx: isize, my: isize) -> Option<&MbInfo> {
        if self.mb_avail(mx, my) {
            Some(&self.st.mbs[my as usize * self.mb_w + mx as usize])
        } else {
            None
        }
    }

    // ---------------------------------------------------------------- CAVLC parsing

    pub(crate) fn cavlc_macroblock(&mut self) -> Result<()> {
        let t = self.r.ue();
        let st = self.hdr.slice_type;
        let intra_t = match st {
            SliceType::I => Some(t),
            SliceType::P => {
                if t < 5 {
                    None
                } else {
                    Some(t - 5)
                }
            }
            SliceType::B => {
                if t < 23 {
                    None
                } else {
                    Some(t - 23)
                }
            }
        };
        match intra_t {
            Some(it) => {
                if it > 25 {
                    return Err(Error::invalid(format!("mb_type {t} out of range")));
                }
                self.cavlc_intra(it)
            }
            None => {
                if st == SliceType::P {
                    self.cavlc_p_inter(t)
                } else {
                    self.cavlc_b_inter(t)
                }
            }
        }
    }

    fn cavlc_intra(&mut self, it: u32) -> Result<()> {
        if it == 25 {
            return self.decode_pcm();
        }
        if it == 0 {
            let t8 = self.pps.transform_8x8_mode && self.r.flag();
            self.cur.kind = if t8 { MbKind::I8x8 } else { MbKind::I4x4 };
            self.cur.t8x8 = t8;
            let n = if t8 { 4 } else { 16 };
            for i in 0..n {
                let prev = self.r.flag();
                let rem = if prev { None } else { Some(self.r.u(3) as u8) };
                self.set_intra_mode(i, t8, prev, rem);
            }
        } else {
            self.cur.kind = MbKind::I16x16;
            self.i16mode = ((it - 1) % 4) as u8;
            self.cur.cbp = ((((it - 1) / 4) % 3) << 4) as u8 | if it >= 13 { 15 } else { 0 };
        }
        // 4:0:0 sends no chroma prediction mode: the chroma planes stay neutral.
        let cpm = if self.sps.monochrome { 0 } else { self.r.ue() };
        if cpm > 3 {
            return Err(Error::invalid(
                "intra_chroma_pred_mode out of range (expected 0..=3)",
            ));
        }
        self.cur.chroma_pred = cpm as u8;
        if self.cur.kind != MbKind::I16x16 {
            self.cur.cbp = self.cavlc_cbp(&CBP_INTRA, &CBP_INTRA_MONO)?;
        }
        self.check_mono_cbp()?;
        self.clear_motion_intra();
        self.cavlc_residual_and_finish()
    }

    /// Records one intra 4x4 (or 8x8, `i` < 4) prediction mode from its syntax.
    pub fn set_intra_mode(&mut self, i: usize, t8: bool, prev_flag: bool, rem: Option<u8>) {
        let (bx, by) = if t8 {
            ((i % 2) * 2, (i / 2) * 2)
        } else {
            (BLK_POS[i].0 as usize, BLK_POS[i].1 as usize)
        };
        let x4 = (self.mb_x * 4 + bx) as isize;
        let y4 = (self.mb_y * 4 + by) as isize;
        let a_ok = bx > 0 || self.intra_nb_avail(self.mb_x as isize - 1, self.mb_y as isize);
        let b_ok = by > 0 || self.intra_nb_avail(self.mb_x as isize, self.mb_y as isize - 1);
        let pred = if self.mbaff {
            let (bxs, bys) = (4 * bx as i32, 4 * by as i32);
            match (self.mbaff_blk4(bxs - 1, bys), self.mbaff_blk4(bxs, bys - 1)) {
                (Some((a, _)), Some((b, _))) => self.st.ipred[a].min(self.st.ipred[b]),
                _ => 2,
            }
        } else if !a_ok || !b_ok {
            2
        } else {
            let ma = self.st.ipred[(y4 as usize) * self.w4 + x4 as usize - 1];
            let mb = self.st.ipred[(y4 as usize - 1) * self.w4 + x4 as usize];
            ma.min(mb)
        };
        let mode = if prev_flag {
            pred
        } else {
            let r = rem.unwrap_or(0);
            if r < pred {
                r
            } else {
                r + 1
            }
        };
        let n = if t8 { 2 } else { 1 };
        for y in 0..n {
            for x in 0..n {
                self.st.ipred[(y4 as usize + y) * self.w4 + x4 as usize + x] = mode;
            }
        }
        self.i4modes[i] = mode;
    }

    /// Availability of a neighbouring macroblock for intra mode prediction: present,
    /// same slice, and not inter-coded when constrained intra prediction is on.
    fn intra_nb_avail(&self, mx: isize, my: isize) -> bool {
        match self.mb_at(mx, my) {
            None => false,
            Some(m) => !self.pps.constrained_intra_pred || m.kind.is_intra(),
        }
    }

    fn cavlc_p_inter(&mut self, t: u32) -> Result<()> {
        let (shape, nparts) = self.start_p_inter(t);
        if shape == Shape::P8x8 {
            for i in 0..4 {
                let s = self.r.ue();
                if s > 3 {
                    return Err(Error::invalid(
                        "p sub_mb_type out of range (expected 0..=3)",
                    ));
                }
                self.sub_types[i] = s as u8;
            }
        }
        let mut refs = [0i8; 4];
        let n = self.num_refs(0);
        if t != 4 {
            for r in refs.iter_mut().take(nparts) {
                *r = self.read_ref_cavlc(n)?;
            }
        }
        self.set_refs(0, &refs, nparts);
        self.set_refs_unused(1);
        self.cavlc_mvds(0, nparts)?;
        self.cavlc_inter_tail()
    }

    /// Entries of reference list `list` for the current macroblock: twice the
    /// slice's for field macroblocks of an MBAFF frame, which reference fields.
    #[inline]
    pub fn num_refs(&self, list: usize) -> u32 {
        self.hdr.num_ref_idx[list] << self.mb_field as u32
    }

    fn read_ref_cavlc(&mut self, n: u32) -> Result<i8> {
        if n <= 1 {
            return Ok(0);
        }
        let v = self.r.te(n - 1);
        if v >= n {
            return Err(Error::invalid(format!(
                "ref_idx {v} out of range (expected below {n})"
            )));
        }
        Ok(v as i8)
    }

    fn cavlc_b_inter(&mut self, t: u32) -> Result<()> {
        if t == 0 {
            self.cur.kind = MbKind::BDirect;
            self.cur.direct = 15;
            self.direct_predict(15)?;
            self.zero_mvd();
            return self.cavlc_inter_tail();
        }
        self.cur.kind = MbKind::BInter;
        let nparts = self.set_b_shape(t)?;
        if self.shape == Shape::P8x8 {
            for i in 0..4 {
                let s = self.r.ue();
                if s > 12 {
                    return Err(Error::invalid(
                        "b sub_mb_type out of range (expected 0..=12)",
                    ));
                }
                self.sub_types[i] = s as u8;
            }
            self.b8x8_setup()?;
        }
        for list in 0..2 {
            let mut refs = [-1i8; 4];
            for p in 0..nparts {
                if self.part_pred[p] & (1 << list) != 0 {
                    refs[p] = self.read_ref_cavlc(self.num_refs(list))?;
                }
            }
            self.set_refs(list, &refs, nparts);
        }
        for list in 0..2 {
            self.cavlc_mvds(list, nparts)?;
        }
        self.cavlc_inter_tail()
    }

    /// Sets shape and per-partition list flags of a non-direct B macroblock type.
    pub fn set_b_shape(&mut self, t: u32) -> Result<usize> {
        const PAIRS: [(u8, u8); 9] = [
            (1, 1),
            (2, 2),
            (1, 2),
            (2, 1),
            (1, 3),
            (2, 3),
            (3, 1),
            (3, 2),
            (3, 3),
        ];
        match t {
            1..=3 => {
                self.shape = Shape::P16x16;
                self.part_pred = [t as u8, 0, 0, 0];
                Ok(1)
            }
            4..=21 => {
                let (a, b) = PAIRS[((t - 4) / 2) as usize];
                self.shape = if t.is_multiple_of(2) {
                    Shape::P16x8
                } else {
                    Shape::P8x16
                };
                self.part_pred = [a, b, 0, 0];
                Ok(2)
            }
            22 => {
                self.shape = Shape::P8x8;
                Ok(4)
            }
            _ => Err(Error::invalid(format!("b mb_type {t} out of range"))),
        }
    }

    /// After the B sub_mb_types are known: list flags per 8x8 and direct prediction
    /// for direct sub-macroblocks (done first, as later partitions may use their
    /// vectors as neighbours).
    pub fn b8x8_setup(&mut self) -> Result<()> {
        let mut direct = 0u8;
        for i in 0..4 {
            let s = self.sub_types[i];
            self.part_pred[i] = match s {
                0 => {
                    direct |= 1 << i;
                    0
                }
                1 | 4 | 5 | 10 => 1,
                2 | 6 | 7 | 11 => 2,
                _ => 3,
            };
        }
        self.cur.direct = direct;
        if direct != 0 {
            self.direct_predict(direct)?;
            for i8 in 0..4 {
                if direct & (1 << i8) != 0 {
                    for s in 0..4 {
                        let i = self.blk((i8 % 2) * 2 + s % 2, (i8 / 2) * 2 + s / 2);
                        self.st.mvd[0][i] = [0; 2];
                        self.st.mvd[1][i] = [0; 2];
                    }
                }
            }
        }
        Ok(())
    }

    /// Partition rectangle `(x4, y4, w4, h4)` inside the macroblock.
    pub fn part_rect(&self, p: usize) -> (usize, usize, usize, usize) {
        match self.shape {
            Shape::P16x16 => (0, 0, 4, 4),
            Shape::P16x8 => (0, p * 2, 4, 2),
            Shape::P8x16 => (p * 2, 0, 2, 4),
            Shape::P8x8 => ((p % 2) * 2, (p / 2) * 2, 2, 2),
        }
    }

    /// The rectangles `(x, y, w, h)` (in 4x4 blocks) of partition `p`, or of its
    /// sub-partitions in decoding order for 8x8 partitions, and how many there are.
    pub fn part_rects(&self, p: usize) -> ([(usize, usize, usize, usize); 4], usize) {
        let mut rects = [(0, 0, 0, 0); 4];
        let (x0, y0, w, h) = self.part_rect(p);
        if self.shape != Shape::P8x8 {
            rects[0] = (x0, y0, w, h);
            return (rects, 1);
        }
        let (n, sw, sh) = self.sub_shape(p);
        for (s, r) in rects.iter_mut().enumerate().take(n) {
            let (sx, sy) = match (n, sw) {
                (1, _) => (0, 0),
                (2, 2) => (0, s),
                (2, _) => (s, 0),
                _ => (s % 2, s / 2),
            };
            *r = (x0 + sx, y0 + sy, sw, sh);
        }
        (rects, n)
    }

    /// Starts a P macroblock of mb_type `t` (0..=3, Table 7-13): its partition shape,
    /// all predicted from list 0. Returns the shape and the number of partitions.
    pub fn start_p_inter(&mut self, t: u32) -> (Shape, usize) {
        self.cur.kind = MbKind::PInter;
        let (shape, nparts) = match t {
            0 => (Shape::P16x16, 1),
            1 => (Shape::P16x8, 2),
            2 => (Shape::P8x16, 2),
            _ => (Shape::P8x8, 4),
        };
        self.shape = shape;
        self.part_pred = [1; 4];
        (shape, nparts)
    }

    /// Sub-partitions of 8x8 block `p`: `(count, w4, h4)`.
    pub fn sub_shape(&self, p: usize) -> (usize, usize, usize) {
        let s = self.sub_types[p];
        if self.hdr.slice_type == SliceType::P {
            match s {
                0 => (1, 2, 2),
                1 => (2, 2, 1),
                2 => (2, 1, 2),
                _ => (4, 1, 1),
            }
        } else {
            match s {
                0..=3 => (1, 2, 2),
                4 | 6 | 8 => (2, 2, 1),
                5 | 7 | 9 => (2, 1, 2),
                _ => (4, 1, 1),
            }
        }
    }

    /// Writes the reference indices of the partitions of `list` into the picture.
    pub fn set_refs(&mut self, list: usize, refs: &[i8; 4], nparts: usize) {
        for p in 0..nparts {
            if self.shape == Shape::P8x8 && self.cur.direct & (1 << p) != 0 {
                continue;
            }
            let r = if self.part_pred[p] & (1 << list) != 0 {
                refs[p]
            } else {
                -1
            };
            let (x, y, w, h) = self.part_rect(p);
            let uid = if r >= 0 {
                self.refs.uid[list][r as usize]
            } else {
                -1
            };
            for yy in y..y + h {
                let i = self.blk(x, yy);
                fill_row(&mut self.pic.ref_idx[list], i, w, r);
                fill_row(&mut self.pic.ref_uid[list], i, w, uid);
                if r < 0 {
                    fill_row(&mut self.pic.mv[list], i, w, [0; 2]);
                    fill_row(&mut self.st.mvd[list], i, w, [0; 2]);
                }
            }
        }
    }

    pub fn set_refs_unused_pub(&mut self, list: usize) {
        self.set_refs_unused(list)
    }

    pub fn zero_mvd_pub(&mut self) {
        self.zero_mvd()
    }

    fn set_refs_unused(&mut self, list: usize) {
        let (at, w4) = (self.blk(0, 0), self.w4);
        fill_mb(&mut self.pic.ref_idx[list], at, w4, -1);
        fill_mb(&mut self.pic.ref_uid[list], at, w4, -1);
        fill_mb(&mut self.pic.mv[list], at, w4, [0; 2]);
        fill_mb(&mut self.st.mvd[list], at, w4, [0; 2]);
    }

    /// Picture index of 4x4 block `(x, y)` of the current macroblock.
    #[inline]
    pub fn blk(&self, x: usize, y: usize) -> usize {
        (self.mb_y * 4 + y) * self.w4 + self.mb_x * 4 + x
    }

    fn cavlc_mvds(&mut self, list: usize, nparts: usize) -> Result<()> {
        for p in 0..nparts {
            if self.part_pred[p] & (1 << list) == 0 {
                continue;
            }
            let (rects, n) = self.part_rects(p);
            for &(x, y, w, h) in &rects[..n] {
                let mvd = [self.r.se(), self.r.se()];
                self.apply_mvd(list, x, y, w, h, mvd)?;
            }
        }
        Ok(())
    }

    /// Predicts the vector of a (sub-)partition, adds `mvd` and stores the result.
    pub fn apply_mvd(
        &mut self,
        list: usize,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        mvd: [i32; 2],
    ) -> Result<()> {
        let r = self.pic.ref_idx[list][self.blk(x, y)];
        let pred = self.pred_mv(list, x, y, w, h, r);
        // Wrapping: a damaged stream can carry any se() value; the range check rejects it.
        let mv = [
            (pred[0] as i32).wrapping_add(mvd[0]),
            (pred[1] as i32).wrapping_add(mvd[1]),
        ];
        if mv.iter().any(|&v| !(-8192..=8191).contains(&v)) {
            return Err(Error::invalid("motion vector out of range"));
        }
        let a = [
            mvd[0].unsigned_abs().min(255) as u8,
            mvd[1].unsigned_abs().min(255) as u8,
        ];
        for yy in y..y + h {
            let i = self.blk(x, yy);
            fill_row(&mut self.pic.mv[list], i, w, [mv[0] as i16, mv[1] as i16]);
            fill_row(&mut self.st.mvd[list], i, w, a);
        }
        Ok(())
    }

    fn zero_mvd(&mut self) {
        for list in 0..2 {
            let (at, w4) = (self.blk(0, 0), self.w4);
            fill_mb(&mut self.st.mvd[list], at, w4, [0; 2]);
        }
    }

    /// coded_block_pattern as me(v): Table 9-4's 4:2:0 column, or its 4:0:0 one,
    /// where no chroma bits exist and only 16 codes are valid.
    fn cavlc_cbp(&mut self, table: &[u8; 48], mono: &[u8; 16]) -> Result<u8> {
        let c = self.r.ue() as usize;
        if self.sps.monochrome {
            return mono.get(c).copied().ok_or_else(|| {
                Error::invalid("coded_block_pattern out of range (expected 0..=15 for 4:0:0)")
            });
        }
        table.get(c).copied().ok_or_else(|| {
            Error::invalid("coded_block_pattern out of range (expected 0..=47)")
        })
    }

    /// A 4:0:0 stream has no chroma coefficients to code; an Intra 16x16 type that
    /// says otherwise is damage (7.4.5), not something to parse as chroma.
    pub fn check_mono_cbp(&self) -> Result<()> {
        if self.sps.monochrome && self.cur.cbp & 0x30 != 0 {
            return Err(Error::invalid(
                "mb_type codes chroma coefficients in a 4:0:0 stream (expected none)",
            ));
        }
        Ok(())
    }

    fn cavlc_inter_tail(&mut self) -> Result<()> {
        self.cur.cbp = self.cavlc_cbp(&CBP_INTER, &CBP_INTER_MONO)?;
        if self.cur.cbp & 15 != 0 && self.pps.transform_8x8_mode && self.t8x8_allowed() {
            self.cur.t8x8 = self.r.flag();
        }
        self.cavlc_residual_and_finish()
    }

    /// Whether transform_size_8x8_flag may be present for the current inter macroblock.
    pub fn t8x8_allowed(&self) -> bool {
        match self.cur.kind {
            MbKind::BDirect => self.sps.direct_8x8_inference,
            MbKind::PInter | MbKind::BInter => {
                if self.shape != Shape::P8x8 {
                    return true;
                }
                (0..4).all(|i| {
                    let s = self.sub_types[i];
                    if self.hdr.slice_type == SliceType::B && s == 0 {
                        self.sps.direct_8x8_inference
                    } else {
                        self.sub_shape(i).0 == 1
                    }
                })
            }
            _ => false,
        }
    }

    fn cavlc_residual_and_finish(&mut self) -> Result<()> {
        let cbp = self.cur.cbp;
        if cbp != 0 || self.cur.kind == MbKind::I16x16 {
            let d = self.r.se();
            if !(-26..=25).contains(&d) {
                return Err(Error::invalid(format!(
                    "mb_qp_delta {d} out of range (expected -26..=25)"
                )));
            }
            self.qp = (self.qp + d + 52) % 52;
        }
        self.cur.qp = self.qp as u8;
        self.clear_coeffs();
        let intra = self.cur.kind.is_intra();
        let qp = self.qp;
        // Luma.
        if self.cur.kind == MbKind::I16x16 {
            let nc = self.nc_luma(0, 0);
            let mut lv = [0i32; 16];
            cavlc::residual_block(&mut self.r, nc, &mut lv, 0, 16).ok_or_else(bad_residual)?;
            for k in 0..16 {
                self.dc[self.scan4[k] as usize] = lv[k];
            }
            transform::luma_dc_dequant(&mut self.dc, qp, self.ls4[0][(qp % 6) as usize][0]);
        }
        let list4 = if intra { 0 } else { 3 };
        for i8 in 0..4 {
            if cbp & (1 << i8) == 0 {
                for i in 0..4 {
                    let (bx, by) = BLK_POS[i8 * 4 + i];
                    let idx = self.blk(bx as usize, by as usize);
                    self.st.nnz[idx] = 0;
                }
                continue;
            }
            if self.cur.t8x8 {
                let mut lv = [0i32; 64];
                let mut tmp = [0i32; 16];
                for i in 0..4 {
                    let (bx, by) = BLK_POS[i8 * 4 + i];
                    let nc = self.nc_luma(bx as usize, by as usize);
                    tmp.fill(0);
                    let n = cavlc::residual_block(&mut self.r, nc, &mut tmp, 0, 16)
                        .ok_or_else(bad_residual)?;
                    let idx = self.blk(bx as usize, by as usize);
                    self.st.nnz[idx] = n;
                    for k in 0..16 {
                        lv[4 * k + i] = tmp[k];
                    }
                }
                self.dequant8(i8, &lv, intra);
            } else {
                for i in 0..4 {
                    let b = i8 * 4 + i;
                    let (bx, by) = BLK_POS[b];
                    let nc = self.nc_luma(bx as usize, by as usize);
                    let mut lv = [0i32; 16];
                    let (start, max) = if self.cur.kind == MbKind::I16x16 {
                        (1, 15)
                    } else {
                        (0, 16)
                    };
                    let n = cavlc::residual_block(&mut self.r, nc, &mut lv, start, max)
                        .ok_or_else(bad_residual)?;
                    let idx = self.blk(bx as usize, by as usize);
                    self.st.nnz[idx] = n;
                    if n > 0 {
                        self.dequant4(
                            b,
                            &lv,
                            if self.cur.kind == MbKind::I16x16 {
                                0
                            } else {
                                list4
                            },
                            qp,
                        );
                    }
                }
            }
        }
        // Chroma.
        if cbp & 0x30 != 0 {
            for c in 0..2 {
                let mut lv = [0i32; 4];
                cavlc::residual_block(&mut self.r, -1, &mut lv, 0, 4).ok_or_else(bad_residual)?;
                self.cdc[c] = lv;
            }
        }
        for c in 0..2 {
            for b in 0..4 {
                let (cx, cy) = (b % 2, b / 2);
                let idx = (self.mb_y * 2 + cy) * self.mb_w * 2 + self.mb_x * 2 + cx;
                if cbp & 0x20 != 0 {
                    let nc = self.nc_chroma(c, cx, cy);
                    let mut lv = [0i32; 16];
                    let n = cavlc::residual_block(&mut self.r, nc, &mut lv, 1, 15)
                        .ok_or_else(bad_residual)?;
                    self.st.nnz_c[c][idx] = n;
                    if n > 0 {
                        self.dequant_chroma_ac(c, b, &lv);
                    }
                } else {
                    self.st.nnz_c[c][idx] = 0;
                }
            }
        }
        self.finish_chroma_dc();
        self.reconstruct()
    }

    /// Predicted coefficient count nC for luma 4x4 block `(bx, by)` (9.2.1).
    fn nc_luma(&self, bx: usize, by: usize) -> i32 {
        if self.mbaff {
            let get = |(i, m): (usize, usize)| -> i32 {
                if m != self.mb_addr && self.st.mbs[m].kind.is_skip() {
                    0
                } else {
                    self.st.nnz[i] as i32
                }
            };
            let (xs, ys) = (4 * bx as i32, 4 * by as i32);
            let a = self.mbaff_blk4(xs - 1, ys).map(get);
            let b = self.mbaff_blk4(xs, ys - 1).map(get);
            return nc_of(a, b);
        }
        let x4 = self.mb_x * 4 + bx;
        let y4 = self.mb_y * 4 + by;
        let a = if bx > 0 || self.mb_avail(self.mb_x as isize - 1, self.mb_y as isize) {
            Some(self.nnz_of(x4 - 1, y4))
        } else {
            None
        };
        let b = if by > 0 || self.mb_avail(self.mb_x as isize, self.mb_y as isize - 1) {
            Some(self.nnz_of(x4, y4 - 1))
        } else {
            None
        };
        match (a, b) {
            (Some(a), Some(b)) => (a + b + 1) >> 1,
            (Some(a), None) => a,
            (None, Some(b)) => b,
            _ => 0,
        }
    }

    fn nnz_of(&self, x4: usize, y4: usize) -> i32 {
        let m = &self.st.mbs[(y4 / 4) * self.mb_w + x4 / 4];
        if (y4 / 4 != self.mb_y || x4 / 4 != self.mb_x) && m.kind.is_skip() {
            return 0;
        }
        self.st.nnz[y4 * self.w4 + x4] as i32
    }

    fn nc_chroma(&self, c: usize, cx: usize, cy: usize) -> i32 {
        if self.mbaff {
            let get = |(i, m): (usize, usize)| -> i32 {
                if m != self.mb_addr && self.st.mbs[m].kind.is_skip() {
                    0
                } else {
                    self.st.nnz_c[c][i] as i32
                }
            };
            let (xs, ys) = (4 * cx as i32, 4 * cy as i32);
            let a = self.mbaff_cblk(xs - 1, ys).map(get);
            let b = self.mbaff_cblk(xs, ys - 1).map(get);
            return nc_of(a, b);
        }
        let w2 = self.mb_w * 2;
        let x2 = self.mb_x * 2 + cx;
        let y2 = self.mb_y * 2 + cy;
        let get = |x: usize, y: usize| -> i32 {
            let m = &self.st.mbs[(y / 2) * self.mb_w + x / 2];
            if (y / 2 != self.mb_y || x / 2 != self.mb_x) && m.kind.is_skip() {
                0
            } else {
                self.st.nnz_c[c][y * w2 + x] as i32
            }
        };
        let a = if cx > 0 || self.mb_avail(self.mb_x as isize - 1, self.mb_y as isize) {
            Some(get(x2 - 1, y2))
        } else {
            None
        };
        let b = if cy > 0 || self.mb_avail(self.mb_x as isize, self.mb_y as isize - 1) {
            Some(get(x2, y2 - 1))
        } else {
            None
        };
        match (a, b) {
            (Some(a), Some(b)) => (a + b + 1) >> 1,
            (Some(a), None) => a,
            (None, Some(b)) => b,
            _ => 0,
        }
    }

    /// Clears the coefficient buffers of the current macroblock.
    pub fn clear_coeffs(&mut self) {
        // Only blocks flagged in luma_nz / chroma_nz hold coefficients (an 8x8 block
        // sets its four 4x4 bits): zeroing just those saves clearing 1.5 KB per
        // macroblock.
        zero_flagged(&mut self.luma, self.luma_nz as u32);
        zero_flagged(&mut self.chroma, self.chroma_nz as u32);
        debug_assert!(self.luma.iter().chain(&self.chroma).all(|&c| c == 0));
        self.luma_nz = 0;
        self.chroma_nz = 0;
        self.dc = [0; 16];
        self.cdc = [[0; 4]; 2];
    }

    /// Scales 4x4 levels given in scan order (`lv[k]`) into block `b` (raster order).
    pub fn dequant4(&mut self, b: usize, lv: &[i32; 16], list: usize, qp: i32) {
        let ls = &self.ls4[list][(qp % 6) as usize];
        let scan = self.scan4;
        let out = &mut self.luma[b * 16..b * 16 + 16];
        for k in 0..16 {
            if lv[k] != 0 {
                let pos = scan[k] as usize;
                out[pos] = transform::scale4(lv[k], ls[pos], qp);
            }
        }
        self.luma_nz |= 1 << b;
    }

    /// Scales 8x8 levels in scan order into 8x8 block `i8` (stored at `luma[i8 * 64..]`).
    pub fn dequant8(&mut self, i8: usize, lv: &[i32; 64], intra: bool) {
        let qp = self.qp;
        let ls = &self.ls8[if intra { 0 } else { 1 }][(qp % 6) as usize];
        let sh = qp / 6;
        let scan = self.scan8;
        let out = &mut self.luma[i8 * 64..i8 * 64 + 64];
        let mut any = false;
        for k in 0..64 {
            if lv[k] != 0 {
                let pos = scan[k] as usize;
                let v = lv[k] as i64 * ls[pos] as i64;
                out[pos] = crate::transform::saturate(if sh >= 6 {
                    v << (sh - 6)
                } else {
                    (v + (1 << (5 - sh))) >> (6 - sh)
                });
                any = true;
            }
        }
        if any {
            self.luma_nz |= 0xf << (i8 * 4);
        }
    }

    fn chroma_qp(&self, c: usize) -> i32 {
        CHROMA_QP[(self.qp + self.pps.chroma_qp_offset[c]).clamp(0, 51) as usize] as i32
    }

    /// Scales chroma AC levels (scan order, index 0 unused) of block `b` of component `c`.
    pub fn dequant_chroma_ac(&mut self, c: usize, b: usize, lv: &[i32; 16]) {
        let qpc = self.chroma_qp(c);
        let list = if self.cur.kind.is_intra() {
            1 + c
        } else {
            4 + c
        };
        let ls = &self.ls4[list][(qpc % 6) as usize];
        let base = c * 64 + b * 16;
        for k in 1..16 {
            if lv[k] != 0 {
                let pos = self.scan4[k] as usize;
                self.chroma[base + pos] = transform::scale4(lv[k], ls[pos], qpc);
            }
        }
        self.chroma_nz |= 1 << (c * 4 + b);
    }

    /// Transforms and scales the chroma DC levels into the AC blocks.
    pub fn finish_chroma_dc(&mut self) {
        for c in 0..2 {
            if self.cdc[c] == [0; 4] {
                continue;
            }
            let qpc = self.chroma_qp(c);
            let list = if self.cur.kind.is_intra() {
                1 + c
            } else {
                4 + c
            };
            let mut d = self.cdc[c];
            transform::chroma_dc_dequant(&mut d, qpc, self.ls4[list][(qpc % 6) as usize][0]);
            for b in 0..4 {
                if d[b] != 0 {
                    self.chroma[c * 64 + b * 16] = d[b];
                    self.chroma_nz |= 1 << (c * 4 + b);
                }
            }
        }
    }

    pub fn clear_motion_intra(&mut self) {
        for l in 0..2 {
            self.set_refs_unused(l);
        }
    }

    // ---------------------------------------------------------------- PCM and skip

    fn decode_pcm(&mut self) -> Result<()> {
        self.cur.kind = MbKind::IPcm;
        self.r.align();
        // 4:0:0 carries luma samples only; its chroma stays neutral.
        let mut samples = [128u8; 384];
        let n = if self.sps.monochrome { 256 } else { 384 };
        for s in samples[..n].iter_mut() {
            *s = self.r.u(8) as u8;
        }
        self.write_pcm(&samples);
        Ok(())
    }

    /// Stores I_PCM samples and the macroblock state that goes with them.
    pub fn write_pcm(&mut self, samples: &[u8; 384]) {
        let (w, cw) = (self.strides[0], self.strides[1]);
        for y in 0..16 {
            let o = (self.pix_y * 16 + y) * w + self.mb_x * 16 + self.base[0];
            self.planes[0][o..o + 16].copy_from_slice(&samples[y * 16..y * 16 + 16]);
        }
        for c in 0..2 {
            for y in 0..8 {
                let o = (self.pix_y * 8 + y) * cw + self.mb_x * 8 + self.base[1 + c];
                let s = 256 + c * 64 + y * 8;
                self.planes[1 + c][o..o + 8].copy_from_slice(&samples[s..s + 8]);
            }
        }
        self.clear_motion_intra();
        for y in 0..4 {
            for x in 0..4 {
                let i = self.blk(x, y);
                self.st.nnz[i] = 16;
                self.st.ipred[i] = 2;
            }
        }
        for c in 0..2 {
            for b in 0..4 {
                let idx = (self.mb_y * 2 + b / 2) * self.mb_w * 2 + self.mb_x * 2 + b % 2;
                self.st.nnz_c[c][idx] = 16;
            }
        }
        self.cur.cbp = 0x2f;
        self.cur.cbf_dc = 7;
        self.cur.qp = 0;
        self.pic.mb_intra[self.mb_addr] = true;
        self.st.mbs[self.mb_addr] = self.cur;
    }

    /// P_Skip or B_Skip.
    pub fn decode_skip(&mut self) -> Result<()> {
        self.clear_coeffs();
        self.cur.qp = self.qp as u8;
        let at = self.blk(0, 0);
        fill_mb(&mut self.st.nnz, at, self.w4, 0);
        for c in 0..2 {
            for b in 0..4 {
                let idx = (self.mb_y * 2 + b / 2) * self.mb_w * 2 + self.mb_x * 2 + b % 2;
                self.st.nnz_c[c][idx] = 0;
            }
        }
        self.zero_mvd();
        if self.hdr.slice_type == SliceType::P {
            self.cur.kind = MbKind::PSkip;
            self.shape = Shape::P16x16;
            self.part_pred = [1, 0, 0, 0];
            let mv = self.pskip_mv();
            let uid = self.refs.uid[0][0];
            let (at, w4) = (self.blk(0, 0), self.w4);
            fill_mb(&mut self.pic.ref_idx[0], at, w4, 0);
            fill_mb(&mut self.pic.ref_uid[0], at, w4, uid);
            fill_mb(&mut self.pic.mv[0], at, w4, mv);
            self.set_refs_unused(1);
        } else {
            self.cur.kind = MbKind::BSkip;
            self.cur.direct = 15;
            self.direct_predict(15)?;
        }
        self.reconstruct()
    }

    // ---------------------------------------------------------------- motion vectors

    /// Neighbour at 4x4 position `(x4, y4)` of the picture (may be outside).
    #[inline]
    fn nb(&self, list: usize, x4: isize, y4: isize) -> Nb {
        if x4 < 0 || y4 < 0 || x4 as usize >= self.w4 {
            return NB_NONE;
        }
        // Neighbours lie in the macroblocks above or to the left, or in the current
        // one, whose availability set_mb worked out once.
        let dx = (x4 >> 2) - self.mb_x as isize;
        let dy = (y4 >> 2) - self.mb_y as isize;
        let avail = if (-1..=0).contains(&dy) && (-1..=1).contains(&dx) {
            self.near_avail[((dy + 1) * 3 + dx + 1) as usize]
        } else {
            self.mb_avail(x4 >> 2, y4 >> 2)
        };
        if !avail {
            return NB_NONE;
        }
        let i = y4 as usize * self.w4 + x4 as usize;
        Nb {
            avail: true,
            r: self.pic.ref_idx[list][i],
            mv: self.pic.mv[list][i],
        }
    }

    /// Neighbours A, B and C (or D) of a partition at `(x, y)` (4x4 units inside the
    /// macroblock) of width `w`.
    fn neighbours(&self, list: usize, x: usize, y: usize, w: usize) -> (Nb, Nb, Nb) {
        if self.mbaff {
            let (xs, ys) = (4 * x as i32, 4 * y as i32);
            let a = self.nb_mbaff(list, xs - 1, ys);
            let b = self.nb_mbaff(list, xs, ys - 1);
            let (cx, cy) = (x + w, y as isize - 1);
            let c_inside_later =
                cy >= 0 && (cx >= 4 || BLK_INDEX[cy as usize][cx] > BLK_INDEX[y][x]);
            let mut c = if c_inside_later {
                NB_NONE
            } else {
                self.nb_mbaff(list, xs + 4 * w as i32, ys - 1)
            };
            if !c.avail {
                c = self.nb_mbaff(list, xs - 1, ys - 1);
            }
            return (a, b, c);
        }
        let x4 = (self.mb_x * 4 + x) as isize;
        let y4 = (self.mb_y * 4 + y) as isize;
        let a = self.nb(list, x4 - 1, y4);
        let b = self.nb(list, x4, y4 - 1);
        // C is unavailable when it lies in a later block of the current macroblock or in
        // the macroblock to the right.
        let (cx, cy) = (x + w, y as isize - 1);
        let c_inside_later = cy >= 0 && (cx >= 4 || BLK_INDEX[cy as usize][cx] > BLK_INDEX[y][x]);
        let mut c = if c_inside_later {
            NB_NONE
        } else {
            self.nb(list, x4 + w as isize, y4 - 1)
        };
        if !c.avail {
            c = self.nb(list, x4 - 1, y4 - 1);
        }
        (a, b, c)
    }

    /// Motion vector predictor (8.4.1.3) for a partition.
    pub fn pred_mv(&self, list: usize, x: usize, y: usize, w: usize, h: usize, r: i8) -> [i16; 2] {
        let (a, b, c) = self.neighbours(list, x, y, w);
        if w == 4 && h == 2 {
            if y == 0 && b.r == r {
                return b.mv;
            }
            if y == 2 && a.r == r {
                return a.mv;
            }
        } else if w == 2 && h == 4 {
            if x == 0 && a.r == r {
                return a.mv;
            }
            if x == 2 && c.r == r {
                return c.mv;
            }
        }
        median_pred(a, b, c, r)
    }

    fn pskip_mv(&self) -> [i16; 2] {
        let x4 = (self.mb_x * 4) as isize;
        let y4 = (self.mb_y * 4) as isize;
        let (a, b) = if self.mbaff {
            (self.nb_mbaff(0, -1, 0), self.nb_mbaff(0, 0, -1))
        } else {
            (self.nb(0, x4 - 1, y4), self.nb(0, x4, y4 - 1))
        };
        if !a.avail || !b.avail || (a.r == 0 && a.mv == [0, 0]) || (b.r == 0 && b.mv == [0, 0]) {
            return [0, 0];
        }
        self.pred_mv(0, 0, 0, 4, 4, 0)
    }

    /// Direct prediction (8.4.1.2) of the 8x8 blocks in `mask`.
    pub fn direct_predict(&mut self, mask: u8) -> Result<()> {
        if self.refs.count[1] == 0 {
            return Err(Error::invalid(
                "direct prediction without a list 1 reference",
            ));
        }
        // The co-located picture: the first field of this frame is read from the
        // picture being decoded. A field's motion fills one half of its arrays.
        let col: &Picture = if self.refs.own[1][0] {
            &*self.pic
        } else {
            &self.dpb[self.refs.slot[1][0]]
        };
        // Where the co-located blocks are (8.4.1.2.1, Table 8-8): the same place in a
        // picture of the same structure (mode 0); in a field over a frame, the frame
        // macroblock covering the same rows, two per field macroblock (mode 1,
        // Frm_To_Fld); in a frame over a field pair, the field closer in POC, one field
        // macroblock per two frame ones (mode 2, Fld_To_Frm).
        let mode: u8 = match (self.field != 0, col.coded_fields) {
            (true, false) => 1,
            (false, true) => 2,
            _ => 0,
        };
        // The field of the co-located pair closer in POC to the current picture.
        let closer = {
            let d = |p: i32| (self.pic.poc as i64 - p as i64).abs();
            (d(col.field_poc[0]) >= d(col.field_poc[1])) as usize
        };
        let cb4 = match mode {
            0 => match self.refs.parity[1][0] {
                0 => 0,
                p => col.field_base4(p as usize - 1),
            },
            2 => col.field_base4(closer),
            _ => 0,
        };
        let (w4, mb_w, mb_x, mb_y) = (self.w4, self.mb_w, self.mb_x, self.mb_y);
        // The co-located macroblock row (of the co-located picture's tables, or of its
        // field's half) and how its rows map onto the current ones: `mode` 0 the
        // same rows, 1 frame rows over field rows (two macroblocks from `cmy`), 2
        // field rows over frame rows (half a macroblock). MBAFF pictures on either side
        // choose per pair (Table 8-6, 8-8).
        let py = mb_y / 2;
        let (mode, cmy_base, cb4) = if self.mbaff {
            if col.coded_fields {
                if self.mb_field {
                    (0, py, col.field_base4(mb_y % 2))
                } else {
                    (2, py, cb4)
                }
            } else {
                let col_field = col.mb_field.get(2 * py * mb_w + mb_x).copied().unwrap_or(false);
                match (self.mb_field, col_field) {
                    (false, false) | (true, true) => (0, mb_y, 0),
                    (false, true) => (2, 2 * py + closer, 0),
                    (true, false) => (1, 2 * py, 0),
                }
            }
        } else if col.mbaff
            && self.field != 0
            && col.mb_field.get(2 * mb_y * mb_w + mb_x).copied().unwrap_or(false)
        {
            // A field over a field pair of an MBAFF frame: that pair's macroblock of
            // the same parity.
            (0, 2 * mb_y + (self.field == 2) as usize, 0)
        } else {
            let base = match mode {
                0 => mb_y,
                1 => 2 * mb_y,
                _ => mb_y / 2,
            };
            (mode, base, cb4)
        };
        // The mode-2 row offset: which half of the co-located macroblock.
        let half = mb_y % 2;
        let (cb8, cbm) = (cb4 / 4, cb4 / 16);
        let inference = self.sps.direct_8x8_inference;
        // (4x4 block, 8x8 block, macroblock) indices in the co-located picture's
        // arrays for block (x, y) of the current macroblock.
        let site = |x: usize, y: usize| -> (usize, usize, usize) {
            let (cx, cy) = if inference {
                (if x < 2 { 0 } else { 3 }, if y < 2 { 0 } else { 3 })
            } else {
                (x, y)
            };
            let (cmy, row) = match mode {
                0 => (cmy_base, cy),
                1 => (cmy_base + cy / 2, (2 * cy) % 4),
                _ => (cmy_base, 2 * half + cy / 2),
            };
            (
                (cmy * 4 + row) * w4 + mb_x * 4 + cx + cb4,
                (cmy * 2 + row / 2) * (w4 / 2) + mb_x * 2 + cx / 2 + cb8,
                cmy * mb_w + mb_x + cbm,
            )
        };
        let intra_at = |cm: usize| col.mb_intra.get(cm).copied().unwrap_or(true);
        // A field macroblock of an MBAFF frame measures distances from its field.
        let cur_poc = if self.mb_field {
            self.pic.field_poc[mb_y % 2]
        } else {
            self.pic.poc
        };
        // Blocks to store: position, size (in 4x4 blocks), refs, uids and motion.
        #[allow(clippy::type_complexity)]
        let mut out: [(usize, usize, usize, [i8; 2], [i32; 2], [[i16; 2]; 2]); 16] =
            [(0, 0, 0, [0; 2], [0; 2], [[0; 2]; 2]); 16];
        let mut n = 0;
        if self.hdr.direct_spatial {
            // Reference indices and predictors from the neighbours of the whole macroblock.
            let mut refs = [-1i8; 2];
            let mut mvp = [[0i16; 2]; 2];
            for list in 0..2 {
                let (a, b, c) = self.neighbours(list, 0, 0, 4);
                let mp = |x: i8, y: i8| if x >= 0 && y >= 0 { x.min(y) } else { x.max(y) };
                refs[list] = mp(a.r, mp(b.r, c.r));
            }
            let zero_pred = refs[0] < 0 && refs[1] < 0;
            if zero_pred {
                refs = [0, 0];
            } else {
                for list in 0..2 {
                    if refs[list] >= 0 {
                        mvp[list] = self.pred_mv(list, 0, 0, 4, 4, refs[list]);
                    }
                }
            }
            let col_short = !self.refs.long[1][0];
            let uids = [
                if refs[0] >= 0 {
                    self.refs.uid[0][refs[0] as usize]
                } else {
                    -1
                },
                if refs[1] >= 0 {
                    self.refs.uid[1][refs[1] as usize]
                } else {
                    -1
                },
            ];
            // colZeroFlag (8.4.1.2.2): the co-located block is a short-term reference
            // that barely moves.
            let col_zero = |x: usize, y: usize| -> bool {
                let (ci, ck, cm) = site(x, y);
                col_short && !intra_at(cm) && {
                    let (r0, _) = col.col_ref(0, ck);
                    let (cr, cmv) = if r0 >= 0 {
                        (r0, col.mv[0].get(ci).copied().unwrap_or_default())
                    } else {
                        (
                            col.col_ref(1, ck).0,
                            col.mv[1].get(ci).copied().unwrap_or_default(),
                        )
                    };
                    cr == 0 && (-1..=1).contains(&cmv[0]) && (-1..=1).contains(&cmv[1])
                }
            };
            let motion = |zero: bool| -> [[i16; 2]; 2] {
                let mut mv = [[0i16; 2]; 2];
                for list in 0..2 {
                    let r = refs[list];
                    if !(zero_pred || r < 0 || (r == 0 && zero)) {
                        mv[list] = mvp[list];
                    }
                }
                mv
            };
            for i8 in 0..4 {
                if mask & (1 << i8) == 0 {
                    continue;
                }
                let (bx, by) = ((i8 % 2) * 2, (i8 / 2) * 2);
                if inference {
                    // With 8x8 inference the four 4x4 blocks of a quadrant share the
                    // co-located corner block, hence one motion for the quadrant.
                    out[n] = (
                        bx,
                        by,
                        2,
                        [refs[0], refs[1]],
                        uids,
                        motion(col_zero(bx, by)),
                    );
                    n += 1;
                } else {
                    for sub in 0..4 {
                        let (x, y) = (bx + sub % 2, by + sub / 2);
                        out[n] = (x, y, 1, [refs[0], refs[1]], uids, motion(col_zero(x, y)));
                        n += 1;
                    }
                }
            }
        } else {
            for i8 in 0..4 {
                if mask & (1 << i8) == 0 {
                    continue;
                }
                let (bx, by) = ((i8 % 2) * 2, (i8 / 2) * 2);
                let (step, subs) = if inference { (2, 1) } else { (1, 4) };
                for sub in 0..subs {
                    let (x, y) = (bx + sub % 2, by + sub / 2);
                    let (ci, ck, cm) = site(x, y);
                    let (mut mv_col, uid_col) = if intra_at(cm) {
                        ([0i16, 0], -1)
                    } else {
                        match col.col_ref(0, ck) {
                            (r, uid) if r >= 0 => {
                                (col.mv[0].get(ci).copied().unwrap_or_default(), uid)
                            }
                            _ => (
                                col.mv[1].get(ci).copied().unwrap_or_default(),
                                col.col_ref(1, ck).1,
                            ),
                        }
                    };
                    // The reference the co-located block used, as the current picture
                    // names it: the field of a frame reference with the current
                    // parity, or the frame holding a field reference (8.4.1.2.3).
                    let want = match mode {
                        1 => {
                            mv_col[1] /= 2;
                            uid_col.wrapping_add(self.field as i32)
                        }
                        2 => {
                            mv_col[1] = mv_col[1].wrapping_mul(2);
                            uid_col & !3
                        }
                        _ => uid_col,
                    };
                    let r0 = if uid_col < 0 {
                        0
                    } else {
                        (0..self.refs.count[0])
                            .find(|&k| self.refs.uid[0][k] == want)
                            .unwrap_or(0)
                    };
                    let (poc0, poc1) = (self.refs.poc[0][r0], self.refs.poc[1][0]);
                    let tb = (cur_poc - poc0).clamp(-128, 127);
                    let td = (poc1 - poc0).clamp(-128, 127);
                    let (mv0, mv1) = if td == 0 || self.refs.long[0][r0] {
                        (mv_col, [0i16, 0])
                    } else {
                        let tx = (16384 + (td / 2).abs()) / td;
                        let dsf = ((tb * tx + 32) >> 6).clamp(-1024, 1023);
                        let m0 = [
                            ((dsf * mv_col[0] as i32 + 128) >> 8) as i16,
                            ((dsf * mv_col[1] as i32 + 128) >> 8) as i16,
                        ];
                        (m0, [m0[0] - mv_col[0], m0[1] - mv_col[1]])
                    };
                    let uids = [self.refs.uid[0][r0], self.refs.uid[1][0]];
                    out[n] = (x, y, step, [r0 as i8, 0], uids, [mv0, mv1]);
                    n += 1;
                }
            }
        }
        // Stored afterwards: the co-located picture is borrowed from the DPB above.
        for &(x, y, size, refs, uids, mv) in &out[..n] {
            self.set_motion(x, y, size, size, refs, uids, mv);
        }
        Ok(())
    }

    /// Stores references and motion vectors of both lists for the `w`x`h` 4x4 blocks
    /// at `(x, y)` of the current macroblock, a row at a time.
    #[allow(clippy::too_many_arguments)]
    fn set_motion(
        &mut self,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
        refs: [i8; 2],
        uids: [i32; 2],
        mv: [[i16; 2]; 2],
    ) {
        for yy in y..y + h {
            let i = self.blk(x, yy);
            for list in 0..2 {
                fill_row(&mut self.pic.ref_idx[list], i, w, refs[list]);
                fill_row(&mut self.pic.ref_uid[list], i, w, uids[list]);
                fill_row(&mut self.pic.mv[list], i, w, mv[list]);
            }
        }
    }

    // ---------------------------------------------------------------- reconstruction

    /// Predicts and reconstructs the current macroblock, then stores its state.
    pub fn reconstruct(&mut self) -> Result<()> {
        let kind = self.cur.kind;
        self.pic.mb_intra[self.mb_addr] = kind.is_intra();
        if !matches!(kind, MbKind::I4x4 | MbKind::I8x8) {
            let at = self.blk(0, 0);
            fill_mb(&mut self.st.ipred, at, self.w4, 2);
        }
        // 4:0:0 chroma planes are filled with 128 when the frame is taken, and no
        // syntax changes them.
        let chroma = !self.sps.monochrome;
        if kind.is_intra() {
            self.recon_intra_luma()?;
            if chroma {
                self.recon_intra_chroma()?;
            }
        } else {
            self.cur.uniform = match self.cur.kind {
                MbKind::PSkip => true,
                _ if self.shape == Shape::P16x16
                    && self.cur.kind != MbKind::BSkip
                    && self.cur.kind != MbKind::BDirect =>
                {
                    true
                }
                _ => self.uniform_motion(),
            };
            self.recon_inter();
            self.add_luma_residual();
            if chroma {
                self.add_chroma_residual();
            }
        }
        self.st.mbs[self.mb_addr] = self.cur;
        Ok(())
    }

    fn intra_avail(&self, bx: usize, by: usize, size: usize) -> Avail {
        // Neighbouring macroblocks.
        let (mx, my) = (self.mb_x as isize, self.mb_y as isize);
        let (left_mb, top_mb, tl_mb, tr_mb) = if self.mbaff {
            // By pairs (Table 6-4): the bottom macroblock of a frame pair has the top
            // one above it, nothing above-right, and the left pair above-left.
            let p = |i: usize| self.pairs[i].is_some();
            if !self.mb_field && self.mb_y % 2 == 1 {
                (p(0), true, p(0), false)
            } else {
                (p(0), p(1), p(3), p(2))
            }
        } else {
            (
                self.intra_nb_avail(mx - 1, my),
                self.intra_nb_avail(mx, my - 1),
                self.intra_nb_avail(mx - 1, my - 1),
                self.intra_nb_avail(mx + 1, my - 1),
            )
        };
        let left = bx > 0 || left_mb;
        let top = by > 0 || top_mb;
        let top_left = match (bx > 0, by > 0) {
            (true, true) => true,
            (false, true) => left_mb,
            (true, false) => top_mb,
            (false, false) => tl_mb,
        };
        let n = size / 4;
        let (rx, ry) = (bx + n, by as isize - 1);
        let top_right = if ry < 0 {
            if rx < 4 {
                top_mb
            } else {
                tr_mb
            }
        } else if rx >= 4 {
            false
        } else {
            BLK_INDEX[ry as usize][rx] < BLK_INDEX[by][bx]
        };
        Avail {
            left,
            top,
            top_right,
            top_left,
        }
    }

    fn recon_intra_luma(&mut self) -> Result<()> {
        let stride = self.strides[0];
        let base = self.pix_y * 16 * stride + self.mb_x * 16 + self.base[0];
        match self.cur.kind {
            MbKind::I4x4 => {
                for b in 0..16 {
                    let (bx, by) = (BLK_POS[b].0 as usize, BLK_POS[b].1 as usize);
                    let av = self.intra_avail(bx, by, 4);
                    let mode = self.i4modes[b];
                    check_dir_mode(mode, av)?;
                    let off = base + by * 4 * stride + bx * 4;
                    intra::pred4x4(self.planes[0], stride, off, mode, av);
                    if self.luma_nz & (1 << b) != 0 {
                        let c: &[i32; 16] = self.luma[b * 16..b * 16 + 16]
                            .try_into()
                            .unwrap_or(&[0; 16]);
                        transform::idct4_add(self.planes[0], stride, off, c);
                    }
                }
            }
            MbKind::I8x8 => {
                for i8 in 0..4 {
                    let (bx, by) = ((i8 % 2) * 2, (i8 / 2) * 2);
                    let av = self.intra_avail(bx, by, 8);
                    let mode = self.i4modes[i8];
                    check_dir_mode(mode, av)?;
                    let off = base + by * 4 * stride + bx * 4;
                    intra::pred8x8(self.planes[0], stride, off, mode, av);
                    if self.luma_nz & (0xf << (i8 * 4)) != 0 {
                        let c: &[i32; 64] = self.luma[i8 * 64..i8 * 64 + 64]
                            .try_into()
                            .unwrap_or(&[0; 64]);
                        transform::idct8_add(self.planes[0], stride, off, c);
                    }
                }
            }
            MbKind::I16x16 => {
                let av = self.intra_avail(0, 0, 16);
                let mode = self.i16mode;
                let ok = match mode {
                    0 => av.top,
                    1 => av.left,
                    3 => av.top && av.left && av.top_left,
                    _ => true,
                };
                if !ok {
                    return Err(Error::invalid(
                        "intra 16x16 mode needs unavailable neighbours",
                    ));
                }
                intra::pred16x16(self.planes[0], stride, base, mode, av);
                for b in 0..16 {
                    let (bx, by) = (BLK_POS[b].0 as usize, BLK_POS[b].1 as usize);
                    let dc = self.dc[by * 4 + bx];
                    let off = base + by * 4 * stride + bx * 4;
                    if self.luma_nz & (1 << b) != 0 {
                        self.luma[b * 16] = dc;
                        let c: &[i32; 16] = self.luma[b * 16..b * 16 + 16]
                            .try_into()
                            .unwrap_or(&[0; 16]);
                        transform::idct4_add(self.planes[0], stride, off, c);
                    } else if dc != 0 {
                        transform::dc4_add(self.planes[0], stride, off, dc);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn recon_intra_chroma(&mut self) -> Result<()> {
        let av = self.intra_avail(0, 0, 16);
        let mode = self.cur.chroma_pred;
        let ok = match mode {
            1 => av.left,
            2 => av.top,
            3 => av.top && av.left && av.top_left,
            _ => true,
        };
        if !ok {
            return Err(Error::invalid(
                "intra chroma mode needs unavailable neighbours",
            ));
        }
        let cw = self.strides[1];
        let off = self.pix_y * 8 * cw + self.mb_x * 8 + self.base[1];
        for c in 0..2 {
            intra::pred_chroma(self.planes[1 + c], cw, off, mode, av);
        }
        self.add_chroma_residual();
        Ok(())
    }

    fn add_luma_residual(&mut self) {
        if self.luma_nz == 0 {
            return;
        }
        let stride = self.strides[0];
        let base = self.pix_y * 16 * stride + self.mb_x * 16 + self.base[0];
        if self.cur.t8x8 {
            for i8 in 0..4 {
                if self.luma_nz & (0xf << (i8 * 4)) != 0 {
                    let off = base + (i8 / 2) * 8 * stride + (i8 % 2) * 8;
                    let c: &[i32; 64] = self.luma[i8 * 64..i8 * 64 + 64]
                        .try_into()
                        .unwrap_or(&[0; 64]);
                    transform::idct8_add(self.planes[0], stride, off, c);
                }
            }
        } else {
            for b in 0..16 {
                if self.luma_nz & (1 << b) != 0 {
                    let (bx, by) = (BLK_POS[b].0 as usize, BLK_POS[b].1 as usize);
                    let off = base + by * 4 * stride + bx * 4;
                    let c: &[i32; 16] = self.luma[b * 16..b * 16 + 16]
                        .try_into()
                        .unwrap_or(&[0; 16]);
                    transform::idct4_add(self.planes[0], stride, off, c);
                }
            }
        }
    }

    fn add_chroma_residual(&mut self) {
        if self.chroma_nz == 0 {
            return;
        }
        let cw = self.strides[1];
        let base = self.pix_y * 8 * cw + self.mb_x * 8 + self.base[1];
        for c in 0..2 {
            for b in 0..4 {
                if self.chroma_nz & (1 << (c * 4 + b)) != 0 {
                    let off = base + (b / 2) * 4 * cw + (b % 2) * 4;
                    let co: &[i32; 16] = self.chroma[c * 64 + b * 16..c * 64 + b * 16 + 16]
                        .try_into()
                        .unwrap_or(&[0; 16]);
                    transform::idct4_add(self.planes[1 + c], cw, off, co);
                }
            }
        }
    }

    /// Motion-compensated prediction of the current macroblock, block by block with
    /// the stored vectors (blocks of 8x8 or 4x4 where partitions are that small).
    fn recon_inter(&mut self) {
        // Choose the block size: partitions are uniform, so predict per partition
        // rectangle; direct and sub-partitioned areas go 4x4 or 8x8.
        let mut rects = [(0usize, 0usize, 0usize, 0usize); 16];
        let mut n = 0;
        let direct_all = matches!(self.cur.kind, MbKind::BSkip | MbKind::BDirect);
        if direct_all && self.cur.uniform {
            // Direct macroblocks usually move as one piece: one 16x16 prediction.
            rects[0] = (0, 0, 4, 4);
            n = 1;
        } else if direct_all || (self.shape == Shape::P8x8 && self.cur.kind != MbKind::PSkip) {
            for i8 in 0..4 {
                let (bx, by) = ((i8 % 2) * 2, (i8 / 2) * 2);
                let is_direct = direct_all || self.cur.direct & (1 << i8) != 0;
                let whole = if is_direct {
                    self.sps.direct_8x8_inference
                } else {
                    self.sub_shape(i8).0 == 1
                };
                if whole {
                    rects[n] = (bx, by, 2, 2);
                    n += 1;
                } else if !is_direct {
                    let (sub, cnt) = self.part_rects(i8);
                    rects[n..n + cnt].copy_from_slice(&sub[..cnt]);
                    n += cnt;
                } else {
                    for s in 0..4 {
                        rects[n] = (bx + s % 2, by + s / 2, 1, 1);
                        n += 1;
                    }
                }
            }
        } else {
            let parts = match self.shape {
                Shape::P16x16 => 1,
                _ => 2,
            };
            let shape = if self.cur.kind == MbKind::PSkip {
                Shape::P16x16
            } else {
                self.shape
            };
            let saved = self.shape;
            self.shape = shape;
            for p in 0..(if shape == Shape::P16x16 { 1 } else { parts }) {
                rects[n] = self.part_rect(p);
                n += 1;
            }
            self.shape = saved;
        }
        for &(x, y, w, h) in &rects[..n] {
            self.mc_block(x, y, w, h);
        }
    }

    /// Whether every 4x4 block of the current macroblock has the same references and
    /// motion vectors.
    fn uniform_motion(&self) -> bool {
        let first = self.blk(0, 0);
        let key = |i: usize| {
            (
                self.pic.ref_idx[0][i],
                self.pic.ref_idx[1][i],
                self.pic.mv[0][i],
                self.pic.mv[1][i],
            )
        };
        let k0 = key(first);
        (0..4).all(|y| (0..4).all(|x| key(self.blk(x, y)) == k0))
    }

    fn mc_block(&mut self, x: usize, y: usize, w: usize, h: usize) {
        let i = self.blk(x, y);
        let r0 = self.pic.ref_idx[0][i];
        let r1 = self.pic.ref_idx[1][i];
        let mv0 = self.pic.mv[0][i];
        let mv1 = self.pic.mv[1][i];
        // A field macroblock of an MBAFF frame predicts from fields: half the height.
        let (pw, ph) = (
            (self.mb_w * 16) as i32,
            ((self.mb_h * 16) >> self.mb_field as usize) as i32,
        );
        let px = (self.mb_x * 16 + x * 4) as i32;
        let py = (self.pix_y * 16 + y * 4) as i32;
        let (bw, bh) = (w * 4, h * 4);
        // 4:0:0 has no chroma to predict: its planes stay neutral.
        let planes = if self.sps.monochrome { 1 } else { 3 };
        for plane in 0..planes {
            let (stride, pw_, ph_, bx, by, bw_, bh_) = if plane == 0 {
                (self.strides[0], pw, ph, px, py, bw, bh)
            } else {
                (
                    self.strides[plane],
                    pw / 2,
                    ph / 2,
                    px / 2,
                    py / 2,
                    bw / 2,
                    bh / 2,
                )
            };
            let wt = self.weighting(r0, r1, plane);
            let off = by as usize * stride + bx as usize + self.base[plane];
            // Chroma vectors between fields of opposite parity move by a quarter
            // chroma sample (8.4.1.4): the fields' chroma rows sit at different heights.
            let field = self.field;
            let refs = self.refs;
            let cmv = |list: usize, r: i8, mv: [i16; 2]| -> [i16; 2] {
                let par = refs.parity[list][r as usize];
                if plane == 0 || field == 0 || par == 0 {
                    mv
                } else {
                    let d = 2 * ((field == 2) as i16 - (par == 2) as i16);
                    [mv[0], mv[1].wrapping_add(d)]
                }
            };
            let own = |list: usize, r: i8| refs.own[list][r as usize];
            let predict = |rp: RefPlane, mv: [i16; 2], out: &mut [u8], os: usize| {
                if plane == 0 {
                    inter::luma(rp, bx, by, mv, bw_, bh_, out, os);
                } else {
                    inter::chroma(rp, bx, by, mv, bw_, bh_, out, os);
                }
            };
            let dpb_plane = |list: usize, r: i8, c: usize| -> RefPlane {
                let pic = &self.dpb[refs.slot[list][r as usize]];
                field_ref(
                    pic.plane(c),
                    pic.strides[c],
                    refs.parity[list][r as usize],
                    pw_,
                    ph_,
                )
            };
            // A single list without weights predicts straight into the picture, Cb and
            // Cr together (chroma weights are sent for both or neither). The first
            // field of the frame being decoded is read from the picture itself, so it
            // goes through the scratch blocks.
            let single = matches!(wt, Weighting::Default) && (r0 < 0) != (r1 < 0);
            if single {
                let (list, r, mv) = if r0 >= 0 { (0, r0, mv0) } else { (1, r1, mv1) };
                if !own(list, r) {
                    if plane == 0 {
                        predict(
                            dpb_plane(list, r, 0),
                            mv,
                            &mut self.planes[0][off..],
                            stride,
                        );
                        continue;
                    }
                    let mv = cmv(list, r, mv);
                    let [_, cb, cr] = &mut self.planes;
                    let out = [&mut cb[off..], &mut cr[off..]];
                    inter::chroma_pair(
                        [dpb_plane(list, r, 1), dpb_plane(list, r, 2)],
                        bx,
                        by,
                        mv,
                        bw_,
                        bh_,
                        out,
                        stride,
                    );
                    break;
                }
            }
            // The list predictions of bi-predicted or weighted blocks go through the
            // slice's scratch blocks (a fresh zeroed pair per block cost measurable time).
            let [p0, p1] = &mut self.mc_tmp;
            for (list, r, mv, out) in [(0, r0, mv0, &mut *p0), (1, r1, mv1, &mut *p1)] {
                if r < 0 {
                    continue;
                }
                let mv = cmv(list, r, mv);
                let rp = if own(list, r) {
                    // The frame stride is half the field's.
                    field_ref(
                        &*self.planes[plane],
                        stride / 2,
                        refs.parity[list][r as usize],
                        pw_,
                        ph_,
                    )
                } else {
                    dpb_plane(list, r, plane)
                };
                predict(rp, mv, out, 16);
            }
            inter::put(
                self.planes[plane],
                off,
                stride,
                bw_,
                bh_,
                if r0 >= 0 { Some(p0) } else { None },
                if r1 >= 0 { Some(p1) } else { None },
                wt,
            );
        }
    }

    fn weighting(&self, r0: i8, r1: i8, plane: usize) -> Weighting {
        let h = self.hdr;
        if h.explicit_weights {
            let log_wd = if plane == 0 {
                h.luma_log2_denom
            } else {
                h.chroma_log2_denom
            } as i32;
            let (mut w0, mut o0, mut w1, mut o1) = (1 << log_wd, 0, 1 << log_wd, 0);
            // References without sent weights use the defaults, which reduce to the
            // plain copy / average: skip the arithmetic for them.
            let mut any = false;
            // Field macroblocks of an MBAFF frame use the weights of the frame their
            // field belongs to (refIdxL0WP = refIdxL0 >> 1, 8.4.2.3).
            let sh = self.mb_field as u8;
            if r0 >= 0 {
                let wt = &h.weights[0][(r0 as u8 >> sh) as usize];
                any |= if plane == 0 { wt.luma } else { wt.chroma };
                w0 = wt.w[plane];
                o0 = wt.o[plane];
            }
            if r1 >= 0 {
                let wt = &h.weights[1][(r1 as u8 >> sh) as usize];
                any |= if plane == 0 { wt.luma } else { wt.chroma };
                w1 = wt.w[plane];
                o1 = wt.o[plane];
            }
            if !any {
                return Weighting::Default;
            }
            Weighting::Weighted {
                log_wd,
                w0,
                o0,
                w1,
                o1,
            }
        } else if h.slice_type == SliceType::B
            && self.pps.weighted_bipred_idc == 2
            && r0 >= 0
            && r1 >= 0
        {
            let w0 = self.implicit_w[self.wsel][r0 as usize][r1 as usize] as i32;
            Weighting::Weighted {
                log_wd: 5,
                w0,
                o0: 0,
                w1: 64 - w0,
                o1: 0,
            }
        } else {
            Weighting::Default
        }
    }
}

/// Implicit bi-prediction weights `w0` (8.4.2.3.1) for the reference lists `refs` of
/// a picture (or field) with POC `poc`; 32 (equal weights) where the rule gives none.
pub(crate) fn implicit_weights(refs: &SliceRefs, poc: i32) -> [[i8; 32]; 32] {
    let mut w = [[32i8; 32]; 32];
    for i in 0..refs.count[0].min(32) {
        for j in 0..refs.count[1].min(32) {
            let (p0, p1) = (refs.poc[0][i], refs.poc[1][j]);
            let tb = (poc - p0).clamp(-128, 127);
            let td = (p1 - p0).clamp(-128, 127);
            if td == 0 || refs.long[0][i] || refs.long[1][j] {
                continue;
            }
            let tx = (16384 + (td / 2).abs()) / td;
            let dsf = ((tb * tx + 32) >> 6).clamp(-1024, 1023);
            let w1 = dsf >> 2;
            if (-64..=128).contains(&w1) {
                w[i][j] = (64 - w1) as i8;
            }
        }
    }
    w
}

/// A reference plane of a frame (`parity` 0) or of one of its fields (1 top, 2
/// bottom: every other row, starting one row down for the bottom field), with the
/// picture size the prediction clamps to.
fn field_ref(
    data: &[u8],
    frame_stride: usize,
    parity: u8,
    width: i32,
    height: i32,
) -> RefPlane<'_> {
    let (data, stride) = match parity {
        0 => (data, frame_stride),
        1 => (data, 2 * frame_stride),
        _ => (data.get(frame_stride..).unwrap_or(&[]), 2 * frame_stride),
    };
    RefPlane {
        data,
        stride,
        width,
        height,
    }
}

pub(crate) fn median_pred(a: Nb, mut b: Nb, mut c: Nb, r: i8) -> [i16; 2] {
    if !b.avail && !c.avail && a.avail {
        b = a;
        c = a;
    }
    let matches = (a.r == r) as u8 + (b.r == r) as u8 + (c.r == r) as u8;
    if matches == 1 {
        if a.r == r {
            return a.mv;
        }
        if b.r == r {
            return b.mv;
        }
        return c.mv;
    }
    [
        median(a.mv[0], b.mv[0], c.mv[0]),
        median(a.mv[1], b.mv[1], c.mv[1]),
    ]
}

/// nC from the counts of the left and upper blocks, when available (9.2.1).
fn nc_of(a: Option<i32>, b: Option<i32>) -> i32 {
    match (a, b) {
        (Some(a), Some(b)) => (a + b + 1) >> 1,
        (Some(a), None) => a,
        (None, Some(b)) => b,
        _ => 0,
    }
}

fn check_dir_mode(mode: u8, av: Avail) -> Result<()> {
    let ok = match mode {
        0 | 3 | 7 => av.top,
        1 | 8 => av.left,
        4..=6 => av.top && av.left && av.top_left,
        2 => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "intra prediction mode {mode} needs unavailable neighbours"
        )))
    }
}

fn bad_residual() -> Error {
    Error::invalid("invalid cavlc residual block")
}

/// Sets the 16 entries of a 4x4-block map (row length `w4`) that belong to the
/// macroblock whose top-left block is at index `at`, one row slice at a time.
#[inline]
pub(crate) fn fill_mb<T: Copy>(map: &mut [T], at: usize, w4: usize, v: T) {
    for y in 0..4 {
        fill_row(map, at + y * w4, 4, v);
    }
}

/// Sets `w` (1, 2 or 4) consecutive entries of a block map from index `at`. The
/// widths are spelled out so each becomes a store or two, not a `memset` call.
#[inline(always)]
pub(crate) fn fill_row<T: Copy>(map: &mut [T], at: usize, w: usize, v: T) {
    match w {
        4 => map[at..at + 4].copy_from_slice(&[v; 4]),
        2 => map[at..at + 2].copy_from_slice(&[v; 2]),
        _ => map[at..at + w].iter_mut().for_each(|m| *m = v),
    }
}

/// Zeroes the 16-coefficient blocks of `coeffs` whose bits are set in `flags`.
fn zero_flagged(coeffs: &mut [i32], mut flags: u32) {
    while flags != 0 {
        let b = flags.trailing_zeros() as usize;
        coeffs[b * 16..b * 16 + 16].fill(0);
        flags &= flags - 1;
    }
}
