//! A per-frame bump arena for a decoder's scratch data (slice headers, macroblock
//! tables, reference lists), reset after each frame and bounded by the budget.

use bumpalo::Bump;
use std::fmt;
use transcode_core::{Error, Result};
use transcode_frame_pool::{Acquire, Budget, Reservation};

/// A bump arena reset after every frame.
///
/// ```text
///   frame n:   alloc, alloc, alloc ... ─► reset(): high-water mark updated,
///   frame n+1: the same chunk reused        the largest chunk kept, others freed
/// ```
///
/// Its limit is reserved against the [`Budget`] when it is made, so its memory is
/// accounted for before any is allocated; allocations past the limit fail with
/// [`Error::LimitExceeded`] instead of growing. After the first frames have sized the
/// chunk, a frame costs no heap allocation.
///
/// Not `Sync`: each decoding thread owns its arena.
pub struct FrameArena {
    bump: Bump,
    limit: usize,
    high_water: usize,
    frames: u64,
    _reservation: Reservation,
}

impl fmt::Debug for FrameArena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameArena")
            .field("limit", &self.limit)
            .field("high_water", &self.high_water)
            .field("chunk_bytes", &self.bump.allocated_bytes())
            .finish()
    }
}

impl FrameArena {
    /// Bytes bumpalo keeps per chunk for its own footer, reserved on top of the limit.
    const METADATA: usize = 64;

    /// An arena of at most `limit` bytes, reserved against `budget` now: an
    /// [`Error::LimitExceeded`] if the budget can never hold it, or has no room for it
    /// now. `initial` bytes (at most `limit`) are allocated at once, so that a decoder
    /// that knows its needs allocates nothing later.
    pub fn new(limit: usize, initial: usize, budget: &Budget) -> Result<FrameArena> {
        let reserve = limit as u64 + 4 * Self::METADATA as u64;
        let reservation = match budget.try_reserve("frame arena", reserve)? {
            Acquire::Ready(r) => r,
            Acquire::Full => {
                return Err(Error::LimitExceeded { what: "frame arena", requested: reserve, limit: budget.available() })
            }
        };
        let bump = Bump::try_with_capacity(initial.min(limit))
            .map_err(|_| Error::LimitExceeded { what: "frame arena", requested: initial as u64, limit: limit as u64 })?;
        bump.set_allocation_limit(Some(limit));
        Ok(FrameArena { bump, limit, high_water: 0, frames: 0, _reservation: reservation })
    }

    /// The arena, for bumpalo's allocation methods. Prefer the `try_` forms: the plain
    /// ones panic when the limit is reached.
    pub fn bump(&self) -> &Bump {
        &self.bump
    }

    /// A slice of `len` copies of `value`, or [`Error::LimitExceeded`] past the limit.
    pub fn alloc_slice<T: Copy>(&self, len: usize, value: T) -> Result<&mut [T]> {
        self.bump.try_alloc_slice_fill_copy(len, value).map_err(|_| self.full(len.saturating_mul(size_of::<T>())))
    }

    /// A copy of `src`, or [`Error::LimitExceeded`] past the limit.
    pub fn alloc_copy<T: Copy>(&self, src: &[T]) -> Result<&mut [T]> {
        self.bump.try_alloc_slice_copy(src).map_err(|_| self.full(std::mem::size_of_val(src)))
    }

    /// `value` moved into the arena, or [`Error::LimitExceeded`] past the limit. Its
    /// destructor never runs: store plain data.
    pub fn alloc<T>(&self, value: T) -> Result<&mut T> {
        self.bump.try_alloc(value).map_err(|_| self.full(size_of::<T>()))
    }

    fn full(&self, requested: usize) -> Error {
        Error::LimitExceeded {
            what: "frame arena",
            requested: (self.bump.allocated_bytes() + requested) as u64,
            limit: self.limit as u64,
        }
    }

    /// Ends a frame: records the bytes it used in the high-water mark and frees them
    /// all for the next frame. Keeps the largest chunk, so a steady decoder stops
    /// allocating.
    pub fn reset(&mut self) {
        let used: usize = self.bump.iter_allocated_chunks().map(|c| c.len()).sum();
        self.high_water = self.high_water.max(used);
        self.frames += 1;
        self.bump.reset();
    }

    /// The most bytes one frame has used (including alignment padding).
    pub fn high_water(&self) -> usize {
        self.high_water
    }

    /// Bytes of chunks the arena holds now.
    pub fn chunk_bytes(&self) -> usize {
        self.bump.allocated_bytes()
    }

    /// The limit in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Frames ended with [`FrameArena::reset`].
    pub fn frames(&self) -> u64 {
        self.frames
    }
}
