//! MBAFF frames (macroblock-adaptive frame/field coding): the slice data loop over
//! macroblock pairs with `mb_field_decoding_flag` (7.3.4, 7.4.4), the geometry of
//! field macroblocks, and the neighbour derivation of 6.4.12.2 (Table 6-4) that
//! intra prediction, nC, CABAC contexts and motion vector prediction read through.
//!
//! ```text
//!   pair (mx, py) = table rows 2py (top) and 2py + 1 (bottom), picture rows 32py..32py+31
//!   frame pair:  top MB = rows 0..15, bottom MB = rows 16..31
//!   field pair:  top MB = even rows (top field), bottom MB = odd rows (bottom field)
//! ```
//!
//! Per-4x4 tables (motion, nnz, modes) stay indexed by the table position of the
//! macroblock, whatever its structure; only samples follow the structure. A field
//! macroblock addresses its field with doubled strides and a one-row offset for the
//! bottom field, so prediction and transform kernels do not know about pairs. Every
//! neighbouring sample is then the geometric one in the macroblock's own rows, which
//! is what Table 6-4 gives; neighbouring blocks are not, and go through
//! [`SliceDecoder::mbaff_loc`].

use crate::bitreader::BitReader;
use crate::mb::{MbInfo, MbKind, Nb, SliceDecoder, NB_NONE};
use crate::slice::SliceType;
use transcode_core::{Error, Result};

/// The neighbouring pairs, as indices into [`SliceDecoder::pairs`].
const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
const D: usize = 3;
/// The current pair (always available).
const CUR: usize = 4;

/// A neighbouring 4x4 block: its index in the per-4x4 tables, its macroblock's table
/// index (`m == NONE` when not available), and whether that macroblock's structure
/// differs from the current one's (frame beside field).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NbLoc {
    pub i: u32,
    pub m: u32,
    pub cross: bool,
}

impl NbLoc {
    const NONE: NbLoc = NbLoc {
        i: 0,
        m: u32::MAX,
        cross: false,
    };

    #[inline]
    fn get(self) -> Option<(usize, usize, bool)> {
        (self.m != u32::MAX).then_some((self.i as usize, self.m as usize, self.cross))
    }
}

/// The neighbouring blocks of the current macroblock that prediction, nC, CABAC
/// contexts and motion vector prediction ask for, worked out once per macroblock
/// from Table 6-4 so that each look-up is an array read instead of the table walk of
/// [`SliceDecoder::mbaff_loc`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct MbaffNb {
    /// Luma blocks left of rows 0, 4, 8 and 12 (xN = -1).
    a: [NbLoc; 4],
    /// The luma block above column 0 (yN = -1); columns 4, 8, 12 follow it.
    b: NbLoc,
    /// The luma block above-right (16, -1), and above-left (-1, -1).
    c: NbLoc,
    d: NbLoc,
    /// Chroma blocks left of chroma rows 0 and 4, and above chroma column 0.
    ca: [NbLoc; 2],
    cb: NbLoc,
}

impl Default for MbaffNb {
    fn default() -> Self {
        MbaffNb {
            a: [NbLoc::NONE; 4],
            b: NbLoc::NONE,
            c: NbLoc::NONE,
            d: NbLoc::NONE,
            ca: [NbLoc::NONE; 2],
            cb: NbLoc::NONE,
        }
    }
}

/// Row `yn` (0..`max_h`) of the left neighbour pair (Table 6-4, xN < 0): whether it
/// lies in the pair's bottom macroblock, and its row `yM` there. `cur_field` and
/// `top` describe the current macroblock, `a_field` the left pair.
pub(crate) fn left_nb(
    cur_field: bool,
    top: bool,
    a_field: bool,
    yn: i32,
    max_h: i32,
) -> (bool, i32) {
    match (cur_field, top, a_field) {
        (false, true, false) => (false, yn),
        (false, true, true) => (yn & 1 != 0, yn >> 1),
        (false, false, false) => (true, yn),
        (false, false, true) => (yn & 1 != 0, (yn + max_h) >> 1),
        (true, true, false) if yn < max_h / 2 => (false, yn << 1),
        (true, true, false) => (true, (yn << 1) - max_h),
        (true, false, false) if yn < max_h / 2 => (false, (yn << 1) + 1),
        (true, false, false) => (true, (yn << 1) + 1 - max_h),
        (true, true, true) => (false, yn),
        (true, false, true) => (true, yn),
    }
}

impl<'a> SliceDecoder<'a> {
    /// Where luma (`max_h` 16) or chroma (`max_h` 8) location `(xn, yn)`, relative to
    /// the current macroblock's top-left sample in its own rows, lies (6.4.12.2, Table
    /// 6-4): the table index of the macroblock holding it and the row `yM` inside that
    /// macroblock, or `None` when that macroblock is not available.
    pub(crate) fn mbaff_loc(
        &self,
        xn: i32,
        yn: i32,
        max_w: i32,
        max_h: i32,
    ) -> Option<(usize, i32)> {
        let top = self.mb_y.is_multiple_of(2);
        let cur_field = self.mb_field;
        let field_of = |p: usize| -> Option<bool> {
            if p == CUR {
                Some(cur_field)
            } else {
                self.pairs[p]
            }
        };
        // (pair, bottom macroblock of the pair, yM)
        let (pair, bottom, ym) = if xn < 0 {
            if yn < 0 {
                if !cur_field {
                    if top {
                        field_of(D)?;
                        (D, true, yn)
                    } else if !field_of(A)? {
                        (A, false, yn)
                    } else {
                        (A, true, (yn + max_h) >> 1)
                    }
                } else if top {
                    if field_of(D)? {
                        (D, false, yn)
                    } else {
                        (D, true, 2 * yn)
                    }
                } else {
                    field_of(D)?;
                    (D, true, yn)
                }
            } else if yn < max_h {
                let (bottom, ym) = left_nb(cur_field, top, field_of(A)?, yn, max_h);
                (A, bottom, ym)
            } else {
                return None;
            }
        } else if xn < max_w {
            if yn < 0 {
                match (cur_field, top) {
                    (false, true) => {
                        field_of(B)?;
                        (B, true, yn)
                    }
                    (false, false) => (CUR, false, yn),
                    (true, true) => {
                        if field_of(B)? {
                            (B, false, yn)
                        } else {
                            (B, true, 2 * yn)
                        }
                    }
                    (true, false) => {
                        field_of(B)?;
                        (B, true, yn)
                    }
                }
            } else if yn < max_h {
                (CUR, !top, yn)
            } else {
                return None;
            }
        } else {
            if yn >= 0 {
                return None;
            }
            match (cur_field, top) {
                (false, true) => {
                    field_of(C)?;
                    (C, true, yn)
                }
                (false, false) => return None,
                (true, true) => {
                    if field_of(C)? {
                        (C, false, yn)
                    } else {
                        (C, true, 2 * yn)
                    }
                }
                (true, false) => {
                    field_of(C)?;
                    (C, true, yn)
                }
            }
        };
        let (dx, dy): (isize, isize) = match pair {
            A => (-1, 0),
            B => (0, -1),
            C => (1, -1),
            D => (-1, -1),
            _ => (0, 0),
        };
        let mx = (self.mb_x as isize + dx) as usize;
        let my = ((self.mb_y / 2) as isize + dy) as usize * 2 + bottom as usize;
        Some((my * self.mb_w + mx, ym.rem_euclid(max_h)))
    }

    /// Fills [`SliceDecoder::mbaff_nb`] for the current macroblock from `pairs`: the
    /// cases of Table 6-4 for the few locations the decoder asks for, written out so
    /// that a macroblock pays for them once.
    pub(crate) fn fill_mbaff_nb(&mut self) {
        let (w4, w2, mb_w) = (self.w4, self.mb_w * 2, self.mb_w);
        let (mx, py) = (self.mb_x, self.mb_y / 2);
        let top = self.mb_y.is_multiple_of(2);
        let f = self.mb_field;
        // A block in macroblock row `row` of the tables, at 4x4 row `brow` inside it
        // (chroma: rows of 4 chroma samples) and column `col` of macroblock column `x`.
        let luma = |row: usize, brow: usize, x: usize, col: usize, cross: bool| NbLoc {
            i: ((row * 4 + brow) * w4 + x * 4 + col) as u32,
            m: (row * mb_w + x) as u32,
            cross,
        };
        let chroma = |row: usize, brow: usize, x: usize, col: usize, cross: bool| NbLoc {
            i: ((row * 2 + brow) * w2 + x * 2 + col) as u32,
            m: (row * mb_w + x) as u32,
            cross,
        };
        let mut t = MbaffNb::default();
        if let Some(af) = self.pairs[A] {
            let cross = af != f;
            for (k, a) in t.a.iter_mut().enumerate() {
                let (b, ym) = left_nb(f, top, af, 4 * k as i32, 16);
                *a = luma(2 * py + b as usize, ym as usize / 4, mx - 1, 3, cross);
            }
            for (k, a) in t.ca.iter_mut().enumerate() {
                let (b, ym) = left_nb(f, top, af, 4 * k as i32, 8);
                *a = chroma(2 * py + b as usize, ym as usize / 4, mx - 1, 1, cross);
            }
        }
        // Above: the top macroblock of the current pair for the bottom macroblock of a
        // frame pair; otherwise the pair above, its top macroblock only for the top
        // macroblock of a field pair over a field pair.
        if !f && !top {
            t.b = luma(2 * py, 3, mx, 0, false);
            t.cb = chroma(2 * py, 1, mx, 0, false);
        } else if let Some(bf) = self.pairs[B] {
            let row = 2 * py - 2 + !(f && top && bf) as usize;
            t.b = luma(row, 3, mx, 0, bf != f);
            t.cb = chroma(row, 1, mx, 0, bf != f);
        }
        if f || top {
            if let Some(cf) = self.pairs[C] {
                let row = 2 * py - 2 + !(f && top && cf) as usize;
                t.c = luma(row, 3, mx + 1, 0, cf != f);
            }
        }
        if !f && !top {
            // Above-left of the bottom macroblock of a frame pair is in the left pair:
            // row 15 of its top macroblock, or row 7 of its bottom field macroblock.
            if let Some(af) = self.pairs[A] {
                t.d = if af {
                    luma(2 * py + 1, 1, mx - 1, 3, true)
                } else {
                    luma(2 * py, 3, mx - 1, 3, false)
                };
            }
        } else if let Some(df) = self.pairs[D] {
            let row = 2 * py - 2 + !(f && top && df) as usize;
            t.d = luma(row, 3, mx - 1, 3, df != f);
        }
        self.mbaff_nb = t;
    }

    /// The table index of mbAddrA, the macroblock holding luma location (-1, 0).
    #[inline]
    fn mbaff_a(&self) -> Option<usize> {
        let af = self.pairs[A]?;
        let (b, _) = left_nb(self.mb_field, self.mb_y.is_multiple_of(2), af, 0, 16);
        Some(((self.mb_y / 2) * 2 + b as usize) * self.mb_w + self.mb_x - 1)
    }

    /// The table index of mbAddrB, the macroblock holding luma location (0, -1).
    #[inline]
    fn mbaff_b(&self) -> Option<usize> {
        let (f, top) = (self.mb_field, self.mb_y.is_multiple_of(2));
        if !f && !top {
            return Some(self.mb_addr - self.mb_w);
        }
        let bf = self.pairs[B]?;
        let row = (self.mb_y / 2) * 2 - 2 + !(f && top && bf) as usize;
        Some(row * self.mb_w + self.mb_x)
    }

    /// The luma 4x4 block holding luma location `(xn, yn)` (relative to the current
    /// macroblock) in an MBAFF frame: its index in the per-4x4 tables, the table
    /// index of its macroblock, and whether that macroblock's structure differs from
    /// the current one's.
    #[inline]
    pub(crate) fn mbaff_blk4x(&self, xn: i32, yn: i32) -> Option<(usize, usize, bool)> {
        if (0..16).contains(&xn) && (0..16).contains(&yn) {
            return Some((
                self.blk(xn as usize / 4, yn as usize / 4),
                self.mb_addr,
                false,
            ));
        }
        let t = &self.mbaff_nb;
        if yn == -1 {
            if (0..16).contains(&xn) {
                let (i, m, c) = t.b.get()?;
                return Some((i + xn as usize / 4, m, c));
            }
            if (16..32).contains(&xn) {
                let (i, m, c) = t.c.get()?;
                return Some((i + (xn as usize - 16) / 4, m, c));
            }
            if (-16..0).contains(&xn) {
                let (i, m, c) = t.d.get()?;
                return Some((i - (-1 - xn) as usize / 4, m, c));
            }
        } else if xn == -1 && (0..16).contains(&yn) && yn % 4 == 0 {
            return t.a[yn as usize / 4].get();
        }
        let (m, ym) = self.mbaff_loc(xn, yn, 16, 16)?;
        let (mx, my) = (m % self.mb_w, m / self.mb_w);
        let i = (my * 4 + ym as usize / 4) * self.w4 + mx * 4 + (xn & 15) as usize / 4;
        Some((i, m, self.st.mb_field[m] != self.mb_field))
    }

    /// [`Self::mbaff_blk4x`] without the structure flag.
    #[inline]
    pub(crate) fn mbaff_blk4(&self, xn: i32, yn: i32) -> Option<(usize, usize)> {
        self.mbaff_blk4x(xn, yn).map(|(i, m, _)| (i, m))
    }

    /// The chroma 4x4 block holding chroma location `(xn, yn)`: its index in the
    /// per-chroma-block tables and its macroblock.
    #[inline]
    pub(crate) fn mbaff_cblk(&self, xn: i32, yn: i32) -> Option<(usize, usize)> {
        let w2 = self.mb_w * 2;
        if (0..8).contains(&xn) && (0..8).contains(&yn) {
            let i = (self.mb_y * 2 + yn as usize / 4) * w2 + self.mb_x * 2 + xn as usize / 4;
            return Some((i, self.mb_addr));
        }
        let t = &self.mbaff_nb;
        if yn == -1 && (0..8).contains(&xn) {
            let (i, m, _) = t.cb.get()?;
            return Some((i + xn as usize / 4, m));
        }
        if xn == -1 && (0..8).contains(&yn) && yn % 4 == 0 {
            return t.ca[yn as usize / 4].get().map(|(i, m, _)| (i, m));
        }
        let (m, ym) = self.mbaff_loc(xn, yn, 8, 8)?;
        let (mx, my) = (m % self.mb_w, m / self.mb_w);
        Some((
            (my * 2 + ym as usize / 4) * w2 + mx * 2 + (xn & 7) as usize / 4,
            m,
        ))
    }

    /// mbAddrA: the macroblock holding luma location (-1, 0), if available.
    #[inline]
    pub(crate) fn nb_mb_a(&self) -> Option<&MbInfo> {
        if self.mbaff {
            self.mbaff_a().map(|m| &self.st.mbs[m])
        } else {
            self.mb_at(self.mb_x as isize - 1, self.mb_y as isize)
        }
    }

    /// mbAddrB: the macroblock holding luma location (0, -1), if available.
    #[inline]
    pub(crate) fn nb_mb_b(&self) -> Option<&MbInfo> {
        if self.mbaff {
            self.mbaff_b().map(|m| &self.st.mbs[m])
        } else {
            self.mb_at(self.mb_x as isize, self.mb_y as isize - 1)
        }
    }

    /// A motion vector prediction neighbour at luma location `(xn, yn)` in an MBAFF
    /// frame, its reference index and vertical vector converted to the current
    /// macroblock's structure (8.4.1.3.2): a field neighbour of a frame macroblock
    /// has its vector doubled and its index halved, a frame neighbour of a field
    /// macroblock the reverse.
    pub(crate) fn nb_mbaff(&self, list: usize, xn: i32, yn: i32) -> Nb {
        let Some((i, _, cross)) = self.mbaff_blk4x(xn, yn) else {
            return NB_NONE;
        };
        let mut r = self.pic.ref_idx[list][i];
        let mut mv = self.pic.mv[list][i];
        if r >= 0 && cross {
            if self.mb_field {
                r = r.wrapping_mul(2);
                mv[1] /= 2;
            } else {
                r >>= 1;
                mv[1] = mv[1].wrapping_mul(2);
            }
        }
        Nb { avail: true, r, mv }
    }

    /// absMvdComp of the neighbour at `(xn, yn)` for the mvd contexts (9.3.3.1.1.7),
    /// the vertical one scaled between frame and field macroblocks; 0 when not
    /// available.
    pub(crate) fn mvd_nb_mbaff(&self, list: usize, xn: i32, yn: i32) -> [u32; 2] {
        let Some((i, _, cross)) = self.mbaff_blk4x(xn, yn) else {
            return [0; 2];
        };
        let a = self.st.mvd[list][i];
        let (h, mut v) = (a[0] as u32, a[1] as u32);
        if cross {
            if self.mb_field {
                v /= 2;
            } else {
                v *= 2;
            }
        }
        [h, v]
    }

    /// Makes table position `addr` the current macroblock of an MBAFF frame, frame
    /// or field coded as `field` says: the availability of the neighbouring pairs, and
    /// the strides, offsets, scans and reference lists of its structure.
    pub(crate) fn set_mb_mbaff(&mut self, addr: usize, field: bool) {
        self.mb_addr = addr;
        self.mb_x = addr % self.mb_w;
        self.mb_y = addr / self.mb_w;
        self.mb_field = field;
        self.cur = MbInfo {
            slice: self.slice_num,
            ..Default::default()
        };
        self.st.mbs[addr].slice = self.slice_num;
        self.st.mbs[addr].kind = MbKind::None;
        self.st.mb_field[addr] = field;
        let (mx, py) = (self.mb_x as isize, (self.mb_y / 2) as isize);
        let pair = |dx: isize, dy: isize| -> Option<bool> {
            let (x, y) = (mx + dx, py + dy);
            if x < 0 || y < 0 || x as usize >= self.mb_w {
                return None;
            }
            let i = (y as usize * 2) * self.mb_w + x as usize;
            (self.st.mbs[i].slice == self.slice_num).then_some(self.st.mb_field[i])
        };
        self.pairs = [pair(-1, 0), pair(0, -1), pair(1, -1), pair(-1, -1)];
        let parity = self.mb_y % 2;
        let fs = self.frame_strides;
        if field {
            self.strides = [2 * fs[0], 2 * fs[1], 2 * fs[2]];
            self.base = [parity * fs[0], parity * fs[1], parity * fs[2]];
            self.pix_y = self.mb_y / 2;
            self.field = 1 + parity as u8;
            self.scan4 = &crate::tables::FIELD_SCAN4;
            self.scan8 = &crate::tables::FIELD_SCAN8;
            if let Some(f) = self.field_refs {
                self.refs = &f[parity];
            }
            self.wsel = 1 + parity;
        } else {
            self.strides = fs;
            self.base = [0; 3];
            self.pix_y = self.mb_y;
            self.field = 0;
            self.scan4 = &crate::tables::ZIGZAG4;
            self.scan8 = &crate::tables::ZIGZAG8;
            self.refs = self.frame_refs;
            self.wsel = 0;
        }
    }

    /// mb_field_decoding_flag inferred for a pair that does not send it (7.4.4): the
    /// left pair's, else the upper pair's, else frame.
    fn inferred_field(&self, pair_addr: usize) -> bool {
        let (mx, py) = (pair_addr % self.mb_w, pair_addr / self.mb_w);
        let at = |x: usize, y: usize| -> Option<bool> {
            let i = y * 2 * self.mb_w + x;
            (self.st.mbs[i].slice == self.slice_num).then_some(self.st.mb_field[i])
        };
        let a = if mx > 0 { at(mx - 1, py) } else { None };
        let b = if py > 0 { at(mx, py - 1) } else { None };
        a.or(b).unwrap_or(false)
    }

    /// Table position of the macroblock with MBAFF address `addr` (pairs in raster
    /// order, top then bottom).
    fn mbaff_pos(&self, addr: usize) -> usize {
        let pair = addr / 2;
        ((pair / self.mb_w) * 2 + addr % 2) * self.mb_w + pair % self.mb_w
    }

    /// mb_field_decoding_flag in CABAC (ctxIdx 70..=72: one per field pair among the
    /// left and upper pairs).
    fn cabac_field_flag(&mut self, pair_addr: usize) -> bool {
        let (mx, py) = (pair_addr % self.mb_w, pair_addr / self.mb_w);
        let at = |x: usize, y: usize| -> bool {
            let i = y * 2 * self.mb_w + x;
            self.st.mbs[i].slice == self.slice_num && self.st.mb_field[i]
        };
        let a = mx > 0 && at(mx - 1, py);
        let b = py > 0 && at(mx, py - 1);
        let data = self.r.data();
        self.cabac.decision(data, 70 + a as usize + b as usize)
    }

    /// slice_data() of an MBAFF frame: macroblock pairs, each with its
    /// mb_field_decoding_flag (sent with the first macroblock of the pair that is
    /// not skipped, inferred for a pair skipped whole).
    pub(crate) fn decode_mbaff(&mut self, rbsp: &'a [u8]) -> Result<()> {
        self.r = BitReader::new(rbsp);
        self.r.skip(self.hdr.data_bit_offset);
        let total = self.mb_w * self.mb_h;
        if !self.mb_h.is_multiple_of(2) {
            return Err(Error::invalid(
                "mbaff frame with an odd number of macroblock rows",
            ));
        }
        let mut addr = 2 * self.hdr.first_mb as usize;
        let cabac = self.pps.cabac;
        if cabac {
            self.r.align();
            self.cabac
                .init_slice(self.hdr.slice_type, self.hdr.cabac_init_idc, self.hdr.qp);
            self.cabac.start(&self.r)?;
        }
        let inter = self.hdr.slice_type != SliceType::I;
        let mut skip_run: i64 = -1;
        // The pair's field flag, and for CABAC the bottom macroblock's skip flag when
        // it was read ahead (a skipped top macroblock needs the flag that comes with
        // the bottom one).
        let mut field = false;
        let mut bottom_skip: Option<bool> = None;
        loop {
            if addr >= total {
                return Err(Error::invalid("slice runs past the last macroblock"));
            }
            let pos = self.mbaff_pos(addr);
            if self.st.mbs[pos].slice != 0 {
                return Err(Error::invalid(format!("macroblock {addr} decoded twice")));
            }
            let is_top = addr.is_multiple_of(2);
            if is_top {
                field = self.inferred_field(addr / 2);
                bottom_skip = None;
            }
            let more;
            if cabac {
                self.set_mb_mbaff(pos, field);
                let skipped = match (is_top, bottom_skip) {
                    (false, Some(s)) => s,
                    _ => inter && self.cabac_skip_flag(),
                };
                if skipped {
                    if is_top {
                        // Read the bottom macroblock's skip flag now (the top one
                        // counts as a skipped neighbour), then its field flag.
                        self.st.mbs[pos].kind = if self.hdr.slice_type == SliceType::B {
                            MbKind::BSkip
                        } else {
                            MbKind::PSkip
                        };
                        let bpos = pos + self.mb_w;
                        self.set_mb_mbaff(bpos, field);
                        let bs = self.cabac_skip_flag();
                        self.st.mbs[bpos].slice = 0;
                        bottom_skip = Some(bs);
                        if !bs {
                            field = self.cabac_field_flag(addr / 2);
                        }
                        self.set_mb_mbaff(pos, field);
                    }
                    self.last_dqp_nonzero = false;
                    self.fill_mbaff_nb();
                    self.decode_skip()?;
                } else {
                    // The macroblock was set up with the inferred (or the pair's)
                    // flag; only a field flag that differs changes its structure.
                    if is_top {
                        field = self.cabac_field_flag(addr / 2);
                    }
                    if field != self.mb_field {
                        self.set_mb_mbaff(pos, field);
                    }
                    self.fill_mbaff_nb();
                    self.cabac_macroblock()?;
                }
                self.decoded += 1;
                more = is_top || !self.cabac_end_of_slice();
                if self.cabac.overrun() {
                    return Err(Error::invalid(format!(
                        "slice data ended inside macroblock {addr}"
                    )));
                }
            } else {
                if inter && skip_run < 0 {
                    skip_run = self.r.ue() as i64;
                    if skip_run > (total - addr) as i64 {
                        return Err(Error::invalid("mb_skip_run beyond the end of the picture"));
                    }
                }
                if skip_run > 0 {
                    skip_run -= 1;
                    // A run ending on a top macroblock: the bottom one sends the flag
                    // for the pair, right after the run.
                    if is_top && skip_run == 0 && self.r.more_rbsp_data() {
                        field = self.r.flag();
                    }
                    self.set_mb_mbaff(pos, field);
                    self.fill_mbaff_nb();
                    self.decode_skip()?;
                    self.decoded += 1;
                    more = skip_run > 0 || self.r.more_rbsp_data();
                } else {
                    skip_run = -1;
                    if is_top {
                        field = self.r.flag();
                    }
                    self.set_mb_mbaff(pos, field);
                    self.fill_mbaff_nb();
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
}
