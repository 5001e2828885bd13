//! A fast big-endian bit reader for RBSP data (emulation prevention already removed),
//! with the Exp-Golomb codes of H.264 clause 9.1.
//!
//! Reads past the end return zero bits instead of failing: the macroblock layer checks
//! [`BitReader::overrun`] once per macroblock, which keeps the hot path free of
//! `Result` plumbing while still never reading out of bounds.

use transcode_core::{Error, Result};

/// Reads bits most-significant first from a byte slice.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        BitReader { data, pos: 0 }
    }

    /// Bits consumed so far.
    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Whether more bits were consumed than the buffer holds.
    #[inline]
    pub fn overrun(&self) -> bool {
        self.pos > self.data.len() * 8
    }

    /// The underlying bytes.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The next 32 bits without consuming them (zeros past the end).
    #[inline]
    pub fn peek32(&self) -> u32 {
        let byte = self.pos >> 3;
        let word = if byte + 8 <= self.data.len() {
            u64::from_be_bytes(self.data[byte..byte + 8].try_into().unwrap_or([0; 8]))
        } else {
            let mut buf = [0u8; 8];
            if byte < self.data.len() {
                let n = self.data.len() - byte;
                buf[..n].copy_from_slice(&self.data[byte..]);
            }
            u64::from_be_bytes(buf)
        };
        ((word << (self.pos & 7)) >> 32) as u32
    }

    /// Next `n` bits (1..=32) without consuming them.
    #[inline]
    pub fn peek(&self, n: u32) -> u32 {
        debug_assert!((1..=32).contains(&n));
        ((self.peek32() as u64) >> (32 - n)) as u32
    }

    #[inline]
    pub fn skip(&mut self, n: usize) {
        self.pos += n;
    }

    /// `n` bits (0..=32) as an unsigned number.
    #[inline]
    pub fn u(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let v = self.peek(n);
        self.pos += n as usize;
        v
    }

    /// One bit as a flag.
    #[inline]
    pub fn flag(&mut self) -> bool {
        self.u(1) == 1
    }

    /// Unsigned Exp-Golomb `ue(v)`. Codes longer than 32 bits yield `u32::MAX`, which
    /// every caller rejects as out of range.
    #[inline]
    pub fn ue(&mut self) -> u32 {
        let v = self.peek32();
        let lz = v.leading_zeros();
        if lz < 16 {
            let len = 2 * lz + 1;
            self.pos += len as usize;
            (v >> (32 - len)) - 1
        } else if lz < 32 {
            self.pos += lz as usize;
            let rest = self.u(lz + 1) as u64;
            (rest - 1).min(u32::MAX as u64 - 1) as u32
        } else {
            self.pos += 32;
            u32::MAX
        }
    }

    /// Signed Exp-Golomb `se(v)`.
    #[inline]
    pub fn se(&mut self) -> i32 {
        let k = self.ue();
        if k == u32::MAX {
            return i32::MIN;
        }
        if k & 1 == 1 {
            ((k >> 1) + 1) as i32
        } else {
            -((k >> 1) as i32)
        }
    }

    /// Truncated Exp-Golomb `te(v)` with range `max` (clause 9.1).
    #[inline]
    pub fn te(&mut self, max: u32) -> u32 {
        if max > 1 {
            self.ue()
        } else {
            (!self.flag()) as u32
        }
    }

    /// `ue(v)` checked against an inclusive maximum, for header fields.
    pub fn ue_max(&mut self, max: u32, what: &str) -> Result<u32> {
        let v = self.ue();
        if v > max || self.overrun() {
            return Err(Error::invalid(format!(
                "{what} {v} out of range (expected 0..={max})"
            )));
        }
        Ok(v)
    }

    /// `se(v)` checked against an inclusive range, for header fields.
    pub fn se_range(&mut self, min: i32, max: i32, what: &str) -> Result<i32> {
        let v = self.se();
        if v < min || v > max || self.overrun() {
            return Err(Error::invalid(format!(
                "{what} {v} out of range (expected {min}..={max})"
            )));
        }
        Ok(v)
    }

    /// Advances to the next byte boundary.
    pub fn align(&mut self) {
        self.pos = (self.pos + 7) & !7;
    }

    /// `more_rbsp_data()`: whether anything other than the stop bit and trailing zeros
    /// is left.
    pub fn more_rbsp_data(&self) -> bool {
        let total = self.data.len() * 8;
        if self.pos >= total {
            return false;
        }
        // Find the last set bit (the rbsp stop bit).
        let mut last = None;
        for (i, &b) in self.data.iter().enumerate().rev() {
            if b != 0 {
                last = Some(i * 8 + 7 - b.trailing_zeros() as usize);
                break;
            }
        }
        match last {
            Some(stop) => self.pos < stop,
            None => false,
        }
    }
}

/// Removes emulation prevention bytes (`00 00 03` → `00 00`) from a NAL unit payload,
/// appending the RBSP to `out` (which the caller clears and reuses).
pub fn unescape_rbsp(nal: &[u8], out: &mut Vec<u8>) {
    let mut zeros = 0usize;
    let mut start = 0usize;
    let mut i = 0usize;
    while i < nal.len() {
        let b = nal[i];
        if zeros >= 2 && b == 3 {
            out.extend_from_slice(&nal[start..i]);
            start = i + 1;
            zeros = 0;
        } else if b == 0 {
            zeros += 1;
        } else {
            zeros = 0;
        }
        i += 1;
    }
    out.extend_from_slice(&nal[start..]);
}

/// Splits Annex-B data into NAL units (without start codes). Trailing zero bytes of a
/// unit (the `trailing_zero_8bits` before the next start code) are dropped.
pub fn split_annexb(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut pos = 0usize;
    std::iter::from_fn(move || loop {
        // Find the next start code 00 00 01.
        let start = find_start_code(data, pos)?;
        let begin = start + 3;
        let end = find_start_code(data, begin).unwrap_or(data.len());
        pos = end;
        let mut unit = &data[begin..end];
        while let [rest @ .., 0] = unit {
            unit = rest;
        }
        if !unit.is_empty() {
            return Some(unit);
        }
        if end >= data.len() {
            return None;
        }
    })
}

fn find_start_code(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 3 <= data.len() {
        if data[i + 2] > 1 {
            i += 3;
        } else if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            return Some(i);
        } else {
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_codes() {
        // 1 | 010 | 011 | 00100 | 00101 => ue 0,1,2,3,4
        let data = [0b1010_0110, 0b0100_0010, 0b1000_0000];
        let mut r = BitReader::new(&data);
        assert_eq!([r.ue(), r.ue(), r.ue(), r.ue(), r.ue()], [0, 1, 2, 3, 4]);
        let mut r = BitReader::new(&[0b0100_1100]);
        assert_eq!((r.se(), r.se()), (1, -1));
        let mut r = BitReader::new(&[0, 0, 0, 0, 0]);
        assert_eq!(r.ue(), u32::MAX);
    }

    #[test]
    fn unescape_and_split() {
        let mut out = Vec::new();
        unescape_rbsp(&[0x65, 0, 0, 3, 1, 0, 0, 3], &mut out);
        assert_eq!(out, [0x65, 0, 0, 1, 0, 0]);
        let units: Vec<&[u8]> =
            split_annexb(&[0, 0, 0, 1, 9, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68]).collect();
        assert_eq!(units, vec![&[9u8][..], &[0x67, 1][..], &[0x68][..]]);
    }
}
