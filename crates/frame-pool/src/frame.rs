//! Decoded frames: the pixel data with its layout, the unique mutable handle a decoder
//! writes through, and the shared read-only handle references and encoders hold.

use crate::layout::{FrameLayout, PixelFormat, PlaneLayout};
use crate::pool::PoolShared;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{self, AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use transcode_core::{Error, FieldOrder, Result};

/// Timing and flags carried with a frame.
///
/// # Timing
///
/// `pts` and `duration` count ticks of the time base of the stream the frame was decoded
/// from, copied from the packet that produced it. `None` when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameProps {
    pub pts: Option<i64>,
    pub duration: Option<i64>,
    /// Decoded from a random-access point (an IDR or I picture).
    pub keyframe: bool,
    /// Whether the frame holds two interlaced fields, and which was captured first.
    /// Deinterlacers read it (FFmpeg's `interlaced_frame` and `top_field_first`).
    pub field_order: FieldOrder,
    /// Sample aspect ratio `(num, den)`: the width of one pixel over its height.
    /// `None` when unknown, which scalers treat as square.
    pub sar: Option<(u32, u32)>,
    /// Closed captions sent with the picture. Kept inline (and `Copy`) so that every
    /// filter that copies a frame's properties carries them without knowing of them.
    pub captions: Captions,
}

/// The closed-caption data of one picture: ATSC A/53 `cc_data` triplets (a cc_valid and
/// cc_type byte, then two data bytes), at most 31 of them as A/53 allows.
///
/// `seq` numbers the picture that carried them (from 1; 0 when there are none), so that
/// a stage after a filter that makes several frames of one picture (a deinterlacer at
/// field rate, a frame-rate converter repeating frames) can keep them on the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Captions {
    pub seq: u32,
    len: u8,
    data: [u8; Captions::MAX],
}

impl Default for Captions {
    fn default() -> Self {
        Captions { seq: 0, len: 0, data: [0; Captions::MAX] }
    }
}

impl Captions {
    /// Bytes of the 31 triplets an A/53 `cc_count` can announce.
    pub const MAX: usize = 93;

    /// Captions of picture `seq`; triplets past [`Captions::MAX`] bytes are left out,
    /// as is a trailing partial triplet.
    pub fn new(seq: u32, triplets: &[u8]) -> Captions {
        let n = triplets.len().min(Self::MAX) / 3 * 3;
        let mut c = Captions { seq, len: n as u8, data: [0; Self::MAX] };
        c.data[..n].copy_from_slice(&triplets[..n]);
        c
    }

    /// The `cc_data` triplets, empty when the picture had none.
    pub fn triplets(&self) -> &[u8] {
        &self.data[..self.len as usize]
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The pixels of one frame and what they mean: a pool buffer, its [`FrameLayout`] and
/// [`FrameProps`].
///
/// Reached through [`Frame`] (unique, mutable) or [`SharedFrame`] (shared, read-only),
/// both of which dereference to it.
///
/// ```text
///   Arc<FrameData> ──► buf: Vec<u8>  ┌pad┬ plane 0 ┬ plane 1 ┬ plane 2 ┐
///                      base ─────────────┘ (aligned)
///                      layout, props, handle count
/// ```
pub struct FrameData {
    buf: Vec<u8>,
    /// Offset in `buf` of the first aligned byte.
    base: usize,
    layout: FrameLayout,
    props: FrameProps,
    /// Number of live [`SharedFrame`] handles; the one that takes it to zero returns
    /// the buffer to the pool.
    pub(crate) handles: AtomicUsize,
    /// The buffer must be zeroed before reuse (clearing could not be done on release).
    pub(crate) dirty: AtomicBool,
}

impl fmt::Debug for FrameData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameData").field("layout", &self.layout).field("props", &self.props).finish()
    }
}

impl Clone for FrameData {
    /// A copy in a fresh allocation, re-aligned. Only used as the fallback of
    /// `Arc::make_mut`, which the pool's uniqueness guarantee keeps from ever running.
    fn clone(&self) -> Self {
        let mut copy = FrameData::alloc(self.layout);
        copy.props = self.props;
        let n = self.layout.size();
        copy.buf[copy.base..copy.base + n].copy_from_slice(&self.buf[self.base..self.base + n]);
        copy
    }
}

impl FrameData {
    /// Allocates a zeroed buffer for `layout`. The caller has reserved
    /// [`FrameLayout::buffer_len`] bytes against the budget.
    pub(crate) fn alloc(layout: FrameLayout) -> FrameData {
        let buf = vec![0u8; layout.buffer_len()];
        let align = layout.align();
        // Only the address is inspected, never dereferenced: no unsafe needed.
        let addr = buf.as_ptr() as usize;
        let base = (align - addr % align) % align;
        FrameData {
            buf,
            base,
            layout,
            props: FrameProps::default(),
            handles: AtomicUsize::new(0),
            dirty: AtomicBool::new(false),
        }
    }

    pub(crate) fn zero(&mut self) {
        self.buf.fill(0);
        *self.dirty.get_mut() = false;
    }

    pub fn layout(&self) -> &FrameLayout {
        &self.layout
    }

    pub fn format(&self) -> PixelFormat {
        self.layout.format()
    }

    pub fn width(&self) -> u32 {
        self.layout.width()
    }

    pub fn height(&self) -> u32 {
        self.layout.height()
    }

    pub fn props(&self) -> &FrameProps {
        &self.props
    }

    pub fn props_mut(&mut self) -> &mut FrameProps {
        &mut self.props
    }

    /// Bytes from one row of plane `index` to the next (0 for a plane the format lacks).
    pub fn stride(&self, index: usize) -> usize {
        self.layout.plane(index).stride
    }

    /// All bytes of plane `index`, `stride * rows` of them, row padding included; empty
    /// for a plane the format lacks. The slice starts on an aligned address.
    #[inline]
    pub fn plane(&self, index: usize) -> &[u8] {
        let p = self.layout.plane(index);
        &self.buf[self.base + p.offset..self.base + p.offset + p.len()]
    }

    /// Plane `index` for writing; see [`FrameData::plane`].
    pub fn plane_mut(&mut self, index: usize) -> &mut [u8] {
        let p = self.layout.plane(index);
        &mut self.buf[self.base + p.offset..self.base + p.offset + p.len()]
    }

    /// The picture bytes of row `y` of plane `index` (no padding); empty when out of
    /// range.
    pub fn row(&self, index: usize, y: usize) -> &[u8] {
        let p = self.layout.plane(index);
        if y >= p.rows {
            return &[];
        }
        let start = self.base + p.offset + y * p.stride;
        &self.buf[start..start + p.row_bytes]
    }

    /// Row `y` of plane `index` for writing; see [`FrameData::row`].
    pub fn row_mut(&mut self, index: usize, y: usize) -> &mut [u8] {
        let p = self.layout.plane(index);
        if y >= p.rows {
            return &mut [];
        }
        let start = self.base + p.offset + y * p.stride;
        &mut self.buf[start..start + p.row_bytes]
    }

    /// All planes for writing at once (the third is empty for two-plane formats), so a
    /// decoder can write luma and chroma in one pass.
    pub fn planes_mut(&mut self) -> [&mut [u8]; 3] {
        let [p0, p1, p2] = [self.layout.plane(0), self.layout.plane(1), self.layout.plane(2)];
        let end = self.base + self.layout.size();
        let region = &mut self.buf[self.base..end];
        // Planes are laid out back to back in order, so the region splits at their ends.
        let (a, rest) = region.split_at_mut(p0.len());
        let (b, rest) = rest.split_at_mut(p1.len());
        let (c, _) = rest.split_at_mut(p2.len());
        debug_assert!(p1.is_empty() || p1.offset == p0.len());
        debug_assert!(p2.is_empty() || p2.offset == p0.len() + p1.len());
        [a, b, c]
    }

    /// Fills the frame from tightly packed planes (FFmpeg `rawvideo` order: every row of
    /// plane 0, then plane 1, then plane 2, no padding), as read from a Y4M frame.
    pub fn copy_from_packed(&mut self, src: &[u8]) -> Result<()> {
        let need = self.layout.packed_size();
        if src.len() != need {
            return Err(Error::invalid(format!(
                "packed {} frame of {} bytes (expected {need} for {}x{})",
                self.format().name(),
                src.len(),
                self.width(),
                self.height()
            )));
        }
        let mut at = 0;
        let layout = self.layout;
        for (i, p) in layout.planes().iter().enumerate() {
            for y in 0..p.rows {
                self.row_mut(i, y).copy_from_slice(&src[at..at + p.row_bytes]);
                at += p.row_bytes;
            }
        }
        Ok(())
    }

    /// Appends the frame as tightly packed planes (the inverse of
    /// [`FrameData::copy_from_packed`]): the bytes FFmpeg's `framemd5` hashes.
    pub fn write_packed(&self, out: &mut Vec<u8>) {
        out.reserve(self.layout.packed_size());
        for (i, p) in self.layout.planes().iter().enumerate() {
            for y in 0..p.rows {
                out.extend_from_slice(self.row(i, y));
            }
        }
    }

    /// The layout of plane `index`.
    pub fn plane_layout(&self, index: usize) -> PlaneLayout {
        self.layout.plane(index)
    }
}

/// The unique handle to a pooled frame: a decoder writes through it, then either drops
/// it (the buffer goes back to the pool) or turns it into a [`SharedFrame`] to keep it
/// as a reference and pass it on.
///
/// Dereferences to [`FrameData`] for reading and writing. Neither making nor dropping it
/// allocates.
pub struct Frame {
    data: Option<Arc<FrameData>>,
    pool: Arc<PoolShared>,
}

impl Frame {
    pub(crate) fn new(data: Arc<FrameData>, pool: Arc<PoolShared>) -> Frame {
        Frame { data: Some(data), pool }
    }

    /// Shares the frame read-only, without copying pixels or allocating. The buffer
    /// returns to the pool when the last clone of the returned handle is dropped.
    pub fn into_shared(mut self) -> SharedFrame {
        let mut data = self.data.take().expect("a frame holds its buffer until dropped");
        *Arc::make_mut(&mut data).handles.get_mut() = 1;
        SharedFrame { data: Some(data), pool: self.pool.clone() }
    }
}

impl Deref for Frame {
    type Target = FrameData;
    fn deref(&self) -> &FrameData {
        self.data.as_deref().expect("a frame holds its buffer until dropped")
    }
}

impl DerefMut for Frame {
    fn deref_mut(&mut self) -> &mut FrameData {
        // The pool hands out only buffers nobody else points to, so this never copies.
        Arc::make_mut(self.data.as_mut().expect("a frame holds its buffer until dropped"))
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        if let Some(data) = self.data.take() {
            self.pool.recycle(data);
        }
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Frame").field(&**self).finish()
    }
}

/// A shared, read-only handle to a pooled frame. Cloning it bumps two reference counts
/// and never copies pixels or allocates; it may be sent to and shared between threads
/// (decoder reference lists, encoder lookahead, output queue).
///
/// The buffer returns to its pool when the last clone is dropped.
pub struct SharedFrame {
    data: Option<Arc<FrameData>>,
    pool: Arc<PoolShared>,
}

impl SharedFrame {
    /// Number of live handles to this frame.
    pub fn handle_count(&self) -> usize {
        self.data.as_ref().map_or(0, |d| d.handles.load(Ordering::Acquire))
    }

    /// True when both handles refer to the same frame buffer.
    pub fn ptr_eq(&self, other: &SharedFrame) -> bool {
        match (&self.data, &other.data) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Clone for SharedFrame {
    fn clone(&self) -> Self {
        if let Some(d) = &self.data {
            d.handles.fetch_add(1, Ordering::Relaxed);
        }
        SharedFrame { data: self.data.clone(), pool: self.pool.clone() }
    }
}

impl Deref for SharedFrame {
    type Target = FrameData;
    fn deref(&self) -> &FrameData {
        self.data.as_deref().expect("a frame holds its buffer until dropped")
    }
}

impl Drop for SharedFrame {
    fn drop(&mut self) {
        let Some(data) = self.data.take() else { return };
        if data.handles.fetch_sub(1, Ordering::Release) == 1 {
            // Pairs with the releases of the other handles, so their reads of the pixels
            // happen before the buffer is reused.
            atomic::fence(Ordering::Acquire);
            self.pool.recycle(data);
        }
    }
}

impl fmt::Debug for SharedFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedFrame").field(&**self).finish()
    }
}
