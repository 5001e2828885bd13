//! Box headers and a bounds-checked big-endian reader over box bodies.
//!
//! Every size read here is checked against the bytes its parent actually has before
//! anything uses it, and every failure names the byte offset in the input.

use transcode_core::{Error, Result};

/// A four-character box type.
pub(crate) type FourCc = [u8; 4];

/// Prints a four-character code for messages, replacing non-printable bytes.
pub(crate) fn fourcc_str(t: &FourCc) -> String {
    t.iter().map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '?' }).collect()
}

/// A parsed box header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BoxHeader {
    pub typ: FourCc,
    /// Input offset of the first header byte.
    pub start: u64,
    /// 8, 16 (64-bit `largesize`), plus 16 for `uuid` boxes.
    pub header_len: u64,
    /// Whole box size including the header, or `None` for size 0 ("extends to the end
    /// of the enclosing space").
    pub size: Option<u64>,
}

impl BoxHeader {
    /// Parses a header from `b` (the bytes at input offset `start`). Returns `Ok(None)`
    /// when `b` is too short to hold a header (the input ended), an error when the header
    /// is malformed (a size smaller than the header itself).
    pub fn parse(b: &[u8], start: u64) -> Result<Option<BoxHeader>> {
        if b.len() < 8 {
            return Ok(None);
        }
        let size32 = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let typ = [b[4], b[5], b[6], b[7]];
        let (mut header_len, size) = match size32 {
            0 => (8u64, None),
            1 => {
                if b.len() < 16 {
                    return Ok(None);
                }
                let large = u64::from_be_bytes(b[8..16].try_into().expect("8 bytes"));
                (16, Some(large))
            }
            n => (8, Some(n as u64)),
        };
        if &typ == b"uuid" {
            header_len += 16;
        }
        if let Some(s) = size {
            if s < header_len {
                return Err(Error::invalid_at(
                    start,
                    format!("box '{}' claims {s} bytes, less than its {header_len}-byte header", fourcc_str(&typ)),
                ));
            }
        }
        Ok(Some(BoxHeader { typ, start, header_len, size }))
    }

    /// Input offset just past the box, resolving size 0 to `space_end`.
    pub fn end(&self, space_end: u64) -> u64 {
        match self.size {
            Some(s) => self.start.saturating_add(s),
            None => space_end,
        }
    }
}

/// A box found inside a parent's body: its type, its body and where the body starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Child<'a> {
    pub typ: FourCc,
    pub body: &'a [u8],
    /// Input offset of `body[0]`.
    pub base: u64,
}

/// Iterates the child boxes packed in `data` (a parent's body at input offset `base`).
/// A child that claims more bytes than its parent has left is an error, reported once.
pub(crate) fn children(data: &[u8], base: u64) -> Children<'_> {
    Children { data, base, pos: 0, failed: false }
}

#[derive(Debug)]
pub(crate) struct Children<'a> {
    data: &'a [u8],
    base: u64,
    pos: usize,
    failed: bool,
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Child<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let rest = &self.data[self.pos..];
        // Fewer than 8 bytes left: padding (some writers add a 4-byte zero terminator).
        if rest.len() < 8 {
            return None;
        }
        let at = self.base + self.pos as u64;
        let hdr = match BoxHeader::parse(rest, at) {
            Ok(Some(h)) => h,
            Ok(None) => return None,
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        };
        let size = hdr.size.unwrap_or(rest.len() as u64);
        if size > rest.len() as u64 || hdr.header_len > size {
            self.failed = true;
            return Some(Err(Error::invalid_at(
                at,
                format!("box '{}' claims {size} bytes but its parent has {} left", fourcc_str(&hdr.typ), rest.len()),
            )));
        }
        let size = size as usize;
        let body = &rest[hdr.header_len as usize..size];
        self.pos += size;
        Some(Ok(Child { typ: hdr.typ, body, base: at + hdr.header_len }))
    }
}

/// Finds the first child of type `typ`.
pub(crate) fn find<'a>(data: &'a [u8], base: u64, typ: &FourCc) -> Result<Option<Child<'a>>> {
    for c in children(data, base) {
        let c = c?;
        if &c.typ == typ {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// A big-endian reader over a box body that reports where it ran out.
#[derive(Debug, Clone)]
pub(crate) struct Rd<'a> {
    data: &'a [u8],
    pos: usize,
    base: u64,
    what: &'static str,
}

impl<'a> Rd<'a> {
    /// A reader over `data`, the body of a `what` box at input offset `base`.
    pub fn new(data: &'a [u8], base: u64, what: &'static str) -> Self {
        Rd { data, pos: 0, base, what }
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// Input offset of the next byte.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn short(&self, n: usize) -> Error {
        Error::invalid_at(
            self.offset(),
            format!("{} box ended early (expected {n} more bytes, {} left)", self.what, self.remaining()),
        )
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(self.short(n));
        }
        let b = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }

    pub fn skip(&mut self, n: usize) -> Result<()> {
        self.bytes(n).map(|_| ())
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Result<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Result<u64> {
        let b = self.bytes(8)?;
        Ok(u64::from_be_bytes(b.try_into().expect("8 bytes")))
    }

    /// A full box's version and flags.
    pub fn version_flags(&mut self) -> Result<(u8, u32)> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0x00FF_FFFF))
    }

    /// The rest of the body.
    pub fn rest(&mut self) -> &'a [u8] {
        let b = &self.data[self.pos..];
        self.pos = self.data.len();
        b
    }
}

/// Big-endian u32 at `pos` of a table already validated to hold it.
#[inline]
pub(crate) fn be32(b: &[u8], pos: usize) -> u32 {
    u32::from_be_bytes([b[pos], b[pos + 1], b[pos + 2], b[pos + 3]])
}

/// Big-endian u64 at `pos` of a table already validated to hold it.
#[inline]
pub(crate) fn be64(b: &[u8], pos: usize) -> u64 {
    u64::from_be_bytes(b[pos..pos + 8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_sizes() {
        let h = BoxHeader::parse(b"\0\0\0\x10moovxxxxxxxx", 5).unwrap().unwrap();
        assert_eq!((h.typ, h.size, h.header_len, h.start), (*b"moov", Some(16), 8, 5));
        let mut large = b"\0\0\0\x01mdat".to_vec();
        large.extend_from_slice(&(1u64 << 40).to_be_bytes());
        let h = BoxHeader::parse(&large, 0).unwrap().unwrap();
        assert_eq!((h.size, h.header_len), (Some(1 << 40), 16));
        let h = BoxHeader::parse(b"\0\0\0\0mdat", 0).unwrap().unwrap();
        assert_eq!(h.size, None);
        assert_eq!(h.end(100), 100);
        assert!(BoxHeader::parse(b"\0\0\0\x04free", 0).is_err());
        assert!(BoxHeader::parse(b"\0\0\0", 0).unwrap().is_none());
    }

    #[test]
    fn child_overrunning_parent_is_an_error() {
        let data = b"\0\0\0\x08free\0\0\0\x20skip\0\0";
        let mut it = children(data, 100);
        assert_eq!(it.next().unwrap().unwrap().typ, *b"free");
        match it.next().unwrap() {
            Err(Error::InvalidData { offset: Some(108), .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
        assert!(it.next().is_none());
    }
}
