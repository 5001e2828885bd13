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

/// Which sample table a [`Hole`] of a [`Head`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Stts,
    Ctts,
    Stss,
    Stsc,
    Stsz,
    /// Chunk offsets, 4 or 8 bytes each.
    Stco {
        wide: bool,
    },
}

/// Table entries that are not in a [`Head`]'s buffer but counted in its box sizes:
/// they are written later, straight to the output, from the plan file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hole {
    /// Where the entries go in [`Head::buf`] (between `buf[..at]` and `buf[at..]`).
    pub at: usize,
    /// Their size in bytes.
    pub len: u64,
    /// The track (index in the moov's track list) and table.
    pub track: usize,
    pub table: Table,
}

/// A file head (`ftyp` + `moov`) whose large sample tables are left out as holes of
/// known size, so that the head stays small however many samples the file has:
///
/// ```text
///  buf:    [ftyp moov … stts hdr][stsz hdr][stco hdr][trak 2 …]
///  holes:                       ▲ stts      ▲ stsz    ▲ stco
/// ```
#[derive(Debug, Default)]
pub(crate) struct Head {
    pub buf: Vec<u8>,
    pub holes: Vec<Hole>,
}

impl Head {
    /// Leaves `len` bytes of `table` entries for `track` to be written later.
    pub fn hole(&mut self, track: usize, table: Table, len: u64) {
        self.holes.push(Hole { at: self.buf.len(), len, track, table });
    }

    /// Bytes in the holes after buffer position `start`.
    fn holes_after(&self, start: usize) -> u64 {
        self.holes.iter().filter(|h| h.at > start).map(|h| h.len).sum()
    }

    /// The full length: buffer and holes.
    pub fn len(&self) -> u64 {
        self.buf.len() as u64 + self.holes.iter().map(|h| h.len).sum::<u64>()
    }
}

impl BoxBuf for Head {
    fn u8(&mut self, v: u8) {
        self.buf.u8(v);
    }
    fn u16(&mut self, v: u16) {
        self.buf.u16(v);
    }
    fn u32(&mut self, v: u32) {
        self.buf.u32(v);
    }
    fn u64(&mut self, v: u64) {
        self.buf.u64(v);
    }
    fn bytes(&mut self, b: &[u8]) {
        self.buf.bytes(b);
    }
    fn zeros(&mut self, n: usize) {
        self.buf.zeros(n);
    }
    fn open(&mut self, typ: &[u8; 4]) -> usize {
        self.buf.open(typ)
    }
    fn open_full(&mut self, typ: &[u8; 4], version: u8, flags: u32) -> usize {
        self.buf.open_full(typ, version, flags)
    }
    /// The size counts the holes inside the box: those after its start (a hole at its
    /// very start ends the box before).
    fn close(&mut self, start: usize) {
        let size = (self.buf.len() - start) as u64 + self.holes_after(start);
        self.buf[start..start + 4].copy_from_slice(&(size as u32).to_be_bytes());
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
