//! The CABAC arithmetic encoder (9.3.4): encoding engine with outstanding-bit
//! resolution, bypass and terminating bins, and the binarisations of residual blocks
//! and motion vector differences. Context initialisation, ctxIdx offsets and the
//! level context machine are the decoder's (`crate::cabac`), so both sides agree on
//! every context by construction.

use super::bits::{BitSink, BitWriter};
use crate::cabac::{init_contexts, ABS_BASE, EQ1_CTX, GT1_CTX, LAST_BASE, MAX_COEFF, NODE_AFTER_EQ1, NODE_AFTER_GT1, SIG_BASE};
use crate::gentables::{LAST8, RANGE_LPS, SIG8, TRANS_LPS};

/// Context variables used by 4:2:0 frame coding (the 8x8 transform's end at 436).
const CTX_LEN: usize = 460;

/// The encoding engine (codILow, codIRange, bitsOutstanding) and the context states
/// (`pStateIdx * 2 + valMPS`, as the decoder keeps them).
pub struct CabacWriter<'w, 'b> {
    w: &'w mut BitWriter<'b>,
    low: u32,
    range: u32,
    outstanding: u32,
    first: bool,
    ctx: [u8; CTX_LEN],
}

impl<'w, 'b> CabacWriter<'w, 'b> {
    /// Starts the engine (9.3.4.1) for a slice: contexts of `table` (0 for I slices,
    /// 1 + cabac_init_idc otherwise) at the slice QP. The writer must be byte-aligned
    /// (cabac_alignment_one_bit done).
    pub fn new(w: &'w mut BitWriter<'b>, table: usize, qp: i32) -> Self {
        let mut ctx = [0u8; CTX_LEN];
        init_contexts(&mut ctx, table, qp);
        CabacWriter {
            w,
            low: 0,
            range: 510,
            outstanding: 0,
            first: true,
            ctx,
        }
    }

    #[inline]
    fn put_bit(&mut self, b: u32) {
        if self.first {
            self.first = false;
        } else {
            self.w.put(b, 1);
        }
        while self.outstanding > 0 {
            self.w.put(1 - b, 1);
            self.outstanding -= 1;
        }
    }

    #[inline]
    fn renorm(&mut self) {
        while self.range < 256 {
            if self.low < 256 {
                self.put_bit(0);
            } else if self.low >= 512 {
                self.low -= 512;
                self.put_bit(1);
            } else {
                self.low -= 256;
                self.outstanding += 1;
            }
            self.range <<= 1;
            self.low <<= 1;
        }
    }

    /// EncodeDecision (9.3.4.2) of `bin` with context `i`.
    #[inline]
    pub fn decision(&mut self, i: usize, bin: bool) {
        let s = &mut self.ctx[i];
        let (state, mps) = ((*s >> 1) as usize, *s & 1 != 0);
        let lps = RANGE_LPS[state][((self.range >> 6) & 3) as usize] as u32;
        self.range -= lps;
        if bin != mps {
            self.low += self.range;
            self.range = lps;
            let mps = if state == 0 { !mps } else { mps };
            *s = (TRANS_LPS[state] << 1) | mps as u8;
        } else {
            *s = ((if state < 62 { state + 1 } else { state }) as u8) << 1 | mps as u8;
        }
        self.renorm();
    }

    /// EncodeBypass (9.3.4.4).
    #[inline]
    pub fn bypass(&mut self, bin: bool) {
        self.low <<= 1;
        if bin {
            self.low += self.range;
        }
        if self.low >= 1024 {
            self.put_bit(1);
            self.low -= 1024;
        } else if self.low < 512 {
            self.put_bit(0);
        } else {
            self.low -= 512;
            self.outstanding += 1;
        }
    }

    /// EncodeTerminate (9.3.4.5): end_of_slice_flag. After a 1 the engine is flushed,
    /// and its last written bit is the rbsp_stop_one_bit.
    pub fn terminate(&mut self, bin: bool) {
        self.range -= 2;
        if bin {
            self.low += self.range;
            // EncodeFlush.
            self.range = 2;
            self.renorm();
            self.put_bit((self.low >> 9) & 1);
            self.w.put(((self.low >> 7) & 3) | 1, 2);
        } else {
            self.renorm();
        }
    }

    /// residual_block_cabac of levels `lv` (scan order) of ctxBlockCat `cat`, after its
    /// coded_block_flag (which the caller writes: the block has a nonzero level; 8x8
    /// blocks, ctxBlockCat 5, have none in 4:2:0).
    pub fn block(&mut self, cat: usize, lv: &[i32]) {
        let max = MAX_COEFF[cat];
        let lv = &lv[..max];
        let last = lv.iter().rposition(|&v| v != 0).unwrap_or(0);
        for i in 0..max - 1 {
            let sig = lv[i] != 0;
            // 8x8 blocks share contexts between scan positions (Table 9-43, frame
            // coding); the others have one per position.
            let (s, l) = if cat == 5 { (SIG8[i] as usize, LAST8[i] as usize) } else { (i, i) };
            self.decision(SIG_BASE[cat] + s, sig);
            if sig {
                self.decision(LAST_BASE[cat] + l, i == last);
                if i == last {
                    break;
                }
            }
        }
        let abs_base = ABS_BASE[cat];
        let gt1 = if cat == 3 { &GT1_CTX[1] } else { &GT1_CTX[0] };
        let mut node = 0usize;
        for &v in lv[..=last].iter().rev() {
            if v == 0 {
                continue;
            }
            let a = v.unsigned_abs();
            self.decision(abs_base + EQ1_CTX[node] as usize, a > 1);
            if a == 1 {
                node = NODE_AFTER_EQ1[node] as usize;
            } else {
                let c = abs_base + gt1[node] as usize;
                // coeff_abs_level_minus1: truncated unary prefix up to 14, then an
                // Exp-Golomb (k = 0) suffix.
                let prefix = a.min(15);
                for _ in 2..prefix {
                    self.decision(c, true);
                }
                if a < 15 {
                    self.decision(c, false);
                } else {
                    self.exp_golomb(a - 15, 0);
                }
                node = NODE_AFTER_GT1[node] as usize;
            }
            self.bypass(v < 0);
        }
    }

    /// A k-th order Exp-Golomb suffix in bypass bins (9.3.2.3).
    fn exp_golomb(&mut self, mut v: u32, mut k: u32) {
        while v >= 1 << k {
            self.bypass(true);
            v -= 1 << k;
            k += 1;
        }
        self.bypass(false);
        while k > 0 {
            k -= 1;
            self.bypass((v >> k) & 1 != 0);
        }
    }

    /// One mvd component (UEG3, signed, uCoff 9); `base` is 40 (x) or 47 (y) and
    /// `amvd` the sum of the neighbours' absolute mvd components.
    pub fn mvd(&mut self, base: usize, amvd: u32, v: i32) {
        let inc = (amvd > 2) as usize + (amvd > 32) as usize;
        let a = v.unsigned_abs();
        self.decision(base + inc, a != 0);
        if a == 0 {
            return;
        }
        for i in 1..a.min(9) {
            self.decision(base + 2 + i.min(4) as usize, true);
        }
        if a < 9 {
            self.decision(base + 2 + a.min(4) as usize, false);
        } else {
            self.exp_golomb(a - 9, 3);
        }
        self.bypass(v < 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitreader::BitReader;
    use crate::cabac::Cabac;
    use crate::slice::SliceType;

    /// Random decisions (over many contexts, skewed so that states move), bypass bins
    /// and a final terminating bin, encoded here, read back by the decoder's engine.
    #[test]
    fn the_decoder_engine_reads_back_every_bin() {
        let mut seed = 99u32;
        let mut rnd = move |m: u32| {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            (seed >> 8) % m
        };
        for qp in [0, 26, 51] {
            let bins: Vec<(u8, usize, bool)> = (0..20000)
                .map(|i| {
                    let kind = if rnd(10) == 0 { 1 } else { 0 };
                    let ctx = (i * 7 + rnd(5) as usize) % CTX_LEN;
                    // Mostly the context's favourite value, sometimes the other.
                    let bin = if ctx & 1 == 0 { rnd(10) < 8 } else { rnd(10) < 3 };
                    (kind, ctx, bin)
                })
                .collect();
            let mut buf = Vec::with_capacity(1 << 16);
            {
                let mut w = BitWriter::new(&mut buf);
                let mut cw = CabacWriter::new(&mut w, 1, qp);
                for &(kind, ctx, bin) in &bins {
                    if kind == 0 {
                        cw.decision(ctx, bin);
                    } else {
                        cw.bypass(bin);
                    }
                }
                cw.terminate(true);
                w.align_with_zeros();
                assert!(!w.overflowed());
            }
            let mut dec = Cabac::default();
            dec.init_slice(SliceType::P, 0, qp);
            dec.start(&BitReader::new(&buf)).unwrap();
            for (n, &(kind, ctx, bin)) in bins.iter().enumerate() {
                let got = if kind == 0 { dec.decision(&buf, ctx) } else { dec.bypass_bin(&buf) };
                assert_eq!(got, bin, "qp {qp}, bin {n}");
            }
            assert!(dec.terminate_bin(&buf), "qp {qp}: end of slice");
        }
    }
}
