//! Writing boxes into a byte buffer: big-endian fields and sizes patched on close.

/// Appends big-endian fields and nested boxes to a `Vec<u8>`.
///
/// `open` writes a placeholder size and returns the box start; `close` patches the size
/// in. Boxes are only ever written into buffers that stay far below 4 GiB (the moov, a
/// moof), so 32-bit sizes always suffice here; the mdat header is written separately.
pub(crate) trait BoxBuf {
    fn u8(&mut self, v: u8);
    fn u16(&mut self, v: u16);
    fn u32(&mut self, v: u32);
    fn u64(&mut self, v: u64);
    fn bytes(&mut self, b: &[u8]);
    fn zeros(&mut self, n: usize);
    /// Starts a box of type `typ`; returns its start for [`BoxBuf::close`].
    fn open(&mut self, typ: &[u8; 4]) -> usize;
    /// Starts a full box with `version` and `flags`.
    fn open_full(&mut self, typ: &[u8; 4], version: u8, flags: u32) -> usize;
    /// Ends the box started at `start`, writing its size.
    fn close(&mut self, start: usize);
}

impl BoxBuf for Vec<u8> {
    fn u8(&mut self, v: u8) {
        self.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
    fn zeros(&mut self, n: usize) {
        self.resize(self.len() + n, 0);
    }
    fn open(&mut self, typ: &[u8; 4]) -> usize {
        let start = self.len();
        self.u32(0);
        self.bytes(typ);
        start
    }
    fn open_full(&mut self, typ: &[u8; 4], version: u8, flags: u32) -> usize {
        let start = self.open(typ);
        self.u32((version as u32) << 24 | (flags & 0x00FF_FFFF));
        start
    }
    fn close(&mut self, start: usize) {
        let size = (self.len() - start) as u32;
        self[start..start + 4].copy_from_slice(&size.to_be_bytes());
    }
}

/// Writes an MPEG-4 descriptor header with a 4-byte expandable length (as FFmpeg does)
/// and returns where the length goes, for [`close_descriptor`].
pub(crate) fn open_descriptor(b: &mut Vec<u8>, tag: u8) -> usize {
    b.u8(tag);
    let at = b.len();
    b.bytes(&[0x80, 0x80, 0x80, 0]);
    at
}

/// Patches the length of a descriptor opened at `at`.
pub(crate) fn close_descriptor(b: &mut [u8], at: usize) {
    let len = (b.len() - at - 4) as u32;
    b[at] = 0x80 | ((len >> 21) & 0x7F) as u8;
    b[at + 1] = 0x80 | ((len >> 14) & 0x7F) as u8;
    b[at + 2] = 0x80 | ((len >> 7) & 0x7F) as u8;
    b[at + 3] = (len & 0x7F) as u8;
}

/// The identity matrix of `mvhd` and `tkhd`.
pub(crate) const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_patched() {
        let mut b = Vec::new();
        let outer = b.open(b"moov");
        let inner = b.open_full(b"mvhd", 1, 3);
        b.u16(7);
        b.close(inner);
        b.close(outer);
        assert_eq!(b, [0, 0, 0, 22, b'm', b'o', b'o', b'v', 0, 0, 0, 14, b'm', b'v', b'h', b'd', 1, 0, 0, 3, 0, 7]);
        let mut d = Vec::new();
        let at = open_descriptor(&mut d, 5);
        d.bytes(&[1, 2]);
        close_descriptor(&mut d, at);
        assert_eq!(d, [5, 0x80, 0x80, 0x80, 2, 1, 2]);
    }
}
