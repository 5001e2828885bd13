//! CABAC (clause 9.3): the arithmetic decoding engine, context initialisation, and
//! the binarizations and context selection of every macroblock-layer syntax element.

use crate::bitreader::BitReader;
use crate::gentables::{CABAC_INIT_MN, LAST8, RANGE_LPS, SIG8, TRANS_LPS};
use crate::mb::{MbKind, Shape, SliceDecoder};
use crate::slice::SliceType;
use crate::tables::{BLK_POS, ZIGZAG4};
use transcode_core::{Error, Result};

/// Arithmetic decoder state plus the context variables (state << 1 | MPS).
#[derive(Debug, Clone)]
pub struct Cabac {
    ctx: [u8; 460],
    range: u32,
    offset: u32,
    /// End of the RBSP in bits, and the bit position of the next bit to load into
    /// `cache`.
    data_end: usize,
    pos: usize,
    /// Upcoming bits, most significant first; `cached` of them are valid.
    cache: u64,
    cached: u32,
}

impl Default for Cabac {
    fn default() -> Self {
        Cabac {
            ctx: [0; 460],
            range: 510,
            offset: 0,
            data_end: 0,
            pos: 0,
            cache: 0,
            cached: 0,
        }
    }
}

impl Cabac {
    /// Initialises the context variables for a slice (9.3.1.1).
    pub fn init_slice(&mut self, t: SliceType, idc: u32, qp: i32) {
        let table = if t == SliceType::I {
            0
        } else {
            1 + idc as usize
        };
        let qp = qp.clamp(0, 51);
        for (i, &(m, n)) in CABAC_INIT_MN[table].iter().enumerate() {
            let pre = (((m as i32 * qp) >> 4) + n as i32).clamp(1, 126);
            self.ctx[i] = if pre <= 63 {
                ((63 - pre) << 1) as u8
            } else {
                (((pre - 64) << 1) | 1) as u8
            };
        }
    }

    /// Initialises the decoding engine at the reader's (byte-aligned) position.
    pub fn start(&mut self, r: &BitReader) -> Result<()> {
        self.pos = r.pos();
        self.data_end = r.data().len() * 8;
        self.range = 510;
        self.offset = 0;
        self.cache = 0;
        self.cached = 0;
        self.offset = self.bits(r.data(), 9);
        if self.offset >= 510 {
            return Err(Error::invalid("cabac offset out of range at slice start"));
        }
        Ok(())
    }

    /// Loads whole bytes into the cache (zeros past the end of the data).
    #[inline]
    fn refill(&mut self, data: &[u8]) {
        let byte = self.pos >> 3;
        if self.pos & 7 == 0 && byte + 8 <= data.len() {
            // Fast path: append as many whole bytes as fit from one 64-bit load.
            let take = (64 - self.cached) / 8;
            if take > 0 {
                let word = u64::from_be_bytes(data[byte..byte + 8].try_into().unwrap_or([0; 8]));
                let bits = take * 8;
                let chunk = if bits == 64 {
                    word
                } else {
                    word >> (64 - bits)
                };
                self.cache |= if bits == 64 {
                    chunk
                } else {
                    chunk << (64 - self.cached - bits)
                };
                self.cached += bits;
                self.pos += bits as usize;
            }
            return;
        }
        while self.cached <= 56 {
            let byte = if self.pos & 7 == 0 {
                data.get(self.pos >> 3).copied().unwrap_or(0)
            } else {
                // Only the first load after `start` can be unaligned.
                let b = data.get(self.pos >> 3).copied().unwrap_or(0);
                let n = 8 - (self.pos & 7) as u32;
                self.cache |= ((b as u64) & ((1 << n) - 1)) << (64 - self.cached - n);
                self.cached += n;
                self.pos += n as usize;
                continue;
            };
            self.cache |= (byte as u64) << (56 - self.cached);
            self.cached += 8;
            self.pos += 8;
        }
    }

    /// `n` (1..=9) bits.
    #[inline]
    fn bits(&mut self, data: &[u8], n: u32) -> u32 {
        if self.cached < n {
            self.refill(data);
        }
        let v = (self.cache >> (64 - n)) as u32;
        self.cache <<= n;
        self.cached -= n;
        v
    }

    #[inline]
    fn bit(&mut self, data: &[u8]) -> u32 {
        self.bits(data, 1)
    }

    /// Bit position of the engine in the RBSP (bits consumed).
    pub fn pos(&self) -> usize {
        self.pos - self.cached as usize
    }

    /// Whether the engine read beyond the end of the data.
    pub fn overrun(&self) -> bool {
        self.pos() > self.data_end + 16
    }

    /// Decodes one bin with context `i` (9.3.3.2.1).
    #[inline(always)]
    pub fn decision(&mut self, data: &[u8], i: usize) -> bool {
        let s = self.ctx[i];
        let state = (s >> 1) as usize & 63;
        let mps = s & 1;
        let lps = RANGE_LPS[state][((self.range >> 6) & 3) as usize] as u32;
        self.range -= lps;
        let bin;
        if self.offset >= self.range {
            bin = mps ^ 1;
            self.offset -= self.range;
            self.range = lps;
            let new_mps = if state == 0 { 1 - mps } else { mps };
            self.ctx[i] = (TRANS_LPS[state] << 1) | new_mps;
        } else {
            bin = mps;
            if state < 62 {
                self.ctx[i] = (((state + 1) as u8) << 1) | mps;
            }
        }
        if self.range < 256 {
            let n = self.range.leading_zeros() - 23;
            self.range <<= n;
            self.offset = (self.offset << n) | self.bits(data, n);
        }
        bin == 1
    }

    /// Decodes one equiprobable bin (9.3.3.2.3).
    #[inline]
    pub fn bypass(&mut self, data: &[u8]) -> bool {
        self.offset = (self.offset << 1) | self.bit(data);
        if self.offset >= self.range {
            self.offset -= self.range;
            true
        } else {
            false
        }
    }

    /// Decodes a terminating bin (9.3.3.2.2): end_of_slice_flag or the I_PCM marker.
    #[inline]
    pub fn terminate_bin(&mut self, data: &[u8]) -> bool {
        self.range -= 2;
        if self.offset >= self.range {
            true
        } else {
            while self.range < 256 {
                self.range <<= 1;
                self.offset = (self.offset << 1) | self.bit(data);
            }
            false
        }
    }
}

// Context index offsets.
const CBF: usize = 85;
const SIG: [usize; 5] = [105, 120, 134, 149, 152];
const LAST: [usize; 5] = [166, 181, 195, 210, 213];
const ABS: [usize; 5] = [227, 237, 247, 257, 266];

impl<'a> SliceDecoder<'a> {
    #[inline(always)]
    fn dec(&mut self, ctx: usize) -> bool {
        let data = self.r.data();
        self.cabac.decision(data, ctx)
    }

    #[inline]
    fn byp(&mut self) -> bool {
        let data = self.r.data();
        self.cabac.bypass(data)
    }

    /// end_of_slice_flag.
    pub fn cabac_end_of_slice(&mut self) -> bool {
        let data = self.r.data();
        self.cabac.terminate_bin(data)
    }

    /// mb_skip_flag.
    pub fn cabac_skip_flag(&mut self) -> bool {
        let (mx, my) = (self.mb_x as isize, self.mb_y as isize);
        let cond = |m: Option<&crate::mb::MbInfo>| m.is_some_and(|m| !m.kind.is_skip()) as usize;
        let inc = cond(self.mb_at(mx - 1, my)) + cond(self.mb_at(mx, my - 1));
        let base = if self.hdr.slice_type == SliceType::B {
            24
        } else {
            11
        };
        self.dec(base + inc)
    }

    /// Decodes one non-skipped macroblock.
    pub fn cabac_macroblock(&mut self) -> Result<()> {
        let (mx, my) = (self.mb_x as isize, self.mb_y as isize);
        match self.hdr.slice_type {
            SliceType::I => {
                let cond = |m: Option<&crate::mb::MbInfo>| {
                    m.is_some_and(|m| m.kind != MbKind::I4x4 && m.kind != MbKind::I8x8) as usize
                };
                let inc = cond(self.mb_at(mx - 1, my)) + cond(self.mb_at(mx, my - 1));
                let t = self.cabac_intra_type(3 + inc, 3 + 3, true);
                self.cabac_intra(t)
            }
            SliceType::P => {
                if !self.dec(14) {
                    let t = if !self.dec(15) {
                        3 * self.dec(16) as u32
                    } else {
                        2 - self.dec(17) as u32
                    };
                    self.cabac_p_inter(t)
                } else {
                    let t = self.cabac_intra_type(17, 17, false);
                    self.cabac_intra(t)
                }
            }
            SliceType::B => {
                let cond = |m: Option<&crate::mb::MbInfo>| {
                    m.is_some_and(|m| m.kind != MbKind::BSkip && m.kind != MbKind::BDirect) as usize
                };
                let inc = cond(self.mb_at(mx - 1, my)) + cond(self.mb_at(mx, my - 1));
                let t = if !self.dec(27 + inc) {
                    0
                } else if !self.dec(27 + 3) {
                    1 + self.dec(27 + 5) as u32
                } else {
                    let mut bits = (self.dec(27 + 4) as u32) << 3;
                    bits |= (self.dec(27 + 5) as u32) << 2;
                    bits |= (self.dec(27 + 5) as u32) << 1;
                    bits |= self.dec(27 + 5) as u32;
                    if bits < 8 {
                        bits + 3
                    } else if bits == 13 {
                        let t = self.cabac_intra_type(32, 32, false);
                        return self.cabac_intra(t);
                    } else if bits == 14 {
                        11
                    } else if bits == 15 {
                        22
                    } else {
                        ((bits << 1) | self.dec(27 + 5) as u32) - 4
                    }
                };
                self.cabac_b_inter(t)
            }
        }
    }

    /// Intra mb_type (I-slice numbering 0..=25). `first` is the context of the first
    /// bin, `base` the offset of the remaining ones.
    fn cabac_intra_type(&mut self, first: usize, base: usize, intra_slice: bool) -> u32 {
        if !self.dec(first) {
            return 0;
        }
        if self.cabac_end_of_slice() {
            return 25;
        }
        let s = intra_slice as usize;
        let b = if intra_slice { base } else { base + 1 };
        let mut t = 1 + 12 * self.dec(b) as u32;
        if self.dec(b + 1) {
            t += 4 + 4 * self.dec(b + 1 + s) as u32;
        }
        t += 2 * self.dec(b + 2 + s) as u32;
        t += self.dec(b + 2 + 2 * s) as u32;
        t
    }

    fn cabac_intra(&mut self, it: u32) -> Result<()> {
        if it == 25 {
            return self.cabac_pcm();
        }
        if it == 0 {
            let t8 = self.pps.transform_8x8_mode && self.cabac_t8x8_flag();
            self.cur.kind = if t8 { MbKind::I8x8 } else { MbKind::I4x4 };
            self.cur.t8x8 = t8;
            for i in 0..(if t8 { 4 } else { 16 }) {
                let prev = self.dec(68);
                let rem = if prev {
                    None
                } else {
                    Some(self.dec(69) as u8 | (self.dec(69) as u8) << 1 | (self.dec(69) as u8) << 2)
                };
                self.set_intra_mode(i, t8, prev, rem);
            }
        } else {
            self.cur.kind = MbKind::I16x16;
            self.i16mode = ((it - 1) % 4) as u8;
            self.cur.cbp = ((((it - 1) / 4) % 3) << 4) as u8 | if it >= 13 { 15 } else { 0 };
        }
        // intra_chroma_pred_mode
        let (mx, my) = (self.mb_x as isize, self.mb_y as isize);
        let cond = |m: Option<&crate::mb::MbInfo>| {
            m.is_some_and(|m| m.kind.is_intra() && m.kind != MbKind::IPcm && m.chroma_pred != 0)
                as usize
        };
        let inc = cond(self.mb_at(mx - 1, my)) + cond(self.mb_at(mx, my - 1));
        let cpm = if !self.dec(64 + inc) {
            0
        } else if !self.dec(67) {
            1
        } else if !self.dec(67) {
            2
        } else {
            3
        };
        self.cur.chroma_pred = cpm;
        if self.cur.kind != MbKind::I16x16 {
            self.cur.cbp = self.cabac_cbp();
        }
        self.clear_motion_intra();
        self.cabac_residual_and_finish()
    }

    fn cabac_pcm(&mut self) -> Result<()> {
        self.cur.kind = MbKind::IPcm;
        let data = self.r.data();
        let mut pos = (self.cabac.pos() + 7) & !7;
        let mut samples = [0u8; 384];
        for s in samples.iter_mut() {
            *s = *data
                .get(pos / 8)
                .ok_or_else(|| Error::invalid("i_pcm samples truncated"))?;
            pos += 8;
        }
        self.write_pcm(&samples);
        let mut r = BitReader::new(data);
        r.skip(pos);
        self.cabac.start(&r)?;
        self.last_dqp_nonzero = false;
        Ok(())
    }

    fn cabac_t8x8_flag(&mut self) -> bool {
        let (mx, my) = (self.mb_x as isize, self.mb_y as isize);
        let cond = |m: Option<&crate::mb::MbInfo>| m.is_some_and(|m| m.t8x8) as usize;
        let inc = cond(self.mb_at(mx - 1, my)) + cond(self.mb_at(mx, my - 1));
        self.dec(399 + inc)
    }

    fn cabac_cbp(&mut self) -> u8 {
        let (mx, my) = (self.mb_x as isize, self.mb_y as isize);
        let left = self.mb_at(mx - 1, my).copied();
        let top = self.mb_at(mx, my - 1).copied();
        // Luma bit of a neighbour 8x8 block: unavailable or I_PCM count as coded.
        let nb_bit = |m: Option<crate::mb::MbInfo>, b8: usize| -> bool {
            match m {
                None => true,
                Some(m) if m.kind == MbKind::IPcm => true,
                Some(m) if m.kind.is_skip() => false,
                Some(m) => m.cbp & (1 << b8) != 0,
            }
        };
        let mut cbp = 0u8;
        for b8 in 0..4 {
            let a = if b8 % 2 == 1 {
                cbp & (1 << (b8 - 1)) != 0
            } else {
                nb_bit(left, b8 + 1)
            };
            let b = if b8 >= 2 {
                cbp & (1 << (b8 - 2)) != 0
            } else {
                nb_bit(top, b8 + 2)
            };
            let inc = (!a) as usize + 2 * (!b) as usize;
            if self.dec(73 + inc) {
                cbp |= 1 << b8;
            }
        }
        let chroma = |m: Option<crate::mb::MbInfo>, need2: bool| -> usize {
            match m {
                None => 0,
                Some(m) if m.kind == MbKind::IPcm => 1,
                Some(m) if m.kind.is_skip() => 0,
                Some(m) => {
                    let c = m.cbp >> 4;
                    (if need2 { c == 2 } else { c != 0 }) as usize
                }
            }
        };
        let inc = chroma(left, false) + 2 * chroma(top, false);
        if self.dec(77 + inc) {
            let inc = chroma(left, true) + 2 * chroma(top, true);
            cbp |= if self.dec(77 + 4 + inc) { 0x20 } else { 0x10 };
        }
        cbp
    }

    fn cabac_p_inter(&mut self, t: u32) -> Result<()> {
        self.cur.kind = MbKind::PInter;
        let (shape, nparts) = match t {
            0 => (Shape::P16x16, 1),
            1 => (Shape::P16x8, 2),
            2 => (Shape::P8x16, 2),
            _ => (Shape::P8x8, 4),
        };
        self.shape = shape;
        self.part_pred = [1; 4];
        self.cur.direct = 0;
        if shape == Shape::P8x8 {
            for i in 0..4 {
                self.sub_types[i] = if self.dec(21) {
                    0
                } else if !self.dec(22) {
                    1
                } else if self.dec(23) {
                    2
                } else {
                    3
                };
            }
        }
        let mut refs = [0i8; 4];
        self.set_refs(0, &refs, nparts);
        for (p, r) in refs.iter_mut().enumerate().take(nparts) {
            *r = self.cabac_ref(0, p)?;
            self.set_part_ref(0, p, *r);
        }
        self.set_refs(0, &refs, nparts);
        self.set_refs_unused_pub(1);
        self.cabac_mvds(0, nparts)?;
        self.cabac_inter_tail()
    }

    fn cabac_b_inter(&mut self, t: u32) -> Result<()> {
        if t == 0 {
            self.cur.kind = MbKind::BDirect;
            self.cur.direct = 15;
            self.direct_predict(15)?;
            self.zero_mvd_pub();
            return self.cabac_inter_tail();
        }
        self.cur.kind = MbKind::BInter;
        self.cur.direct = 0;
        let nparts = self.set_b_shape(t)?;
        if self.shape == Shape::P8x8 {
            for i in 0..4 {
                self.sub_types[i] = self.cabac_b_sub_type();
            }
            self.b8x8_setup()?;
        }
        for list in 0..2 {
            // Reference indices default to "unused" so that contexts of later
            // partitions see earlier ones only.
            let mut refs = [-1i8; 4];
            self.set_refs(list, &refs, nparts);
            for p in 0..nparts {
                if self.part_pred[p] & (1 << list) != 0
                    && !(self.shape == Shape::P8x8 && self.cur.direct & (1 << p) != 0)
                {
                    refs[p] = self.cabac_ref(list, p)?;
                    self.set_part_ref(list, p, refs[p]);
                }
            }
            self.set_refs(list, &refs, nparts);
        }
        for list in 0..2 {
            self.cabac_mvds(list, nparts)?;
        }
        self.cabac_inter_tail()
    }

    fn cabac_b_sub_type(&mut self) -> u8 {
        if !self.dec(36) {
            return 0;
        }
        if !self.dec(37) {
            return 1 + self.dec(39) as u8;
        }
        let mut t = 3u8;
        if self.dec(38) {
            if self.dec(39) {
                return 11 + self.dec(39) as u8;
            }
            t += 4;
        }
        t += 2 * self.dec(39) as u8;
        t += self.dec(39) as u8;
        t
    }

    /// Writes one partition's reference index (so later partitions' contexts see it).
    fn set_part_ref(&mut self, list: usize, p: usize, r: i8) {
        let (x, y, w, h) = self.part_rect(p);
        for yy in y..y + h {
            for xx in x..x + w {
                let i = self.blk(xx, yy);
                self.pic.ref_idx[list][i] = r;
            }
        }
    }

    /// Whether the 4x4 block at picture position `(x4, y4)` has refIdx > 0 in `list` and
    /// is not direct-predicted, for the ref_idx context.
    fn ref_cond(&self, list: usize, x4: isize, y4: isize) -> bool {
        if x4 < 0 || y4 < 0 {
            return false;
        }
        let (mx, my) = (x4 as usize / 4, y4 as usize / 4);
        let is_cur = mx == self.mb_x && my == self.mb_y;
        let m = if is_cur {
            self.cur
        } else {
            match self.mb_at(mx as isize, my as isize) {
                Some(m) => *m,
                None => return false,
            }
        };
        if m.kind.is_skip() || m.kind.is_intra() || m.kind == MbKind::BDirect {
            return false;
        }
        let b8 = ((y4 as usize % 4) / 2) * 2 + (x4 as usize % 4) / 2;
        if self.hdr.slice_type == SliceType::B && m.direct & (1 << b8) != 0 {
            return false;
        }
        self.pic.ref_idx[list][y4 as usize * self.w4 + x4 as usize] > 0
    }

    fn cabac_ref(&mut self, list: usize, p: usize) -> Result<i8> {
        let n = self.hdr.num_ref_idx[list];
        if n <= 1 {
            return Ok(0);
        }
        let (x, y, _, _) = self.part_rect(p);
        let x4 = (self.mb_x * 4 + x) as isize;
        let y4 = (self.mb_y * 4 + y) as isize;
        let inc =
            self.ref_cond(list, x4 - 1, y4) as usize + 2 * self.ref_cond(list, x4, y4 - 1) as usize;
        let mut v = 0u32;
        if self.dec(54 + inc) {
            v = 1;
            let mut ctx = 54 + 4;
            while self.dec(ctx) {
                ctx = 54 + 5;
                v += 1;
                if v >= 32 {
                    return Err(Error::invalid("ref_idx too large"));
                }
            }
        }
        if v >= n {
            return Err(Error::invalid(format!(
                "ref_idx {v} out of range (expected below {n})"
            )));
        }
        Ok(v as i8)
    }

    fn cabac_mvd_comp(&mut self, base: usize, amvd: u32) -> Result<i32> {
        let inc = if amvd < 3 {
            0
        } else if amvd <= 32 {
            1
        } else {
            2
        };
        if !self.dec(base + inc) {
            return Ok(0);
        }
        let mut v = 1i32;
        let mut ctx = base + 3;
        while v < 9 && self.dec(ctx) {
            if v < 4 {
                ctx += 1;
            }
            v += 1;
        }
        if v >= 9 {
            let mut k = 3;
            while self.byp() {
                v += 1 << k;
                k += 1;
                if k > 24 {
                    return Err(Error::invalid("mvd escape too long"));
                }
            }
            while k > 0 {
                k -= 1;
                v += (self.byp() as i32) << k;
            }
        }
        Ok(if self.byp() { -v } else { v })
    }

    fn mvd_ctx_sum(&self, list: usize, comp: usize, x4: isize, y4: isize) -> u32 {
        let get = |x: isize, y: isize| -> u32 {
            if x < 0 || y < 0 {
                return 0;
            }
            let (mx, my) = (x as usize / 4, y as usize / 4);
            if !((mx == self.mb_x && my == self.mb_y) || self.mb_avail(mx as isize, my as isize)) {
                return 0;
            }
            self.st.mvd[list][y as usize * self.w4 + x as usize][comp] as u32
        };
        get(x4 - 1, y4) + get(x4, y4 - 1)
    }

    fn cabac_mvd_at(&mut self, list: usize, x: usize, y: usize, w: usize, h: usize) -> Result<()> {
        let x4 = (self.mb_x * 4 + x) as isize;
        let y4 = (self.mb_y * 4 + y) as isize;
        let ax = self.mvd_ctx_sum(list, 0, x4, y4);
        let mx = self.cabac_mvd_comp(40, ax)?;
        let ay = self.mvd_ctx_sum(list, 1, x4, y4);
        let my = self.cabac_mvd_comp(47, ay)?;
        self.apply_mvd(list, x, y, w, h, [mx, my])
    }

    fn cabac_mvds(&mut self, list: usize, nparts: usize) -> Result<()> {
        for p in 0..nparts {
            if self.part_pred[p] & (1 << list) == 0 {
                continue;
            }
            if self.shape == Shape::P8x8 {
                let (n, sw, sh) = self.sub_shape(p);
                let (x0, y0, _, _) = self.part_rect(p);
                for s in 0..n {
                    let (sx, sy) = match (n, sw) {
                        (1, _) => (0, 0),
                        (2, 2) => (0, s),
                        (2, _) => (s, 0),
                        _ => (s % 2, s / 2),
                    };
                    self.cabac_mvd_at(list, x0 + sx, y0 + sy, sw, sh)?;
                }
            } else {
                let (x, y, w, h) = self.part_rect(p);
                self.cabac_mvd_at(list, x, y, w, h)?;
            }
        }
        Ok(())
    }

    fn cabac_inter_tail(&mut self) -> Result<()> {
        self.cur.cbp = self.cabac_cbp();
        if self.cur.cbp & 15 != 0 && self.pps.transform_8x8_mode && self.t8x8_allowed() {
            self.cur.t8x8 = self.cabac_t8x8_flag();
        }
        self.cabac_residual_and_finish()
    }

    fn cabac_residual_and_finish(&mut self) -> Result<()> {
        let cbp = self.cur.cbp;
        if cbp != 0 || self.cur.kind == MbKind::I16x16 {
            let mut v = 0i32;
            if self.dec(60 + self.last_dqp_nonzero as usize) {
                v = 1;
                let mut ctx = 62;
                while self.dec(ctx) {
                    ctx = 63;
                    v += 1;
                    if v > 104 {
                        return Err(Error::invalid("mb_qp_delta too large"));
                    }
                }
            }
            let d = if v & 1 == 1 {
                (v + 1) >> 1
            } else {
                -((v + 1) >> 1)
            };
            if !(-26..=25).contains(&d) {
                return Err(Error::invalid(format!(
                    "mb_qp_delta {d} out of range (expected -26..=25)"
                )));
            }
            self.last_dqp_nonzero = d != 0;
            self.qp = (self.qp + d + 52) % 52;
        } else {
            self.last_dqp_nonzero = false;
        }
        self.cur.qp = self.qp as u8;
        self.clear_coeffs();
        let intra = self.cur.kind.is_intra();
        let qp = self.qp;
        if self.cur.kind == MbKind::I16x16 {
            let inc = self.cbf_dc_inc(0);
            let mut lv = [0i32; 64];
            if self.residual(0, Some(inc), 16, &mut lv)? > 0 {
                self.cur.cbf_dc |= 1;
                for k in 0..16 {
                    self.dc[ZIGZAG4[k] as usize] = lv[k];
                }
                crate::transform::luma_dc_dequant(
                    &mut self.dc,
                    qp,
                    self.ls4[0][(qp % 6) as usize][0],
                );
            }
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
                let n = self.residual(5, None, 64, &mut lv)?;
                for i in 0..4 {
                    let (bx, by) = BLK_POS[i8 * 4 + i];
                    let idx = self.blk(bx as usize, by as usize);
                    self.st.nnz[idx] = n;
                }
                self.dequant8(i8, &lv, intra);
            } else {
                for i in 0..4 {
                    let b = i8 * 4 + i;
                    let (bx, by) = (BLK_POS[b].0 as usize, BLK_POS[b].1 as usize);
                    let inc = self.cbf_luma_inc(bx, by);
                    let mut lv = [0i32; 64];
                    let (cat, max) = if self.cur.kind == MbKind::I16x16 {
                        (1, 15)
                    } else {
                        (2, 16)
                    };
                    let n = self.residual(cat, Some(inc), max, &mut lv)?;
                    let idx = self.blk(bx, by);
                    self.st.nnz[idx] = n;
                    if n > 0 {
                        let mut l16 = [0i32; 16];
                        if cat == 1 {
                            l16[1..16].copy_from_slice(&lv[..15]);
                        } else {
                            l16.copy_from_slice(&lv[..16]);
                        }
                        self.dequant4(b, &l16, if cat == 1 { 0 } else { list4 }, qp);
                    }
                }
            }
        }
        if cbp & 0x30 != 0 {
            for c in 0..2 {
                let inc = self.cbf_dc_inc(1 + c);
                let mut lv = [0i32; 64];
                if self.residual(3, Some(inc), 4, &mut lv)? > 0 {
                    self.cur.cbf_dc |= 2 << c;
                    self.cdc[c] = [lv[0], lv[1], lv[2], lv[3]];
                }
            }
        }
        for c in 0..2 {
            for b in 0..4 {
                let (cx, cy) = (b % 2, b / 2);
                let idx = (self.mb_y * 2 + cy) * self.mb_w * 2 + self.mb_x * 2 + cx;
                if cbp & 0x20 != 0 {
                    let inc = self.cbf_chroma_inc(c, cx, cy);
                    let mut lv = [0i32; 64];
                    let n = self.residual(4, Some(inc), 15, &mut lv)?;
                    self.st.nnz_c[c][idx] = n;
                    if n > 0 {
                        let mut l16 = [0i32; 16];
                        l16[1..16].copy_from_slice(&lv[..15]);
                        self.dequant_chroma_ac(c, b, &l16);
                    }
                } else {
                    self.st.nnz_c[c][idx] = 0;
                }
            }
        }
        self.finish_chroma_dc();
        if self.cabac.overrun() {
            return Err(Error::invalid("cabac data ended inside a macroblock"));
        }
        self.reconstruct()
    }

    /// coded_block_flag context increment for DC blocks (`which`: 0 luma, 1 Cb, 2 Cr).
    fn cbf_dc_inc(&self, which: usize) -> usize {
        let (mx, my) = (self.mb_x as isize, self.mb_y as isize);
        let intra = self.cur.kind.is_intra();
        let cond = |m: Option<&crate::mb::MbInfo>| -> usize {
            match m {
                None => intra as usize,
                Some(m) if m.kind == MbKind::IPcm => 1,
                Some(m) => ((m.cbf_dc >> which) & 1) as usize,
            }
        };
        cond(self.mb_at(mx - 1, my)) + 2 * cond(self.mb_at(mx, my - 1))
    }

    fn cbf_luma_inc(&self, bx: usize, by: usize) -> usize {
        let intra = self.cur.kind.is_intra();
        let x4 = self.mb_x * 4 + bx;
        let y4 = self.mb_y * 4 + by;
        let cond = |x: isize, y: isize, inside: bool| -> usize {
            if inside {
                return (self.st.nnz[y as usize * self.w4 + x as usize] != 0) as usize;
            }
            match self.mb_at(x.div_euclid(4), y.div_euclid(4)) {
                None => intra as usize,
                Some(m) if m.kind == MbKind::IPcm => 1,
                Some(m) if m.kind.is_skip() => 0,
                Some(m) => {
                    let b8 = ((y as usize % 4) / 2) * 2 + (x as usize % 4) / 2;
                    if m.cbp & (1 << b8) == 0 {
                        0
                    } else {
                        (self.st.nnz[y as usize * self.w4 + x as usize] != 0) as usize
                    }
                }
            }
        };
        let a = cond(x4 as isize - 1, y4 as isize, bx > 0);
        let b = cond(x4 as isize, y4 as isize - 1, by > 0);
        a + 2 * b
    }

    fn cbf_chroma_inc(&self, c: usize, cx: usize, cy: usize) -> usize {
        let intra = self.cur.kind.is_intra();
        let w2 = self.mb_w * 2;
        let x2 = self.mb_x * 2 + cx;
        let y2 = self.mb_y * 2 + cy;
        let cond = |x: isize, y: isize, inside: bool| -> usize {
            if inside {
                return (self.st.nnz_c[c][y as usize * w2 + x as usize] != 0) as usize;
            }
            match self.mb_at(x.div_euclid(2), y.div_euclid(2)) {
                None => intra as usize,
                Some(m) if m.kind == MbKind::IPcm => 1,
                Some(m) if m.kind.is_skip() => 0,
                Some(m) => {
                    if m.cbp >> 4 != 2 {
                        0
                    } else {
                        (self.st.nnz_c[c][y as usize * w2 + x as usize] != 0) as usize
                    }
                }
            }
        };
        cond(x2 as isize - 1, y2 as isize, cx > 0) + 2 * cond(x2 as isize, y2 as isize - 1, cy > 0)
    }

    /// Decodes residual_block_cabac of category `cat` into `out` (scan order, starting at
    /// index 0 for the first coefficient of the block). Returns the coefficient count.
    fn residual(
        &mut self,
        cat: usize,
        cbf_inc: Option<usize>,
        max: usize,
        out: &mut [i32; 64],
    ) -> Result<u8> {
        if let Some(inc) = cbf_inc {
            if !self.dec(CBF + cat * 4 + inc) {
                return Ok(0);
            }
        }
        let mut pos = [0u8; 64];
        let mut n = 0usize;
        let mut i = 0usize;
        let mut ended = false;
        while i + 1 < max {
            let (sig_ctx, last_ctx) = if cat == 5 {
                (402 + SIG8[i] as usize, 417 + LAST8[i] as usize)
            } else if cat == 3 {
                (SIG[3] + i.min(2), LAST[3] + i.min(2))
            } else {
                (SIG[cat] + i, LAST[cat] + i)
            };
            if self.dec(sig_ctx) {
                pos[n] = i as u8;
                n += 1;
                if self.dec(last_ctx) {
                    ended = true;
                    break;
                }
            }
            i += 1;
        }
        if !ended {
            pos[n] = (max - 1) as u8;
            n += 1;
        }
        let abs_base = if cat == 5 { 426 } else { ABS[cat] };
        let gt1_max = if cat == 3 { 3 } else { 4 };
        let (mut eq1, mut gt1) = (0usize, 0usize);
        for k in (0..n).rev() {
            let ctx0 = abs_base + if gt1 != 0 { 0 } else { (1 + eq1).min(4) };
            let mut abs_m1 = 0i32;
            if self.dec(ctx0) {
                let ctxr = abs_base + 5 + gt1.min(gt1_max);
                abs_m1 = 1;
                while abs_m1 < 14 && self.dec(ctxr) {
                    abs_m1 += 1;
                }
                if abs_m1 >= 14 {
                    let mut k = 0;
                    while self.byp() {
                        abs_m1 += 1 << k;
                        k += 1;
                        if k > 24 {
                            return Err(Error::invalid("coefficient escape too long"));
                        }
                    }
                    while k > 0 {
                        k -= 1;
                        abs_m1 += (self.byp() as i32) << k;
                    }
                }
            }
            let v = abs_m1 + 1;
            if v == 1 {
                eq1 += 1;
            } else {
                gt1 += 1;
            }
            out[pos[k] as usize] = if self.byp() { -v } else { v };
        }
        Ok(n as u8)
    }
}
