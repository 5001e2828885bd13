//! A big-endian bit reader over one start-code unit, reading zeros past the end so
//! that the slice decoder needs no bounds checks in its inner loops.

/// Reads bits MSB first. Past the end of the data it reads zero bits; callers detect
/// overrun with [`Bits::overrun`] at macroblock boundaries.
///
/// The next 32 to 63 bits are kept in a 64-bit cache, so that a peek is one shift
/// and a skip a shift and a subtraction; the cache is refilled four bytes at a time
/// when fewer than 32 bits are left in it, which happens once per 32 bits consumed
/// rather than once per code read (as it would with an unaligned load per peek).
#[derive(Debug, Clone)]
pub(crate) struct Bits<'a> {
    data: &'a [u8],
    /// The byte the next refill loads first.
    next: usize,
    /// The unread bits, MSB first; below the `avail` valid ones, zeros.
    cache: u64,
    /// Valid bits in `cache`: 32..=63 between calls.
    avail: u32,
}

impl<'a> Bits<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Bits<'a> {
        let mut b = Bits {
            data,
            next: 0,
            cache: 0,
            avail: 0,
        };
        b.refill();
        b
    }

    /// Appends the next four bytes (zeros past the end) below the valid bits.
    /// Needs `avail < 32`; leaves it at 32..=63.
    #[inline(always)]
    fn refill(&mut self) {
        let w = match self.data.get(self.next..self.next + 4) {
            Some(s) => u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
            None => self.refill_tail(),
        };
        self.cache |= (w as u64) << (32 - self.avail);
        self.avail += 32;
        self.next += 4;
    }

    /// The last one to three bytes of the data (or none), padded with zeros: out of
    /// line, since it is taken at most once per unit.
    #[inline(never)]
    #[cold]
    fn refill_tail(&self) -> u32 {
        let mut buf = [0u8; 4];
        if self.next < self.data.len() {
            let n = self.data.len() - self.next;
            buf[..n].copy_from_slice(&self.data[self.next..]);
        }
        u32::from_be_bytes(buf)
    }

    /// The next 32 bits, without consuming them.
    #[inline(always)]
    pub(crate) fn peek32(&self) -> u32 {
        (self.cache >> 32) as u32
    }

    /// The next `n` bits (1..=32), without consuming them.
    #[inline(always)]
    pub(crate) fn peek(&self, n: u32) -> u32 {
        debug_assert!((1..=32).contains(&n));
        (self.cache >> (64 - n)) as u32
    }

    /// Consumes `n` bits (0..=32).
    #[inline(always)]
    pub(crate) fn skip(&mut self, n: u32) {
        debug_assert!(n <= 32);
        // `n & 63` keeps the shift defined for any argument; callers pass at most 32
        // (constants and code lengths), no more than the 32 bits always cached.
        self.cache <<= n & 63;
        self.avail -= n;
        if self.avail < 32 {
            self.refill();
        }
    }

    /// Reads `n` bits (0..=32).
    #[inline(always)]
    pub(crate) fn read(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let v = self.peek(n);
        self.skip(n);
        v
    }

    #[inline(always)]
    pub(crate) fn bit(&mut self) -> bool {
        self.read(1) != 0
    }

    /// Bits consumed so far.
    #[inline(always)]
    fn pos(&self) -> usize {
        self.next * 8 - self.avail as usize
    }

    /// True once more bits were consumed than the data holds.
    #[inline(always)]
    pub(crate) fn overrun(&self) -> bool {
        self.pos() > self.data.len() * 8
    }

    /// Bits left before the end of the data (0 after an overrun).
    #[inline(always)]
    pub(crate) fn left(&self) -> usize {
        (self.data.len() * 8).saturating_sub(self.pos())
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
        assert_eq!(b.left(), 0);
        assert_eq!(b.read(8), 0);
        assert!(b.overrun());
    }

    #[test]
    fn long_reads_cross_refills_and_count_bits_exactly() {
        // 0x00, 0x01, ..., 0x27: every read of every width lands on the bits a
        // reader of one bit at a time would return.
        let data: Vec<u8> = (0..40u8).collect();
        let bit = |i: usize| (data[i / 8] >> (7 - i % 8)) as u32 & 1;
        let mut b = Bits::new(&data);
        let mut at = 0usize;
        for n in (1..=32).chain((1..=32).rev()).cycle().take(40) {
            if at + n as usize > data.len() * 8 {
                break;
            }
            let want = (0..n as usize).fold(0u32, |v, k| v << 1 | bit(at + k));
            assert_eq!(b.peek32() >> (32 - n), want, "peek at bit {at}");
            assert_eq!(b.read(n), want, "{n} bits at bit {at}");
            at += n as usize;
            assert_eq!(b.left(), data.len() * 8 - at);
        }
        assert!(!b.overrun());
    }
}
