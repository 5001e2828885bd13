//! Bit writing: Exp-Golomb and fixed-length codes into a bounded, reused RBSP buffer,
//! and NAL unit framing with emulation prevention.

/// Where syntax elements go. A trait so that rate-distortion decisions can later price
/// a candidate by writing it into a counter with the same code.
pub trait BitSink {
    /// Appends the low `n` bits of `v` (n <= 32), most significant first.
    fn put(&mut self, v: u32, n: u32);

    fn flag(&mut self, b: bool) {
        self.put(b as u32, 1);
    }

    /// Unsigned Exp-Golomb ue(v).
    fn ue(&mut self, v: u32) {
        let x = v as u64 + 1;
        let len = 64 - x.leading_zeros();
        // len - 1 zeros, then the len bits of x.
        if len <= 16 {
            self.put(x as u32, 2 * len - 1);
        } else {
            self.put(0, len - 1);
            self.put(x as u32, len);
        }
    }

    /// Signed Exp-Golomb se(v).
    fn se(&mut self, v: i32) {
        let k = if v > 0 {
            2 * v as u32 - 1
        } else {
            2 * v.unsigned_abs()
        };
        self.ue(k);
    }
}

/// Length in bits of ue(v).
#[inline]
pub fn ue_len(v: u32) -> u32 {
    let x = v as u64 + 1;
    2 * (64 - x.leading_zeros()) - 1
}

/// Length in bits of se(v).
#[inline]
pub fn se_len(v: i32) -> u32 {
    ue_len(if v > 0 { 2 * v as u32 - 1 } else { 2 * v.unsigned_abs() })
}

/// Writes bits into a byte buffer whose capacity was reserved up front. Writing past
/// the capacity does not allocate: it sets [`BitWriter::overflowed`], and the encoder
/// turns that into an error instead of growing memory it did not budget.
#[derive(Debug)]
pub struct BitWriter<'a> {
    buf: &'a mut Vec<u8>,
    acc: u64,
    bits: u32,
    overflow: bool,
}

impl<'a> BitWriter<'a> {
    /// A writer appending to `buf` (emptied first, allocation kept).
    pub fn new(buf: &'a mut Vec<u8>) -> BitWriter<'a> {
        buf.clear();
        BitWriter {
            buf,
            acc: 0,
            bits: 0,
            overflow: false,
        }
    }

    #[inline]
    fn push(&mut self, b: u8) {
        if self.buf.len() < self.buf.capacity() {
            self.buf.push(b);
        } else {
            self.overflow = true;
        }
    }

    /// Whether bits were dropped because the buffer was full.
    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    /// Ones up to the byte boundary (cabac_alignment_one_bit).
    pub fn align_with_ones(&mut self) {
        while self.bits & 7 != 0 {
            self.put(1, 1);
        }
    }

    /// Zeros up to the byte boundary (after the CABAC flush's stop bit).
    pub fn align_with_zeros(&mut self) {
        while self.bits & 7 != 0 {
            self.put(0, 1);
        }
        self.flush_bytes();
    }

    /// rbsp_trailing_bits(): a one, then zeros to the byte boundary.
    pub fn trailing_bits(&mut self) {
        self.put(1, 1);
        while self.bits & 7 != 0 {
            self.put(0, 1);
        }
        self.flush_bytes();
    }

    fn flush_bytes(&mut self) {
        while self.bits >= 8 {
            self.bits -= 8;
            let b = (self.acc >> self.bits) as u8;
            self.push(b);
        }
    }
}

impl BitSink for BitWriter<'_> {
    #[inline]
    fn put(&mut self, v: u32, n: u32) {
        if n == 0 {
            return;
        }
        let v = if n >= 32 { v as u64 } else { (v as u64) & ((1u64 << n) - 1) };
        self.acc = (self.acc << n) | v;
        self.bits += n;
        self.flush_bytes();
    }
}

/// Appends one NAL unit to `out`: a 4-byte start code, the header byte, then `rbsp`
/// with emulation prevention bytes inserted (7.4.1). Returns `false` when `out` would
/// grow past its capacity (nothing is allocated then).
pub fn write_nal(out: &mut Vec<u8>, nal_ref_idc: u8, nal_type: u8, rbsp: &[u8]) -> bool {
    // Worst case: one emulation byte per two payload bytes.
    if out.capacity() - out.len() < 5 + rbsp.len() + rbsp.len() / 2 + 1 {
        return false;
    }
    out.extend_from_slice(&[0, 0, 0, 1, (nal_ref_idc << 5) | nal_type]);
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_codes_match_the_standard_table() {
        let mut buf = Vec::with_capacity(16);
        let mut w = BitWriter::new(&mut buf);
        // ue 0 = 1, ue 1 = 010, ue 2 = 011, ue 3 = 00100; se -1 = 011 (codeNum 2).
        w.ue(0);
        w.ue(1);
        w.ue(2);
        w.ue(3);
        w.se(-1);
        w.trailing_bits();
        assert!(!w.overflowed());
        // 1 010 011 00100 011 1 + 0 padding = 1010 0110 0100 0111 -> a6 47
        assert_eq!(buf, [0xa6, 0x47]);
        assert_eq!(ue_len(3), 5);
        assert_eq!(se_len(-1), 3);
    }

    #[test]
    fn emulation_prevention_is_inserted_after_two_zeros() {
        let mut out = Vec::with_capacity(64);
        assert!(write_nal(&mut out, 3, 5, &[0, 0, 1, 0, 0, 0, 0, 3]));
        assert_eq!(out, [0, 0, 0, 1, 0x65, 0, 0, 3, 1, 0, 0, 3, 0, 0, 3, 3]);
    }

    #[test]
    fn a_full_buffer_overflows_instead_of_allocating() {
        let mut buf = Vec::with_capacity(1);
        let mut w = BitWriter::new(&mut buf);
        w.put(0xffff, 16);
        assert!(w.overflowed());
        assert_eq!(buf.capacity(), 1);
    }
}
