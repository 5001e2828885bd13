//! CAVLC residual decoding (clause 9.2): coeff_token, levels, total_zeros and
//! run_before, through lookup tables built once from the code tables of the standard.

use crate::bitreader::BitReader;
use crate::gentables::*;
use std::sync::OnceLock;

/// A prefix-code lookup table: index with the next `bits` bits, get `(symbol, length)`.
#[derive(Debug)]
struct Vlc {
    bits: u32,
    table: Vec<(u8, u8)>,
}

impl Vlc {
    /// Builds the table from `(length, code)` per symbol; length 0 marks unused symbols.
    fn new(codes: &[(u8, u8)]) -> Vlc {
        let bits = codes.iter().map(|c| c.0 as u32).max().unwrap_or(1).max(1);
        // Length 0 in the table marks an invalid code.
        let mut table = vec![(0u8, 0u8); 1 << bits];
        for (sym, &(len, code)) in codes.iter().enumerate() {
            if len == 0 {
                continue;
            }
            let shift = bits - len as u32;
            let base = (code as usize) << shift;
            for e in &mut table[base..base + (1 << shift)] {
                *e = (sym as u8, len);
            }
        }
        Vlc { bits, table }
    }

    /// Decodes one symbol, or `None` for an invalid code.
    #[inline]
    fn read(&self, r: &mut BitReader) -> Option<u8> {
        let (sym, len) = self.table[r.peek(self.bits) as usize];
        if len == 0 {
            return None;
        }
        r.skip(len as usize);
        Some(sym)
    }
}

/// total_zeros of 4:2:0 chroma DC blocks (Table 9-9a): `[TotalCoeff - 1][total_zeros]`
/// code lengths and codes.
pub(crate) const CDC_TZ_LEN: [[u8; 4]; 3] = [[1, 2, 3, 3], [1, 2, 2, 0], [1, 1, 0, 0]];
pub(crate) const CDC_TZ_BITS: [[u8; 4]; 3] = [[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]];

struct Tables {
    coeff_token: [Vlc; 4],
    chroma_dc_token: Vlc,
    total_zeros: Vec<Vlc>,
    chroma_dc_total_zeros: Vec<Vlc>,
    run: Vec<Vlc>,
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let mk = |len: &[u8], bits: &[u8]| {
            Vlc::new(
                &len.iter()
                    .zip(bits)
                    .map(|(&l, &b)| (l, b))
                    .collect::<Vec<_>>(),
            )
        };
        Tables {
            coeff_token: [
                mk(&COEFF_TOKEN_LEN[0], &COEFF_TOKEN_BITS[0]),
                mk(&COEFF_TOKEN_LEN[1], &COEFF_TOKEN_BITS[1]),
                mk(&COEFF_TOKEN_LEN[2], &COEFF_TOKEN_BITS[2]),
                mk(&COEFF_TOKEN_LEN[3], &COEFF_TOKEN_BITS[3]),
            ],
            chroma_dc_token: mk(
                &CHROMA_DC_COEFF_TOKEN_LEN[0],
                &CHROMA_DC_COEFF_TOKEN_BITS[0],
            ),
            total_zeros: (0..15)
                .map(|i| mk(&TOTAL_ZEROS_LEN[i], &TOTAL_ZEROS_BITS[i]))
                .collect(),
            chroma_dc_total_zeros: (0..3)
                .map(|i| mk(&CDC_TZ_LEN[i], &CDC_TZ_BITS[i]))
                .collect(),
            run: (0..7).map(|i| mk(&RUN_LEN[i], &RUN_BITS[i])).collect(),
        }
    })
}

/// Forces the lookup tables to be built (so the first slice does not pay for it).
pub fn init() {
    tables();
}

/// Largest coefficient level magnitude accepted: levels of 8-bit streams lie in
/// -2^15..2^15 (8.5.12.1).
pub const MAX_LEVEL: u32 = 1 << 15;

/// Reads a residual block. `nc` is the predicted coefficient count (-1 for chroma DC);
/// levels are written to `out[start + k]` in scan order for `k` in `0..max`. Returns
/// TotalCoeff, or `None` on a bitstream error.
pub fn residual_block(
    r: &mut BitReader,
    nc: i32,
    out: &mut [i32],
    start: usize,
    max: usize,
) -> Option<u8> {
    let t = tables();
    let token = if nc < 0 {
        t.chroma_dc_token.read(r)?
    } else {
        let idx = match nc {
            0 | 1 => 0,
            2 | 3 => 1,
            4..=7 => 2,
            _ => 3,
        };
        t.coeff_token[idx].read(r)?
    };
    let total = (token >> 2) as usize;
    let trailing = (token & 3) as usize;
    if total == 0 {
        return Some(0);
    }
    if total > max || trailing > total {
        return None;
    }
    let mut level = [0i32; 16];
    let mut suffix_len: u32 = if total > 10 && trailing < 3 { 1 } else { 0 };
    for i in 0..total {
        if i < trailing {
            level[i] = 1 - 2 * r.u(1) as i32;
            continue;
        }
        let prefix = r.peek32().leading_zeros();
        if prefix >= 32 {
            return None;
        }
        r.skip(prefix as usize + 1);
        let mut code: i32 = (prefix.min(15) << suffix_len) as i32;
        if suffix_len > 0 || prefix >= 14 {
            let size = if prefix == 14 && suffix_len == 0 {
                4
            } else if prefix >= 15 {
                prefix - 3
            } else {
                suffix_len
            };
            if size > 0 {
                if size > 28 {
                    return None;
                }
                code += r.u(size) as i32;
            }
        }
        if prefix >= 15 && suffix_len == 0 {
            code += 15;
        }
        if prefix >= 16 {
            code += (1 << (prefix - 3)) - 4096;
        }
        if i == trailing && trailing < 3 {
            code += 2;
        }
        level[i] = if code & 1 == 0 {
            (code + 2) >> 1
        } else {
            (-code - 1) >> 1
        };
        // Levels of 8-bit streams lie in -2^15..2^15 (8.5.12.1); larger ones are damage
        // and would overflow the scaling.
        if level[i].unsigned_abs() > MAX_LEVEL {
            return None;
        }
        if suffix_len == 0 {
            suffix_len = 1;
        }
        if level[i].abs() > (3 << (suffix_len - 1)) && suffix_len < 6 {
            suffix_len += 1;
        }
    }
    let mut zeros_left = if total < max {
        let vlc = if nc < 0 {
            &t.chroma_dc_total_zeros[total - 1]
        } else {
            &t.total_zeros[total - 1]
        };
        vlc.read(r)? as usize
    } else {
        0
    };
    if zeros_left + total > max {
        return None;
    }
    // Place levels from the highest frequency down.
    let mut pos = total + zeros_left; // one past the highest coefficient
    for i in 0..total {
        pos -= 1;
        out[start + pos] = level[i];
        if i + 1 < total && zeros_left > 0 {
            let run = t.run[zeros_left.min(7) - 1].read(r)? as usize;
            if run > zeros_left {
                return None;
            }
            zeros_left -= run;
            pos -= run;
        }
    }
    Some(total as u8)
}
