//! A big-endian bit reader over one start-code unit, reading zeros past the end so
//! that the slice decoder needs no bounds checks in its inner loops.

/// Reads bits MSB first. Past the end of the data it reads zero bits; callers detect
/// overrun with [`Bits::overrun`] at macroblock boundaries.
#[derive(Debug, Clone)]
pub(crate) struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bits<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Bits<'a> {
        Bits { data, pos: 0 }
    }

    /// The next 32 bits, without consuming them.
    #[inline(always)]
    pub(crate) fn peek32(&self) -> u32 {
        let b = self.pos >> 3;
        let w = match self.data.get(b..b + 8) {
            Some(s) => u64::from_be_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]),
            None => {
                let mut buf = [0u8; 8];
                if b < self.data.len() {
                    let n = (self.data.len() - b).min(8);
                    buf[..n].copy_from_slice(&self.data[b..b + n]);
                }
                u64::from_be_bytes(buf)
            }
        };
        ((w << (self.pos & 7)) >> 32) as u32
    }

    /// The next `n` bits (1..=32), without consuming them.
    #[inline(always)]
    pub(crate) fn peek(&self, n: u32) -> u32 {
        debug_assert!((1..=32).contains(&n));
        self.peek32() >> (32 - n)
    }

    #[inline(always)]
    pub(crate) fn skip(&mut self, n: u32) {
        self.pos += n as usize;
    }

    /// Reads `n` bits (0..=32).
    #[inline(always)]
    pub(crate) fn read(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let v = self.peek(n);
        self.pos += n as usize;
        v
    }

    #[inline(always)]
    pub(crate) fn bit(&mut self) -> bool {
        self.read(1) != 0
    }

    /// True once more bits were consumed than the data holds.
    pub(crate) fn overrun(&self) -> bool {
        self.pos > self.data.len() * 8
    }

    /// Bits left before the end of the data (0 after an overrun).
    pub(crate) fn left(&self) -> usize {
        (self.data.len() * 8).saturating_sub(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_across_bytes_and_zeros_past_the_end() {
        let mut b = Bits::new(&[0b1010_1100, 0xff]);
        assert_eq!(b.read(3), 0b101);
        assert_eq!(b.read(7), 0b011_0011);
        assert_eq!(b.read(6), 0b111111);
        assert!(!b.overrun());
        assert_eq!(b.read(8), 0);
        assert!(b.overrun());
    }

    /// Reads of every width from every bit position give the bits of the data (then
    /// zeros), as a plain bit-by-bit reader does.
    #[test]
    fn reads_of_every_width_equal_bit_by_bit_reads() {
        let data: Vec<u8> = (0..41u32)
            .map(|i| (i * 97 + 13) as u8 ^ (i >> 2) as u8)
            .collect();
        let bit = |i: usize| -> u32 {
            if i < data.len() * 8 {
                (data[i / 8] >> (7 - i % 8)) as u32 & 1
            } else {
                0
            }
        };
        let want = |from: usize, n: u32| (0..n as usize).fold(0u32, |v, k| v << 1 | bit(from + k));
        for start in 0..24 {
            for n in 1..=32u32 {
                let mut b = Bits::new(&data);
                b.skip(start as u32);
                let mut at = start;
                while at < data.len() * 8 + 40 {
                    assert_eq!(b.peek32(), want(at, 32), "peek32 at {at}");
                    assert_eq!(b.read(n), want(at, n), "read({n}) at {at}");
                    at += n as usize;
                    assert_eq!(b.overrun(), at > data.len() * 8);
                    assert_eq!(b.left(), (data.len() * 8).saturating_sub(at));
                }
            }
        }
        let mut b = Bits::new(&[]);
        assert_eq!((b.peek32(), b.left(), b.overrun()), (0, 0, false));
        b.skip(1);
        assert!(b.overrun());
    }
}
