//! The planning pass's per-sample records, spilled to an anonymous temporary file so
//! that a progressive file's plan keeps O(1) memory per track.
//!
//! ```text
//!  plan_packet ─► Record (20 bytes) ─► 64 KiB buffer ─► unlinked temp file
//!  begin       ◄─ one sequential read per sample table per track (moov tables)
//!  write pass  ◄─ one sequential read, one record per written packet
//! ```
//!
//! The file is created by [`tempfile::tempfile`]: unlinked at creation, so it is gone
//! when the muxer is dropped, even after a crash.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

use transcode_core::Result;

/// What the moov and the write pass need to know about one planned sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Record {
    /// Track index at planning time (before the tracks are numbered).
    pub track: u16,
    pub keyframe: bool,
    /// Converted sample size.
    pub size: u32,
    /// dts minus the previous sample's of the same track (0 for a track's first).
    pub delta: u32,
    /// Composition offset (pts - dts).
    pub cts: i32,
    /// Annex-B: where the last NAL unit starts ([`super::track::NO_UNIT`] when none or
    /// not Annex-B).
    pub last_unit: u32,
}

impl Record {
    pub const SIZE: usize = 20;

    fn encode(&self) -> [u8; Record::SIZE] {
        let mut b = [0u8; Record::SIZE];
        b[0..2].copy_from_slice(&self.track.to_le_bytes());
        b[2..4].copy_from_slice(&u16::from(self.keyframe).to_le_bytes());
        b[4..8].copy_from_slice(&self.size.to_le_bytes());
        b[8..12].copy_from_slice(&self.delta.to_le_bytes());
        b[12..16].copy_from_slice(&self.cts.to_le_bytes());
        b[16..20].copy_from_slice(&self.last_unit.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Record {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Record {
            track: u16::from_le_bytes([b[0], b[1]]),
            keyframe: b[2] != 0,
            size: u32_at(4),
            delta: u32_at(8),
            cts: u32_at(12) as i32,
            last_unit: u32_at(16),
        }
    }
}

/// Records appended while planning, then read back in order any number of times.
#[derive(Debug, Default)]
pub(crate) struct Spill {
    /// Created with the first record.
    file: Option<File>,
    /// Pending records while writing; read-ahead while reading. Never grows past
    /// [`Spill::BUFFER`].
    buf: Vec<u8>,
    /// Read position in `buf`.
    pos: usize,
    /// Records appended in all.
    records: u64,
    /// Records handed out since the last [`Spill::rewind`].
    read: u64,
    reading: bool,
}

impl Spill {
    /// Buffer size: a multiple of [`Record::SIZE`].
    const BUFFER: usize = 3276 * Record::SIZE;

    /// Number of records appended.
    #[cfg(test)]
    pub fn len(&self) -> u64 {
        self.records
    }

    /// Appends one record (only before the first [`Spill::rewind`]).
    pub fn push(&mut self, r: &Record) -> Result<()> {
        debug_assert!(!self.reading);
        if self.buf.capacity() < Spill::BUFFER {
            self.buf.reserve_exact(Spill::BUFFER);
        }
        if self.buf.len() + Record::SIZE > Spill::BUFFER {
            self.flush()?;
        }
        self.buf.extend_from_slice(&r.encode());
        self.records += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(tempfile::tempfile()?),
        };
        file.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Starts reading from the first record.
    pub fn rewind(&mut self) -> Result<()> {
        if !self.reading {
            self.flush()?;
            self.reading = true;
        }
        if let Some(f) = &mut self.file {
            f.seek(SeekFrom::Start(0))?;
        }
        self.buf.clear();
        self.pos = 0;
        self.read = 0;
        Ok(())
    }

    /// The next record without consuming it; `None` after the last.
    pub fn peek(&mut self) -> Result<Option<Record>> {
        if self.read >= self.records {
            return Ok(None);
        }
        if self.pos + Record::SIZE > self.buf.len() {
            self.fill()?;
        }
        Ok(Some(Record::decode(&self.buf[self.pos..self.pos + Record::SIZE])))
    }

    /// Consumes the record [`Spill::peek`] returned.
    pub fn advance(&mut self) {
        self.pos += Record::SIZE;
        self.read += 1;
    }

    /// The next record; `None` after the last.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        let r = self.peek()?;
        if r.is_some() {
            self.advance();
        }
        Ok(r)
    }

    /// Moves the unread bytes to the front and reads up to a full buffer.
    fn fill(&mut self) -> Result<()> {
        self.buf.drain(..self.pos);
        self.pos = 0;
        let have = self.buf.len();
        self.buf.resize(Spill::BUFFER, 0);
        let mut end = have;
        if let Some(f) = &mut self.file {
            while end < Spill::BUFFER {
                match f.read(&mut self.buf[end..]) {
                    Ok(0) => break,
                    Ok(n) => end += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        self.buf.truncate(end);
        if end < Record::SIZE {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "mp4 plan file shorter than its records (expected 20 bytes a record)",
            )
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_in_order_across_buffers() {
        let mut s = Spill::default();
        let n = 3 * Spill::BUFFER / Record::SIZE + 7;
        let rec = |i: usize| Record {
            track: (i % 3) as u16,
            keyframe: i.is_multiple_of(5),
            size: i as u32 * 7,
            delta: 3000,
            cts: -(i as i32),
            last_unit: u32::MAX - i as u32,
        };
        for i in 0..n {
            s.push(&rec(i)).unwrap();
        }
        assert_eq!(s.len(), n as u64);
        for _ in 0..2 {
            s.rewind().unwrap();
            for i in 0..n {
                assert_eq!(s.peek().unwrap(), Some(rec(i)));
                assert_eq!(s.next_record().unwrap(), Some(rec(i)));
            }
            assert_eq!(s.next_record().unwrap(), None);
        }
    }
}
