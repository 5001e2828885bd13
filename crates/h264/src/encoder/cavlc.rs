//! CAVLC residual writing (clause 9.2, the inverse of the decoder's
//! `residual_block`): coeff_token, trailing-one signs, levels with adaptive suffix
//! lengths, total_zeros and run_before, from the same code tables the decoder reads.

use super::bits::BitSink;
use crate::cavlc::{CDC_TZ_BITS, CDC_TZ_LEN};
use crate::gentables::{
    CHROMA_DC_COEFF_TOKEN_BITS, CHROMA_DC_COEFF_TOKEN_LEN, COEFF_TOKEN_BITS, COEFF_TOKEN_LEN,
    RUN_BITS, RUN_LEN, TOTAL_ZEROS_BITS, TOTAL_ZEROS_LEN,
};

/// Writes residual_block_cavlc() of `lv` (levels in scan order, `max` of them: 16,
/// 15 for AC blocks, 4 for chroma DC); `nc` is the predicted coefficient count, -1 for
/// chroma DC. Levels must lie within [`super::quant::MAX_LEVEL`]. Returns TotalCoeff.
pub fn write_block(w: &mut impl BitSink, nc: i32, lv: &[i32], max: usize) -> u8 {
    let lv = &lv[..max.min(lv.len())];
    // Positions of the nonzero levels, lowest frequency first.
    let mut pos = [0u8; 16];
    let mut total = 0;
    for (i, &v) in lv.iter().enumerate() {
        if v != 0 {
            pos[total] = i as u8;
            total += 1;
        }
    }
    // Trailing ones: up to three +-1 levels at the high-frequency end.
    let mut t1 = 0;
    while t1 < 3 && t1 < total && lv[pos[total - 1 - t1] as usize].abs() == 1 {
        t1 += 1;
    }
    let token = total * 4 + t1;
    let (len, code) = if nc < 0 {
        (CHROMA_DC_COEFF_TOKEN_LEN[0][token], CHROMA_DC_COEFF_TOKEN_BITS[0][token])
    } else {
        let t = match nc {
            0 | 1 => 0,
            2 | 3 => 1,
            4..=7 => 2,
            _ => 3,
        };
        (COEFF_TOKEN_LEN[t][token], COEFF_TOKEN_BITS[t][token])
    };
    w.put(code as u32, len as u32);
    if total == 0 {
        return 0;
    }
    for i in 0..t1 {
        w.flag(lv[pos[total - 1 - i] as usize] < 0);
    }
    let mut suffix_len: u32 = if total > 10 && t1 < 3 { 1 } else { 0 };
    for i in t1..total {
        let v = lv[pos[total - 1 - i] as usize];
        let mut code = if v > 0 { 2 * v - 2 } else { -2 * v - 1 } as u32;
        if i == t1 && t1 < 3 {
            // The first level after fewer than three trailing ones cannot be +-1.
            code -= 2;
        }
        if suffix_len == 0 {
            if code < 14 {
                w.put(1, code + 1);
            } else if code < 30 {
                w.put(1, 15);
                w.put(code - 14, 4);
            } else {
                w.put(1, 16);
                w.put(code - 30, 12);
            }
        } else if code < (15 << suffix_len) {
            w.put(1, (code >> suffix_len) + 1);
            w.put(code & ((1 << suffix_len) - 1), suffix_len);
        } else {
            w.put(1, 16);
            w.put(code - (15 << suffix_len), 12);
        }
        if suffix_len == 0 {
            suffix_len = 1;
        }
        if v.unsigned_abs() > (3 << (suffix_len - 1)) && suffix_len < 6 {
            suffix_len += 1;
        }
    }
    let last = pos[total - 1] as usize;
    let mut zeros_left = last + 1 - total;
    if total < max {
        let (len, code) = if nc < 0 {
            (CDC_TZ_LEN[total - 1][zeros_left], CDC_TZ_BITS[total - 1][zeros_left])
        } else {
            (TOTAL_ZEROS_LEN[total - 1][zeros_left], TOTAL_ZEROS_BITS[total - 1][zeros_left])
        };
        w.put(code as u32, len as u32);
    }
    for i in 0..total - 1 {
        if zeros_left == 0 {
            break;
        }
        let run = (pos[total - 1 - i] - pos[total - 2 - i] - 1) as usize;
        let t = zeros_left.min(7) - 1;
        w.put(RUN_BITS[t][run] as u32, RUN_LEN[t][run] as u32);
        zeros_left -= run;
    }
    total as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitreader::BitReader;
    use crate::encoder::bits::BitWriter;

    /// Every block written reads back through the decoder's CAVLC parser unchanged,
    /// for each nC table and for chroma DC.
    #[test]
    fn blocks_read_back_through_the_decoder() {
        let mut seed = 12345u32;
        let mut rnd = move || {
            seed = seed.wrapping_mul(1103515245).wrapping_add(12345);
            seed >> 16
        };
        for case in 0..3000 {
            let (max, nc) = match case % 6 {
                0 => (16, 0),
                1 => (16, 2),
                2 => (15, 5),
                3 => (16, 9),
                4 => (4, -1),
                _ => (15, 1),
            };
            let mut lv = [0i32; 16];
            let density = rnd() % 100;
            for v in lv.iter_mut().take(max) {
                if rnd() % 100 < density {
                    let big = rnd() % 10 == 0;
                    let m = if big { (rnd() % 2063) as i32 + 1 } else { (rnd() % 4) as i32 + 1 };
                    *v = if rnd() % 2 == 0 { m } else { -m };
                }
            }
            let mut buf = Vec::with_capacity(256);
            let mut w = BitWriter::new(&mut buf);
            let n = write_block(&mut w, nc, &lv, max);
            w.trailing_bits();
            let mut r = BitReader::new(&buf);
            let mut out = [0i32; 16];
            let got = crate::cavlc::residual_block(&mut r, nc, &mut out, 0, max);
            assert_eq!(got, Some(n), "case {case}: {lv:?}");
            assert_eq!(out, lv, "case {case}");
        }
    }
}
