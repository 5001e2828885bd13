//! CABAC (clause 9.3): the arithmetic decoding engine, context initialisation, and
//! the binarizations and context selection of every macroblock-layer syntax element.
//!
//! The engine follows the layout FFmpeg uses (`libavcodec/cabac_functions.h`), which
//! decodes a bin without a data-dependent branch: `low` holds codIOffset scaled by
//! 2^17 with up to 16 not yet consumed bits below it, followed by a marker bit; a new
//! pair of bytes is loaded only when the marker has shifted past bit 15. Context states
//! are stored as `pStateIdx * 2 + valMPS`, so one table gives the next state after an
//! MPS (`MLPS[s]`) or an LPS (`MLPS[255 - s]`).

use crate::bitreader::BitReader;
use crate::gentables::{CABAC_INIT_MN, LAST8, RANGE_LPS, SIG8, TRANS_LPS};
use crate::mb::{MbInfo, MbKind, Shape, SliceDecoder};
use crate::slice::SliceType;
use crate::tables::{BLK_POS, CHROMA_QP, FIELD_SCAN4, FIELD_SCAN8, ZIGZAG4, ZIGZAG8};
use transcode_core::{Error, Result};

/// Number of context variables kept: 460 are used (4:2:0, frame coding); a power of
/// two so that `i & CTX_MASK` stands in for a bounds check.
const CTX_LEN: usize = 512;
const CTX_MASK: usize = CTX_LEN - 1;

/// rangeTabLPS scaled by 2^17 like the engine's range, flattened to
/// `[qCodIRangeIdx * 128 + state]` with `state` the stored `pStateIdx * 2 + valMPS`.
static LPS_RANGE: [u32; 512] = {
    let mut t = [0u32; 512];
    let mut q = 0;
    while q < 4 {
        let mut s = 0;
        while s < 128 {
            t[q * 128 + s] = (RANGE_LPS[s >> 1][q] as u32) << 17;
            s += 1;
        }
        q += 1;
    }
    t
};

/// State transitions of a stored state `s`: `[s]` after an MPS, `[255 - s]` (the low
/// byte of `!s`) after an LPS, which also flips valMPS at pStateIdx 0.
static MLPS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut s = 0;
    while s < 128 {
        let (state, mps) = (s >> 1, (s & 1) as u8);
        let up = if state < 62 { state + 1 } else { state };
        t[s] = (up as u8) << 1 | mps;
        let lps_mps = if state == 0 { 1 - mps } else { mps };
        t[255 - s] = TRANS_LPS[state] << 1 | lps_mps;
        s += 1;
    }
    t
};

/// Context initialisation (9.3.1.1) shared by the decoder and the encoder: `table` 0
/// for I slices, `1 + cabac_init_idc` otherwise; each entry becomes
/// `pStateIdx * 2 + valMPS`.
pub(crate) fn init_contexts(ctx: &mut [u8], table: usize, qp: i32) {
    let qp = qp.clamp(0, 51);
    for (c, &(m, n)) in ctx.iter_mut().zip(CABAC_INIT_MN[table].iter()) {
        let pre = (((m as i32 * qp) >> 4) + n as i32).clamp(1, 126);
        *c = if pre <= 63 {
            ((63 - pre) << 1) as u8
        } else {
            (((pre - 64) << 1) | 1) as u8
        };
    }
}

/// Arithmetic decoder state plus the context variables (state << 1 | MPS).
#[derive(Debug, Clone)]
pub struct Cabac {
    ctx: [u8; CTX_LEN],
    /// codIOffset << 17, then the pending bits and a marker bit (see the module docs).
    low: u32,
    /// codIRange << 17 (codIRange is 256..=510 between bins).
    range: u32,
    /// Byte index of the next pair of bytes to load.
    pos: usize,
    /// Length of the RBSP in bytes.
    len: usize,
    /// Scan positions of the coefficients of the block [`Cabac::block`] decodes, kept
    /// here so that they are not zeroed per block.
    scan: [u8; 64],
}

impl Default for Cabac {
    fn default() -> Self {
        Cabac {
            ctx: [0; CTX_LEN],
            low: 0,
            range: 510 << 17,
            pos: 0,
            len: 0,
            scan: [0; 64],
        }
    }
}

/// The engine registers in a local value, so that hot loops keep them in machine
/// registers (fields behind `&mut self` would be reloaded and stored around every
/// context update).
struct Engine<'d> {
    low: u32,
    range: u32,
    pos: usize,
    data: &'d [u8],
}

impl Engine<'_> {
    /// Loads the next two bytes below the marker bit (which has reached bit 16 or
    /// above), zeros past the end of the data.
    #[inline(always)]
    fn refill(&mut self) {
        let shift = self.low.trailing_zeros() - 16;
        let word = match self.data.get(self.pos..self.pos + 2) {
            Some(&[a, b]) => (a as u32) << 9 | (b as u32) << 1,
            _ => self.tail_word(),
        };
        // Removes the old marker (at bit 16 + shift) and sets the new one at `shift`.
        self.low = self
            .low
            .wrapping_add(word.wrapping_sub(0xffff).wrapping_shl(shift));
        self.pos += 2;
    }

    /// The word [`Engine::refill`] loads at the end of the data.
    #[cold]
    fn tail_word(&self) -> u32 {
        (self.data.get(self.pos).copied().unwrap_or(0) as u32) << 9
    }

    /// DecodeDecision (9.3.3.2.1) with context state `s`, without branches on the bin.
    #[inline(always)]
    fn decision(&mut self, s: &mut u8) -> bool {
        let st = *s as u32;
        // qCodIRangeIdx * 128 + state.
        let lps = LPS_RANGE[((self.range >> 16) & 0x180 | st) as usize & 511];
        let range = self.range - lps;
        // All ones when codIOffset >= codIRange - rangeLPS (an LPS). `low` always has a
        // bit set below bit 17, so it never equals `range`.
        let lps_mask = ((range as i32).wrapping_sub(self.low as i32) >> 31) as u32;
        self.low -= range & lps_mask;
        // codIRange - rangeLPS after an MPS, rangeLPS after an LPS.
        let range = range.wrapping_add(lps.wrapping_sub(range) & lps_mask);
        let st = st ^ lps_mask;
        *s = MLPS[st as u8 as usize];
        // RenormD: codIRange is at least 2, so the shift is at most 7.
        let shift = (range | 1).leading_zeros() - 6;
        self.range = range << shift;
        self.low <<= shift;
        if self.low & 0xffff == 0 {
            self.refill();
        }
        st & 1 != 0
    }

    /// DecodeBypass (9.3.3.2.3): 0 or all ones.
    #[inline(always)]
    fn bypass_mask(&mut self) -> i32 {
        self.low <<= 1;
        if self.low & 0xffff == 0 {
            self.refill();
        }
        // All ones when the bin is 1 (codIOffset >= codIRange).
        let mask = !((self.low.wrapping_sub(self.range) as i32) >> 31);
        self.low -= self.range & mask as u32;
        mask
    }

    #[inline(always)]
    fn bypass(&mut self) -> bool {
        self.bypass_mask() != 0
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
        init_contexts(&mut self.ctx, table, qp);
    }

    /// Initialises the decoding engine at the reader's position, which is byte-aligned
    /// (after cabac_alignment_one_bit or the I_PCM samples).
    pub fn start(&mut self, r: &BitReader) -> Result<()> {
        let data = r.data();
        let p = r.pos() / 8;
        let byte = |i: usize| data.get(p + i).copied().unwrap_or(0) as u32;
        self.len = data.len();
        self.pos = p + 3;
        self.range = 510 << 17;
        // 9 bits of codIOffset, 15 pending bits, the marker.
        self.low = byte(0) << 18 | byte(1) << 10 | byte(2) << 2 | 2;
        if self.low >> 17 >= 510 {
            return Err(Error::invalid("cabac offset out of range at slice start"));
        }
        Ok(())
    }

    #[inline(always)]
    fn engine<'d>(&self, data: &'d [u8]) -> Engine<'d> {
        Engine {
            low: self.low,
            range: self.range,
            pos: self.pos,
            data,
        }
    }

    #[inline(always)]
    fn save(&mut self, e: Engine) {
        self.low = e.low;
        self.range = e.range;
        self.pos = e.pos;
    }

    /// Bit position of the engine in the RBSP (bits read into codIOffset so far).
    pub fn pos(&self) -> usize {
        // Pending bits: those between the marker (the lowest set bit) and bit 17.
        (self.pos * 8 + self.low.trailing_zeros() as usize).saturating_sub(16)
    }

    /// Whether the engine read beyond the end of the data.
    pub fn overrun(&self) -> bool {
        self.pos() > self.len * 8 + 16
    }

    /// Decodes one bin with context `i` (9.3.3.2.1).
    #[inline(always)]
    pub fn decision(&mut self, data: &[u8], i: usize) -> bool {
        let mut e = self.engine(data);
        let b = e.decision(&mut self.ctx[i & CTX_MASK]);
        self.save(e);
        b
    }

    /// Decodes one bypass bin (9.3.3.2.3); the encoder's engine test reads with it.
    #[cfg(test)]
    pub fn bypass_bin(&mut self, data: &[u8]) -> bool {
        let mut e = self.engine(data);
        let b = e.bypass();
        self.save(e);
        b
    }

    /// Decodes a terminating bin (9.3.3.2.2): end_of_slice_flag or the I_PCM marker.
    #[inline]
    pub fn terminate_bin(&mut self, data: &[u8]) -> bool {
        self.range -= 2 << 17;
        if self.low >= self.range {
            true
        } else {
            if self.range < 256 << 17 {
                let mut e = self.engine(data);
                e.range <<= 1;
                e.low <<= 1;
                if e.low & 0xffff == 0 {
                    e.refill();
                }
                self.save(e);
            }
            false
        }
    }

    /// residual_block_cabac after its coded_block_flag, for a block of category `CAT`
    /// (Table 9-42): the significance map, then the levels in reverse scan order.
    /// Each level goes straight to its place in `out` ([`RASTER`]), as is when `SHIFT`
    /// is 0 (DC blocks, transformed later), otherwise scaled (8.5.12.1) with
    /// LevelScale `ls` and `qP / 6 = sh`: `(c * ls << sh + 2^(SHIFT - 1)) >> SHIFT`,
    /// which equals the standard's two cases for qP / 6 below and above SHIFT. Only
    /// the coefficients present are written. Returns their number (at least 1).
    #[inline(never)]
    fn block<const CAT: usize, const N: usize, const SHIFT: u32, const FIELD: bool>(
        eng: &mut Engine,
        ctx: &mut [u8; CTX_LEN],
        pos: &mut [u8; 64],
        out: &mut [i32; N],
        ls: &[i32; N],
        sh: u32,
    ) -> Result<usize> {
        // A local copy, so that the registers are written back only once.
        let mut e = Engine { ..*eng };
        let max = MAX_COEFF[CAT];
        // Field macroblocks have their own scans and significance contexts.
        let (raster, sig_base, last_base, sig8) = if FIELD {
            (
                &RASTER_FIELD[CAT],
                &SIG_BASE_FIELD,
                &LAST_BASE_FIELD,
                &SIG8_FIELD,
            )
        } else {
            (&RASTER[CAT], &SIG_BASE, &LAST_BASE, &SIG8)
        };
        // Significance map.
        let mut n = 0usize;
        let mut i = 0usize;
        let mut last = false;
        while i < max - 1 {
            let (sig, lst) = if CAT == 5 {
                (
                    sig_base[5] + sig8[i] as usize,
                    last_base[5] + LAST8[i] as usize,
                )
            } else {
                (sig_base[CAT] + i, last_base[CAT] + i)
            };
            if e.decision(&mut ctx[sig & CTX_MASK]) {
                pos[n & 63] = raster[i];
                n += 1;
                if e.decision(&mut ctx[lst & CTX_MASK]) {
                    last = true;
                    break;
                }
            }
            i += 1;
        }
        if !last {
            // No last flag seen: the last coefficient is significant.
            pos[n & 63] = raster[max - 1];
            n += 1;
        }
        // coeff_abs_level_minus1 and coeff_sign_flag. `node` encodes (numDecodAbsLevelEq1,
        // numDecodAbsLevelGt1) as FFmpeg does: 0..=3 while no level > 1 was seen (the
        // number of 1s), then 4 + min(numGt1 - 1, 3).
        let abs = ABS_BASE[CAT];
        let gt1_ctx = if CAT == 3 { &GT1_CTX[1] } else { &GT1_CTX[0] };
        let mut node = 0usize;
        let mut k = n;
        while k > 0 {
            k -= 1;
            let level;
            if !e.decision(&mut ctx[(abs + EQ1_CTX[node & 7] as usize) & CTX_MASK]) {
                level = 1;
                node = NODE_AFTER_EQ1[node & 7] as usize;
            } else {
                let c = &mut ctx[(abs + gt1_ctx[node & 7] as usize) & CTX_MASK];
                let mut m = 2i32;
                while m < 15 && e.decision(c) {
                    m += 1;
                }
                if m >= 15 {
                    // Exp-Golomb (k = 0) suffix in bypass bins.
                    let mut eg = 0u32;
                    while e.bypass() {
                        m += 1 << eg;
                        eg += 1;
                        if eg > 24 {
                            return Err(Error::invalid("coefficient escape too long"));
                        }
                    }
                    while eg > 0 {
                        eg -= 1;
                        m += (e.bypass() as i32) << eg;
                    }
                }
                // Levels of 8-bit streams lie in -2^15..2^15 (8.5.12.1).
                if m as u32 > crate::cavlc::MAX_LEVEL {
                    return Err(Error::invalid("coefficient level out of range"));
                }
                level = m;
                node = NODE_AFTER_GT1[node & 7] as usize;
            }
            let sign = e.bypass_mask();
            let v = (level ^ sign) - sign;
            // N is a power of two: the mask stands in for a bounds check.
            let p = pos[k & 63] as usize & (N - 1);
            out[p] = if SHIFT == 0 {
                v
            } else {
                crate::transform::saturate(
                    (((v as i64 * ls[p] as i64) << sh) + ((1 << SHIFT) >> 1)) >> SHIFT,
                )
            };
        }
        *eng = e;
        Ok(n)
    }
}

/// One mvd component (9.3.2.3, UEG3 with signedValFlag 1 and uCoff 9); `base` is the
/// ctxIdxOffset (40 or 47), `amvd` the sum of the neighbours' absolute values. None
/// when the Exp-Golomb suffix is too long.
#[inline(always)]
fn mvd_comp(e: &mut Engine, ctx: &mut [u8; CTX_LEN], base: usize, amvd: u32) -> Option<i32> {
    let inc = (amvd > 2) as usize + (amvd > 32) as usize;
    if !e.decision(&mut ctx[base + inc]) {
        return Some(0);
    }
    // Prefix bins 1.. use ctxIdxInc 3, 4, 5, 6, 6, 6, ...
    let mut v = 1i32;
    while v < 9 && e.decision(&mut ctx[base + 2 + v.min(4) as usize]) {
        v += 1;
    }
    if v >= 9 {
        let mut k = 3;
        while e.bypass() {
            v += 1 << k;
            k += 1;
            if k > 24 {
                return None;
            }
        }
        while k > 0 {
            k -= 1;
            v += (e.bypass() as i32) << k;
        }
    }
    let sign = e.bypass_mask();
    Some((v ^ sign) - sign)
}

/// The `N` coefficients at `at` of a macroblock buffer.
fn chunk<const N: usize>(buf: &mut [i32], at: usize) -> Result<&mut [i32; N]> {
    buf.get_mut(at..)
        .and_then(|b| b.first_chunk_mut::<N>())
        .ok_or_else(|| Error::invalid("coefficient block outside the macroblock buffer"))
}

/// maxNumCoeff per ctxBlockCat.
pub(crate) const MAX_COEFF: [usize; 6] = [16, 15, 16, 4, 15, 64];
/// ctxIdxOffset + ctxBlockCatOffset of significant_coeff_flag, last_significant_coeff_flag
/// and coeff_abs_level_minus1 per ctxBlockCat (frame coding).
pub(crate) const SIG_BASE: [usize; 6] = [105, 120, 134, 149, 152, 402];
pub(crate) const LAST_BASE: [usize; 6] = [166, 181, 195, 210, 213, 417];
/// The same for field macroblocks (Table 9-34: ctxIdxOffset 277, 338, 436, 451).
const SIG_BASE_FIELD: [usize; 6] = [277, 292, 306, 321, 324, 436];
const LAST_BASE_FIELD: [usize; 6] = [338, 353, 367, 382, 385, 451];
/// significant_coeff_flag ctxIdxInc of 8x8 blocks in field macroblocks (Table 9-43).
const SIG8_FIELD: [u8; 63] = [
    0, 1, 1, 2, 2, 3, 3, 4, 5, 6, 7, 7, 7, 8, 4, 5, 6, 9, 10, 10, 8, 11, 12, 11, 9, 9, 10, 10, 8,
    11, 12, 11, 9, 9, 10, 10, 8, 11, 12, 11, 9, 9, 10, 10, 8, 13, 13, 9, 9, 10, 10, 8, 13, 13, 9,
    9, 10, 10, 14, 14, 14, 14, 14,
];
pub(crate) const ABS_BASE: [usize; 6] = [227, 237, 247, 257, 266, 426];
/// ctxIdxInc of the first coeff_abs_level_minus1 bin per node.
pub(crate) const EQ1_CTX: [u8; 8] = [1, 2, 3, 4, 0, 0, 0, 0];
/// ctxIdxInc of the other bins per node (the second row for chroma DC, ctxBlockCat 3).
pub(crate) const GT1_CTX: [[u8; 8]; 2] = [[5, 5, 5, 5, 6, 7, 8, 9], [5, 5, 5, 5, 6, 7, 8, 8]];
pub(crate) const NODE_AFTER_EQ1: [u8; 8] = [1, 2, 3, 3, 4, 5, 6, 7];
pub(crate) const NODE_AFTER_GT1: [u8; 8] = [4, 4, 4, 4, 5, 6, 7, 7];

/// Position in the destination block of scan index `i` per ctxBlockCat: the 4x4 raster
/// for luma DC and 4x4 blocks (AC blocks start at scan index 1), the 2x2 order for
/// chroma DC, the 8x8 raster for 8x8 blocks.
const RASTER: [[u8; 64]; 6] = raster_table(&ZIGZAG4, &ZIGZAG8);
/// [`RASTER`] with the field scans.
const RASTER_FIELD: [[u8; 64]; 6] = raster_table(&FIELD_SCAN4, &FIELD_SCAN8);

const fn raster_table(scan4: &[u8; 16], scan8: &[u8; 64]) -> [[u8; 64]; 6] {
    let mut t = [[0u8; 64]; 6];
    let mut i = 0;
    while i < 16 {
        t[0][i] = scan4[i];
        t[2][i] = scan4[i];
        if i < 15 {
            t[1][i] = scan4[i + 1];
            t[4][i] = scan4[i + 1];
        }
        if i < 4 {
            t[3][i] = i as u8;
        }
        i += 1;
    }
    let mut i = 0;
    while i < 64 {
        t[5][i] = scan8[i];
        i += 1;
    }
    t
}

/// ctxIdxOffset of coded_block_flag.
pub(crate) const CBF: usize = 85;

impl<'a> SliceDecoder<'a> {
    #[inline(always)]
    fn dec(&mut self, ctx: usize) -> bool {
        let data = self.r.data();
        self.cabac.decision(data, ctx)
    }

    /// end_of_slice_flag.
    pub fn cabac_end_of_slice(&mut self) -> bool {
        let data = self.r.data();
        self.cabac.terminate_bin(data)
    }

    /// mb_skip_flag.
    pub fn cabac_skip_flag(&mut self) -> bool {
        let cond = |m: Option<&crate::mb::MbInfo>| m.is_some_and(|m| !m.kind.is_skip()) as usize;
        let inc = cond(self.nb_mb_a()) + cond(self.nb_mb_b());
        let base = if self.hdr.slice_type == SliceType::B {
            24
        } else {
            11
        };
        self.dec(base + inc)
    }

    /// Decodes one non-skipped macroblock.
    pub fn cabac_macroblock(&mut self) -> Result<()> {
        match self.hdr.slice_type {
            SliceType::I => {
                let cond = |m: Option<&crate::mb::MbInfo>| {
                    m.is_some_and(|m| m.kind != MbKind::I4x4 && m.kind != MbKind::I8x8) as usize
                };
                let inc = cond(self.nb_mb_a()) + cond(self.nb_mb_b());
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
                let inc = cond(self.nb_mb_a()) + cond(self.nb_mb_b());
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
        // intra_chroma_pred_mode, absent from 4:0:0 streams.
        let cond = |m: Option<&crate::mb::MbInfo>| {
            m.is_some_and(|m| m.kind.is_intra() && m.kind != MbKind::IPcm && m.chroma_pred != 0)
                as usize
        };
        let inc = cond(self.nb_mb_a()) + cond(self.nb_mb_b());
        let cpm = if self.sps.monochrome || !self.dec(64 + inc) {
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
        self.check_mono_cbp()?;
        self.clear_motion_intra();
        self.cabac_residual_and_finish()
    }

    fn cabac_pcm(&mut self) -> Result<()> {
        self.cur.kind = MbKind::IPcm;
        let data = self.r.data();
        let mut pos = (self.cabac.pos() + 7) & !7;
        // 4:0:0 carries luma samples only; its chroma stays neutral.
        let mut samples = [128u8; 384];
        let n = if self.sps.monochrome { 256 } else { 384 };
        for s in samples[..n].iter_mut() {
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
        let cond = |m: Option<&crate::mb::MbInfo>| m.is_some_and(|m| m.t8x8) as usize;
        let inc = cond(self.nb_mb_a()) + cond(self.nb_mb_b());
        self.dec(399 + inc)
    }

    /// coded_block_pattern (9.3.2.6, contexts 9.3.3.1.1.4).
    fn cabac_cbp(&mut self) -> u8 {
        // A neighbour's pattern as the contexts see it: unavailable macroblocks count
        // as luma-coded without chroma, I_PCM as fully coded, skipped as empty.
        let pattern = |m: Option<&MbInfo>| -> usize {
            match m {
                None => 0x0f,
                Some(m) if m.kind == MbKind::IPcm => 0x2f,
                Some(m) if m.kind.is_skip() => 0,
                Some(m) => m.cbp as usize,
            }
        };
        let l = pattern(self.nb_mb_a());
        let t = pattern(self.nb_mb_b());
        // The luma bits of the left 8x8 blocks beside quadrants 0 and 2: in an MBAFF
        // frame they may lie in different macroblocks of the left pair.
        let (l1, l3) = if self.mbaff {
            let bit = |yn: i32| -> usize {
                match self.mbaff_loc(-1, yn, 16, 16) {
                    None => 1,
                    Some((m, ym)) => pattern(Some(&self.st.mbs[m])) >> ((ym as usize / 8) * 2 + 1) & 1,
                }
            };
            (bit(0), bit(8))
        } else {
            (l >> 1 & 1, l >> 3 & 1)
        };
        let mut e = self.cabac.engine(self.r.data());
        let ctx = &mut self.cabac.ctx;
        // Luma prefix: ctxIdxInc = condTermFlagA + 2 * condTermFlagB, a flag being 1
        // when the 8x8 block on that side has no coded luma.
        let b0 = e.decision(&mut ctx[73 + (l1 ^ 1) + 2 * (!t >> 2 & 1)]) as usize;
        let b1 = e.decision(&mut ctx[73 + (b0 ^ 1) + 2 * (!t >> 3 & 1)]) as usize;
        let b2 = e.decision(&mut ctx[73 + (l3 ^ 1) + 2 * (b0 ^ 1)]) as usize;
        let b3 = e.decision(&mut ctx[73 + (b2 ^ 1) + 2 * (b1 ^ 1)]) as usize;
        let mut cbp = (b0 | b1 << 1 | b2 << 2 | b3 << 3) as u8;
        // Chroma suffix, absent from 4:0:0 streams.
        let (lc, tc) = (l >> 4, t >> 4);
        if !self.sps.monochrome && e.decision(&mut ctx[77 + (lc != 0) as usize + 2 * (tc != 0) as usize]) {
            let inc = (lc == 2) as usize + 2 * (tc == 2) as usize;
            cbp |= if e.decision(&mut ctx[81 + inc]) {
                0x20
            } else {
                0x10
            };
        }
        self.cabac.save(e);
        cbp
    }

    fn cabac_p_inter(&mut self, t: u32) -> Result<()> {
        let (shape, nparts) = self.start_p_inter(t);
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
        let nb = self.inter_nb();
        let mut refs = [0i8; 4];
        for p in 0..nparts {
            refs[p] = self.cabac_ref(0, p, &refs, &nb)?;
        }
        self.set_refs(0, &refs, nparts);
        self.set_refs_unused_pub(1);
        self.cabac_mvds(0, nparts, &nb)?;
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
        let nb = self.inter_nb();
        for list in 0..2 {
            // Partitions without a reference index in this list keep -1.
            let mut refs = [-1i8; 4];
            for p in 0..nparts {
                if self.part_pred[p] & (1 << list) != 0
                    && !(self.shape == Shape::P8x8 && self.cur.direct & (1 << p) != 0)
                {
                    refs[p] = self.cabac_ref(list, p, &refs, &nb)?;
                }
            }
            self.set_refs(list, &refs, nparts);
        }
        for list in 0..2 {
            self.cabac_mvds(list, nparts, &nb)?;
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

    /// The left and upper neighbouring macroblocks, looked up once per inter
    /// macroblock for the ref_idx and mvd contexts.
    fn inter_nb(&self) -> InterNb {
        InterNb {
            left: self.nb_mb_a().copied(),
            top: self.nb_mb_b().copied(),
        }
    }

    /// Whether the 4x4 block at `(x4, y4)` (picture units), in the neighbouring
    /// macroblock `m`, has refIdxLX > 0 and is not skipped, intra or direct-predicted:
    /// condTermFlagN of the ref_idx context (9.3.3.1.1.6).
    fn ref_cond_outside(&self, list: usize, m: Option<MbInfo>, x4: usize, y4: usize) -> bool {
        let Some(m) = m else {
            return false;
        };
        if m.kind.is_skip() || m.kind.is_intra() || m.kind == MbKind::BDirect {
            return false;
        }
        let b8 = ((y4 % 4) / 2) * 2 + (x4 % 4) / 2;
        if self.hdr.slice_type == SliceType::B && m.direct & (1 << b8) != 0 {
            return false;
        }
        self.pic.ref_idx[list][y4 * self.w4 + x4] > 0
    }

    /// condTermFlagN of the ref_idx context for the neighbouring block at luma
    /// location `(xn, yn)` of an MBAFF frame: a field neighbour of a frame macroblock
    /// counts from refIdx 2, as its indices name fields.
    fn ref_cond_mbaff(&self, list: usize, xn: i32, yn: i32) -> bool {
        let Some((i, m)) = self.mbaff_blk4(xn, yn) else {
            return false;
        };
        let n = &self.st.mbs[m];
        if n.kind.is_skip() || n.kind.is_intra() || n.kind == MbKind::BDirect {
            return false;
        }
        let (bx, by) = ((i % self.w4) % 4, (i / self.w4) % 4);
        let b8 = (by / 2) * 2 + bx / 2;
        if self.hdr.slice_type == SliceType::B && n.direct & (1 << b8) != 0 {
            return false;
        }
        let thr = (!self.mb_field && self.st.mb_field[m]) as i8;
        self.pic.ref_idx[list][i] > thr
    }

    /// condTermFlagN for a block `(x, y)` of the current macroblock, from the
    /// reference indices decoded so far (`refs`, per partition).
    fn ref_cond_inside(&self, list: usize, x: usize, y: usize, refs: &[i8; 4]) -> bool {
        let q = match self.shape {
            Shape::P16x16 => 0,
            Shape::P16x8 => y / 2,
            Shape::P8x16 => x / 2,
            Shape::P8x8 => (y / 2) * 2 + x / 2,
        };
        if self.shape == Shape::P8x8 && self.cur.direct & (1 << q) != 0 {
            return false;
        }
        self.part_pred[q] & (1 << list) != 0 && refs[q] > 0
    }

    fn cabac_ref(&mut self, list: usize, p: usize, refs: &[i8; 4], nb: &InterNb) -> Result<i8> {
        let n = self.num_refs(list);
        if n <= 1 {
            return Ok(0);
        }
        let (x, y, _, _) = self.part_rect(p);
        let (x4, y4) = (self.mb_x * 4 + x, self.mb_y * 4 + y);
        let a = if x > 0 {
            self.ref_cond_inside(list, x - 1, y, refs)
        } else if self.mbaff {
            self.ref_cond_mbaff(list, 4 * x as i32 - 1, 4 * y as i32)
        } else {
            self.ref_cond_outside(list, nb.left, x4.wrapping_sub(1), y4)
        };
        let b = if y > 0 {
            self.ref_cond_inside(list, x, y - 1, refs)
        } else if self.mbaff {
            self.ref_cond_mbaff(list, 4 * x as i32, 4 * y as i32 - 1)
        } else {
            self.ref_cond_outside(list, nb.top, x4, y4.wrapping_sub(1))
        };
        let inc = a as usize + 2 * b as usize;
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

    /// Decodes the mvd of one (sub-)partition at `(x, y)` (4x4 units in the macroblock)
    /// and applies it.
    fn cabac_mvd_at(
        &mut self,
        list: usize,
        (x, y, w, h): (usize, usize, usize, usize),
        nb: &InterNb,
    ) -> Result<()> {
        // absMvdComp of the left and upper neighbours (zero when unavailable; the
        // tables hold zero for skipped, intra and direct blocks).
        let i = self.blk(x, y);
        let mvd = &self.st.mvd[list];
        let mut sum = [0u32; 2];
        if self.mbaff {
            let (xs, ys) = (4 * x as i32, 4 * y as i32);
            let a = self.mvd_nb_mbaff(list, xs - 1, ys);
            let b = self.mvd_nb_mbaff(list, xs, ys - 1);
            sum = [a[0] + b[0], a[1] + b[1]];
        } else if x > 0 || nb.left.is_some() {
            let a = mvd[i - 1];
            sum = [a[0] as u32, a[1] as u32];
        }
        if !self.mbaff && (y > 0 || nb.top.is_some()) {
            let b = mvd[i - self.w4];
            sum[0] += b[0] as u32;
            sum[1] += b[1] as u32;
        }
        let mut e = self.cabac.engine(self.r.data());
        let ctx = &mut self.cabac.ctx;
        let mx = mvd_comp(&mut e, ctx, 40, sum[0]);
        let my = mvd_comp(&mut e, ctx, 47, sum[1]);
        self.cabac.save(e);
        match (mx, my) {
            (Some(mx), Some(my)) => self.apply_mvd(list, x, y, w, h, [mx, my]),
            _ => Err(Error::invalid("mvd escape too long")),
        }
    }

    fn cabac_mvds(&mut self, list: usize, nparts: usize, nb: &InterNb) -> Result<()> {
        for p in 0..nparts {
            if self.part_pred[p] & (1 << list) == 0 {
                continue;
            }
            let (rects, n) = self.part_rects(p);
            for &r in &rects[..n] {
                self.cabac_mvd_at(list, r, nb)?;
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
        let left = self.nb_mb_a().copied();
        let top = self.nb_mb_b().copied();
        let luma_grid = if cbp & 15 != 0 && !self.cur.t8x8 {
            self.luma_cbf_grid(left, top)
        } else {
            0
        };
        let chroma_grid = if cbp & 0x20 != 0 {
            [
                self.chroma_cbf_grid(0, left, top),
                self.chroma_cbf_grid(1, left, top),
            ]
        } else {
            [0; 2]
        };
        let dc_inc = [
            self.cbf_dc_inc(0, left, top),
            self.cbf_dc_inc(1, left, top),
            self.cbf_dc_inc(2, left, top),
        ];
        let nnz = if self.field != 0 {
            self.cabac_residual::<true>(cbp, luma_grid, chroma_grid, dc_inc)?
        } else {
            self.cabac_residual::<false>(cbp, luma_grid, chroma_grid, dc_inc)?
        };
        let base = self.mb_y * 4 * self.w4 + self.mb_x * 4;
        for (y, row) in nnz[..16].chunks_exact(4).enumerate() {
            let at = base + y * self.w4;
            self.st.nnz[at..at + 4].copy_from_slice(row);
        }
        let w2 = self.mb_w * 2;
        let at = self.mb_y * 2 * w2 + self.mb_x * 2;
        for c in 0..2 {
            let n = &nnz[16 + c * 4..20 + c * 4];
            self.st.nnz_c[c][at..at + 2].copy_from_slice(&n[..2]);
            self.st.nnz_c[c][at + w2..at + w2 + 2].copy_from_slice(&n[2..]);
        }
        self.finish_chroma_dc();
        if self.cabac.overrun() {
            return Err(Error::invalid("cabac data ended inside a macroblock"));
        }
        self.reconstruct()
    }

    /// The residual blocks of the macroblock (7.3.5.3 with residual_block_cabac): writes
    /// the scaled coefficients into the macroblock buffers and returns TotalCoeff of
    /// the 16 luma blocks (raster order) and of the 2x4 chroma AC blocks. The grids
    /// and `dc_inc` give the coded_block_flag contexts derived from the neighbours.
    fn cabac_residual<const FIELD: bool>(
        &mut self,
        cbp: u8,
        mut luma_grid: u32,
        mut chroma_grid: [u32; 2],
        dc_inc: [usize; 3],
    ) -> Result<[u8; 24]> {
        let mut nnz = [0u8; 24];
        let intra = self.cur.kind.is_intra();
        let qp = self.qp;
        // The engine stays in registers for the whole residual.
        let mut e = self.cabac.engine(self.r.data());
        let ctx = &mut self.cabac.ctx;
        let pos = &mut self.cabac.scan;
        if self.cur.kind == MbKind::I16x16 && e.decision(&mut ctx[CBF + dc_inc[0]]) {
            Cabac::block::<0, 16, 0, FIELD>(&mut e, ctx, pos, &mut self.dc, &[0; 16], 0)?;
            self.cur.cbf_dc |= 1;
            crate::transform::luma_dc_dequant(&mut self.dc, qp, self.ls4[0][(qp % 6) as usize][0]);
        }
        if cbp & 15 != 0 {
            let (rem, sh) = ((qp % 6) as usize, (qp / 6) as u32);
            if self.cur.t8x8 {
                let ls = &self.ls8[if intra { 0 } else { 1 }][rem];
                for i8 in 0..4 {
                    if cbp & (1 << i8) == 0 {
                        continue;
                    }
                    // No coded_block_flag: 8x8 blocks of a coded 8x8 quadrant always
                    // have coefficients.
                    let out = chunk::<64>(&mut self.luma, i8 * 64)?;
                    let n = Cabac::block::<5, 64, 6, FIELD>(&mut e, ctx, pos, out, ls, sh)?;
                    self.luma_nz |= 0xf << (i8 * 4);
                    let (x, y) = ((i8 & 1) * 2, (i8 >> 1) * 2);
                    let n = n as u8;
                    nnz[y * 4 + x..y * 4 + x + 2].fill(n);
                    nnz[y * 4 + 4 + x..y * 4 + 4 + x + 2].fill(n);
                }
            } else {
                let i16 = self.cur.kind == MbKind::I16x16;
                let ls = &self.ls4[if intra { 0 } else { 3 }][rem];
                let ctx_base = CBF + if i16 { 4 } else { 8 };
                for b in 0..16 {
                    if cbp & (1 << (b / 4)) == 0 {
                        continue;
                    }
                    let (bx, by) = (BLK_POS[b].0 as usize, BLK_POS[b].1 as usize);
                    // Bits of the left and upper blocks in the 5x5 grid.
                    let g = (by + 1) * 5 + bx + 1;
                    let inc = (luma_grid >> (g - 1) & 1) + 2 * (luma_grid >> (g - 5) & 1);
                    if !e.decision(&mut ctx[ctx_base + inc as usize]) {
                        continue;
                    }
                    let out = chunk::<16>(&mut self.luma, b * 16)?;
                    let n = if i16 {
                        Cabac::block::<1, 16, 4, FIELD>(&mut e, ctx, pos, out, ls, sh)?
                    } else {
                        Cabac::block::<2, 16, 4, FIELD>(&mut e, ctx, pos, out, ls, sh)?
                    };
                    luma_grid |= 1 << g;
                    nnz[by * 4 + bx] = n as u8;
                    self.luma_nz |= 1 << b;
                }
            }
        }
        if cbp & 0x30 != 0 {
            for c in 0..2 {
                if e.decision(&mut ctx[CBF + 12 + dc_inc[1 + c]]) {
                    Cabac::block::<3, 4, 0, FIELD>(&mut e, ctx, pos, &mut self.cdc[c], &[0; 4], 0)?;
                    self.cur.cbf_dc |= 2 << c;
                }
            }
        }
        if cbp & 0x20 != 0 {
            for c in 0..2 {
                let qpc = CHROMA_QP[(qp + self.pps.chroma_qp_offset[c]).clamp(0, 51) as usize];
                let ls = &self.ls4[if intra { 1 + c } else { 4 + c }][(qpc % 6) as usize];
                let sh = (qpc / 6) as u32;
                let grid = &mut chroma_grid[c];
                for b in 0..4 {
                    // Bits of the left and upper blocks in the 3x3 grid.
                    let g = (b / 2 + 1) * 3 + b % 2 + 1;
                    let inc = (*grid >> (g - 1) & 1) + 2 * (*grid >> (g - 3) & 1);
                    if !e.decision(&mut ctx[CBF + 16 + inc as usize]) {
                        continue;
                    }
                    let out = chunk::<16>(&mut self.chroma, c * 64 + b * 16)?;
                    let n = Cabac::block::<4, 16, 4, FIELD>(&mut e, ctx, pos, out, ls, sh)?;
                    *grid |= 1 << g;
                    nnz[16 + c * 4 + b] = n as u8;
                    self.chroma_nz |= 1 << (c * 4 + b);
                }
            }
        }
        self.cabac.save(e);
        Ok(nnz)
    }

    /// coded_block_flag context increment for DC blocks (`which`: 0 luma, 1 Cb, 2 Cr).
    fn cbf_dc_inc(&self, which: usize, left: Option<MbInfo>, top: Option<MbInfo>) -> usize {
        let intra = self.cur.kind.is_intra();
        let cond = |m: Option<MbInfo>| -> usize {
            match m {
                None => intra as usize,
                Some(m) if m.kind == MbKind::IPcm => 1,
                Some(m) => ((m.cbf_dc >> which) & 1) as usize,
            }
        };
        cond(left) + 2 * cond(top)
    }

    /// coded_block_flag of the 4x4 luma blocks bordering the current macroblock
    /// (9.3.3.1.1.9): bits 1..=4 for the row above, bits 5, 10, 15, 20 for the column on
    /// the left, in a 5x5 grid whose other bits are the current macroblock's blocks.
    fn luma_cbf_grid(&self, left: Option<MbInfo>, top: Option<MbInfo>) -> u32 {
        let intra = self.cur.kind.is_intra();
        if self.mbaff {
            // Each bordering block looked up on its own (Table 6-4).
            let cond = |at: Option<(usize, usize)>| -> u32 {
                let Some((i, m)) = at else {
                    return intra as u32;
                };
                let n = &self.st.mbs[m];
                let (bx, by) = ((i % self.w4) % 4, (i / self.w4) % 4);
                let b8 = (by / 2) * 2 + bx / 2;
                match n.kind {
                    MbKind::IPcm => 1,
                    k if k.is_skip() || n.cbp & (1 << b8) == 0 => 0,
                    _ => (self.st.nnz[i] != 0) as u32,
                }
            };
            let mut grid = 0;
            for i in 0..4 {
                grid |= cond(self.mbaff_blk4(4 * i, -1)) << (1 + i);
                grid |= cond(self.mbaff_blk4(-1, 4 * i)) << ((i + 1) * 5);
            }
            return grid;
        }
        // Whether a neighbouring block (in 8x8 quadrant `b8` of macroblock `m`, picture
        // 4x4 index `at`) has coefficients.
        let cond = |m: Option<MbInfo>, b8: usize, at: usize| -> u32 {
            match m {
                None => intra as u32,
                Some(m) if m.kind == MbKind::IPcm => 1,
                Some(m) if m.kind.is_skip() || m.cbp & (1 << b8) == 0 => 0,
                Some(_) => (self.st.nnz[at] != 0) as u32,
            }
        };
        let x4 = self.mb_x * 4;
        let y4 = self.mb_y * 4;
        let mut grid = 0;
        for i in 0..4 {
            let above = if top.is_some() {
                (y4 - 1) * self.w4 + x4 + i
            } else {
                0
            };
            grid |= cond(top, 2 + i / 2, above) << (1 + i);
            let beside = if left.is_some() {
                (y4 + i) * self.w4 + x4 - 1
            } else {
                0
            };
            grid |= cond(left, (i / 2) * 2 + 1, beside) << ((i + 1) * 5);
        }
        grid
    }

    /// The chroma AC counterpart of [`Self::luma_cbf_grid`] for component `c`: a 3x3
    /// grid, bits 1 and 2 above, 3 and 6 on the left.
    fn chroma_cbf_grid(&self, c: usize, left: Option<MbInfo>, top: Option<MbInfo>) -> u32 {
        let intra = self.cur.kind.is_intra();
        if self.mbaff {
            let cond = |at: Option<(usize, usize)>| -> u32 {
                let Some((i, m)) = at else {
                    return intra as u32;
                };
                let n = &self.st.mbs[m];
                match n.kind {
                    MbKind::IPcm => 1,
                    k if k.is_skip() || n.cbp >> 4 != 2 => 0,
                    _ => (self.st.nnz_c[c][i] != 0) as u32,
                }
            };
            let mut grid = 0;
            for i in 0..2 {
                grid |= cond(self.mbaff_cblk(4 * i, -1)) << (1 + i);
                grid |= cond(self.mbaff_cblk(-1, 4 * i)) << ((i + 1) * 3);
            }
            return grid;
        }
        let cond = |m: Option<MbInfo>, at: usize| -> u32 {
            match m {
                None => intra as u32,
                Some(m) if m.kind == MbKind::IPcm => 1,
                Some(m) if m.kind.is_skip() || m.cbp >> 4 != 2 => 0,
                Some(_) => (self.st.nnz_c[c][at] != 0) as u32,
            }
        };
        let w2 = self.mb_w * 2;
        let x2 = self.mb_x * 2;
        let y2 = self.mb_y * 2;
        let mut grid = 0;
        for i in 0..2 {
            let above = if top.is_some() {
                (y2 - 1) * w2 + x2 + i
            } else {
                0
            };
            grid |= cond(top, above) << (1 + i);
            let beside = if left.is_some() {
                (y2 + i) * w2 + x2 - 1
            } else {
                0
            };
            grid |= cond(left, beside) << ((i + 1) * 3);
        }
        grid
    }
}

/// Neighbouring macroblocks of an inter macroblock (None when unavailable).
struct InterNb {
    left: Option<MbInfo>,
    top: Option<MbInfo>,
}
