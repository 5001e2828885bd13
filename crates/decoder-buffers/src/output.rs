//! Output buffers reused between frames: an encoder writes each frame's bitstream into
//! the same allocation, grown against the budget only when a frame needs more.

use std::fmt;
use transcode_core::{Error, Result};
use transcode_frame_pool::{Acquire, Budget, Reservation};

/// A byte buffer for one frame's output at a time, kept between frames.
///
/// [`OutputBuffer::clear`] keeps the allocation; appending past the capacity grows it
/// only after reserving the new capacity against the budget, and never past `limit`.
/// After the largest frame has been seen, writing a frame allocates nothing. To pass the
/// bytes downstream without a copy, copy them once into a
/// [`transcode_frame_pool::BytePool`] buffer; this buffer stays with the encoder.
pub struct OutputBuffer {
    buf: Vec<u8>,
    limit: usize,
    high_water: usize,
    reservation: Reservation,
}

impl fmt::Debug for OutputBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutputBuffer")
            .field("len", &self.buf.len())
            .field("capacity", &self.buf.capacity())
            .field("limit", &self.limit)
            .finish()
    }
}

impl OutputBuffer {
    /// An empty buffer of at most `limit` bytes (for example
    /// [`transcode_core::MemoryConfig::max_packet_size`]) accounted against `budget`.
    pub fn new(limit: usize, budget: &Budget) -> Result<OutputBuffer> {
        Error::check_limit("output buffer", limit as u64, budget.limit())?;
        Ok(OutputBuffer { buf: Vec::new(), limit, high_water: 0, reservation: budget.empty_reservation() })
    }

    /// Starts a new frame: empties the buffer, keeping its allocation.
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Makes room for `additional` more bytes, reserving budget before allocating.
    /// [`Error::LimitExceeded`] past the limit or when the budget is full.
    pub fn reserve(&mut self, additional: usize) -> Result<()> {
        let need = self.buf.len() as u64 + additional as u64;
        Error::check_limit("output buffer", need, self.limit as u64)?;
        if need <= self.buf.capacity() as u64 {
            return Ok(());
        }
        // Grow geometrically, as Vec would, but within the limit and the budget.
        let target = need.max(2 * self.buf.capacity() as u64).min(self.limit as u64) as usize;
        let extra = (target - self.buf.capacity()) as u64;
        match self.reservation.try_grow("output buffer", extra)? {
            Acquire::Ready(()) => {}
            Acquire::Full => {
                return Err(Error::LimitExceeded {
                    what: "output buffer",
                    requested: extra,
                    limit: self.reservation.budget().available(),
                })
            }
        }
        // `Vec<u8>::reserve_exact` allocates exactly `target`, so the reservation
        // matches the allocation.
        self.buf.reserve_exact(target - self.buf.len());
        Ok(())
    }

    /// Appends `data`; see [`OutputBuffer::reserve`] for the errors.
    pub fn extend_from_slice(&mut self, data: &[u8]) -> Result<()> {
        self.reserve(data.len())?;
        self.buf.extend_from_slice(data);
        self.high_water = self.high_water.max(self.buf.len());
        Ok(())
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes allocated (and reserved).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The most bytes one frame has written.
    pub fn high_water(&self) -> usize {
        self.high_water
    }
}
