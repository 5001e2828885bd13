//! The slice layer (6.2.4 to 6.2.6, 7.2 to 7.6): macroblock modes, motion vectors
//! and their prediction, coefficients and inverse quantisation, and reconstruction
//! straight into the pooled frame.

use crate::bits::Bits;
use crate::header::{Matrices, PictureStructure, PictureType};
use crate::idct::{self, Store};
use crate::kernels::Isa;
use crate::mc::{predict, predict_pair, Plane};
use crate::vlc::*;
use transcode_core::{Error, Result};
use transcode_frame_pool::{FrameData, PlaneLayout};

/// Everything about the current picture that the slice decoder reads.
#[derive(Debug, Clone)]
pub(crate) struct PicCtx {
    pub mpeg2: bool,
    pub ptype: PictureType,
    pub structure: PictureStructure,
    pub f_code: [[u8; 2]; 2],
    pub full_pel: [bool; 2],
    pub dc_prec: u8,
    pub fpfd: bool,
    pub concealment: bool,
    pub q_scale_type: bool,
    pub intra_vlc: bool,
    pub alternate_scan: bool,
    pub tff: bool,
    pub second_field: bool,
    pub chroma422: bool,
    /// Macroblocks per row, and macroblock rows of this picture (of one field for a
    /// field picture).
    pub mb_w: usize,
    pub mb_h: usize,
    pub vertical_size: u32,
    pub matrices: Matrices,
    pub isa: Isa,
}

impl PicCtx {
    fn field(&self) -> bool {
        self.structure != PictureStructure::Frame
    }

    /// Parity of the current field (0 top, 1 bottom); 0 for frame pictures.
    fn parity(&self) -> usize {
        (self.structure == PictureStructure::BottomField) as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Kind {
    #[default]
    Frame,
    Field,
    DualPrime,
    F16x8,
}

/// The prediction of one macroblock: directions, kind, vectors `[r][s][t]`, field
/// selects `[r][s]` and the dual-prime differential.
#[derive(Debug, Clone, Copy, Default)]
struct Motion {
    fwd: bool,
    bwd: bool,
    kind: Kind,
    mv: [[[i32; 2]; 2]; 2],
    /// Field selects, 0 or 1 (bytes, so that a macroblock's motion is small to copy).
    sel: [[u8; 2]; 2],
    dmv: [i32; 2],
}

/// A macroblock's position (in macroblocks) and its origin and row stride in each
/// plane of the current frame.
struct Mb {
    x: i32,
    y: i32,
    org: [(usize, usize); 3],
}

/// Scratch of the slice decoder, kept by the decoder so that slices allocate nothing.
#[derive(Debug)]
pub(crate) struct Scratch {
    block: [[i16; 8]; 8],
    res: [[i16; 8]; 8],
    pred_y: [u8; 256],
    pred_c: [[u8; 128]; 2],
}

impl Default for Scratch {
    fn default() -> Scratch {
        Scratch {
            block: [[0; 8]; 8],
            res: [[0; 8]; 8],
            pred_y: [0; 256],
            pred_c: [[0; 128]; 2],
        }
    }
}

/// Reference frames of the picture: forward and backward (P pictures use `fwd`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refs<'a> {
    pub fwd: Option<&'a FrameData>,
    pub bwd: Option<&'a FrameData>,
}

fn err(what: &str) -> Error {
    Error::invalid(format!("mpeg2 slice: {what}"))
}

/// "truncated block" when the reader has run past the end of the data (the bits it
/// decoded there were padding), else `what`.
#[cold]
fn truncated_or(b: &Bits<'_>, what: &str) -> Error {
    truncated_or_err(b, err(what))
}

/// [`truncated_or`] for an error already made.
#[cold]
fn truncated_or_err(b: &Bits<'_>, e: Error) -> Error {
    if b.overrun() {
        err("truncated block")
    } else {
        e
    }
}

/// Decodes slices of one picture into `cur`.
pub(crate) struct SliceDecoder<'a> {
    pub p: &'a PicCtx,
    /// The current frame's planes, split once per slice (so that neither a block
    /// nor a prediction asks the frame for them), and their layouts.
    cur: [&'a mut [u8]; 3],
    cur_lay: [PlaneLayout; 3],
    /// The reference planes motion compensation reads, resolved once per slice
    /// instead of once per block: `[direction][frame, top field, bottom field][plane]`,
    /// `None` for a missing reference.
    ref_planes: [[[Option<Plane<'a>>; 3]; 3]; 2],
    /// Row strides of the current frame's planes.
    strides: [usize; 3],
    pub s: &'a mut Scratch,
    /// One byte per macroblock of the picture: set once decoded.
    pub done: &'a mut [u8],
    // Slice state.
    qscale: i32,
    dc_pred: [i32; 3],
    pmv: [[[i32; 2]; 2]; 2],
    last: Option<Motion>,
    dct_field: bool,
    /// The address after the last macroblock whose position was computed, and that
    /// position (column, row): consecutive macroblocks step it instead of dividing.
    next: (usize, usize, usize),
}

impl<'a> SliceDecoder<'a> {
    pub(crate) fn new(
        p: &'a PicCtx,
        cur: &'a mut FrameData,
        refs: Refs<'a>,
        s: &'a mut Scratch,
        done: &'a mut [u8],
    ) -> SliceDecoder<'a> {
        let ref_planes = std::array::from_fn(|d| {
            let r = if d == 0 { refs.fwd } else { refs.bwd };
            std::array::from_fn(|f| {
                let parity = f.checked_sub(1);
                std::array::from_fn(|pl| r.map(|r| plane_of(p, r, parity, pl)))
            })
        });
        let strides = std::array::from_fn(|pl| cur.stride(pl));
        let cur_lay = std::array::from_fn(|pl| cur.plane_layout(pl));
        SliceDecoder {
            p,
            cur: cur.planes_mut(),
            cur_lay,
            ref_planes,
            strides,
            s,
            done,
            qscale: 2,
            dc_pred: [0; 3],
            pmv: Default::default(),
            last: None,
            dct_field: false,
            next: (usize::MAX, 0, 0),
        }
    }

    fn set_qscale(&mut self, code: u32) -> Result<()> {
        if code == 0 {
            return Err(err("quantiser_scale_code 0 (expected 1..=31)"));
        }
        self.qscale = if !self.p.mpeg2 {
            code as i32
        } else if self.p.q_scale_type {
            NON_LINEAR_QSCALE[code as usize] as i32
        } else {
            2 * code as i32
        };
        Ok(())
    }

    fn reset_dc(&mut self) {
        let v = 1 << (self.p.dc_prec + 7);
        self.dc_pred = [v; 3];
    }

    /// Decodes one slice: `code` is the slice start code's last byte, `data` what
    /// follows it. Returns the number of macroblocks decoded.
    pub(crate) fn slice(&mut self, code: u8, data: &[u8]) -> Result<usize> {
        let p = self.p;
        let mut b = Bits::new(data);
        let mut row = code as usize - 1;
        if p.vertical_size > 2800 {
            row += (b.read(3) as usize) << 7;
        }
        if row >= p.mb_h {
            return Err(err("slice below the picture"));
        }
        self.set_qscale(b.read(5))?;
        if p.mpeg2 && b.peek(1) == 1 {
            b.skip(9); // intra_slice_flag, intra_slice, reserved_bits
        }
        while b.bit() {
            b.skip(8);
            if b.overrun() {
                return Err(err("truncated slice header"));
            }
        }
        self.reset_dc();
        self.pmv = Default::default();
        self.last = None;
        let total = p.mb_w * p.mb_h;
        let mut addr = row * p.mb_w;
        let mut first = true;
        let mut count = 0;
        loop {
            let mut inc = 0usize;
            loop {
                let e = MBA.get(b.peek(11));
                if e.len == 0 {
                    return Err(err("invalid macroblock_address_increment"));
                }
                b.skip(e.len as u32);
                match e.val {
                    MBA_ESCAPE => inc += 33,
                    MBA_STUFFING => {}
                    v => {
                        inc += v as usize;
                        break;
                    }
                }
                if b.overrun() {
                    return Err(err("truncated macroblock address"));
                }
            }
            if first {
                addr += inc - 1;
                first = false;
            } else {
                if addr + inc >= total {
                    return Err(err("macroblock address past the end of the picture"));
                }
                for k in 1..inc {
                    self.skipped(addr + k)?;
                    count += 1;
                }
                addr += inc;
            }
            if addr >= total {
                return Err(err("macroblock address past the end of the picture"));
            }
            self.macroblock(&mut b, addr)?;
            count += 1;
            if b.overrun() {
                return Err(err("truncated macroblock"));
            }
            if b.left() < 24 && (b.left() == 0 || b.peek(b.left() as u32) == 0) || b.peek(23) == 0 {
                return Ok(count);
            }
        }
    }

    /// A skipped macroblock (7.6.6).
    fn skipped(&mut self, addr: usize) -> Result<()> {
        let p = self.p;
        self.reset_dc();
        let m = match p.ptype {
            PictureType::P => {
                self.pmv = Default::default();
                let mut m = Motion {
                    fwd: true,
                    ..Motion::default()
                };
                if p.field() {
                    m.kind = Kind::Field;
                    m.sel[0][0] = p.parity() as u8;
                }
                m
            }
            // The directions of the previous macroblock, with frame prediction (field
            // prediction from the same parity in a field picture) from the motion
            // vector predictors (7.6.6.4), which are its vectors when it was
            // frame-predicted. This is what FFmpeg does too.
            PictureType::B => match self.last {
                Some(prev) => {
                    let mut m = Motion {
                        fwd: prev.fwd,
                        bwd: prev.bwd,
                        ..Motion::default()
                    };
                    if p.field() {
                        m.kind = Kind::Field;
                        m.sel[0] = [p.parity() as u8; 2];
                    }
                    for d in 0..2 {
                        m.mv[0][d] = self.pmv[0][d];
                    }
                    m
                }
                None => {
                    return Err(err(
                        "skipped macroblock after an intra macroblock in a b picture",
                    ))
                }
            },
            _ => return Err(err("skipped macroblock in an intra picture")),
        };
        self.dct_field = false;
        let mb = self.origins(addr);
        self.predict_mb(&m, &mb)?;
        self.done[addr] = 1;
        Ok(())
    }

    fn motion_vectors(&mut self, b: &mut Bits<'_>, m: &mut Motion, s: usize) -> Result<()> {
        let p = self.p;
        let frame = !p.field();
        match m.kind {
            Kind::Frame => {
                let h = self.mv(b, s, 0, self.pmv[0][s][0])?;
                let v = self.mv(b, s, 1, self.pmv[0][s][1])?;
                self.pmv[0][s] = [h, v];
                self.pmv[1][s] = [h, v];
                m.mv[0][s] = [h, v];
            }
            Kind::Field if frame => {
                for r in 0..2 {
                    m.sel[r][s] = b.read(1) as u8;
                    let h = self.mv(b, s, 0, self.pmv[r][s][0])?;
                    let v = self.mv(b, s, 1, self.pmv[r][s][1] >> 1)?;
                    self.pmv[r][s] = [h, v * 2];
                    m.mv[r][s] = [h, v];
                }
            }
            Kind::Field => {
                m.sel[0][s] = b.read(1) as u8;
                let h = self.mv(b, s, 0, self.pmv[0][s][0])?;
                let v = self.mv(b, s, 1, self.pmv[0][s][1])?;
                self.pmv[0][s] = [h, v];
                self.pmv[1][s] = [h, v];
                m.mv[0][s] = [h, v];
            }
            Kind::F16x8 => {
                for r in 0..2 {
                    m.sel[r][s] = b.read(1) as u8;
                    let h = self.mv(b, s, 0, self.pmv[r][s][0])?;
                    let v = self.mv(b, s, 1, self.pmv[r][s][1])?;
                    self.pmv[r][s] = [h, v];
                    m.mv[r][s] = [h, v];
                }
            }
            Kind::DualPrime => {
                let h = self.mv(b, s, 0, self.pmv[0][s][0])?;
                let dh = self.dmv(b)?;
                let pv = if frame {
                    self.pmv[0][s][1] >> 1
                } else {
                    self.pmv[0][s][1]
                };
                let v = self.mv(b, s, 1, pv)?;
                let dv = self.dmv(b)?;
                let store = if frame { v * 2 } else { v };
                self.pmv[0][s] = [h, store];
                self.pmv[1][s] = [h, store];
                m.mv[0][s] = [h, v];
                m.dmv = [dh, dv];
            }
        }
        Ok(())
    }

    fn dmv(&self, b: &mut Bits<'_>) -> Result<i32> {
        let e = DMV[b.peek(2) as usize];
        if e.len == 0 {
            return Err(err("invalid dmvector"));
        }
        b.skip(e.len as u32);
        Ok(e.val as i32)
    }

    /// One motion vector component (7.6.3.1): motion_code, motion_residual, and the
    /// wrap into the range of f_code.
    #[inline(always)]
    fn mv(&self, b: &mut Bits<'_>, s: usize, t: usize, pred: i32) -> Result<i32> {
        let f_code = self.p.f_code[s][t] as u32;
        if !(1..=9).contains(&f_code) {
            return Err(err("invalid f_code (expected 1..=9)"));
        }
        let e = MOTION.get(b.peek(11));
        if e.len == 0 {
            return Err(err("invalid motion_code"));
        }
        b.skip(e.len as u32);
        let code = e.val as i32;
        let r_size = f_code - 1;
        // Without branches, since the code's sign, whether it is zero and the wrap are
        // all data: the residual has `r_size` bits when the code is not zero, none
        // otherwise (and none when `r_size` is 0, where the formula below gives the
        // code's magnitude).
        let n = if code == 0 { 0 } else { r_size };
        let residual = ((b.peek32() as u64) >> (32 - n)) as i32;
        b.skip(n);
        let d = ((code.abs() - 1) << r_size) + residual + 1;
        let sign = code >> 31;
        let delta = ((d ^ sign) - sign) & -((code != 0) as i32);
        let low = -(16 << r_size);
        let high = (16 << r_size) - 1;
        let range = 32 << r_size;
        let v = pred + delta;
        Ok(v + (range & -((v < low) as i32)) - (range & -((v > high) as i32)))
    }

    fn macroblock(&mut self, b: &mut Bits<'_>, addr: usize) -> Result<()> {
        let p = self.p;
        let mb = self.origins(addr);
        self.prefetch_dst(&mb);
        let t = match p.ptype {
            PictureType::I => MB_TYPE_I[b.peek(2) as usize],
            PictureType::P => MB_TYPE_P[b.peek(6) as usize],
            PictureType::B => MB_TYPE_B[b.peek(6) as usize],
            PictureType::D => {
                if b.peek(1) == 1 {
                    Entry {
                        val: MB_INTRA,
                        len: 1,
                    }
                } else {
                    Entry { val: 0, len: 0 }
                }
            }
        };
        if t.len == 0 {
            return Err(err("invalid macroblock_type"));
        }
        b.skip(t.len as u32);
        let ty = t.val;
        let intra = ty & MB_INTRA != 0;
        let mut m = Motion {
            fwd: ty & MB_FWD != 0,
            bwd: ty & MB_BWD != 0,
            ..Motion::default()
        };
        if m.fwd || m.bwd {
            m.kind = if !p.field() {
                if p.fpfd {
                    Kind::Frame
                } else {
                    match b.read(2) {
                        1 => Kind::Field,
                        2 => Kind::Frame,
                        3 => Kind::DualPrime,
                        _ => return Err(err("frame_motion_type 0")),
                    }
                }
            } else {
                match b.read(2) {
                    1 => Kind::Field,
                    2 => Kind::F16x8,
                    3 => Kind::DualPrime,
                    _ => return Err(err("field_motion_type 0")),
                }
            };
            if m.kind == Kind::DualPrime && (p.ptype != PictureType::P || m.bwd) {
                return Err(err("dual prime outside a p picture"));
            }
        } else if p.field() {
            m.kind = Kind::Field;
        }
        self.dct_field = !p.field() && !p.fpfd && (intra || ty & MB_PATTERN != 0) && b.bit();
        if ty & MB_QUANT != 0 {
            self.set_qscale(b.read(5))?;
        }
        if intra {
            if p.concealment {
                let mut cm = Motion {
                    kind: if p.field() { Kind::Field } else { Kind::Frame },
                    ..Motion::default()
                };
                self.motion_vectors(b, &mut cm, 0)?;
                b.skip(1); // marker_bit
            } else {
                self.pmv = Default::default();
            }
            self.last = None;
            self.intra_mb(b, &mb)?;
        } else {
            self.reset_dc();
            if m.fwd {
                self.motion_vectors(b, &mut m, 0)?;
            } else if p.ptype == PictureType::P {
                // No motion vector: zero vector from the same parity (7.6.3.5).
                self.pmv = Default::default();
                m.fwd = true;
                m.sel[0][0] = p.parity() as u8;
            }
            if m.bwd {
                self.motion_vectors(b, &mut m, 1)?;
            }
            self.last = Some(m);
            self.predict_mb(&m, &mb)?;
            if ty & MB_PATTERN != 0 {
                let e = CBP[b.peek(9) as usize];
                if e.len == 0 || (e.val == 0 && !p.mpeg2) {
                    return Err(err("invalid coded_block_pattern"));
                }
                b.skip(e.len as u32);
                let mut cbp = e.val as u32;
                if p.chroma422 {
                    cbp = cbp << 2 | b.read(2);
                }
                self.residual(b, &mb, cbp)?;
            }
        }
        if p.ptype == PictureType::D && !b.bit() {
            return Err(err("missing end_of_macroblock"));
        }
        self.done[addr] = 1;
        Ok(())
    }

    /// Position of macroblock `addr`, and its origin and row stride in each plane of
    /// the current frame: computed once per macroblock and shared by its prediction
    /// and its blocks. The position steps from the previous macroblock's; only the
    /// first of a slice, or one after skipped ones, costs a division (tens of cycles).
    #[inline]
    fn origins(&mut self, addr: usize) -> Mb {
        let p = self.p;
        let (x, y) = if addr == self.next.0 {
            (self.next.1, self.next.2)
        } else {
            (addr % p.mb_w, addr / p.mb_w)
        };
        self.next = if x + 1 == p.mb_w {
            (addr + 1, 0, y + 1)
        } else {
            (addr + 1, x + 1, y)
        };
        let org = std::array::from_fn(|pl| {
            let stride = self.strides[pl];
            let (w, h) = if pl == 0 {
                (16, 16)
            } else {
                (8, if p.chroma422 { 16 } else { 8 })
            };
            if p.field() {
                (p.parity() * stride + y * h * 2 * stride + x * w, stride * 2)
            } else {
                (y * h * stride + x * w, stride)
            }
        });
        Mb {
            x: x as i32,
            y: y as i32,
            org,
        }
    }

    /// Prefetches part of where the macroblock four columns to the right (eight for
    /// chroma) will be written: four of its luma rows and one chroma row per plane,
    /// turning with the column, so that every row is in cache before it is written.
    /// A hint only.
    #[inline(always)]
    fn prefetch_dst(&self, mb: &Mb) {
        #[cfg(target_arch = "x86_64")]
        if self.p.isa.sse2() {
            let (o, st) = mb.org[0];
            let r = (mb.x & 3) as usize * 4;
            crate::simd::prefetch(&*self.cur[0], o + r * st + 64, st, 4);
            let r = (mb.x & 7) as usize;
            for c in 1..3 {
                let (o, st) = mb.org[c];
                crate::simd::prefetch(&*self.cur[c], o + r * st + 64, st, 1);
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = mb;
    }

    /// Where the luma blocks of the macroblock go: for block `k` (0..4), its offset
    /// from the macroblock's origin is `(k >> 1) * row + (k & 1) * 8`, and its rows are
    /// `stride` apart; with field DCT the top pair holds the top field's rows.
    #[inline(always)]
    fn luma_layout(&self, stride: usize) -> (usize, usize) {
        if self.dct_field {
            (stride, stride * 2)
        } else {
            (8 * stride, stride)
        }
    }

    /// The same for chroma block `j` of a component (0, or 0..2 in 4:2:2): its offset
    /// is `j * row`, its rows `stride` apart.
    #[inline(always)]
    fn chroma_layout(&self, stride: usize) -> (usize, usize) {
        if self.dct_field && self.p.chroma422 {
            (stride, stride * 2)
        } else {
            (8 * stride, stride)
        }
    }

    /// Inverse-transforms the coefficients just read for a block of component `comp`
    /// at offset `at` of its plane, rows `stride` apart, and puts or adds them into
    /// the picture.
    #[inline(always)]
    fn store_block(
        &mut self,
        block: Result<(u8, u8)>,
        comp: usize,
        at: usize,
        stride: usize,
        store: Store,
    ) -> Result<()> {
        let (rows, ac) = match block {
            Ok(masks) => masks,
            Err(e) => {
                // The transform clears only the rows the masks name; a block cut
                // short by damage must not leave coefficients for the next one.
                self.s.block = [[0; 8]; 8];
                return Err(e);
            }
        };
        let s = &mut *self.s;
        idct::idct_store(
            self.p.isa,
            &mut s.block,
            rows,
            ac,
            &mut s.res,
            &mut *self.cur[comp],
            at,
            stride,
            store,
        );
        Ok(())
    }

    /// The blocks of an intra macroblock: the four luma blocks, then the chroma blocks
    /// alternating Cb and Cr. Luma and chroma have loops of their own, so that no
    /// block asks which it is.
    fn intra_mb(&mut self, b: &mut Bits<'_>, mb: &Mb) -> Result<()> {
        let (o, st) = mb.org[0];
        let (row, bs) = self.luma_layout(st);
        for k in 0..4 {
            // One coefficient loop per standard, so that the inverse quantisation does
            // not test which per coefficient.
            let block = if self.p.mpeg2 {
                self.intra_block::<true>(b, 0)
            } else {
                self.intra_block::<false>(b, 0)
            };
            self.store_block(block, 0, o + (k >> 1) * row + (k & 1) * 8, bs, Store::Put)?;
        }
        let nch = if self.p.chroma422 { 4 } else { 2 };
        let (row, bs) = self.chroma_layout(mb.org[1].1);
        for j in 0..nch {
            let comp = 1 + (j & 1);
            let block = if self.p.mpeg2 {
                self.intra_block::<true>(b, comp)
            } else {
                self.intra_block::<false>(b, comp)
            };
            self.store_block(block, comp, mb.org[comp].0 + (j >> 1) * row, bs, Store::Put)?;
        }
        Ok(())
    }

    /// The coded blocks of a non-intra macroblock, as `intra_mb` orders them. Each loop
    /// visits only the blocks `cbp` names (block 0 in its highest bit): one branch
    /// leaves the loop, instead of one per block testing its bit.
    fn residual(&mut self, b: &mut Bits<'_>, mb: &Mb, cbp: u32) -> Result<()> {
        let nch = if self.p.chroma422 { 4 } else { 2 };
        let (o, st) = mb.org[0];
        let (row, bs) = self.luma_layout(st);
        let mut left = ((cbp >> nch) & 0xf) << 28;
        while left != 0 {
            let k = left.leading_zeros() as usize;
            left &= !(0x8000_0000u32 >> (k & 3));
            let block = if self.p.mpeg2 {
                self.inter_block::<true>(b, 0)
            } else {
                self.inter_block::<false>(b, 0)
            };
            self.store_block(block, 0, o + (k >> 1) * row + (k & 1) * 8, bs, Store::Add)?;
        }
        let (row, bs) = self.chroma_layout(mb.org[1].1);
        let mut left = cbp << (32 - nch);
        while left != 0 {
            let j = left.leading_zeros() as usize;
            left &= !(0x8000_0000u32 >> (j & 3));
            let comp = 1 + (j & 1);
            let block = if self.p.mpeg2 {
                self.inter_block::<true>(b, comp)
            } else {
                self.inter_block::<false>(b, comp)
            };
            self.store_block(block, comp, mb.org[comp].0 + (j >> 1) * row, bs, Store::Add)?;
        }
        Ok(())
    }

    /// Reads an escaped run and level.
    #[inline]
    fn escape(mpeg2: bool, b: &mut Bits<'_>) -> Result<(u32, i32)> {
        b.skip(6);
        let run = b.read(6);
        let level = if mpeg2 {
            let l = b.read(12) as i32;
            let l = if l >= 2048 { l - 4096 } else { l };
            if l == 0 || l == -2048 {
                return Err(err("invalid escaped level"));
            }
            l
        } else {
            match b.read(8) {
                0 => b.read(8) as i32,
                128 => b.read(8) as i32 - 256,
                l => l as i8 as i32,
            }
        };
        if level == 0 {
            return Err(err("invalid escaped level"));
        }
        Ok((run, level))
    }

    /// An intra block (7.2.1, 7.4): DC from its predictor, AC from table zero or one.
    /// Returns the masks `idct` takes (rows with coefficients, rows with AC terms).
    /// `MPEG2` is `p.mpeg2`. Inlined into its loops (as a call it costs more in
    /// spills than it saves in code).
    #[inline(always)]
    fn intra_block<const MPEG2: bool>(
        &mut self,
        b: &mut Bits<'_>,
        comp: usize,
    ) -> Result<(u8, u8)> {
        let p = self.p;
        let size = if comp == 0 {
            let e = DC_LUMA[b.peek(9) as usize];
            b.skip(e.len as u32);
            e.val as u32
        } else {
            let e = DC_CHROMA[b.peek(10) as usize];
            b.skip(e.len as u32);
            e.val as u32
        };
        // The differential without branches (its size and sign are data): `size`
        // bits, none for size 0; below half the range it is negative (7.2.1).
        let v = ((b.peek32() as u64) >> (32 - size)) as i32;
        b.skip(size);
        let diff = v - (((1 << size) - 1) & -((v < (1 << size) >> 1) as i32));
        let dc = self.dc_pred[comp] + diff;
        // A damaged stream can walk the predictor anywhere; keep it in range.
        let dc = dc.clamp(0, (1 << (8 + p.dc_prec)) - 1);
        self.dc_pred[comp] = dc;
        let w = &p.matrices.0[if comp == 0 { 0 } else { 2 }];
        let dcv = if p.mpeg2 {
            dc << (3 - p.dc_prec)
        } else {
            dc * w[0] as i32
        }
        .clamp(-2048, 2047);
        let blk = &mut self.s.block;
        blk[0][0] = dcv as i16;
        if p.ptype == PictureType::D {
            return Ok((1, 0));
        }
        let scan = if p.alternate_scan {
            &ALTERNATE
        } else {
            &ZIGZAG
        };
        let table = if p.intra_vlc { &B15 } else { &B14 };
        let qs = self.qscale;
        // Bits 0..8: rows holding a coefficient; bits 8..16: rows holding one outside
        // column 0 (see `ROW_MASKS`).
        let mut masks = 1u16;
        let mut sum = dcv;
        let mut i = 0usize;
        loop {
            let (run, mag, sign) = run_level::<MPEG2>(b, table)?;
            if run == RUN_EOB as u32 {
                break;
            }
            i += run as usize + 1;
            if i > 63 {
                return Err(truncated_or(
                    b,
                    "dct coefficients past the end of the block",
                ));
            }
            // `& 63` keeps the index visibly in range (the scans hold 0..64 only), so
            // that none of the three tables it indexes is bounds-checked.
            let pos = scan[i] as usize & 63;
            let a = mag * w[pos] as i32 * qs;
            let v = if MPEG2 { a >> 4 } else { ((a >> 3) - 1) | 1 };
            let v = ((v ^ sign) - sign).clamp(-2048, 2047);
            blk.as_flattened_mut()[pos] = v as i16;
            masks |= ROW_MASKS[pos];
            sum ^= v;
        }
        // Past the end of the data the reader gives zero bits, which no code of the
        // table matches: a block running off the end stops at the error branches
        // above, which report it as truncated, so checking here once suffices.
        if b.overrun() {
            return Err(err("truncated block"));
        }
        if MPEG2 {
            // Mismatch control (7.4.4) without a branch: an even sum toggles the last
            // coefficient's lowest bit.
            let even = ((sum & 1) ^ 1) as i16;
            blk[7][7] ^= even;
            masks |= 0x8080 & (-even) as u16;
        }
        Ok((masks as u8, (masks >> 8) as u8))
    }

    /// A non-intra block: table zero, with `1s` as the first coefficient. Inlined
    /// into its loops, as `intra_block` is.
    #[inline(always)]
    fn inter_block<const MPEG2: bool>(
        &mut self,
        b: &mut Bits<'_>,
        comp: usize,
    ) -> Result<(u8, u8)> {
        let p = self.p;
        let w = &p.matrices.0[if comp == 0 { 1 } else { 3 }];
        let scan = if p.alternate_scan {
            &ALTERNATE
        } else {
            &ZIGZAG
        };
        let qs = self.qscale;
        let blk = &mut self.s.block;
        let mut masks = 0u16;
        let mut sum = 0i32;
        let mut i = usize::MAX; // the first coefficient lands on 0
                                // The first coefficient may be the short code `1s` (level 1, run 0), which
                                // table zero gives to the end of block everywhere else; it is decoded before the
                                // loop so that the loop does not test for it.
        let bits = b.peek32();
        let mut next = if bits >> 31 == 1 {
            b.skip(2);
            (0, 1, -(((bits >> 30) & 1) as i32))
        } else {
            let c = run_level::<MPEG2>(b, &B14)?;
            if c.0 == RUN_EOB as u32 {
                return Err(truncated_or(b, "end of block before the first coefficient"));
            }
            c
        };
        loop {
            let (run, mag, sign) = next;
            i = i.wrapping_add(run as usize + 1);
            if i > 63 {
                return Err(truncated_or(
                    b,
                    "dct coefficients past the end of the block",
                ));
            }
            // `& 63` keeps the index visibly in range (the scans hold 0..64 only), so
            // that none of the three tables it indexes is bounds-checked.
            let pos = scan[i] as usize & 63;
            let a = (2 * mag + 1) * w[pos] as i32 * qs;
            let v = if MPEG2 { a >> 5 } else { ((a >> 4) - 1) | 1 };
            let v = ((v ^ sign) - sign).clamp(-2048, 2047);
            blk.as_flattened_mut()[pos] = v as i16;
            masks |= ROW_MASKS[pos];
            sum ^= v;
            next = run_level::<MPEG2>(b, &B14)?;
            if next.0 == RUN_EOB as u32 {
                break;
            }
        }
        // See `intra_block`: running off the end ends at an error branch above.
        if b.overrun() {
            return Err(err("truncated block"));
        }
        if MPEG2 {
            // Mismatch control (7.4.4) without a branch: an even sum toggles the last
            // coefficient's lowest bit.
            let even = ((sum & 1) ^ 1) as i16;
            blk[7][7] ^= even;
            masks |= 0x8080 & (-even) as u16;
        }
        Ok((masks as u8, (masks >> 8) as u8))
    }

    /// Forms the prediction of macroblock `mb` and writes it to the current frame.
    fn predict_mb(&mut self, m: &Motion, mb: &Mb) -> Result<()> {
        let p = self.p;
        // The second field of a P frame may predict from the first field of the same
        // frame, which then cannot be written while it is read: predict into the
        // scratch and copy. Every other picture predicts straight into the frame.
        if p.ptype == PictureType::P && p.second_field {
            return self.predict_mb_via_scratch(m, mb);
        }
        let [y, cb, cr] = &mut self.cur;
        let dst = PredDst::Frame([&mut **y, &mut **cb, &mut **cr], mb.org);
        predict_into(p, &self.ref_planes, None, m, mb, dst)
    }

    /// [`SliceDecoder::predict_mb`] in the second field of a P frame: into the
    /// scratch, with the first field of the current frame as a reference, then copied.
    #[inline(never)]
    fn predict_mb_via_scratch(&mut self, m: &Motion, mb: &Mb) -> Result<()> {
        let p = self.p;
        let c422 = p.chroma422;
        let org = mb.org;
        let (cur, lay) = (&self.cur, &self.cur_lay);
        let fields: [[Plane<'_>; 3]; 2] = std::array::from_fn(|f| {
            std::array::from_fn(|pl| plane_from(p, &*cur[pl], lay[pl], Some(f)))
        });
        let Scratch { pred_y, pred_c, .. } = &mut *self.s;
        let dst = PredDst::Scratch(pred_y, pred_c);
        predict_into(p, &self.ref_planes, Some(&fields), m, mb, dst)?;
        // From the scratch, write the prediction into the frame a fixed-size row at a
        // time.
        {
            let s = &*self.s;
            let (o, st) = org[0];
            let dst = &mut *self.cur[0];
            for (j, src) in s.pred_y.chunks_exact(16).enumerate() {
                dst[o + j * st..o + j * st + 16].copy_from_slice(src);
            }
            let ch = if c422 { 16 } else { 8 };
            for c in 0..2 {
                let (o, st) = org[c + 1];
                let dst = &mut *self.cur[c + 1];
                for (j, src) in s.pred_c[c].chunks_exact(8).take(ch).enumerate() {
                    let d: &mut [u8; 8] = (&mut dst[o + j * st..o + j * st + 8])
                        .try_into()
                        .expect("8 samples");
                    *d = src.try_into().expect("8 samples");
                }
            }
        }
        Ok(())
    }
}

/// The prediction of macroblock `mb` with motion `m` into `dst`, from the slice's
/// reference planes `planes` (and, in the second field of a P frame, the current
/// frame's fields `cur`).
fn predict_into(
    p: &PicCtx,
    planes: &[[[Option<Plane<'_>>; 3]; 3]; 2],
    cur: Option<&[[Plane<'_>; 3]; 2]>,
    m: &Motion,
    mb: &Mb,
    mut dst: PredDst<'_>,
) -> Result<()> {
    let (x, y) = (mb.x, mb.y);
    let c422 = p.chroma422;
    let rp = |s: usize, parity: Option<usize>, pl: usize| ref_plane(p, cur, planes, s, parity, pl);
    // The directions to predict, the second averaged with the first. The match on
    // the motion kind comes first and each arm loops over them: with the loop
    // outside, the destinations of every arm were computed ahead of it for each
    // macroblock.
    let mut dirs = [(0usize, false); 2];
    let mut n = 0;
    for (s, on) in [m.fwd, m.bwd].into_iter().enumerate() {
        if on {
            dirs[n] = (s, n == 1);
            n += 1;
        }
    }
    let dirs = &dirs[..n];
    // MPEG-1 full-sample vectors are scaled to half samples here.
    let v = |r: usize, s: usize| {
        let scale = if p.full_pel[s] { 2 } else { 1 };
        [m.mv[r][s][0] * scale, m.mv[r][s][1] * scale]
    };
    match (p.field(), m.kind) {
        (false, Kind::Frame) => {
            for &(s, avg) in dirs {
                let [mx, my] = v(0, s);
                let src = rp(s, None, 0)?;
                prefetch_ahead(
                    src,
                    [rp(s, None, 1)?, rp(s, None, 2)?],
                    x,
                    y * 16 + (my >> 1),
                    mx,
                    c422,
                );
                pred::<16, 16>(src, x * 32 + mx, y * 32 + my, dst.at(0, 0, 16), avg);
                {
                    // Both chroma planes at once: they share their layout.
                    let src = [rp(s, None, 1)?, rp(s, None, 2)?];
                    if c422 {
                        pred_pair::<8, 16>(
                            &src,
                            x * 16 + mx / 2,
                            y * 32 + my,
                            dst.at_chroma(0, 8),
                            avg,
                        );
                    } else {
                        pred_pair::<8, 8>(
                            &src,
                            x * 16 + mx / 2,
                            y * 16 + my / 2,
                            dst.at_chroma(0, 8),
                            avg,
                        );
                    }
                }
            }
        }
        (false, Kind::Field) => {
            for &(s, avg) in dirs {
                for r in 0..2 {
                    let [mx, my] = v(r, s);
                    let f = m.sel[r][s] as usize;
                    let src = rp(s, Some(f), 0)?;
                    // In the field's plane, where the macroblock has 8 of its rows.
                    prefetch_ahead(
                        src,
                        [rp(s, Some(f), 1)?, rp(s, Some(f), 2)?],
                        x,
                        y * 8 + (my >> 1),
                        mx,
                        c422,
                    );
                    pred::<16, 8>(src, x * 32 + mx, y * 16 + my, dst.at(0, r * 16, 32), avg);
                    {
                        // Both chroma planes at once: they share their layout.
                        let src = [rp(s, Some(f), 1)?, rp(s, Some(f), 2)?];
                        if c422 {
                            pred_pair::<8, 8>(
                                &src,
                                x * 16 + mx / 2,
                                y * 16 + my,
                                dst.at_chroma(r * 8, 16),
                                avg,
                            );
                        } else {
                            pred_pair::<8, 4>(
                                &src,
                                x * 16 + mx / 2,
                                y * 8 + my / 2,
                                dst.at_chroma(r * 8, 16),
                                avg,
                            );
                        }
                    }
                }
            }
        }
        (false, Kind::DualPrime | Kind::F16x8) => {
            for &(s, _) in dirs {
                let [mx, my] = v(0, s);
                for par in 0..2 {
                    let [dx, dy] = dual_prime_vector(p, mx, my, m.dmv, par);
                    for (k, (f, vx, vy)) in
                        [(par, mx, my), (1 - par, dx, dy)].into_iter().enumerate()
                    {
                        let a = k == 1;
                        let src = rp(s, Some(f), 0)?;
                        pred::<16, 8>(src, x * 32 + vx, y * 16 + vy, dst.at(0, par * 16, 32), a);
                        {
                            // Both chroma planes at once: they share their layout.
                            let src = [rp(s, Some(f), 1)?, rp(s, Some(f), 2)?];
                            if c422 {
                                pred_pair::<8, 8>(
                                    &src,
                                    x * 16 + vx / 2,
                                    y * 16 + vy,
                                    dst.at_chroma(par * 8, 16),
                                    a,
                                );
                            } else {
                                pred_pair::<8, 4>(
                                    &src,
                                    x * 16 + vx / 2,
                                    y * 8 + vy / 2,
                                    dst.at_chroma(par * 8, 16),
                                    a,
                                );
                            }
                        }
                    }
                }
            }
        }
        (true, Kind::Field | Kind::Frame) => {
            for &(s, avg) in dirs {
                let [mx, my] = v(0, s);
                let f = m.sel[0][s] as usize;
                let src = rp(s, Some(f), 0)?;
                prefetch_ahead(
                    src,
                    [rp(s, Some(f), 1)?, rp(s, Some(f), 2)?],
                    x,
                    y * 16 + (my >> 1),
                    mx,
                    c422,
                );
                pred::<16, 16>(src, x * 32 + mx, y * 32 + my, dst.at(0, 0, 16), avg);
                {
                    // Both chroma planes at once: they share their layout.
                    let src = [rp(s, Some(f), 1)?, rp(s, Some(f), 2)?];
                    if c422 {
                        pred_pair::<8, 16>(
                            &src,
                            x * 16 + mx / 2,
                            y * 32 + my,
                            dst.at_chroma(0, 8),
                            avg,
                        );
                    } else {
                        pred_pair::<8, 8>(
                            &src,
                            x * 16 + mx / 2,
                            y * 16 + my / 2,
                            dst.at_chroma(0, 8),
                            avg,
                        );
                    }
                }
            }
        }
        (true, Kind::F16x8) => {
            for &(s, avg) in dirs {
                for r in 0..2 {
                    let [mx, my] = v(r, s);
                    let f = m.sel[r][s] as usize;
                    let src = rp(s, Some(f), 0)?;
                    let ry = r as i32 * 16;
                    pred::<16, 8>(
                        src,
                        x * 32 + mx,
                        y * 32 + ry + my,
                        dst.at(0, r * 128, 16),
                        avg,
                    );
                    {
                        // Both chroma planes at once: they share their layout.
                        let src = [rp(s, Some(f), 1)?, rp(s, Some(f), 2)?];
                        if c422 {
                            pred_pair::<8, 8>(
                                &src,
                                x * 16 + mx / 2,
                                y * 32 + ry + my,
                                dst.at_chroma(r * 64, 8),
                                avg,
                            );
                        } else {
                            pred_pair::<8, 4>(
                                &src,
                                x * 16 + mx / 2,
                                y * 16 + ry / 2 + my / 2,
                                dst.at_chroma(r * 32, 8),
                                avg,
                            );
                        }
                    }
                }
            }
        }
        (true, Kind::DualPrime) => {
            for &(s, _) in dirs {
                let [mx, my] = v(0, s);
                let par = p.parity();
                let [dx, dy] = dual_prime_vector(p, mx, my, m.dmv, par);
                for (k, (f, vx, vy)) in [(par, mx, my), (1 - par, dx, dy)].into_iter().enumerate() {
                    let a = k == 1;
                    let src = rp(s, Some(f), 0)?;
                    pred::<16, 16>(src, x * 32 + vx, y * 32 + vy, dst.at(0, 0, 16), a);
                    {
                        // Both chroma planes at once: they share their layout.
                        let src = [rp(s, Some(f), 1)?, rp(s, Some(f), 2)?];
                        if c422 {
                            pred_pair::<8, 16>(
                                &src,
                                x * 16 + vx / 2,
                                y * 32 + vy,
                                dst.at_chroma(0, 8),
                                a,
                            );
                        } else {
                            pred_pair::<8, 8>(
                                &src,
                                x * 16 + vx / 2,
                                y * 16 + vy / 2,
                                dst.at_chroma(0, 8),
                                a,
                            );
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Reads one DCT coefficient code of `table` (and its sign bit, or the escape that
/// follows it): the run, the level's magnitude and its sign as a mask (0 or -1), so
/// that the sign is applied once, without a branch, after inverse quantisation. The
/// run is [`RUN_EOB`] at the end of the block.
#[inline(always)]
fn run_level<const MPEG2: bool>(b: &mut Bits<'_>, table: &CoefTable) -> Result<(u32, i32, i32)> {
    let bits = b.peek32();
    let c = coef(table, bits);
    // Ordinary codes first, with the one comparison that tells them from the markers.
    if c.run < RUN_EOB {
        b.skip(c.len as u32 + 1);
        // The sign bit follows the code: shifted to the top, then spread by the
        // arithmetic shift into the mask (codes are at most 16 bits long).
        let sign = ((bits << (c.len & 31)) as i32) >> 31;
        return Ok((c.run as u32, c.level as i32, sign));
    }
    if c.run == RUN_EOB {
        b.skip(c.len as u32);
        return Ok((RUN_EOB as u32, 0, 0));
    }
    if c.run != RUN_ESCAPE {
        return Err(truncated_or(b, "invalid dct coefficient"));
    }
    let (run, level) = SliceDecoder::escape(MPEG2, b).map_err(|e| truncated_or_err(b, e))?;
    Ok((run, level.abs(), level >> 31))
}

/// For each raster position of a block, the bits it sets in a coefficient decoder's
/// masks: its row's in the low byte, and its row's in the high byte when it is not in
/// column 0 (the rows `idct` must transform in full).
const ROW_MASKS: [u16; 64] = {
    let mut m = [0u16; 64];
    let mut pos = 0;
    while pos < 64 {
        let row = 1u16 << (pos >> 3);
        m[pos] = if pos & 7 != 0 { row | row << 8 } else { row };
        pos += 1;
    }
    m
};

/// Where a macroblock's prediction is formed.
enum PredDst<'d> {
    /// Straight into the current frame: its planes, and the macroblock's origin and
    /// row stride in each.
    Frame([&'d mut [u8]; 3], [(usize, usize); 3]),
    /// Into the scratch's luma and chroma blocks, to be copied to the frame after.
    Scratch(&'d mut [u8; 256], &'d mut [[u8; 128]; 2]),
}

impl PredDst<'_> {
    /// The destination, and its row stride, of the prediction the scratch layout puts
    /// at `start` of plane `pl`'s block with rows `stride` apart. Scratch rows are the
    /// block's width (16 luma, 8 chroma) apart, so `start` and `stride` name a first
    /// row and a row step, which in the frame are rows of the macroblock.
    #[inline(always)]
    fn at(&mut self, pl: usize, start: usize, stride: usize) -> (&mut [u8], usize) {
        match self {
            PredDst::Scratch(y, c) => {
                if pl == 0 {
                    (&mut y[start..], stride)
                } else {
                    (&mut c[pl - 1][start..], stride)
                }
            }
            PredDst::Frame(planes, org) => {
                let w = if pl == 0 { 16 } else { 8 };
                let (o, st) = org[pl];
                (&mut planes[pl][o + start / w * st..], stride / w * st)
            }
        }
    }

    /// [`PredDst::at`] for both chroma planes, whose layouts are the same.
    #[inline(always)]
    fn at_chroma(&mut self, start: usize, stride: usize) -> ([&mut [u8]; 2], usize) {
        match self {
            PredDst::Scratch(_, c) => {
                let [c0, c1] = &mut **c;
                ([&mut c0[start..], &mut c1[start..]], stride)
            }
            PredDst::Frame([_, cb, cr], org) => {
                let (o, st) = org[1];
                let at = o + start / 8 * st;
                ([&mut cb[at..], &mut cr[at..]], stride / 8 * st)
            }
        }
    }
}

/// [`predict_pair`] of both chroma planes into destinations from
/// [`PredDst::at_chroma`].
#[inline(always)]
fn pred_pair<const W: usize, const H: usize>(
    src: &[&Plane<'_>; 2],
    hx: i32,
    hy: i32,
    (dst, ds): ([&mut [u8]; 2], usize),
    avg: bool,
) {
    predict_pair::<W, H>(*src, hx, hy, dst, ds, avg);
}

/// [`predict`] into a destination from [`PredDst::at`].
#[inline(always)]
fn pred<const W: usize, const H: usize>(
    src: &Plane<'_>,
    hx: i32,
    hy: i32,
    (dst, ds): (&mut [u8], usize),
    avg: bool,
) {
    predict::<W, H>(src, hx, hy, dst, ds, avg);
}

/// Prefetches the reference area that the macroblock four columns to the right reads
/// if its vector is like this one's (horizontal `mx` in half samples; `ly` the luma
/// row this macroblock's prediction starts at): four of its sixteen luma rows and one
/// chroma row of each plane, turning with the column, so that over four (luma) and
/// eight (chroma) macroblocks every row is fetched ahead of its use. A hint only.
#[inline(always)]
fn prefetch_ahead(luma: &Plane<'_>, chroma: [&Plane<'_>; 2], x: i32, ly: i32, mx: i32, c422: bool) {
    let lx = x * 16 + (mx >> 1) + 64;
    crate::mc::prefetch(luma, lx, ly + (x & 3) * 4, 4);
    let cy = if c422 { ly } else { ly >> 1 };
    for c in chroma {
        crate::mc::prefetch(c, (lx >> 1) + 32, cy + (x & 7), 1);
    }
}

/// The vector predicting field `par` from the opposite parity (7.6.3.6).
fn dual_prime_vector(p: &PicCtx, mx: i32, my: i32, dmv: [i32; 2], par: usize) -> [i32; 2] {
    // Field distance to the opposite-parity reference field: one in field pictures
    // and for the field shown first in a frame picture (its reference is the last
    // field of the reference frame), three for the field shown second.
    let m = if p.field() || (par == 0) == p.tff {
        1
    } else {
        3
    };
    let e = if par == 0 { -1 } else { 1 };
    let scale = |v: i32| (v * m + (v > 0) as i32) >> 1;
    [scale(mx) + dmv[0], scale(my) + e + dmv[1]]
}

/// The reference plane for direction `s` and field `parity` (`None`: the frame) from
/// the slice's table `planes`, by reference (a plane is not copied per block): in the
/// second field of a P frame, the opposite parity is the first field of the current
/// frame, from `cur`, which the table cannot hold.
#[inline(always)]
fn ref_plane<'t, 'b>(
    p: &PicCtx,
    cur: Option<&'t [[Plane<'b>; 3]; 2]>,
    planes: &'t [[[Option<Plane<'b>>; 3]; 3]; 2],
    s: usize,
    parity: Option<usize>,
    pl: usize,
) -> Result<&'t Plane<'b>> {
    let plane = match parity {
        Some(f) if p.ptype == PictureType::P && p.second_field && f != p.parity() => {
            cur.map(|c| &c[f & 1][pl % 3])
        }
        _ => planes[s & 1][parity.map_or(0, |f| 1 + (f & 1))][pl % 3].as_ref(),
    };
    plane.ok_or_else(|| err("missing reference picture"))
}

/// Plane `pl` of `data` as motion compensation reads it: the frame (`parity` `None`)
/// or one of its fields.
fn plane_of<'b>(p: &PicCtx, data: &'b FrameData, parity: Option<usize>, pl: usize) -> Plane<'b> {
    plane_from(p, data.plane(pl), data.plane_layout(pl), parity)
}

/// [`plane_of`] for a plane's bytes `data` laid out as `lay`.
fn plane_from<'b>(
    p: &PicCtx,
    data: &'b [u8],
    lay: PlaneLayout,
    parity: Option<usize>,
) -> Plane<'b> {
    match parity {
        None => Plane {
            data,
            base: 0,
            stride: lay.stride,
            width: lay.row_bytes,
            height: lay.rows,
            isa: p.isa,
        },
        Some(f) => Plane {
            data,
            base: f * lay.stride,
            stride: lay.stride * 2,
            width: lay.row_bytes,
            height: lay.rows / 2,
            isa: p.isa,
        },
    }
}

/// Fills macroblocks of `cur` that no slice decoded with the co-located samples of
/// `src` (or mid-grey without a reference). Returns how many were concealed.
pub(crate) fn conceal(
    p: &PicCtx,
    cur: &mut FrameData,
    src: Option<&FrameData>,
    done: &[u8],
) -> usize {
    let mut n = 0;
    for (addr, &d) in done.iter().enumerate().take(p.mb_w * p.mb_h) {
        if d != 0 {
            continue;
        }
        n += 1;
        let (x, y) = (addr % p.mb_w, addr / p.mb_w);
        for pl in 0..3 {
            let (w, h) = if pl == 0 {
                (16, 16)
            } else {
                (8, if p.chroma422 { 16 } else { 8 })
            };
            let stride = cur.stride(pl);
            let (o, st) = if p.field() {
                (p.parity() * stride + y * h * 2 * stride + x * w, stride * 2)
            } else {
                (y * h * stride + x * w, stride)
            };
            for j in 0..h {
                let at = o + j * st;
                match src {
                    Some(s) => {
                        let row = &s.plane(pl)[at..at + w];
                        cur.plane_mut(pl)[at..at + w].copy_from_slice(row);
                    }
                    None => cur.plane_mut(pl)[at..at + w].fill(128),
                }
            }
        }
    }
    n
}
