//! Pixel formats and the planar memory layout of a frame: plane offsets, strides and
//! row alignment.

use transcode_core::{Error, Result};

/// Planar and semi-planar YUV formats, named as FFmpeg names them.
///
/// 10-bit formats store each sample in two little-endian bytes; `P010` keeps the ten
/// bits in the high bits of each 16-bit word, the others in the low bits (as FFmpeg's
/// `yuv420p10le` and `p010le`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PixelFormat {
    /// 8-bit Y, U, V planes, chroma halved in both directions.
    Yuv420p,
    /// 8-bit Y, U, V planes, chroma halved horizontally.
    Yuv422p,
    /// 8-bit Y, U, V planes, full-resolution chroma.
    Yuv444p,
    /// 8-bit Y plane and one interleaved UV plane, chroma halved in both directions.
    Nv12,
    /// [`PixelFormat::Yuv420p`] with 10-bit samples in 16-bit words.
    Yuv420p10,
    /// [`PixelFormat::Yuv422p`] with 10-bit samples in 16-bit words.
    Yuv422p10,
    /// [`PixelFormat::Yuv444p`] with 10-bit samples in 16-bit words.
    Yuv444p10,
    /// [`PixelFormat::Nv12`] with 10-bit samples in the high bits of 16-bit words.
    P010,
}

impl PixelFormat {
    /// Every format, in declaration order.
    pub const ALL: [PixelFormat; 8] = [
        PixelFormat::Yuv420p,
        PixelFormat::Yuv422p,
        PixelFormat::Yuv444p,
        PixelFormat::Nv12,
        PixelFormat::Yuv420p10,
        PixelFormat::Yuv422p10,
        PixelFormat::Yuv444p10,
        PixelFormat::P010,
    ];

    /// FFmpeg's name (`-pix_fmt`), little-endian forms for 10-bit.
    pub fn name(self) -> &'static str {
        match self {
            PixelFormat::Yuv420p => "yuv420p",
            PixelFormat::Yuv422p => "yuv422p",
            PixelFormat::Yuv444p => "yuv444p",
            PixelFormat::Nv12 => "nv12",
            PixelFormat::Yuv420p10 => "yuv420p10le",
            PixelFormat::Yuv422p10 => "yuv422p10le",
            PixelFormat::Yuv444p10 => "yuv444p10le",
            PixelFormat::P010 => "p010le",
        }
    }

    /// The format FFmpeg calls `name`.
    pub fn from_name(name: &str) -> Option<PixelFormat> {
        PixelFormat::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Bits per sample: 8 or 10.
    pub fn bit_depth(self) -> u32 {
        if self.bytes_per_sample() == 2 {
            10
        } else {
            8
        }
    }

    /// Bytes per stored sample: 1 or 2.
    pub fn bytes_per_sample(self) -> usize {
        match self {
            PixelFormat::Yuv420p | PixelFormat::Yuv422p | PixelFormat::Yuv444p | PixelFormat::Nv12 => 1,
            _ => 2,
        }
    }

    /// Number of planes: 3 for planar formats, 2 for NV12 and P010.
    pub fn plane_count(self) -> usize {
        match self {
            PixelFormat::Nv12 | PixelFormat::P010 => 2,
            _ => 3,
        }
    }

    /// Log2 of the chroma subsampling `(horizontal, vertical)`.
    pub fn chroma_shift(self) -> (u32, u32) {
        match self {
            PixelFormat::Yuv420p | PixelFormat::Nv12 | PixelFormat::Yuv420p10 | PixelFormat::P010 => (1, 1),
            PixelFormat::Yuv422p | PixelFormat::Yuv422p10 => (1, 0),
            PixelFormat::Yuv444p | PixelFormat::Yuv444p10 => (0, 0),
        }
    }
}

/// One plane's place in a frame buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlaneLayout {
    /// Byte offset of the plane's first row from the (aligned) start of the frame.
    pub offset: usize,
    /// Bytes from one row to the next: `row_bytes` rounded up to the alignment.
    pub stride: usize,
    /// Bytes of picture in each row (samples times bytes per sample; for the
    /// interleaved UV plane of NV12, both components).
    pub row_bytes: usize,
    /// Number of rows.
    pub rows: usize,
}

impl PlaneLayout {
    /// Bytes the plane occupies in the frame buffer, padding included.
    pub fn len(&self) -> usize {
        self.stride * self.rows
    }

    /// True for a plane of no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
}

/// The memory layout of one frame: where each plane starts and how far apart its rows
/// are.
///
/// ```text
///   buffer (Vec<u8>, over-allocated by align - 1)
///   ┌─pad─┬──────────── plane 0 ────────────┬──── plane 1 ────┬──── plane 2 ────┐
///   │     │ row 0 │ row_bytes │ ··· stride  │ ...             │ ...             │
///   └─────┴─────────────────────────────────┴─────────────────┴─────────────────┘
///         ▲ base: first address that is a multiple of `align`
/// ```
///
/// Every stride is a multiple of `align`, so every row of every plane starts on an
/// aligned address and SIMD code may read whole vectors up to the stride.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLayout {
    format: PixelFormat,
    width: u32,
    height: u32,
    align: usize,
    planes: [PlaneLayout; 3],
    size: usize,
}

impl FrameLayout {
    /// Row alignment used by [`FrameLayout::new`]: 64 bytes, a cache line and an
    /// AVX-512 vector.
    pub const DEFAULT_ALIGN: usize = 64;
    /// Largest width or height accepted.
    pub const MAX_DIMENSION: u32 = 32768;

    /// The layout of a `width` x `height` frame of `format` with rows aligned to
    /// [`FrameLayout::DEFAULT_ALIGN`].
    pub fn new(format: PixelFormat, width: u32, height: u32) -> Result<FrameLayout> {
        FrameLayout::with_align(format, width, height, Self::DEFAULT_ALIGN)
    }

    /// The layout with rows aligned to `align` bytes (a power of two from 1 to 4096).
    pub fn with_align(format: PixelFormat, width: u32, height: u32, align: usize) -> Result<FrameLayout> {
        if width == 0 || width > Self::MAX_DIMENSION {
            return Err(Error::invalid(format!("invalid width {width} (expected 1..={})", Self::MAX_DIMENSION)));
        }
        if height == 0 || height > Self::MAX_DIMENSION {
            return Err(Error::invalid(format!("invalid height {height} (expected 1..={})", Self::MAX_DIMENSION)));
        }
        if !align.is_power_of_two() || align > 4096 {
            return Err(Error::invalid(format!("invalid alignment {align} (expected a power of two up to 4096)")));
        }
        let bps = format.bytes_per_sample();
        let (sx, sy) = format.chroma_shift();
        let (w, h) = (width as usize, height as usize);
        let cw = (w + (1 << sx) - 1) >> sx;
        let ch = (h + (1 << sy) - 1) >> sy;
        let round = |n: usize| (n + align - 1) & !(align - 1);
        let mut planes = [PlaneLayout::default(); 3];
        let dims: [(usize, usize); 3] = match format.plane_count() {
            2 => [(w * bps, h), (2 * cw * bps, ch), (0, 0)],
            _ => [(w * bps, h), (cw * bps, ch), (cw * bps, ch)],
        };
        // Dimensions are at most 32768, so no product below overflows a 64-bit usize;
        // on 32-bit targets the largest frame (about 6 GiB) would, hence the checks.
        let mut offset = 0usize;
        for (plane, &(row_bytes, rows)) in planes.iter_mut().zip(dims.iter()) {
            if rows == 0 {
                continue;
            }
            let stride = round(row_bytes);
            *plane = PlaneLayout { offset, stride, row_bytes, rows };
            offset = stride
                .checked_mul(rows)
                .and_then(|n| n.checked_add(offset))
                .ok_or_else(|| Error::unsupported(format!("a {width}x{height} frame does not fit in memory")))?;
        }
        Ok(FrameLayout { format, width, height, align, planes, size: offset })
    }

    pub fn format(&self) -> PixelFormat {
        self.format
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// Row alignment in bytes.
    pub fn align(&self) -> usize {
        self.align
    }

    /// Number of planes (2 or 3).
    pub fn plane_count(&self) -> usize {
        self.format.plane_count()
    }

    /// The layout of plane `index`; an empty layout for a plane the format lacks.
    #[inline]
    pub fn plane(&self, index: usize) -> PlaneLayout {
        self.planes.get(index).copied().unwrap_or_default()
    }

    /// The layouts of the format's planes.
    pub fn planes(&self) -> &[PlaneLayout] {
        &self.planes[..self.plane_count()]
    }

    /// Bytes from the aligned base to the end of the last plane, padding included.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Bytes to allocate for one frame: [`FrameLayout::size`] plus room to move the
    /// base to an aligned address.
    pub fn buffer_len(&self) -> usize {
        self.size + self.align - 1
    }

    /// Bytes of the frame with no row padding: what FFmpeg's `rawvideo` and `framemd5`
    /// count, and what [`crate::FrameData::write_packed`] writes.
    pub fn packed_size(&self) -> usize {
        self.planes().iter().map(|p| p.row_bytes * p.rows).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_sizes_round_chroma_up_and_strides_are_aligned() {
        let l = FrameLayout::with_align(PixelFormat::Yuv420p, 33, 17, 32).unwrap();
        assert_eq!(l.plane(0), PlaneLayout { offset: 0, stride: 64, row_bytes: 33, rows: 17 });
        assert_eq!(l.plane(1), PlaneLayout { offset: 64 * 17, stride: 32, row_bytes: 17, rows: 9 });
        assert_eq!(l.plane(2).offset, 64 * 17 + 32 * 9);
        assert_eq!(l.packed_size(), 33 * 17 + 2 * 17 * 9);
        let p = FrameLayout::with_align(PixelFormat::P010, 33, 17, 64).unwrap();
        assert_eq!(p.planes().len(), 2);
        assert_eq!(p.plane(1), PlaneLayout { offset: 128 * 17, stride: 128, row_bytes: 68, rows: 9 });
        assert!(p.plane(2).is_empty());
    }

    #[test]
    fn bad_dimensions_are_errors_with_the_expected_range() {
        let e = FrameLayout::new(PixelFormat::Nv12, 0, 10).unwrap_err();
        assert_eq!(e.to_string(), "invalid data: invalid width 0 (expected 1..=32768)");
        assert!(FrameLayout::new(PixelFormat::Nv12, 10, 40000).is_err());
        assert!(FrameLayout::with_align(PixelFormat::Nv12, 10, 10, 48).is_err());
    }

    #[test]
    fn names_round_trip() {
        for f in PixelFormat::ALL {
            assert_eq!(PixelFormat::from_name(f.name()), Some(f));
        }
        assert_eq!(PixelFormat::from_name("rgb24"), None);
    }
}
